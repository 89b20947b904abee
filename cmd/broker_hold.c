/* broker_hold.c - the connections twpool-broker holds, by fd number.
 *
 * Each held fd is in the broker's epoll set with EPOLLIN | EPOLLRDHUP: an
 * idle connection has nothing to say, so any event (the peer's FIN or
 * reset, stray bytes) evicts it. Lookups scan the table: it is at most a
 * few thousand entries and a program's connect is worth far more. */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_int.h"

struct held {
	int used;
	struct twp_bmsg m; /* key, family, uses, born, lifetime */
	uint64_t parked_ms;
};

static struct held *held;
static int cap, high, nheld, max_total;

int tb_hold_init(int fds, int total)
{
	held = calloc((size_t)fds, sizeof(*held));
	cap = fds;
	max_total = total;
	return held ? 0 : -1;
}

int tb_held(void) { return nheld; }
int tb_is_held(int fd) { return fd >= 0 && fd < cap && held[fd].used; }

void tb_evict(int fd, const char *why)
{
	if (!tb_is_held(fd))
		return;
	tb_log_debug("evict fd %d (%s)", fd, why);
	epoll_ctl(tb_epoll, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	held[fd].used = 0;
	nheld--;
}

/* The same address, pooled under the same protocol's rules. */
static int same_target(const struct twp_bmsg *a, const struct twp_bmsg *b)
{
	return a->family == b->family && a->proto == b->proto &&
	       !memcmp(&a->key, &b->key, sizeof(a->key));
}

/* The held connection to m's target parked last (lru = 0) or first. */
static int find(const struct twp_bmsg *m, int lru, int *count)
{
	int best = -1;
	*count = 0;
	for (int fd = 0; fd < high; fd++) {
		if (!held[fd].used || !same_target(&held[fd].m, m))
			continue;
		(*count)++;
		if (best < 0 || (lru ? held[fd].parked_ms < held[best].parked_ms
				     : held[fd].parked_ms >= held[best].parked_ms))
			best = fd;
	}
	return best;
}

/* Why fd cannot be held for m's target, or NULL: it must be an established
 * TCP socket of m's family connected to m's key, with nothing to read. */
static const char *unfit(int fd, const struct twp_bmsg *m)
{
	struct stat st;
	int type = 0, proto = 0, dom = 0;
	socklen_t l = sizeof(int), l2 = sizeof(int), l3 = sizeof(int);
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return "not a socket";
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) < 0 || proto != IPPROTO_TCP ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l3) < 0 || dom != m->family)
		return "not a TCP socket of its family";
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0 || ti.tcpi_state != 1 /* TCP_ESTABLISHED */)
		return "not established";
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct twp_key k;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    twp_key_from_sockaddr(&k, (struct sockaddr *)&ss, sl) < 0 || memcmp(&k, &m->key, sizeof(k)))
		return "connected elsewhere than its key says";
	char b;
	if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		return "unread bytes, EOF or an error";
	return NULL;
}

/* Takes fd for m's target; the oldest of the target goes past max_idle. */
void tb_put(int fd, const struct twp_bmsg *m, uint64_t now)
{
	int n, old;
	const char *why = fd >= cap ? "fd table full" : unfit(fd, m);
	if (!why && nheld >= max_total)
		why = "holding the most it may";
	if (why) {
		tb_log("refused a connection from a client: %s", why);
		close(fd);
		return;
	}
	while ((old = find(m, 1, &n)) >= 0 && (unsigned)n >= tb_max_idle)
		tb_evict(old, "overflow");
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
	if (tb_max_idle == 0 || epoll_ctl(tb_epoll, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	held[fd] = (struct held){ .used = 1, .m = *m, .parked_ms = now };
	nheld++;
	if (fd >= high)
		high = fd + 1;
}

/* The held connection to m's target parked last, with its record in *out;
 * -1 when none. It stays held until tb_evict: sending may fail. */
int tb_get(const struct twp_bmsg *m, struct twp_bmsg *out)
{
	int n, fd = find(m, 0, &n);
	if (fd >= 0)
		*out = held[fd].m;
	return fd;
}

/* Idle past the timeout, or past its lifetime. */
void tb_sweep(uint64_t now)
{
	for (int fd = 0; fd < high; fd++) {
		struct held *h = &held[fd];
		if (!h->used)
			continue;
		if (tb_idle_timeout_ms && now >= h->parked_ms + tb_idle_timeout_ms)
			tb_evict(fd, "idle timeout");
		else if (h->m.expires_ms && now >= h->m.expires_ms)
			tb_evict(fd, "lifetime");
	}
}
