/* readiness.h - readiness calls that name the program's watched fds.
 *
 * poll(), ppoll() and select() are told about many fds at once. A parked
 * number is closed, to the program: poll reports POLLNVAL for it (and
 * returns at once, as the kernel does), select fails with EBADF. A
 * provisional fd first becomes the fresh socket the program asked for.
 * Fds the shim does not watch cost one table load each. */
#ifndef TWP_READINESS_H
#define TWP_READINESS_H

#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <time.h>

typedef int (*twp_poll_fn)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);

/* poll/ppoll: call(fds, n, timeout, sigmask) with parked entries answered
 * POLLNVAL. Same contract as the call. */
int twp_poll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
	     const sigset_t *sigmask, twp_poll_fn call);

/* select/pselect, before the call: -1 with EBADF when a set names a parked
 * number; provisional ones made fresh sockets. 0: make the call. */
int twp_select_check(int nfds, fd_set *r, fd_set *w, fd_set *e);

/* 1 when a *at() call with path and flags names its fd itself (AT_EMPTY_PATH
 * and an empty or NULL path). Out of line: the callers' path parameters
 * are declared nonnull, and a NULL check there would be optimised away. */
int twp_names_fd(const char *path, int flags);

#endif
