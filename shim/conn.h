/* conn.h - the life of a pooled connection, driven by the hooks.
 *
 * Each twp_conn_ entry point is called by a hook only for a fd the shim
 * watches (or, for socket and connect, while the shim is on) and keeps the
 * libc contract of the call it stands for: its return value, and errno set
 * only on failure. conn.c has the lifecycle, fdops.c the other calls. */
#ifndef TWP_CONN_H
#define TWP_CONN_H

#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fdtab.h"
#include "io.h"
#include "pool.h"

/* socket(): an idle connection parked in place, handed back as the new
 * socket (provisional until connect). Its fd, or -1: make a real socket. */
int twp_conn_socket_pooled(int domain, int type, int protocol);

/* After a real socket(): starts watching a TCP socket. */
void twp_conn_socket(int fd, int domain, int type);

/* connect(): a provisional or pooled connection, or a real connect. */
int twp_conn_connect(int fd, const struct sockaddr *sa, socklen_t len);

/* close(): parks a clean connection, closes anything else for real. */
int twp_conn_close(int fd);

/* A read/write-family call on a tracked, parked or provisional fd. */
ssize_t twp_conn_io(const struct twp_io *io);

/* Notes what call io did (r, with errno err) in the slot's state bits. */
void twp_conn_note(struct twp_slot *s, const struct twp_io *io, ssize_t r, int err);

int twp_conn_shutdown(int fd, int how);
int twp_conn_bind(int fd, const struct sockaddr *sa, socklen_t len);
int twp_conn_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int twp_conn_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int twp_conn_fcntl(int fd, int cmd, void *arg);
int twp_conn_ioctl(int fd, unsigned long req, void *arg);

/* dup() of a watched fd. */
int twp_conn_dup_of(int oldfd);
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

/* ---- shared by conn.c, fdops.c and replay.c ---- */

void twp_conn_count(_Atomic uint64_t *ctr);

/* Closes the shim's fd of c (private, or parked in place), if any. */
void twp_conn_drop_fd(struct twp_conn *c);

/* Closes c's fd (if any) and frees it, counting the reason. */
void twp_conn_discard(struct twp_conn *c, enum twp_reason why);
void twp_conn_discard_list(struct twp_conn *list, enum twp_reason why);

/* Discards the connection in use under fd, which is being closed for it. */
void twp_conn_discard_inuse(struct twp_conn *c, int fd, enum twp_reason why);

/* The shim's fd behind s (private or parked) is gone or going. */
void twp_conn_forget_fd(struct twp_slot *s);

/* The program closes a private fd: the connection is let go, EBADF. */
int twp_conn_close_private(int fd, struct twp_slot *s);

/* A provisional fd becomes a fresh unconnected socket; its connection goes
 * back to the pool (why TWP_R_NONE) or is discarded for why. 0 or -1. */
int twp_conn_materialize(int fd, struct twp_slot *s, enum twp_reason why);

/* Before any other call on fd: EBADF for a parked fd (-1), a fresh socket
 * for a provisional one. 0 when the call may go on. */
int twp_conn_unpark(int fd, struct twp_slot *s);

#endif
