/* broker.c - twpool-broker: holds clean idle connections between
 * short-lived programs of one user, in one network namespace.
 *
 * One thread, one epoll set: the listening socket, the clients (each
 * short: one GET, or a few PUTs at a program's exit), the held fds. Never
 * blocks on a client: every socket is non-blocking, every message one
 * fixed-size twp_bmsg, a reply that does not fit at once drops the client.
 * Serves only its own uid (SO_PEERCRED) and namespace (twp_bmsg.netns). A
 * lock file beside the socket makes it one per path: a second one exits,
 * and a stale socket file is replaced only by the lock's holder. Under
 * systemd socket activation (LISTEN_FDS) the socket is systemd's: used as
 * given, never renamed or removed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "broker_int.h"

/* A client that has not finished its exchange in this time is dropped. */
#define CLIENT_MAX_MS 2000
/* Fds kept out of the held budget: listener, clients, the spare. */
#define FD_RESERVE 64

int tb_epoll = -1;
unsigned tb_max_idle = TWPOOL_DEFAULT_MAX_IDLE;
unsigned tb_idle_timeout_ms = TWPOOL_DEFAULT_IDLE_TIMEOUT_MS;
int tb_verbose;

static const char *sock_path;
static unsigned linger_s = 30;
static int lfd = -1, spare = -1;
static int activated; /* lfd came from systemd (LISTEN_FDS) */
static uint64_t netns;
static uint64_t *client_since; /* by fd; 0: not a client */
static int fd_cap, nclients;
static volatile sig_atomic_t stop;

void tb_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "twpool-broker[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	if (write(2, line, strlen(line)) < 0)
		return;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void drop_client(int fd)
{
	epoll_ctl(tb_epoll, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	client_since[fd] = 0;
	nclients--;
}

/* One message from client c, with at most one fd (*fd, else -1). 1: got
 * one; 0: nothing more now; -1: the client is gone or broke the protocol. */
static int recv_msg(int c, struct twp_bmsg *m, int *fd)
{
	int whole;
	ssize_t n = twp_bmsg_recv(recvmsg, c, m, fd, &whole);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	if (n > 0 && whole)
		return 1;
	if (n > 0)
		tb_log("a client sent a malformed message, or one whose fd found no room here; dropped");
	if (*fd >= 0)
		close(*fd);
	return -1;
}

/* Answers a GET: the connection moves to the client, or stays held if
 * the reply cannot be sent at once. */
static int answer(int c, const struct twp_bmsg *q)
{
	struct twp_bmsg r;
	int late = q->expires_ms && now_ms() > q->expires_ms;
	int fd = q->netns == netns && !late ? tb_get(q, &r) : -1;
	if (fd < 0) {
		memset(&r, 0, sizeof(r));
		r.magic = TWP_BMSG_MAGIC;
	}
	r.op = fd >= 0 ? TWP_BOP_FD : late ? TWP_BOP_LATE : TWP_BOP_NONE;
	if (twp_bmsg_send(sendmsg, c, &r, fd) < 0)
		return -1;
	if (fd >= 0)
		tb_evict(fd, "lent");
	return 0;
}

/* One request of a client. 0, or -1 to drop it. */
static int handle(int c, const struct twp_bmsg *m, int fd)
{
	if (m->netns != netns) {
		tb_log("a client of another network namespace; its connections are not taken");
		if (fd >= 0)
			close(fd);
		return m->op == TWP_BOP_GET ? answer(c, m) : 0;
	}
	if (m->op == TWP_BOP_PUT && fd >= 0) {
		tb_put(fd, m, now_ms());
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (m->op == TWP_BOP_GET)
		return answer(c, m);
	tb_log("a client sent op %u%s; dropped", m->op, m->op == TWP_BOP_PUT ? " without an fd" : "");
	return -1;
}

static void serve(int c)
{
	struct twp_bmsg m;
	int fd, r;
	while ((r = recv_msg(c, &m, &fd)) > 0)
		if (handle(c, &m, fd) < 0) {
			r = -1;
			break;
		}
	if (r < 0)
		drop_client(c);
}

/* Our uid only; any other client is dropped with a line naming it. */
static int admit(int c)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.uid != geteuid()) {
		tb_log("refused a client of uid %d (pid %d): this broker serves uid %u only",
		       (int)cr.uid, (int)cr.pid, (unsigned)geteuid());
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = c };
	if (c >= fd_cap || epoll_ctl(tb_epoll, EPOLL_CTL_ADD, c, &ev) < 0)
		return -1;
	client_since[c] = now_ms();
	nclients++;
	return 0;
}

/* Out of fds: the spare is given up to accept and drop one client, so the
 * listener does not stay readable forever. */
static void shed(void)
{
	tb_log("out of file descriptors; a client is turned away");
	close(spare);
	int c = accept(lfd, NULL, NULL);
	if (c >= 0)
		close(c);
	spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_all(void)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE)
				shed();
			return;
		}
		if (admit(c) < 0)
			close(c);
		else
			serve(c);
	}
}

/* Clients too slow to finish their exchange. */
static void sweep_clients(uint64_t now)
{
	for (int fd = 0; fd < fd_cap; fd++)
		if (client_since[fd] && now >= client_since[fd] + CLIENT_MAX_MS)
			drop_client(fd);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The loop; returns when stopped or idle (nothing held, no client) for
 * linger_s seconds (0: never, as under a service manager). */
static void run(void)
{
	struct epoll_event evs[64];
	uint64_t idle_since = now_ms(), last_sweep = 0;
	while (!stop) {
		int n = epoll_wait(tb_epoll, evs, 64, 500);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd)
				accept_all();
			else if (fd < fd_cap && client_since[fd])
				serve(fd);
			else
				tb_evict(fd, "closed by its peer, or bytes came");
		}
		/* Read after the events: a connection or client they stamped
		 * must not look older than now (an unsigned wrap read as days). */
		uint64_t now = now_ms();
		if (now - last_sweep >= 250) {
			tb_sweep(now);
			sweep_clients(now);
			last_sweep = now;
		}
		if (tb_held() || nclients)
			idle_since = now;
		else if (linger_s && now - idle_since >= linger_s * 1000ull)
			break;
	}
}

