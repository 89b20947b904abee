/* goodbye.h - ends the program sees that the server does not.
 *
 * A program that says goodbye (an HTTP request asking for the close, a
 * shutdown() after its last exchange) would cost a connection per use.
 * Instead the server is kept talking keep-alive, and at the moment the
 * program would see the end, a stand-in takes the connection's place under
 * its fd: one end of a socketpair whose other end is closed. The kernel
 * then answers every call as on a connection the peer closed: read() 0,
 * poll POLLIN|POLLHUP|POLLRDHUP, epoll EPOLLIN|EPOLLHUP, write() EPIPE.
 * The real connection is parked at that moment (close.c), and the
 * program's close() closes only the stand-in.
 *
 * The stand-in is an AF_UNIX socket: getpeername() gives AF_UNIX with an
 * empty path, TCP-level options fail with EOPNOTSUPP. Programs look at
 * neither after the end of a connection. */
#ifndef TWP_GOODBYE_H
#define TWP_GOODBYE_H

#include <sys/types.h>

#include "fdtab.h"
#include "io.h"

/* Makes a described call on a TRACKED slot (directly, or through replay). */
typedef ssize_t (*twp_issue_fn)(struct twp_slot *s, const struct twp_io *io);

/* A write on the TRACKED slot s: when its bytes carry (part of) an edit
 * that makes a request keep-alive, makes the call with the edit through
 * issue, feeds the codec what went out, stores in *r what the program is
 * told (its own bytes consumed) and returns 1 (errno as the call left it).
 * 0: nothing to edit, the caller makes the call as usual. */
int twp_goodbye_write(struct twp_slot *s, const struct twp_io *io, twp_issue_fn issue,
		      ssize_t *r);

/* The stand-in under fd, s's connection parked (or, with must and not
 * fit, closed): 0, or -1 with nothing changed. Keeps errno. */
int twp_goodbye_hand_over(int fd, struct twp_slot *s, int must);

/* After a read on fd: when it read the last byte of the response to a
 * request made keep-alive, the stand-in takes fd. Keeps errno. */
void twp_goodbye_after_read(int fd, struct twp_slot *s);

/* shutdown(fd, how) of a watched fd: 0 when it was emulated (SHUT_WR or
 * SHUT_RDWR of a TRACKED connection fit to be parked), -1 when the caller
 * makes the real call. Keeps errno. */
int twp_goodbye_shutdown(int fd, int how);

#endif
