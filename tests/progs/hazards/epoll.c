/* epoll.c - event loops: epoll registrations across the pool, and
 * non-blocking connects answered by a pooled connection. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

/* Writes the reason into why; returns r. */
static int failed(char *why, size_t wn, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int failed(char *why, size_t wn, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, wn, fmt, ap);
	va_end(ap);
	return r;
}

/* Waits for one event of fd in ep; its events, 0 on timeout, -1 error. */
static int ep_wait_one(int ep, int fd, int ms)
{
	struct epoll_event ev[4];
	for (;;) {
		int n = epoll_wait(ep, ev, 4, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd == fd)
				return (int)ev[i].events;
		errno = EBADFD; /* an event for an fd that is not ours */
		return -1;
	}
}

static int ep_ctl(int ep, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	return epoll_ctl(ep, op, fd, &ev);
}

/* Non-blocking connect with registration before or after connect(),
 * completed as epoll reports fd writable. 0, or -1 (why filled). */
static int ep_connect(int ep, int fd, int before, char *why, size_t wn)
{
	int r = connect(fd, (struct sockaddr *)&target, sizeof(target));
	if (r < 0 && errno != EINPROGRESS)
		return failed(why, wn, -1, "connect: %s", strerror(errno));
	if (!before && ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLOUT) < 0)
		return failed(why, wn, -1, "EPOLL_CTL_ADD after connect: %s", strerror(errno));
	int ev = ep_wait_one(ep, fd, 2000);
	if (ev <= 0 || !(ev & EPOLLOUT))
		return failed(why, wn, -1, "no EPOLLOUT within 2 s (hang): %d", ev);
	int err = -1;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
		return failed(why, wn, -1, "SO_ERROR %d", err);
	return 0;
}

/* Reads a reply line on fd as epoll reports it readable; its length with
 * the newline, or -1 (why filled). */
static int ep_read_line(int ep, int fd, char *line, size_t cap, char *why, size_t wn)
{
	size_t len = 0;
	while (!memchr(line, '\n', len)) {
		int ev = ep_wait_one(ep, fd, 2000);
		if (ev <= 0)
			return failed(why, wn, -1, "no EPOLLIN within 2 s (hang): %d", ev);
		ssize_t n = read(fd, line + len, cap - 1 - len);
		if (n <= 0 && !(n < 0 && errno == EAGAIN))
			return failed(why, wn, -1, "read: %s", n ? strerror(errno) : "EOF");
		len += n > 0 ? (size_t)n : 0;
	}
	line[len] = '\0';
	return (int)len;
}

/* A connect, then request/reply, driven by epoll. 0, 1 crossed, -1 error
 * (why filled). */
static int ep_exchange(int ep, int fd, int before, char *why, size_t wn)
{
	char req[128], want[128], line[LINE_CAP];
	if (ep_connect(ep, fd, before, why, wn) < 0)
		return -1;
	unique_echo("epoll", req, want, sizeof(want));
	strcat(req, "\n");
	if (ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN) < 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return failed(why, wn, -1, "MOD/write: %s", strerror(errno));
	int len = ep_read_line(ep, fd, line, sizeof(line), why, wn);
	if (len < 0)
		return -1;
	if (strlen(want) + 1 == (size_t)len && !strncmp(line, want, (size_t)len - 1))
		return 0;
	return failed(why, wn, 1, "got '%.80s', want '%s'", line, want);
}

static int ep_cycle(int ep, int before, char *why, size_t wn)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return failed(why, wn, -1, "socket: %s", strerror(errno));
	int r = before && ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLOUT) < 0
			? failed(why, wn, -1, "EPOLL_CTL_ADD before connect: %s", strerror(errno))
			: ep_exchange(ep, fd, before, why, wn);
	close(fd); /* no EPOLL_CTL_DEL: close is supposed to drop the registration */
	struct epoll_event ev;
	int left = epoll_wait(ep, &ev, 1, 0);
	if (left != 0 && r == 0) {
		snprintf(why, wn, "after close, epoll still reports fd %d events %#x", ev.data.fd,
			 ev.events);
		r = -1;
	}
	return r;
}

