/* conn.c - the life of a pooled connection: handed out, used, parked.
 *
 * A clean connection the program closes is parked where it stands: at the
 * fd number the program closed, which the program now believes free (no
 * system call). The next socket() of that family hands it straight back,
 * provisionally: if the program then connects it to the same target, the
 * connection is its own (no system call); anything else turns it into the
 * fresh socket the program asked for, and the connection goes back to the
 * pool under a private fd. Connections that cannot stay in place (fd 0-2,
 * or reached through a socket made before the pool had one) are parked
 * under a private fd and handed over with dup3() at connect(). */
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
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

/* The smallest fd number a connection is parked at in place: the program
 * may expect 0-2 back from its next open(). */
#define TWP_INPLACE_MIN 3

void twp_conn_count(_Atomic uint64_t *ctr)
{
	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
	twp_stats_touch();
}

void twp_conn_drop_fd(struct twp_conn *c)
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

void twp_conn_discard(struct twp_conn *c, enum twp_reason why)
{
	int saved = errno;
	twp_debug("discard %s fd=%d reason=%s uses=%u", c->target->label, c->fd,
		  twp_reason_name(why), c->uses);
	twp_conn_drop_fd(c);
	twp_conn_count(&c->target->discards[why]);
	free(c->opts);
	free(c->kept);
	free(c);
	errno = saved;
}

void twp_conn_discard_list(struct twp_conn *list, enum twp_reason why)
{
	while (list) {
		struct twp_conn *next = list->next;
		twp_conn_discard(list, why);
		list = next;
	}
}

/* Discards the connection in use under the program's fd, which the
 * program (or a bulk close, or dup2) closes itself. */
