/* codec_http.c - HTTP/1.x framing (RFC 9112 sections 2-7), one byte at a
 * time through the start line and headers, in bulk through bodies. */
#include <string.h>

#include "codec_http.h"

enum st {
	ST_LINE,      /* start line (pos 0: between messages) */
	ST_NAME,      /* a header name (n 0: at the start of a line) */
	ST_VALUE,     /* a header value */
	ST_BODY,      /* len body bytes left */
	ST_CSIZE,     /* a chunk's size */
	ST_CEXT,      /* a chunk's extensions, up to the end of its line */
	ST_CDATA,     /* len bytes of chunk data left */
	ST_CDATA_END, /* the CRLF after chunk data */
	ST_OPAQUE,    /* bytes the codec does not frame: a tunnel, or lost */
};

enum flag {
	F_CL = 1, F_TE = 2, F_CHUNKED = 4, F_CLOSE = 8, F_KEEPALIVE = 16,
	F_UPGRADE = 32, F_IDEM = 64, F_TRAILERS = 128, /* the fields are trailers */
};

enum hdr { H_OTHER, H_CL, H_TE, H_CONNECTION, H_UPGRADE, H_IDEM };

/* Request methods, by what they mean for replay and response framing. */
enum method { M_OTHER, M_SAFE, M_HEAD, M_CONNECT };

/* What an unanswered request means for its response. */
enum kind { K_HEAD = 1, K_CONNECT = 2 };

#define TOKEN_OVER (TWP_HTTP_TOKEN + 1)
#define LEN_MAX (UINT64_C(1) << 60) /* a body longer than an exabyte: lost */

static const struct {
	const char *name;
	enum hdr hdr;
} headers[] = {
	{ "content-length", H_CL }, { "transfer-encoding", H_TE },
	{ "connection", H_CONNECTION }, { "upgrade", H_UPGRADE },
	{ "idempotency-key", H_IDEM }, { "x-idempotency-key", H_IDEM },
};

/* RFC 9110 5.6.2 tchar. */
static int tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static void never(struct twp_http *h, enum twp_reason why)
{
	if (!h->never)
		h->never = (uint8_t)why;
}

/* Framing lost: the connection is the program's for good. */
static int lost(struct twp_http *h, struct twp_http_msg *m)
{
	never(h, TWP_R_PROTOCOL);
	m->st = ST_OPAQUE;
	return -1;
}

static void next_message(struct twp_http_msg *m)
{
	memset(m, 0, sizeof(*m));
}

int twp_http_idle(const struct twp_http_msg *m)
{
	return m->st == ST_LINE && m->pos == 0 && !m->cr;
}

int twp_http_following(const struct twp_http_msg *m)
{
	return m->st != ST_OPAQUE;
}

static void keep_byte(struct twp_http_msg *m, unsigned char c)
{
	if (m->n < TWP_HTTP_TOKEN)
		m->buf[m->n++] = (char)c;
	else
		m->n = TOKEN_OVER;
}

static enum method method_of(const struct twp_http_msg *m)
{
	/* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. */
	static const char *const safe[] = { "GET", "OPTIONS", "TRACE" };
	if (m->n == 4 && !memcmp(m->buf, "HEAD", 4))
		return M_HEAD;
	if (m->n == 7 && !memcmp(m->buf, "CONNECT", 7))
		return M_CONNECT;
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (m->n == strlen(safe[i]) && !memcmp(m->buf, safe[i], m->n))
			return M_SAFE;
	return M_OTHER;
}

/* "HTTP/1.x" as the last 8 bytes of win: x, or -1. */
static int version_of(uint64_t win)
{
	static const char v[] = "HTTP/1.";
	for (int i = 0; i < 7; i++)
		if ((char)(win >> (8 * (7 - i))) != v[i])
			return -1;
	int minor = (char)win - '0';
	return minor >= 0 && minor <= 9 ? minor : -1;
}

