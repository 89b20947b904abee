/* fdops.c - the other calls on a watched fd (see fdops.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "close.h"
#include "conn.h"
#include "epoll.h"
#include "fdops.h"
#include "mysql_login.h"
#include "fdtab.h"
#include "privfd.h"
#include "provisional.h"
#include "real.h"
#include "sockopt.h"

/* Two names for one socket: neither may be parked, nor handed a pooled
 * connection (that would replace the socket under one name only). */
static void name_twice(int oldfd, int newfd)
{
	struct twp_slot *os = twp_slot(oldfd), *ns = twp_slot(newfd);
	uint32_t ost = os ? atomic_load(&os->st) : 0;
	if (twp_kind(ost) == TWP_FD_PRIVATE || newfd == oldfd)
		return;
	if (os)
		twp_slot_nopool(os, TWP_R_SHARED);
	if (twp_kind(ost) == TWP_FD_TRACKED)
		twp_myl_duplicated(os);
	if (!ns)
		return;
	twp_slot_reset(ns);
	if (twp_kind(ost) == TWP_FD_SOCK || twp_kind(ost) == TWP_FD_TRACKED) {
		twp_slot_to_sock(newfd, ns, 0);
		twp_slot_nopool(ns, TWP_R_SHARED);
	}
}

int twp_fdops_shutdown(int fd, int how)
{
	struct twp_slot *s = twp_slot(fd);
	if (twp_unpark(fd, s) < 0)
		return -1;
	twp_slot_set(s, TWP_S_SHUT);
	return twp_real.shutdown(fd, how);
}

int twp_fdops_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct twp_slot *s = twp_slot(fd);
	if (twp_unpark(fd, s) < 0)
		return -1;
	twp_slot_nopool(s, TWP_R_SOCKOPT);
	return twp_real.bind(fd, sa, len);
}

int twp_fdops_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (twp_parked_ebadf(st) < 0)
		return -1;
	if (twp_kind(st) == TWP_FD_PRIVATE)
		return twp_real.setsockopt(fd, level, name, val, len);
	if (twp_kind(st) == TWP_FD_PROVISIONAL && !twp_sockopt_reusable(level, name)) {
		if (twp_unpark(fd, s) < 0)
			return -1;
		st = atomic_load(&s->st);
	}
	int unpoolable = 0;
	struct twp_opts **opts = twp_kind(st) == TWP_FD_SOCK ? &s->opts : &s->conn->opts;
	int r = twp_sockopt_set(twp_myl_sock(fd), opts, level, name, val, len, &unpoolable);
	if (unpoolable)
		twp_slot_nopool(s, TWP_R_SOCKOPT);
	return r;
}

int twp_fdops_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (twp_parked_ebadf(st) < 0)
		return -1;
	if (twp_kind(st) == TWP_FD_PROVISIONAL && twp_sockopt_get(s->conn->opts, level, name, val, len))
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
	return twp_real.getsockopt(twp_myl_sock(fd), level, name, val, len);
}

/* fcntl's flag queries and no-op changes, answered from the slot: event
 * loops ask and set O_NONBLOCK on every new socket. -1 if not answered. */
