/* init.h - the shim's process-wide state and its initialisation. */
#ifndef TWP_INIT_H
#define TWP_INIT_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

extern struct twp_config twp_cfg __attribute__((visibility("hidden")));

/* Bumped by every fork, vfork, posix_spawn, system and popen: a connection
 * handed out before a child was made may be shared with it and is never
 * parked (twpool_discards_total{reason="shared"}). */
extern _Atomic uint64_t twp_spawn_gen __attribute__((visibility("hidden")));

/* Private fds: placed at or above twp_priv_base, at most twp_priv_max at
 * once, so a program near RLIMIT_NOFILE keeps its fds. */
extern int twp_priv_base __attribute__((visibility("hidden")));
extern int twp_priv_max __attribute__((visibility("hidden")));
extern _Atomic int twp_priv_count __attribute__((visibility("hidden")));

/* Parses the environment and turns the shim on; runs once, from the
 * constructor in hooks.c. Until then every hook passes through. */
void twp_init(void);

/* The fork handlers: the pool lock held across the fork; in the child the
 * pool starts empty and connections in use are never parked. */
void twp_atfork_prepare(void);
void twp_atfork_parent(void);
void twp_atfork_child(void);

/* At exit: the last write of the stats file. */
void twp_fini(void);

/* Applies cfg as if it came from the environment (unit tests). */
int twp_init_with(const struct twp_config *cfg);

#endif
