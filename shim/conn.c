/* conn.c - a pooled connection's life apart from any fd: made, used,
 * freed, discarded. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "mysql_login.h"
#include "pool.h"
#include "privfd.h"
#include "real.h"
#include "stats.h"

/* Bumped by every fork, vfork, posix_spawn, system and popen: a connection
 * handed out before a child was made may be shared with it and is never
 * parked (twpool_discards_total{reason="shared"}). */
static _Atomic uint64_t spawn_gen;

static uint64_t lifetime_deadline(uint64_t now)
{
	unsigned life = twp_cfg.max_lifetime_ms;
	if (!life)
		return 0;
	/* Up to 10 % earlier, so connections made together do not expire together. */
	return now + life - (uint64_t)((unsigned)rand() % (life / 10 + 1));
}

struct twp_conn *twp_conn_new(struct twp_target *t, const struct twp_codec *codec,
			      const struct sockaddr *sa, socklen_t len)
{
	struct twp_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (codec && !(c->codec_state = calloc(1, codec->state_size))) {
		free(c);
		return NULL;
	}
	c->codec = codec;
	c->fd = -1;
	c->family = sa->sa_family;
	c->target = t;
	c->peerlen = len < sizeof(c->peer) ? len : sizeof(c->peer);
	memcpy(&c->peer, sa, c->peerlen);
	c->uses = 1;
	c->gen = atomic_load(&spawn_gen);
	c->born_ms = twp_now_ms();
	c->expires_ms = lifetime_deadline(c->born_ms);
	return c;
}

void twp_conn_begin_use(struct twp_conn *c)
{
	c->uses++;
	c->gen = atomic_load(&spawn_gen);
	c->kept.n = 0;
	c->written = 0;
	if (c->codec)
		memset(c->codec_state, 0, c->codec->state_size);
	twp_count(&c->target->n.reused);
}

void twp_conn_first_read(struct twp_conn *c)
{
	if (c->codec && c->codec->verdict(c->codec_state) == TWP_R_SERVER_FIRST &&
	    !atomic_exchange(&c->target->server_first, 1))
		twp_log(TWP_LOG_INFO, "%s speaks first: its connections are not pooled",
			c->target->label);
}

int twp_conn_server_first(const struct twp_conn *c)
{
	return atomic_load_explicit(&c->target->server_first, memory_order_relaxed);
}

int twp_conn_maybe_shared(const struct twp_conn *c)
{
	return c->gen != atomic_load(&spawn_gen);
}

void twp_conn_mark_shared(void)
{
	atomic_fetch_add(&spawn_gen, 1);
}

void twp_conn_free(struct twp_conn *c)
{
	if (c->myl && c->myl->peer >= 0)
		twp_privfd_drop(c->myl->peer);
	free(c->myl);
	free(c->opts);
	free(c->kept.buf);
	free(c->codec_state);
	free(c);
}

void twp_conn_discard(struct twp_conn *c, enum twp_reason why)
{
	int saved = errno;
	twp_debug("discard %s fd=%d reason=%s uses=%u", c->target->label, c->fd,
		  twp_reason_name(why), c->uses);
	twp_privfd_close(c);
	twp_count(&c->target->n.discards[why]);
	twp_conn_free(c);
	errno = saved;
}

void twp_conn_discard_list(struct twp_conn *list, enum twp_reason why)
{
	while (list) {
		struct twp_conn *next = list->next;
		twp_conn_discard(list, why);
		list = next;
	}
}

void twp_conn_discard_inuse(struct twp_conn *c, int fd, enum twp_reason why)
{
	if (c->fd == fd) /* the program's number: its close is the program's */
		c->fd = -1;
	twp_count(&c->target->n.closed);
	twp_conn_discard(c, why);
}

/* Longest wait for the reply to a reset written at park: it is usually
 * there already, the program having done other work since. */
#define TWP_RESET_WAIT_MS 50

enum twp_reason twp_conn_consume_reset(struct twp_conn *c, int fd)
{
	const struct twp_codec *k = c->codec;
	char buf[64];
	size_t got = 0, want = k->reset_reply_len < sizeof(buf) ? k->reset_reply_len : sizeof(buf);
	uint64_t deadline = twp_now_ms() + TWP_RESET_WAIT_MS;
	c->reset_pending = 0;
	while (got < want) {
		ssize_t r = twp_real.recv(fd, buf + got, want - got, MSG_DONTWAIT);
		uint64_t now = twp_now_ms();
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
		    now >= deadline)
			return TWP_R_STALE;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		TWP_NEXT(poll)(&p, 1, (int)(deadline - now));
	}
	return memcmp(buf, k->reset_reply, want) ? TWP_R_STALE : TWP_R_NONE;
}

void twp_conn_tick(void)
{
	static _Atomic uint64_t next_ms;
	uint64_t now = twp_now_ms(), due = atomic_load_explicit(&next_ms, memory_order_relaxed);
	if (now < due ||
	    !atomic_compare_exchange_strong(&next_ms, &due, now + twp_cfg.stats_interval_ms))
		return;
	struct twp_conn *expired = NULL;
	twp_pool_sweep(now, &expired);
	twp_conn_discard_list(expired, TWP_R_IDLE_TIMEOUT);
	twp_stats_write(0);
}
