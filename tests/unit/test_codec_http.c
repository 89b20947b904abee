/* test_codec_http.c - the HTTP/1.x codec against RFC 9112's framing
 * rules: each exchange is fed whole, byte by byte and in odd-sized pieces,
 * and every way of cutting it must give the same answers. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "codec_http.h"
#include "reason.h"

#define GET "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
#define OK0 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define OK5 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#define POST5 "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
#define CHUNKED_HDR "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

/* The program writes req, reads resp, writes req2, reads resp2. */
struct exchange {
	char name[48];
	char req[160], resp[200], req2[64], resp2[96];
	int verdict; /* enum twp_reason */
	int replay;  /* replayable() after req (before any reply); -1: not asked */
};

ParameterizedTestParameters(codec_http, framing)
{
	static struct exchange params[] = {
		{ "content-length", GET, OK5, "", "", TWP_R_NONE, 1 },
		{ "body short of its length", GET, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
		  "", "", TWP_R_PARTIAL, 1 },
		{ "no response yet", GET, "", "", "", TWP_R_PARTIAL, 1 },
		{ "response headers only", GET, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "", "",
		  TWP_R_PARTIAL, 1 },
		{ "chunked", GET, CHUNKED_HDR "5\r\nhello\r\n0\r\n\r\n", "", "", TWP_R_NONE, 1 },
		{ "chunked, extensions, trailers", GET,
		  CHUNKED_HDR "5;a=1\r\nhello\r\nA ; b\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", "", "",
		  TWP_R_NONE, 1 },
		{ "chunked, hex sizes", GET, CHUNKED_HDR "a\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n",
		  "", "", TWP_R_NONE, 1 },
		{ "chunked, no last CRLF", GET, CHUNKED_HDR "5\r\nhello\r\n0\r\n", "", "",
		  TWP_R_PARTIAL, 1 },
		{ "chunked, data longer than its size", GET, CHUNKED_HDR "2\r\nhello\r\n0\r\n\r\n", "",
		  "", TWP_R_PROTOCOL, 1 },
		{ "chunk size overflow", GET, CHUNKED_HDR "fffffffffffffffffff\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "gzip then chunked", GET,
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", "",
		  "", TWP_R_NONE, 1 },
		{ "chunked then gzip: ends at close", GET,
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc", "", "",
		  TWP_R_SERVER_CLOSE, 1 },
		{ "HEAD: no body whatever the length", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "", "", TWP_R_NONE, 1 },
		{ "HEAD, chunked: no body", "HEAD / HTTP/1.1\r\n\r\n", CHUNKED_HDR, "", "", TWP_R_NONE, 1 },
		{ "204: no body", GET, "HTTP/1.1 204 No Content\r\n\r\n", "", "", TWP_R_NONE, 1 },
		{ "304: no body whatever the length", GET,
		  "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "", "", TWP_R_NONE, 1 },
		{ "no length: ends at close", GET, "HTTP/1.1 200 OK\r\n\r\nabc", "", "",
		  TWP_R_SERVER_CLOSE, 1 },
		{ "server says close", GET, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		  "", "", TWP_R_SERVER_CLOSE, 1 },
		{ "close among tokens, any case", GET,
		  "HTTP/1.1 200 OK\r\nConnection: TE , Close\r\nContent-Length: 0\r\n\r\n", "", "",
		  TWP_R_SERVER_CLOSE, 1 },
		{ "HTTP/1.0 response", GET, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "", "",
		  TWP_R_SERVER_CLOSE, 1 },
		{ "HTTP/1.0 response with keep-alive", GET,
		  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", "", "",
		  TWP_R_NONE, 1 },
		{ "HTTP/1.0 request", "GET / HTTP/1.0\r\n\r\n", OK0, "", "", TWP_R_SERVER_CLOSE, 1 },
		{ "request says close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", OK0, "", "",
		  TWP_R_SERVER_CLOSE, 1 },
		{ "POST", POST5, OK0, "", "", TWP_R_NONE, 0 },
		{ "POST with Idempotency-Key",
		  "POST / HTTP/1.1\r\nIdempotency-Key: 7\r\nContent-Length: 1\r\n\r\nx", OK0, "", "",
		  TWP_R_NONE, 1 },
		{ "PUT with X-Idempotency-Key", "PUT / HTTP/1.1\r\nx-idempotency-key: 7\r\n\r\n", OK0,
		  "", "", TWP_R_NONE, 1 },
		{ "GET then POST pipelined", GET POST5, OK0 OK0, "", "", TWP_R_NONE, 0 },
		{ "POST, chunked body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "3\r\nabc\r\n0\r\n\r\n", OK0, "", "", TWP_R_NONE, 0 },
		{ "POST body not all written", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", OK0,
		  "", "", TWP_R_PARTIAL, 0 },
		{ "Expect: 100-continue",
		  "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
		  "HTTP/1.1 100 Continue\r\n\r\n", "hello", OK0, TWP_R_NONE, 0 },
		{ "Expect: refused, body never sent",
		  "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
		  "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n", "", "",
		  TWP_R_PARTIAL, 0 },
		{ "103 then 200", GET, "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n" OK5, "", "",
		  TWP_R_NONE, 1 },
		{ "CONNECT", "CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n",
		  "HTTP/1.1 200 Connection established\r\n\r\n", "\x16\x03\x01", "", TWP_R_TUNNEL, 0 },
		{ "CONNECT refused", "CONNECT b:443 HTTP/1.1\r\n\r\n",
		  "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "", "", TWP_R_TUNNEL, 0 },
		{ "Upgrade and 101", "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "", "",
		  TWP_R_TUNNEL, 0 },
		{ "101 without asking", GET, "HTTP/1.1 101 Switching Protocols\r\n\r\n", "", "",
		  TWP_R_TUNNEL, 1 },
		{ "two requests, both answered", GET GET, OK5 OK0, "", "", TWP_R_NONE, 1 },
		{ "two requests, one answered", GET GET, OK5, "", "", TWP_R_PARTIAL, 1 },
		{ "a second exchange", GET, OK5, GET, OK0, TWP_R_NONE, 1 },
		{ "a response nobody asked for", "", OK0, "", "", TWP_R_PROTOCOL, -1 },
		{ "bytes past the length", GET, OK5 "X", "", "", TWP_R_PROTOCOL, 1 },
		{ "TLS ClientHello", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "\x16\x03\x03", "",
		  "", TWP_R_PROTOCOL, 0 },
		{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "", "", "", TWP_R_PROTOCOL, 0 },
		{ "HTTP/0.9 response", GET, "hello", "", "", TWP_R_PROTOCOL, 1 },
		{ "length and chunked", GET,
		  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "two different lengths", GET,
		  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "the same length twice", GET, /* found by fuzz_http: http_parser rejects it */
		  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "a length that is no number", GET, "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n",
		  "", "", TWP_R_PROTOCOL, 1 },
		{ "a folded header line", GET, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "space before the colon", GET, "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "",
		  "", TWP_R_PROTOCOL, 1 },
		{ "a CR alone", GET, "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n",
		  "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "", "", TWP_R_NONE, 1 },
		{ "request coding not chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		  "", "", "", TWP_R_PROTOCOL, 0 },
		{ "nothing written", "", "", "", "", TWP_R_UNUSED, 1 },
		{ "request headers not ended", "GET / HTTP/1.1\r\nHost: a\r\n", "", "", "",
		  TWP_R_PARTIAL, 1 },
		{ "methods are case-sensitive", "get / HTTP/1.1\r\n\r\n", OK0, "", "", TWP_R_NONE, 0 },
		{ "a long header value is skipped", GET,
		  "HTTP/1.1 200 OK\r\nX-Long: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
		  "Content-Length: 0\r\n\r\n", "", "", TWP_R_NONE, 1 },
		/* Found by tests/fuzz/fuzz_http.c: framing http_parser reads otherwise. */
		{ "a control byte in the reason", GET, "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n",
		  "", "", TWP_R_PROTOCOL, 1 },
		{ "chunk data ends with a bare LF", GET, CHUNKED_HDR "5\r\nhello\n0\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "a chunk extension ends with a bare LF", GET, CHUNKED_HDR "0;x\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "a chunk size then a tab", GET, CHUNKED_HDR "0\t\r\n\r\n", "", "", TWP_R_PROTOCOL, 1 },
		{ "a trailer that is no field", GET, CHUNKED_HDR "0\r\nnot a field\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "a framing field in trailers", GET, CHUNKED_HDR "0\r\nConnection: close\r\n\r\n", "",
		  "", TWP_R_PROTOCOL, 1 },
		{ "a tab after the length", GET, "HTTP/1.1 200 OK\r\nContent-Length: 2\t\r\n\r\nok", "",
		  "", TWP_R_PROTOCOL, 1 },
		{ "a CR after the response", GET, OK0 "\r", "", "", TWP_R_PROTOCOL, 1 },
		{ "chunked then an empty element", GET,
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "an empty element then chunked", GET,
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "a 100 with a length", GET, "HTTP/1.1 100 Continue\r\nContent-Length: 2\r\n\r\n", "",
		  "", TWP_R_PROTOCOL, 1 },
		{ "a 204 with a length", GET, "HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n",
		  "", "", TWP_R_PROTOCOL, 1 },
		{ "a name that starts as Transfer-Encoding", GET,
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding~: x\r\n\r\nok", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "an empty element before keep-alive", GET,
		  "HTTP/1.0 200 OK\r\nConnection: ,keep-alive\r\nContent-Length: 2\r\n\r\nok", "", "",
		  TWP_R_PROTOCOL, 1 },
		{ "a 304 with length and chunked", GET,
		  "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		  "", "", TWP_R_PROTOCOL, 1 },
		{ "a version with a prefix", "GET / XHTTP/1.1\r\n\r\n", "", "", "", TWP_R_PROTOCOL, 0 },
		{ "empty lines before a request", "\r\n\n" GET, OK0, "", "", TWP_R_NONE, 1 },
		{ "a framing value too long to read", GET,
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, gzip, gzip, gzip, gzip, gzip, gzip, chunked\r\n\r\n",
		  "", "", TWP_R_PROTOCOL, 1 },
	};
	return cr_make_param_array(struct exchange, params, sizeof(params) / sizeof(params[0]));
}

static void feed(struct twp_http *h, int out, const char *s, size_t step)
{
	size_t n = strlen(s);
	for (size_t off = 0; off < n; off += step) {
		size_t len = n - off < step ? n - off : step;
		struct iovec iov[2] = { { (void *)(s + off), len / 2 },
					{ (void *)(s + off + len / 2), len - len / 2 } };
		twp_codec_http.bytes(h, out, iov, 2, len);
	}
}

ParameterizedTest(struct exchange *x, codec_http, framing)
{
	static const size_t steps[] = { 100000, 1, 2, 3, 7, 16 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct twp_http h;
		memset(&h, 0, sizeof(h));
		feed(&h, 1, x->req, steps[i]);
		int replay = twp_codec_http.replayable(&h);
		feed(&h, 0, x->resp, steps[i]);
		feed(&h, 1, x->req2, steps[i]);
		feed(&h, 0, x->resp2, steps[i]);
		enum twp_reason got = twp_codec_http.verdict(&h);
		cr_assert_eq(got, x->verdict, "%s, in pieces of %zu: verdict %s, expected %s", x->name,
			     steps[i], twp_reason_name(got), twp_reason_name(x->verdict));
		if (x->replay >= 0)
			cr_assert_eq(replay, x->replay, "%s, in pieces of %zu: replayable %d, expected %d",
				     x->name, steps[i], replay, x->replay);
	}
}

Test(codec_http, a_request_half_written_is_replayable_by_its_method)
{
	struct twp_http h;
	memset(&h, 0, sizeof(h));
	feed(&h, 1, "GET / HT", 100);
	cr_assert_eq(twp_codec_http.replayable(&h), 0, "method not known before the line ends");
	feed(&h, 1, "TP/1.1\r\nHost: a\r\n", 100);
	cr_assert_eq(twp_codec_http.replayable(&h), 1, "a GET whose headers are being written");
	memset(&h, 0, sizeof(h));
	feed(&h, 1, "POST / HTTP/1.1\r\nHost: a\r\n", 100);
	cr_assert_eq(twp_codec_http.replayable(&h), 0,
		     "a POST whose headers are not all written (no key seen yet)");
}

Test(codec_http, deep_pipelines_are_not_followed)
{
	struct twp_http h;
	memset(&h, 0, sizeof(h));
	for (int i = 0; i < TWP_HTTP_PIPELINE; i++)
		feed(&h, 1, GET, 1000);
	cr_assert_eq(twp_codec_http.verdict(&h), TWP_R_PARTIAL, "%d requests outstanding",
		     TWP_HTTP_PIPELINE);
	feed(&h, 1, GET, 1000);
	cr_assert_eq(twp_codec_http.verdict(&h), TWP_R_PROTOCOL,
		     "request %d outstanding is past what the codec follows", TWP_HTTP_PIPELINE + 1);
}

Test(codec_http, a_large_body_is_skipped_in_bulk)
{
	static char body[1 << 20];
	struct twp_http h;
	memset(&h, 0, sizeof(h));
	memset(body, 'x', sizeof(body) - 1);
	feed(&h, 1, GET, 1000);
	feed(&h, 0, "HTTP/1.1 200 OK\r\nContent-Length: 1048575\r\n\r\n", 1000);
	feed(&h, 0, body, 65536);
	cr_assert_eq(twp_codec_http.verdict(&h), TWP_R_NONE, "a 1 MB body read in 64 KB reads");
}
