/* conn.c - checkout, handout, park and discard of pooled connections. */
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "epoll.h"
#include "fdtab.h"
#include "init.h"
#include "log.h"
#include "pool.h"
#include "real.h"
#include "replay.h"
#include "sockopt.h"
#include "stats.h"
#include "targets.h"

static void forget_private(struct twp_slot *s);

static void count(_Atomic uint64_t *ctr)
{
	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
	twp_stats_touch();
}

/* Closes c's private fd (if any) and frees it. */
static void discard(struct twp_conn *c, enum twp_reason why)
{
	int saved = errno;
	twp_debug("discard %s fd=%d reason=%s uses=%u", c->target->label, c->fd,
		  twp_reason_name(why), c->uses);
	twp_conn_drop_private(c);
	count(&c->target->discards[why]);
	free(c->opts);
	free(c->kept);
	free(c);
	errno = saved;
}

static void discard_list(struct twp_conn *list, enum twp_reason why)
{
	while (list) {
		struct twp_conn *next = list->next;
		discard(list, why);
		list = next;
	}
}

/* Nothing waiting, no EOF, no error: recv says EAGAIN. */
static int idle_clean(int fd)
{
	char b;
	int saved = errno;
	ssize_t r = twp_real.recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	int ok = r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	errno = saved;
	return ok;
}

