/* clock.h - the shim's notion of now. */
#ifndef TWP_CLOCK_H
#define TWP_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds; the coarse clock is a vDSO read, no system call,
 * and its few-ms resolution is plenty for idle timeouts and stats ticks. */
static inline uint64_t twp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
