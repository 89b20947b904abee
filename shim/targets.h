/* targets.h - the allow-list: is this destination one to pool? */
#ifndef TWP_TARGETS_H
#define TWP_TARGETS_H

#include "config.h"
#include "key.h"

/* 1 if k matches an entry of c's allow-list, else 0. Never waits: a
 * host-name entry matches the addresses of its last successful lookup,
 * and nothing until then (resolver.h says when names are looked up). */
int twp_targets_match(const struct twp_config *c, const struct twp_key *k);

/* The first entry of c's allow-list that k matches (its protocol is the
 * connection's), or NULL; same rules as twp_targets_match. */
const struct twp_spec *twp_targets_find(const struct twp_config *c, const struct twp_key *k);

/* Waits until no lookup started by this process is in flight (tests). */
void twp_targets_wait(void);

/* Waits likewise, then forgets every name (tests). */
void twp_targets_reset(void);

#endif
