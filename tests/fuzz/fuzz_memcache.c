/* fuzz_memcache.c - libFuzzer target: the memcached codec never reads
 * out of bounds, never gets stuck, and answers only what it documents.
 *
 * The input is a conversation: each segment is one byte of header (bit 7:
 * the program read rather than wrote; bits 0-6: length) and that many
 * bytes, fed in one call. Its reply boundaries are checked against a real
 * memcached's replies by tests/unit/test_codec_memcache.c; here any bytes
 * go, including a binary stream after a text one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_memcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const void *st)
{
	enum twp_reason v = twp_codec_memcache.verdict(st);
	int r = twp_codec_memcache.replayable(st);
	if (v != TWP_R_NONE && v != TWP_MC_R_DUE && v != TWP_MC_R_CONFUSED && v != TWP_MC_R_QUIT) {
		fprintf(stderr, "fuzz_memcache: verdict %d is none of the documented ones\n", v);
		abort();
	}
	if (r != 0 && r != 1) {
		fprintf(stderr, "fuzz_memcache: replayable %d\n", r);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(16) char st[4096];
	if (twp_codec_memcache.state_size > sizeof(st))
		abort();
	memset(st, 0, twp_codec_memcache.state_size);
	for (size_t i = 0; i < size;) {
		int out = !(data[i] & 0x80);
		size_t n = data[i] & 0x7f;
		i++;
		n = n < size - i ? n : size - i;
		/* An exact-size copy: ASan sees a read past the segment. */
		uint8_t *seg = malloc(n ? n : 1);
		memcpy(seg, data + i, n);
		struct iovec v = { seg, n };
		twp_codec_memcache.bytes(st, out, &v, 1, n);
		free(seg);
		check(st);
		i += n;
	}
	return 0;
}
