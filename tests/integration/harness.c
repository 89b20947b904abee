/* harness.c - helpers for the integration tests; the contract is in harness.h. */
#include "harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define START_TIMEOUT_MS 10000 /* for a server to listen / answer PING */
#define STOP_TIMEOUT_MS 10000  /* for a server to exit after SIGTERM */
#define QUERY_TIMEOUT_S 10     /* for one query's reply */
#define RUN_DEFAULT_TIMEOUT_S 120
#define REDIS_START_TRIES 5 /* a free port may be taken before redis binds it */

/* ---- paths ---- */

const char *h_src(void)
{
	static char cwd[PATH_MAX];
	const char *e = getenv("TWPOOL_TEST_SRC");
	if (e && *e)
		return e;
	if (!cwd[0] && !getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, ".");
	return cwd;
}

const char *h_build(void)
{
	static char dir[PATH_MAX];
	const char *e = getenv("TWPOOL_TEST_BUILD");
	if (e && *e)
		return e;
	snprintf(dir, sizeof(dir), "%s/build", h_src());
	return dir;
}

const char *h_preload(void)
{
	static char lib[PATH_MAX];
	const char *e = getenv("TWPOOL_TEST_PRELOAD");
	if (!e || !*e)
		e = getenv("TWPOOL_TEST_LIB");
	if (e && *e)
		return e;
	snprintf(lib, sizeof(lib), "%s/libtwpool.so", h_build());
	return lib;
}

/* ---- temp files ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	if (dir[0] && !getenv("TWPOOL_TEST_KEEP"))
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char tmp_dir[PATH_MAX];
static pid_t tmp_owner;

static void tmp_cleanup(void)
{
	if (tmp_owner == getpid())
		rm_tree(tmp_dir);
}

static void make_temp_dir(char *buf, size_t size, const char *what)
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, size, "%s/twpool-%s.XXXXXX", base && *base ? base : "/tmp", what);
	if (!mkdtemp(buf))
		cr_assert_fail("mkdtemp %s: %s", buf, strerror(errno));
}

char *h_fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, f);
	int n = vasprintf(&s, f, ap);
	va_end(ap);
	if (n < 0)
		cr_assert_fail("vasprintf: out of memory");
	return s;
}

char *h_tmp(const char *name)
{
	if (tmp_owner != getpid()) { /* first use in this (forked) process */
		static int registered;
		make_temp_dir(tmp_dir, sizeof(tmp_dir), "test");
		tmp_owner = getpid();
		if (!registered++)
			atexit(tmp_cleanup);
	}
	char *path;
	if (asprintf(&path, "%s/%s", tmp_dir, name ? name : "") < 0)
		cr_assert_fail("asprintf: out of memory");
	return path;
}

