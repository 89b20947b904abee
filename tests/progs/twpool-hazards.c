/* twpool-hazards - every way a program touches a socket, one scenario a run.
 *
 *   twpool-hazards SCENARIO -p PORT [-n N]
 *
 * Talks to twpool-server on 127.0.0.1:PORT with plain libc calls, the way
 * real programs do, and checks from the program's side that nothing went
 * wrong: every request carries a key or payload no other request uses, and
 * every reply must be exactly its own (a reply meant for another request is
 * "crossed"). Meant to run under libtwpool.so, where the integration tests
 * also check what the server and the kernel saw; it is correct without the
 * shim too, except where a line says it looks for the shim's own fds.
 *
 * Output: one line per check, "ok ..." or "FAIL ...", and "# ..." for facts.
 * Exit status 0 iff no check failed. N (default 200) is the number of
 * connect/request/close cycles of each phase.
 *
 * Scenarios: fork _Fork fork-threads vfork posix_spawn system popen exec
 * threads dup dup-before-connect dup2-onto-private closefrom close-range
 * close-loop syscall-close fclose shutdown-wr shutdown-rdwr early-close
 * partial-read pipelined signal-close rlimit (which goes on as
 * rlimit-inherited) epoll nonblock-connect errno double-close
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_CAP 512        /* longest reply line expected */
#define WAIT_MS 5000        /* longest wait for a reply or a socket event: "hang" past it */
#define FD_SCAN 4096        /* fd numbers remembered from startup */
#define N_THREADS 16
#define RLIMIT_FDS 32       /* the rlimit scenario's RLIMIT_NOFILE */
#define SHIM_FDS_ALLOWED 2  /* fds the shim may hold under a tight RLIMIT_NOFILE */
#define ERRNO_MARK 12345    /* an errno value no call sets */
#define SIGNAL_SECONDS 2
#define SIGNAL_INTERVAL_US 200
#define MAX_FAILURES 5      /* a phase stops after this many failed cycles */

extern char **environ;

static struct sockaddr_in target;
static long n_cycles = 200;
static _Atomic int failures;
static _Atomic unsigned long seq;
static unsigned char inherited[FD_SCAN]; /* fds open when the program started */
static char *prog_name;

/* ---- output: whole lines with one write(), safe across fork and threads ---- */

static void vsay(const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s", prefix);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	int saved = errno;
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		_exit(3);
	errno = saved;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay("# ", fmt, ap);
	va_end(ap);
}

static int check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int check(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(cond ? "ok " : "FAIL ", fmt, ap);
	va_end(ap);
	if (!cond)
		atomic_fetch_add(&failures, 1);
	return cond;
}

/* ---- plain socket calls, as a careful program makes them ---- */

/* Waits for events on fd; 1 ready, 0 timed out, -1 error. EINTR-proof. */
static int wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = poll(&p, 1, ms);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -1;
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= ms)
			return 0;
	}
}

/* A connect interrupted or in progress: wait for it and read SO_ERROR. */
static int finish_connect(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	int r = wait_fd(fd, POLLOUT, WAIT_MS);
	if (r <= 0) {
		errno = r == 0 ? ETIMEDOUT : errno;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

/* A connected blocking socket to the target, or -1 with errno. */
static int tw_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) == 0 ||
	    ((errno == EINTR || errno == EINPROGRESS) && finish_connect(fd) == 0))
		return fd;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

enum { RL_ERR = -1, RL_EOF = -2, RL_LONG = -3, RL_EXTRA = -4, RL_HANG = -5 };

static const char *rl_name(int r)
{
	switch (r) {
	case RL_EOF: return "EOF before the reply";
	case RL_LONG: return "reply line too long";
	case RL_EXTRA: return "bytes after the reply (another request's?)";
	case RL_HANG: return "no reply within 5 s (hang)";
	default: return strerror(errno);
	}
}

/* Reads one reply line (terminator removed) into line; its length, or RL_*.
 * More bytes than the line means someone else's reply is mixed in. */
