/* fdops.c - everything else a program does to a watched fd: flags,
 * options, duplicates, epoll sets, half-closes, bulk closes, stdio.
 *
 * A parked fd is closed, to the program: every call on it fails with
 * EBADF. A provisional fd (an idle connection socket() handed out) first
 * becomes the fresh socket the program asked for, unless the call only
 * reads or sets what the shim keeps itself (fd flags, socket options). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "conn.h"
#include "epoll.h"
#include "fdtab.h"
#include "init.h"
#include "pool.h"
#include "real.h"
#include "sockopt.h"

int twp_conn_shutdown(int fd, int how)
{
	struct twp_slot *s = twp_slot(fd);
	if (twp_conn_unpark(fd, s) < 0)
		return -1;
	twp_slot_set(s, TWP_S_SHUT);
	return twp_real.shutdown(fd, how);
}

int twp_conn_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct twp_slot *s = twp_slot(fd);
	if (twp_conn_unpark(fd, s) < 0)
		return -1;
	twp_slot_nopool(s, TWP_R_SOCKOPT);
	return twp_real.bind(fd, sa, len);
}

int twp_conn_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (st & TWP_S_PARKED) {
		errno = EBADF;
		return -1;
	}
	if (st & TWP_S_PRIVATE)
		return twp_real.setsockopt(fd, level, name, val, len);
	int unpoolable = 0;
	struct twp_opts **opts = st & (TWP_S_TRACKED | TWP_S_PROVISIONAL) ? &s->conn->opts : &s->opts;
	int r = twp_sockopt_set(fd, opts, level, name, val, len, &unpoolable);
	if (unpoolable)
		twp_slot_nopool(s, TWP_R_SOCKOPT);
	return r;
}

int twp_conn_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (st & TWP_S_PARKED) {
		errno = EBADF;
		return -1;
	}
	if (st & TWP_S_PROVISIONAL && twp_sockopt_get(s->conn->opts, level, name, val, len))
		return 0;
	/* A pooled connection handed to a non-blocking connect() has connected:
	 * SO_ERROR says 0, as after a real connect. If the server dropped it
	 * meanwhile, the pending error is left for the first read or write,
	 * where a replay can still hide it. */
	if (level == SOL_SOCKET && name == SO_ERROR && st & TWP_S_REUSED &&
	    !(st & (TWP_S_WROTE | TWP_S_READ)) && val && len && *len >= (socklen_t)sizeof(int)) {
		*(int *)val = 0;
		*len = sizeof(int);
		return 0;
	}
	return twp_real.getsockopt(fd, level, name, val, len);
}

/* fcntl's flag queries and no-op changes, answered from the slot: event
 * loops ask and set O_NONBLOCK on every new socket. -1 if not answered. */
static int known_flags(struct twp_slot *s, uint32_t st, int cmd, long v)
{
	if (!(st & TWP_S_FLAGS) || st & TWP_S_PRIVATE)
		return -1;
	int nb = !!(st & TWP_S_NONBLOCK), ce = !!(st & TWP_S_CLOEXEC);
	switch (cmd) {
	case F_GETFL:
		return O_RDWR | (nb ? O_NONBLOCK : 0);
	case F_SETFL:
		if (v & ~(long)(O_NONBLOCK | O_ACCMODE))
			return -1;
		if (!!(v & O_NONBLOCK) == nb)
			return 0;
		if (st & TWP_S_PROVISIONAL) { /* the socket catches up at connect() */
			if (v & O_NONBLOCK)
				twp_slot_set(s, TWP_S_NONBLOCK);
			else
				twp_slot_clear(s, TWP_S_NONBLOCK);
			return 0;
		}
		return -1;
	case F_GETFD:
		return ce ? FD_CLOEXEC : 0;
	case F_SETFD:
		return (v & ~(long)FD_CLOEXEC) == 0 && !!(v & FD_CLOEXEC) == ce ? 0 : -1;
	}
	return -1;
}

