/* test_codec_auto.c - the codec auto: the first-bytes classifier, and the
 * choice it makes for a use, each conversation fed in every chunking. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "codec_auto.h"
#include "codec_http.h"
#include "codec_memcache.h"
#include "codec_resp.h"
#include "codec_util.h"

#define GET_RESP "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
#define INCR_RESP "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n"
#define HTTP_GET "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"
#define HTTP_POST "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
#define HTTP_200 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

struct classify_case {
	char bytes[64];
	size_t n; /* 0: strlen(bytes) */
	enum twp_auto_kind want;
};

ParameterizedTestParameters(codec_auto, classify)
{
	static struct classify_case params[] = {
		{ "", 0, TWP_AUTO_MORE },
		/* HTTP: a whole request line, any method token, 1.0 or 1.1 */
		{ "GET / HTTP/1.1\r\n", 0, TWP_AUTO_HTTP },
		{ "GET / HTTP/1.0\n", 0, TWP_AUTO_HTTP },
		{ "POST /x?y=1 HTTP/1.1\r\nHost: a\r\n", 0, TWP_AUTO_HTTP },
		{ "CONNECT a.b:443 HTTP/1.1\r\n", 0, TWP_AUTO_HTTP },
		{ "M-SEARCH * HTTP/1.1\r\n", 0, TWP_AUTO_HTTP },
		{ "GET / HTTP/1.1", 0, TWP_AUTO_MORE },
		{ "GET /", 0, TWP_AUTO_MORE },
		{ "GET k\r\n", 0, TWP_AUTO_RAW },            /* Redis inline GET */
		{ "GET / HTTP/2.0\r\n", 0, TWP_AUTO_RAW },
		{ "GET /a b HTTP/1.1\r\n", 0, TWP_AUTO_RAW },
		{ "GET  HTTP/1.1\r\n", 0, TWP_AUTO_RAW },
		{ "get / HTTP/1.1\r\n", 0, TWP_AUTO_RAW },   /* methods are upper case */
		{ "GET /\x01 HTTP/1.1\r\n", 0, TWP_AUTO_RAW },
		{ "GET / HTTP/1.1x\r\n", 0, TWP_AUTO_RAW },
		/* RESP arrays of bulk strings */
		{ "*2\r\n$3\r\nGET\r\n", 0, TWP_AUTO_REDIS },
		{ "*1\r\n$", 0, TWP_AUTO_REDIS },
		{ "*", 0, TWP_AUTO_MORE },
		{ "*12", 0, TWP_AUTO_MORE },
		{ "*2\r", 0, TWP_AUTO_MORE },
		{ "*2\r\n", 0, TWP_AUTO_MORE },
		{ "*\r\n$", 0, TWP_AUTO_RAW },
		{ "*2\r\n:", 0, TWP_AUTO_RAW },
		{ "*-1\r\n", 0, TWP_AUTO_RAW },
		{ "*2\n$", 0, TWP_AUTO_RAW },
		{ "*12345678901\r\n$", 0, TWP_AUTO_RAW },
		/* memcached: binary, and text Redis has no reading of */
		{ "\x80\x00\x00\x01", 4, TWP_AUTO_MEMCACHE },
		{ "\x80", 1, TWP_AUTO_MEMCACHE },
		{ "gets k\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "mg k v\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "mn\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "delete k\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "add k 0 0 1\r\nx\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "set k 0 0 5\r\nhello\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "set k 0 0 5 noreply\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "append k 1 2 3\r\n", 0, TWP_AUTO_MEMCACHE },
		{ "version\r\n", 0, TWP_AUTO_MEMCACHE },
		/* ambiguous with Redis inline commands: the raw rules */
		{ "get k\r\n", 0, TWP_AUTO_RAW },
		{ "set k v\r\n", 0, TWP_AUTO_RAW },
		{ "set k 0 0\r\n", 0, TWP_AUTO_RAW },
		{ "set k 0 0 x\r\n", 0, TWP_AUTO_RAW },
		{ "set k 0 0 5 later\r\n", 0, TWP_AUTO_RAW },
		{ "set k 0 0 5 noreply x\r\n", 0, TWP_AUTO_RAW },
		{ "incr k 1\r\n", 0, TWP_AUTO_RAW },
		{ "touch k 10\r\n", 0, TWP_AUTO_RAW },
		{ "quit\r\n", 0, TWP_AUTO_RAW },
		{ "PING\r\n", 0, TWP_AUTO_RAW },
		{ "GETS k\r\n", 0, TWP_AUTO_RAW },
		{ "gets", 0, TWP_AUTO_MORE },
		/* TLS ClientHello records, SSL 3.0 to TLS 1.3 */
		{ "\x16\x03\x01\x02\x00", 5, TWP_AUTO_TLS },
		{ "\x16\x03\x00", 3, TWP_AUTO_TLS },
		{ "\x16\x03\x04", 3, TWP_AUTO_TLS },
		{ "\x16", 1, TWP_AUTO_MORE },
		{ "\x16\x03", 2, TWP_AUTO_MORE },
		{ "\x16\x03\x05", 3, TWP_AUTO_RAW },
		{ "\x16\x02\x01", 3, TWP_AUTO_RAW },
		/* anything else */
		{ "\x00\x00\x00\x08", 4, TWP_AUTO_RAW },
		{ "\r\n", 0, TWP_AUTO_RAW },
		{ " GET / HTTP/1.1\r\n", 0, TWP_AUTO_RAW },
		{ "EHLO me\r\n", 0, TWP_AUTO_RAW },
		{ "hello", 0, TWP_AUTO_MORE },
	};
	return cr_make_param_array(struct classify_case, params, sizeof(params) / sizeof(params[0]));
}

/* The case's answer, and every prefix's: more bytes, or the same choice. */
ParameterizedTest(struct classify_case *c, codec_auto, classify)
{
	size_t n = c->n ? c->n : strlen(c->bytes);
	enum twp_auto_kind got = twp_auto_classify(c->bytes, n);
	cr_assert_eq(got, c->want, "'%.*s' (%zu bytes): kind %d, want %d", (int)n, c->bytes, n, got,
		     c->want);
	for (size_t k = 0; k < n; k++) {
		enum twp_auto_kind p = twp_auto_classify(c->bytes, k);
		cr_assert(p == TWP_AUTO_MORE || p == c->want,
			  "'%.*s': its %zu-byte prefix chose %d before the whole chose %d", (int)n,
			  c->bytes, k, p, c->want);
	}
}

Test(codec_auto, every_codec_it_chooses_fits_its_room)
{
	const struct twp_codec *k[] = { &twp_codec_http, &twp_codec_resp, &twp_codec_memcache };
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		cr_assert_leq(k[i]->state_size, TWP_AUTO_ROOM, "%s needs %zu bytes, room is %d",
			      k[i]->name, k[i]->state_size, TWP_AUTO_ROOM);
}

Test(codec_auto, named_auto_and_the_default)
{
	const struct twp_codec *c = NULL;
	cr_assert_eq(twp_codec_by_name("auto", &c), 0, "auto is a protocol name");
	cr_assert_eq(c, &twp_codec_auto, "auto is the codec auto");
	cr_assert_not_null(strstr(TWP_CODEC_NAMES, "auto"), "messages list auto");
}

/* ---- conversations --------------------------------------------------- */

struct auto_case {
	struct codec_script s;
	enum twp_auto_kind kind;
	enum twp_reason verdict;
	int replay, reset;
};

static const struct auto_case convs[] = {
	{ { "nothing", { NULL } }, TWP_AUTO_MORE, TWP_R_UNUSED, 1, 0 },
	{ { "http get answered", { ">" HTTP_GET, "<" HTTP_200 } }, TWP_AUTO_HTTP, TWP_R_NONE, 1, 0 },
	{ { "http get unanswered", { ">" HTTP_GET } }, TWP_AUTO_HTTP, TWP_R_PARTIAL, 1, 0 },
	{ { "http get, response half read", { ">" HTTP_GET, "<HTTP/1.1 200 OK\r\nContent-Len" } },
	  TWP_AUTO_HTTP, TWP_R_PARTIAL, 1, 0 },
	{ { "http post unanswered", { ">" HTTP_POST } }, TWP_AUTO_HTTP, TWP_R_PARTIAL, 0, 0 },
	{ { "http connection close", { ">" HTTP_GET,
					"<HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" } },
	  TWP_AUTO_HTTP, TWP_R_SERVER_CLOSE, 1, 0 },
	{ { "redis get answered", { ">" GET_RESP, "<$1\r\nv\r\n" } }, TWP_AUTO_REDIS, TWP_R_NONE, 1, 0 },
	/* replayable speaks of what is unanswered: an answered INCR is no risk */
	{ { "redis incr answered", { ">" INCR_RESP, "<:1\r\n" } }, TWP_AUTO_REDIS, TWP_R_NONE, 1, 0 },
	{ { "redis incr unanswered", { ">" INCR_RESP } }, TWP_AUTO_REDIS, TWP_RESP_R_DUE, 0, 0 },
	{ { "redis select: reset", { ">*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n", "<+OK\r\n" } },
	  TWP_AUTO_REDIS, TWP_RESP_R_SESSION, 0, 1 },
	{ { "memcache set answered", { ">set k 0 0 5\r\nhello\r\n", "<STORED\r\n" } },
	  TWP_AUTO_MEMCACHE, TWP_R_NONE, 1, 0 },
	{ { "memcache set unanswered", { ">set k 0 0 5\r\nhello\r\n" } },
	  TWP_AUTO_MEMCACHE, TWP_MC_R_DUE, 0, 0 },
	{ { "memcache gets answered", { ">gets k\r\n", "<VALUE k 0 1 7\r\nv\r\nEND\r\n" } },
	  TWP_AUTO_MEMCACHE, TWP_R_NONE, 1, 0 },
	{ { "memcache gets half answered", { ">gets k\r\n", "<VALUE k 0 1 7\r\nv\r\n" } },
	  TWP_AUTO_MEMCACHE, TWP_MC_R_DUE, 1, 0 },
	{ { "raw: inline get answered", { ">get k\r\n", "<VALUE k 0 1\r\nv\r\nEND\r\n" } },
	  TWP_AUTO_RAW, TWP_R_NONE, 1, 0 },
	{ { "raw: written last", { ">PING\r\n", "<+PONG\r\n", ">PING\r\n" } },
	  TWP_AUTO_RAW, TWP_R_LAST_WRITE, 1, 0 },
	{ { "raw: binary", { ">\x01\x02\x03", "<\x04" } }, TWP_AUTO_RAW, TWP_R_NONE, 1, 0 },
	{ { "undecided, then read: raw", { ">hello", "<hi" } }, TWP_AUTO_RAW, TWP_R_NONE, 1, 0 },
	{ { "undecided, unanswered", { ">GET / HTTP" } }, TWP_AUTO_MORE, TWP_R_LAST_WRITE, 1, 0 },
	{ { "tls", { ">\x16\x03\x01\x00\x05hello", "<\x16\x03\x03" } }, TWP_AUTO_TLS, TWP_R_TLS, 0, 0 },
	{ { "banner first", { "<220 smtp ready\r\n", ">EHLO me\r\n", "<250 ok\r\n" } },
	  TWP_AUTO_SERVER_FIRST, TWP_R_SERVER_FIRST, 0, 0 },
	{ { "greeting first, then http", { "<hi\r\n", ">" HTTP_GET, "<" HTTP_200 } },
	  TWP_AUTO_SERVER_FIRST, TWP_R_SERVER_FIRST, 0, 0 },
};

static void check_conv(const void *st, const void *arg, const char *how)
{
	const struct auto_case *c = arg;
	const struct twp_codec *k = &twp_codec_auto;
	cr_expect_eq(twp_auto_chosen(st), c->kind, "%s (%s): chose %d, want %d", c->s.name, how,
		     twp_auto_chosen(st), c->kind);
	cr_expect_eq(k->verdict(st), c->verdict, "%s (%s): verdict %s, want %s", c->s.name, how,
		     twp_reason_name(k->verdict(st)), twp_reason_name(c->verdict));
	cr_expect_eq(k->replayable(st), c->replay, "%s (%s): replayable %d, want %d", c->s.name, how,
		     k->replayable(st), c->replay);
	cr_expect_eq(k->needs_reset(st), c->reset, "%s (%s): needs_reset %d, want %d", c->s.name,
		     how, k->needs_reset(st), c->reset);
}

Test(codec_auto, conversations)
{
	for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++)
		codec_run(&twp_codec_auto, &convs[i].s, (void *)check_conv);
}