void twp_conn_socket(int fd, int domain, int type)
{
	struct twp_slot *s = twp_slot(fd);
	if (!s || (domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
		return;
	uint32_t st = atomic_load(&s->st);
	if (st & TWP_S_PRIVATE) /* our fd was closed behind our back */
		forget_private(s);
	else if (st & TWP_S_TRACKED && s->conn)
		discard(s->conn, TWP_R_SHARED);
	twp_slot_reset(s);
	atomic_store(&s->st, TWP_S_SOCK | TWP_S_FLAGS |
		     (type & SOCK_NONBLOCK ? TWP_S_NONBLOCK : 0) |
		     (type & SOCK_CLOEXEC ? TWP_S_CLOEXEC : 0));
	twp_fdtab_note(fd);
}

/* Is fd an unbound TCP socket? For sockets the socket() hook did not see. */
static int is_plain_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(proto);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int saved = errno, ok = 0;
	if (twp_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_STREAM &&
	    twp_real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) == 0 &&
	    proto == IPPROTO_TCP && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		ok = ((struct sockaddr_in *)&ss)->sin_port == 0;
	errno = saved;
	return ok;
}

/* O_NONBLOCK and FD_CLOEXEC of fd, from the slot or from the kernel. */
static int fd_flags(int fd, uint32_t st, int *nonblock, int *cloexec)
{
	if (st & TWP_S_FLAGS) {
		*nonblock = !!(st & TWP_S_NONBLOCK);
		*cloexec = !!(st & TWP_S_CLOEXEC);
		return 0;
	}
	int fl = twp_real.fcntl(fd, F_GETFL), fdfl = twp_real.fcntl(fd, F_GETFD);
	if (fl < 0 || fdfl < 0)
		return -1;
	*nonblock = !!(fl & O_NONBLOCK);
	*cloexec = !!(fdfl & FD_CLOEXEC);
	return 0;
}

static uint32_t flag_bits(int nonblock, int cloexec)
{
	return TWP_S_FLAGS | (nonblock ? TWP_S_NONBLOCK : 0) | (cloexec ? TWP_S_CLOEXEC : 0);
}

/* Puts pooled connection c under the program's fd, with the program's fd
 * flags and options. 0, or -1 with fd untouched (the caller discards c). */
static int handout(int fd, struct twp_slot *s, struct twp_conn *c)
{
	int nonblock, cloexec;
	if (fd_flags(fd, atomic_load(&s->st), &nonblock, &cloexec) < 0 ||
	    twp_sockopt_replay(c->fd, s->opts) < 0)
		return -1;
	if (c->nonblock != nonblock &&
	    twp_real.fcntl(c->fd, F_SETFL, nonblock ? O_NONBLOCK : 0) < 0)
		return -1;
	c->nonblock = nonblock;
	if (twp_real.dup3(c->fd, fd, cloexec ? O_CLOEXEC : 0) < 0)
		return -1;
	c->opts = s->opts;
	s->opts = NULL;
	c->uses++;
	c->gen = atomic_load(&twp_spawn_gen);
	s->conn = c;
	s->why = 0;
	c->nkept = 0;
	atomic_store(&s->st, TWP_S_TRACKED | TWP_S_REUSED | flag_bits(nonblock, cloexec) |
		     (twp_cfg.replay_max ? TWP_S_ARMED : 0));
	twp_fdtab_note(fd);
	if (twp_epoll_restore(fd, s->ep) < 0)
		twp_log(TWP_LOG_WARN, "fd %d: cannot re-register in epoll: %s", fd, strerror(errno));
	return 0;
}

/* The most recently parked healthy connection to t, or NULL. */
static struct twp_conn *checkout(struct twp_target *t, int family)
{
	for (;;) {
		struct twp_conn *expired = NULL;
		struct twp_conn *c = twp_pool_take(t, family, twp_now_ms(), &expired);
		discard_list(expired, TWP_R_IDLE_TIMEOUT);
		if (!c || idle_clean(c->fd))
			return c;
		discard(c, TWP_R_STALE);
	}
}

static uint64_t lifetime_deadline(uint64_t now)
{
	unsigned life = twp_cfg.max_lifetime_ms;
	if (!life)
		return 0;
	/* Up to 10 % earlier, so connections made together do not expire together. */
	return now + life - (uint64_t)((unsigned)rand() % (life / 10 + 1));
}

static void track_fresh(int fd, struct twp_slot *s, struct twp_target *t,
			const struct sockaddr *sa, socklen_t len)
{
	int nonblock, cloexec;
	uint32_t st = atomic_load(&s->st);
	struct twp_conn *c = calloc(1, sizeof(*c));
	if (!c || fd_flags(fd, st, &nonblock, &cloexec) < 0) {
		free(c);
		twp_slot_reset(s);
		return;
	}
	uint64_t now = twp_now_ms();
	c->fd = -1;
	c->family = sa->sa_family;
	c->target = t;
	c->peerlen = len < sizeof(c->peer) ? len : sizeof(c->peer);
	memcpy(&c->peer, sa, c->peerlen);
	c->nonblock = nonblock;
	c->uses = 1;
	c->gen = atomic_load(&twp_spawn_gen);
	c->born_ms = now;
	c->expires_ms = lifetime_deadline(now);
	c->opts = s->opts;
	s->opts = NULL;
	s->conn = c;
	atomic_store(&s->st, TWP_S_TRACKED | flag_bits(nonblock, cloexec));
	twp_fdtab_note(fd);
}

int twp_conn_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct twp_slot *s = twp_slot(fd);
	struct twp_key k;
	if (!s || twp_key_from_sockaddr(&k, sa, len) < 0)
		return twp_real.connect(fd, sa, len);
	uint32_t st = atomic_load(&s->st);
	if (st & (TWP_S_TRACKED | TWP_S_PRIVATE) || !twp_targets_match(&twp_cfg, &k))
		return twp_real.connect(fd, sa, len);
	if (st & TWP_S_NOPOOL || (!(st & TWP_S_SOCK) && !is_plain_tcp(fd))) {
		twp_slot_reset(s); /* bound, odd options, or not TCP: untouched */
		return twp_real.connect(fd, sa, len);
	}
	struct twp_target *t = twp_pool_target(&k);
	if (!t)
		return twp_real.connect(fd, sa, len);
	twp_conn_tick();
	int saved = errno;
	struct twp_conn *c = checkout(t, sa->sa_family);
	if (c && handout(fd, s, c) == 0) {
		count(&t->reused);
		twp_debug("connect fd=%d %s reused (use %u)", fd, t->label, c->uses);
		if (atomic_load(&s->st) & TWP_S_NONBLOCK) {
			errno = EINPROGRESS; /* as a real non-blocking connect says */
			return -1;
		}
		errno = saved;
		return 0;
	}
	if (c)
		discard(c, TWP_R_ERROR);
	int r = twp_real.connect(fd, sa, len);
	saved = errno;
	if (r == 0 || errno == EINPROGRESS || errno == EINTR) {
		track_fresh(fd, s, t, sa, len);
		count(&t->fresh);
		twp_debug("connect fd=%d %s fresh", fd, t->label);
	}
	errno = saved;
	return r;
}

