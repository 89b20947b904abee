/* track.h - the calls that move a connection's bytes: the read/write
 * family, and the calls whose bytes the shim cannot copy (sendfile,
 * splice, copy_file_range, sendmmsg, recvmmsg). Each call is made, and
 * what it did is noted in the slot's use bits (wrote, read, last call a
 * read, EOF, error), from which close() judges whether the connection is
 * clean. A reused connection's first exchange goes through replay.c. */
#ifndef TWP_TRACK_H
#define TWP_TRACK_H

#include <sys/types.h>

#include "io.h"

/* A read/write-family call on a TRACKED, PARKED or PROVISIONAL fd. Same
 * contract as the call it describes. */
ssize_t twp_track_io(const struct twp_io *io);

/* Around a call that moves bytes of fd (out: towards the peer) that the
 * shim cannot copy. begin: -1 with errno when the call must fail (fd
 * parked or being closed), else a token for end. end: notes what the call
 * moved (r, errno err): the replay copy is dropped, since it can no longer
 * be whole, and a connection with a protocol codec is never pooled. */
int twp_track_blind_begin(int fd);
void twp_track_blind_end(int fd, int token, int out, ssize_t r, int err);

#endif
