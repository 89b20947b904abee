/* io.c - making a described read/write call for real. */
#include <string.h>

#include "io.h"
#include "real.h"

void twp_io_buffers(const struct twp_io *io, const struct iovec **iov, int *cnt)
{
	switch (io->kind) {
	case TWP_K_READV: case TWP_K_WRITEV:
		*iov = io->iov;
		*cnt = io->iovcnt;
		break;
	case TWP_K_RECVMSG: case TWP_K_SENDMSG:
		*iov = io->msg->msg_iov;
		*cnt = (int)io->msg->msg_iovlen;
		break;
	default:
		*iov = &io->one;
		*cnt = 1;
	}
}

size_t twp_iov_copy(void *buf, size_t n, const struct iovec *iov, int cnt)
{
	size_t got = 0;
	for (int i = 0; i < cnt && got < n; i++) {
		size_t k = iov[i].iov_len < n - got ? iov[i].iov_len : n - got;
		memcpy((char *)buf + got, iov[i].iov_base, k);
		got += k;
	}
	return got;
}

ssize_t twp_io_call(const struct twp_io *io, int nosignal)
{
	int ns = nosignal ? MSG_NOSIGNAL : 0;
	switch (io->kind) {
	case TWP_K_READ: return twp_real.read(io->fd, io->one.iov_base, io->one.iov_len);
	case TWP_K_READV: return twp_real.readv(io->fd, io->iov, io->iovcnt);
	case TWP_K_RECV: return twp_real.recv(io->fd, io->one.iov_base, io->one.iov_len, io->flags);
	case TWP_K_RECVFROM:
		return twp_real.recvfrom(io->fd, io->one.iov_base, io->one.iov_len, io->flags,
					 io->from, io->fromlen);
	case TWP_K_RECVMSG: return twp_real.recvmsg(io->fd, io->msg, io->flags);
	case TWP_K_WRITE:
		return ns ? twp_real.send(io->fd, io->one.iov_base, io->one.iov_len, ns)
			  : twp_real.write(io->fd, io->one.iov_base, io->one.iov_len);
	case TWP_K_WRITEV:
		if (ns) {
			struct msghdr m;
			memset(&m, 0, sizeof(m));
			m.msg_iov = (struct iovec *)io->iov;
			m.msg_iovlen = (size_t)io->iovcnt;
			return twp_real.sendmsg(io->fd, &m, ns);
		}
		return twp_real.writev(io->fd, io->iov, io->iovcnt);
	case TWP_K_SEND: return twp_real.send(io->fd, io->one.iov_base, io->one.iov_len, io->flags | ns);
	case TWP_K_SENDTO:
		return twp_real.sendto(io->fd, io->one.iov_base, io->one.iov_len, io->flags | ns,
				       io->to, io->tolen);
	case TWP_K_SENDMSG: return twp_real.sendmsg(io->fd, io->msg, io->flags | ns);
	}
	return -1;
}