static int read_line(int fd, char *line, size_t cap)
{
	size_t len = 0;
	for (;;) {
		int w = wait_fd(fd, POLLIN, WAIT_MS);
		if (w <= 0)
			return w == 0 ? RL_HANG : RL_ERR;
		ssize_t r = read(fd, line + len, cap - 1 - len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return r == 0 ? RL_EOF : RL_ERR;
		len += (size_t)r;
		char *nl = memchr(line, '\n', len);
		if (nl) {
			*nl = '\0';
			return (size_t)(nl - line) + 1 == len ? (int)(nl - line) : RL_EXTRA;
		}
		if (len == cap - 1)
			return RL_LONG;
	}
}

/* Sends req and reads its reply line; 0, or RL_* with why filled. */
static int request(int fd, const char *req, char *line, size_t cap, char *why, size_t wn)
{
	char buf[LINE_CAP];
	int n = snprintf(buf, sizeof(buf), "%s\n", req);
	if (send_all(fd, buf, (size_t)n) < 0) {
		snprintf(why, wn, "write %s: %s", req, strerror(errno));
		return RL_ERR;
	}
	int r = read_line(fd, line, cap);
	if (r < 0)
		snprintf(why, wn, "reply to %s: %s", req, rl_name(r));
	return r < 0 ? r : 0;
}

/* 0 when the reply to req is exactly want; 1 crossed; -1 an I/O error. */
static int exchange(int fd, const char *req, const char *want, char *why, size_t wn)
{
	char line[LINE_CAP];
	int r = request(fd, req, line, sizeof(line), why, wn);
	if (r == RL_EXTRA)
		return 1;
	if (r < 0)
		return -1;
	if (strcmp(line, want) == 0)
		return 0;
	snprintf(why, wn, "%s: got '%.80s', want '%s'", req, line, want);
	return 1;
}

/* A unique ECHO request and its reply. */
static void unique_echo(const char *tag, char *req, char *want, size_t cap)
{
	unsigned long k = atomic_fetch_add(&seq, 1);
	snprintf(want, cap - 8, "%s-%d-%lu", tag, (int)getpid(), k); /* room for "ECHO " and "\n" */
	memcpy(req, "ECHO ", 5);
	memcpy(req + 5, want, strlen(want) + 1);
}

/* A unique ECHO on fd: 0, 1 crossed, -1 error. */
static int echo_on(int fd, const char *tag, char *why, size_t wn)
{
	char req[128], want[128];
	unique_echo(tag, req, want, sizeof(want));
	return exchange(fd, req, want, why, wn);
}

/* A connection that has done one clean request/reply, or -1. */
static int conn_used(const char *label)
{
	char why[256];
	int fd = tw_connect();
	if (!check(fd >= 0, "%s: connect: %s", label, fd >= 0 ? "ok" : strerror(errno)))
		return -1;
	if (!check(echo_on(fd, label, why, sizeof(why)) == 0, "%s: request/reply on a fresh connection%s%s",
		   label, *why ? ": " : "", why)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- cycles and their tally ---- */

enum mode { M_ECHO, M_KV, M_SYSCALL, M_STDIO };

struct tally {
	long ok, errors, crossed;
	char first[300]; /* the first failure, for the report */
};

static void tally_add(struct tally *t, int r, const char *why)
{
	if (r == 0) {
		t->ok++;
		return;
	}
	if (r > 0)
		t->crossed++;
	else
		t->errors++;
	if (!t->first[0])
		snprintf(t->first, sizeof(t->first), "%s", why);
}

static int tally_report(const char *label, const struct tally *t, long want)
{
	return check(t->errors == 0 && t->crossed == 0 && t->ok == want,
		     "%s: %ld of %ld cycles right, %ld errors, %ld crossed%s%s", label, t->ok, want,
		     t->errors, t->crossed, t->first[0] ? "; first: " : "", t->first);
}

static int kv_on(int fd, const char *tag, char *why, size_t wn)
{
	char key[96], req[256], want[160];
	unsigned long k = atomic_fetch_add(&seq, 1);
	snprintf(key, sizeof(key), "%s-%d-%lu", tag, (int)getpid(), k);
	snprintf(req, sizeof(req), "SET %s v%lu-%s", key, k, tag);
	int r = exchange(fd, req, "OK", why, wn);
	if (r)
		return r;
	snprintf(req, sizeof(req), "GET %s", key);
	snprintf(want, sizeof(want), "VALUE v%lu-%s", k, tag);
	return exchange(fd, req, want, why, wn);
}

/* stdio on the socket, as old programs do: fdopen, fprintf, fgets, fclose. */
static int stdio_cycle(const char *tag, char *why, size_t wn)
{
	char req[128], want[128], line[LINE_CAP];
	unique_echo(tag, req, want, sizeof(want));
	int fd = tw_connect();
	FILE *f = fd >= 0 ? fdopen(fd, "r+") : NULL;
	if (!f) {
		snprintf(why, wn, "connect/fdopen: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int r = -1;
	if (fprintf(f, "%s\n", req) < 0 || fflush(f) != 0)
		snprintf(why, wn, "fprintf/fflush: %s", strerror(errno));
	else if (!fgets(line, sizeof(line), f))
		snprintf(why, wn, "fgets: %s", feof(f) ? "EOF" : strerror(errno));
	else {
		line[strcspn(line, "\n")] = '\0';
		r = strcmp(line, want) != 0;
		if (r)
			snprintf(why, wn, "%s: got '%.80s'", req, line);
	}
	if (fclose(f) != 0 && r == 0) {
		snprintf(why, wn, "fclose: %s", strerror(errno));
		r = -1;
	}
	return r;
}

/* One connect / request(s) / close cycle. */
static int cycle(enum mode m, const char *tag, char *why, size_t wn)
{
	if (m == M_STDIO)
		return stdio_cycle(tag, why, wn);
	int fd = tw_connect();
	if (fd < 0) {
		snprintf(why, wn, "connect: %s", strerror(errno));
		return -1;
	}
	int r = m == M_KV ? kv_on(fd, tag, why, wn) : echo_on(fd, tag, why, wn);
	int c = m == M_SYSCALL ? (int)syscall(SYS_close, fd) : close(fd);
	if (c != 0 && r == 0) {
		snprintf(why, wn, "close: %s", strerror(errno));
		r = -1;
	}
	return r;
}

static int gave_up(const struct tally *t)
{
	return t->errors + t->crossed >= MAX_FAILURES;
}

static void run_into(struct tally *t, enum mode m, const char *tag, long n)
{
	for (long i = 0; i < n && !gave_up(t); i++) {
		char why[300] = "";
		tally_add(t, cycle(m, tag, why, sizeof(why)), why);
	}
}

static int run_cycles(const char *label, enum mode m, long n)
{
	struct tally t = { 0 };
	run_into(&t, m, label, n);
	return tally_report(label, &t, n);
}

static void warm(const char *label)
{
	char l[128];
	snprintf(l, sizeof(l), "%s: warm-up", label);
	run_cycles(l, M_ECHO, 3);
}

/* Leaves n idle connections in the pool: n used at once, then closed. */
static void warm_idle(const char *label, int n)
{
	int fds[8], got = 0;
	char l[128];
	snprintf(l, sizeof(l), "%s: warm-up", label);
	for (; got < n && got < 8; got++)
		if ((fds[got] = conn_used(l)) < 0)
			break;
	while (got > 0)
		close(fds[--got]);
}

/* ---- fds as /proc/self/fd shows them ---- */

/* The socket inode behind fd, or 0 when fd is not a socket. */
static unsigned long socket_inode(int fd)
{
	char path[64], link[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	return strncmp(link, "socket:[", 8) == 0 ? strtoul(link + 8, NULL, 10) : 0;
}

static int is_socket_fd(int fd)
{
	return socket_inode(fd) != 0;
}

/* Sockets the program did not inherit and does not hold (held, or -1; any
 * other fd for held's socket counts as held): the shim's idle connections.
 * Their count; *first gets one of them. */
static int foreign_sockets(int held, int *first)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned long held_ino = held >= 0 ? socket_inode(held) : 0;
	int n = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		unsigned long ino;
		if (e->d_name[0] == '.' || fd == dirfd(d) || fd == held ||
		    (fd < FD_SCAN && inherited[fd]) || !(ino = socket_inode(fd)) || ino == held_ino)
			continue;
		if (first && n == 0)
			*first = fd;
		n++;
	}
	closedir(d);
	return n;
}

static void snapshot_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(d) && fd < FD_SCAN)
			inherited[fd] = 1;
	}
	if (d)
		closedir(d);
}

/* ---- fork and the other ways of making children ---- */

static int child_status_ok(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void fork_child(const char *how, int held, int go)
{
	char label[64];
	int n = foreign_sockets(held, NULL);
	check(n == 0, "%s child: no pooled fd inherited from the parent (%d foreign sockets)", how, n);
	check(close(held) == 0, "%s child: closing its copy of the parent's connection", how);
	check(write(go, "g", 1) == 1, "%s child: telling the parent to start", how);
	snprintf(label, sizeof(label), "%s child", how);
	run_cycles(label, M_ECHO, n_cycles);
	_exit(atomic_load(&failures) ? 1 : 0);
}

static void parent_side(const char *how, int held)
{
	struct tally t = { 0 };
	char tag[64], htag[64], label[160];
	snprintf(tag, sizeof(tag), "%s parent", how);
	snprintf(htag, sizeof(htag), "%s held", how);
	for (long i = 0; i < n_cycles && !gave_up(&t); i++) {
		char why[300] = "";
		tally_add(&t, cycle(M_ECHO, tag, why, sizeof(why)), why);
		tally_add(&t, echo_on(held, htag, why, sizeof(why)), why);
	}
	snprintf(label, sizeof(label), "%s parent: cycles and requests on its held connection, beside the child", how);
	tally_report(label, &t, 2 * n_cycles);
}

/* Once the child has closed its copy of the held connection, parent and
 * child run their cycles at the same time, the parent also using the held
 * connection between its cycles: a copy the child wrongly pooled, or an
 * idle connection both kept, would mix the two processes' replies. */
static void fork_with(const char *how, pid_t (*fork_fn)(void))
{
	int go[2];
	char b, label[96];
	warm_idle(how, 2); /* one for the held connection, one idle at fork */
	snprintf(label, sizeof(label), "%s: parent's held connection", how);
	int held = conn_used(label);
	if (held < 0 || !check(pipe(go) == 0, "%s: pipe", how))
		return;
	pid_t pid = fork_fn();
	if (pid == 0)
		fork_child(how, held, go[1]);
	if (!check(pid > 0, "%s: %s", how, pid > 0 ? "forked" : strerror(errno)))
		return;
	close(go[1]);
	check(read(go[0], &b, 1) == 1, "%s parent: the child started", how);
	parent_side(how, held);
	close(held);
	close(go[0]);
	int st = 0;
	pid_t w = waitpid(pid, &st, 0);
	check(w == pid && child_status_ok(st), "%s: child ran its cycles concurrently and exited 0 (status %#x)",
	      how, st);
	snprintf(label, sizeof(label), "%s parent after the child", how);
	run_cycles(label, M_ECHO, n_cycles / 4 + 1);
}

static void sc_fork(void) { fork_with("fork", fork); }

/* ---- fork while other threads pool ---- */

static atomic_int busy_stop;

static void *busy_run(void *arg)
{
	struct tally *t = arg;
	while (!atomic_load(&busy_stop) && !gave_up(t))
		run_into(t, M_KV, "busy", 1);
	return NULL;
}

/* A child forked while other threads are in the middle of connects and
 * closes: it must not deadlock on a lock a vanished thread held, and its
 * own cycles must be right. */
static int fork_one_busy(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct tally t = { 0 };
		run_into(&t, M_ECHO, "fork-threads child", n_cycles / 10 + 1);
		_exit(t.errors || t.crossed || t.ok != n_cycles / 10 + 1 ? 1 : 0);
	}
	int st = -1;
	return pid > 0 && waitpid(pid, &st, 0) == pid && child_status_ok(st);
}

static void sc_fork_threads(void)
{
	pthread_t th[N_THREADS / 2];
	struct tally t[N_THREADS / 2], all = { 0 };
	int started = 0, good = 0, forks = 20;
	memset(t, 0, sizeof(t));
	for (; started < N_THREADS / 2; started++)
		if (pthread_create(&th[started], NULL, busy_run, &t[started]) != 0)
			break;
	for (int i = 0; i < forks; i++)
		good += fork_one_busy();
	atomic_store(&busy_stop, 1);
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		all.ok += t[i].ok;
		all.errors += t[i].errors;
		all.crossed += t[i].crossed;
		if (!all.first[0] && t[i].first[0])
			snprintf(all.first, sizeof(all.first), "%s", t[i].first);
	}
	check(good == forks, "fork-threads: %d of %d children forked beside %d busy threads ran right",
	      good, forks, started);
	tally_report("fork-threads: the busy threads' cycles", &all, all.ok + all.errors + all.crossed);
	check(all.ok > 0, "fork-threads: the threads made %ld cycles meanwhile", all.ok);
}

