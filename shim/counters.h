/* counters.h - a target's counters, the figures of the stats file and of
 * the host-wide segment (hoststats.h).
 *
 * Each counter is this process's count plus, once the target is bound to
 * the host segment, a pointer to the same counter there: one relaxed
 * atomic add on a shared page more. Any thread bumps them; readers take
 * a snapshot that need not be consistent across counters. */
#ifndef TWP_COUNTERS_H
#define TWP_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"
#include "stats.h"

/* Connect failures by errno (the errno label of
 * twpool_connect_failures_total); names in twp_cf_name. */
enum twp_cf { TWP_CF_EADDRNOTAVAIL, TWP_CF_ECONNREFUSED, TWP_CF_ETIMEDOUT, TWP_CF_OTHER, TWP_CF_COUNT };

struct twp_ctr {
	_Atomic uint64_t n;		   /* this process */
	_Atomic(_Atomic uint64_t *) host; /* the host segment's, or NULL */
};

/* The counters as named fields and as one array, in this order (the
 * host segment keeps the array). */
enum {
	TWP_C_REUSED, TWP_C_FRESH, TWP_C_PARKED, TWP_C_CLOSED, TWP_C_REPLAYS_OK, TWP_C_REPLAYS_FAILED,
	TWP_C_DISCARDS,
	TWP_C_FAILED = TWP_C_DISCARDS + TWP_R_COUNT,
	TWP_C_COUNT = TWP_C_FAILED + TWP_CF_COUNT
};

struct twp_counters {
	union {
		struct {
			struct twp_ctr reused, fresh, parked, closed, replays_ok, replays_failed;
			struct twp_ctr discards[TWP_R_COUNT];
			struct twp_ctr failed[TWP_CF_COUNT];
		};
		struct twp_ctr c[TWP_C_COUNT];
	};
	/* Index of the target in the host segment plus one; 0: not bound.
	 * Written once by twp_stats_bind, before the host pointers. */
	_Atomic int host;
};

_Static_assert(sizeof(((struct twp_counters *)0)->c) ==
		       offsetof(struct twp_counters, failed) + TWP_CF_COUNT * sizeof(struct twp_ctr),
	       "named counters and the array overlap exactly");

static inline uint64_t twp_ctr_get(const struct twp_ctr *ctr)
{
	return atomic_load_explicit(&ctr->n, memory_order_relaxed);
}

/* Adds one, here and host-wide, and notes that the stats file is worth
 * writing again. */
static inline void twp_count(struct twp_ctr *ctr)
{
	_Atomic uint64_t *host = atomic_load_explicit(&ctr->host, memory_order_relaxed);
	atomic_fetch_add_explicit(&ctr->n, 1, memory_order_relaxed);
	if (host)
		atomic_fetch_add_explicit(host, 1, memory_order_relaxed);
	twp_stats_touch();
}

#endif
