/* targets.h - the allow-list: is this destination one to pool? */
#ifndef TWP_TARGETS_H
#define TWP_TARGETS_H

#include "config.h"
#include "key.h"

/* 1 if k matches an entry of c's allow-list, else 0. Host-name entries for
 * k's port are resolved on first use, with no shim lock held; a name that
 * does not resolve matches nothing (and is logged once). */
int twp_targets_match(const struct twp_config *c, const struct twp_key *k);

/* Forgets resolved names (tests). */
void twp_targets_reset(void);

#endif
