/* privfd.c - the budget and the moves of the shim's own fds. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "privfd.h"
#include "real.h"

/* Written once at start, before the hooks turn on. */
static int base, budget;
static _Atomic int used;

void twp_privfd_limits(void)
{
	struct rlimit rl;
	rlim_t cur = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cur = rl.rlim_cur;
	base = cur >= 2048 ? 1024 : (int)(cur / 2);
	budget = (int)(cur / 4);
}

int twp_privfd_reserve(void)
{
	if (atomic_fetch_add(&used, 1) < budget)
		return 0;
	atomic_fetch_sub(&used, 1);
	return -1;
}

void twp_privfd_release(void)
{
	atomic_fetch_sub(&used, 1);
}

enum twp_reason twp_privfd_move(int fd, struct twp_conn *c, int reserve)
{
	if (reserve && twp_privfd_reserve() < 0)
		return TWP_R_FDLIMIT;
	int priv = twp_real.fcntl(fd, F_DUPFD_CLOEXEC, base);
	struct twp_slot *ps = twp_slot(priv);
	if (!ps) {
		if (priv >= 0)
			twp_real.close(priv);
		if (reserve)
			twp_privfd_release();
		return TWP_R_FDLIMIT;
	}
	c->fd = priv;
	c->inplace = 0;
	c->cloexec = 1;
	twp_slot_to_idle(priv, ps, TWP_FD_PRIVATE, c);
	return TWP_R_NONE;
}

int twp_privfd_place(int fd)
{
	if (twp_privfd_reserve() < 0) {
		twp_real.close(fd);
		return -1;
	}
	int priv = twp_real.fcntl(fd, F_DUPFD_CLOEXEC, base);
	struct twp_slot *ps = twp_slot(priv);
	twp_real.close(fd);
	if (!ps) {
		if (priv >= 0)
			twp_real.close(priv);
		twp_privfd_release();
		return -1;
	}
	twp_slot_to_idle(priv, ps, TWP_FD_PRIVATE, NULL);
	return priv;
}

void twp_privfd_drop(int fd)
{
	struct twp_slot *ps = twp_slot(fd);
	uint32_t st = ps ? atomic_load(&ps->st) : 0;
	if (twp_kind(st) != TWP_FD_PRIVATE || ps->conn)
		return;
	int saved = errno;
	twp_slot_reset(ps);
	twp_real.close(fd);
	twp_privfd_release();
	errno = saved;
}

void twp_privfd_close(struct twp_conn *c)
{
	if (c->fd < 0)
		return;
	struct twp_slot *ps = twp_slot(c->fd);
	if (ps)
		twp_slot_reset(ps);
	twp_real.close(c->fd);
	twp_privfd_release();
	c->fd = -1;
}

struct twp_conn *twp_privfd_forget(struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	twp_slot_reset(s);
	twp_privfd_release();
	if (c)
		c->fd = -1;
	return c;
}
