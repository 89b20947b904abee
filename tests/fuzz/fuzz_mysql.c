/* fuzz_mysql.c - libFuzzer target: the MySQL codec never reads out of
 * bounds, answers only what it documents, and judges a conversation the
 * same however it is cut into calls.
 *
 * The input is a conversation: each segment is one byte of header (bit 7:
 * the program read rather than wrote; bits 0-6: length) and that many
 * bytes. It is fed twice, in its segments and byte by byte: the verdicts
 * must agree (framing that depends on where a read() ended is a bug).
 * Each segment is also parsed as a login, and a parsed one rebuilt as
 * COM_CHANGE_USER into a buffer of exactly the size it asks for. Reply
 * boundaries are checked against real clients and MariaDB by
 * tests/unit/test_codec_mysql.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_mysql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(enum twp_reason v)
{
	if (v != TWP_R_NONE && v != TWP_MY_R_DUE && v != TWP_MY_R_PARTIAL && v != TWP_MY_R_TLS &&
	    v != TWP_MY_R_STATE && v != TWP_MY_R_CONFUSED && v != TWP_MY_R_LOGIN) {
		fprintf(stderr, "fuzz_mysql: verdict %d is none of the documented ones\n", v);
		abort();
	}
}

static void login(const uint8_t *seg, size_t n)
{
	struct twp_my_login l;
	if (twp_mysql_login_parse(seg, n, &l) < 0)
		return;
	uint8_t *buf = malloc(n + 16);
	size_t k = twp_mysql_change_user(&l, buf, n + 16);
	free(buf);
	if (k > n + 16)
		abort();
}

static enum twp_reason run(const uint8_t *data, size_t size, int bytewise)
{
	static _Alignas(16) char st[4096];
	if (twp_codec_mysql.state_size > sizeof(st))
		abort();
	memset(st, 0, twp_codec_mysql.state_size);
	for (size_t i = 0; i < size;) {
		int out = !(data[i] & 0x80);
		size_t n = data[i] & 0x7f;
		i++;
		n = n < size - i ? n : size - i;
		/* An exact-size copy: ASan sees a read past the segment. */
		uint8_t *seg = malloc(n ? n : 1);
		memcpy(seg, data + i, n);
		for (size_t j = 0; j < n; j += bytewise ? 1 : n) {
			size_t k = bytewise ? 1 : n;
			struct iovec v = { seg + j, k };
			twp_codec_mysql.bytes(st, out, &v, 1, k);
		}
		if (!bytewise)
			login(seg, n);
		free(seg);
		check(twp_codec_mysql.verdict(st));
		i += n;
	}
	if (twp_codec_mysql.replayable(st))
		abort(); /* nothing is ever replayed */
	return twp_codec_mysql.verdict(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum twp_reason whole = run(data, size, 0), bytes = run(data, size, 1);
	if (whole != bytes) {
		fprintf(stderr, "fuzz_mysql: verdict %d in segments, %d byte by byte\n", whole, bytes);
		abort();
	}
	return 0;
}
