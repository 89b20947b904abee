/* fdtab.c - the per-fd state array and its kind changes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "fdtab.h"
#include "real.h"

_Static_assert(sizeof(struct twp_slot) == 32, "a slot is 32 bytes: half a cache line");

/* Largest fd number the shim tracks: 1 Mi slots of 32 bytes is 32 MiB of
 * address space, mapped lazily by the kernel as fds are used. */
#define TWP_FDTAB_MAX (1u << 20)

struct twp_slot *twp_fdtab;
unsigned twp_fdtab_size;
unsigned twp_fdtab_high;

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

static void note_high(int fd)
{
	unsigned cur = __atomic_load_n(&twp_fdtab_high, __ATOMIC_RELAXED);
	while ((unsigned)fd >= cur &&
	       !__atomic_compare_exchange_n(&twp_fdtab_high, &cur, (unsigned)fd + 1, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void publish(int fd, struct twp_slot *s, uint32_t st)
{
	atomic_store_explicit(&s->st, st, memory_order_release);
	if (st)
		note_high(fd);
}

static void free_records(struct twp_slot *s)
{
	s->why = 0;
	free(s->opts);
	s->opts = NULL;
	free(s->ep);
	s->ep = NULL;
}

void twp_slot_reset(struct twp_slot *s)
{
	free_records(s);
	s->conn = NULL;
	atomic_store_explicit(&s->st, 0, memory_order_release);
}

void twp_slot_to_sock(int fd, struct twp_slot *s, uint32_t bits)
{
	s->why = 0;
	s->conn = NULL;
	publish(fd, s, TWP_FD_SOCK | (bits & ~TWP_KIND_MASK));
}

void twp_slot_to_conn(int fd, struct twp_slot *s, enum twp_kind kind, struct twp_conn *c,
		      uint32_t bits)
{
	s->why = 0;
	s->conn = c;
	publish(fd, s, (uint32_t)kind | (bits & ~TWP_KIND_MASK));
}

void twp_slot_to_idle(int fd, struct twp_slot *s, enum twp_kind kind, struct twp_conn *c)
{
	free_records(s);
	s->conn = c;
	publish(fd, s, (uint32_t)kind);
}

void twp_slot_nopool(struct twp_slot *s, unsigned reason)
{
	if (!(atomic_load_explicit(&s->st, memory_order_relaxed) & TWP_S_NOPOOL))
		s->why = (uint16_t)reason;
	twp_slot_set(s, TWP_S_NOPOOL);
}

uint32_t twp_fd_flags(int fd, uint32_t st)
{
	if (st & TWP_S_FLAGS)
		return st & (TWP_S_FLAGS | TWP_S_NONBLOCK | TWP_S_CLOEXEC);
	int fl = twp_real.fcntl(fd, F_GETFL), fdfl = twp_real.fcntl(fd, F_GETFD);
	if (fl < 0 || fdfl < 0)
		return 0;
	return twp_fdflags(fl & O_NONBLOCK, fdfl & FD_CLOEXEC);
}