/* The request line's end: a request the response side will answer. */
static int request_line(struct twp_http *h, struct twp_http_msg *m)
{
	int minor = version_of(m->win);
	if (m->spaces != 2 || m->pos - m->len != 8 || minor < 0 ||
	    h->sent - h->done >= TWP_HTTP_PIPELINE)
		return lost(h, m);
	m->minor = (uint8_t)minor;
	m->method = (uint8_t)method_of(m);
	h->kind[h->sent % TWP_HTTP_PIPELINE] = (uint8_t)((m->method == M_HEAD ? K_HEAD : 0) |
						     (m->method == M_CONNECT ? K_CONNECT : 0));
	h->sent++;
	m->st = ST_NAME;
	m->n = 0;
	m->len = 0;
	return 0;
}

static int request_line_byte(struct twp_http *h, struct twp_http_msg *m, unsigned char c)
{
	if (c == '\n')
		return request_line(h, m);
	if (c == ' ') {
		if (m->pos == 0 || ++m->spaces > 2)
			return lost(h, m);
		m->len = m->pos + 1; /* where the version starts, if this is the last space */
	} else if (c < 0x21 || c == 0x7f || (m->spaces == 0 && !tchar(c))) {
		return lost(h, m);
	} else if (m->spaces == 0) {
		keep_byte(m, c);
	}
	if (++m->pos == 0) /* a 4 GB line: not a request */
		return lost(h, m);
	m->win = m->win << 8 | c;
	return 0;
}

/* "HTTP/1.x SSS reason": checked as it comes, position by position. */
static int status_line_byte(struct twp_http *h, struct twp_http_msg *m, unsigned char c)
{
	if (c == '\n') {
		if (m->pos < 12)
			return lost(h, m);
		m->st = ST_NAME;
		m->n = 0;
		return 0;
	}
	uint32_t p = m->pos++;
	if ((p < 7 && c != (unsigned char)"HTTP/1."[p]) || (p == 7 && (c < '0' || c > '9')))
		return lost(h, m);
	if (p == 7)
		m->minor = (uint8_t)(c - '0');
	if ((p == 8 && c != ' ') || (p >= 9 && p <= 11 && (c < '0' || c > '9')) ||
	    (p == 12 && c != ' '))
		return lost(h, m);
	if (p >= 9 && p <= 11)
		m->status = (uint16_t)(m->status * 10 + (c - '0'));
	return 0;
}

static int parse_length(struct twp_http_msg *m, uint64_t *len)
{
	uint64_t v = 0;
	if (m->n == 0 || m->n > TWP_HTTP_TOKEN)
		return -1;
	for (int i = 0; i < m->n; i++) {
		if (m->buf[i] < '0' || m->buf[i] > '9' || v > LEN_MAX)
			return -1;
		v = v * 10 + (uint64_t)(m->buf[i] - '0');
	}
	*len = v;
	return 0;
}

/* Calls fn on each comma-separated token of the value, trimmed. */
static void each_token(struct twp_http_msg *m, void (*fn)(struct twp_http_msg *, const char *, size_t))
{
	const char *p = m->buf, *end = m->buf + m->n;
	for (;;) { /* empty elements too: "a,", ",a" and "" have one */
		const char *comma = memchr(p, ',', (size_t)(end - p)), *e = comma ? comma : end;
		const char *b = p;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		const char *t = e;
		while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		fn(m, b, (size_t)(t - b));
		if (!comma)
			return;
		p = comma + 1;
	}
}

static int is(const char *tok, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(tok, word, n);
}

static void connection_token(struct twp_http_msg *m, const char *tok, size_t n)
{
	if (is(tok, n, "close"))
		m->flags |= F_CLOSE;
	else if (is(tok, n, "keep-alive"))
		m->flags |= F_KEEPALIVE;
}

/* Transfer codings apply in order: the last one decides the framing. */
static void coding_token(struct twp_http_msg *m, const char *tok, size_t n)
{
	m->flags = (uint8_t)((m->flags & ~F_CHUNKED) | (is(tok, n, "chunked") ? F_CHUNKED : 0));
}

