/* fdtab.c - the per-fd state array. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "fdtab.h"

/* Largest fd number the shim tracks: 1 Mi slots of 32 bytes is 32 MiB of
 * address space, mapped lazily by the kernel as fds are used. */
#define TWP_FDTAB_MAX (1u << 20)

struct twp_slot *twp_fdtab;
unsigned twp_fdtab_size;

int twp_fdtab_init(void)
{
	struct rlimit rl;
	rlim_t n = TWP_FDTAB_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n)
		n = rl.rlim_max;
	void *p = mmap(NULL, n * sizeof(struct twp_slot), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	twp_fdtab = p;
	twp_fdtab_size = (unsigned)n;
	return 0;
}

/* The fields first, the state last with release: the thread that gets this
 * fd number next (after a close, from socket() or a private dup) reads the
 * state with acquire before touching the fields. */
void twp_slot_reset(struct twp_slot *s)
{
	s->why = 0;
	s->conn = NULL;
	free(s->opts);
	s->opts = NULL;
	free(s->ep);
	s->ep = NULL;
	atomic_store_explicit(&s->st, 0, memory_order_release);
}

unsigned twp_fdtab_high;

void twp_fdtab_note(int fd)
{
	unsigned cur = __atomic_load_n(&twp_fdtab_high, __ATOMIC_RELAXED);
	while ((unsigned)fd >= cur &&
	       !__atomic_compare_exchange_n(&twp_fdtab_high, &cur, (unsigned)fd + 1, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void twp_slot_nopool(struct twp_slot *s, unsigned reason)
{
	if (!(atomic_load_explicit(&s->st, memory_order_relaxed) & TWP_S_NOPOOL))
		s->why = (uint16_t)reason;
	twp_slot_set(s, TWP_S_NOPOOL);
}
