/* codec_memcache.c - memcached text, meta and binary framing.
 *
 * Text lines are cut into space-separated tokens as they stream by; only
 * the few tokens that decide framing are kept (the command, a data length,
 * noreply, meta flags). Quiet requests may or may not be answered, so they
 * are settled by a later reply that must come after theirs: the MN of a
 * later mn (text), the response to a later non-quiet opcode (binary). */
#include <stdint.h>
#include <string.h>

#include "codec_memcache.h"

/* Bytes of a token kept: more than any command, flag or length needs. */
#define TOK_MAX 15
#define BIN_HDR 24
#define BIN_REQ_MAGIC 0x80
#define BIN_RES_MAGIC 0x81
/* Data blocks past this are no memcached item (its default cap is 1 MB). */
#define DATA_MAX ((int64_t)1 << 31)

enum proto { P_NONE, P_TEXT, P_BIN };
enum side_state { ST_START, ST_LINE, ST_DATA, ST_CR, ST_LF, ST_HDR, ST_BODY };

/* Text commands by what framing and replay need of them. */
enum cmd { C_OTHER, C_STORE, C_UPDATE, C_GET, C_MG, C_MS, C_META, C_MN, C_END };
/* Reply lines by their first token. */
enum rep_kind { K_OTHER, K_VALUE, K_VA, K_PART, K_MN, K_ERROR };

struct line {
	uint32_t ntok; /* tokens ended so far */
	uint8_t toklen, intok;
	char tok[TOK_MAX + 1];
};

struct side {
	uint8_t st;
	uint8_t multi; /* reply: inside VALUE/STAT...END */
	uint8_t nhdr;
	uint8_t hdr[BIN_HDR];
	struct line l;
	int64_t len; /* data or body bytes left; -1 before a length */
	/* The line's meaning, filled as its tokens end. */
	uint8_t cmd, quiet, noreply, unsafe, lenidx;
	uint8_t kind; /* reply: enum rep_kind of its first token */
};

enum { F_ERROR = 1, F_QUIT = 2, F_LOOSE = 4, F_UNSAFE = 8 };

struct twp_mc {
	struct side req, rep;
	uint8_t proto, flags;
	/* text */
	uint64_t mn_w, mn_r, need_mn;
	uint64_t after_req, after_rep; /* since the last mn written / MN read */
	/* binary */
	int64_t due;
	uint64_t qafter; /* quiet requests after the last non-quiet */
};

struct cmd_row {
	const char *name;
	uint8_t cmd;
};

static const struct cmd_row cmds[] = {
	{ "set", C_STORE },
	{ "add", C_STORE },
	{ "replace", C_STORE },
	{ "append", C_STORE },
	{ "prepend", C_STORE },
	{ "cas", C_STORE },
	{ "get", C_GET },
	{ "gets", C_GET },
	{ "gat", C_OTHER },
	{ "gats", C_OTHER },
	{ "incr", C_UPDATE },
	{ "decr", C_UPDATE },
	{ "delete", C_UPDATE },
	{ "touch", C_UPDATE },
	{ "flush_all", C_UPDATE },
	{ "verbosity", C_UPDATE },
	{ "mg", C_MG },
	{ "ms", C_MS },
	{ "md", C_META },
	{ "ma", C_META },
	{ "me", C_META },
	{ "mn", C_MN },
	{ "quit", C_END },
	{ "shutdown", C_END },
	{ "watch", C_END },
	{ "lru_crawler", C_END },
};

static enum cmd cmd_of(const char *tok)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
		if (cmds[i].name[0] == tok[0] && !strcmp(tok, cmds[i].name))
			return cmds[i].cmd;
	return C_OTHER;
}

/* A decimal length token, or -1. */
static int64_t parse_len(const char *tok, size_t len)
{
	int64_t v = 0;
	if (!len || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (tok[i] - '0');
	}
	return v < DATA_MAX ? v : -1;
}