/* glibc's async-signal-safe fork: it runs no fork handlers. */
static void sc_underscore_fork(void) { fork_with("_Fork", _Fork); }

/* vfork's child may only exec or _exit; kept in a function of its own. */
static pid_t spawn_vfork(void)
{
	pid_t pid = vfork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Runs /bin/true by method how; its wait status, or -1. */
static int spawn_true(const char *how)
{
	pid_t pid = -1;
	int st = -1;
	if (!strcmp(how, "system"))
		return system("/bin/true");
	if (!strcmp(how, "popen")) {
		FILE *f = popen("/bin/true", "r");
		return f ? pclose(f) : -1;
	}
	if (!strcmp(how, "vfork")) {
		pid = spawn_vfork();
	} else {
		char *argv[] = { "true", NULL };
		int e = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
		if (e) {
			errno = e;
			return -1;
		}
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static void sc_spawn(const char *how)
{
	char label[64], why[300] = "";
	snprintf(label, sizeof(label), "%s", how);
	warm(label);
	int held = conn_used(label);
	if (held < 0)
		return;
	int st = spawn_true(how);
	check(st >= 0 && child_status_ok(st), "%s: /bin/true ran while a connection was held (status %#x)",
	      how, st);
	check(echo_on(held, how, why, sizeof(why)) == 0,
	      "%s: the held connection still answers right after the child%s%s", how, *why ? ": " : "", why);
	check(close(held) == 0, "%s: closing the connection held across the child", how);
	snprintf(label, sizeof(label), "%s: after the child", how);
	run_cycles(label, M_ECHO, n_cycles);
}

static void sc_exec(void)
{
	run_cycles("exec: cycles before exec", M_ECHO, n_cycles);
	int n = foreign_sockets(-1, NULL);
	note("exec: %d idle pooled socket(s) before exec; ls -l /proc/self/fd follows", n);
	char *argv[] = { "ls", "-l", "/proc/self/fd/", NULL };
	execv("/bin/ls", argv);
	check(0, "exec: execv /bin/ls: %s", strerror(errno));
}

/* ---- threads ---- */

struct worker {
	pthread_t th;
	char tag[16];
	struct tally t;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	run_into(&w->t, M_KV, w->tag, n_cycles);
	return NULL;
}

static void sc_threads(void)
{
	static struct worker w[N_THREADS];
	struct tally all = { 0 };
	int started = 0;
	for (int i = 0; i < N_THREADS; i++) {
		snprintf(w[i].tag, sizeof(w[i].tag), "t%d", i);
		if (pthread_create(&w[i].th, NULL, worker_run, &w[i]) != 0)
			break;
		started++;
	}
	check(started == N_THREADS, "threads: started %d of %d threads", started, N_THREADS);
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].th, NULL);
		all.ok += w[i].t.ok;
		all.errors += w[i].t.errors;
		all.crossed += w[i].t.crossed;
		if (!all.first[0] && w[i].t.first[0])
			snprintf(all.first, sizeof(all.first), "thread %d: %s", i, w[i].t.first);
	}
	tally_report("threads: SET/GET cycles in 16 threads", &all, n_cycles * started);
}

/* ---- dup family ---- */

/* A request on fd stays outstanding while a whole cycle runs on a new
 * connection: if both were one socket, the cycle would read fd's reply. */
static void interleaved(int fd, const char *label)
{
	char req[128], want[128], line[LINE_CAP], why[300] = "";
	unique_echo(label, req, want, sizeof(want));
	strcat(req, "\n");
	int sent = send_all(fd, req, strlen(req)) == 0;
	int r = cycle(M_ECHO, label, why, sizeof(why));
	check(r == 0, "%s: a cycle while the duplicate has a request outstanding%s%s", label,
	      *why ? ": " : "", why);
	int n = sent ? read_line(fd, line, sizeof(line)) : RL_ERR;
	check(n >= 0 && !strcmp(line, want), "%s: the duplicate got its own reply (%s)", label,
	      n >= 0 ? line : rl_name(n));
}