/* Nothing unsent or unacknowledged, and still ESTABLISHED. */
static enum twp_reason tcp_check(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (twp_real.getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return TWP_R_ERROR;
	if (ti.tcpi_state != 1 /* TCP_ESTABLISHED, include/net/tcp_states.h */)
		return TWP_R_STATE;
	if (ti.tcpi_unacked || (len > offsetof(struct tcp_info, tcpi_notsent_bytes) &&
				ti.tcpi_notsent_bytes))
		return TWP_R_UNSENT;
	return TWP_R_NONE;
}

/* Why fd's connection must not be parked, or TWP_R_NONE. */
static enum twp_reason park_check(int fd, uint32_t st, const struct twp_slot *s,
				  const struct twp_conn *c, uint64_t now)
{
	if (st & TWP_S_EOF)
		return TWP_R_EOF;
	if (st & TWP_S_ERR)
		return TWP_R_ERROR;
	if (st & TWP_S_SHUT)
		return TWP_R_SHUTDOWN;
	if (st & TWP_S_NOPOOL)
		return s->why ? (enum twp_reason)s->why : TWP_R_SOCKOPT;
	if (!(st & TWP_S_WROTE) || !(st & TWP_S_READ))
		return TWP_R_UNUSED;
	if (!(st & TWP_S_LASTREAD))
		return TWP_R_LAST_WRITE;
	if (c->gen != atomic_load(&twp_spawn_gen))
		return TWP_R_SHARED;
	if (twp_cfg.max_uses && c->uses >= twp_cfg.max_uses)
		return TWP_R_USES;
	if (c->expires_ms && now >= c->expires_ms)
		return TWP_R_LIFETIME;
	if (twp_cfg.max_idle == 0)
		return TWP_R_OVERFLOW;
	char b;
	ssize_t r = twp_real.recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (r > 0)
		return TWP_R_UNREAD;
	if (r == 0)
		return TWP_R_EOF;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return TWP_R_ERROR;
	return tcp_check(fd);
}

/* Undoes the program's options and gives c a private fd of its own. */
static enum twp_reason make_parkable(int fd, struct twp_conn *c)
{
	struct twp_opts *opts = c->opts;
	c->opts = NULL;
	if (twp_sockopt_restore(fd, opts) < 0)
		return TWP_R_SOCKOPT;
	if (c->fd >= 0)
		return TWP_R_NONE;
	if (atomic_fetch_add(&twp_priv_count, 1) >= twp_priv_max) {
		atomic_fetch_sub(&twp_priv_count, 1);
		return TWP_R_FDLIMIT;
	}
	int priv = twp_real.fcntl(fd, F_DUPFD_CLOEXEC, twp_priv_base);
	struct twp_slot *ps = twp_slot(priv);
	if (!ps) {
		if (priv >= 0)
			twp_real.close(priv);
		atomic_fetch_sub(&twp_priv_count, 1);
		return TWP_R_FDLIMIT;
	}
	c->fd = priv;
	ps->conn = c;
	atomic_store(&ps->st, TWP_S_PRIVATE);
	twp_fdtab_note(priv);
	return TWP_R_NONE;
}

void twp_conn_drop_private(struct twp_conn *c)
{
	if (c->fd < 0)
		return;
	struct twp_slot *ps = twp_slot(c->fd);
	if (ps)
		twp_slot_reset(ps);
	twp_real.close(c->fd);
	atomic_fetch_sub(&twp_priv_count, 1);
	c->fd = -1;
}

/* The private fd behind s is gone (closed by the program, or its number
 * reused): the connection is let go if idle, or loses its spare fd if in use. */
static void forget_private(struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	twp_slot_reset(s);
	atomic_fetch_sub(&twp_priv_count, 1);
	if (c) {
		c->fd = -1;
		if (twp_pool_remove(c))
			discard(c, TWP_R_SHARED);
	}
}

/* The program closes one of the shim's fds (a daemon closing every fd):
 * the program hears what it would without the shim, EBADF. */
static int close_private(int fd, struct twp_slot *s)
{
	forget_private(s);
	twp_real.close(fd);
	errno = EBADF;
	return -1;
}

int twp_conn_close(int fd)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (st & TWP_S_PRIVATE)
		return close_private(fd, s);
	if (!(st & TWP_S_TRACKED)) {
		twp_slot_reset(s);
		return twp_real.close(fd);
	}
	int saved = errno;
	struct twp_conn *c = s->conn;
	struct twp_target *t = c->target;
	uint64_t now = twp_now_ms();
	enum twp_reason why = park_check(fd, st, s, c, now);
	c->nonblock = !!(st & TWP_S_NONBLOCK);
	if (why == TWP_R_NONE)
		why = make_parkable(fd, c);
	twp_epoll_forget(fd, s->ep);
	twp_slot_reset(s);
	errno = saved;
	int r = twp_real.close(fd);
	saved = errno;
	if (why == TWP_R_NONE) {
		count(&t->parked);
		twp_debug("close fd=%d %s parked as fd %d", fd, t->label, c->fd);
		discard_list(twp_pool_put(t, c, now), TWP_R_OVERFLOW);
	} else {
		count(&t->closed);
		discard(c, why);
	}
	twp_conn_tick();
	errno = saved;
	return r;
}

