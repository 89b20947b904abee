/* connect.h - socket() and connect(): where a connection is handed out.
 *
 * connect() to an allow-listed target on a fresh socket takes the most
 * recently parked healthy connection of that target and puts it under the
 * program's fd (twp_swap), or makes a real connect and tracks it. On a
 * provisional fd (provisional.h) a connect to the connection's own target
 * makes it the program's with no system call. Both keep the libc contract
 * of the call they stand for. */
#ifndef TWP_CONNECT_H
#define TWP_CONNECT_H

#include <sys/socket.h>

/* After a real socket() gave fd: starts watching a TCP socket. */
void twp_connect_socket(int fd, int domain, int type);

/* connect() while the shim is on. */
int twp_connect(int fd, const struct sockaddr *sa, socklen_t len);

#endif