static void dup_plain(void)
{
	int fd = conn_used("dup");
	if (fd < 0)
		return;
	int d = dup(fd);
	check(d >= 0, "dup: dup() of a used connection gives %d", d);
	check(close(fd) == 0, "dup: closing the original while the duplicate lives");
	interleaved(d, "dup");
	close(d);
}

static void dup_dup2(void)
{
	int a = conn_used("dup2"), b = conn_used("dup2 other");
	if (a < 0 || b < 0)
		return;
	check(dup2(b, a) == a, "dup2: another socket put over a tracked fd");
	interleaved(a, "dup2");
	check(close(b) == 0, "dup2: closing the other name of the socket");
	interleaved(a, "dup2 after closing the other name");
	close(a);
}

static void dup_fcntl(void)
{
	int fd = conn_used("F_DUPFD");
	if (fd < 0)
		return;
	int d = fcntl(fd, F_DUPFD, 100);
	check(d >= 100, "F_DUPFD: duplicate at %d (>= 100)", d);
	check(close(fd) == 0, "F_DUPFD: closing the original while the duplicate lives");
	interleaved(d, "F_DUPFD");
	close(d);
}

/* A socket duplicated before connect(): connecting either name connects
 * the one socket, so the other name must work too. Run with an idle
 * connection in the pool, which must not be put under one name only. */
static void dup_before_connect(int connect_new)
{
	char why[300] = "", label[64];
	snprintf(label, sizeof(label), "dup before connect, connecting the %s name", connect_new ? "new" : "old");
	run_cycles(label, M_ECHO, 1);
	int s = socket(AF_INET, SOCK_STREAM, 0), d = s >= 0 ? dup(s) : -1;
	if (!check(d >= 0, "%s: socket and dup", label))
		return;
	int c = connect(connect_new ? d : s, (struct sockaddr *)&target, sizeof(target));
	check(c == 0, "%s: connect: %s", label, c == 0 ? "ok" : strerror(errno));
	int r = echo_on(connect_new ? s : d, label, why, sizeof(why));
	check(r == 0, "%s: the other name is connected too%s%s", label, *why ? ": " : "", why);
	*why = '\0';
	r = echo_on(connect_new ? d : s, label, why, sizeof(why));
	check(r == 0, "%s: the connected name works%s%s", label, *why ? ": " : "", why);
	close(s);
	close(d);
}

static void sc_dup_before_connect(void)
{
	warm("dup-before-connect");
	dup_before_connect(1);
	dup_before_connect(0);
	run_cycles("dup-before-connect: after", M_ECHO, n_cycles);
}

static void sc_dup(void)
{
	warm("dup");
	dup_plain();
	run_cycles("dup: after dup()", M_ECHO, n_cycles / 4 + 1);
	dup_dup2();
	run_cycles("dup: after dup2()", M_ECHO, n_cycles / 4 + 1);
	dup_fcntl();
	run_cycles("dup: after F_DUPFD", M_ECHO, n_cycles);
}

/* Writes through w, reads back from r within a second. */
static int pipe_works(int w, int r)
{
	char buf[8] = "";
	return write(w, "hello", 5) == 5 && wait_fd(r, POLLIN, 1000) == 1 && read(r, buf, sizeof(buf)) == 5 &&
	       !memcmp(buf, "hello", 5);
}

/* The pipe stays at the shim's old fd number while cycles run: the shim
 * must have moved its connection away, never touching that number again. */
static void sc_dup2_onto_private(void)
{
	int priv = -1, p[2];
	warm("dup2-onto-private");
	int n = foreign_sockets(-1, &priv);
	if (!check(n >= 1, "dup2-onto-private: found shim private fd %d (%d idle pooled sockets)", priv, n))
		return;
	if (!check(pipe(p) == 0, "dup2-onto-private: pipe"))
		return;
	check(dup2(p[1], priv) == priv, "dup2-onto-private: dup2 of a pipe onto fd %d", priv);
	check(fcntl(priv, F_GETFD) == 0, "dup2-onto-private: fd %d has no FD_CLOEXEC, as dup2 leaves it", priv);
	check(pipe_works(priv, p[0]), "dup2-onto-private: the pipe works at fd %d", priv);
	note("dup2-onto-private: %d idle pooled socket(s) now", foreign_sockets(priv, NULL));
	run_cycles("dup2-onto-private: cycles while the pipe holds the number", M_ECHO, n_cycles);
	check(pipe_works(priv, p[0]), "dup2-onto-private: the pipe at fd %d still works after the cycles", priv);
	check(close(priv) == 0, "dup2-onto-private: closing the pipe at fd %d", priv);
	close(p[0]);
	close(p[1]);
	run_cycles("dup2-onto-private: after", M_ECHO, n_cycles / 4 + 1);
}

/* ---- bulk closes ---- */

/* Closes every fd in [from, to); counts the closes that succeeded on the
 * program's own fds and on sockets it never had (the shim's: must be 0). */
static void close_each(int from, int to, int held, int *ours, int *theirs)
{
	for (int fd = from; fd < to; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		int sock = fd != held && !(fd < FD_SCAN && inherited[fd]) && is_socket_fd(fd);
		if (close(fd) == 0) {
			*ours += !sock;
			*theirs += sock;
		}
	}
}

/* for (fd = 3; fd < 1024; fd++) close(fd), as daemons do, then the same up
 * to the fd limit (where the shim's private fds may live), as daemons that
 * ask sysconf(_SC_OPEN_MAX) do. */
static void close_loop(int held)
{
	int ours = 0, theirs = 0, high = getdtablesize();
	close_each(3, 1024, held, &ours, &theirs);
	note("close-loop: %d closes below 1024 succeeded on the program's fds", ours);
	check(theirs == 0, "close-loop: close() of the shim's private fds below 1024 said EBADF (%d succeeded)",
	      theirs);
	ours = theirs = 0;
	close_each(1024, high < (1 << 20) ? high : (1 << 20), held, &ours, &theirs);
	check(theirs == 0, "close-loop: close() of the shim's private fds up to %d said EBADF (%d succeeded)",
	      high, theirs);
}

/* Another fd for held's socket (the shim's spare for a connection in
 * use), or -1. */
static int twin_fd(int held)
{
	unsigned long ino = socket_inode(held);
	int high = getdtablesize();
	for (int fd = 0; ino && fd < high && fd < (1 << 20); fd++)
		if (fd != held && fcntl(fd, F_GETFD) >= 0 && socket_inode(fd) == ino)
			return fd;
	return -1;
}

