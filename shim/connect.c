/* connect.c - handing connections out: at socket() and at connect(). */
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <string.h>

#include "broker.h"
#include "clock.h"
#include "close.h"
#include "codec.h"
#include "codec_mysql.h"
#include "config.h"
#include "conn.h"
#include "connect.h"
#include "fdtab.h"
#include "log.h"
#include "mysql_login.h"
#include "pool.h"
#include "privfd.h"
#include "provisional.h"
#include "real.h"
#include "sockopt.h"
#include "swap.h"
#include "targets.h"

void twp_connect_socket(int fd, int domain, int type)
{
	struct twp_slot *s = twp_slot(fd);
	if (!s || (domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
		return;
	twp_close_behind_back(fd, s);
	twp_slot_reset(s);
	twp_slot_to_sock(fd, s, twp_fdflags(type & SOCK_NONBLOCK, type & SOCK_CLOEXEC));
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
	if (ti.tcpi_unacked ||
	    (len > offsetof(struct tcp_info, tcpi_notsent_bytes) && ti.tcpi_notsent_bytes))
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
static enum twp_reason reuse_check(int fd, struct twp_conn *c)
{
	char b;
	int saved = errno;
	if (twp_conn_server_first(c))
		return TWP_R_SERVER_FIRST;
	if (c->myl && atomic_load_explicit(&c->target->mysql_mixed, memory_order_relaxed))
		return TWP_R_PROTOCOL;
	enum twp_reason why = c->reset_pending ? twp_conn_consume_reset(c, fd) : TWP_R_NONE;
	if (why != TWP_R_NONE) {
		errno = saved;
		return why;
	}
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

/* c, from the pool, is the program's under fd now. A non-blocking program
 * is told EINPROGRESS, as by a real connect; its next connect() says 0. */
static int start_reuse(int fd, struct twp_slot *s, struct twp_conn *c, uint32_t fdflags)
{
	int saved = errno;
	twp_conn_begin_use(c);
	uint32_t bits = TWP_S_REUSED | fdflags | (twp_cfg.replay_max ? TWP_S_ARMED : 0);
	if (fdflags & TWP_S_NONBLOCK)
		bits |= TWP_S_CONNPEND;
	twp_slot_to_conn(fd, s, TWP_FD_TRACKED, c, bits);
	twp_debug("connect fd=%d %s reused%s (use %u)", fd, c->target->label,
		  c->fd == fd ? " in place" : "", c->uses);
	if (fdflags & TWP_S_NONBLOCK) {
		errno = EINPROGRESS;
		return -1;
	}
	errno = saved;
	return 0;
}

/* connect() of a provisional fd: its own target makes it the program's. */
static int activate(int fd, struct twp_slot *s, const struct twp_key *k, const struct sockaddr *sa,
		    socklen_t len)
{
	struct twp_conn *c = s->conn;
	uint32_t fdflags = twp_fd_flags(fd, atomic_load(&s->st));
	enum twp_reason why = TWP_R_NONE;
	int mine = memcmp(&c->target->key, k, sizeof(*k)) == 0 && sa->sa_family == c->family;
	if (mine && (why = reuse_check(fd, c)) == TWP_R_NONE && twp_sockopt_settle(fd, c->opts) < 0)
		why = TWP_R_SOCKOPT;
	int nb = !!(fdflags & TWP_S_NONBLOCK);
	if (mine && why == TWP_R_NONE && c->nonblock != nb &&
	    twp_real.fcntl(fd, F_SETFL, nb ? O_NONBLOCK : 0) < 0)
		why = TWP_R_ERROR;
	if (mine && why == TWP_R_NONE)
		return start_reuse(fd, s, c, fdflags);
	if (mine && why != TWP_R_UNREAD)
		why = TWP_R_STALE; /* found dead or dirty before its reuse */
	if (twp_prov_materialize(fd, s, mine ? why : TWP_R_NONE) < 0)
		return -1;
	return twp_connect(fd, sa, len);
}

/* Puts pooled connection c under the program's fresh socket fd, with the
 * program's fd flags and options: 0 with connect's answer in *answer, or
 * -1 with fd untouched (the caller discards c). */
static int handout(int fd, struct twp_slot *s, struct twp_conn *c, int *answer)
{
	uint32_t fdflags = twp_fd_flags(fd, atomic_load(&s->st));
	if (!fdflags)
		return -1;
	twp_sockopt_begin_use(c->opts);
	int bad = twp_sockopt_adopt(c->fd, &c->opts, s->opts);
	s->opts = NULL;
	if (bad < 0 || twp_sockopt_settle(c->fd, c->opts) < 0)
		return -1;
	if (c->codec == &twp_codec_mysql) { /* first its greeting, from a stand-in */
		if (twp_myl_handout(fd, s, c, fdflags) < 0)
			return -1;
	} else if (twp_swap(fd, c->fd, c->nonblock, fdflags, s->ep, NULL) < 0) {
		return -1;
	}
	if (c->inplace) /* its old number is free again: fd is its name now */
		twp_privfd_close(c);
	c->inplace = 0;
	*answer = start_reuse(fd, s, c, fdflags);
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
	    proto == IPPROTO_TCP &&
	    TWP_NEXT(getsockname)(fd, (struct sockaddr *)&ss, &sl) == 0)
		ok = ((struct sockaddr_in *)&ss)->sin_port == 0;
	errno = saved;
	return ok;
}

/* A real connect to t: the connection is tracked from now on, read by
 * the codec of the allow-list entry that matched. */
static int connect_fresh(int fd, struct twp_slot *s, struct twp_target *t,
			 const struct twp_codec *codec, const struct sockaddr *sa, socklen_t len)
{
	int r = twp_real.connect(fd, sa, len), saved = errno;
	if (r < 0 && errno != EINPROGRESS && errno != EINTR)
		return twp_stats_connect_failed(t, r);
	uint32_t fdflags = twp_fd_flags(fd, atomic_load(&s->st));
	struct twp_conn *c = fdflags ? twp_conn_new(t, codec, sa, len) : NULL;
	if (c) {
		c->opts = s->opts;
		s->opts = NULL;
		twp_slot_to_conn(fd, s, TWP_FD_TRACKED, c, fdflags);
	} else {
		twp_slot_reset(s);
	}
	twp_count(&t->n.fresh);
	twp_debug("connect fd=%d %s fresh", fd, t->label);
	errno = saved;
	return r;
}

/* connect(AF_UNSPEC) dissolves the program's connection: the socket stays
 * the program's, may connect anywhere next, and is never pooled again. */
static int dissolve(int fd, struct twp_slot *s, const struct sockaddr *sa, socklen_t len)
{
	struct twp_conn *c = s->conn;
	int r = twp_real.connect(fd, sa, len), saved = errno;
	twp_slot_to_sock(fd, s, atomic_load(&s->st) & (TWP_S_FLAGS | TWP_S_NONBLOCK | TWP_S_CLOEXEC));
	twp_slot_nopool(s, TWP_R_STATE);
	twp_conn_discard_inuse(c, fd, TWP_R_STATE);
	errno = saved;
	return r;
}

/* connect() of a SOCK fd (or one the shim never saw) to target k, which
 * allow-list entry sp matched. */
static int connect_target(int fd, struct twp_slot *s, uint32_t st, const struct twp_key *k,
			  const struct twp_spec *sp, const struct sockaddr *sa, socklen_t len)
{
	if (st & TWP_S_NOPOOL || (twp_kind(st) != TWP_FD_SOCK && !is_plain_tcp(fd))) {
		twp_slot_reset(s); /* bound, odd options, or not TCP: untouched */
		return twp_real.connect(fd, sa, len);
	}
	struct twp_target *t = twp_stats_bind(twp_pool_target(k));
	if (!t)
		return twp_real.connect(fd, sa, len);
	twp_conn_tick();
	int answer, saved = errno;
	struct twp_conn *c = checkout(t, sa->sa_family);
	if (!c && (c = twp_broker_take(t, sp->codec, sa, len)) && reuse_check(c->fd, c) != TWP_R_NONE) {
		twp_conn_discard(c, TWP_R_STALE);
		c = NULL;
	}
	if (c && handout(fd, s, c, &answer) == 0) {
		if (answer == 0)
			errno = saved;
		return answer;
	}
	if (c)
		twp_conn_discard(c, TWP_R_ERROR);
	return connect_fresh(fd, s, t, sp->codec, sa, len);
}

int twp_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct twp_slot *s = twp_slot(fd);
	if (!s)
		return twp_real.connect(fd, sa, len);
	struct twp_key k;
	uint32_t st = atomic_load(&s->st);
	const struct twp_spec *sp = twp_key_from_sockaddr(&k, sa, len) == 0
		? twp_targets_find(&twp_cfg, &k) : NULL;
	int target = sp != NULL;
	if (twp_parked_ebadf(st) < 0)
		return -1;
	if (twp_kind(st) == TWP_FD_PROVISIONAL) {
		if (target)
			return activate(fd, s, &k, sa, len);
		if (twp_prov_materialize(fd, s, TWP_R_NONE) < 0)
			return -1;
		st = atomic_load(&s->st);
	}
	if (st & TWP_S_CONNPEND && sa->sa_family != AF_UNSPEC) {
		/* the first connect() after completion says 0 */
		twp_slot_clear(s, TWP_S_CONNPEND);
		return 0;
	}
	if (twp_kind(st) == TWP_FD_TRACKED && sa->sa_family == AF_UNSPEC)
		return dissolve(fd, s, sa, len);
	if (!target || twp_kind(st) == TWP_FD_TRACKED || twp_kind(st) == TWP_FD_PRIVATE)
		return twp_stats_passthrough(twp_real.connect(fd, sa, len), !target && twp_kind(st) == TWP_FD_SOCK);
	return connect_target(fd, s, st, &k, sp, sa, len);
}
