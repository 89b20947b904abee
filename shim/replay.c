/* replay.c - keeping request bytes and replaying them on a fresh connection. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "config.h"
#include "conn.h"
#include "fdtab.h"
#include "log.h"
#include "pool.h"
#include "privfd.h"
#include "real.h"
#include "replay.h"
#include "sockopt.h"
#include "swap.h"

/* Errors that mean the peer is gone, as a reused connection meets them. */
static int dead_errno(int e)
{
	return e == ECONNRESET || e == EPIPE || e == ENOTCONN || e == ECONNABORTED || e == ETIMEDOUT;
}

static int failed_dead(const struct twp_io *io, ssize_t r, int err)
{
	if (r < 0)
		return dead_errno(err);
	if (r > 0 || twp_io_writes(io))
		return 0;
	const struct iovec *iov;
	int cnt;
	size_t want = 0;
	twp_io_buffers(io, &iov, &cnt);
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	return want > 0; /* read 0 of more than 0: EOF */
}

/* Appends the n bytes the program just wrote; 0, or -1 past the bound. */
static int keep(struct twp_kept *k, const struct twp_io *io, size_t n)
{
	if (k->n + n > twp_cfg.replay_max)
		return -1;
	if (k->n + n > k->cap) {
		size_t cap = k->cap ? k->cap : 512;
		while (cap < k->n + n)
			cap *= 2;
		char *p = realloc(k->buf, cap);
		if (!p)
			return -1;
		k->buf = p;
		k->cap = cap;
	}
	const struct iovec *iov;
	int cnt;
	twp_io_buffers(io, &iov, &cnt);
	for (int i = 0; i < cnt && n > 0; i++) {
		size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
		memcpy(k->buf + k->n, iov[i].iov_base, len);
		k->n += len;
		n -= len;
	}
	return 0;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;
	while ((r = TWP_NEXT(poll)(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (r == 0)
		errno = ETIMEDOUT;
	return r > 0 ? 0 : -1;
}

/* A fresh non-blocking connection to c's peer, with the program's options,
 * the kept bytes already sent. The fd, or -1. */
static int fresh_with_request(const struct twp_conn *c)
{
	int fd = twp_real.socket(c->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (twp_sockopt_replay(fd, c->opts) < 0)
		goto fail;
	if (twp_real.connect(fd, (const struct sockaddr *)&c->peer, c->peerlen) < 0) {
		if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, TWPOOL_REPLAY_CONNECT_TIMEOUT_MS) < 0)
			goto fail;
		if (twp_real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
			errno = soerr ? soerr : errno;
			goto fail;
		}
	}
	for (size_t off = 0; off < c->kept.n;) {
		ssize_t w = twp_real.send(fd, c->kept.buf + off, c->kept.n - off, MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && (errno == EAGAIN || errno == EINTR))
			wait_fd(fd, POLLOUT, TWPOOL_REPLAY_CONNECT_TIMEOUT_MS);
		else
			goto fail;
	}
	return fd;
fail:;
	int saved = errno;
	twp_real.close(fd);
	errno = saved;
	return -1;
}

/* TWPOOL_REPLAY: safe asks the codec (without one, the raw rules: any
 * request), all replays whatever was kept. off never gets here: nothing
 * is kept. Bytes that went by a blind path were never kept (track.c). */
static int may_send_twice(const struct twp_conn *c)
{
	if (twp_cfg.replay == TWP_REPLAY_ALL || !c->codec)
		return 1;
	return twp_cfg.replay == TWP_REPLAY_SAFE && c->codec->replayable(c->codec_state);
}

/* Stops keeping: a reply byte came, too much was written, or the replay
 * was spent. */
static void disarm(struct twp_slot *s, struct twp_conn *c)
{
	twp_slot_clear(s, TWP_S_ARMED);
	c->kept.n = 0;
}

/* Puts a fresh connection under fd in place of its dead one. 0 or -1. */
static int reconnect(int fd, struct twp_slot *s)
{
	struct twp_conn *c = s->conn;
	uint32_t st = atomic_load(&s->st);
	int nfd = fresh_with_request(c);
	if (nfd < 0)
		return -1;
	int r = twp_swap(fd, nfd, 1, st, s->ep, NULL), saved = errno;
	twp_real.close(nfd);
	errno = saved;
	if (r < 0)
		return -1;
	if (c->fd == fd) /* parked in place before: the swap closed it */
		c->fd = -1;
	twp_privfd_close(c); /* the dead connection's last fd */
	c->inplace = 0;
	c->uses = 1;
	c->born_ms = twp_now_ms();
	twp_slot_clear(s, TWP_S_REUSED | TWP_S_ARMED);
	return 0;
}

ssize_t twp_replay_io(struct twp_slot *s, const struct twp_io *io)
{
	struct twp_conn *c = s->conn;
	int writes = twp_io_writes(io);
	ssize_t r = twp_io_call(io, writes);
	int err = errno;
	if (!failed_dead(io, r, err)) {
		if (r > 0 && (!writes || keep(&c->kept, io, (size_t)r) < 0))
			disarm(s, c);
		errno = err;
		return r;
	}
	if (!may_send_twice(c)) {
		disarm(s, c); /* the protocol says: not twice */
	} else if (reconnect(io->fd, s) == 0) {
		twp_count(&c->target->n.replays_ok);
		twp_debug("fd %d: %s dead before its reply; replayed %zu bytes on a fresh connection",
			  io->fd, c->target->label, c->kept.n);
		c->kept.n = 0;
		r = twp_io_call(io, writes);
		err = errno;
	} else {
		twp_count(&c->target->n.replays_failed);
		twp_log(TWP_LOG_INFO, "fd %d: %s dead before its reply; replay failed: %s",
			io->fd, c->target->label, strerror(errno));
		disarm(s, c);
	}
	if (r < 0 && err == EPIPE && writes && !(io->flags & MSG_NOSIGNAL))
		raise(SIGPIPE); /* what the program's own write would have done */
	errno = err;
	return r;
}
