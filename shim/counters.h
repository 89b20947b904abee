/* counters.h - a target's counters, the figures of the stats file.
 *
 * Relaxed atomics: any thread bumps them; the stats writer reads a
 * snapshot that need not be consistent across counters. */
#ifndef TWP_COUNTERS_H
#define TWP_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "reason.h"
#include "stats.h"

struct twp_counters {
	_Atomic uint64_t reused, fresh, parked, closed, replays_ok, replays_failed;
	_Atomic uint64_t discards[TWP_R_COUNT];
};

/* Adds one, and notes that the stats file is worth writing again. */
static inline void twp_count(_Atomic uint64_t *ctr)
{
	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
	twp_stats_touch();
}

#endif
