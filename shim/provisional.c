/* provisional.c - idle connections handed back by socket(), and turned
 * into fresh sockets when the program does anything else with them. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "conn.h"
#include "pool.h"
#include "privfd.h"
#include "provisional.h"
#include "real.h"
#include "sockopt.h"
#include "swap.h"

int twp_prov_socket(int domain, int type, int protocol)
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
	twp_privfd_release(); /* the program's fd again */
	twp_sockopt_begin_use(c->opts);
	twp_slot_to_conn(c->fd, twp_slot(c->fd), TWP_FD_PROVISIONAL, c, twp_fdflags(nb, ce));
	return c->fd;
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

/* The swap failed: the program's number keeps the connected socket, now
 * a plain socket of its own that is never pooled; the connection is let go. */
static int abandon(int fd, struct twp_slot *s, struct twp_conn *c, uint32_t fdflags)
{
	int saved = errno;
	if (c->fd != fd)
		twp_privfd_close(c);
	c->fd = -1;
	twp_conn_discard(c, TWP_R_ERROR);
	twp_slot_to_sock(fd, s, fdflags);
	twp_slot_nopool(s, TWP_R_ERROR);
	errno = saved;
	return -1;
}

int twp_prov_materialize(int fd, struct twp_slot *s, enum twp_reason why)
{
	struct twp_conn *c = s->conn;
	uint32_t fdflags = atomic_load(&s->st) & (TWP_S_FLAGS | TWP_S_NONBLOCK | TWP_S_CLOEXEC);
	int nb = !!(fdflags & TWP_S_NONBLOCK);
	int ns = twp_real.socket(c->family, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
	if (ns < 0)
		return -1;
	int saved = errno;
	struct twp_opts *mine = touched_opts(c->opts);
	if (why == TWP_R_NONE)
		why = twp_privfd_move(fd, c, 1); /* c->fd: now the private copy */
	if (why != TWP_R_NONE)
		c->fd = -1; /* the socket goes with the swap below */
	int r = twp_swap(fd, ns, nb, fdflags, s->ep, mine);
	twp_real.close(ns);
	if (r < 0) {
		free(mine);
		return abandon(fd, s, c, fdflags);
	}
	if (why == TWP_R_NONE)
		twp_conn_discard_list(twp_pool_put(c->target, c, twp_now_ms()), TWP_R_OVERFLOW);
	else
		twp_conn_discard(c, why);
	twp_slot_to_sock(fd, s, fdflags);
	s->opts = mine;
	errno = saved;
	return 0;
}

int twp_unpark(int fd, struct twp_slot *s)
{
	uint32_t st = atomic_load(&s->st);
	if (twp_parked_ebadf(st) < 0)
		return -1;
	if (twp_kind(st) == TWP_FD_PROVISIONAL)
		return twp_prov_materialize(fd, s, TWP_R_NONE);
	return 0;
}