char *h_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (cap - len < 4096) {
			char *p = realloc(buf, cap = cap * 2 + 4096);
			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

long h_log_lines(const char *path, const char *prefix)
{
	char *log = h_slurp(path), *save = NULL;
	long n = 0;
	for (char *line = log ? strtok_r(log, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		n += !strncmp(line, prefix, strlen(prefix));
	free(log);
	return n;
}

/* ---- child processes ---- */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static int name_is(const char *var, const char *assignment)
{
	size_t n = strcspn(assignment, "=");
	return strncmp(var, assignment, n) == 0 && var[n] == '=';
}

static int inherited(const char *var, char *const extra[])
{
	if (!strncmp(var, "LD_PRELOAD=", 11))
		return 0;
	if (!strncmp(var, "TWPOOL_", 7)) /* the shim's settings come from extra only */
		return 0;
	for (size_t i = 0; extra && extra[i]; i++)
		if (name_is(var, extra[i]))
			return 0;
	return 1;
}

/* The child's environment; *ld is the LD_PRELOAD string to free later. */
static char **child_env(char *const extra[], int preload, char **ld)
{
	size_t n = 0, k = 0, ne = 0;
	while (environ[n])
		n++;
	while (extra && extra[ne])
		ne++;
	char **env = calloc(n + ne + 2, sizeof(*env));
	cr_assert_not_null(env, "calloc for a child environment");
	for (size_t i = 0; i < n; i++)
		if (inherited(environ[i], extra))
			env[k++] = environ[i];
	int extra_ld = 0;
	for (size_t i = 0; i < ne; i++) {
		env[k++] = extra[i];
		extra_ld |= name_is("LD_PRELOAD", extra[i]);
	}
	*ld = NULL;
	if (preload && !extra_ld && asprintf(ld, "LD_PRELOAD=%s", h_preload()) >= 0)
		env[k++] = *ld;
	return env;
}

/* In the child after fork: never returns. */
static void exec_child(char *const argv[], char **env, int out_fd, int err_fd)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphans if the test dies */
	int null = open("/dev/null", O_RDONLY);
	dup2(null, 0);
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	closefrom(3); /* Criterion's own pipes must not leak into servers */
	signal(SIGPIPE, SIG_DFL);
	execvpe(argv[0], argv, env);
	dprintf(2, "h_run: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static pid_t spawn(char *const argv[], char **env, int out_fd, int err_fd)
{
	pid_t pid = fork();
	if (pid < 0)
		cr_assert_fail("fork: %s", strerror(errno));
	if (pid == 0)
		exec_child(argv, env, out_fd, err_fd);
	setpgid(pid, pid); /* also here, so kill(-pid) works at once */
	return pid;
}

struct buf {
	char *p;
	size_t len, cap;
	int fd; /* -1 at EOF */
};

static void buf_read(struct buf *b)
{
	if (b->cap - b->len < 65536) {
		b->cap = b->cap * 2 + 65536;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p, "realloc for a child's output");
	}
	ssize_t n = read(b->fd, b->p + b->len, b->cap - b->len - 1);
	if (n > 0)
		b->len += (size_t)n;
	else if (n == 0 || errno != EINTR) {
		close(b->fd);
		b->fd = -1;
	}
}

/* Reads both pipes to EOF; kills the group at the deadline (and stops
 * reading 2 s later whatever holds the pipes). Returns 1 if it killed. */
static int drain(pid_t pid, struct buf *bs, long deadline)
{
	int killed = 0;
	while (bs[0].fd >= 0 || bs[1].fd >= 0) {
		long left = deadline - now_ms();
		if (left <= 0 && killed)
			break;
		if (left <= 0) {
			kill(-pid, SIGKILL);
			killed = 1;
			deadline = now_ms() + 2000;
			continue;
		}
		struct pollfd pf[2] = { { bs[0].fd, POLLIN, 0 }, { bs[1].fd, POLLIN, 0 } };
		int n = poll(pf, 2, (int)(left < 1000 ? left : 1000));
		for (int i = 0; i < 2 && n > 0; i++)
			if (pf[i].revents)
				buf_read(&bs[i]);
	}
	for (int i = 0; i < 2; i++)
		if (bs[i].fd >= 0)
			close(bs[i].fd);
	return killed;
}

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void h_run(struct h_run *r, char *const argv[], char *const env_extra[], int preload, int timeout_s)
{
	int out[2], err[2];
	memset(r, 0, sizeof(*r));
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		cr_assert_fail("pipe2: %s", strerror(errno));
	char *ld;
	char **env = child_env(env_extra, preload, &ld);
	pid_t pid = spawn(argv, env, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	free(env);
	free(ld);
	struct buf bs[2] = { { .fd = out[0] }, { .fd = err[0] } };
	long limit = (timeout_s > 0 ? timeout_s : RUN_DEFAULT_TIMEOUT_S) * 1000L;
	r->timed_out = drain(pid, bs, now_ms() + limit);
	r->status = wait_status(pid);
	kill(-pid, SIGKILL); /* whatever the child left behind in its group */
	r->out = bs[0].p ? bs[0].p : calloc(1, 1);
	r->err = bs[1].p ? bs[1].p : calloc(1, 1);
	r->out[bs[0].len] = '\0';
	r->err[bs[1].len] = '\0';
}

char *h_run_out(char *const argv[], int port, const char *protocol, int timeout_s)
{
	char *env[] = { h_fmt("TWPOOL_TARGETS=127.0.0.1:%d%s%s", port, protocol && *protocol ? "/" : "",
			      protocol ? protocol : ""),
			NULL };
	const char *how = protocol ? protocol : "without the shim";
	struct h_run r;
	h_run(&r, argv, protocol ? env : NULL, protocol != NULL, timeout_s);
	cr_assert_not(r.timed_out, "%s %s hung (%s); err:\n%s", argv[0], argv[1] ? argv[1] : "", how,
		      r.err);
	cr_assert_eq(r.status, 0, "%s %s failed (%s); out:\n%.2000s\nerr:\n%.2000s", argv[0],
		     argv[1] ? argv[1] : "", how, r.out, r.err);
	free(r.err);
	return r.out;
}

void h_run_free(struct h_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* ---- servers ---- */

/* Quotes s for sh inside single quotes. */
static char *sh_quote(const char *s)
{
	char *q = malloc(strlen(s) * 4 + 3), *p = q;
	cr_assert_not_null(q, "malloc");
	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/* Servers started by this process and not stopped yet, kept by value: at
 * exit they are stopped and their dirs removed, even if a test forgot to. */
#define MAX_LIVE 32
static struct h_server live[MAX_LIVE];
static pid_t live_owner;

static void stop_leftovers(void)
{
	for (int i = 0; i < MAX_LIVE && live_owner == getpid(); i++) {
		struct h_server s = live[i];
		live[i].pid = 0;
		if (s.pid > 0)
			h_server_stop(&s);
	}
}

static void live_add(const struct h_server *s)
{
	if (live_owner != getpid()) { /* first server in this (forked) process */
		static int registered;
		memset(live, 0, sizeof(live));
		live_owner = getpid();
		if (!registered++)
			atexit(stop_leftovers);
	}
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i].pid <= 0) {
			live[i] = *s;
			return;
		}
	}
}

static void live_del(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE && live_owner == getpid(); i++)
		if (live[i].pid == pid)
			live[i].pid = 0;
}

/* Starts "sh -c 'exec CMD'" with stdout to out_fd (or the log) and stderr to
 * s->dir/<log>. The sh execs, so s->pid is the server itself. */
static void server_spawn(struct h_server *s, const char *cmd, int out_fd, const char *log)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", s->dir, log);
	int log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		cr_assert_fail("open %s: %s", path, strerror(errno));
	char *script;
	if (asprintf(&script, "exec %s", cmd) < 0)
		cr_assert_fail("asprintf: out of memory");
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	char *ld;
	char **env = child_env(NULL, 0, &ld);
	s->pid = spawn(argv, env, out_fd >= 0 ? out_fd : log_fd, log_fd);
	s->own_conns = 0;
	live_add(s);
	free(env);
	free(script);
	close(log_fd);
}

/* The end of a server's log file, for failure messages. */
struct tail {
	char text[1024];
};

static struct tail log_tail(const struct h_server *s, const char *log)
{
	struct tail t;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", s->dir, log);
	char *text = h_slurp(path);
	size_t n = text ? strlen(text) : 0, keep = sizeof(t.text) - 1;
	snprintf(t.text, sizeof(t.text), "%s", text ? text + (n > keep ? n - keep : 0) : "");
	free(text);
	return t;
}

/* 1 if the server has exited (it is reaped and s->pid cleared). */
static int server_exited(struct h_server *s)
{
	int st;
	if (waitpid(s->pid, &st, WNOHANG) != s->pid)
		return 0;
	live_del(s->pid);
	s->pid = 0;
	return 1;
}

void h_server_stop(struct h_server *s)
{
	live_del(s->pid);
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		long deadline = now_ms() + STOP_TIMEOUT_MS;
		while (!server_exited(s) && now_ms() < deadline)
			usleep(10000);
		if (s->pid > 0) {
			kill(-s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
		s->pid = 0;
	}
	rm_tree(s->dir);
	s->dir[0] = '\0';
}

/* Connects to the server on 127.0.0.1, or returns -1 with errno. */
static int server_connect(struct h_server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	s->own_conns++;
	struct timeval tv = { QUERY_TIMEOUT_S, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Sends req (which ends with a QUIT) and reads until the server closes, so
 * the TIME_WAIT lands on the server's side. Returns the malloc'd reply, or
 * NULL with errno. */
static char *server_query(struct h_server *s, const char *req)
{
	int fd = server_connect(s);
	if (fd < 0)
		return NULL;
	struct buf b = { .fd = fd };
	size_t len = strlen(req);
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return NULL;
	}
	while (b.fd >= 0)
		buf_read(&b);
	if (!b.p)
		b.p = calloc(1, 1);
	b.p[b.len] = '\0';
	return b.p;
}

#define TCP_ESTABLISHED_ST 0x01 /* states as in /proc/net/tcp */
#define TCP_TIME_WAIT_ST 0x06
#define TCP_LISTEN_ST 0x0A

static int port_in_any_socket(int port);

/* Claims port for this test process among all the run's test processes,
 * which run in parallel: two of them given the same free port by the kernel
 * before either server bound it would share one server, and each would count
 * the other's connections and TIME_WAIT sockets. scripts/run-tests names the
 * run's claim directory; a run without one (a test run by hand) claims
 * nothing. 1: claimed or no directory; 0: another test has it. */
static int port_claim(int port)
{
	const char *dir = getenv("TWPOOL_TEST_PORTS");
	if (!dir || !*dir)
		return 1;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%d", dir, port);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno != EEXIST)
		cr_assert_fail("claiming port %d in %s: %s", port, dir, strerror(errno));
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* A port no socket mentions, local or remote (an earlier test's TIME_WAIT
 * sockets towards a recycled port would count against the next test), and
 * that no other test of the run was given. */
int h_free_port(void)
{
	for (int tries = 0; tries < 100; tries++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof(a);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
			cr_assert_fail("finding a free port: %s", strerror(errno));
		close(fd);
		int port = ntohs(a.sin_port);
		if (!port_in_any_socket(port) && port_claim(port))
			return port;
	}
	cr_assert_fail("no port free of old sockets after 100 tries");
	return -1;
}

/* Whether the socket listening on s->port is one of s->pid's own: a server
 * that could not bind its port may still be running when a query to that
 * port is answered by whatever else listens there. */
static int listener_is_own(const struct h_server *s)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned long inode = 0;
	for (int i = 0; i < 2 && !inode; i++) {
		FILE *f = fopen(files[i], "r");
		if (!f)
			continue;
		char line[512];
		unsigned lport, st;
		unsigned long ino;
		while (!inode && fgets(line, sizeof(line), f))
			if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
				   &lport, &st, &ino) == 3 &&
			    lport == (unsigned)s->port && st == TCP_LISTEN_ST)
				inode = ino;
		fclose(f);
	}
	if (!inode)
		return 0;
	char want[64], dir[64];
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)s->pid);
	DIR *d = opendir(dir);
	int own = 0;
	for (struct dirent *e; d && !own && (e = readdir(d));) {
		char link[PATH_MAX], got[128];
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(link, got, sizeof(got) - 1);
		own = n > 0 && (got[n] = '\0', !strcmp(got, want));
	}
	if (d)
		closedir(d);
	return own;
}