/* codec_run's scripts start with the state zeroed, as each handout does:
 * here the same state serves two uses, HTTP then Redis, to show the
 * choice is the use's, not the connection's. */
Test(codec_auto, zeroed_state_chooses_again)
{
	const struct twp_codec *k = &twp_codec_auto;
	void *st = calloc(1, k->state_size);
	struct iovec a = { HTTP_GET, strlen(HTTP_GET) }, r = { HTTP_200, strlen(HTTP_200) };
	k->bytes(st, 1, &a, 1, a.iov_len);
	k->bytes(st, 0, &r, 1, r.iov_len);
	cr_assert_eq(twp_auto_chosen(st), TWP_AUTO_HTTP, "first use: http");
	memset(st, 0, k->state_size); /* twp_conn_begin_use */
	struct iovec g = { INCR_RESP, strlen(INCR_RESP) };
	k->bytes(st, 1, &g, 1, g.iov_len);
	cr_assert_eq(twp_auto_chosen(st), TWP_AUTO_REDIS, "second use: redis");
	cr_assert_eq(k->replayable(st), 0, "INCR is not replayed, whatever the last use was");
	free(st);
}

/* A request line past the peek: the raw rules, and the bytes past it are
 * not a codec's concern. A long HTTP body after a short line: all of it
 * reaches the HTTP codec. */
