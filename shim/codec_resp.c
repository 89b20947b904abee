/* codec_resp.c - RESP request and reply framing, command classification.
 *
 * Both directions are byte-driven state machines over fixed state: a chunk
 * may end anywhere, even inside a number or a CRLF. Requests are numbered
 * as they complete and replies as they complete; the server answers in
 * order, so the difference is what is still due. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_resp.h"
#include "resp_readonly.h"

/* Longest command or subcommand name kept; Redis's longest is 20 bytes.
 * A longer one is no command the tables know. */
#define NAME_MAX_LEN 23
/* Digits in a length: Redis caps bulk strings at 512 MB, counts at 2^31. */
#define NUM_MAX_DIGITS 12

/* A length line: [-]digits CR LF. */
struct num {
	int64_t val;
	uint8_t ndig, neg, cr;
};

enum req_state { RQ_START, RQ_COUNT, RQ_HDR, RQ_LEN, RQ_DATA, RQ_CR, RQ_LF, RQ_INLINE };

struct req {
	uint8_t st;
	uint8_t quoted;  /* inline, in quotes: bit 0 the name, bit 1 the next word */
	uint8_t intoken; /* inline: inside a token */
	struct num num;
	int64_t args;    /* bulk arguments left */
	int64_t len;     /* bytes left in the current bulk */
	uint32_t argi;   /* index of the current argument */
	uint8_t nlen[2]; /* name and subcommand, uppercased */
	char name[2][NAME_MAX_LEN + 1];
};

enum rep_state { RP_TYPE, RP_LINE, RP_BLEN, RP_ALEN, RP_DATA, RP_CR, RP_LF };

struct frame {
	int64_t left; /* values left in this aggregate */
	uint8_t kind; /* its type byte */
};

struct rep {
	uint8_t st, cr;
	uint8_t agg; /* type byte of the aggregate whose length is read */
	uint8_t top; /* type byte of the current top-level value */
	uint8_t depth;
	struct num num;
	int64_t len;
	struct frame stack[TWP_RESP_MAX_DEPTH];
};

/* Session state a request may leave on the connection. */
enum {
	S_STICKY = 1,   /* SELECT, AUTH, HELLO, CLIENT SETNAME, ... */
	S_MULTI = 2,    /* MULTI without EXEC or DISCARD */
	S_WATCH = 4,    /* WATCH without UNWATCH, EXEC or DISCARD */
	S_UNFRAMED = 8, /* replies no longer one per request */
	S_QUIT = 16,
	S_ERROR = 32,
};

struct twp_resp {
	struct req req;
	struct rep rep;
	uint64_t nreq, nrep;  /* requests written, replies read */
	uint64_t last_unsafe; /* number of the last request not read-only */
	uint8_t flags;
};

/* Feeds one byte of a length line: 1 when the line is complete, 0 when
 * more is needed, -1 when it is no number. */
static int num_byte(struct num *n, uint8_t c)
{
	if (n->cr)
		return c == '\n' && n->ndig ? 1 : -1;
	if (c == '\r') {
		n->cr = 1;
		return 0;
	}
	if (c == '-' && !n->ndig && !n->neg) {
		n->neg = 1;
		return 0;
	}
	if (c < '0' || c > '9' || n->ndig >= NUM_MAX_DIGITS)
		return -1;
	n->val = n->val * 10 + (c - '0');
	n->ndig++;
	return 0;
}

static void num_reset(struct num *n)
{
	memset(n, 0, sizeof(*n));
}

