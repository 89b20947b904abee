/* twpool-client - the bundled short-connection client for demos and tests.
 *
 *   twpool-client [-h HOST] -p PORT [-n N] [-k] [-t THREADS] [-x PREFIX]
 *                 [-e] [-q] [-d DELAY_US]
 *
 * Each of THREADS threads (default 1) runs N cycles (default 1000). Cycle i
 * of thread T connects to HOST:PORT (an IPv4 or IPv6 literal, default
 * 127.0.0.1), sends "SET PREFIX<T>-<i> v<T>-<i>", expects "OK", sends
 * "GET PREFIX<T>-<i>", expects "VALUE v<T>-<i>", and closes: the connect/close per
 * request pattern that twpool pools. -k keeps one connection for all cycles
 * instead (native keep-alive). -e uses non-blocking sockets and epoll instead
 * of blocking calls; like many event loops it relies on close() to drop the
 * epoll registration. -d sleeps DELAY_US microseconds between cycles. -1
 * makes each cycle one request, "ECHO PREFIX<T>-<i>", instead of two.
 *
 * A failed system call or an early EOF counts as an error, a wrong reply as
 * crossed; either way the cycle is abandoned and the next one starts on a
 * fresh socket. Each is reported on stderr unless -q. The last line on
 * stdout is always
 *   requests R errors E crossed X elapsed_ms T rps Q
 * with R = 2 x completed cycles (1 x with -1). Exit status 0 iff E and X are 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define MAX_PREFIX 200 /* keeps keys under the server's 256 bytes */
#define LINE_CAP 4096  /* longest reply line accepted */
#define WAIT_MS 10000  /* -e: longest wait for one socket event */

static struct {
	struct sockaddr_storage addr;
	socklen_t alen;
	long n, delay_us;
	int threads;
	const char *prefix;
	bool keep, one, use_epoll, quiet;
} cfg = { .n = 1000, .threads = 1, .prefix = "k" };

struct worker {
	pthread_t th;
	int idx;
	int ep;     /* -e: this thread's epoll instance */
	long cycle; /* for messages */
	long done, errors, crossed;
};

/* One connection and its unread reply bytes. */
struct link {
	int fd;
	bool registered; /* -e: fd was added to the epoll set */
	size_t len;
	char buf[LINE_CAP];
};

static void report(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct worker *w, const char *fmt, ...)
{
	if (cfg.quiet)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "twpool-client: thread %d cycle %ld: %s\n", w->idx, w->cycle, msg);
}

/* Counts a failed call; errno is the cause, 0 for an early EOF. */
static int fail(struct worker *w, const char *call)
{
	int err = errno;
	w->errors++;
	report(w, "%s: %s", call, err ? strerror(err) : "unexpected EOF");
	return -1;
}

static int cross(struct worker *w, const char *req, const char *want, const char *got)
{
	w->crossed++;
	report(w, "%s: expected \"%s\", got \"%.200s\"", req, want, got);
	return -1;
}

/* ---- -e: waiting for readiness ---- */

static int wait_for(struct worker *w, struct link *l, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = l->fd };
	int op = l->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(w->ep, op, l->fd, &ev) < 0) {
		/* Like libevent: an ADD that finds the fd registered becomes a MOD. */
		if (op != EPOLL_CTL_ADD || errno != EEXIST ||
		    epoll_ctl(w->ep, EPOLL_CTL_MOD, l->fd, &ev) < 0)
			return fail(w, "epoll_ctl");
	}
	l->registered = true;
	for (int waited = 0; waited < WAIT_MS; waited += 100) {
		struct epoll_event got;
		int n = epoll_wait(w->ep, &got, 1, 100);
		if (n < 0 && errno != EINTR)
			return fail(w, "epoll_wait");
		if (n == 1 && got.data.fd == l->fd)
			return 0; /* errors and hang-ups show in the next call */
	}
	errno = ETIMEDOUT;
	return fail(w, "epoll_wait");
}