Test(codec_auto, long_first_write)
{
	const struct twp_codec *k = &twp_codec_auto;
	void *st = calloc(1, k->state_size);
	static char line[4096];
	memset(line, 'a', sizeof(line));
	memcpy(line, "GET /", 5);
	struct iovec v = { line, sizeof(line) };
	k->bytes(st, 1, &v, 1, v.iov_len);
	cr_assert_eq(twp_auto_chosen(st), TWP_AUTO_RAW, "a 4 KB request line: raw rules");
	memset(st, 0, k->state_size);
	static char post[8192];
	int h = snprintf(post, sizeof(post), "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
			 sizeof(post) - 64);
	memset(post + h, 'b', sizeof(post) - (size_t)h);
	size_t total = (size_t)h + sizeof(post) - 64;
	struct iovec p = { post, total };
	k->bytes(st, 1, &p, 1, total);
	cr_assert_eq(twp_auto_chosen(st), TWP_AUTO_HTTP, "post: http");
	struct iovec ok = { HTTP_200, strlen(HTTP_200) };
	k->bytes(st, 0, &ok, 1, ok.iov_len);
	cr_assert_eq(k->verdict(st), TWP_R_NONE, "the whole body reached the codec: %s",
		     twp_reason_name(k->verdict(st)));
	free(st);
}