/* Sends query until the reply starts with want. 0: up; -1: the server
 * exited or stayed silent; -2: what answered on its port is not the server
 * (it could not bind it). */
static int server_wait(struct h_server *s, const char *query, const char *want)
{
	long deadline = now_ms() + START_TIMEOUT_MS;
	while (now_ms() < deadline) {
		if (server_exited(s))
			return -1;
		char *r = server_query(s, query);
		int up = r && !strncmp(r, want, strlen(want));
		free(r);
		if (up)
			return listener_is_own(s) ? 0 : -2;
		usleep(20000);
	}
	return -1;
}

void h_redis_start(struct h_server *s, const char *extra_args)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->kind, "redis");
	for (int try = 1; try <= REDIS_START_TRIES; try++) {
		make_temp_dir(s->dir, sizeof(s->dir), "redis");
		s->port = h_free_port();
		char *dir = sh_quote(s->dir), *cmd;
		if (asprintf(&cmd,
			     "redis-server --port %d --bind 127.0.0.1 --save '' "
			     "--appendonly no --daemonize no --dir %s --logfile %s/redis.log %s",
			     s->port, dir, dir, extra_args ? extra_args : "") < 0)
			cr_assert_fail("asprintf: out of memory");
		server_spawn(s, cmd, -1, "stderr.log");
		free(cmd);
		free(dir);
		int up = server_wait(s, "PING\r\nQUIT\r\n", "+PONG");
		if (up == 0)
			return;
		struct tail out = log_tail(s, "stderr.log"), log = log_tail(s, "redis.log");
		int port_taken = up == -2 || strstr(log.text, "Address already in use") != NULL;
		h_server_stop(s);
		if (!port_taken || try == REDIS_START_TRIES)
			cr_assert_fail("redis-server did not start on port %d (is it installed? "
				       "scripts/deps test installs it). Its output:\n%s%s",
				       s->port, out.text, log.text);
	}
}