static int known_flags(struct twp_slot *s, uint32_t st, int cmd, long v)
{
	if (!(st & TWP_S_FLAGS) || twp_kind_idle(st))
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
		if (twp_kind(st) == TWP_FD_PROVISIONAL) { /* the socket catches up at connect() */
			twp_slot_put(s, TWP_S_NONBLOCK, v & O_NONBLOCK);
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

int twp_fdops_fcntl(int fd, int cmd, void *arg)
{
	struct twp_slot *s = twp_slot(fd);
	long v = (long)arg;
	uint32_t st = atomic_load(&s->st);
	if (twp_parked_ebadf(st) < 0)
		return -1;
	int known = known_flags(s, st, cmd, v);
	if (known >= 0)
		return known;
	if (cmd != F_SETFL && cmd != F_SETFD && twp_unpark(fd, s) < 0)
		return -1;
	int r = twp_real.fcntl(fd, cmd, arg);
	if (r < 0 || twp_kind(st) == TWP_FD_PRIVATE)
		return r;
	switch (cmd) {
	case F_SETFL:
		twp_slot_put(s, TWP_S_NONBLOCK, v & O_NONBLOCK);
		if (twp_kind(st) == TWP_FD_PROVISIONAL)
			s->conn->nonblock = !!(v & O_NONBLOCK);
		if (v & O_ASYNC) /* signal-driven I/O belongs to this owner */
			twp_slot_nopool(s, TWP_R_SHARED);
		break;
	case F_SETFD:
		twp_slot_put(s, TWP_S_CLOEXEC, v & FD_CLOEXEC);
		if (twp_kind(st) == TWP_FD_PROVISIONAL)
			s->conn->cloexec = !!(v & FD_CLOEXEC);
		break;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		name_twice(fd, r);
		break;
	case F_SETOWN:
	case F_SETOWN_EX:
	case F_SETSIG:
		twp_slot_nopool(s, TWP_R_SHARED);
		break;
	}
	return r;
}

/* FIONBIO is F_SETFL of O_NONBLOCK alone, answered the same way: Python
 * sets it on every socket before connect (setblocking, settimeout), and a
 * provisional socket turned fresh by it would leave the pool's socket at a
 * private fd, swapped in with socket, dup3 and close every use. Only where
 * the slot's O_NONBLOCK is surely the kernel's: not once the file may be
 * shared (dup, fork), whose changes of it the slot never sees. */
static int fionbio_known(struct twp_slot *s, int on)
{
	uint32_t st = atomic_load(&s->st);
	if (twp_kind(st) == TWP_FD_TRACKED
	    ? (st & TWP_S_NOPOOL) || twp_conn_maybe_shared(s->conn)
	    : twp_kind(st) != TWP_FD_PROVISIONAL)
		return -1;
	return known_flags(s, st, F_SETFL, on ? O_NONBLOCK : 0);
}

int twp_fdops_ioctl(int fd, unsigned long req, void *arg)
{
	struct twp_slot *s = twp_slot(fd);
	if (req == FIONBIO && arg && fionbio_known(s, *(int *)arg) == 0)
		return 0;
	if (twp_unpark(fd, s) < 0)
		return -1;
	int r = twp_real.ioctl(fd, req, arg);
	if (r < 0 || twp_kind(atomic_load(&s->st)) == TWP_FD_PRIVATE)
		return r;
	if (req == FIONBIO && arg)
		twp_slot_put(s, TWP_S_NONBLOCK, *(int *)arg);
	if (req == FIOCLEX)
		twp_slot_set(s, TWP_S_CLOEXEC);
	if (req == FIONCLEX)
		twp_slot_clear(s, TWP_S_CLOEXEC);
	if (req == FIOASYNC || req == FIOSETOWN || req == SIOCSPGRP)
		twp_slot_nopool(s, TWP_R_SHARED);
	return r;
}

int twp_fdops_dup(int oldfd)
{
	struct twp_slot *s = twp_slot(oldfd);
	if (twp_unpark(oldfd, s) < 0)
		return -1;
	int r = twp_real.dup(oldfd);
	if (r >= 0)
		name_twice(oldfd, r);
	return r;
}

/* Moves the shim's connection at fd (private, or parked in place) out of
 * the way of a dup2() onto that number, or lets it go. */
static void evacuate(int fd, struct twp_slot *s)
{
	if (twp_privfd_move(fd, s->conn, 0) != TWP_R_NONE) {
		twp_close_idle(fd, s);
		return;
	}
	twp_slot_reset(s);
}

int twp_fdops_dup3(int oldfd, int newfd, int flags)
{
	struct twp_slot *os = twp_slot(oldfd), *ns = twp_slot(newfd);
	if (os && twp_unpark(oldfd, os) < 0)
		return -1;
	if (oldfd == newfd || !ns)
		return flags < 0 ? twp_real.dup2(oldfd, newfd) : twp_real.dup3(oldfd, newfd, flags);
	int saved = errno;
	uint32_t nst = atomic_load(&ns->st);
	if (twp_kind(nst) == TWP_FD_PROVISIONAL) /* its idle connection goes back to the pool */
		twp_prov_materialize(newfd, ns, TWP_R_NONE);
	if (twp_kind_idle(nst))
		evacuate(newfd, ns);
	errno = saved;
	int r = flags < 0 ? twp_real.dup2(oldfd, newfd) : twp_real.dup3(oldfd, newfd, flags);
	if (r < 0)
		return r;
	saved = errno;
	if (twp_kind(nst) == TWP_FD_TRACKED && ns->conn) { /* dup2 closed the program's fd */
		struct twp_conn *c = ns->conn;
		ns->conn = NULL;
		twp_conn_discard_inuse(c, newfd, TWP_R_SHARED);
	}
	name_twice(oldfd, newfd);
	errno = saved;
	return r;
}

int twp_fdops_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	if (twp_parked_ebadf(st) < 0)
		return -1;
	int r = twp_real.epoll_ctl(epfd, op, fd, ev);
	if (r == 0 && twp_kind(st) != TWP_FD_PRIVATE) {
		int saved = errno;
		if (twp_epoll_note(&s->ep, epfd, op, ev) < 0)
			twp_slot_nopool(s, TWP_R_EPOLL);
		errno = saved;
	}
	return r;
}

