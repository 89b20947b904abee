/* replay.h - stale-safe reuse.
 *
 * A connection taken from the pool may have been closed by the server a
 * moment before (its keep-alive timer fired, it restarted). Until the first
 * reply byte arrives, the bytes the program writes are kept; if the
 * connection then fails (EOF or reset on read, EPIPE or reset on write),
 * a fresh connection takes its place under the program's fd, the kept bytes
 * are sent again, and the program's call is made again on it. Once per use;
 * never on a fresh connection, never after a reply byte arrived. */
#ifndef TWP_REPLAY_H
#define TWP_REPLAY_H

#include <sys/types.h>

#include "fdtab.h"
#include "io.h"

/* An I/O call on an armed fd (TWP_S_ARMED). Same contract as the call;
 * the caller notes what it did. */
ssize_t twp_replay_io(struct twp_slot *s, const struct twp_io *io);

#endif