/* nginx answers its status page once it listens (it writes no line). */
static int nginx_wait(struct h_server *s)
{
	long deadline = now_ms() + START_TIMEOUT_MS;
	while (now_ms() < deadline) {
		if (server_exited(s))
			return -1;
		if (h_nginx_accepted(s) >= 0)
			return listener_is_own(s) ? 0 : -1;
		usleep(20000);
	}
	return -1;
}

/* mariadb-install-db's bootstrap now and then fails under load ("Unknown
 * table 'mysql.tmp_proxies_priv'", seen with several installs running side
 * by side): it is tried again in an empty directory. */
#define MARIADB_INSTALL_TRIES 3

static void mariadb_install(struct h_server *s)
{
	char *data = h_fmt("%s/data", s->dir);
	char *argv[] = { "mariadb-install-db", "--no-defaults", "--user=root",
			 h_fmt("--datadir=%s", data), "--auth-root-authentication-method=socket",
			 "--skip-test-db", NULL };
	for (int try = 1;; try++) {
		struct h_run r;
		h_run(&r, argv, NULL, 0, 120);
		int ok = r.status == 0;
		if (!ok && try == MARIADB_INSTALL_TRIES)
			cr_assert_fail("mariadb-install-db failed %d times (is mariadb-server installed? "
				       "scripts/deps test installs it): %s%s", try, r.out, r.err);
		h_run_free(&r);
		if (ok)
			return;
		rm_tree(data);
	}
}