static void bulk_close_now(const char *how, int held)
{
	if (!strcmp(how, "closefrom"))
		closefrom(3);
	else if (!strcmp(how, "close-range"))
		check(close_range(3, ~0U, 0) == 0, "close-range: close_range(3, ~0U, 0): %s", strerror(errno));
	else
		close_loop(held);
}

/* The program reuses the numbers the bulk close freed: a file where the
 * held connection was (used, then closed), a pipe's write end where the
 * shim's fds were. The read end, or -1; w[] gets the write ends placed. */
static int reuse_numbers(const char *how, int held, const int *nums, int w[2])
{
	char b;
	int f = open("/dev/null", O_RDWR), p[2];
	static const int none[2] = { -1, -1 };
	int lowest = nums ? 3 : f; /* after a close loop, parked fds may sit lower */
	if (!nums)
		nums = none;
	/* Every number from 3 up is free after the bulk close: the lowest is
	 * the next one handed out (the held connection's was 3 without the
	 * shim; with it, idle connections parked in place may sit lower). */
	check(f == lowest, "%s: a file opened after it gets fd %d, the lowest (%d; held was %d)", how,
	      lowest, f, held);
	check(write(f, "x", 1) == 1 && read(f, &b, 1) == 0 && close(f) == 0,
	      "%s: the file at fd %d written, read and closed", how, f);
	if (!check(pipe2(p, O_CLOEXEC) == 0, "%s: pipe", how))
		return -1;
	for (int i = 0; i < 2; i++) { /* out of the way of the numbers under test */
		int high = fcntl(p[i], F_DUPFD_CLOEXEC, 900);
		close(p[i]);
		p[i] = high;
	}
	for (int i = 0; i < 2; i++) {
		w[i] = nums[i] >= 0 ? fcntl(p[1], F_DUPFD, nums[i]) : -1;
		if (nums[i] >= 0)
			check(w[i] == nums[i], "%s: a pipe put at fd %d, once the shim's (got %d)", how, nums[i], w[i]);
	}
	close(p[1]);
	return p[0];
}

/* A bulk close takes the program's held connection, the shim's spare fd
 * for it and its idle connections; then the program reuses those numbers
 * and makes connections again. The shim must not touch the reused numbers:
 * its state about them went with the bulk close. */
static void sc_bulk(const char *how)
{
	char label[64];
	int nums[2] = { -1, -1 }, w[2];
	warm_idle(how, 2); /* one to hold, one idle */
	int held = conn_used(how);
	if (held < 0)
		return;
	int n = foreign_sockets(held, &nums[0]);
	nums[1] = twin_fd(held);
	note("%s: %d idle pooled socket(s) before, first at fd %d; the held connection's spare fd: %d", how,
	     n, nums[0], nums[1]);
	bulk_close_now(how, held);
	check(fcntl(held, F_GETFD) < 0 && errno == EBADF, "%s: the held connection's fd is closed", how);
	n = foreign_sockets(-1, NULL);
	/* A loop of close() calls that skips numbers fcntl() calls closed
	 * leaves the connections parked in place (closed, to the program)
	 * where they are; close_range and closefrom take everything. */
	int loop = !strcmp(how, "close-loop");
	check(loop ? n <= 2 : n == 0, "%s: no socket left open but parked ones (%d)", how, n);
	int r = reuse_numbers(how, held, loop ? NULL : nums, w);
	snprintf(label, sizeof(label), "%s: after", how);
	run_cycles(label, M_ECHO, n_cycles);
	run_cycles(label, M_ECHO, n_cycles / 4 + 1); /* pooled again, and reused */
	for (int i = 0; i < 2 && r >= 0; i++)
		if (w[i] >= 0) {
			check(pipe_works(w[i], r), "%s: the pipe at fd %d still works after the cycles", how, w[i]);
			close(w[i]);
		}
	if (r >= 0)
		close(r);
}

/* ---- close paths ---- */

static void sc_syscall_close(void)
{
	run_cycles("syscall-close: syscall(SYS_close)", M_SYSCALL, n_cycles);
	run_cycles("syscall-close: then close()", M_ECHO, n_cycles);
}

static void sc_fclose(void)
{
	run_cycles("fclose: fdopen/fprintf/fgets/fclose", M_STDIO, n_cycles);
	run_cycles("fclose: then close()", M_ECHO, n_cycles);
}

static void sc_double_close(void)
{
	warm("double-close");
	int fd = conn_used("double-close");
	if (fd < 0)
		return;
	check(close(fd) == 0, "double-close: first close of a clean connection");
	errno = 0;
	int r = close(fd);
	check(r == -1 && errno == EBADF, "double-close: second close fails with EBADF (%d, %s)", r, strerror(errno));
	fd = tw_connect();
	check(fd >= 0 && close(fd) == 0, "double-close: first close of an unused connection");
	errno = 0;
	r = close(fd);
	check(r == -1 && errno == EBADF, "double-close: second close of it fails with EBADF (%d, %s)", r,
	      strerror(errno));
	run_cycles("double-close: after", M_ECHO, n_cycles);
}

/* ---- shutdown ---- */

/* The server's STATS reply fields; -1 on failure. */
static int server_stats(long *accepted, long *active)
{
	char line[LINE_CAP], why[300];
	int fd = tw_connect();
	if (fd < 0)
		return -1;
	int r = request(fd, "STATS", line, sizeof(line), why, sizeof(why));
	close(fd);
	if (r < 0 || sscanf(line, "accepted %ld active %ld", accepted, active) != 2)
		return -1;
	return 0;
}

static void sc_shutdown_wr(void)
{
	char req[128], want[128], line[LINE_CAP];
	warm("shutdown-wr");
	int fd = tw_connect();
	if (!check(fd >= 0, "shutdown-wr: connect"))
		return;
	unique_echo("shutdown-wr", req, want, sizeof(want));
	strcat(req, "\n");
	check(send_all(fd, req, strlen(req)) == 0, "shutdown-wr: request sent");
	check(shutdown(fd, SHUT_WR) == 0, "shutdown-wr: shutdown(SHUT_WR)");
	int n = read_line(fd, line, sizeof(line));
	check(n >= 0 && !strcmp(line, want), "shutdown-wr: reply read after shutdown (%s)", n >= 0 ? line : rl_name(n));
	char b;
	int w = wait_fd(fd, POLLIN, WAIT_MS);
	ssize_t r = w > 0 ? read(fd, &b, 1) : -1;
	check(r == 0, "shutdown-wr: then EOF: the server saw ours and closed (read %zd)", r);
	check(close(fd) == 0, "shutdown-wr: close");
	long acc = -1, act = -1;
	for (int i = 0; i < 50 && (server_stats(&acc, &act) < 0 || act != 1); i++)
		usleep(10000);
	check(act == 1, "shutdown-wr: server holds only the STATS connection (accepted %ld active %ld)", acc, act);
	run_cycles("shutdown-wr: after", M_ECHO, n_cycles);
}

