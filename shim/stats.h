/* stats.h - the stats file (TWPOOL_STATS), Prometheus text format, and
 * this process's part of the host-wide stats (hoststats.h). */
#ifndef TWP_STATS_H
#define TWP_STATS_H

#include <stddef.h>

struct twp_target;

/* Binds t's counters to its entry in the host segment (opened on first
 * use) unless done; returns t (NULL stays NULL), so that it wraps
 * twp_pool_target. */
struct twp_target *twp_stats_bind(struct twp_target *t);

/* Counts a real connect to t that failed at once, by errno; returns r
 * with errno kept. */
int twp_stats_connect_failed(struct twp_target *t, int r);

/* Counts a connect that passed through (counted: to an address not
 * listed, from a socket the shim saw made) if it started; returns r with
 * errno kept. */
int twp_stats_passthrough(int r, int counted);

/* Counts a refused configuration host-wide. Keeps errno. */
void twp_stats_config_error(void);

/* Counts a library loaded with RTLD_DEEPBIND, redirected to the shim or
 * not (twpool_deepbind_libraries_total). */
void twp_stats_deepbind(int redirected);

/* Notes that a counter moved: until then the process writes no stats
 * file, not even at exit. */
void twp_stats_touch(void);

/* At start: one warning if the stats file's directory is missing or not
 * writable. Keeps errno. */
void twp_stats_check(void);

/* Rewrites the stats file atomically if one is configured and a counter
 * moved: a complete temporary no other user can plant or redirect, renamed
 * over the file. final: the exit-time write, done even when another thread
 * is writing. A failure is warned about once per process. Keeps errno. */
void twp_stats_write(int final);

/* Renders the stats text into buf (NUL-terminated, cut at size); returns
 * the length it needed. For tests and for twp_stats_write. */
size_t twp_stats_render(char *buf, size_t size);

/* In a forked child: nothing to write until the child itself pools. */
void twp_stats_atfork_child(void);

#endif
