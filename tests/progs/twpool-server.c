/* twpool-server - the bundled line-protocol server for demos and tests.
 *
 *   twpool-server [-a ADDR] [-p PORT] [-P PORTFILE] [-c MS] [-R]
 *
 * Single-threaded, non-blocking, epoll. Binds ADDR (default 127.0.0.1, an
 * IPv6 literal with or without brackets is allowed) and PORT (0: ephemeral),
 * prints "port N" on stdout once listening and, with -P, writes N to PORTFILE
 * (temp + rename). SIGTERM or SIGINT ends it with status 0.
 *
 * One request per line ("\n", a trailing "\r" is ignored; command words are
 * case-insensitive). Pipelined requests are answered in order, one line each:
 *   PING            PONG
 *   SET key value   OK            (key: one word; value: rest of the line)
 *   GET key         VALUE value | NIL
 *   ECHO text       text
 *   STATS           accepted A active C requests R
 *   SLEEP ms        SLEPT ms      after ms milliseconds, without blocking others
 *   BIG n           n bytes of 'x' (n <= 16 MiB), sent under back-pressure
 *   QUIT            BYE, then the server closes the connection
 * Errors: "ERR unknown" (unknown command), "ERR args" (bad arguments of a
 * known command), "ERR too long" (key or value over 256 bytes). A line over
 * 64 KiB gets "ERR line too long" and the connection is closed.
 *
 * Fault injection: -c MS closes a connection MS ms after its last reply was
 * sent if no new request bytes arrived meanwhile (0: as soon as the replies
 * are sent); -C MS closes a connection MS ms after its first reply was
 * sent whatever arrives meanwhile, which it never reads (a server whose
 * keep-alive timer fires while a request is on its way); -R makes those
 * closes send RST instead of FIN.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN (64 * 1024)   /* a request line, "\n" included */
#define KV_MAX 256                 /* bytes of a key or of a value */
#define BIG_MAX (16 * 1024 * 1024) /* bytes of one BIG reply */
#define SLEEP_MAX_MS 3600000       /* one hour */
#define OUT_HIGH_WATER (1 << 20)   /* queued reply bytes that pause reading */
#define MAX_EVENTS 256
#define ACCEPT_BURST 64 /* accepts per wake-up, so clients are not starved */

/* ---- key/value store: chained hash table, doubled when full ---- */

struct kv {
	struct kv *next;
	size_t klen, vlen;
	char data[]; /* key then value, no terminators */
};

static struct kv **kv_tab;
static size_t kv_nbuckets, kv_count;

static uint64_t kv_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static struct kv **kv_slot(const char *k, size_t klen)
{
	struct kv **p = &kv_tab[kv_hash(k, klen) & (kv_nbuckets - 1)];
	while (*p && ((*p)->klen != klen || memcmp((*p)->data, k, klen)))
		p = &(*p)->next;
	return p;
}

static void kv_grow(void)
{
	size_t nb = kv_nbuckets ? kv_nbuckets * 2 : 1024;
	struct kv **tab = calloc(nb, sizeof(*tab));
	if (!tab)
		return; /* keep the old table: longer chains, still correct */
	for (size_t i = 0; i < kv_nbuckets; i++) {
		for (struct kv *e = kv_tab[i], *next; e; e = next) {
			next = e->next;
			struct kv **b = &tab[kv_hash(e->data, e->klen) & (nb - 1)];
			e->next = *b;
			*b = e;
		}
	}
	free(kv_tab);
	kv_tab = tab;
	kv_nbuckets = nb;
}

static int kv_set(const char *k, size_t klen, const char *v, size_t vlen)
{
	if (kv_count >= kv_nbuckets)
		kv_grow();
	if (!kv_tab)
		return -ENOMEM;
	struct kv **p = kv_slot(k, klen);
	struct kv *e = malloc(sizeof(*e) + klen + vlen);
	if (!e)
		return -ENOMEM;
	e->klen = klen;
	e->vlen = vlen;
	memcpy(e->data, k, klen);
	memcpy(e->data + klen, v, vlen);
	if (*p) {
		e->next = (*p)->next;
		free(*p);
	} else {
		e->next = NULL;
		kv_count++;
	}
	*p = e;
	return 0;
}

