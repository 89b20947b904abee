/* fuzz_resp.c - differential libFuzzer target: the RESP codec's reply
 * boundaries against hiredis's reply reader (the oracle).
 *
 * The first byte picks the mode. Even: the rest of the input drives a
 * generator of well-formed RESP2 replies (the types hiredis 0.14 reads,
 * nested at most 5 deep), and both parsers must read exactly the values
 * generated, without error. Odd: the rest is fed as it is, and the two
 * must agree on the replies complete after every chunk for as long as
 * neither reports an error. hiredis is fed one byte at a time, so each
 * reply it returns ends at that byte; the codec is fed in chunks whose
 * sizes come from the input. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_resp.h"

#define MAX_STREAM 8192
#define GEN_DEPTH 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct gen {
	const uint8_t *in;
	size_t n, i;
	char out[MAX_STREAM];
	size_t len;
};

static uint8_t take(struct gen *g)
{
	return g->i < g->n ? g->in[g->i++] : 0;
}

static int put(struct gen *g, const void *p, size_t n)
{
	if (g->len + n > sizeof(g->out))
		return -1;
	memcpy(g->out + g->len, p, n);
	g->len += n;
	return 0;
}

static int put_line(struct gen *g, char type, const char *text)
{
	char line[64];
	int k = snprintf(line, sizeof(line), "%c%s\r\n", type, text);
	return put(g, line, (size_t)k);
}

/* A simple string: letters and lone CRs (never CR LF inside). */
static int gen_simple(struct gen *g, char type)
{
	char text[40];
	size_t k = take(g) % 32;
	for (size_t j = 0; j < k; j++) {
		uint8_t b = take(g);
		text[j] = b % 7 == 0 ? '\r' : (char)('a' + b % 26);
	}
	text[k] = '\0';
	return put_line(g, type, text);
}

static int gen_bulk(struct gen *g)
{
	char num[16];
	size_t k = take(g) % 48;
	snprintf(num, sizeof(num), "%zu", k);
	if (put_line(g, '$', num) < 0 || g->len + k + 2 > sizeof(g->out))
		return -1;
	for (size_t j = 0; j < k; j++)
		g->out[g->len++] = (char)take(g); /* any byte, CR LF included */
	return put(g, "\r\n", 2);
}

static int gen_value(struct gen *g, int depth)
{
	char num[24];
	uint8_t t = take(g) % 8;
	switch (t) {
	case 0:
		snprintf(num, sizeof(num), "%d", (int8_t)take(g) * 1000003);
		return put_line(g, ':', num);
	case 1:
	case 2:
		return gen_simple(g, t == 1 ? '+' : '-');
	case 3:
		return gen_bulk(g);
	case 4:
		return put_line(g, '$', "-1");
	case 5:
		return put_line(g, '*', "-1");
	}
	int k = depth < GEN_DEPTH ? take(g) % 4 : 0;
	snprintf(num, sizeof(num), "%d", k);
	if (put_line(g, '*', num) < 0)
		return -1;
	for (int j = 0; j < k; j++)
		if (gen_value(g, depth + 1) < 0)
			return -1;
	return 0;
}

/* Offsets just past each reply hiredis returns; its count, and in *err
 * the offset where it failed (len when it did not). */
static size_t oracle(const char *s, size_t len, size_t *ends, size_t *err)
{
	redisReader *rd = redisReaderCreate();
	size_t n = 0;
	*err = len;
	for (size_t i = 0; i < len && *err == len; i++) {
		void *reply = NULL;
		redisReaderFeed(rd, s + i, 1);
		while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply) {
			ends[n++] = i + 1;
			freeReplyObject(reply);
			reply = NULL;
		}
		if (rd->err)
			*err = i;
	}
	redisReaderFree(rd);
	return n;
}

/* hiredis allocates an aggregate's element array at its header: a raw
 * stream is compared only up to the first header that declares more
 * elements than this (the codec needs no such memory; the oracle would run
 * out of it). */
#define ORACLE_MAX_ELEMENTS 4096

static size_t oracle_prefix(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((i && s[i - 1] != '\n') || !strchr("*%~>|", s[i]) || !s[i])
			continue;
		unsigned long long v = 0;
		for (size_t j = i + 1; j < len && s[j] >= '0' && s[j] <= '9' && v <= ORACLE_MAX_ELEMENTS; j++)
			v = v * 10 + (unsigned)(s[j] - '0');
		if (v > ORACLE_MAX_ELEMENTS)
			return i;
	}
	return len;
}

static void fail(const char *what, size_t off, long long mine, long long theirs)
{
	fprintf(stderr, "fuzz_resp: %s at offset %zu: codec %lld, hiredis %lld\n", what, off, mine,
		theirs);
	abort();
}

/* Feeds s to a codec that has nreq requests outstanding, in chunks sized
 * by the input; compares with the oracle after every chunk. */
static void compare(const char *s, size_t len, const uint8_t *sizes, size_t nsizes,
		    const size_t *ends, size_t nends, size_t err, int strict)
{
	static _Alignas(16) char st[1024];
	struct iovec ping = { "P\r\n", 3 };
	long long nreq = (long long)nends + 1;
	memset(st, 0, twp_codec_resp.state_size);
	for (long long i = 0; i < nreq; i++)
		twp_codec_resp.bytes(st, 1, &ping, 1, 3);
	size_t off = 0, seen = 0;
	for (size_t c = 0; off < len; c++) {
		size_t k = 1 + (nsizes ? sizes[c % nsizes] % 64 : len);
		k = k < len - off ? k : len - off;
		struct iovec v = { (void *)(s + off), k };
		twp_codec_resp.bytes(st, 0, &v, 1, k);
		off += k;
		int confused = twp_codec_resp.verdict(st) == TWP_RESP_R_CONFUSED;
		if (confused && strict)
			fail("codec error on a well-formed stream", off, 1, 0);
		if (confused || off > err)
			return;
		while (seen < nends && ends[seen] <= off)
			seen++;
		long long mine = nreq - twp_resp_due(st);
		if (mine != (long long)seen)
			fail("replies complete differ", off, mine, (long long)seen);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gen g;
	static size_t ends[MAX_STREAM];
	size_t err;
	if (size < 1 || twp_codec_resp.state_size > 1024)
		return 0;
	memset(&g, 0, offsetof(struct gen, out));
	g.len = 0;
	g.in = data + 1;
	g.n = size - 1;
	if (data[0] & 1) {
		size_t len = size - 1 < MAX_STREAM ? size - 1 : MAX_STREAM;
		len = oracle_prefix((const char *)data + 1, len);
		size_t n = oracle((const char *)data + 1, len, ends, &err);
		compare((const char *)data + 1, len, data, size < 8 ? size : 8, ends, n, err, 0);
		return 0;
	}
	size_t values = 0;
	while (g.i < g.n && gen_value(&g, 0) == 0)
		values++;
	g.len = 0; /* regenerate exactly the values that fit */
	g.i = 0;
	for (size_t v = 0; v < values; v++)
		gen_value(&g, 0);
	size_t n = oracle(g.out, g.len, ends, &err);
	if (n != values || err != g.len)
		fail("hiredis disagrees with the generator", err, (long long)values, (long long)n);
	compare(g.out, g.len, data, size < 8 ? size : 8, ends, n, err, 1);
	return 0;
}