/* 1 when the list value of m has an empty element: "a,", ",a", "a,,b", "".
 * RFC 9110 5.6.1 lets recipients skip them; http_parser does not (it reads
 * neither "chunked," nor "Connection: ,keep-alive" as it says), so such a
 * framing field is not trusted. */
static int empty_element(const struct twp_http_msg *m)
{
	int seen = 0;
	for (int i = 0; i < m->n; i++) {
		if (m->buf[i] == ',' && !seen)
			return 1;
		seen = m->buf[i] == ',' ? 0 : seen || m->buf[i] != ' ';
	}
	return !seen;
}

/* A second Content-Length, even an equal one (which RFC 9110 8.6 lets a
 * recipient take), is not trusted: http_parser rejects it. */
static int content_length(struct twp_http *h, struct twp_http_msg *m)
{
	uint64_t v;
	if (parse_length(m, &v) < 0 || m->flags & F_CL)
		return lost(h, m);
	m->len = v;
	m->flags |= F_CL;
	return 0;
}

/* A header line ended: what it says about the message's framing. */
static int header_done(struct twp_http *h, struct twp_http_msg *m)
{
	while (m->n && m->n <= TWP_HTTP_TOKEN && m->buf[m->n - 1] == ' ')
		m->n--;
	int framing = m->hdr == H_CL || m->hdr == H_TE || m->hdr == H_CONNECTION;
	/* Framing fields are not allowed in trailers (RFC 9110 6.5.1); parsers
	 * differ on what one there means (http_parser lets it undo chunked). */
	if (framing && (m->n > TWP_HTTP_TOKEN || m->flags & F_TRAILERS || memchr(m->buf, '\t', m->n)))
		return lost(h, m); /* a tab inside: http_parser rejects what RFC 9110 allows */
	if (m->hdr == H_CL && content_length(h, m) < 0)
		return -1;
	if ((m->hdr == H_TE || m->hdr == H_CONNECTION) && empty_element(m))
		return lost(h, m);
	if (m->hdr == H_TE) {
		m->flags |= F_TE;
		each_token(m, coding_token);
	}
	if (m->hdr == H_CONNECTION)
		each_token(m, connection_token);
	if (m->hdr == H_UPGRADE)
		m->flags |= F_UPGRADE;
	if (m->hdr == H_IDEM)
		m->flags |= F_IDEM;
	m->st = ST_NAME;
	m->n = 0;
	return 0;
}

static enum hdr header_of(const struct twp_http_msg *m)
{
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		if (m->n == strlen(headers[i].name) && !memcmp(m->buf, headers[i].name, m->n))
			return headers[i].hdr;
	return H_OTHER;
}

/* A name that starts as a framing field's and goes on ("Transfer-Encoding~",
 * "Content-Length2"): http_parser takes some of those for the field. */
