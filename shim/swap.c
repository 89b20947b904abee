/* swap.c - one socket in place of another under a program's fd. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "epoll.h"
#include "fdtab.h"
#include "log.h"
#include "real.h"
#include "sockopt.h"
#include "swap.h"

/* src made ready to stand for fd: options, then O_NONBLOCK. 0 or -1. */
static int prepare(int src, int src_nonblock, int nonblock, const struct twp_opts *opts)
{
	int r = opts ? twp_sockopt_replay(src, opts) : 0;
	if (r < 0) {
		errno = -r;
		return -1;
	}
	/* A pooled socket's only status flag is O_NONBLOCK (O_ASYNC rules
	 * pooling out): no F_GETFL needed. */
	if (src_nonblock == nonblock)
		return 0;
	return twp_real.fcntl(src, F_SETFL, nonblock ? O_NONBLOCK : 0);
}

int twp_swap(int fd, int src, int src_nonblock, uint32_t fdflags, const struct twp_epolls *ep,
	     const struct twp_opts *opts)
{
	if (prepare(src, src_nonblock, !!(fdflags & TWP_S_NONBLOCK), opts) < 0)
		return -1;
	twp_epoll_forget(fd, ep);
	if (twp_real.dup3(src, fd, fdflags & TWP_S_CLOEXEC ? O_CLOEXEC : 0) < 0) {
		int saved = errno;
		twp_epoll_restore(fd, ep);
		errno = saved;
		return -1;
	}
	int saved = errno, r = twp_epoll_restore(fd, ep);
	if (r < 0)
		twp_log(TWP_LOG_WARN, "fd %d: cannot re-register in epoll: %s", fd, strerror(-r));
	errno = saved;
	return 0;
}
