/* codec_auto.c - the protocol of a target given without /PROTOCOL, chosen
 * afresh on every use from the first bytes the program writes: the
 * classifier of those bytes, and the codec that hands them on.
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

#include "codec_auto.h"
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

/* ---- the first bytes ---------------------------------------------------- */

/* Longest decimal count of a RESP array header worth waiting for. */
#define RESP_DIGITS_MAX 10

/* "*N\r\n$": an array whose first element is a bulk string. */
static enum twp_auto_kind resp_array(const unsigned char *p, size_t n)
{
	size_t i = 1;
	while (i < n && i <= RESP_DIGITS_MAX && p[i] >= '0' && p[i] <= '9')
		i++;
	if (i == n)
		return TWP_AUTO_MORE;
	if (i == 1 || i > RESP_DIGITS_MAX || p[i] != '\r')
		return TWP_AUTO_RAW;
	static const char tail[] = "\r\n$";
	for (size_t k = 0; k < 3; k++, i++)
		if (i == n)
			return TWP_AUTO_MORE;
		else if (p[i] != (unsigned char)tail[k])
			return TWP_AUTO_RAW;
	return TWP_AUTO_REDIS;
}

/* Record type handshake (22), version 3.0-3.4 as ClientHellos carry it. */
static enum twp_auto_kind tls_record(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[1] != 0x03)
		return TWP_AUTO_RAW;
	if (n < 3)
		return TWP_AUTO_MORE;
	return p[2] <= 0x04 ? TWP_AUTO_TLS : TWP_AUTO_RAW;
}

/* Length of the run of bytes of p[0..n) that are in set. */
static size_t span(const char *p, size_t n, const char *set)
{
	size_t i = 0;
	while (i < n && p[i] && strchr(set, p[i]))
		i++;
	return i;
}

#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"

/* METHOD SP TARGET SP HTTP/1.D (the line without its CR LF). */
static int http_line(const char *p, size_t n)
{
	size_t m = span(p, n, UPPER "-_");
	if (!m || m == n || p[m] != ' ')
		return 0;
	const char *t = p + m + 1, *end = p + n;
	const char *sp = memchr(t, ' ', (size_t)(end - t));
	if (!sp || sp == t || end - sp != 9 || memcmp(sp + 1, "HTTP/1.", 7) || sp[8] < '0' ||
	    sp[8] > '9')
		return 0;
	for (const char *q = t; q < sp; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return 0;
	return 1;
}

/* The next space-separated word of p[*at..n): its length, *at moved past it. */
static size_t word(const char *p, size_t n, size_t *at, const char **w)
{
	while (*at < n && p[*at] == ' ')
		(*at)++;
	*w = p + *at;
	size_t len = 0;
	while (*at < n && p[*at] != ' ')
		(*at)++, len++;
	return len;
}

static int word_is(const char *w, size_t len, const char *s)
{
	return strlen(s) == len && !memcmp(w, s, len);
}

static int all_digits(const char *w, size_t len)
{
	return len && span(w, len, DIGITS) == len;
}

/* Commands of memcached that Redis has none of (memcached's are lower
 * case; Redis reads any case, so GETS would be none of its either). */
static const char *const mc_only[] = {
	"gets", "gat", "gats", "cas", "add", "replace", "prepend", "delete", "flush_all",
	"version", "verbosity", "stats", "mg", "ms", "md", "ma", "mn", "me",
};

/* set|append KEY FLAGS EXPTIME BYTES [noreply]: Redis's SET and APPEND
 * refuse three numbers after the key, so only memcached reads it so. */
static int mc_storage(const char *p, size_t n, const char *w, size_t len)
{
	if (!word_is(w, len, "set") && !word_is(w, len, "append"))
		return 0;
	size_t at = len, words = 1;
	const char *x;
	for (size_t l; (l = word(p, n, &at, &x)) > 0; words++)
		if ((words >= 2 && words <= 4 && !all_digits(x, l)) ||
		    (words == 5 && !word_is(x, l, "noreply")) || words > 5)
			return 0;
	return words == 5 || words == 6;
}

static int mc_text_line(const char *p, size_t n)
{
	size_t at = 0;
	const char *w;
	size_t len = word(p, n, &at, &w);
	for (size_t i = 0; i < sizeof(mc_only) / sizeof(mc_only[0]); i++)
		if (word_is(w, len, mc_only[i]))
			return 1;
	return mc_storage(p, n, w, len);
}

/* A first line: HTTP, memcached text, or nothing known. */
static enum twp_auto_kind first_line(const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	if (!lf)
		return TWP_AUTO_MORE;
	size_t len = (size_t)(lf - p);
	if (len && p[len - 1] == '\r')
		len--;
	if (http_line(p, len))
		return TWP_AUTO_HTTP;
	return mc_text_line(p, len) ? TWP_AUTO_MEMCACHE : TWP_AUTO_RAW;
}

enum twp_auto_kind twp_auto_classify(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	if (!n)
		return TWP_AUTO_MORE;
	if (p[0] == 0x16)
		return tls_record(p, n);
	if (p[0] == 0x80)
		return TWP_AUTO_MEMCACHE;
	if (p[0] == '*')
		return resp_array(p, n);
	if ((p[0] | 0x20) < 'a' || (p[0] | 0x20) > 'z')
		return TWP_AUTO_RAW; /* no method, no command word */
	return first_line(buf, n);
}

/* ---- the codec --------------------------------------------------------- */

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
