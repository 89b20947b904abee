/* io.h - one description for every call of the read/write family, so the
 * shim can make the call, look at its bytes, and make it again. */
#ifndef TWP_IO_H
#define TWP_IO_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

enum twp_io_kind {
	TWP_K_READ, TWP_K_READV, TWP_K_RECV, TWP_K_RECVFROM, TWP_K_RECVMSG,
	TWP_K_WRITE, TWP_K_WRITEV, TWP_K_SEND, TWP_K_SENDTO, TWP_K_SENDMSG,
};

struct twp_io {
	enum twp_io_kind kind;
	int fd, flags;               /* flags: the MSG_* of the recv/send calls */
	struct iovec one;            /* read, write, recv, send, recvfrom, sendto */
	const struct iovec *iov;     /* readv, writev */
	int iovcnt;
	struct msghdr *msg;          /* recvmsg, sendmsg */
	struct sockaddr *from;       /* recvfrom */
	socklen_t *fromlen;
	const struct sockaddr *to;   /* sendto */
	socklen_t tolen;
};

static inline int twp_io_writes(const struct twp_io *io) { return io->kind >= TWP_K_WRITE; }

/* The real call. With nosignal, a write becomes send(MSG_NOSIGNAL) and a
 * writev sendmsg(MSG_NOSIGNAL): the same on a socket, without SIGPIPE. */
ssize_t twp_io_call(const struct twp_io *io, int nosignal);

/* The buffers of the call: *iov and *cnt. */
void twp_io_buffers(const struct twp_io *io, const struct iovec **iov, int *cnt);

/* Copies the first n bytes of iov[] (fewer if they hold fewer) to buf:
 * how many. */
size_t twp_iov_copy(void *buf, size_t n, const struct iovec *iov, int cnt);

#endif