void twp_conn_note(struct twp_slot *s, const struct twp_io *io, ssize_t r, int err)
{
	if (r > 0) {
		if (twp_io_writes(io)) {
			twp_slot_set(s, TWP_S_WROTE);
			twp_slot_clear(s, TWP_S_LASTREAD);
		} else if (!(io->flags & MSG_PEEK)) {
			twp_slot_set(s, TWP_S_READ | TWP_S_LASTREAD);
		}
	} else if (r == 0) {
		if (!twp_io_writes(io))
			twp_slot_set(s, TWP_S_EOF);
	} else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
		twp_slot_set(s, TWP_S_ERR);
	}
}

ssize_t twp_conn_io(const struct twp_io *io)
{
	struct twp_slot *s = twp_slot(io->fd);
	if (atomic_load_explicit(&s->st, memory_order_relaxed) & TWP_S_ARMED)
		return twp_replay_io(s, io);
	ssize_t r = twp_io_call(io, 0);
	int err = errno;
	twp_conn_note(s, io, r, err);
	errno = err;
	return r;
}

int twp_conn_shutdown(int fd, int how)
{
	twp_slot_set(twp_slot(fd), TWP_S_SHUT);
	return twp_real.shutdown(fd, how);
}

int twp_conn_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	twp_slot_nopool(twp_slot(fd), TWP_R_SOCKOPT);
	return twp_real.bind(fd, sa, len);
}

int twp_conn_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (st & TWP_S_PRIVATE)
		return twp_real.setsockopt(fd, level, name, val, len);
	int unpoolable = 0;
	struct twp_opts **opts = st & TWP_S_TRACKED ? &s->conn->opts : &s->opts;
	int r = twp_sockopt_set(fd, opts, level, name, val, len, &unpoolable);
	if (unpoolable)
		twp_slot_nopool(s, TWP_R_SOCKOPT);
	return r;
}