static int odd_framing_name(const struct twp_http_msg *m)
{
	static const char *const names[] = { "transfer-encoding", "content-length" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (m->n > strlen(names[i]) && !memcmp(m->buf, names[i], strlen(names[i])))
			return 1;
	return 0;
}

static int end_of_headers(struct twp_http *h, struct twp_http_msg *m, int resp);
static int message_done(struct twp_http *h, struct twp_http_msg *m, int resp);

static int name_byte(struct twp_http *h, struct twp_http_msg *m, int resp, unsigned char c)
{
	if (c == '\n' && m->n == 0)
		return m->flags & F_TRAILERS ? message_done(h, m, resp) : end_of_headers(h, m, resp);
	if (c == ':' && m->n > 0) {
		m->hdr = (uint8_t)header_of(m);
		if (m->hdr == H_OTHER && odd_framing_name(m))
			return lost(h, m);
		m->st = ST_VALUE;
		m->n = 0;
		return 0;
	}
	if (!tchar(c)) /* also a folded line, and space before the colon */
		return lost(h, m);
	keep_byte(m, lower(c));
	return 0;
}

static int value_byte(struct twp_http *h, struct twp_http_msg *m, unsigned char c)
{
	if (c == '\n')
		return header_done(h, m);
	if (m->hdr != H_OTHER && (m->n || (c != ' ' && c != '\t')))
		keep_byte(m, lower(c));
	return 0;
}

/* A message was read to its last byte. */
static int message_done(struct twp_http *h, struct twp_http_msg *m, int resp)
{
	if (resp)
		h->done++;
	next_message(m);
	return 0;
}

/* The body that follows the headers, by its framing fields. */
static int body_by_fields(struct twp_http *h, struct twp_http_msg *m, int resp)
{
	if (m->flags & F_TE && m->flags & F_CL)
		return lost(h, m); /* RFC 9112 6.3: a sign of request smuggling */
	if (m->flags & F_CHUNKED) {
		m->st = ST_CSIZE;
		m->n = 0;
		m->len = 0;
		return 0;
	}
	if (m->flags & F_TE) {
		if (!resp)
			return lost(h, m); /* a request's length must be known */
		never(h, TWP_R_SERVER_CLOSE); /* the body ends at the close */
		m->st = ST_OPAQUE;
		return 0;
	}
	if (m->flags & F_CL && m->len) {
		m->st = ST_BODY;
		return 0;
	}
	if (resp && !(m->flags & F_CL)) {
		never(h, TWP_R_SERVER_CLOSE);
		m->st = ST_OPAQUE;
		return 0;
	}
	return message_done(h, m, resp);
}

static int keeps_alive(const struct twp_http_msg *m)
{
	if (m->flags & F_CLOSE)
		return 0;
	return m->minor > 0 || m->flags & F_KEEPALIVE;
}

static int request_headers(struct twp_http *h, struct twp_http_msg *m)
{
	if (m->method == M_CONNECT || m->flags & F_UPGRADE) {
		never(h, TWP_R_TUNNEL);
		h->noreplay = 1;
		m->st = ST_OPAQUE;
		return 0;
	}
	if (m->method == M_OTHER && !(m->flags & F_IDEM))
		h->noreplay = 1;
	if (!keeps_alive(m))
		never(h, TWP_R_SERVER_CLOSE); /* the server will close after it */
	return body_by_fields(h, m, 0);
}

static int response_headers(struct twp_http *h, struct twp_http_msg *m)
{
	unsigned kind = h->kind[h->done % TWP_HTTP_PIPELINE];
	if (m->status == 101 || (kind & K_CONNECT && m->status / 100 == 2)) {
		never(h, TWP_R_TUNNEL);
		m->st = ST_OPAQUE;
		return 0;
	}
	/* 1xx and 204 have no content (RFC 9110 15.2, 15.3.5): framing that
	 * says otherwise is a peer the codec does not trust to frame the rest. */
	if ((m->status / 100 == 1 || m->status == 204) && (m->flags & F_TE || m->len))
		return lost(h, m);
	if (m->status / 100 == 1) { /* interim: the final response follows */
		next_message(m);
		return 0;
	}
	if (!keeps_alive(m))
		never(h, TWP_R_SERVER_CLOSE);
	if (m->flags & F_TE && m->flags & F_CL)
		return lost(h, m); /* even without content: http_parser rejects it */
	if (kind & K_HEAD || m->status == 204 || m->status == 304)
		return message_done(h, m, 1);
	return body_by_fields(h, m, 1);
}

static int end_of_headers(struct twp_http *h, struct twp_http_msg *m, int resp)
{
	return resp ? response_headers(h, m) : request_headers(h, m);
}

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The end of a chunk-size line: data, or the trailers after the last. */
static int chunk_size_done(struct twp_http *h, struct twp_http_msg *m)
{
	if (!m->n)
		return lost(h, m);
	m->st = m->len ? ST_CDATA : ST_NAME; /* after the last chunk: trailer fields */
	m->flags |= m->len ? 0 : F_TRAILERS;
	m->n = 0;
	return 0;
}

static int chunk_size_byte(struct twp_http *h, struct twp_http_msg *m, unsigned char c)
{
	int d = hex(c);
	if (c == '\n')
		return chunk_size_done(h, m);
	if (d >= 0 && m->st == ST_CSIZE) {
		if (m->len > LEN_MAX >> 4)
			return lost(h, m);
		m->len = m->len * 16 + (uint64_t)d;
		m->n = 1;
		return 0;
	}
	if (m->st == ST_CSIZE && c != ';' && c != ' ')
		return lost(h, m);
	m->st = ST_CEXT;
	return 0;
}

/* Chunk data ends with CRLF exactly: a bare LF here is read two ways
 * (http_parser takes any two bytes), so it is not trusted. */
static int chunk_end_byte(struct twp_http *h, struct twp_http_msg *m, unsigned char c)
{
	if (!m->cr && c == '\r') {
		m->cr = 1;
		return 0;
	}
	if (!m->cr || c != '\n')
		return lost(h, m);
	m->cr = 0;
	m->st = ST_CSIZE;
	return 0;
}

/* One byte of a line-shaped part of a message (not a body). */
static int line_byte(struct twp_http *h, struct twp_http_msg *m, int resp, unsigned char c)
{
	if (m->st == ST_CDATA_END)
		return chunk_end_byte(h, m, c);
	if (!resp && twp_http_idle(m) && (c == '\r' || c == '\n'))
		return 0; /* empty lines before a request are ignored (RFC 9112 2.2) */
	if (resp && twp_http_idle(m) && h->sent == h->done)
		return lost(h, m); /* a response nobody asked for */
	int crlf = m->cr;
	if (crlf && c != '\n')
		return lost(h, m);
	m->cr = 0;
	if (c == '\r') {
		m->cr = 1;
		return 0;
	}
	if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
		return lost(h, m); /* no control bytes in a line (RFC 9110 5.5) */
	switch (m->st) {
	case ST_LINE:
		return resp ? status_line_byte(h, m, c) : request_line_byte(h, m, c);
	case ST_NAME:
		return name_byte(h, m, resp, c);
	case ST_VALUE:
		return value_byte(h, m, c);
	case ST_CSIZE:
	case ST_CEXT: /* CRLF exactly: http_parser reads a bare LF as an extension */
		return c == '\n' && !crlf ? lost(h, m) : chunk_size_byte(h, m, c);
	default:
		return lost(h, m);
	}
}

/* Body bytes of p[0..n): how many the current body or chunk takes. */
static size_t body_bytes(struct twp_http *h, struct twp_http_msg *m, int resp, size_t n)
{
	size_t take = m->len < n ? (size_t)m->len : n;
	m->len -= take;
	if (m->len == 0 && m->st == ST_CDATA)
		m->st = ST_CDATA_END;
	else if (m->len == 0)
		message_done(h, m, resp);
	return take;
}

static void feed(struct twp_http *h, int resp, const unsigned char *p, size_t n)
{
	struct twp_http_msg *m = resp ? &h->resp : &h->req;
	while (n > 0 && m->st != ST_OPAQUE) {
		size_t used = 1;
		if (m->st == ST_BODY || m->st == ST_CDATA)
			used = body_bytes(h, m, resp, n);
		else
			line_byte(h, m, resp, *p);
		p += used;
		n -= used;
	}
}

/* ---- making a request that asks for the close keep-alive ---- */

static int same_word(const char *p, size_t n, const char *word)
{
	if (n != strlen(word))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)p[i]) != (unsigned char)word[i])
			return 0;
	return 1;
}