int twp_conn_fcntl(int fd, int cmd, void *arg)
{
	struct twp_slot *s = twp_slot(fd);
	long v = (long)arg;
	uint32_t st = atomic_load(&s->st);
	int known = st & TWP_S_PARKED ? -1 : known_flags(s, st, cmd, v);
	if (known >= 0)
		return known;
	if (cmd != F_SETFL && cmd != F_SETFD && twp_conn_unpark(fd, s) < 0)
		return -1;
	if (st & TWP_S_PARKED) {
		errno = EBADF;
		return -1;
	}
	int r = twp_real.fcntl(fd, cmd, arg);
	if (r < 0 || st & TWP_S_PRIVATE)
		return r;
	switch (cmd) {
	case F_SETFL:
		if (v & O_NONBLOCK)
			twp_slot_set(s, TWP_S_NONBLOCK);
		else
			twp_slot_clear(s, TWP_S_NONBLOCK);
		if (st & TWP_S_PROVISIONAL)
			s->conn->nonblock = !!(v & O_NONBLOCK);
		if (v & O_ASYNC) /* signal-driven I/O belongs to this owner */
			twp_slot_nopool(s, TWP_R_SHARED);
		break;
	case F_SETFD:
		if (v & FD_CLOEXEC)
			twp_slot_set(s, TWP_S_CLOEXEC);
		else
			twp_slot_clear(s, TWP_S_CLOEXEC);
		if (st & TWP_S_PROVISIONAL)
			s->conn->cloexec = !!(v & FD_CLOEXEC);
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
	struct twp_slot *s = twp_slot(fd);
	if (twp_conn_unpark(fd, s) < 0)
		return -1;
	int r = twp_real.ioctl(fd, req, arg);
	uint32_t st = atomic_load(&s->st);
	if (r < 0 || st & TWP_S_PRIVATE)
		return r;
	if (req == FIONBIO && arg) {
		if (*(int *)arg)
			twp_slot_set(s, TWP_S_NONBLOCK);
		else
			twp_slot_clear(s, TWP_S_NONBLOCK);
	}
	if (req == FIOCLEX)
		twp_slot_set(s, TWP_S_CLOEXEC);
	if (req == FIONCLEX)
		twp_slot_clear(s, TWP_S_CLOEXEC);
	if (req == FIOASYNC || req == FIOSETOWN || req == SIOCSPGRP)
		twp_slot_nopool(s, TWP_R_SHARED);
	return r;
}

/* Two names for one socket: neither may be parked, nor handed a pooled
 * connection (that would replace the socket under one name only). */
void twp_conn_dup(int oldfd, int newfd)
{
	struct twp_slot *os = twp_slot(oldfd), *ns = twp_slot(newfd);
	uint32_t ost = os ? atomic_load(&os->st) : 0;
	if (ost & TWP_S_PRIVATE || newfd == oldfd)
		return;
	if (os)
		twp_slot_nopool(os, TWP_R_SHARED);
	if (ns) {
		twp_slot_reset(ns);
		if (ost & (TWP_S_SOCK | TWP_S_TRACKED)) {
			twp_slot_nopool(ns, TWP_R_SHARED);
			twp_slot_set(ns, TWP_S_SOCK);
			twp_fdtab_note(newfd);
		}
	}
}

int twp_conn_dup_of(int oldfd)
{
	struct twp_slot *s = twp_slot(oldfd);
	if (twp_conn_unpark(oldfd, s) < 0)
		return -1;
	int r = twp_real.dup(oldfd);
	if (r >= 0)
		twp_conn_dup(oldfd, r);
	return r;
}

/* Moves the shim's connection at fd (private, or parked in place) out of
 * the way of a dup2() onto that number, or lets it go. */
static void evacuate(int fd, struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	int moved = twp_real.fcntl(fd, F_DUPFD_CLOEXEC, twp_priv_base);
	struct twp_slot *ms = twp_slot(moved);
	if (!ms) { /* no room: let the connection go */
		if (moved >= 0)
			twp_real.close(moved);
		twp_conn_close_private(fd, s);
		return;
	}
	twp_slot_reset(s);
	c->fd = moved;
	c->inplace = 0;
	c->cloexec = 1;
	ms->conn = c;
	atomic_store(&ms->st, TWP_S_PRIVATE);
	twp_fdtab_note(moved);
}

int twp_conn_dup3(int oldfd, int newfd, int flags)
{
	struct twp_slot *os = twp_slot(oldfd), *ns = twp_slot(newfd);
	if (os && twp_conn_unpark(oldfd, os) < 0)
		return -1;
	if (oldfd == newfd || !ns)
		return flags < 0 ? twp_real.dup2(oldfd, newfd) : twp_real.dup3(oldfd, newfd, flags);
	int saved = errno;
	uint32_t nst = atomic_load(&ns->st);
	if (nst & TWP_S_PROVISIONAL) /* its idle connection goes back to the pool */
		twp_conn_materialize(newfd, ns, TWP_R_NONE);
	if (nst & (TWP_S_PRIVATE | TWP_S_PARKED))
		evacuate(newfd, ns);
	errno = saved;
	int r = flags < 0 ? twp_real.dup2(oldfd, newfd) : twp_real.dup3(oldfd, newfd, flags);
	if (r < 0)
		return r;
	saved = errno;
	if (nst & TWP_S_TRACKED && ns->conn) { /* dup2 closed the program's fd */
		struct twp_conn *c = ns->conn;
		ns->conn = NULL;
		twp_conn_discard_inuse(c, newfd, TWP_R_SHARED);
	}
	twp_conn_dup(oldfd, newfd);
	errno = saved;
	return r;
}

int twp_conn_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (st & TWP_S_PARKED) {
		errno = EBADF;
		return -1;
	}
	int r = twp_real.epoll_ctl(epfd, op, fd, ev);
	if (r == 0 && !(st & TWP_S_PRIVATE)) {
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
		if (st & (TWP_S_PRIVATE | TWP_S_PARKED)) {
			twp_conn_forget_fd(s);
		} else if (st & (TWP_S_TRACKED | TWP_S_PROVISIONAL) && s->conn) {
			struct twp_conn *c = s->conn;
			s->conn = NULL;
			twp_slot_reset(s);
			twp_conn_discard_inuse(c, (int)fd, TWP_R_CLOSE_RANGE);
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
	struct twp_conn *c = st & (TWP_S_TRACKED | TWP_S_PROVISIONAL) ? s->conn : NULL;
	twp_epoll_forget(fd, s->ep);
	if (st & (TWP_S_PRIVATE | TWP_S_PARKED))
		twp_conn_forget_fd(s);
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
