/* fdops.h - everything else a program does to a watched fd: options,
 * flags, duplicates, epoll sets, half-closes, bind.
 *
 * A parked fd is closed, to the program: these calls fail on it with
 * EBADF. A provisional fd first becomes the fresh socket the program asked
 * for, unless the call only reads or sets what the shim keeps itself (fd
 * flags, socket options). Each keeps the libc contract of its call. */
#ifndef TWP_FDOPS_H
#define TWP_FDOPS_H

#include <sys/epoll.h>
#include <sys/socket.h>

int twp_fdops_shutdown(int fd, int how);
int twp_fdops_bind(int fd, const struct sockaddr *sa, socklen_t len);
int twp_fdops_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int twp_fdops_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int twp_fdops_fcntl(int fd, int cmd, void *arg);
int twp_fdops_ioctl(int fd, unsigned long req, void *arg);

/* dup() of a watched fd. */
int twp_fdops_dup(int oldfd);
/* dup2()/dup3() (flags < 0 means dup2). */
int twp_fdops_dup3(int oldfd, int newfd, int flags);

/* epoll_ctl() on a watched fd: keeps the registration on record. */
int twp_fdops_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);

#endif
