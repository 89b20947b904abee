/* close.h - every way the program ends its use of an fd: close(), bulk
 * closes, fclose(), and a number found reused behind the shim's back.
 *
 * A clean connection the program closes is parked where it stands: at the
 * fd number the program closed, which the program now believes free (no
 * system call; provisional.h says how socket() hands it back). Connections
 * that cannot stay in place (fd 0-2, or one that already has a private
 * copy) are parked under a private fd; anything not clean is closed for
 * real and counted with its reason. */
#ifndef TWP_CLOSE_H
#define TWP_CLOSE_H

#include <stdio.h>

#include "fdtab.h"

/* close() of a watched fd. */
int twp_close(int fd);

/* The program closes an idle connection's fd (PARKED or PRIVATE) that it
 * believes closed already: the connection is let go; -1 with EBADF. */
int twp_close_idle(int fd, struct twp_slot *s);

/* fd came back from a call the shim did not see make it (socket(),
 * a dup): whatever the slot held is let go before it is reused. */
void twp_close_behind_back(int fd, struct twp_slot *s);

/* Puts socket standin (left open: the caller's; O_NONBLOCK as standin_nb
 * says) under fd, the program's
 * TRACKED connection, and parks the connection as if the program had
 * closed fd: goodbye.c's end of a connection. Without must, only a
 * connection fit to be parked; with must, any, the others closed for
 * real. 0, or -1 when fd is left as it was (not fit, a call in flight on
 * fd, the swap failed). */
int twp_close_handover(int fd, struct twp_slot *s, int standin, int standin_nb, int must);

/* At exit: closes (parks) the program's clean connections still open. */
void twp_close_all_clean(void);

/* Bulk closes: the shim's bookkeeping for every fd in the range first. */
int twp_close_range(unsigned first, unsigned last, int flags);
void twp_closefrom(int lowfd);

/* fclose() of a stream whose fd (fd) the shim watches. */
int twp_close_stream(FILE *fp, int fd);

#endif
