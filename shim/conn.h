/* conn.h - the life of a pooled connection, driven by the hooks.
 *
 * Each function is called by a hook only for a fd the shim watches (or, for
 * connect, while the shim is on) and keeps the libc contract of the call it
 * stands for: its return value, and errno set only on failure. */
#ifndef TWP_CONN_H
#define TWP_CONN_H

#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fdtab.h"
#include "io.h"
#include "pool.h"

/* After a successful socket(): starts watching a TCP socket. */
void twp_conn_socket(int fd, int domain, int type);

/* connect(): hands over a pooled connection or connects for real. */
int twp_conn_connect(int fd, const struct sockaddr *sa, socklen_t len);

/* close(): parks a clean connection, closes anything else for real. */
int twp_conn_close(int fd);

/* A read/write-family call on a tracked fd: made, and its outcome noted. */
ssize_t twp_conn_io(const struct twp_io *io);

/* Notes what call io did (r, with errno err) in the slot's state bits. */
void twp_conn_note(struct twp_slot *s, const struct twp_io *io, ssize_t r, int err);

/* Closes c's private fd, if it has one. */
void twp_conn_drop_private(struct twp_conn *c);

int twp_conn_shutdown(int fd, int how);
int twp_conn_bind(int fd, const struct sockaddr *sa, socklen_t len);
int twp_conn_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int twp_conn_fcntl(int fd, int cmd, void *arg);
int twp_conn_ioctl(int fd, unsigned long req, void *arg);

/* dup()/F_DUPFD gave newfd, a second name for oldfd's socket. */
void twp_conn_dup(int oldfd, int newfd);
/* dup2()/dup3() (flags < 0 means dup2). */
int twp_conn_dup3(int oldfd, int newfd, int flags);

/* epoll_ctl() on a watched fd: keeps the registration on record. */
int twp_conn_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);

/* Bulk closes: the shim's bookkeeping for every fd in the range first. */
int twp_conn_close_range(unsigned first, unsigned last, int flags);
void twp_conn_closefrom(int lowfd);

/* fclose() of a stream whose fd (fd) the shim watches. */
int twp_conn_fclose(FILE *fp, int fd);

/* Closes idle connections past their time and rewrites the stats file
 * when their intervals are due. Cheap when nothing is due. */
void twp_conn_tick(void);

/* In a forked child: the pool starts empty, the parent's idle fds are let
 * go without a FIN (the parent still holds them). */
void twp_conn_atfork_child(void);

#endif
