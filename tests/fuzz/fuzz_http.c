/* fuzz_http.c - differential libFuzzer target: the HTTP/1.x codec against
 * Debian's http_parser (libhttp-parser-dev, the parser Node used) as the
 * oracle.
 *
 * Input: byte 0 picks the side (bit 0: 0 request bytes, 1 response bytes)
 * and, for responses, the request they answer (bit 1: HEAD, else GET);
 * byte 1 seeds the points where the bytes are cut into the codec's reads;
 * the rest are the bytes. The oracle gets them one at a time, so it can say
 * at which byte each message ended.
 *
 * The codec may be stricter than the oracle (it gives up on framing it does
 * not trust: a folded line, a 1xx or 204 with a length, an unknown
 * transfer coding), never looser where it matters. What must hold:
 *   - the codec says the same however the bytes are cut;
 *   - responses: when the codec would park the connection, the oracle read
 *     exactly one final response, ending at the last byte, without error,
 *     and keeps the connection alive; when the codec still waits for the
 *     response, the oracle has not seen it end;
 *   - requests: when both follow the bytes to the end without error, they
 *     agree on whether the bytes end between requests and how many. */
#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct oracle {
	int head;          /* the request was HEAD */
	int finals;        /* final responses (or requests) read whole */
	int begun;         /* messages begun */
	size_t pos;        /* the byte being read */
	size_t done_at;    /* one past the byte that ended the last message */
	int keepalive;     /* the last message keeps the connection alive */
};

static void fail(const char *what, const struct twp_http *h, const struct oracle *o)
{
	fprintf(stderr, "fuzz_http: %s (codec: verdict %s, sent %u done %u; oracle: %d begun, "
		"%d finals, last ended at %zu, keep-alive %d)\n", what,
		twp_reason_name(twp_codec_http.verdict(h)), h->sent, h->done, o->begun, o->finals,
		o->done_at, o->keepalive);
	abort();
}

static int on_begin(http_parser *p)
{
	((struct oracle *)p->data)->begun++;
	return 0;
}

/* No content for HEAD, 1xx, 204 and 304, whatever the fields say (RFC 9112
 * 6.3); http_parser reads a body of a 304 or 204 with a length otherwise. */
static int on_headers(http_parser *p)
{
	struct oracle *o = p->data;
	unsigned s = p->status_code;
	return p->type == HTTP_RESPONSE && (o->head || s / 100 == 1 || s == 204 || s == 304);
}

static int on_complete(http_parser *p)
{
	struct oracle *o = p->data;
	if (p->type == HTTP_RESPONSE && p->status_code / 100 == 1)
		return 0; /* interim */
	o->finals++;
	o->done_at = o->pos + 1;
	o->keepalive = http_should_keep_alive(p);
	return 0;
}

/* The oracle's reading of the bytes: 0, or -1 on an error or an upgrade. */
static int oracle_run(struct oracle *o, enum http_parser_type type, const uint8_t *d, size_t n)
{
	static const http_parser_settings settings = {
		.on_message_begin = on_begin, .on_headers_complete = on_headers,
		.on_message_complete = on_complete,
	};
	http_parser p;
	http_parser_init(&p, type);
	p.data = o;
	for (o->pos = 0; o->pos < n; o->pos++)
		if (http_parser_execute(&p, &settings, (const char *)d + o->pos, 1) != 1 ||
		    p.upgrade || HTTP_PARSER_ERRNO(&p) != HPE_OK)
			return -1;
	return 0;
}

static void codec_feed(struct twp_http *h, int out, const uint8_t *d, size_t n, unsigned seed)
{
	for (size_t off = 0; off < n;) {
		seed = seed * 1103515245u + 12345u;
		size_t len = 1 + (seed >> 16) % 64;
		if (len > n - off)
			len = n - off;
		struct iovec iov = { (void *)(d + off), len };
		twp_codec_http.bytes(h, out, &iov, 1, len);
		off += len;
	}
}

static void check_response(const struct twp_http *h, const struct oracle *o, int ok, size_t n)
{
	enum twp_reason v = twp_codec_http.verdict(h);
	if (v == TWP_R_NONE && (!ok || o->finals != 1 || o->done_at != n || !o->keepalive))
		fail("the codec would park what the oracle did not read as one whole response", h, o);
	if (v == TWP_R_PARTIAL && ok && o->finals > 0)
		fail("the codec waits for a response the oracle read to its end", h, o);
}

static void check_requests(const struct twp_http *h, const struct oracle *o, int ok)
{
	if (!twp_http_following(&h->req) || !ok)
		return;
	int between = o->begun == o->finals;
	if (twp_http_idle(&h->req) != between)
		fail("the codec and the oracle disagree on where a request ends", h, o);
	if (between && h->sent != (uint32_t)o->finals)
		fail("the codec and the oracle count different requests", h, o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: f\r\n\r\n", head[] = "HEAD / HTTP/1.1\r\n\r\n";
	if (size < 2)
		return 0;
	int resp = data[0] & 1, is_head = resp && data[0] & 2;
	const uint8_t *d = data + 2;
	size_t n = size - 2;
	struct twp_http whole, cut;
	memset(&whole, 0, sizeof(whole));
	if (resp)
		codec_feed(&whole, 1, (const uint8_t *)(is_head ? head : get),
			   strlen(is_head ? head : get), 0);
	cut = whole;
	codec_feed(&whole, !resp, d, n, 0x7fffffff); /* cut another way */
	codec_feed(&cut, !resp, d, n, data[1]);
	if (memcmp(&whole, &cut, sizeof(whole)))
		fail("the codec's state depends on where its reads were cut", &cut, &(struct oracle){ 0 });
	struct oracle o = { .head = is_head };
	int ok = oracle_run(&o, resp ? HTTP_RESPONSE : HTTP_REQUEST, d, n) == 0;
	if (resp)
		check_response(&cut, &o, ok, n);
	else
		check_requests(&cut, &o, ok);
	return 0;
}
