/* common.c - the target, output lines and plain request/reply calls every
 * scenario uses. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

struct sockaddr_in target;
long n_cycles = 200;
char *prog_name;
_Atomic int failures;
_Atomic unsigned long seq;

/* ---- output: whole lines with one write(), safe across fork and threads ---- */

static void vsay(const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s", prefix);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	int saved = errno;
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		_exit(3);
	errno = saved;
}

void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay("# ", fmt, ap);
	va_end(ap);
}

int check(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(cond ? "ok " : "FAIL ", fmt, ap);
	va_end(ap);
	if (!cond)
		atomic_fetch_add(&failures, 1);
	return cond;
}

/* ---- plain socket calls, as a careful program makes them ---- */

/* Waits for events on fd; 1 ready, 0 timed out, -1 error. EINTR-proof. */
int wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = poll(&p, 1, ms);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -1;
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= ms)
			return 0;
	}
}

/* A connect interrupted or in progress: wait for it and read SO_ERROR. */
static int finish_connect(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	int r = wait_fd(fd, POLLOUT, WAIT_MS);
	if (r <= 0) {
		errno = r == 0 ? ETIMEDOUT : errno;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

/* A connected blocking socket to the target, or -1 with errno. */
int tw_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) == 0 ||
	    ((errno == EINTR || errno == EINPROGRESS) && finish_connect(fd) == 0))
		return fd;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

const char *rl_name(int r)
{
	switch (r) {
	case RL_EOF:
		return "EOF before the reply";
	case RL_LONG:
		return "reply line too long";
	case RL_EXTRA:
		return "bytes after the reply (another request's?)";
	case RL_HANG:
		return "no reply within 5 s (hang)";
	default:
		return strerror(errno);
	}
}

/* Reads one reply line (terminator removed) into line; its length, or RL_*.
 * More bytes than the line means someone else's reply is mixed in. */
int read_line(int fd, char *line, size_t cap)
{
	size_t len = 0;
	for (;;) {
		int w = wait_fd(fd, POLLIN, WAIT_MS);
		if (w <= 0)
			return w == 0 ? RL_HANG : RL_ERR;
		ssize_t r = read(fd, line + len, cap - 1 - len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return r == 0 ? RL_EOF : RL_ERR;
		len += (size_t)r;
		char *nl = memchr(line, '\n', len);
		if (nl) {
			*nl = '\0';
			return (size_t)(nl - line) + 1 == len ? (int)(nl - line) : RL_EXTRA;
		}
		if (len == cap - 1)
			return RL_LONG;
	}
}

/* Sends req and reads its reply line; 0, or RL_* with why filled. */
int request(int fd, const char *req, char *line, size_t cap, char *why, size_t wn)
{
	char buf[LINE_CAP];
	int n = snprintf(buf, sizeof(buf), "%s\n", req);
	if (send_all(fd, buf, (size_t)n) < 0) {
		snprintf(why, wn, "write %s: %s", req, strerror(errno));
		return RL_ERR;
	}
	int r = read_line(fd, line, cap);
	if (r < 0)
		snprintf(why, wn, "reply to %s: %s", req, rl_name(r));
	return r < 0 ? r : 0;
}

/* 0 when the reply to req is exactly want; 1 crossed; -1 an I/O error. */
int exchange(int fd, const char *req, const char *want, char *why, size_t wn)
{
	char line[LINE_CAP];
	int r = request(fd, req, line, sizeof(line), why, wn);
	if (r == RL_EXTRA)
		return 1;
	if (r < 0)
		return -1;
	if (strcmp(line, want) == 0)
		return 0;
	snprintf(why, wn, "%s: got '%.80s', want '%s'", req, line, want);
	return 1;
}

/* A unique ECHO request and its reply. */
void unique_echo(const char *tag, char *req, char *want, size_t cap)
{
	unsigned long k = atomic_fetch_add(&seq, 1);
	snprintf(want, cap - 8, "%s-%d-%lu", tag, (int)getpid(), k); /* room for "ECHO " and "\n" */
	memcpy(req, "ECHO ", 5);
	memcpy(req + 5, want, strlen(want) + 1);
}

/* A unique ECHO on fd: 0, 1 crossed, -1 error. */
int echo_on(int fd, const char *tag, char *why, size_t wn)
{
	char req[128], want[128];
	unique_echo(tag, req, want, sizeof(want));
	return exchange(fd, req, want, why, wn);
}

/* A connection that has done one clean request/reply, or -1. */
int conn_used(const char *label)
{
	char why[256] = "";
	int fd = tw_connect();
	if (!check(fd >= 0, "%s: connect: %s", label, fd >= 0 ? "ok" : strerror(errno)))
		return -1;
	if (!check(echo_on(fd, label, why, sizeof(why)) == 0,
		   "%s: request/reply on a fresh connection%s%s", label, *why ? ": " : "", why)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Writes through w, reads back from r within a second. */
int pipe_works(int w, int r)
{
	char buf[8] = "";
	return write(w, "hello", 5) == 5 && wait_fd(r, POLLIN, 1000) == 1 &&
	       read(r, buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5);
}