/* ---- connection ops: blocking, or non-blocking driven by epoll ---- */

static int link_open(struct worker *w, struct link *l)
{
	int type = SOCK_STREAM | (cfg.use_epoll ? SOCK_NONBLOCK : 0);
	l->len = 0;
	l->registered = false;
	l->fd = socket(cfg.addr.ss_family, type, 0);
	if (l->fd < 0)
		return fail(w, "socket");
	if (connect(l->fd, (struct sockaddr *)&cfg.addr, cfg.alen) == 0)
		return 0;
	if (!cfg.use_epoll || errno != EINPROGRESS)
		return fail(w, "connect");
	if (wait_for(w, l, EPOLLOUT) < 0)
		return -1;
	int err = 0;
	socklen_t elen = sizeof(err);
	if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return fail(w, "getsockopt(SO_ERROR)");
	errno = err;
	return err ? fail(w, "connect") : 0;
}

static void link_close(struct link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static int link_send(struct worker *w, struct link *l, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = cfg.use_epoll ? send(l->fd, p, n, 0) : write(l->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && cfg.use_epoll && errno == EAGAIN) {
			if (wait_for(w, l, EPOLLOUT) < 0)
				return -1;
			continue;
		}
		if (r < 0)
			return fail(w, cfg.use_epoll ? "send" : "write");
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads one reply line into line (terminator removed). Returns 0, -1 after
 * a counted error, or -2 for a line too long (the caller counts it). */
static int link_line(struct worker *w, struct link *l, char *line)
{
	for (;;) {
		char *nl = memchr(l->buf, '\n', l->len);
		if (nl) {
			size_t n = (size_t)(nl - l->buf);
			memcpy(line, l->buf, n);
			line[n] = '\0';
			l->len -= n + 1;
			memmove(l->buf, nl + 1, l->len);
			return 0;
		}
		if (l->len == sizeof(l->buf))
			return -2;
		char *p = l->buf + l->len;
		size_t room = sizeof(l->buf) - l->len;
		ssize_t r = cfg.use_epoll ? recv(l->fd, p, room, 0) : read(l->fd, p, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && cfg.use_epoll && errno == EAGAIN) {
			if (wait_for(w, l, EPOLLIN) < 0)
				return -1;
			continue;
		}
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			return fail(w, cfg.use_epoll ? "recv" : "read");
		}
		l->len += (size_t)r;
	}
}

/* Sends req and checks that the reply is exactly want. */
static int exchange(struct worker *w, struct link *l, const char *req, const char *want)
{
	char line[LINE_CAP];
	if (link_send(w, l, req, strlen(req)) < 0)
		return -1;
	int r = link_line(w, l, line);
	if (r == -2)
		return cross(w, req, want, "(a line longer than 4096 bytes)");
	if (r < 0)
		return -1;
	return strcmp(line, want) ? cross(w, req, want, line) : 0;
}

static int cycle(struct worker *w, struct link *l, long i)
{
	char req[MAX_PREFIX + 64], want[64];
	if (l->fd < 0 && link_open(w, l) < 0)
		return -1;
	if (cfg.one) { /* one request per connection */
		snprintf(req, sizeof(req), "ECHO %s%d-%ld\n", cfg.prefix, w->idx, i);
		snprintf(want, sizeof(want), "%s%d-%ld", cfg.prefix, w->idx, i);
		return exchange(w, l, req, want);
	}
	snprintf(req, sizeof(req), "SET %s%d-%ld v%d-%ld\n", cfg.prefix, w->idx, i, w->idx, i);
	if (exchange(w, l, req, "OK") < 0)
		return -1;
	snprintf(req, sizeof(req), "GET %s%d-%ld\n", cfg.prefix, w->idx, i);
	snprintf(want, sizeof(want), "VALUE v%d-%ld", w->idx, i);
	return exchange(w, l, req, want);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct link *l = malloc(sizeof(*l));
	if (!l || (cfg.use_epoll && (w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)) {
		w->cycle = -1;
		fail(w, l ? "epoll_create1" : "malloc");
		free(l);
		return NULL;
	}
	l->fd = -1;
	for (long i = 0; i < cfg.n; i++) {
		w->cycle = i;
		if (i > 0 && cfg.delay_us > 0)
			usleep((useconds_t)cfg.delay_us);
		int ok = cycle(w, l, i) == 0;
		w->done += ok;
		if (!ok || !cfg.keep)
			link_close(l); /* a failed stream may hold stray bytes */
	}
	link_close(l);
	free(l);
	if (cfg.use_epoll)
		close(w->ep);
	return NULL;
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: twpool-client [-h HOST] -p PORT [-n N] [-k] [-t THREADS] "
			"[-x PREFIX] [-e] [-q] [-d DELAY_US]\n");
	exit(2);
}

static long num_arg(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage();
	return v;
}

static void set_addr(const char *host, long port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&cfg.addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&cfg.addr;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		cfg.alen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		cfg.alen = sizeof(*s6);
	} else {
		fprintf(stderr, "twpool-client: -h %s: not an IPv4 or IPv6 literal\n", host);
		exit(2);
	}
}