static const struct kv *kv_get(const char *k, size_t klen)
{
	return kv_tab ? *kv_slot(k, klen) : NULL;
}

/* ---- connections ---- */

enum timer { T_NONE, T_SLEEP, T_IDLE, T_DOOM };

struct conn {
	int fd;
	uint64_t id; /* unique, so stale timer entries can be told apart */
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
	size_t big_left; /* 'x' bytes of a BIG reply still to send */
	bool big_nl;     /* its "\n" is still to send */
	uint32_t events; /* epoll interest currently registered */
	enum timer timer;
	int64_t deadline; /* ms, CLOCK_MONOTONIC; valid when timer != T_NONE */
	long sleep_ms;
	bool replied; /* a reply was queued since the idle timer was armed */
	bool eof, quitting;
	bool doomed; /* -C: reads nothing more, closes when its timer fires */
};

static struct opts {
	const char *addr, *portfile;
	int port;
	long idle_close_ms; /* -1: never */
	long doom_ms;       /* -C: -1: never */
	bool rst;
} opt = { "127.0.0.1", NULL, 0, -1, -1, false };

static int epfd, listen_fd, reserve_fd = -1;
static struct conn **conns; /* indexed by fd */
static size_t conns_cap;
static uint64_t next_id = 1;
static unsigned long n_accepted, n_active, n_requests;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- timers: a binary min-heap with lazy deletion ---- */

struct tentry {
	int64_t deadline;
	uint64_t id;
	int fd;
};

static struct tentry *heap;
static size_t heap_len, heap_cap;

static void heap_swap(size_t a, size_t b)
{
	struct tentry t = heap[a];
	heap[a] = heap[b];
	heap[b] = t;
}

static int heap_push(struct tentry e)
{
	if (heap_len == heap_cap) {
		size_t cap = heap_cap ? heap_cap * 2 : 256;
		struct tentry *h = realloc(heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		heap = h;
		heap_cap = cap;
	}
	size_t i = heap_len++;
	heap[i] = e;
	while (i > 0 && heap[(i - 1) / 2].deadline > heap[i].deadline) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return 0;
}

static struct tentry heap_pop(void)
{
	struct tentry top = heap[0];
	heap[0] = heap[--heap_len];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < heap_len && heap[l].deadline < heap[m].deadline)
			m = l;
		if (r < heap_len && heap[r].deadline < heap[m].deadline)
			m = r;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
	return top;
}

static void timer_arm(struct conn *c, enum timer kind, long ms)
{
	c->timer = kind;
	c->deadline = now_ms() + ms;
	if (heap_push((struct tentry){ c->deadline, c->id, c->fd }) < 0) {
		fprintf(stderr, "twpool-server: out of memory for a timer\n");
		exit(1);
	}
}

/* ---- connection lifecycle ---- */

static void conn_close(struct conn *c, bool rst)
{
	if (rst) {
		struct linger lg = { 1, 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd); /* also drops the epoll registration */
	conns[c->fd] = NULL;
	n_active--;
	free(c->in);
	free(c->out);
	free(c);
}

static struct conn *conn_new(int fd)
{
	if ((size_t)fd >= conns_cap) {
		size_t cap = conns_cap ? conns_cap : 1024;
		while (cap <= (size_t)fd)
			cap *= 2;
		struct conn **t = realloc(conns, cap * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + conns_cap, 0, (cap - conns_cap) * sizeof(*t));
		conns = t;
		conns_cap = cap;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->id = next_id++;
	c->events = EPOLLIN;
	struct epoll_event ev = { .events = c->events, .data.fd = fd };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(c);
		return NULL;
	}
	conns[fd] = c;
	n_active++;
	return c;
}

/* ---- replies ---- */

static int out_reserve(struct conn *c, size_t n)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n <= c->out_cap)
		return 0;
	if (c->out_off > 0) { /* compact before growing */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_len + n <= c->out_cap)
			return 0;
	}
	size_t cap = c->out_cap ? c->out_cap : 512;
	while (cap < c->out_len + n)
		cap *= 2;
	char *p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