/* The lock beside the socket: -1 when another broker holds it. */
static int take_lock(void)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	snprintf(lock, sizeof(lock), "%s.lock", sock_path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		tb_log("cannot open %s: %s", lock, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		tb_log_debug("another broker serves %s", sock_path);
		close(fd);
		return -1;
	}
	char pid[24];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		tb_log("cannot write %s", lock);
	return fd; /* held open, locked, until exit */
}

/* Binds and listens under a temporary name, then renames it over the
 * socket path (a stale file included): a client never finds the name
 * before it listens. Only the lock's holder gets here. Mode 0600: other
 * users cannot even connect. */
static int listen_on(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(sock_path) + 4 >= sizeof(a.sun_path)) {
		tb_log("socket path too long: %s", sock_path);
		return -1;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s.new", sock_path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(a.sun_path);
	mode_t old = umask(077);
	int r = lfd < 0 ? -1 : bind(lfd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || listen(lfd, 128) < 0 || rename(a.sun_path, sock_path) < 0) {
		tb_log("cannot listen on %s: %s", sock_path, strerror(errno));
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	return epoll_ctl(tb_epoll, EPOLL_CTL_ADD, lfd, &ev);
}

/* The listening socket systemd passed (LISTEN_FDS=1, fd 3), or -1 when
 * none was; one of another kind is refused, said once. */
static int inherited_listener(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int type = 0, on = 0;
	socklen_t l = sizeof(type), ol = sizeof(on);
	if (!pid || !n || atol(pid) != (long)getpid())
		return -1;
	if (strcmp(n, "1") || getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
	    type != SOCK_SEQPACKET || getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) < 0 || !on) {
		tb_log("LISTEN_FDS=%s: not one listening SOCK_SEQPACKET socket (ListenSequentialPacket=); "
		       "listening on %s myself", n, sock_path);
		return -1;
	}
	int fl = fcntl(3, F_GETFL);
	if (fl < 0 || fcntl(3, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return 3;
}

/* The socket systemd passed, or one of our own (listen_on). */
static int listen_any(void)
{
	lfd = inherited_listener();
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (lfd < 0)
		return listen_on();
	activated = 1;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	return epoll_ctl(tb_epoll, EPOLL_CTL_ADD, lfd, &ev);
}

/* As many fds as the hard limit allows: each held connection is one. */
static int fd_budget(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_max > 1u << 20)
		rl.rlim_max = 1u << 20;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (int)rl.rlim_cur;
}

static int setup(void)
{
	struct stat st;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (stat("/proc/self/ns/net", &st) == 0)
		netns = st.st_ino;
	fd_cap = fd_budget();
	client_since = calloc((size_t)fd_cap, sizeof(*client_since));
	spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	tb_epoll = epoll_create1(EPOLL_CLOEXEC);
	if (!client_since || tb_epoll < 0 || fd_cap <= 2 * FD_RESERVE ||
	    tb_hold_init(fd_cap, fd_cap - FD_RESERVE) < 0) {
		tb_log("cannot start: out of memory or file descriptors");
		return -1;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: twpool-broker --socket PATH [--max-idle N] [--idle-timeout-ms MS]\n"
			"                     [--linger SECONDS] [--verbose]\n"
			"Holds idle connections given by programs under libtwpool.so (TWPOOL_BROKER).\n"
			"--linger: exit after this long with nothing held and no client (default 30;\n"
			"0: never). Other defaults: those of TWPOOL_MAX_IDLE, TWPOOL_IDLE_TIMEOUT_MS.\n");
	return 2;
}

/* A whole decimal number up to 86400000 (a day in ms); -1 if not. */
static int number(const char *v, unsigned *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || *v == '-' || n > 86400000ul)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int options(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (!strcmp(o, "--verbose")) {
			tb_verbose = 1;
			continue;
		}
		if (!v)
			return -1;
		i++;
		if (!strcmp(o, "--socket"))
			sock_path = v;
		else if (!strcmp(o, "--max-idle"))
			bad = number(v, &tb_max_idle);
		else if (!strcmp(o, "--idle-timeout-ms"))
			bad = number(v, &tb_idle_timeout_ms);
		else if (!strcmp(o, "--linger"))
			bad = number(v, &linger_s);
		else
			bad = -1;
		if (bad)
			return -1;
	}
	return sock_path && *sock_path == '/' ? 0 : -1;
}

int tb_main(int argc, char **argv)
{
	if (options(argc, argv) < 0)
		return usage();
	if (setup() < 0)
		return 1;
	if (take_lock() < 0)
		return 0; /* one is running: nothing to do */
	if (listen_any() < 0)
		return 1;
	tb_log_debug("serving %s (uid %u%s)", sock_path, (unsigned)geteuid(),
		     activated ? ", socket from systemd" : "");
	run();
	if (!activated)
		unlink(sock_path); /* still under the lock: no successor's file */
	return 0;
}

/* The twpool-broker program; in the twpool command, `twpool broker` calls
 * tb_main instead (every C file of cmd/ is part of that command). */
#ifdef TWP_BROKER_PROGRAM
int main(int argc, char **argv)
{
	return tb_main(argc, argv);
}
#endif