static int cmp_name(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static int in_table(const char *key, const char *const *tab, size_t n)
{
	return bsearch(key, tab, n, sizeof(*tab), cmp_name) != NULL;
}

/* What a command does to the session (beyond its reply). */
enum effect { E_NONE, E_STICKY, E_MULTI, E_WATCH, E_ENDTX, E_UNWATCH, E_RESET, E_UNFRAMED, E_QUIT };

struct effect_row {
	const char *name;
	enum effect e;
};

/* Sorted by strcmp; "CONTAINER|SUB" rows for subcommands. */
static const struct effect_row effects[] = {
	{ "ASKING", E_STICKY },
	{ "AUTH", E_STICKY },
	{ "CLIENT|CACHING", E_STICKY },
	{ "CLIENT|NO-EVICT", E_STICKY },
	{ "CLIENT|NO-TOUCH", E_STICKY },
	{ "CLIENT|REPLY", E_UNFRAMED },
	{ "CLIENT|SETINFO", E_STICKY },
	{ "CLIENT|SETNAME", E_STICKY },
	{ "CLIENT|TRACKING", E_STICKY },
	{ "DISCARD", E_ENDTX },
	{ "EXEC", E_ENDTX },
	{ "HELLO", E_STICKY },
	{ "MONITOR", E_UNFRAMED },
	{ "MULTI", E_MULTI },
	{ "PSUBSCRIBE", E_UNFRAMED },
	{ "PSYNC", E_QUIT },
	{ "QUIT", E_QUIT },
	{ "READONLY", E_STICKY },
	{ "READWRITE", E_STICKY },
	{ "RESET", E_RESET },
	{ "SELECT", E_STICKY },
	{ "SSUBSCRIBE", E_UNFRAMED },
	{ "SUBSCRIBE", E_UNFRAMED },
	{ "SYNC", E_QUIT }, /* the connection becomes a replication stream */
	{ "UNWATCH", E_UNWATCH },
	{ "WATCH", E_WATCH },
};

static int cmp_row(const void *key, const void *elem)
{
	return strcmp(key, ((const struct effect_row *)elem)->name);
}

static enum effect effect_of(const char *key)
{
	const struct effect_row *row = bsearch(key, effects, sizeof(effects) / sizeof(*effects),
					       sizeof(*effects), cmp_row);
	return row ? row->e : E_NONE;
}

static void apply_effect(struct twp_resp *r, enum effect e)
{
	static const uint8_t set[] = { [E_STICKY] = S_STICKY,
				       [E_MULTI] = S_MULTI,
				       [E_WATCH] = S_WATCH,
				       [E_UNFRAMED] = S_UNFRAMED,
				       [E_QUIT] = S_QUIT };
	if (e == E_ENDTX)
		r->flags &= (uint8_t) ~(S_MULTI | S_WATCH);
	else if (e == E_UNWATCH)
		r->flags &= (uint8_t)~S_WATCH;
	else if (e == E_RESET) /* RESET's reply comes in order, like any other */
		r->flags &= (uint8_t) ~(S_STICKY | S_MULTI | S_WATCH);
	else
		r->flags |= set[e];
}

/* The request's name in one, and "NAME|SUB" in key when it has a second
 * argument (else key is the name too). */
static void req_names(const struct req *q, char *one, char *key)
{
	memcpy(one, q->name[0], q->nlen[0]);
	one[q->nlen[0]] = '\0';
	memcpy(key, one, q->nlen[0] + 1);
	if (q->nlen[1] && q->nlen[1] <= NAME_MAX_LEN) {
		key[q->nlen[0]] = '|';
		memcpy(key + q->nlen[0] + 1, q->name[1], q->nlen[1]);
		key[q->nlen[0] + 1 + q->nlen[1]] = '\0';
	}
}

/* A whole request was written: number it, classify it by name. */
static void req_done(struct twp_resp *r)
{
	struct req *q = &r->req;
	char key[2 * NAME_MAX_LEN + 2], one[NAME_MAX_LEN + 1];
	size_t ntab = sizeof(twp_resp_readonly) / sizeof(*twp_resp_readonly);

	r->nreq++;
	q->st = RQ_START;
	int known = q->nlen[0] && q->nlen[0] <= NAME_MAX_LEN && !(q->quoted & 1);
	if (known)
		req_names(q, one, key);
	/* A name not read (or CLIENT's subcommand in quotes) might be SELECT. */
	if (!known || ((q->quoted & 2) && !strcmp(one, "CLIENT"))) {
		r->flags |= S_STICKY;
		r->last_unsafe = r->nreq;
		return;
	}
	/* CLIENT is the only command whose subcommands the effects list. */
	apply_effect(r, effect_of(strcmp(one, "CLIENT") ? one : key));
	if (!in_table(one, twp_resp_readonly, ntab) &&
	    (!strcmp(one, key) || !in_table(key, twp_resp_readonly, ntab)))
		r->last_unsafe = r->nreq;
}

/* Keeps byte c of argument i's name, uppercased, one past the limit. */
static void name_byte(struct req *q, uint32_t i, uint8_t c)
{
	if (i > 1 || q->nlen[i] > NAME_MAX_LEN)
		return;
	if (q->nlen[i] < NAME_MAX_LEN)
		q->name[i][q->nlen[i]] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
	q->nlen[i]++;
}

static void req_begin(struct req *q)
{
	q->argi = 0;
	q->nlen[0] = q->nlen[1] = 0;
	q->quoted = 0;
	q->intoken = 0;
}

/* Inline command: words up to LF; no word at all is no command. */
static void req_inline(struct twp_resp *r, uint8_t c)
{
	struct req *q = &r->req;
	int space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
	if (!space && !q->intoken) {
		q->intoken = 1;
		if (q->argi <= 1 && (c == '"' || c == '\''))
			q->quoted |= (uint8_t)(1 << q->argi);
	} else if (space && q->intoken) {
		q->intoken = 0;
		q->argi++;
	}
	if (!space)
		name_byte(q, q->argi, c);
	if (c != '\n')
		return;
	if (q->argi > 0)
		req_done(r);
	q->st = RQ_START;
}

/* A length line ended: what it opens. */
static void req_number(struct twp_resp *r)
{
	struct req *q = &r->req;
	int64_t v = q->num.neg ? -q->num.val : q->num.val;
	if (q->st == RQ_COUNT) {
		q->args = v;
		q->st = v > 0 ? RQ_HDR : RQ_START; /* *0 and *-1: no command, no reply */
	} else if (v < 0) {
		r->flags |= S_ERROR;
	} else {
		q->len = v;
		q->st = v ? RQ_DATA : RQ_CR;
	}
}

static void req_start(struct twp_resp *r, uint8_t c)
{
	struct req *q = &r->req;
	req_begin(q);
	num_reset(&q->num);
	if (c == '*') {
		q->st = RQ_COUNT;
	} else {
		q->st = RQ_INLINE;
		req_inline(r, c);
	}
}

static size_t req_data(struct twp_resp *r, const uint8_t *p, size_t n)
{
	struct req *q = &r->req;
	size_t k = (uint64_t)q->len < n ? (size_t)q->len : n;
	if (q->argi <= 1) { /* past NAME_MAX_LEN + 1 bytes nothing is kept */
		size_t room = (size_t)(NAME_MAX_LEN + 1 - q->nlen[q->argi]);
		for (size_t i = 0; i < k && i < room; i++)
			name_byte(q, q->argi, p[i]);
	}
	q->len -= (int64_t)k;
	if (!q->len)
		q->st = RQ_CR;
	return k;
}

/* The end of one bulk argument. */
static void req_arg_end(struct twp_resp *r)
{
	struct req *q = &r->req;
	q->argi++;
	if (--q->args == 0)
		req_done(r);
	else
		q->st = RQ_HDR;
}

/* Consumes at least one byte of p (n > 0); returns how many. */
static size_t req_step(struct twp_resp *r, const uint8_t *p, size_t n)
{
	struct req *q = &r->req;
	int rc;
	switch (q->st) {
	case RQ_START:
		req_start(r, p[0]);
		break;
	case RQ_INLINE:
		req_inline(r, p[0]);
		break;
	case RQ_COUNT:
	case RQ_LEN:
		if ((rc = num_byte(&q->num, p[0])) < 0)
			r->flags |= S_ERROR;
		else if (rc > 0)
			req_number(r);
		break;
	case RQ_HDR:
		num_reset(&q->num);
		q->st = RQ_LEN;
		if (p[0] != '$')
			r->flags |= S_ERROR;
		break;
	case RQ_DATA:
		return req_data(r, p, n);
	case RQ_CR:
		q->st = RQ_LF;
		if (p[0] != '\r')
			r->flags |= S_ERROR;
		break;
	case RQ_LF:
		if (p[0] != '\n')
			r->flags |= S_ERROR;
		req_arg_end(r);
		break;
	}
	return 1;
}

/* A complete top-level value that answers a request. */
static void reply_done(struct twp_resp *r)
{
	r->nrep++;
	if (r->nrep > r->nreq && !(r->flags & S_UNFRAMED))
		r->flags |= S_ERROR;
}

/* A value ended: close the aggregates it completes. */
static void value_done(struct twp_resp *r)
{
	struct rep *p = &r->rep;
	p->st = RP_TYPE;
	while (p->depth) {
		struct frame *f = &p->stack[p->depth - 1];
		if (--f->left > 0)
			return;
		p->depth--;
		if (f->kind == '|') /* the value it describes follows */
			return;
	}
	if (p->top != '>' && p->top != '|')
		reply_done(r);
}

static void rep_type(struct twp_resp *r, uint8_t c)
{
	struct rep *p = &r->rep;
	if (!p->depth)
		p->top = c;
	num_reset(&p->num);
	p->cr = 0;
	p->agg = c;
	switch (c) {
	case '+':
	case '-':
	case ':':
	case ',':
	case '(':
	case '#':
	case '_':
		p->st = RP_LINE;
		break;
	case '$':
	case '!':
	case '=':
		p->st = RP_BLEN;
		break;
	case '*':
	case '%':
	case '~':
	case '>':
	case '|':
		p->st = RP_ALEN;
		break;
	default:
		r->flags |= S_ERROR;
	}
}

/* An aggregate's length line ended. */
static void rep_open(struct twp_resp *r, int64_t v)
{
	struct rep *p = &r->rep;
	int pairs = p->agg == '%' || p->agg == '|';
	if (v < 0 || (v == 0 && p->agg != '|')) { /* null or empty: a whole value */
		value_done(r);
		return;
	}
	p->st = RP_TYPE;
	if (v == 0)
		return; /* empty attribute: describes the next value, counts for nothing */
	if (p->depth == TWP_RESP_MAX_DEPTH) {
		r->flags |= S_ERROR;
		return;
	}
	p->stack[p->depth].left = pairs ? 2 * v : v;
	p->stack[p->depth].kind = p->agg;
	p->depth++;
}

static void rep_number(struct twp_resp *r)
{
	struct rep *p = &r->rep;
	int64_t v = p->num.neg ? -p->num.val : p->num.val;
	if (v < -1) {
		r->flags |= S_ERROR;
	} else if (p->st == RP_ALEN) {
		rep_open(r, v);
	} else if (v < 0) {
		value_done(r);
	} else {
		p->len = v;
		p->st = v ? RP_DATA : RP_CR;
	}
}

/* A simple line ends at the first CR LF (a lone CR or LF is content). */
static size_t rep_line(struct twp_resp *r, const uint8_t *p, size_t n)
{
	struct rep *s = &r->rep;
	const uint8_t *lf = memchr(p, '\n', n);
	if (!lf) {
		s->cr = p[n - 1] == '\r';
		return n;
	}
	size_t k = (size_t)(lf - p) + 1;
	if (k > 1 ? lf[-1] == '\r' : s->cr)
		value_done(r);
	else
		s->cr = 0;
	return k;
}

static size_t rep_data(struct twp_resp *r, const uint8_t *p, size_t n)
{
	struct rep *s = &r->rep;
	size_t k = (uint64_t)s->len < n ? (size_t)s->len : n;
	(void)p;
	s->len -= (int64_t)k;
	if (!s->len)
		s->st = RP_CR;
	return k;
}

static size_t rep_step(struct twp_resp *r, const uint8_t *p, size_t n)
{
	struct rep *s = &r->rep;
	int rc;
	switch (s->st) {
	case RP_TYPE:
		rep_type(r, p[0]);
		break;
	case RP_LINE:
		return rep_line(r, p, n);
	case RP_BLEN:
	case RP_ALEN:
		if ((rc = num_byte(&s->num, p[0])) < 0)
			r->flags |= S_ERROR;
		else if (rc > 0)
			rep_number(r);
		break;
	case RP_DATA:
		return rep_data(r, p, n);
	case RP_CR:
		s->st = RP_LF;
		if (p[0] != '\r')
			r->flags |= S_ERROR;
		break;
	case RP_LF:
		if (p[0] != '\n')
			r->flags |= S_ERROR;
		value_done(r);
		break;
	}
	return 1;
}

static void resp_bytes(void *state, int out, const struct iovec *iov, int cnt, size_t n)
{
	struct twp_resp *r = state;
	for (int i = 0; i < cnt && n > 0 && !(r->flags & S_ERROR); i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
		n -= len;
		for (size_t off = 0; off < len && !(r->flags & S_ERROR);)
			off += out ? req_step(r, p + off, len - off)
				   : rep_step(r, p + off, len - off);
	}
}

static int framed_idle(const struct twp_resp *r)
{
	return r->req.st == RQ_START && r->rep.st == RP_TYPE && !r->rep.depth && r->nrep == r->nreq;
}

static enum twp_reason resp_verdict(const void *state)
{
	const struct twp_resp *r = state;
	if (r->flags & S_ERROR)
		return TWP_RESP_R_CONFUSED;
	if (r->flags & S_QUIT)
		return TWP_RESP_R_QUIT;
	if (r->flags & S_UNFRAMED)
		return TWP_RESP_R_SESSION;
	if (!framed_idle(r))
		return TWP_RESP_R_DUE;
	if (r->flags & (S_STICKY | S_MULTI | S_WATCH))
		return TWP_RESP_R_SESSION;
	return TWP_R_NONE;
}

int twp_resp_needs_reset(const void *state)
{
	const struct twp_resp *r = state;
	if (resp_verdict(state) != TWP_RESP_R_SESSION || r->req.st != RQ_START)
		return 0;
	return (r->flags & S_UNFRAMED) || framed_idle(r);
}

long long twp_resp_due(const void *state)
{
	const struct twp_resp *r = state;
	return (long long)(r->nreq - r->nrep);
}

static int resp_replayable(const void *state)
{
	const struct twp_resp *r = state;
	/* A fresh connection would lack the session state the request expects. */
	return !(r->flags & (S_ERROR | S_QUIT | S_UNFRAMED | S_STICKY | S_MULTI | S_WATCH)) &&
	       r->req.st == RQ_START && r->last_unsafe <= r->nrep;
}

const struct twp_codec twp_codec_resp = {
	.name = "redis",
	.state_size = sizeof(struct twp_resp),
	.bytes = resp_bytes,
	.verdict = resp_verdict,
	.replayable = resp_replayable,
	/* RESET (Redis 6.2+): what a fresh connection is, deauthenticated,
	 * RESP2, database 0; anything but +RESET (an older server's -ERR, a
	 * pub/sub message still in flight) discards the connection. */
	.needs_reset = twp_resp_needs_reset,
	.reset = "*1\r\n$5\r\nRESET\r\n",
	.reset_len = 15,
	.reset_reply = "+RESET\r\n",
	.reset_reply_len = 8,
};