static void reply(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || out_reserve(c, (size_t)n + 2) < 0) {
		c->quitting = true; /* cannot answer in order: give up on it */
		return;
	}
	va_start(ap, fmt);
	vsnprintf(c->out + c->out_len, (size_t)n + 2, fmt, ap);
	va_end(ap);
	c->out[c->out_len + (size_t)n] = '\n';
	c->out_len += (size_t)n + 1;
	c->replied = true;
}

static size_t out_pending(const struct conn *c)
{
	return c->out_len - c->out_off + c->big_left + c->big_nl;
}

/* ---- commands ---- */

/* Parses a decimal in [0, max] spanning all of s; -1 otherwise. */
static long parse_num(const char *s, long max)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	return (errno || *end || v > max) ? -1 : v;
}

static void cmd_set(struct conn *c, const char *arg)
{
	const char *sp = strchr(arg, ' ');
	if (!sp || sp == arg) {
		reply(c, "ERR args");
		return;
	}
	size_t klen = (size_t)(sp - arg), vlen = strlen(sp + 1);
	if (klen > KV_MAX || vlen > KV_MAX)
		reply(c, "ERR too long");
	else if (kv_set(arg, klen, sp + 1, vlen) < 0)
		reply(c, "ERR out of memory");
	else
		reply(c, "OK");
}

static void cmd_get(struct conn *c, const char *arg)
{
	size_t klen = strlen(arg);
	if (klen == 0 || strchr(arg, ' ')) {
		reply(c, "ERR args");
		return;
	}
	const struct kv *e = klen <= KV_MAX ? kv_get(arg, klen) : NULL;
	if (e)
		reply(c, "VALUE %.*s", (int)e->vlen, e->data + e->klen);
	else
		reply(c, "NIL");
}

static void cmd_sleep(struct conn *c, const char *arg)
{
	long ms = parse_num(arg, SLEEP_MAX_MS);
	if (ms < 0) {
		reply(c, "ERR args");
		return;
	}
	c->sleep_ms = ms;
	timer_arm(c, T_SLEEP, ms);
}

static void cmd_big(struct conn *c, const char *arg)
{
	long n = parse_num(arg, BIG_MAX);
	if (n < 0) {
		reply(c, "ERR args");
		return;
	}
	c->big_left = (size_t)n;
	c->big_nl = true;
	c->replied = true;
}

/* Handles one request line (terminator removed, NUL-terminated). */
static void handle_line(struct conn *c, char *line)
{
	n_requests++;
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (!strcasecmp(line, "PING") && !arg)
		reply(c, "PONG");
	else if (!strcasecmp(line, "SET") && arg)
		cmd_set(c, arg);
	else if (!strcasecmp(line, "GET") && arg)
		cmd_get(c, arg);
	else if (!strcasecmp(line, "ECHO"))
		reply(c, "%s", arg ? arg : "");
	else if (!strcasecmp(line, "STATS") && !arg)
		reply(c, "accepted %lu active %lu requests %lu", n_accepted, n_active, n_requests);
	else if (!strcasecmp(line, "SLEEP") && arg)
		cmd_sleep(c, arg);
	else if (!strcasecmp(line, "BIG") && arg)
		cmd_big(c, arg);
	else if (!strcasecmp(line, "QUIT") && !arg) {
		reply(c, "BYE");
		c->quitting = true;
	} else if (!strcasecmp(line, "PING") || !strcasecmp(line, "SET") ||
		   !strcasecmp(line, "GET") || !strcasecmp(line, "STATS") ||
		   !strcasecmp(line, "SLEEP") || !strcasecmp(line, "BIG") ||
		   !strcasecmp(line, "QUIT"))
		reply(c, "ERR args");
	else
		reply(c, "ERR unknown");
}

/* A request must wait while an earlier one is unfinished or output piles up. */
static bool conn_blocked(const struct conn *c)
{
	return c->timer == T_SLEEP || c->big_left || c->big_nl || c->quitting || c->doomed ||
	       out_pending(c) > OUT_HIGH_WATER;
}