static void sc_shutdown_rdwr(void)
{
	warm("shutdown-rdwr");
	int fd = conn_used("shutdown-rdwr");
	if (fd < 0)
		return;
	check(shutdown(fd, SHUT_RDWR) == 0, "shutdown-rdwr: shutdown(SHUT_RDWR)");
	char b;
	ssize_t r = read(fd, &b, 1);
	check(r == 0, "shutdown-rdwr: read after it returns 0 (%zd)", r);
	errno = 0;
	r = write(fd, "PING\n", 5);
	check(r == -1 && errno == EPIPE, "shutdown-rdwr: write after it fails with EPIPE (%zd, %s)", r, strerror(errno));
	check(close(fd) == 0, "shutdown-rdwr: close");
	run_cycles("shutdown-rdwr: after", M_ECHO, n_cycles);
}

/* ---- programs that close in the middle of a reply ---- */

/* Odd rounds wait 100 ms before closing: the server has acknowledged the
 * request by then (delayed ACK), so only the missing reply says the
 * connection is busy. */
static void sc_early_close(void)
{
	warm("early-close");
	for (int round = 0; round < 4; round++) {
		int fd = tw_connect();
		int sent = fd >= 0 && send_all(fd, "SLEEP 300\n", 10) == 0;
		if (round % 2)
			usleep(100000);
		check(sent && close(fd) == 0, "early-close: round %d: SLEEP 300 sent, closed %s without reading",
		      round, round % 2 ? "100 ms later" : "at once");
		run_cycles("early-close: right after", M_ECHO, n_cycles);
	}
}

static void sc_partial_read(void)
{
	warm("partial-read");
	for (int round = 0; round < 3; round++) {
		char buf[100];
		size_t got = 0;
		int fd = tw_connect();
		if (fd >= 0 && send_all(fd, "BIG 1000000\n", 12) == 0)
			while (got < sizeof(buf) && wait_fd(fd, POLLIN, WAIT_MS) > 0) {
				ssize_t r = read(fd, buf + got, sizeof(buf) - got);
				if (r <= 0)
					break;
				got += (size_t)r;
			}
		check(got == sizeof(buf) && buf[0] == 'x', "partial-read: round %d: read 100 of 1000000 bytes", round);
		check(fd >= 0 && close(fd) == 0, "partial-read: round %d: closed mid-reply", round);
		run_cycles("partial-read: right after", M_ECHO, n_cycles);
	}
}

/* Reads exactly one line, byte by byte, leaving what follows unread. */
static int read_exact_line(int fd, char *line, size_t cap)
{
	size_t len = 0;
	while (len < cap - 1) {
		if (wait_fd(fd, POLLIN, WAIT_MS) <= 0 || read(fd, line + len, 1) != 1)
			return -1;
		if (line[len] == '\n') {
			line[len] = '\0';
			return (int)len;
		}
		len++;
	}
	return -1;
}

static void sc_pipelined(void)
{
	struct tally t = { 0 };
	warm("pipelined");
	for (int round = 0; round < 20; round++) {
		char a1[64], a2[64], req[160], line[LINE_CAP];
		unsigned long k = atomic_fetch_add(&seq, 1);
		snprintf(a1, sizeof(a1), "a1-%d-%lu", (int)getpid(), k);
		snprintf(a2, sizeof(a2), "a2-%d-%lu", (int)getpid(), k);
		snprintf(req, sizeof(req), "ECHO %s\nECHO %s\n", a1, a2);
		int fd = tw_connect();
		int ok = fd >= 0 && send_all(fd, req, strlen(req)) == 0 &&
			 read_exact_line(fd, line, sizeof(line)) >= 0 && !strcmp(line, a1);
		check(ok, "pipelined: round %d: two requests in one write, first reply read", round);
		if (fd >= 0)
			close(fd);
		run_into(&t, M_ECHO, "pipelined", 5);
	}
	tally_report("pipelined: cycles right after each", &t, 100);
	run_cycles("pipelined: after", M_ECHO, n_cycles);
}

/* ---- a signal handler that closes sockets ---- */

static volatile sig_atomic_t spare_fd = -1, handler_closes;

static void on_alarm(int sig)
{
	(void)sig;
	int fd = spare_fd, saved = errno;
	if (fd >= 0) {
		spare_fd = -1;
		close(fd);
		handler_closes = handler_closes + 1;
	}
	errno = saved;
}

