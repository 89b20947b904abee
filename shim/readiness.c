/* readiness.c - parked numbers in poll and select sets. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "fdtab.h"
#include "readiness.h"
#include "provisional.h"

/* Parked or provisional: a number poll and select must not pass as is. */
static int special(int fd)
{
	uint32_t st = twp_slot_st(fd);
	return twp_kind(st) == TWP_FD_PARKED || twp_kind(st) == TWP_FD_PROVISIONAL;
}

/* Makes provisional entries fresh sockets; returns how many are parked. */
static nfds_t settle_entries(struct pollfd *fds, nfds_t n)
{
	nfds_t parked = 0;
	for (nfds_t i = 0; i < n; i++) {
		if (fds[i].fd < 0 || !special(fds[i].fd))
			continue;
		struct twp_slot *s = twp_slot(fds[i].fd);
		if (twp_unpark(fds[i].fd, s) < 0)
			parked++;
	}
	return parked;
}

/* With parked entries: they are hidden from the kernel (fd -1), the rest
 * polled without waiting, as an invalid fd makes the kernel return at once. */
static int poll_hiding(struct pollfd *fds, nfds_t n, const sigset_t *sigmask, twp_poll_fn call)
{
	int *hidden = malloc(n * sizeof(*hidden)), nparked = 0;
	if (!hidden) {
		errno = ENOMEM;
		return -1;
	}
	for (nfds_t i = 0; i < n; i++) {
		hidden[i] = 0; /* else the fd + 1 it had */
		if (fds[i].fd >= 0 && twp_kind(twp_slot_st(fds[i].fd)) == TWP_FD_PARKED) {
			hidden[i] = fds[i].fd + 1;
			fds[i].fd = -1;
			nparked++;
		}
	}
	struct timespec zero = { 0, 0 };
	int r = call(fds, n, &zero, sigmask), saved = errno;
	for (nfds_t i = 0; i < n; i++)
		if (hidden[i]) {
			fds[i].fd = hidden[i] - 1;
			fds[i].revents = POLLNVAL;
		}
	free(hidden);
	errno = saved;
	return r < 0 ? r : r + nparked;
}

int twp_poll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
	     const sigset_t *sigmask, twp_poll_fn call)
{
	nfds_t i = 0;
	while (i < n && (fds[i].fd < 0 || !special(fds[i].fd)))
		i++;
	if (i == n || settle_entries(fds + i, n - i) == 0)
		return call(fds, n, timeout, sigmask);
	return poll_hiding(fds, n, sigmask, call);
}

static int in_any(int fd, fd_set *r, fd_set *w, fd_set *e)
{
	return (r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e));
}

int twp_select_check(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	unsigned high = __atomic_load_n(&twp_fdtab_high, __ATOMIC_RELAXED);
	for (int fd = 0; fd < nfds && (unsigned)fd < high && fd < FD_SETSIZE; fd++) {
		if (!special(fd) || !in_any(fd, r, w, e))
			continue;
		if (twp_unpark(fd, twp_slot(fd)) < 0)
			return -1;
	}
	return 0;
}

int twp_names_fd(const char *path, int flags)
{
	return flags & AT_EMPTY_PATH && (!path || !*path);
}
