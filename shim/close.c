/* close.c - parking clean connections, closing the rest for real. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "broker.h"
#include "clock.h"
#include "close.h"
#include "codec.h"
#include "config.h"
#include "conn.h"
#include "epoll.h"
#include "log.h"
#include "pool.h"
#include "privfd.h"
#include "real.h"
#include "swap.h"

/* The smallest fd number a connection is parked at in place: the program
 * may expect 0-2 back from its next open(). */
#define TWP_INPLACE_MIN 3

/* An idle connection's fd is gone or going: the connection goes too,
 * unless a thread has already taken it from the pool. */
static void forget_idle(struct twp_slot *s)
{
	struct twp_conn *c = twp_privfd_forget(s);
	if (c && twp_pool_remove(c))
		twp_conn_discard(c, TWP_R_SHARED);
}

int twp_close_idle(int fd, struct twp_slot *s)
{
	forget_idle(s);
	twp_real.close(fd);
	errno = EBADF;
	return -1;
}

void twp_close_behind_back(int fd, struct twp_slot *s)
{
	uint32_t st = atomic_load(&s->st);
	enum twp_kind kind = twp_kind(st);
	if (twp_kind_idle(st)) {
		forget_idle(s);
	} else if ((kind == TWP_FD_TRACKED || kind == TWP_FD_PROVISIONAL) && s->conn) {
		struct twp_conn *c = s->conn;
		s->conn = NULL;
		twp_conn_discard_inuse(c, fd, TWP_R_SHARED);
	}
}

/* Without a codec: the program wrote, read, and read last. */
static enum twp_reason shape_check(uint32_t st)
{
	if (!(st & TWP_S_WROTE) || !(st & TWP_S_READ))
		return TWP_R_UNUSED;
	if (!(st & TWP_S_LASTREAD))
		return TWP_R_LAST_WRITE;
	return TWP_R_NONE;
}

/* With a codec: its verdict. A use that only changed session state is
 * parked all the same, with the codec's reset to be written. */
static enum twp_reason codec_verdict(struct twp_conn *c)
{
	const struct twp_codec *k = c->codec;
	enum twp_reason why = k->verdict(c->codec_state);
	c->reset_pending = why != TWP_R_NONE && k->needs_reset && k->needs_reset(c->codec_state);
	return c->reset_pending ? TWP_R_NONE : why;
}

/* Why fd's connection must not be parked, or TWP_R_NONE. Costs no system
 * call: what the kernel knows (unread bytes, EOF, unsent data) is checked
 * before the connection is used again, which sees strictly more. */