static int is_flag_tok(const struct side *s, uint32_t i)
{
	return (s->cmd == C_MG || s->cmd == C_META) ? i >= 2 : s->cmd == C_MS && i >= 3;
}

/* Request token i ended. */
static void req_token(struct side *s, uint32_t i, const char *tok, size_t len)
{
	if (i == 0) {
		s->cmd = (uint8_t)cmd_of(tok);
		s->len = -1;
	}
	if ((s->cmd == C_STORE && i == 4) || (s->cmd == C_MS && i == 2))
		s->len = parse_len(tok, len);
	if (is_flag_tok(s, i) && tok[0] == 'q')
		s->quiet = 1;
	if (s->cmd == C_MG && i >= 2 && tok[0] && strchr("NTRE", tok[0]))
		s->unsafe = 1; /* vivify, touch, recache: mg that writes */
	s->noreply = len == 7 && !memcmp(tok, "noreply", 7);
}

static enum rep_kind rep_kind_of(const char *tok)
{
	static const struct {
		const char *name;
		enum rep_kind k;
	} kinds[] = {
		{ "VALUE", K_VALUE },
		{ "VA", K_VA },
		{ "STAT", K_PART },
		{ "ITEM", K_PART },
		{ "MN", K_MN },
		{ "ERROR", K_ERROR },
		{ "CLIENT_ERROR", K_ERROR },
		{ "SERVER_ERROR", K_ERROR },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
		if (kinds[i].name[0] == tok[0] && !strcmp(tok, kinds[i].name))
			return kinds[i].k;
	return K_OTHER;
}

/* Reply token i ended. */
static void rep_token(struct side *s, uint32_t i, const char *tok, size_t len)
{
	if (i == 0) {
		s->kind = (uint8_t)rep_kind_of(tok);
		s->lenidx = s->kind == K_VALUE ? 3 : s->kind == K_VA ? 1 : 0;
		s->len = -1;
	} else if (i == s->lenidx) {
		s->len = parse_len(tok, len);
	}
}

static void token_end(struct side *s, int out)
{
	struct line *l = &s->l;
	size_t len = l->toklen > TOK_MAX ? TOK_MAX : l->toklen;
	l->tok[len] = '\0';
	if (out)
		req_token(s, l->ntok, l->tok, len);
	else
		rep_token(s, l->ntok, l->tok, len);
	l->ntok++;
	l->intok = l->toklen = 0;
}

/* One byte of a line: 1 when it ended the line. */
static int line_byte(struct side *s, int out, uint8_t c)
{
	struct line *l = &s->l;
	if (c == ' ' || c == '\r' || c == '\n') {
		if (l->intok)
			token_end(s, out);
		return c == '\n';
	}
	l->intok = 1;
	if (l->toklen <= TOK_MAX)
		l->tok[l->toklen++] = (char)c;
	return 0;
}

static int text_settled(const struct twp_mc *m)
{
	return m->mn_r == m->mn_w && m->need_mn <= m->mn_r;
}

static int text_idle(const struct twp_mc *m)
{
	return text_settled(m) && m->after_rep == m->after_req;
}

static int bin_idle(const struct twp_mc *m)
{
	return !m->due && !m->qafter;
}

/* Whether nothing more can come: the bytes sent so far are all answered. */
static void maybe_answered(struct twp_mc *m)
{
	if (m->proto == P_TEXT ? text_idle(m) : bin_idle(m))
		m->flags &= (uint8_t)~F_UNSAFE;
}

static int replayable_cmd(const struct side *s)
{
	return (s->cmd == C_GET || s->cmd == C_MN || s->cmd == C_MG) && !s->unsafe;
}

static void text_req_done(struct twp_mc *m)
{
	struct side *s = &m->req;
	s->st = ST_START;
	if (!replayable_cmd(s))
		m->flags |= F_UNSAFE;
	if (s->cmd == C_END) {
		m->flags |= F_QUIT;
	} else if (s->cmd == C_MN) {
		m->mn_w++;
		m->after_req = 0;
	} else if (s->quiet) {
		m->need_mn = m->mn_w + 1;
	} else if (s->noreply && (s->cmd == C_STORE || s->cmd == C_UPDATE)) {
		m->flags |= F_LOOSE; /* no reply, unless an error */
	} else {
		m->after_req++;
	}
}

static void text_rep_done(struct twp_mc *m)
{
	struct side *s = &m->rep;
	s->st = ST_START;
	s->multi = 0;
	if (s->kind == K_MN) {
		m->mn_r++;
		m->after_rep = 0;
		if (m->mn_r > m->mn_w)
			m->flags |= F_ERROR;
	} else {
		m->after_rep++;
		if ((m->flags & F_LOOSE && s->kind == K_ERROR) ||
		    (text_settled(m) && m->after_rep > m->after_req))
			m->flags |= F_ERROR; /* cannot tell whose reply it is */
	}
	maybe_answered(m);
}

/* The end of a data block (after its CR LF). */
static void data_done(struct twp_mc *m, int out)
{
	struct side *s = out ? &m->req : &m->rep;
	if (out) {
		text_req_done(m);
	} else if (s->lenidx == 3) { /* VALUE: more until END */
		s->st = ST_START;
		s->multi = 1;
	} else {
		text_rep_done(m);
	}
}

static void req_line_done(struct twp_mc *m)
{
	struct side *s = &m->req;
	if (s->cmd == C_STORE || s->cmd == C_MS) {
		s->st = ST_DATA;
		if (s->len < 0)
			m->flags |= F_ERROR;
		else if (s->len == 0)
			s->st = ST_CR;
	} else {
		text_req_done(m);
	}
}

static void rep_line_done(struct twp_mc *m)
{
	struct side *s = &m->rep;
	if (s->lenidx) {
		s->st = s->len > 0 ? ST_DATA : ST_CR;
		if (s->len < 0)
			m->flags |= F_ERROR;
	} else if (s->kind == K_PART) {
		s->st = ST_START;
		s->multi = 1;
	} else {
		text_rep_done(m);
	}
}

static int bin_quiet(uint8_t op)
{
	return (op >= 0x11 && op <= 0x1a) || op == 0x09 || op == 0x0d || op == 0x1e || op == 0x24;
}

static int bin_replayable(uint8_t op)
{
	return op == 0x00 || op == 0x09 || op == 0x0a || op == 0x0c || op == 0x0d;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A whole binary request or response (header and body) went by. */
static void bin_done(struct twp_mc *m, int out)
{
	struct side *s = out ? &m->req : &m->rep;
	uint8_t op = s->hdr[1];
	s->st = ST_START;
	if (out && (op == 0x07 || op == 0x17 || op == 0x21 || op == 0x22)) {
		m->flags |= F_QUIT; /* quit, or SASL: a login stays on the connection */
	} else if (out) {
		if (!bin_replayable(op))
			m->flags |= F_UNSAFE;
		if (bin_quiet(op)) {
			m->qafter++;
		} else {
			m->due++;
			m->qafter = 0;
		}
	} else if (!bin_quiet(op) && !(op == 0x10 && (s->hdr[2] || s->hdr[3]))) {
		if (--m->due < 0)
			m->flags |= F_ERROR;
		maybe_answered(m); /* a STAT with a key is one of many; no key ends it */
	}
}

static void bin_header(struct twp_mc *m, int out)
{
	struct side *s = out ? &m->req : &m->rep;
	if (s->hdr[0] != (out ? BIN_REQ_MAGIC : BIN_RES_MAGIC))
		m->flags |= F_ERROR;
	s->len = be32(s->hdr + 8);
	s->st = ST_BODY;
	if (!s->len)
		bin_done(m, out);
}

static void side_start(struct twp_mc *m, int out, uint8_t c)
{
	struct side *s = out ? &m->req : &m->rep;
	if (m->proto == P_NONE) {
		if (!out) {
			m->flags |= F_ERROR; /* a reply before any request */
			return;
		}
		m->proto = c == BIN_REQ_MAGIC ? P_BIN : P_TEXT;
	}
	if (m->proto == P_BIN) {
		s->nhdr = 0;
		s->st = ST_HDR;
		return;
	}
	memset(&s->l, 0, sizeof(s->l));
	s->cmd = C_OTHER;
	s->quiet = s->noreply = s->unsafe = s->lenidx = s->kind = 0;
	s->st = ST_LINE;
}

/* Skips data or body bytes; returns how many. */
static size_t skip(struct twp_mc *m, int out, size_t n)
{
	struct side *s = out ? &m->req : &m->rep;
	size_t k = (uint64_t)s->len < n ? (size_t)s->len : n;
	s->len -= (int64_t)k;
	if (!s->len && s->st == ST_BODY)
		bin_done(m, out);
	else if (!s->len)
		s->st = ST_CR;
	return k;
}

static void one_byte(struct twp_mc *m, int out, uint8_t c)
{
	struct side *s = out ? &m->req : &m->rep;
	switch (s->st) {
	case ST_LINE:
		if (line_byte(s, out, c)) {
			if (out)
				req_line_done(m);
			else
				rep_line_done(m);
		}
		break;
	case ST_CR:
		s->st = ST_LF;
		if (c != '\r')
			m->flags |= F_ERROR;
		break;
	case ST_LF:
		if (c != '\n')
			m->flags |= F_ERROR;
		data_done(m, out);
		break;
	case ST_HDR:
		s->hdr[s->nhdr++] = c;
		if (s->nhdr == BIN_HDR)
			bin_header(m, out);
		break;
	}
}

static size_t mc_step(struct twp_mc *m, int out, const uint8_t *p, size_t n)
{
	struct side *s = out ? &m->req : &m->rep;
	if (s->st == ST_START) {
		side_start(m, out, p[0]);
		if (m->flags & F_ERROR)
			return 1;
	}
	if (s->st == ST_DATA || s->st == ST_BODY)
		return skip(m, out, n);
	one_byte(m, out, p[0]);
	return 1;
}

static void mc_bytes(void *state, int out, const struct iovec *iov, int cnt, size_t n)
{
	struct twp_mc *m = state;
	for (int i = 0; i < cnt && n > 0 && !(m->flags & F_ERROR); i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
		n -= len;
		for (size_t off = 0; off < len && !(m->flags & F_ERROR);)
			off += mc_step(m, out, p + off, len - off);
	}
}

static enum twp_reason mc_verdict(const void *state)
{
	const struct twp_mc *m = state;
	if (m->flags & F_QUIT) /* what follows it is no reply to count */
		return TWP_MC_R_QUIT;
	if (m->flags & F_ERROR)
		return TWP_MC_R_CONFUSED;
	if (m->req.st != ST_START || m->rep.st != ST_START || m->rep.multi)
		return TWP_MC_R_DUE;
	if (m->proto == P_BIN ? !bin_idle(m) : !text_idle(m))
		return TWP_MC_R_DUE;
	return TWP_R_NONE;
}

static int mc_replayable(const void *state)
{
	const struct twp_mc *m = state;
	return !(m->flags & (F_ERROR | F_QUIT | F_UNSAFE)) && m->req.st == ST_START;
}

long long twp_memcache_due(const void *state)
{
	const struct twp_mc *m = state;
	return m->proto == P_BIN ? (long long)m->due
				 : (long long)m->after_req - (long long)m->after_rep;
}

const struct twp_codec twp_codec_memcache = {
	.name = "memcache",
	.state_size = sizeof(struct twp_mc),
	.bytes = mc_bytes,
	.verdict = mc_verdict,
	.replayable = mc_replayable,
};