int twp_conn_fcntl(int fd, int cmd, void *arg)
{
	struct twp_slot *s = twp_slot(fd);
	long v = (long)arg;
	int r = twp_real.fcntl(fd, cmd, arg);
	if (r < 0 || atomic_load(&s->st) & TWP_S_PRIVATE)
		return r;
	switch (cmd) {
	case F_SETFL:
		if (v & O_NONBLOCK)
			twp_slot_set(s, TWP_S_NONBLOCK);
		else
			twp_slot_clear(s, TWP_S_NONBLOCK);
		if (v & O_ASYNC) /* signal-driven I/O belongs to this owner */
			twp_slot_nopool(s, TWP_R_SHARED);
		break;
	case F_SETFD:
		if (v & FD_CLOEXEC)
			twp_slot_set(s, TWP_S_CLOEXEC);
		else
			twp_slot_clear(s, TWP_S_CLOEXEC);
		break;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		twp_conn_dup(fd, r);
		break;
	case F_SETOWN:
	case F_SETOWN_EX:
	case F_SETSIG:
		twp_slot_nopool(s, TWP_R_SHARED);
		break;
	}
	return r;
}

int twp_conn_ioctl(int fd, unsigned long req, void *arg)
{
	int r = twp_real.ioctl(fd, req, arg);
	struct twp_slot *s = twp_slot(fd);
	if (r == 0 && req == FIONBIO && arg && !(atomic_load(&s->st) & TWP_S_PRIVATE)) {
		if (*(int *)arg)
			twp_slot_set(s, TWP_S_NONBLOCK);
		else
			twp_slot_clear(s, TWP_S_NONBLOCK);
	}
	if (r == 0 && (req == FIOCLEX || req == FIONCLEX)) {
		if (req == FIOCLEX)
			twp_slot_set(s, TWP_S_CLOEXEC);
		else
			twp_slot_clear(s, TWP_S_CLOEXEC);
	}
	if (r == 0 && (req == FIOASYNC || req == FIOSETOWN || req == SIOCSPGRP))
		twp_slot_nopool(s, TWP_R_SHARED);
	return r;
}

void twp_conn_dup(int oldfd, int newfd)
{
	struct twp_slot *os = twp_slot(oldfd), *ns = twp_slot(newfd);
	if (os && !(atomic_load(&os->st) & TWP_S_PRIVATE))
		twp_slot_nopool(os, TWP_R_SHARED); /* two names for one socket */
	if (ns && newfd != oldfd)
		twp_slot_reset(ns);
}

/* Moves a private fd out of the way of a dup2() onto its number. */
static void move_private(int fd, struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	int moved = twp_real.fcntl(fd, F_DUPFD_CLOEXEC, twp_priv_base);
	struct twp_slot *ms = twp_slot(moved);
	twp_slot_reset(s);
	if (!ms) { /* no room: let the connection go */
		if (moved >= 0)
			twp_real.close(moved);
		close_private(fd, s);
		return;
	}
	c->fd = moved;
	ms->conn = c;
	atomic_store(&ms->st, TWP_S_PRIVATE);
	twp_fdtab_note(moved);
}

int twp_conn_dup3(int oldfd, int newfd, int flags)
{
	struct twp_slot *ns = twp_slot(newfd);
	if (oldfd == newfd || !ns)
		return flags < 0 ? twp_real.dup2(oldfd, newfd) : twp_real.dup3(oldfd, newfd, flags);
	int saved = errno;
	uint32_t nst = atomic_load(&ns->st);
	if (nst & TWP_S_PRIVATE)
		move_private(newfd, ns);
	errno = saved;
	int r = flags < 0 ? twp_real.dup2(oldfd, newfd) : twp_real.dup3(oldfd, newfd, flags);
	if (r < 0)
		return r;
	saved = errno;
	if (nst & TWP_S_TRACKED && ns->conn) { /* dup2 closed the program's fd */
		struct twp_conn *c = ns->conn;
		count(&c->target->closed);
		ns->conn = NULL;
		discard(c, TWP_R_SHARED);
	}
	twp_conn_dup(oldfd, newfd);
	errno = saved;
	return r;
}