static void parse_opts(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	long port = -1;
	int ch;
	while ((ch = getopt(argc, argv, "h:p:n:k1t:x:eqd:")) != -1) {
		switch (ch) {
		case 'h':
			host = optarg;
			break;
		case 'p':
			port = num_arg(optarg, 1, 65535);
			break;
		case 'n':
			cfg.n = num_arg(optarg, 0, 1000000000);
			break;
		case 'k':
			cfg.keep = true;
			break;
		case '1':
			cfg.one = true;
			break;
		case 't':
			cfg.threads = (int)num_arg(optarg, 1, MAX_THREADS);
			break;
		case 'x':
			cfg.prefix = optarg;
			break;
		case 'e':
			cfg.use_epoll = true;
			break;
		case 'q':
			cfg.quiet = true;
			break;
		case 'd':
			cfg.delay_us = num_arg(optarg, 0, 60000000);
			break;
		default:
			usage();
		}
	}
	if (port < 0 || optind != argc || strlen(cfg.prefix) > MAX_PREFIX ||
	    strpbrk(cfg.prefix, " \r\n"))
		usage();
	set_addr(host, port);
}

static long elapsed_ns(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000000L + (t1.tv_nsec - t0->tv_nsec);
}

int main(int argc, char **argv)
{
	parse_opts(argc, argv);
	signal(SIGPIPE, SIG_IGN); /* a write to a closed peer is a counted EPIPE */
	struct worker *ws = calloc((size_t)cfg.threads, sizeof(*ws));
	if (!ws) {
		perror("twpool-client: calloc");
		return 1;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int started = 0;
	for (; started < cfg.threads; started++) {
		ws[started].idx = started;
		int err = pthread_create(&ws[started].th, NULL, worker_main, &ws[started]);
		if (err) {
			fprintf(stderr, "twpool-client: pthread_create: %s\n", strerror(err));
			ws[started].errors++;
			break;
		}
	}
	long done = 0, errors = 0, crossed = 0;
	for (int i = 0; i < cfg.threads; i++) {
		if (i < started)
			pthread_join(ws[i].th, NULL);
		done += ws[i].done;
		errors += ws[i].errors;
		crossed += ws[i].crossed;
	}
	long ns = elapsed_ns(&t0);
	long requests = (cfg.one ? 1 : 2) * done;
	long rps = ns > 0 ? (long)((double)requests * 1e9 / (double)ns) : 0;
	printf("requests %ld errors %ld crossed %ld elapsed_ms %ld rps %ld\n", requests, errors,
	       crossed, ns / 1000000, rps);
	free(ws);
	return errors == 0 && crossed == 0 ? 0 : 1;
}
