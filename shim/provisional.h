/* provisional.h - an idle connection handed back by socket().
 *
 * A connection parked in place sits at a number the program closed. The
 * next socket() of its family hands it straight back (no system call), as
 * a PROVISIONAL fd: if the program connects it to the same target it is the
 * program's (connect.c); any other use first turns it into the fresh,
 * unconnected socket the program asked for, and the connection goes back
 * to the pool under a private fd. */
#ifndef TWP_PROVISIONAL_H
#define TWP_PROVISIONAL_H

#include "fdtab.h"
#include "reason.h"

/* socket(): the most recently parked connection of the family if it is
 * parked in place, as the new socket. Its fd, or -1: make a real socket. */
int twp_prov_socket(int domain, int type, int protocol);

/* Turns provisional fd into a fresh unconnected socket; its connection
 * goes back to the pool (why TWP_R_NONE) or is discarded for why. 0, or
 * -1 with errno. */
int twp_prov_materialize(int fd, struct twp_slot *s, enum twp_reason why);

/* Before a call the program makes on a watched fd: -1 with EBADF for a
 * parked fd, a fresh socket for a provisional one. 0 when the call may go
 * on, with fd no longer PARKED or PROVISIONAL. */
int twp_unpark(int fd, struct twp_slot *s);

#endif