/* Lets the server answer its socket; the query counts as the harness's. */
static int mariadb_wait(struct h_server *s)
{
	for (long deadline = now_ms() + 30000; now_ms() < deadline; usleep(100000)) {
		char *argv[] = { "mariadb", "--no-defaults", "-S", h_fmt("%s/mysql.sock", s->dir),
				 "-uroot", "-e", "SELECT 1", NULL };
		struct h_run r;
		if (waitpid(s->pid, NULL, WNOHANG) != 0)
			return -1;
		h_run(&r, argv, NULL, 0, 10);
		int ok = r.status == 0;
		h_run_free(&r);
		s->own_conns++;
		if (ok)
			return 0;
	}
	return -1;
}

/* A self-signed certificate for 127.0.0.1 in s->dir/cert.pem (its own CA)
 * and its key; the mariadbd options that serve it. */
static char *mariadb_tls_options(struct h_server *s)
{
	char *cert = h_fmt("%s/cert.pem", s->dir), *key = h_fmt("%s/key.pem", s->dir);
	char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
			 "/CN=twpool-test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
			 key, "-out", cert, NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 60);
	if (r.status != 0)
		cr_assert_fail("openssl req failed (scripts/deps test installs openssl): %s", r.err);
	h_run_free(&r);
	char *q = sh_quote(cert), *k = sh_quote(key), *opts = h_fmt("--ssl-cert=%s --ssl-key=%s", q, k);
	free(q);
	free(k);
	free(cert);
	free(key);
	return opts;
}