static enum twp_reason park_check(uint32_t st, const struct twp_slot *s,
				  struct twp_conn *c, uint64_t now)
{
	if (st & TWP_S_EOF)
		return TWP_R_EOF;
	if (st & TWP_S_ERR)
		return TWP_R_ERROR;
	if (st & TWP_S_SHUT)
		return TWP_R_SHUTDOWN;
	if (st & TWP_S_NOPOOL)
		return s->why ? (enum twp_reason)s->why : TWP_R_SOCKOPT;
	if (twp_conn_server_first(c))
		return TWP_R_SERVER_FIRST;
	enum twp_reason why = c->codec ? codec_verdict(c) : shape_check(st);
	if (why != TWP_R_NONE)
		return why;
	if (twp_conn_maybe_shared(c))
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
static enum twp_reason park_in_place(int fd, struct twp_slot *s, struct twp_conn *c,
				     int nonblock, int cloexec)
{
	if (twp_privfd_reserve() < 0)
		return TWP_R_FDLIMIT;
	twp_epoll_forget(fd, s->ep);
	c->fd = fd;
	c->inplace = 1;
	c->nonblock = nonblock;
	c->cloexec = cloexec;
	twp_slot_to_idle(fd, s, TWP_FD_PARKED, c);
	return TWP_R_NONE;
}

/* The program closes a socket() it never connected: the idle connection
 * it was is parked again where it stands. */
static int close_provisional(int fd, struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	uint32_t st = atomic_load(&s->st);
	/* The socket's O_NONBLOCK is c->nonblock, whatever the program asked. */
	if (park_in_place(fd, s, c, c->nonblock, !!(st & TWP_S_CLOEXEC)) != TWP_R_NONE) {
		c->fd = -1;
		twp_slot_reset(s);
		twp_conn_discard(c, TWP_R_FDLIMIT);
		return twp_real.close(fd);
	}
	twp_conn_discard_list(twp_pool_put(c->target, c, twp_now_ms()), TWP_R_OVERFLOW);
	return 0;
}

/* The connection goes to the pool, or is closed for real; counted. */
/* Writes the codec's reset on a connection being parked, without waiting:
 * its reply is read before the next use. 0, or -1 (then not parked). */
static int send_reset(struct twp_conn *c)
{
	int saved = errno;
	ssize_t w = twp_real.send(c->fd, c->codec->reset, c->codec->reset_len,
				  MSG_DONTWAIT | MSG_NOSIGNAL);
	errno = saved;
	return w == (ssize_t)c->codec->reset_len ? 0 : -1;
}

static void settle(struct twp_conn *c, enum twp_reason why, uint64_t now)
{
	struct twp_target *t = c->target;
	if (why == TWP_R_NONE && c->reset_pending && send_reset(c) < 0)
		why = TWP_R_STATE;
	if (why == TWP_R_NONE) {
		twp_count(&t->n.parked);
		twp_debug("close %s parked as fd %d", t->label, c->fd);
		twp_broker_give_list(twp_pool_put(t, c, now), TWP_R_OVERFLOW);
	} else {
		twp_count(&t->n.closed);
		twp_conn_discard(c, why);
	}
	twp_conn_tick();
}

/* Another thread is inside a call on fd (see struct twp_slot on calls):
 * closed for real, as without the shim. The connection is counted and its
 * fds closed, but its memory is left to that thread, which may still read
 * it when its call returns: one small leak per such race of the program's. */
static int close_busy(int fd, struct twp_slot *s, struct twp_conn *c)
{
	twp_epoll_forget(fd, s->ep);
	twp_slot_reset(s);
	if (c->fd == fd)
		c->fd = -1;
	twp_privfd_close(c);
	twp_count(&c->target->n.closed);
	twp_count(&c->target->n.discards[TWP_R_INFLIGHT]);
	twp_debug("close fd=%d %s: a call is in flight on it; closed for real", fd,
		  c->target->label);
	return twp_real.close(fd);
}

/* close() of the program's connection. */
static int close_tracked(int fd, struct twp_slot *s, uint32_t st)
{
	int saved = errno, nb = !!(st & TWP_S_NONBLOCK), ce = !!(st & TWP_S_CLOEXEC);
	struct twp_conn *c = s->conn;
	atomic_fetch_or_explicit(&s->st, TWP_S_CLOSING, memory_order_seq_cst);
	if (atomic_load_explicit(&s->calls, memory_order_seq_cst))
		return close_busy(fd, s, c);
	uint64_t now = twp_now_ms();
	enum twp_reason why = park_check(st, s, c, now);
	/* Not a MySQL connection: socket() would hand it back before the
	 * stand-in that serves its greeting is in place (mysql_login.h). */
	if (why == TWP_R_NONE && fd >= TWP_INPLACE_MIN && (c->fd < 0 || c->fd == fd) && !c->myl &&
	    (why = park_in_place(fd, s, c, nb, ce)) == TWP_R_NONE) {
		settle(c, why, now);
		errno = saved;
		return 0;
	}
	c->nonblock = nb;
	if (why == TWP_R_NONE && c->fd < 0)
		why = twp_privfd_move(fd, c, 1);
	if (why != TWP_R_NONE && c->fd == fd)
		c->fd = -1;
	twp_epoll_forget(fd, s->ep);
	twp_slot_reset(s);
	errno = saved;
	int r = twp_real.close(fd);
	saved = errno;
	settle(c, why, now);
	errno = saved;
	return r;
}

/* The program's fd flags, from the slot when it knows them. */
static uint32_t fd_flags(int fd, uint32_t st)
{
	if (st & TWP_S_FLAGS)
		return st & (TWP_S_NONBLOCK | TWP_S_CLOEXEC);
	int fl = twp_real.fcntl(fd, F_GETFL), fdfl = twp_real.fcntl(fd, F_GETFD);
	return twp_fdflags(fl >= 0 && fl & O_NONBLOCK, fdfl >= 0 && fdfl & FD_CLOEXEC);
}

int twp_close_handover(int fd, struct twp_slot *s, int standin, int standin_nb, int must)
{
	uint32_t st = atomic_load(&s->st), fl = fd_flags(fd, st);
	struct twp_conn *c = s->conn;
	uint64_t now = twp_now_ms();
	enum twp_reason why = park_check(st, s, c, now);
	if (why != TWP_R_NONE && !must)
		return -1;
	atomic_fetch_or_explicit(&s->st, TWP_S_CLOSING, memory_order_seq_cst);
	if (atomic_load_explicit(&s->calls, memory_order_seq_cst))
		goto keep;
	if (why == TWP_R_NONE && (c->fd < 0 || c->fd == fd))
		why = twp_privfd_move(fd, c, 1);
	if (why != TWP_R_NONE && c->fd == fd)
		c->fd = -1;
	if ((why != TWP_R_NONE && !must) || twp_swap(fd, standin, standin_nb, fl, s->ep, NULL) < 0)
		goto keep;
	c->nonblock = !!(fl & TWP_S_NONBLOCK);
	twp_slot_reset(s);
	settle(c, why, now);
	return 0;
keep:
	twp_slot_clear(s, TWP_S_CLOSING);
	return -1;
}

/* At exit, with a broker: the connections the program never closed
 * (redis-cli, curl) are parked, for the broker to take. Only clean ones:
 * the rest stay the program's until the kernel closes them. */
void twp_close_all_clean(void)
{
	unsigned high = __atomic_load_n(&twp_fdtab_high, __ATOMIC_RELAXED);
	uint64_t now = twp_now_ms();
	for (unsigned fd = TWP_INPLACE_MIN; fd < high; fd++) {
		struct twp_slot *s = &twp_fdtab[fd];
		uint32_t st = atomic_load(&s->st);
		if (twp_kind(st) == TWP_FD_TRACKED && park_check(st, s, s->conn, now) == TWP_R_NONE)
			close_tracked((int)fd, s, st);
	}
}

int twp_close(int fd)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	switch (twp_kind(st)) {
	case TWP_FD_PARKED:
	case TWP_FD_PRIVATE: /* closed already, to the program */
		return twp_close_idle(fd, s);
	case TWP_FD_PROVISIONAL:
		return close_provisional(fd, s);
	case TWP_FD_TRACKED:
		return close_tracked(fd, s, st);
	default:
		twp_slot_reset(s);
		return twp_real.close(fd);
	}
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
		if (twp_kind_idle(st)) {
			forget_idle(s);
		} else if (twp_kind(st) != TWP_FD_NONE) {
			struct twp_conn *c = twp_kind(st) == TWP_FD_SOCK ? NULL : s->conn;
			twp_slot_reset(s);
			if (c)
				twp_conn_discard_inuse(c, (int)fd, TWP_R_CLOSE_RANGE);
		}
	}
}

