/* codec_auto.c - the protocol of a target given without /PROTOCOL, chosen
 * afresh on every use from the first bytes the program writes.
 *
 * The choice is per use, not per target: the state, the choice with it,
 * is zeroed at each handout (twp_conn_begin_use), so a parked connection
 * holds no choice the next user could inherit. What one use proved clean
 * is proved by the codec of that use; a next user that speaks another
 * protocol to the same port is judged by its own first bytes. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "codec_http.h"
#include "codec_memcache.h"
#include "codec_resp.h"

/* Bytes of the first writes kept until the choice is made: a request line
 * longer than this is judged by the raw rules. */
#define AUTO_PEEK 1024
/* Room for the chosen codec's state (codec.h). */
#define AUTO_ROOM TWP_AUTO_ROOM

/* RESET, as codec_resp writes it: auto resets only with its own strings,
 * and only when the chosen codec's are the same (reset_like). */
#define AUTO_RESET "*1\r\n$5\r\nRESET\r\n"
#define AUTO_RESET_REPLY "+RESET\r\n"

struct twp_auto {
	uint8_t kind;                /* enum twp_auto_kind; 0: not chosen yet */
	uint8_t wrote, read, lastread; /* the raw rules' call shape */
	uint16_t n;                  /* bytes in peek */
	const struct twp_codec *inner; /* the chosen codec; NULL: raw rules */
	char peek[AUTO_PEEK];
	alignas(max_align_t) unsigned char inner_state[AUTO_ROOM];
};

static const struct twp_codec *codec_of(enum twp_auto_kind k)
{
	switch (k) {
	case TWP_AUTO_HTTP:
		return &twp_codec_http;
	case TWP_AUTO_REDIS:
		return &twp_codec_resp;
	case TWP_AUTO_MEMCACHE:
		return &twp_codec_memcache;
	default:
		return NULL;
	}
}

/* Copies the first k bytes of iov to dst. */
static void copy_iov(char *dst, const struct iovec *iov, int cnt, size_t k)
{
	for (int i = 0; i < cnt && k > 0; i++) {
		size_t len = iov[i].iov_len < k ? iov[i].iov_len : k;
		memcpy(dst, iov[i].iov_base, len);
		dst += len;
		k -= len;
	}
}

/* Hands the chosen codec the written bytes of iov from skip on, left of
 * them; each buffer a call of its own (the codecs are incremental). */
static void feed_from(struct twp_auto *a, const struct iovec *iov, int cnt, size_t skip,
		      size_t left)
{
	for (int i = 0; i < cnt && left > 0; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		struct iovec part = { (char *)iov[i].iov_base + skip, iov[i].iov_len - skip };
		if (part.iov_len > left)
			part.iov_len = left;
		a->inner->bytes(a->inner_state, 1, &part, 1, part.iov_len);
		left -= part.iov_len;
		skip = 0;
	}
}

static void shape(struct twp_auto *a, int out)
{
	if (out) {
		a->wrote = 1;
		a->lastread = 0;
	} else {
		a->read = a->lastread = 1;
	}
}

/* Makes the choice; the chosen codec reads the bytes kept so far. */
static void choose(struct twp_auto *a, enum twp_auto_kind kind)
{
	a->inner = codec_of(kind);
	if (a->inner && a->inner->state_size > sizeof(a->inner_state)) {
		a->inner = NULL; /* cannot happen (unit-tested); the raw rules hold */
		kind = TWP_AUTO_RAW;
	}
	a->kind = (uint8_t)kind;
	if (a->inner) {
		struct iovec all = { a->peek, a->n };
		a->inner->bytes(a->inner_state, 1, &all, 1, a->n);
	} else if (kind == TWP_AUTO_RAW) {
		shape(a, 1);
	}
}

/* Bytes before the choice. A read before any write: the server spoke
 * first. A read after bytes that decide nothing: the raw rules. */
static void undecided(struct twp_auto *a, int out, const struct iovec *iov, int cnt, size_t n)
{
	if (!out) {
		if (!a->n) {
			a->kind = TWP_AUTO_SERVER_FIRST;
			return;
		}
		choose(a, TWP_AUTO_RAW);
		shape(a, 0);
		return;
	}
	size_t room = sizeof(a->peek) - a->n, k = n < room ? n : room;
	copy_iov(a->peek + a->n, iov, cnt, k);
	a->n = (uint16_t)(a->n + k);
	enum twp_auto_kind kind = twp_auto_classify(a->peek, a->n);
	if (kind == TWP_AUTO_MORE && a->n < sizeof(a->peek))
		return;
	choose(a, kind == TWP_AUTO_MORE ? TWP_AUTO_RAW : kind);
	if (a->inner && k < n)
		feed_from(a, iov, cnt, k, n - k);
}

static void auto_bytes(void *state, int out, const struct iovec *iov, int cnt, size_t n)
{
	struct twp_auto *a = state;
	if (a->kind == TWP_AUTO_MORE)
		undecided(a, out, iov, cnt, n);
	else if (a->inner)
		a->inner->bytes(a->inner_state, out, iov, cnt, n);
	else if (a->kind == TWP_AUTO_RAW)
		shape(a, out);
}

static enum twp_reason auto_verdict(const void *state)
{
	const struct twp_auto *a = state;
	if (a->inner)
		return a->inner->verdict(a->inner_state);
	switch (a->kind) {
	case TWP_AUTO_MORE:
		return a->n ? TWP_R_LAST_WRITE : TWP_R_UNUSED;
	case TWP_AUTO_TLS:
		return TWP_R_TLS;
	case TWP_AUTO_SERVER_FIRST:
		return TWP_R_SERVER_FIRST;
	default: /* raw: it wrote, it read, and it read last */
		if (!a->wrote || !a->read)
			return TWP_R_UNUSED;
		return a->lastread ? TWP_R_NONE : TWP_R_LAST_WRITE;
	}
}

/* TLS may carry early data (0-RTT), which is not safe twice; a server
 * that spoke first has spoken, so nothing is kept for a replay anyway. */
static int auto_replayable(const void *state)
{
	const struct twp_auto *a = state;
	if (a->inner)
		return a->inner->replayable(a->inner_state);
	return a->kind == TWP_AUTO_MORE || a->kind == TWP_AUTO_RAW;
}

static int reset_like(const struct twp_codec *k)
{
	return k->reset_len == sizeof(AUTO_RESET) - 1 && !memcmp(k->reset, AUTO_RESET, k->reset_len) &&
	       k->reset_reply_len == sizeof(AUTO_RESET_REPLY) - 1 &&
	       !memcmp(k->reset_reply, AUTO_RESET_REPLY, k->reset_reply_len);
}

static int auto_needs_reset(const void *state)
{
	const struct twp_auto *a = state;
	return a->inner && a->inner->needs_reset && reset_like(a->inner) &&
	       a->inner->needs_reset(a->inner_state);
}

enum twp_auto_kind twp_auto_chosen(const void *state)
{
	return (enum twp_auto_kind)((const struct twp_auto *)state)->kind;
}

const struct twp_codec twp_codec_auto = {
	.name = "auto",
	.state_size = sizeof(struct twp_auto),
	.bytes = auto_bytes,
	.verdict = auto_verdict,
	.replayable = auto_replayable,
	.needs_reset = auto_needs_reset,
	.reset = AUTO_RESET,
	.reset_len = sizeof(AUTO_RESET) - 1,
	.reset_reply = AUTO_RESET_REPLY,
	.reset_reply_len = sizeof(AUTO_RESET_REPLY) - 1,
};