void twp_conn_discard_inuse(struct twp_conn *c, int fd, enum twp_reason why)
{
	if (c->fd == fd)
		c->fd = -1;
	twp_conn_count(&c->target->closed);
	twp_conn_discard(c, why);
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

/* Requests up to this size are taken as delivered once a reply came: a
 * peer's receive window holds them whole, so nothing can be left unsent.
 * Past it, TCP_INFO is asked too. */
#define TWP_SMALL_REQUEST 16384

/* The check before a parked connection is used again: nothing waiting (no
 * late reply, no EOF, no error), nothing unsent, still ESTABLISHED. An EOF
 * or reset shows in the peek; the TCP state beyond that only matters when
 * the last use wrote more than a window's worth. */
static enum twp_reason reuse_check(int fd, const struct twp_conn *c)
{
	char b;
	int saved = errno;
	enum twp_reason why = TWP_R_NONE;
	ssize_t r = twp_real.recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (r > 0)
		why = TWP_R_UNREAD;
	else if (r == 0)
		why = TWP_R_EOF;
	else if (errno != EAGAIN && errno != EWOULDBLOCK)
		why = TWP_R_ERROR;
	else if (c->written > TWP_SMALL_REQUEST)
		why = tcp_check(fd);
	errno = saved;
	return why;
}

static uint32_t flag_bits(int nonblock, int cloexec)
{
	return TWP_S_FLAGS | (nonblock ? TWP_S_NONBLOCK : 0) | (cloexec ? TWP_S_CLOEXEC : 0);
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

/* The slot of a connection now in the program's hands, reused. */
static void start_use(struct twp_slot *s, struct twp_conn *c, int nonblock, int cloexec)
{
	c->uses++;
	c->gen = atomic_load(&twp_spawn_gen);
	c->nkept = 0;
	c->written = 0;
	s->conn = c;
	s->why = 0;
	atomic_store(&s->st, TWP_S_TRACKED | TWP_S_REUSED | flag_bits(nonblock, cloexec) |
		     (twp_cfg.replay_max ? TWP_S_ARMED : 0));
	twp_conn_count(&c->target->reused);
}

/* ---- socket(): an idle connection parked in place, handed back ---- */

int twp_conn_socket_pooled(int domain, int type, int protocol)
{
	int kind = type & 0xf, extra = type & ~0xf & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if ((domain != AF_INET && domain != AF_INET6) || kind != SOCK_STREAM || extra ||
	    (protocol != 0 && protocol != IPPROTO_TCP))
		return -1;
	struct twp_conn *expired = NULL;
	struct twp_conn *c = twp_pool_take_inplace(domain, twp_now_ms(), &expired);
	twp_conn_discard_list(expired, TWP_R_IDLE_TIMEOUT);
	if (!c)
		return -1;
	int saved = errno, nb = !!(type & SOCK_NONBLOCK), ce = !!(type & SOCK_CLOEXEC);
	if (c->cloexec != ce && twp_real.fcntl(c->fd, F_SETFD, ce ? FD_CLOEXEC : 0) < 0) {
		twp_conn_discard(c, TWP_R_ERROR);
		errno = saved;
		return -1;
	}
	c->cloexec = ce;
	/* O_NONBLOCK: the slot says what the program asked for, c->nonblock
	 * what the socket has; event loops set it right after socket(), so the
	 * two usually agree again by connect(), where they are made to. */
	atomic_fetch_sub(&twp_priv_count, 1); /* the program's fd again */
	twp_sockopt_begin_use(c->opts);
	struct twp_slot *s = twp_slot(c->fd);
	s->conn = c;
	atomic_store(&s->st, TWP_S_PROVISIONAL | flag_bits(nb, ce));
	return c->fd;
}

void twp_conn_socket(int fd, int domain, int type)
{
	struct twp_slot *s = twp_slot(fd);
	if (!s || (domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
		return;
	uint32_t st = atomic_load(&s->st);
	if (st & (TWP_S_PRIVATE | TWP_S_PARKED)) /* our fd was closed behind our back */
		twp_conn_forget_fd(s);
	else if (st & (TWP_S_TRACKED | TWP_S_PROVISIONAL) && s->conn)
		twp_conn_discard_inuse(s->conn, fd, TWP_R_SHARED);
	twp_slot_reset(s);
	atomic_store(&s->st, TWP_S_SOCK | flag_bits(type & SOCK_NONBLOCK, type & SOCK_CLOEXEC));
	twp_fdtab_note(fd);
}

/* Gives c a private fd (a duplicate of fd) for the pool. 0 or a reason. */
static enum twp_reason take_private(int fd, struct twp_conn *c)
{
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
	c->inplace = 0;
	c->cloexec = 1;
	ps->conn = c;
	atomic_store(&ps->st, TWP_S_PRIVATE);
	twp_fdtab_note(priv);
	return TWP_R_NONE;
}

/* A copy of the options the program set during this use (touched). */
static struct twp_opts *touched_opts(const struct twp_opts *o)
{
	struct twp_opts *t = NULL;
	for (int i = 0; o && i < o->n; i++)
		if (o->o[i].touched && o->o[i].len) {
			if (!t && !(t = calloc(1, sizeof(*t))))
				return NULL;
			t->o[t->n++] = o->o[i];
		}
	return t;
}

/* Turns the provisional fd into the fresh, unconnected socket the program
 * asked socket() for. The connection goes back to the pool under a private
 * fd, or is discarded when why says so. 0, or -1 with errno. */
int twp_conn_materialize(int fd, struct twp_slot *s, enum twp_reason why)
{
	struct twp_conn *c = s->conn;
	uint32_t st = atomic_load(&s->st);
	int nb = !!(st & TWP_S_NONBLOCK), ce = !!(st & TWP_S_CLOEXEC);
	int ns = twp_real.socket(c->family, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
	if (ns < 0)
		return -1;
	int saved = errno;
	struct twp_opts *mine = touched_opts(c->opts);
	if (why == TWP_R_NONE)
		why = take_private(fd, c); /* c->fd: now the private copy */
	if (why != TWP_R_NONE)
		c->fd = -1; /* the socket goes with the dup3() below */
	twp_epoll_forget(fd, s->ep);
	twp_real.dup3(ns, fd, ce ? O_CLOEXEC : 0);
	twp_real.close(ns);
	twp_epoll_restore(fd, s->ep);
	twp_sockopt_replay(fd, mine);
	if (why == TWP_R_NONE)
		twp_conn_discard_list(twp_pool_put(c->target, c, twp_now_ms()), TWP_R_OVERFLOW);
	else
		twp_conn_discard(c, why);
	s->conn = NULL;
	s->opts = mine;
	atomic_store(&s->st, TWP_S_SOCK | flag_bits(nb, ce));
	errno = saved;
	return 0;
}

/* connect() of a provisional fd: its own target makes it the program's. */
static int activate(int fd, struct twp_slot *s, const struct twp_key *k, const struct sockaddr *sa,
		    socklen_t len)
{
	struct twp_conn *c = s->conn;
	uint32_t st = atomic_load(&s->st);
	enum twp_reason why = TWP_R_NONE;
	int mine = memcmp(&c->target->key, k, sizeof(*k)) == 0 && sa->sa_family == c->family;
	if (mine && (why = reuse_check(fd, c)) == TWP_R_NONE && twp_sockopt_settle(fd, c->opts) < 0)
		why = TWP_R_SOCKOPT;
	int nb = !!(st & TWP_S_NONBLOCK);
	if (mine && why == TWP_R_NONE && c->nonblock != nb) {
		if (twp_real.fcntl(fd, F_SETFL, nb ? O_NONBLOCK : 0) < 0)
			why = TWP_R_ERROR;
		c->nonblock = nb;
	}
	if (mine && why == TWP_R_NONE) {
		int saved = errno;
		start_use(s, c, nb, !!(st & TWP_S_CLOEXEC));
		twp_debug("connect fd=%d %s reused in place (use %u)", fd, c->target->label, c->uses);
		if (st & TWP_S_NONBLOCK) {
			twp_slot_set(s, TWP_S_CONNPEND);
			errno = EINPROGRESS; /* as a real non-blocking connect says */
			return -1;
		}
		errno = saved;
		return 0;
	}
	if (mine && why != TWP_R_UNREAD && why != TWP_R_NONE)
		why = TWP_R_STALE; /* found dead or dirty before its reuse */
	if (twp_conn_materialize(fd, s, mine ? why : TWP_R_NONE) < 0)
		return -1;
	return twp_conn_connect(fd, sa, len);
}

/* ---- connect() of a fresh socket: a private pooled connection, or real ---- */

/* Puts pooled connection c under the program's fd, with the program's fd
 * flags and options. 0, or -1 with fd untouched (the caller discards c). */
static int handout(int fd, struct twp_slot *s, struct twp_conn *c)
{
	int nonblock, cloexec;
	if (fd_flags(fd, atomic_load(&s->st), &nonblock, &cloexec) < 0)
		return -1;
	twp_sockopt_begin_use(c->opts);
	int bad = twp_sockopt_adopt(c->fd, &c->opts, s->opts);
	s->opts = NULL;
	if (bad < 0 || twp_sockopt_settle(c->fd, c->opts) < 0)
		return -1;
	if (c->nonblock != nonblock && twp_real.fcntl(c->fd, F_SETFL, nonblock ? O_NONBLOCK : 0) < 0)
		return -1;
	c->nonblock = nonblock;
	if (twp_real.dup3(c->fd, fd, cloexec ? O_CLOEXEC : 0) < 0)
		return -1;
	if (c->inplace) { /* its old number is free again: the private copy is fd */
		twp_conn_drop_fd(c);
		c->inplace = 0;
	}
	start_use(s, c, nonblock, cloexec);
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
		twp_conn_discard_list(expired, TWP_R_IDLE_TIMEOUT);
		enum twp_reason why;
		if (!c || (why = reuse_check(c->fd, c)) == TWP_R_NONE)
			return c;
		twp_conn_discard(c, why == TWP_R_UNREAD ? TWP_R_UNREAD : TWP_R_STALE);
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
	if (!s)
		return twp_real.connect(fd, sa, len);
	struct twp_key k;
	int keyed = twp_key_from_sockaddr(&k, sa, len) == 0;
	uint32_t st = atomic_load(&s->st);
	int target = keyed && twp_targets_match(&twp_cfg, &k);
	if (st & TWP_S_PARKED) {
		errno = EBADF;
		return -1;
	}
	if (st & TWP_S_PROVISIONAL) {
		if (target)
			return activate(fd, s, &k, sa, len);
		if (twp_conn_materialize(fd, s, TWP_R_NONE) < 0)
			return -1;
		st = atomic_load(&s->st);
	}
	if (st & TWP_S_CONNPEND) { /* the first connect() after completion says 0 */
		twp_slot_clear(s, TWP_S_CONNPEND);
		return 0;
	}
	if (!target || st & (TWP_S_TRACKED | TWP_S_PRIVATE))
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
		twp_debug("connect fd=%d %s reused (use %u)", fd, t->label, c->uses);
		if (atomic_load(&s->st) & TWP_S_NONBLOCK) {
			twp_slot_set(s, TWP_S_CONNPEND);
			errno = EINPROGRESS;
			return -1;
		}
		errno = saved;
		return 0;
	}
	if (c)
		twp_conn_discard(c, TWP_R_ERROR);
	int r = twp_real.connect(fd, sa, len);
	saved = errno;
	if (r == 0 || errno == EINPROGRESS || errno == EINTR) {
		track_fresh(fd, s, t, sa, len);
		twp_conn_count(&t->fresh);
		twp_debug("connect fd=%d %s fresh", fd, t->label);
	}
	errno = saved;
	return r;
}

/* ---- close(): park in place, park privately, or close for real ---- */

/* Why fd's connection must not be parked, or TWP_R_NONE. Costs no system
 * call: what the kernel knows (unread bytes, EOF, unsent data) is checked
 * before the connection is used again, which sees strictly more. */
static enum twp_reason park_check(uint32_t st, const struct twp_slot *s,
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
	return TWP_R_NONE;
}

/* Parks c at fd itself: the program's close() makes no system call. */
static enum twp_reason park_in_place(int fd, struct twp_slot *s, struct twp_conn *c, uint32_t st)
{
	if (atomic_fetch_add(&twp_priv_count, 1) >= twp_priv_max) {
		atomic_fetch_sub(&twp_priv_count, 1);
		return TWP_R_FDLIMIT;
	}
	twp_epoll_forget(fd, s->ep);
	c->fd = fd;
	c->inplace = 1;
	c->nonblock = !!(st & TWP_S_NONBLOCK);
	c->cloexec = !!(st & TWP_S_CLOEXEC);
	twp_slot_reset(s);
	s->conn = c;
	atomic_store(&s->st, TWP_S_PARKED);
	return TWP_R_NONE;
}

/* The program closes a socket() it never connected: the idle connection
 * it was is parked again where it stands. */
static int close_provisional(int fd, struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	uint32_t st = atomic_load(&s->st);
	int nonblock = c->nonblock; /* the socket's, not the slot's wish */
	enum twp_reason why = park_in_place(fd, s, c, st);
	c->nonblock = nonblock;
	if (why != TWP_R_NONE) {
		c->fd = -1;
		twp_slot_reset(s);
		twp_conn_discard(c, TWP_R_FDLIMIT);
		return twp_real.close(fd);
	}
	twp_conn_discard_list(twp_pool_put(c->target, c, twp_now_ms()), TWP_R_OVERFLOW);
	return 0;
}

int twp_conn_close(int fd)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (st & (TWP_S_PRIVATE | TWP_S_PARKED)) /* closed already, to the program */
		return twp_conn_close_private(fd, s);
	if (st & TWP_S_PROVISIONAL)
		return close_provisional(fd, s);
	if (!(st & TWP_S_TRACKED)) {
		twp_slot_reset(s);
		return twp_real.close(fd);
	}
	int saved = errno;
	struct twp_conn *c = s->conn;
	struct twp_target *t = c->target;
	uint64_t now = twp_now_ms();
	enum twp_reason why = park_check(st, s, c, now);
	if (why == TWP_R_NONE && fd >= TWP_INPLACE_MIN && (c->fd < 0 || c->fd == fd) &&
	    (why = park_in_place(fd, s, c, st)) == TWP_R_NONE) {
		twp_conn_count(&t->parked);
		twp_debug("close fd=%d %s parked in place", fd, t->label);
		twp_conn_discard_list(twp_pool_put(t, c, now), TWP_R_OVERFLOW);
		twp_conn_tick();
		errno = saved;
		return 0;
	}
	c->nonblock = !!(st & TWP_S_NONBLOCK);
	if (why == TWP_R_NONE && c->fd < 0)
		why = take_private(fd, c);
	if (why != TWP_R_NONE && c->fd == fd)
		c->fd = -1;
	twp_epoll_forget(fd, s->ep);
	twp_slot_reset(s);
	errno = saved;
	int r = twp_real.close(fd);
	saved = errno;
	if (why == TWP_R_NONE) {
		twp_conn_count(&t->parked);
		twp_debug("close fd=%d %s parked as fd %d", fd, t->label, c->fd);
		twp_conn_discard_list(twp_pool_put(t, c, now), TWP_R_OVERFLOW);
	} else {
		twp_conn_count(&t->closed);
		twp_conn_discard(c, why);
	}
	twp_conn_tick();
	errno = saved;
	return r;
}

/* ---- the shim's own fds, closed or reused behind its back ---- */

void twp_conn_forget_fd(struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	twp_slot_reset(s);
	atomic_fetch_sub(&twp_priv_count, 1);
	if (c) {
		c->fd = -1;
		if (twp_pool_remove(c))
			twp_conn_discard(c, TWP_R_SHARED);
	}
}

int twp_conn_close_private(int fd, struct twp_slot *s)
{
	twp_conn_forget_fd(s);
	twp_real.close(fd);
	errno = EBADF;
	return -1;
}

/* ---- I/O ---- */

void twp_conn_note(struct twp_slot *s, const struct twp_io *io, ssize_t r, int err)
{
	if (r > 0) {
		if (twp_io_writes(io)) {
			twp_slot_set(s, TWP_S_WROTE);
			twp_slot_clear(s, TWP_S_LASTREAD);
			s->conn->written += (uint64_t)r;
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
	uint32_t st = atomic_load_explicit(&s->st, memory_order_relaxed);
	if (st & (TWP_S_PARKED | TWP_S_PROVISIONAL)) {
		if (twp_conn_unpark(io->fd, s) < 0)
			return -1;
		return twp_io_call(io, 0); /* an unconnected socket now: ENOTCONN */
	}
	if (st & TWP_S_ARMED)
		return twp_replay_io(s, io);
	ssize_t r = twp_io_call(io, 0);
	int err = errno;
	twp_conn_note(s, io, r, err);
	errno = err;
	return r;
}

int twp_conn_unpark(int fd, struct twp_slot *s)
{
	uint32_t st = atomic_load(&s->st);
	if (st & TWP_S_PARKED) {
		errno = EBADF;
		return -1;
	}
	if (st & TWP_S_PROVISIONAL)
		return twp_conn_materialize(fd, s, TWP_R_NONE);
	return 0;
}

/* ---- housekeeping ---- */

void twp_conn_tick(void)
{
	static _Atomic uint64_t next_ms;
	uint64_t now = twp_now_ms(), due = atomic_load_explicit(&next_ms, memory_order_relaxed);
	if (now < due || !atomic_compare_exchange_strong(&next_ms, &due, now + twp_cfg.stats_interval_ms))
		return;
	struct twp_conn *expired = NULL;
	twp_pool_sweep(now, &expired);
	twp_conn_discard_list(expired, TWP_R_IDLE_TIMEOUT);
	twp_stats_write(0);
}

void twp_conn_atfork_child(void)
{
	struct twp_conn *all = NULL;
	twp_pool_drain(&all);
	while (all) { /* the parent keeps its copies: no FIN */
		struct twp_conn *next = all->next;
		twp_conn_drop_fd(all);
		free(all->opts);
		free(all->kept);
		free(all);
		all = next;
	}
}