static void sc_epoll(void)
{
	for (int before = 1; before >= 0; before--) {
		struct tally t = { 0 };
		int ep = epoll_create1(EPOLL_CLOEXEC);
		if (!check(ep >= 0, "epoll: epoll_create1"))
			return;
		for (long i = 0; i < n_cycles && !gave_up(&t); i++) {
			char why[300] = "";
			tally_add(&t, ep_cycle(ep, before, why, sizeof(why)), why);
		}
		tally_report(before ? "epoll: registered before connect"
				    : "epoll: registered after connect",
			     &t, n_cycles);
		close(ep);
	}
	run_cycles("epoll: blocking cycles after", M_ECHO, n_cycles / 4 + 1);
}

/* ---- non-blocking connect served from the pool ---- */

static int local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	return getsockname(fd, (struct sockaddr *)&a, &l) == 0 ? ntohs(a.sin_port) : -1;
}

/* After the first connect() said EINPROGRESS: writable (at once when the
 * local port says the pooled connection came back), SO_ERROR 0. *reused
 * and *last_port are updated. 0, or -1 (why filled). */
static int nb_connected(int fd, int *last_port, int *reused, char *why, size_t wn)
{
	int err = -1;
	socklen_t el = sizeof(err);
	int port = local_port(fd);
	*reused = port == *last_port;
	*last_port = port;
	if (wait_fd(fd, POLLOUT, *reused ? 0 : WAIT_MS) != 1)
		return failed(why, wn, -1, "not writable %s",
			      *reused ? "at once on a pooled connection" : "within 5 s");
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
		return failed(why, wn, -1, "SO_ERROR %d", err);
	return 0;
}

/* Once connected, the kernel answers the next connect() with 0 and every
 * later one with EISCONN; a connection from the pool is past that, so it
 * may say EISCONN at once. Both mean "connected". 0, or -1 (why filled). */
static int nb_reconnect(int fd, char *why, size_t wn)
{
	errno = 0;
	int again = connect(fd, (struct sockaddr *)&target, sizeof(target));
	if (again != 0 && errno != EISCONN)
		return failed(why, wn, -1, "second connect: want 0 or EISCONN, got %s",
			      strerror(errno));
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) != -1 || errno != EISCONN)
		return failed(why, wn, -1, "third connect: want EISCONN, got %s", strerror(errno));
	return 0;
}

/* One non-blocking connect with every check; *reused when the local port
 * is the one last seen (the pooled connection came back). */
static int nb_cycle(int *last_port, int *reused, char *why, size_t wn)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = -1;
	errno = 0;
	if (fd < 0 || connect(fd, (struct sockaddr *)&target, sizeof(target)) != -1 ||
	    errno != EINPROGRESS)
		failed(why, wn, -1, "connect: want -1/EINPROGRESS, errno %s", strerror(errno));
	else if (nb_connected(fd, last_port, reused, why, wn) == 0 &&
		 nb_reconnect(fd, why, wn) == 0)
		r = echo_on(fd, "nonblock", why, wn);
	if (fd >= 0)
		close(fd);
	return r;
}

static void sc_nonblock_connect(void)
{
	struct tally t = { 0 };
	int last = -1, reused = 0, n_reused = 0;
	int fd = conn_used("nonblock-connect: warm-up");
	if (fd < 0)
		return;
	last = local_port(fd);
	close(fd);
	for (long i = 0; i < n_cycles && !gave_up(&t); i++) {
		char why[300] = "";
		tally_add(&t, nb_cycle(&last, &reused, why, sizeof(why)), why);
		n_reused += reused;
	}
	note("nonblock-connect: %d of %ld connects got the previous connection back (same local port)",
	     n_reused, n_cycles);
	tally_report("nonblock-connect: EINPROGRESS, writable, SO_ERROR 0, EISCONN, reply", &t,
		     n_cycles);
}

const struct scenario hazards_epoll[] = {
	{ "epoll", sc_epoll },
	{ "nonblock-connect", sc_nonblock_connect },
	{ NULL, NULL },
};
