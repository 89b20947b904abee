/* init.h - turning the shim on, once, and the last word at exit. */
#ifndef TWP_INIT_H
#define TWP_INIT_H

#include "config.h"

/* Parses the environment and turns the shim on; runs once, from the
 * constructor in hooks.c. Until then every hook passes through. */
void twp_init(void);

/* At exit: the last write of the stats file; idle connections to the
 * broker, if any. */
void twp_fini(void);

/* Applies cfg as if it came from the environment (unit tests). */
int twp_init_with(const struct twp_config *cfg);

#endif