static void set_timer(long us)
{
	struct itimerval it = { { 0, us }, { 0, us } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void sc_signal_close(void)
{
	struct sigaction sa;
	struct tally t = { 0 };
	long spares = 0, rounds = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	set_timer(SIGNAL_INTERVAL_US);
	time_t end = time(NULL) + SIGNAL_SECONDS;
	while ((time(NULL) < end || rounds < 10) && !gave_up(&t)) {
		if (spare_fd < 0) {
			char why[300] = "";
			int fd = tw_connect();
			int r = fd >= 0 ? echo_on(fd, "spare", why, sizeof(why)) : -1;
			tally_add(&t, r, fd >= 0 ? why : "spare: connect failed");
			if (fd >= 0)
				spare_fd = fd;
			spares++;
		}
		run_into(&t, M_ECHO, "signal-close", 1);
		rounds++;
	}
	set_timer(0);
	if (spare_fd >= 0)
		close(spare_fd);
	note("signal-close: %ld rounds, %ld spare connections, %d closed by the handler", rounds, spares,
	     (int)handler_closes);
	check(handler_closes > 0, "signal-close: the handler closed connections (%d)", (int)handler_closes);
	tally_report("signal-close: main loop and spare requests", &t, rounds + spares);
	run_cycles("signal-close: after", M_ECHO, n_cycles);
}

/* ---- fd limits ---- */

/* Opens /dev/null until EMFILE; how many it got (all closed again). */
static int fill_count(void)
{
	int fds[RLIMIT_FDS + 8], n = 0;
	while (n < (int)(sizeof(fds) / sizeof(fds[0]))) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	int got = n, why = errno;
	while (n > 0)
		close(fds[--n]);
	if (got < (int)(sizeof(fds) / sizeof(fds[0])) && why != EMFILE)
		note("rlimit: open stopped on %s, not EMFILE", strerror(why));
	return got;
}

/* Fills the fd table, runs cycles, fills it again: the second fill must
 * get nearly as many fds as the first. */
static void fd_budget(const char *label)
{
	char l[96];
	int inh = 0;
	for (int fd = 0; fd < RLIMIT_FDS; fd++)
		inh += inherited[fd];
	int first = fill_count();
	note("%s: %d fds below %d inherited, %d more opened before any connection", label, inh,
	     RLIMIT_FDS, first);
	snprintf(l, sizeof(l), "%s: cycles under a %d-fd limit", label, RLIMIT_FDS);
	run_cycles(l, M_ECHO, n_cycles);
	int second = fill_count();
	int want = RLIMIT_FDS - inh - SHIM_FDS_ALLOWED;
	note("%s: %d fds opened after the cycles, %d idle pooled socket(s)", label, second,
	     foreign_sockets(-1, NULL));
	check(second >= want, "%s: the program still gets %d fds (>= %d): the shim holds at most %d",
	      label, second, want, SHIM_FDS_ALLOWED);
	snprintf(l, sizeof(l), "%s: cycles after filling the table", label);
	run_cycles(l, M_ECHO, n_cycles / 4 + 1);
}

static void sc_rlimit(void)
{
	struct rlimit rl;
	char port[16], n[24];
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = RLIMIT_FDS;
	if (!check(setrlimit(RLIMIT_NOFILE, &rl) == 0, "rlimit: RLIMIT_NOFILE set to %d", RLIMIT_FDS))
		return;
	fd_budget("rlimit");
	if (atomic_load(&failures))
		return;
	/* Again in a program that starts under the limit: the shim sizes its
	 * share of fds when it starts. */
	snprintf(port, sizeof(port), "%d", ntohs(target.sin_port));
	snprintf(n, sizeof(n), "%ld", n_cycles);
	char *argv[] = { prog_name, "rlimit-inherited", "-p", port, "-n", n, NULL };
	execv("/proc/self/exe", argv);
	check(0, "rlimit: exec of rlimit-inherited: %s", strerror(errno));
}

static void sc_rlimit_inherited(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (check(rl.rlim_cur == RLIMIT_FDS, "rlimit-inherited: started with RLIMIT_NOFILE %ld (want %d)",
		  (long)rl.rlim_cur, RLIMIT_FDS))
		fd_budget("rlimit-inherited");
}

/* ---- epoll ---- */

/* Writes the reason into why; returns r. */
static int failed(char *why, size_t wn, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int failed(char *why, size_t wn, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, wn, fmt, ap);
	va_end(ap);
	return r;
}

/* Waits for one event of fd in ep; its events, 0 on timeout, -1 error. */
static int ep_wait_one(int ep, int fd, int ms)
{
	struct epoll_event ev[4];
	for (;;) {
		int n = epoll_wait(ep, ev, 4, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd == fd)
				return (int)ev[i].events;
		errno = EBADFD; /* an event for an fd that is not ours */
		return -1;
	}
}

static int ep_ctl(int ep, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	return epoll_ctl(ep, op, fd, &ev);
}

/* Non-blocking connect with registration before or after connect(), then
 * request/reply driven by epoll. 0, 1 crossed, -1 error (why filled). */
static int ep_exchange(int ep, int fd, int before, char *why, size_t wn)
{
	char req[128], want[128], line[LINE_CAP];
	size_t len = 0;
	int r = connect(fd, (struct sockaddr *)&target, sizeof(target));
	if (r < 0 && errno != EINPROGRESS)
		return failed(why, wn, -1, "connect: %s", strerror(errno));
	if (!before && ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLOUT) < 0)
		return failed(why, wn, -1, "EPOLL_CTL_ADD after connect: %s", strerror(errno));
	int ev = ep_wait_one(ep, fd, 2000);
	if (ev <= 0 || !(ev & EPOLLOUT))
		return failed(why, wn, -1, "no EPOLLOUT within 2 s (hang): %d", ev);
	int err = -1;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
		return failed(why, wn, -1, "SO_ERROR %d", err);
	unique_echo("epoll", req, want, sizeof(want));
	strcat(req, "\n");
	if (ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN) < 0 || write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return failed(why, wn, -1, "MOD/write: %s", strerror(errno));
	while (!memchr(line, '\n', len)) {
		ev = ep_wait_one(ep, fd, 2000);
		if (ev <= 0)
			return failed(why, wn, -1, "no EPOLLIN within 2 s (hang): %d", ev);
		ssize_t n = read(fd, line + len, sizeof(line) - 1 - len);
		if (n <= 0 && !(n < 0 && errno == EAGAIN))
			return failed(why, wn, -1, "read: %s", n ? strerror(errno) : "EOF");
		len += n > 0 ? (size_t)n : 0;
	}
	line[len] = '\0';
	if (strlen(want) + 1 == len && !strncmp(line, want, len - 1))
		return 0;
	return failed(why, wn, 1, "got '%.80s', want '%s'", line, want);
}

static int ep_cycle(int ep, int before, char *why, size_t wn)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return failed(why, wn, -1, "socket: %s", strerror(errno));
	int r = before && ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLOUT) < 0
		? failed(why, wn, -1, "EPOLL_CTL_ADD before connect: %s", strerror(errno))
		: ep_exchange(ep, fd, before, why, wn);
	close(fd); /* no EPOLL_CTL_DEL: close is supposed to drop the registration */
	struct epoll_event ev;
	int left = epoll_wait(ep, &ev, 1, 0);
	if (left != 0 && r == 0) {
		snprintf(why, wn, "after close, epoll still reports fd %d events %#x", ev.data.fd, ev.events);
		r = -1;
	}
	return r;
}

static void sc_epoll(void)
{
	for (int before = 1; before >= 0; before--) {
		struct tally t = { 0 };
		int ep = epoll_create1(EPOLL_CLOEXEC);
		if (!check(ep >= 0, "epoll: epoll_create1"))
			return;
		for (long i = 0; i < n_cycles && !gave_up(&t); i++) {
			char why[300] = "";
			tally_add(&t, ep_cycle(ep, before, why, sizeof(why)), why);
		}
		tally_report(before ? "epoll: registered before connect" : "epoll: registered after connect",
			     &t, n_cycles);
		close(ep);
	}
	run_cycles("epoll: blocking cycles after", M_ECHO, n_cycles / 4 + 1);
}

/* ---- non-blocking connect served from the pool ---- */

static int local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	return getsockname(fd, (struct sockaddr *)&a, &l) == 0 ? ntohs(a.sin_port) : -1;
}

/* One non-blocking connect with every check; *reused when the local port
 * is the one last seen (the pooled connection came back). */
static int nb_cycle(int *last_port, int *reused, char *why, size_t wn)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = -1, err = -1;
	socklen_t el = sizeof(err);
	errno = 0;
	if (fd < 0 || connect(fd, (struct sockaddr *)&target, sizeof(target)) != -1 || errno != EINPROGRESS) {
		snprintf(why, wn, "connect: want -1/EINPROGRESS, errno %s", strerror(errno));
		goto out;
	}
	int port = local_port(fd);
	*reused = port == *last_port;
	*last_port = port;
	if (wait_fd(fd, POLLOUT, *reused ? 0 : WAIT_MS) != 1) {
		snprintf(why, wn, "not writable %s", *reused ? "at once on a pooled connection" : "within 5 s");
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		snprintf(why, wn, "SO_ERROR %d", err);
		goto out;
	}
	/* Once connected, the kernel answers the next connect() with 0 and
	 * every later one with EISCONN; a connection from the pool is past
	 * that, so it may say EISCONN at once. Both mean "connected". */
	errno = 0;
	int again = connect(fd, (struct sockaddr *)&target, sizeof(target));
	if (again != 0 && errno != EISCONN) {
		snprintf(why, wn, "second connect: want 0 or EISCONN, got %s", strerror(errno));
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) != -1 || errno != EISCONN) {
		snprintf(why, wn, "third connect: want EISCONN, got %s", strerror(errno));
		goto out;
	}
	r = echo_on(fd, "nonblock", why, wn);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static void sc_nonblock_connect(void)
{
	struct tally t = { 0 };
	int last = -1, reused = 0, n_reused = 0;
	int fd = conn_used("nonblock-connect: warm-up");
	if (fd < 0)
		return;
	last = local_port(fd);
	close(fd);
	for (long i = 0; i < n_cycles && !gave_up(&t); i++) {
		char why[300] = "";
		tally_add(&t, nb_cycle(&last, &reused, why, sizeof(why)), why);
		n_reused += reused;
	}
	note("nonblock-connect: %d of %ld connects got the previous connection back (same local port)",
	     n_reused, n_cycles);
	tally_report("nonblock-connect: EINPROGRESS, writable, SO_ERROR 0, EISCONN, reply", &t, n_cycles);
}

