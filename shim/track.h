/* track.h - the read/write family on a connection's fd: the call is made,
 * and what it did is noted in the slot's use bits (wrote, read, last call
 * a read, EOF, error), from which close() judges whether the connection
 * is clean. A reused connection's first exchange goes through replay.c. */
#ifndef TWP_TRACK_H
#define TWP_TRACK_H

#include <sys/types.h>

#include "io.h"

/* A read/write-family call on a TRACKED, PARKED or PROVISIONAL fd. Same
 * contract as the call it describes. */
ssize_t twp_track_io(const struct twp_io *io);

#endif