static void mariadb_start(struct h_server *s, int tls)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->kind, "mariadb");
	make_temp_dir(s->dir, sizeof(s->dir), "mariadb");
	mariadb_install(s);
	s->port = h_free_port();
	char *dir = sh_quote(s->dir), *cmd, *ssl = tls ? mariadb_tls_options(s) : strdup("");
	if (asprintf(&cmd,
		     "mariadbd --no-defaults --user=root --datadir=%s/data --port=%d "
		     "--bind-address=127.0.0.1 --socket=%s/mysql.sock --pid-file=%s/mysql.pid "
		     "--skip-log-bin --skip-name-resolve --innodb-buffer-pool-size=16M "
		     "--max-connections=500 %s",
		     dir, s->port, dir, dir, ssl) < 0)
		cr_assert_fail("asprintf: out of memory");
	server_spawn(s, cmd, -1, "mariadbd.log");
	free(cmd);
	free(dir);
	free(ssl);
	if (mariadb_wait(s) < 0) {
		struct tail log = log_tail(s, "mariadbd.log");
		h_server_stop(s);
		cr_assert_fail("mariadbd did not start. Its log:\n%s", log.text);
	}
}

void h_mariadb_start(struct h_server *s)
{
	mariadb_start(s, 0);
}

void h_mariadb_start_tls(struct h_server *s)
{
	mariadb_start(s, 1);
}

char *h_mariadb_sql(struct h_server *s, const char *sql)
{
	char *argv[] = { "mariadb", "--no-defaults", "-S", h_fmt("%s/mysql.sock", s->dir), "-uroot",
			 "-N", "-B", "-e", (char *)sql, NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 60);
	s->own_conns++;
	if (r.status != 0)
		cr_assert_fail("mariadb: %s failed: %s", sql, r.err);
	char *out = r.out;
	r.out = NULL;
	h_run_free(&r);
	return out;
}

void h_mariadb_test_users(struct h_server *s)
{
	free(h_mariadb_sql(s, "CREATE DATABASE d1; CREATE DATABASE d2;"
			      " CREATE USER u1@'%' IDENTIFIED BY 'p1'; CREATE USER u2@'%' IDENTIFIED BY 'p2';"
			      " GRANT ALL ON d1.* TO u1@'%'; GRANT ALL ON d2.* TO u1@'%';"
			      " GRANT ALL ON d2.* TO u2@'%'; INSTALL SONAME 'auth_ed25519';"
			      " CREATE USER u3@'%' IDENTIFIED VIA ed25519 USING PASSWORD('p3');"
			      " GRANT ALL ON d1.* TO u3@'%'; GRANT ALL ON d2.* TO u3@'%';"));
}

long h_mariadb_status(struct h_server *s, const char *name)
{
	char *out = h_mariadb_sql(s, h_fmt("SHOW GLOBAL STATUS LIKE '%s'", name));
	char *tab = strchr(out, '\t');
	long v = tab ? strtol(tab + 1, NULL, 10) : -1;
	free(out);
	if (v >= 0 && !strcmp(name, "Connections"))
		v -= s->own_conns;
	return v;
}

void h_nginx_start(struct h_server *s, const char *server_body)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->kind, "nginx");
	make_temp_dir(s->dir, sizeof(s->dir), "nginx");
	s->port = h_free_port();
	h_write_file(h_fmt("%s/nginx.conf", s->dir), h_fmt(
		"daemon off; master_process off; worker_processes 1;\n"
		"pid %1$s/nginx.pid; error_log %1$s/error.log;\n"
		"events { worker_connections 1024; }\n"
		"http { access_log off; keepalive_requests 1000000;\n"
		"  client_body_temp_path %1$s/t; proxy_temp_path %1$s/t; fastcgi_temp_path %1$s/t;\n"
		"  uwsgi_temp_path %1$s/t; scgi_temp_path %1$s/t;\n"
		"  server { listen 127.0.0.1:%2$d; root %1$s/www;\n"
		"    location = /twpool-status { stub_status; }\n"
		"    %3$s } }\n", s->dir, s->port, server_body ? server_body : ""));
	if (mkdir(h_fmt("%s/www", s->dir), 0755) < 0)
		cr_assert_fail("mkdir %s/www: %s", s->dir, strerror(errno));
	char *dir = sh_quote(s->dir);
	server_spawn(s, h_fmt("nginx -p %1$s -e %1$s/error.log -c %1$s/nginx.conf", dir), -1,
		     "stderr.log");
	free(dir);
	if (nginx_wait(s) < 0) {
		struct tail out = log_tail(s, "stderr.log"), log = log_tail(s, "error.log");
		h_server_stop(s);
		cr_assert_fail("nginx did not start (scripts/deps test installs nginx-light):\n%s%s",
			       out.text, log.text);
	}
}