/* What a request head says about the close, by a plain scan; the codec
 * itself checks the edited head before anything is sent. */
struct head {
	size_t line_end; /* just past the request line */
	size_t end;      /* just past the empty line */
	size_t conn_at;  /* where the (last) Connection header starts */
	int conns;       /* Connection headers */
	int close_only;  /* the last one's value is "close" alone */
	int minor;
};

static void head_line(const char *l, size_t n, size_t at, struct head *hd)
{
	const char *colon = memchr(l, ':', n);
	if (!colon || !same_word(l, (size_t)(colon - l), "connection"))
		return;
	const char *b = colon + 1, *e = l + n;
	while (b < e && (*b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	hd->conns++;
	hd->conn_at = at;
	hd->close_only = same_word(b, (size_t)(e - b), "close");
}

/* 0 when p[0..n) starts with a whole request head, CRLF-terminated. */
static int scan_head(const char *p, size_t n, struct head *hd)
{
	const char *lf = memchr(p, '\n', n);
	memset(hd, 0, sizeof(*hd));
	if (!lf || lf - p < 10 || lf[-1] != '\r' || memcmp(lf - 9, "HTTP/1.", 7) ||
	    (lf[-2] != '0' && lf[-2] != '1'))
		return -1;
	hd->minor = lf[-2] - '0';
	hd->line_end = (size_t)(lf - p) + 1;
	for (size_t ls = hd->line_end; ls < n;) {
		const char *e = memchr(p + ls, '\n', n - ls);
		if (!e)
			return -1;
		size_t le = (size_t)(e - p);
		if (le == ls + 1 && p[ls] == '\r') {
			hd->end = le + 1;
			return 0;
		}
		head_line(p + ls, le - ls, ls, hd);
		ls = le + 1;
	}
	return -1;
}

int twp_http_plan_keepalive(struct twp_http *h, const char *p, size_t n, uint64_t at)
{
	struct head hd;
	if (h->never || h->edit || scan_head(p, n, &hd) < 0)
		return 0;
	size_t off = hd.line_end, skip = 0;
	const char *ins = TWP_HTTP_INSERT_TEXT;
	uint8_t edit = TWP_HTTP_INSERT;
	if (hd.minor == 1 && hd.conns == 1 && hd.close_only) {
		off = hd.conn_at;
		skip = strlen(TWP_HTTP_RENAME_TO);
		ins = TWP_HTTP_RENAME_TO;
		edit = TWP_HTTP_RENAME;
	} else if (hd.minor != 0 || hd.conns) {
		return 0;
	}
	/* What the server will read, read by the codec first: a head it would
	 * not follow, or not keep alive, is left as the program wrote it. */
	struct twp_http t = *h;
	feed(&t, 0, (const unsigned char *)p, off);
	feed(&t, 0, (const unsigned char *)ins, strlen(ins));
	feed(&t, 0, (const unsigned char *)p + off + skip, hd.end - off - skip);
	if (t.never || t.sent != h->sent + 1)
		return 0;
	h->edit = edit;
	h->edit_at = at + off;
	h->edit_done = 0;
	h->longed = 1;
	return 1;
}

static void http_bytes(void *state, int out, const struct iovec *iov, int cnt, size_t n)
{
	for (int i = 0; i < cnt && n > 0; i++) {
		size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
		feed(state, !out, iov[i].iov_base, len);
		n -= len;
	}
}

static enum twp_reason http_verdict(const void *state)
{
	const struct twp_http *h = state;
	if (h->never)
		return (enum twp_reason)h->never;
	if (!h->sent)
		return TWP_R_UNUSED;
	if (!twp_http_idle(&h->req) || !twp_http_idle(&h->resp) || h->done != h->sent)
		return TWP_R_PARTIAL;
	return TWP_R_NONE;
}

/* Go's rule (net/http isReplayable): GET, HEAD, OPTIONS, TRACE, or a
 * request with an idempotency key. A request whose headers are still being
 * written counts as its method alone. */
static int http_replayable(const void *state)
{
	const struct twp_http *h = state;
	const struct twp_http_msg *m = &h->req;
	if (h->noreplay || h->never == TWP_R_TUNNEL || h->never == TWP_R_PROTOCOL)
		return 0;
	if (m->st == ST_LINE)
		return m->pos == 0;
	if (m->st == ST_NAME || m->st == ST_VALUE)
		return m->method == M_SAFE || m->method == M_HEAD;
	return 1;
}

const struct twp_codec twp_codec_http = {
	.name = "http",
	.state_size = sizeof(struct twp_http),
	.bytes = http_bytes,
	.verdict = http_verdict,
	.replayable = http_replayable,
};