/* ---- errno ---- */

static void errno_kept(long r, const char *what)
{
	int e = errno;
	if (r < 0)
		check(0, "errno: %s failed: %s", what, strerror(e));
	else if (e != ERRNO_MARK)
		check(0, "errno: %s succeeded but changed errno to %d (%s)", what, e, strerror(e));
}

#define KEEP(call, what) do { errno = ERRNO_MARK; long r_ = (long)(call); errno_kept(r_, what); } while (0)
#define KEEPV(call, what, v) do { errno = ERRNO_MARK; v = (call); errno_kept((long)(v), what); } while (0)

/* socket, connect, write, read, close on a target connection. */
static void errno_tracked(const char *what, int read_reply)
{
	char line[LINE_CAP], label[96];
	int fd;
	snprintf(label, sizeof(label), "%s socket()", what);
	KEEPV(socket(AF_INET, SOCK_STREAM, 0), label, fd);
	if (fd < 0)
		return;
	snprintf(label, sizeof(label), "%s connect()", what);
	KEEP(connect(fd, (struct sockaddr *)&target, sizeof(target)), label);
	snprintf(label, sizeof(label), "%s write()", what);
	KEEP(write(fd, "PING\n", 5), label);
	if (read_reply) {
		snprintf(label, sizeof(label), "%s read()", what);
		KEEP(read_line(fd, line, sizeof(line)), label);
	}
	snprintf(label, sizeof(label), "%s close()", what);
	KEEP(close(fd), label);
}

/* A TCP connection to a port that is not a target, and a pipe. */
static void errno_untracked(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, afd, p[2];
	char b[8];
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, l) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &l) < 0) {
		check(0, "errno: a listener of its own: %s", strerror(errno));
		return;
	}
	KEEPV(socket(AF_INET, SOCK_STREAM, 0), "untracked socket()", fd);
	KEEP(connect(fd, (struct sockaddr *)&a, l), "untracked connect()");
	afd = accept(lfd, NULL, NULL);
	KEEP(write(fd, "x", 1), "untracked write()");
	KEEP(read(afd, b, 1), "untracked read()");
	KEEP(close(fd), "untracked close()");
	close(afd);
	close(lfd);
	if (pipe(p) < 0)
		return;
	KEEP(write(p[1], "x", 1), "pipe write()");
	KEEP(read(p[0], b, 1), "pipe read()");
	KEEP(close(p[0]), "pipe close()");
	KEEP(close(p[1]), "pipe close()");
}

static void sc_errno(void)
{
	int before = atomic_load(&failures);
	errno_tracked("fresh", 1);       /* parked at close */
	errno_tracked("reused", 1);      /* from the pool, parked again */
	errno_tracked("unread reply", 0); /* closed for real: last I/O a write */
	errno_tracked("after discard", 1);
	errno_untracked();
	check(atomic_load(&failures) == before, "errno: every successful call left errno at %d", ERRNO_MARK);
	run_cycles("errno: after", M_ECHO, n_cycles / 4 + 1);
}

/* ---- main ---- */

static void sc_vfork(void) { sc_spawn("vfork"); }
static void sc_posix_spawn(void) { sc_spawn("posix_spawn"); }
static void sc_system(void) { sc_spawn("system"); }
static void sc_popen(void) { sc_spawn("popen"); }
static void sc_closefrom(void) { sc_bulk("closefrom"); }
static void sc_close_range(void) { sc_bulk("close-range"); }
static void sc_close_loop(void) { sc_bulk("close-loop"); }

static const struct scenario {
	const char *name;
	void (*run)(void);
} scenarios[] = {
	{ "fork", sc_fork },
	{ "_Fork", sc_underscore_fork },
	{ "fork-threads", sc_fork_threads },
	{ "vfork", sc_vfork },
	{ "posix_spawn", sc_posix_spawn },
	{ "system", sc_system },
	{ "popen", sc_popen },
	{ "exec", sc_exec },
	{ "threads", sc_threads },
	{ "dup", sc_dup },
	{ "dup-before-connect", sc_dup_before_connect },
	{ "dup2-onto-private", sc_dup2_onto_private },
	{ "closefrom", sc_closefrom },
	{ "close-range", sc_close_range },
	{ "close-loop", sc_close_loop },
	{ "syscall-close", sc_syscall_close },
	{ "fclose", sc_fclose },
	{ "shutdown-wr", sc_shutdown_wr },
	{ "shutdown-rdwr", sc_shutdown_rdwr },
	{ "early-close", sc_early_close },
	{ "partial-read", sc_partial_read },
	{ "pipelined", sc_pipelined },
	{ "signal-close", sc_signal_close },
	{ "rlimit", sc_rlimit },
	{ "rlimit-inherited", sc_rlimit_inherited },
	{ "epoll", sc_epoll },
	{ "nonblock-connect", sc_nonblock_connect },
	{ "errno", sc_errno },
	{ "double-close", sc_double_close },
};

static void usage(void)
{
	fprintf(stderr, "usage: twpool-hazards SCENARIO -p PORT [-n N]\nscenarios:");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(stderr, " %s", scenarios[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const struct scenario *sc = NULL;
	long port = 0;
	int ch;
	if (argc < 2)
		usage();
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (!strcmp(argv[1], scenarios[i].name))
			sc = &scenarios[i];
	optind = 2;
	while ((ch = getopt(argc, argv, "p:n:")) != -1) {
		if (ch == 'p')
			port = strtol(optarg, NULL, 10);
		else if (ch == 'n')
			n_cycles = strtol(optarg, NULL, 10);
		else
			usage();
	}
	if (!sc || port <= 0 || port > 65535 || n_cycles < 1 || optind != argc)
		usage();
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)port);
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	prog_name = argv[0];
	signal(SIGPIPE, SIG_IGN);
	snapshot_fds();
	sc->run();
	int f = atomic_load(&failures);
	note("%s: %d check(s) failed", sc->name, f);
	return f ? 1 : 0;
}
