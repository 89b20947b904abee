/* broker.c - the shim's side of the connection broker: the only module
 * that talks to it. Every exchange is bounded: a non-blocking socket, one
 * message each way, a reply awaited TWPOOL_BROKER_WAIT_MS at most. Any
 * failure costs one log line and a direct connect, never a wait. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "clock.h"
#include "codec.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "pool.h"
#include "privfd.h"
#include "real.h"
#include "sockopt.h"

#define SUN_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* Resolved once, on first use, then read-only. */
static struct {
	char path[SUN_MAX];    /* the socket; "" when no usable place was found */
	char exec[PATH_MAX];   /* twpool-broker */
	char idle[16], max[16];
	char *argv[10];
	uint64_t netns;
	long (*sys)(long, ...); /* libc's syscall(), past the shim's hook */
} where;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic int warned, spawned;

int twp_broker_on(void)
{
	return twp_cfg.broker[0] != '\0';
}

/* One warning per process; the rest at debug level. */
#define complain(...) \
	twp_log(atomic_exchange(&warned, 1) ? TWP_LOG_DEBUG : TWP_LOG_WARN, __VA_ARGS__)

/* dir is a directory of ours that nobody else may enter, not a symlink. */
static int private_dir(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		complain("broker: %s is not a private directory of uid %u; not used", dir,
			 (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/* TWPOOL_BROKER=auto: the first usable of the three places. */
static void auto_path(void)
{
	char dir[SUN_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	unsigned uid = (unsigned)geteuid();
	struct stat st;
	if (xdg && *xdg == '/' && snprintf(dir, sizeof(dir), "%s/twpool", xdg) < (int)sizeof(dir) &&
	    private_dir(dir) == 0)
		goto found;
	snprintf(dir, sizeof(dir), "/run/user/%u", uid);
	if (stat(dir, &st) == 0 && snprintf(dir, sizeof(dir), "/run/user/%u/twpool", uid) > 0 &&
	    private_dir(dir) == 0)
		goto found;
	snprintf(dir, sizeof(dir), "/tmp/twpool-%u", uid);
	if (private_dir(dir) < 0)
		return;
found:
	if (snprintf(where.path, sizeof(where.path), "%s/broker.sock", dir) >= (int)sizeof(where.path))
		where.path[0] = '\0';
}

/* twpool-broker beside the library itself, unless TWPOOL_BROKER_EXEC. */
static void exec_path(void)
{
	Dl_info di;
	if (twp_cfg.broker_exec[0]) {
		snprintf(where.exec, sizeof(where.exec), "%s", twp_cfg.broker_exec);
		return;
	}
	if (!dladdr((void *)twp_broker_on, &di) || !di.dli_fname)
		return;
	const char *slash = strrchr(di.dli_fname, '/');
	int dirlen = slash ? (int)(slash - di.dli_fname) : 1;
	snprintf(where.exec, sizeof(where.exec), "%.*s/twpool-broker", dirlen,
		 slash ? di.dli_fname : ".");
}

static void resolve(void)
{
	struct stat st;
	if (!strcmp(twp_cfg.broker, "auto"))
		auto_path();
	else
		snprintf(where.path, sizeof(where.path), "%s", twp_cfg.broker);
	if (stat("/proc/self/ns/net", &st) == 0)
		where.netns = st.st_ino;
	exec_path();
	where.sys = TWP_NEXT(syscall);
	snprintf(where.idle, sizeof(where.idle), "%u", twp_cfg.idle_timeout_ms);
	snprintf(where.max, sizeof(where.max), "%u", twp_cfg.max_idle);
	char **a = where.argv;
	*a++ = where.exec;
	*a++ = "--socket";
	*a++ = where.path;
	*a++ = "--idle-timeout-ms";
	*a++ = where.idle;
	*a++ = "--max-idle";
	*a++ = where.max;
	*a = NULL;
}

/* The grandchild: a new session, none of the program's fds, no
 * environment (no LD_PRELOAD). Raw system calls only: the parent may have
 * had threads, locks and hooks that mean nothing here. */
static __attribute__((noreturn)) void become_broker(void)
{
	static char *const envp[] = { NULL };
	where.sys(SYS_setsid);
	if (where.sys(SYS_clone, SIGCHLD, 0, 0, 0, 0) != 0)
		where.sys(SYS_exit_group, 0);
	if (where.sys(SYS_close_range, 0, ~0u, 0) < 0)
		for (long fd = 0; fd < 65536; fd++)
			where.sys(SYS_close, fd);
	if (where.sys(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR) == 0) {
		where.sys(SYS_dup3, 0, 1, 0);
		where.sys(SYS_dup3, 0, 2, 0);
	}
	where.sys(SYS_execve, where.exec, where.argv, envp);
	where.sys(SYS_exit_group, 127);
	__builtin_unreachable();
}

/* Starts the broker, once per process, by a double fork: it is nobody's
 * child and inherits nothing. fork() is not called: the program's fork
 * handlers (and the shim's) must not see this. */
static void spawn(void)
{
	if (atomic_exchange(&spawned, 1) || !where.exec[0] || !where.sys)
		return;
	if (access(where.exec, X_OK) < 0) {
		complain("broker: cannot run %s: %s", where.exec, strerror(errno));
		return;
	}
	long pid = where.sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		become_broker();
	while (pid > 0 && waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
		;
	twp_log(TWP_LOG_INFO, "broker: started %s for %s", where.exec, where.path);
}

/* The broker's uid must be ours: another user's broker may listen there. */
static int peer_is_us(int b)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	if (twp_real.getsockopt(b, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return 0;
	if (cr.uid == geteuid())
		return 1;
	complain("broker: %s is served by uid %u, not %u; not used", where.path,
		 (unsigned)cr.uid, (unsigned)geteuid());
	return 0;
}

/* A connected socket to our own broker, or -1 (started if absent). */
static int open_broker(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	pthread_once(&once, resolve);
	if (!where.path[0])
		return -1;
	memcpy(a.sun_path, where.path, sizeof(a.sun_path));
	int b = twp_real.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b < 0)
		return -1;
	if (twp_real.connect(b, (struct sockaddr *)&a, sizeof(a)) == 0 && peer_is_us(b))
		return b;
	int e = errno;
	twp_real.close(b);
	if (e == ENOENT || e == ECONNREFUSED)
		spawn();
	else if (e)
		complain("broker: cannot reach %s: %s", where.path, strerror(e));
	return -1;
}

static int send_msg(int b, const struct twp_bmsg *m, int fd)
{
	return twp_bmsg_send(twp_real.sendmsg, b, m, fd);
}

/* The broker's answer to a GET, within TWPOOL_BROKER_WAIT_MS: 0 with *fd
 * (-1 for none), or -1 (none in time, LATE included). */
static int recv_reply(int b, struct twp_bmsg *m, int *fd)
{
	struct pollfd p = { .fd = b, .events = POLLIN };
	int whole = 0;
	*fd = -1;
	if (TWP_NEXT(poll)(&p, 1, TWPOOL_BROKER_WAIT_MS) == 1 &&
	    twp_bmsg_recv(twp_real.recvmsg, b, m, fd, &whole) > 0 && whole &&
	    (m->op == TWP_BOP_NONE || (m->op == TWP_BOP_FD && *fd >= 0)))
		return 0;
	if (*fd >= 0)
		twp_real.close(*fd);
	*fd = -1;
	return -1;
}

static void fill(struct twp_bmsg *m, enum twp_bop op, const struct twp_key *k, int family)
{
	memset(m, 0, sizeof(*m));
	m->magic = TWP_BMSG_MAGIC;
	m->op = (uint16_t)op;
	m->family = (uint16_t)family;
	m->netns = where.netns;
	m->key = *k;
}

/* Options this process set are put back first: the next user is another
 * program, which the shim will know nothing of. */
static int give(int b, struct twp_conn *c)
{
	struct twp_bmsg m;
	struct twp_opts *opts = c->opts;
	/* A reset's reply still on its way would reach the next program as
	 * the reply to its own first request: it is read here first (it has
	 * usually come already), or the connection stays here. */
	if (c->reset_pending && twp_conn_consume_reset(c, c->fd) != TWP_R_NONE)
		return -1;
	/* A MySQL connection's greeting stays with this process: it is not
	 * lent (mysql_login.h). */
	if (c->myl)
		return -1;
	c->opts = NULL;
	if (opts && twp_sockopt_restore(c->fd, opts) < 0)
		return -1;
	fill(&m, TWP_BOP_PUT, &c->target->key, c->family);
	m.proto = twp_bproto(c->codec ? c->codec->name : NULL);
	m.uses = c->uses;
	m.born_ms = c->born_ms;
	m.expires_ms = c->expires_ms;
	return send_msg(b, &m, c->fd);
}

/* For a give: a broker this process has just started gets a moment to
 * come up, once (a few ms, at most TWPOOL_BROKER_WAIT_MS). */
static int open_broker_for_give(void)
{
	static _Atomic int waited;
	int b = open_broker();
	if (b >= 0 || !atomic_load(&spawned) || atomic_exchange(&waited, 1))
		return b;
	for (int i = 0; b < 0 && i < TWPOOL_BROKER_WAIT_MS / 5; i++) {
		usleep(5000);
		b = open_broker();
	}
	return b;
}

void twp_broker_give_list(struct twp_conn *list, enum twp_reason why)
{
	int saved = errno;
	int b = list && twp_broker_on() ? open_broker_for_give() : -1;
	while (list) {
		struct twp_conn *c = list;
		list = c->next;
		if (b >= 0 && c->fd >= 0 && give(b, c) == 0) {
			twp_debug("broker: gave %s (use %u)", c->target->label, c->uses);
			twp_privfd_close(c); /* moved: the broker's alone now */
			twp_conn_free(c);
		} else {
			twp_conn_discard(c, why);
		}
	}
	if (b >= 0)
		twp_real.close(b);
	errno = saved;
}

void twp_broker_give_all(void)
{
	struct twp_conn *all = NULL;
	if (!twp_broker_on())
		return;
	twp_pool_lock();
	twp_pool_drain(&all); /* after the last stats write: it zeroes counters */
	twp_pool_unlock();
	twp_broker_give_list(all, TWP_R_NONE);
}

/* fd, received from the broker, as a connection under a private fd. */
static struct twp_conn *adopt(struct twp_target *t, const struct twp_codec *codec,
			      const struct sockaddr *sa, socklen_t len, const struct twp_bmsg *m, int fd)
{
	struct twp_conn *c = twp_conn_new(t, codec, sa, len);
	int fl = twp_real.fcntl(fd, F_GETFL);
	if (c && fl >= 0 && twp_privfd_move(fd, c, 1) == TWP_R_NONE) {
		twp_real.close(fd);
		c->nonblock = !!(fl & O_NONBLOCK);
		c->uses = m->uses;
		c->born_ms = m->born_ms;
		c->expires_ms = m->expires_ms;
		return c;
	}
	complain("broker: no fd left for a connection to %s; closed", t->label);
	twp_real.close(fd);
	if (c)
		twp_conn_free(c);
	return NULL;
}

struct twp_conn *twp_broker_take(struct twp_target *t, const struct twp_codec *codec,
				  const struct sockaddr *sa, socklen_t len)
{
	struct twp_bmsg m;
	struct twp_conn *c = NULL;
	int saved = errno, fd = -1, b = twp_broker_on() ? open_broker() : -1;
	if (b < 0)
		return NULL;
	fill(&m, TWP_BOP_GET, &t->key, sa->sa_family);
	m.proto = twp_bproto(codec ? codec->name : NULL);
	/* Less than the wait: the coarse clock's tick, the reply's way back. */
	m.expires_ms = twp_now_ms() + TWPOOL_BROKER_WAIT_MS - 8;
	if (send_msg(b, &m, -1) < 0 || recv_reply(b, &m, &fd) < 0)
		complain("broker: no answer from %s in %d ms; connecting directly", where.path,
			 TWPOOL_BROKER_WAIT_MS);
	else if (fd >= 0)
		c = adopt(t, codec, sa, len, &m, fd);
	twp_real.close(b);
	if (c)
		twp_debug("broker: took %s (use %u)", t->label, c->uses);
	errno = saved;
	return c;
}