static void process(struct conn *c)
{
	size_t off = 0;
	while (!conn_blocked(c)) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		if (!nl) {
			if (c->in_len - off >= LINE_MAX_LEN) {
				reply(c, "ERR line too long");
				c->quitting = true;
			}
			break;
		}
		char *line = c->in + off;
		off = (size_t)(nl - c->in) + 1;
		if (nl > line && nl[-1] == '\r')
			nl--;
		*nl = '\0';
		handle_line(c, line);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* ---- I/O ---- */

/* Sends what is queued; 0 when done or the socket is full, -1 on error. */
static int flush(struct conn *c)
{
	static char xs[65536];
	if (!xs[0])
		memset(xs, 'x', sizeof(xs));
	while (out_pending(c)) {
		const char *p = "\n";
		size_t n = 1;
		if (c->out_len > c->out_off) {
			p = c->out + c->out_off;
			n = c->out_len - c->out_off;
		} else if (c->big_left) {
			p = xs;
			n = c->big_left < sizeof(xs) ? c->big_left : sizeof(xs);
		}
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		if (c->out_len > c->out_off)
			c->out_off += (size_t)w;
		else if (c->big_left)
			c->big_left -= (size_t)w;
		else
			c->big_nl = false;
	}
	return 0;
}

/* Reads what is there; -1 on a socket error. */
static int fill(struct conn *c)
{
	if (c->in_cap - c->in_len < 4096 && c->in_cap < LINE_MAX_LEN) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
		char *p = realloc(c->in, cap < LINE_MAX_LEN ? cap : LINE_MAX_LEN);
		if (!p)
			return -1;
		c->in = p;
		c->in_cap = cap < LINE_MAX_LEN ? cap : LINE_MAX_LEN;
	}
	if (c->in_len == c->in_cap)
		return 0;
	ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (r < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (r == 0)
		c->eof = true;
	else if (c->timer == T_IDLE)
		c->timer = T_NONE; /* a new request: not idle any more */
	c->in_len += (size_t)r;
	return 0;
}

static int set_interest(struct conn *c)
{
	uint32_t ev = 0;
	if (!c->eof && !c->quitting && !c->doomed && c->in_len < LINE_MAX_LEN &&
	    out_pending(c) <= OUT_HIGH_WATER)
		ev |= EPOLLIN;
	if (out_pending(c))
		ev |= EPOLLOUT;
	if (ev == c->events)
		return 0;
	struct epoll_event e = { .events = ev, .data.fd = c->fd };
	c->events = ev;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* After any progress: answer what can be answered, send it, then close,
 * arm the idle timer or update the epoll interest. */
static void advance(struct conn *c)
{
	process(c);
	if (flush(c) < 0) {
		conn_close(c, false);
		return;
	}
	if (out_pending(c) == 0) {
		process(c); /* output drained: requests held back may go on */
		if (flush(c) < 0) {
			conn_close(c, false);
			return;
		}
	}
	bool idle = out_pending(c) == 0 && c->timer == T_NONE;
	if (idle && (c->quitting || c->eof)) {
		conn_close(c, false);
		return;
	}
	if (idle && c->replied && opt.doom_ms >= 0 && !c->doomed) {
		c->doomed = true; /* whatever arrives from now on is never read */
		timer_arm(c, T_DOOM, opt.doom_ms);
	}
	if (idle && c->replied && c->in_len == 0 && opt.idle_close_ms >= 0) {
		if (opt.idle_close_ms == 0) {
			conn_close(c, opt.rst);
			return;
		}
		c->replied = false;
		timer_arm(c, T_IDLE, opt.idle_close_ms);
	}
	if (set_interest(c) < 0)
		conn_close(c, false);
}

static void on_conn_event(struct conn *c, uint32_t ev)
{
	if (ev & (EPOLLERR | EPOLLHUP)) {
		conn_close(c, false); /* reset or gone: nobody to answer */
		return;
	}
	if ((ev & EPOLLIN) && fill(c) < 0) {
		conn_close(c, false);
		return;
	}
	advance(c);
}

static void on_timer(struct tentry t)
{
	struct conn *c = (size_t)t.fd < conns_cap ? conns[t.fd] : NULL;
	if (!c || c->id != t.id || c->timer == T_NONE || c->deadline != t.deadline)
		return; /* stale: the connection or its timer is gone */
	enum timer kind = c->timer;
	c->timer = T_NONE;
	if (kind == T_IDLE || kind == T_DOOM) {
		conn_close(c, opt.rst);
		return;
	}
	reply(c, "SLEPT %ld", c->sleep_ms);
	advance(c);
}

/* ---- listener ---- */

/* Out of fds: accept and drop one connection with the reserved fd, so the
 * level-triggered listener does not spin. */
static void shed_one(void)
{
	if (reserve_fd < 0)
		return;
	close(reserve_fd);
	int fd = accept(listen_fd, NULL, NULL);
	if (fd >= 0) {
		n_accepted++;
		close(fd);
	}
	reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_accept(void)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				shed_one();
			else if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			return;
		}
		n_accepted++;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!conn_new(fd))
			close(fd);
	}
}