void twp_conn_tick(void)
{
	static _Atomic uint64_t next_ms;
	uint64_t now = twp_now_ms(), due = atomic_load_explicit(&next_ms, memory_order_relaxed);
	if (now < due || !atomic_compare_exchange_strong(&next_ms, &due, now + twp_cfg.stats_interval_ms))
		return;
	struct twp_conn *expired = NULL;
	twp_pool_sweep(now, &expired);
	discard_list(expired, TWP_R_IDLE_TIMEOUT);
	twp_stats_write(0);
}

void twp_conn_atfork_child(void)
{
	struct twp_conn *all = NULL;
	twp_pool_drain(&all);
	while (all) {
		struct twp_conn *next = all->next;
		struct twp_slot *ps = twp_slot(all->fd);
		if (ps)
			twp_slot_reset(ps);
		twp_real.close(all->fd); /* the parent keeps its copy: no FIN */
		atomic_fetch_sub(&twp_priv_count, 1);
		free(all->opts);
		free(all);
		all = next;
	}
}

int twp_conn_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct twp_slot *s = twp_slot(fd);
	int r = twp_real.epoll_ctl(epfd, op, fd, ev);
	if (r == 0 && !(atomic_load(&s->st) & TWP_S_PRIVATE)) {
		int saved = errno;
		if (twp_epoll_note(&s->ep, epfd, op, ev) < 0)
			twp_slot_nopool(s, TWP_R_EPOLL);
		errno = saved;
	}
	return r;
}

/* The program's fds in [first, last] are about to be closed in bulk. The
 * shim's own fds among them are let go, and the program's connections are
 * closed for real: parking one would make a private fd that the same bulk
 * close could take away. */
static void bulk_close(unsigned first, unsigned last)
{
	unsigned high = __atomic_load_n(&twp_fdtab_high, __ATOMIC_RELAXED);
	for (unsigned fd = first; fd <= last && fd < high; fd++) {
		struct twp_slot *s = &twp_fdtab[fd];
		uint32_t st = atomic_load_explicit(&s->st, memory_order_relaxed);
		if (st & TWP_S_PRIVATE) {
			forget_private(s);
		} else if (st & TWP_S_TRACKED && s->conn) {
			struct twp_conn *c = s->conn;
			count(&c->target->closed);
			s->conn = NULL;
			twp_slot_reset(s);
			discard(c, TWP_R_CLOSE_RANGE);
		} else if (st & TWP_S_WATCHED) {
			twp_slot_reset(s);
		}
	}
}

int twp_conn_close_range(unsigned first, unsigned last, int flags)
{
	int saved = errno;
	if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last)
		bulk_close(first, last);
	errno = saved;
	int r = twp_real.close_range(first, last, flags);
	if (r == 0 && flags & CLOSE_RANGE_CLOEXEC) {
		unsigned high = __atomic_load_n(&twp_fdtab_high, __ATOMIC_RELAXED);
		for (unsigned fd = first; fd <= last && fd < high; fd++)
			if (atomic_load(&twp_fdtab[fd].st) & TWP_S_WATCHED)
				twp_slot_set(&twp_fdtab[fd], TWP_S_CLOEXEC);
	}
	return r;
}

void twp_conn_closefrom(int lowfd)
{
	int saved = errno;
	if (lowfd >= 0)
		bulk_close((unsigned)lowfd, ~0u);
	errno = saved;
	twp_real.closefrom(lowfd);
}

/* glibc's fclose closes the fd internally, past the close() hook, and
 * stdio's reads and writes are just as invisible: the connection is closed
 * for real, and the shim's state follows. */
int twp_conn_fclose(FILE *fp, int fd)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	struct twp_conn *c = st & TWP_S_TRACKED ? s->conn : NULL;
	twp_epoll_forget(fd, s->ep);
	if (st & TWP_S_PRIVATE)
		forget_private(s);
	else
		twp_slot_reset(s);
	int r = twp_real_fclose()(fp);
	if (c) {
		int saved = errno;
		count(&c->target->closed);
		discard(c, TWP_R_STDIO);
		errno = saved;
	}
	return r;
}