long h_nginx_accepted(struct h_server *s)
{
	char *r = server_query(s, "GET /twpool-status HTTP/1.0\r\n\r\n");
	char *p = r ? strstr(r, "requests\n") : NULL;
	long a = -1;
	if (p && sscanf(p + 9, "%ld", &a) == 1)
		a -= s->own_conns;
	free(r);
	return a;
}

void h_port_server_start(struct h_server *s, const char *kind, const char *cmd)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->kind, sizeof(s->kind), "%s", kind);
	make_temp_dir(s->dir, sizeof(s->dir), kind);
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		cr_assert_fail("pipe2: %s", strerror(errno));
	server_spawn(s, cmd, out[1], "stderr.log");
	close(out[1]);
	struct buf b = { .fd = out[0] };
	long deadline = now_ms() + START_TIMEOUT_MS;
	while (b.fd >= 0 && !(b.p && memchr(b.p, '\n', b.len)) && now_ms() < deadline) {
		struct pollfd pf = { b.fd, POLLIN, 0 };
		if (poll(&pf, 1, 100) > 0)
			buf_read(&b);
	}
	if (b.fd >= 0)
		close(b.fd); /* the server prints nothing more; it ignores SIGPIPE */
	if (b.p)
		b.p[b.len] = '\0';
	if (!b.p || sscanf(b.p, "port %d", &s->port) != 1) {
		struct tail err = log_tail(s, "stderr.log");
		h_server_stop(s);
		cr_assert_fail("%s did not print its port. Its stderr:\n%s", cmd, err.text);
	}
	free(b.p);
}

void h_twserver_start(struct h_server *s, const char *extra_args)
{
	char path[PATH_MAX], *cmd;
	snprintf(path, sizeof(path), "%s/twpool-server", h_build());
	char *qpath = sh_quote(path);
	if (asprintf(&cmd, "%s -p %d %s", qpath, h_free_port(), extra_args ? extra_args : "") < 0)
		cr_assert_fail("asprintf: out of memory");
	free(qpath);
	h_port_server_start(s, "twpool", cmd);
	free(cmd);
}

void h_memcached_start(struct h_server *s, const char *extra_args)
{
	for (int try = 1;; try++) {
		memset(s, 0, sizeof(*s));
		strcpy(s->kind, "memcached");
		make_temp_dir(s->dir, sizeof(s->dir), "memcached");
		s->port = h_free_port();
		char *cmd;
		if (asprintf(&cmd, "memcached -l 127.0.0.1 -p %d -U 0 -u nobody %s", s->port,
			     extra_args ? extra_args : "") < 0)
			cr_assert_fail("asprintf: out of memory");
		server_spawn(s, cmd, -1, "stderr.log");
		free(cmd);
		int up = server_wait(s, "version\r\nquit\r\n", "VERSION ");
		if (up == 0)
			return;
		struct tail out = log_tail(s, "stderr.log");
		int port = s->port;
		h_server_stop(s);
		if (up == -2 && try < 3)
			continue; /* its port was taken after it was chosen */
		cr_assert_fail("memcached did not start on port %d (is it installed? scripts/deps test "
			       "installs it). Its output:\n%s",
			       port, out.text);
	}
}

/* ---- queries ---- */

/* The integer that follows key in the reply to query (-1 if key is not
 * there), less the harness's own connections when field is the server's
 * count of connections made (total) or open (current). */
static long server_stat(struct h_server *s, const char *query, const char *key, const char *field,
			const char *total, const char *current)
{
	char *r = server_query(s, query);
	if (!r)
		cr_assert_fail("%s on port %d: %s failed: %s", s->kind, s->port, query, strerror(errno));
	char *p = strstr(r, key);
	long v = p ? strtol(p + strlen(key), NULL, 10) : -1;
	free(r);
	if (p && !strcmp(field, total))
		v -= s->own_conns;
	else if (p && !strcmp(field, current))
		v -= 1; /* the query's own */
	return v;
}