static int parse_addr(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, addr + 1, n - 2);
		buf[n - 2] = '\0';
		addr = buf;
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		return -1;
	}
	return 0;
}

/* Returns the bound port, or -1 after printing why. */
static int listen_on(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (parse_addr(addr, port, &ss, &len) < 0) {
		fprintf(stderr, "twpool-server: -a %s: not an IPv4 or IPv6 literal\n", addr);
		return -1;
	}
	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listen_fd, (struct sockaddr *)&ss, len) < 0 || listen(listen_fd, SOMAXCONN) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&ss, &len) < 0) {
		fprintf(stderr, "twpool-server: listen on %s port %d: %s\n", addr, port,
			strerror(errno));
		return -1;
	}
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int write_portfile(const char *path, int port)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	int bad = fprintf(f, "%d\n", port) < 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: twpool-server [-a ADDR] [-p PORT] [-P PORTFILE] [-c MS] [-C MS] [-R]\n");
	exit(2);
}

static void parse_opts(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "a:p:P:c:C:R")) != -1) {
		switch (ch) {
		case 'a':
			opt.addr = optarg;
			break;
		case 'p':
			opt.port = (int)parse_num(optarg, 65535);
			break;
		case 'P':
			opt.portfile = optarg;
			break;
		case 'c':
			opt.idle_close_ms = parse_num(optarg, SLEEP_MAX_MS);
			if (opt.idle_close_ms < 0)
				usage();
			break;
		case 'C':
			opt.doom_ms = parse_num(optarg, SLEEP_MAX_MS);
			if (opt.doom_ms < 0)
				usage();
			break;
		case 'R':
			opt.rst = true;
			break;
		default:
			usage();
		}
	}
	if (opt.port < 0 || optind != argc)
		usage();
}

/* Signals arrive through a signalfd so the loop ends between events. */
static int setup_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int epoll_add(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int next_timeout(void)
{
	if (heap_len == 0)
		return -1;
	int64_t d = heap[0].deadline - now_ms();
	return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

static void run_timers(void)
{
	int64_t now = now_ms();
	while (heap_len && heap[0].deadline <= now)
		on_timer(heap_pop());
}

static void loop(int sigfd)
{
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, next_timeout());
		if (n < 0 && errno != EINTR) {
			perror("twpool-server: epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == sigfd)
				return;
			if (fd == listen_fd)
				on_accept();
			else if ((size_t)fd < conns_cap && conns[fd])
				on_conn_event(conns[fd], evs[i].events);
		}
		run_timers();
	}
}

int main(int argc, char **argv)
{
	parse_opts(argc, argv);
	int sigfd = setup_signals();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sigfd < 0 || epfd < 0) {
		perror("twpool-server: setup");
		return 1;
	}
	int port = listen_on(opt.addr, opt.port);
	if (port < 0)
		return 1;
	if (epoll_add(listen_fd) < 0 || epoll_add(sigfd) < 0) {
		perror("twpool-server: epoll_ctl");
		return 1;
	}
	reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	printf("port %d\n", port);
	fflush(stdout);
	if (opt.portfile && write_portfile(opt.portfile, port) < 0) {
		fprintf(stderr, "twpool-server: -P %s: %s\n", opt.portfile, strerror(errno));
		return 1;
	}
	loop(sigfd);
	for (size_t fd = 0; fd < conns_cap; fd++)
		if (conns[fd])
			conn_close(conns[fd], false);
	return 0;
}