int twp_close_range(unsigned first, unsigned last, int flags)
{
	int saved = errno;
	if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last)
		bulk_close(first, last);
	errno = saved;
	int r = twp_real.close_range(first, last, flags);
	if (r == 0 && flags & CLOSE_RANGE_CLOEXEC) {
		unsigned high = __atomic_load_n(&twp_fdtab_high, __ATOMIC_RELAXED);
		for (unsigned fd = first; fd <= last && fd < high; fd++)
			if (twp_kind(atomic_load(&twp_fdtab[fd].st)) != TWP_FD_NONE)
				twp_slot_set(&twp_fdtab[fd], TWP_S_CLOEXEC);
	}
	return r;
}

void twp_closefrom(int lowfd)
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
int twp_close_stream(FILE *fp, int fd)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	enum twp_kind kind = twp_kind(st);
	struct twp_conn *c = kind == TWP_FD_TRACKED || kind == TWP_FD_PROVISIONAL ? s->conn : NULL;
	twp_epoll_forget(fd, s->ep);
	if (twp_kind_idle(st))
		forget_idle(s);
	else
		twp_slot_reset(s);
	int r = twp_real_fclose()(fp);
	if (c) {
		int saved = errno;
		twp_conn_discard_inuse(c, fd, TWP_R_STDIO);
		errno = saved;
	}
	return r;
}
