/* twpool-kvclient - a short-connection C client for Redis and memcached.
 *
 *   twpool-kvclient -P redis|memcached -p PORT [-n N] [-x PREFIX] [-q]
 *
 * Cycle i connects to 127.0.0.1:PORT, stores PREFIX-<pid>-<i> = v<i> (Redis
 * RESP SET, expecting +OK; memcached "set", expecting STORED), reads it back
 * (GET, expecting exactly v<i>) and closes: the connect/close per request
 * pattern that twpool pools, in the two protocols the bundled
 * twpool-client does not speak. Replies are read through a buffer, as real
 * clients do; bytes left in it at close belong to no request and count as
 * crossed. A failed call or early EOF is an error, a wrong reply crossed;
 * either way the next cycle starts on a fresh connection. The last line on
 * stdout is always
 *   requests R errors E crossed X elapsed_ms T rps Q
 * with R = 2 x completed cycles. Exit status 0 iff E and X are 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP 4096
#define WAIT_MS 5000 /* longest wait for a reply */

enum { E_OK = 0, E_IO = -1, E_CROSSED = 1 };

struct conn {
	int fd;
	size_t off, len;
	char buf[BUF_CAP];
	char why[256];
};

static struct sockaddr_in target;
static int memcached, quiet;

/* Notes the first reason a cycle failed; returns kind. */
static int fail(struct conn *c, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct conn *c, int kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!c->why[0])
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return kind;
}

static int fill(struct conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (c->off == c->len)
		c->off = c->len = 0;
	if (c->len == sizeof(c->buf))
		return fail(c, E_CROSSED, "reply larger than the buffer");
	if (poll(&p, 1, WAIT_MS) != 1)
		return fail(c, E_IO, "no reply within 5 s");
	ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (r <= 0)
		return fail(c, E_IO, "read: %s", r ? strerror(errno) : "EOF");
	c->len += (size_t)r;
	return E_OK;
}

/* The next line (CRLF removed) into line. */
static int get_line(struct conn *c, char *line, size_t cap)
{
	char *nl;
	while (!(nl = memchr(c->buf + c->off, '\n', c->len - c->off))) {
		int r = fill(c);
		if (r)
			return r;
	}
	size_t n = (size_t)(nl - (c->buf + c->off));
	if (n == 0 || nl[-1] != '\r' || n - 1 >= cap)
		return fail(c, E_CROSSED, "malformed reply line");
	memcpy(line, c->buf + c->off, n - 1);
	line[n - 1] = '\0';
	c->off += n + 1;
	return E_OK;
}

/* Exactly n bytes followed by CRLF, compared with want. */
static int get_data(struct conn *c, const char *want, size_t n)
{
	while (c->len - c->off < n + 2) {
		int r = fill(c);
		if (r)
			return r;
	}
	const char *p = c->buf + c->off;
	c->off += n + 2;
	if (strlen(want) != n || memcmp(p, want, n) || p[n] != '\r' || p[n + 1] != '\n')
		return fail(c, E_CROSSED, "value is not %s", want);
	return E_OK;
}

static int expect_line(struct conn *c, const char *want)
{
	char line[512];
	int r = get_line(c, line, sizeof(line));
	if (r)
		return r;
	if (strcmp(line, want))
		return fail(c, E_CROSSED, "unexpected reply '%.200s'", line);
	return E_OK;
}

static int send_all(struct conn *c, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(c->fd, p, n);
		if (w <= 0)
			return fail(c, E_IO, "write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return E_OK;
}

static int redis_cycle(struct conn *c, const char *key, const char *val)
{
	char req[512], line[64];
	int n = snprintf(req, sizeof(req), "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(key), key,
			 strlen(val), val);
	int r = send_all(c, req, (size_t)n);
	if (!r)
		r = expect_line(c, "+OK");
	if (r)
		return r;
	n = snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
	if ((r = send_all(c, req, (size_t)n)) || (r = get_line(c, line, sizeof(line))))
		return r;
	if (line[0] != '$')
		return fail(c, E_CROSSED, "GET: unexpected reply '%.200s'", line);
	return get_data(c, val, strtoul(line + 1, NULL, 10));
}

static int memcached_cycle(struct conn *c, const char *key, const char *val)
{
	char req[512], want[512];
	int n = snprintf(req, sizeof(req), "set %s 0 0 %zu\r\n%s\r\n", key, strlen(val), val);
	int r = send_all(c, req, (size_t)n);
	if (!r)
		r = expect_line(c, "STORED");
	if (r)
		return r;
	n = snprintf(req, sizeof(req), "get %s\r\n", key);
	snprintf(want, sizeof(want), "VALUE %s 0 %zu", key, strlen(val));
	if ((r = send_all(c, req, (size_t)n)) || (r = expect_line(c, want)) ||
	    (r = get_data(c, val, strlen(val))))
		return r;
	return expect_line(c, "END");
}

static int cycle(struct conn *c, const char *prefix, long i)
{
	char key[256], val[64];
	snprintf(key, sizeof(key), "%s-%d-%ld", prefix, (int)getpid(), i);
	snprintf(val, sizeof(val), "v%ld", i);
	c->off = c->len = 0;
	c->why[0] = '\0';
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&target, sizeof(target)) < 0) {
		fail(c, E_IO, "connect: %s", strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		return E_IO;
	}
	int r = memcached ? memcached_cycle(c, key, val) : redis_cycle(c, key, val);
	if (!r && c->off != c->len)
		r = fail(c, E_CROSSED, "bytes after the last reply");
	close(c->fd);
	return r;
}

static void usage(void)
{
	fprintf(stderr, "usage: twpool-kvclient -P redis|memcached -p PORT [-n N] [-x PREFIX] [-q]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *proto = NULL, *prefix = "kv";
	long port = 0, n = 1000, done = 0, errors = 0, crossed = 0;
	int ch;
	while ((ch = getopt(argc, argv, "P:p:n:x:q")) != -1) {
		switch (ch) {
		case 'P': proto = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'x': prefix = optarg; break;
		case 'q': quiet = 1; break;
		default: usage();
		}
	}
	if (!proto || (strcmp(proto, "redis") && strcmp(proto, "memcached")) || port <= 0 || port > 65535 ||
	    n < 0 || optind != argc || strlen(prefix) > 200)
		usage();
	memcached = !strcmp(proto, "memcached");
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)port);
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	signal(SIGPIPE, SIG_IGN);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	static struct conn c;
	for (long i = 0; i < n; i++) {
		int r = cycle(&c, prefix, i);
		done += r == E_OK;
		errors += r == E_IO;
		crossed += r == E_CROSSED;
		if (r && !quiet)
			fprintf(stderr, "twpool-kvclient: cycle %ld: %s\n", i, c.why);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("requests %ld errors %ld crossed %ld elapsed_ms %ld rps %ld\n", 2 * done, errors, crossed, ms,
	       ms > 0 ? 2 * done * 1000 / ms : 0);
	return errors || crossed ? 1 : 0;
}
