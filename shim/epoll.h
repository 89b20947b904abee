/* epoll.h - the program's epoll registrations of watched sockets.
 *
 * A registration belongs to the open socket, not to the fd number: when a
 * connection is parked, its registrations in the program's epoll sets would
 * outlive the program's close(), and when a pooled connection replaces the
 * socket under an fd the program had already registered, the registration
 * would be lost. The shim records them per fd to remove and re-add them. */
#ifndef TWP_EPOLL_H
#define TWP_EPOLL_H

#include <sys/epoll.h>

#define TWP_EPOLL_MAX 4 /* epoll sets one socket may be in and still pool */

struct twp_epolls {
	int n;
	struct { int epfd; struct epoll_event ev; } reg[TWP_EPOLL_MAX];
};

/* Records a successful epoll_ctl(epfd, op, fd, ev) in *eps (allocated on
 * first use). Returns -1 when the socket can no longer be pooled. */
int twp_epoll_note(struct twp_epolls **eps, int epfd, int op, const struct epoll_event *ev);

/* Removes fd from every epoll set it was registered in (before parking). */
void twp_epoll_forget(int fd, const struct twp_epolls *eps);

/* Registers fd again in every recorded set (after a pooled connection took
 * its place). 0, or -errno of the first failure. */
int twp_epoll_restore(int fd, const struct twp_epolls *eps);

#endif
