/* stats.h - the stats file (TWPOOL_STATS), Prometheus text format. */
#ifndef TWP_STATS_H
#define TWP_STATS_H

#include <stddef.h>

/* Notes that a counter moved, so the exit-time write is worth doing. */
void twp_stats_touch(void);

/* Rewrites the stats file atomically (temp file + rename) if one is
 * configured. final: the exit-time write, done even when another thread is
 * writing. Keeps errno. */
void twp_stats_write(int final);

/* Renders the stats text into buf (NUL-terminated, cut at size); returns
 * the length it needed. For tests and for twp_stats_write. */
size_t twp_stats_render(char *buf, size_t size);

/* In a forked child: nothing to write until the child itself pools. */
void twp_stats_atfork_child(void);

#endif