long h_redis_info(struct h_server *s, const char *field)
{
	return server_stat(s, "INFO\r\nQUIT\r\n", h_fmt("\n%s:", field), field,
			   "total_connections_received", "connected_clients");
}

long h_redis_cmd_int(struct h_server *s, const char *cmd)
{
	char *req;
	if (asprintf(&req, "%s\r\nQUIT\r\n", cmd) < 0)
		cr_assert_fail("asprintf: out of memory");
	char *r = server_query(s, req);
	free(req);
	if (!r)
		cr_assert_fail("redis on port %d: %s failed: %s", s->port, cmd, strerror(errno));
	char *end;
	long v = strtol(r + (r[0] == ':'), &end, 10);
	int ok = r[0] == ':' && end > r + 1 && !strncmp(end, "\r\n", 2);
	if (!ok) {
		char got[200];
		snprintf(got, sizeof(got), "%s", r);
		free(r);
		cr_assert_fail("redis on port %d: %s: not an integer reply: %s", s->port, cmd, got);
	}
	free(r);
	return v;
}

long h_memcached_stat(struct h_server *s, const char *field)
{
	return server_stat(s, "stats\r\nquit\r\n", h_fmt("STAT %s ", field), field, "total_connections",
			   "curr_connections");
}

long h_twserver_accepted(struct h_server *s)
{
	char *r = server_query(s, "STATS\nQUIT\n");
	long accepted;
	if (!r || sscanf(r, "accepted %ld", &accepted) != 1)
		cr_assert_fail("twpool-server on port %d: STATS failed: %s", s->port,
			       r ? r : strerror(errno));
	free(r);
	return accepted - s->own_conns;
}

/* ---- parsing ---- */

int h_client_line(const char *out, long *requests, long *errors, long *crossed)
{
	const char *last = NULL;
	for (const char *p = out; p && (p = strstr(p, "requests ")); p++)
		if (p == out || p[-1] == '\n')
			last = p;
	long r, e, x;
	if (!last || sscanf(last, "requests %ld errors %ld crossed %ld", &r, &e, &x) != 3)
		return -1;
	if (requests)
		*requests = r;
	if (errors)
		*errors = e;
	if (crossed)
		*crossed = x;
	return 0;
}


static int count_state(int port, unsigned state)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int n = 0;
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "r");
		if (!f)
			continue;
		char line[512];
		unsigned rport, st;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%*x %*[0-9A-Fa-f]:%x %x", &rport,
				   &st) == 2 &&
			    rport == (unsigned)port && st == state)
				n++;
		fclose(f);
	}
	return n;
}

static int port_in_any_socket(int port)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int seen = 0;
	for (int i = 0; i < 2 && !seen; i++) {
		FILE *f = fopen(files[i], "r");
		if (!f)
			continue;
		char line[512];
		unsigned lport, rport;
		while (!seen && fgets(line, sizeof(line), f))
			seen = sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x", &lport,
				      &rport) == 2 &&
			       (lport == (unsigned)port || rport == (unsigned)port);
		fclose(f);
	}
	return seen;
}

int h_timewait(int port)
{
	return count_state(port, TCP_TIME_WAIT_ST);
}

int h_established(int port)
{
	return count_state(port, TCP_ESTABLISHED_ST);
}

double h_prom(const char *text, const char *metric, const char *label_substr)
{
	double sum = 0;
	int found = 0;
	size_t mlen = strlen(metric);
	for (const char *line = text, *eol; line && *line; line = *eol ? eol + 1 : eol) {
		eol = strchrnul(line, '\n');
		if (*line == '#' || strncmp(line, metric, mlen) || !line[mlen] ||
		    !strchr("{ \t", line[mlen]))
			continue;
		const char *labels = line + mlen, *lend = labels;
		if (*labels == '{' && !(lend = memchr(labels, '}', (size_t)(eol - labels))))
			continue;
		char block[1024];
		snprintf(block, sizeof(block), "%.*s", (int)(lend - labels), labels);
		if (label_substr && !strstr(block, label_substr))
			continue;
		sum += strtod(lend + (*lend == '}'), NULL);
		found = 1;
	}
	return found ? sum : -1;
}

void h_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}
