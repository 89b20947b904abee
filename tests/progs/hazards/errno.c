/* errno.c - every successful call leaves errno as it found it, on target
 * connections, other sockets and pipes alike. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static void errno_kept(long r, const char *what)
{
	int e = errno;
	if (r < 0)
		check(0, "errno: %s failed: %s", what, strerror(e));
	else if (e != ERRNO_MARK)
		check(0, "errno: %s succeeded but changed errno to %d (%s)", what, e, strerror(e));
}

#define KEEP(call, what) \
	do { \
		errno = ERRNO_MARK; \
		long r_ = (long)(call); \
		errno_kept(r_, what); \
	} while (0)
#define KEEPV(call, what, v) \
	do { \
		errno = ERRNO_MARK; \
		v = (call); \
		errno_kept((long)(v), what); \
	} while (0)

/* socket, connect, write, read, close on a target connection. */
static void errno_tracked(const char *what, int read_reply)
{
	char line[LINE_CAP], label[96];
	int fd;
	snprintf(label, sizeof(label), "%s socket()", what);
	KEEPV(socket(AF_INET, SOCK_STREAM, 0), label, fd);
	if (fd < 0)
		return;
	snprintf(label, sizeof(label), "%s connect()", what);
	KEEP(connect(fd, (struct sockaddr *)&target, sizeof(target)), label);
	snprintf(label, sizeof(label), "%s write()", what);
	KEEP(write(fd, "PING\n", 5), label);
	if (read_reply) {
		snprintf(label, sizeof(label), "%s read()", what);
		KEEP(read_line(fd, line, sizeof(line)), label);
	}
	snprintf(label, sizeof(label), "%s close()", what);
	KEEP(close(fd), label);
}

/* A TCP connection to a port that is not a target, and a pipe. */
static void errno_untracked(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, afd, p[2];
	char b[8];
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, l) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &l) < 0) {
		check(0, "errno: a listener of its own: %s", strerror(errno));
		return;
	}
	KEEPV(socket(AF_INET, SOCK_STREAM, 0), "untracked socket()", fd);
	KEEP(connect(fd, (struct sockaddr *)&a, l), "untracked connect()");
	afd = accept(lfd, NULL, NULL);
	KEEP(write(fd, "x", 1), "untracked write()");
	KEEP(read(afd, b, 1), "untracked read()");
	KEEP(close(fd), "untracked close()");
	close(afd);
	close(lfd);
	if (pipe(p) < 0)
		return;
	KEEP(write(p[1], "x", 1), "pipe write()");
	KEEP(read(p[0], b, 1), "pipe read()");
	KEEP(close(p[0]), "pipe close()");
	KEEP(close(p[1]), "pipe close()");
}

static void sc_errno(void)
{
	int before = atomic_load(&failures);
	errno_tracked("fresh", 1);        /* parked at close */
	errno_tracked("reused", 1);       /* from the pool, parked again */
	errno_tracked("unread reply", 0); /* closed for real: last I/O a write */
	errno_tracked("after discard", 1);
	errno_untracked();
	check(atomic_load(&failures) == before, "errno: every successful call left errno at %d",
	      ERRNO_MARK);
	run_cycles("errno: after", M_ECHO, n_cycles / 4 + 1);
}

const struct scenario hazards_errno[] = {
	{ "errno", sc_errno },
	{ NULL, NULL },
};
