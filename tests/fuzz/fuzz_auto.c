/* fuzz_auto.c - libFuzzer target: the codec auto never reads out of
 * bounds, its choice never changes once made, and once it chose a codec
 * it answers exactly what that codec answers when fed the same bytes
 * itself from the first one (the oracle: the codec alone).
 *
 * The input is a conversation as in fuzz_memcache.c: each segment is one
 * byte of header (bit 7: the program read rather than wrote; bits 0-6:
 * length) and that many bytes, fed in one call. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_auto.h"
#include "codec_http.h"
#include "codec_memcache.h"
#include "codec_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct twp_codec *oracle_of(enum twp_auto_kind k)
{
	return k == TWP_AUTO_HTTP ? &twp_codec_http : k == TWP_AUTO_REDIS ? &twp_codec_resp
		: k == TWP_AUTO_MEMCACHE ? &twp_codec_memcache : NULL;
}

/* The chosen codec fed the whole conversation alone. */
static void compare(const void *st, const struct twp_codec *k, const uint8_t *data, size_t size)
{
	static _Alignas(16) char alone[4096];
	memset(alone, 0, k->state_size);
	for (size_t i = 0; i < size;) {
		int out = !(data[i] & 0x80);
		size_t n = data[i] & 0x7f;
		i++;
		n = n < size - i ? n : size - i;
		struct iovec v = { (void *)(data + i), n };
		if (n)
			k->bytes(alone, out, &v, 1, n);
		i += n;
	}
	if (twp_codec_auto.verdict(st) != k->verdict(alone) ||
	    twp_codec_auto.replayable(st) != k->replayable(alone)) {
		fprintf(stderr, "fuzz_auto: %s chosen, auto says %s/%d, %s alone %s/%d\n", k->name,
			twp_reason_name(twp_codec_auto.verdict(st)), twp_codec_auto.replayable(st),
			k->name, twp_reason_name(k->verdict(alone)), k->replayable(alone));
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(16) char st[8192];
	if (twp_codec_auto.state_size > sizeof(st))
		abort();
	memset(st, 0, twp_codec_auto.state_size);
	enum twp_auto_kind chosen = TWP_AUTO_MORE;
	for (size_t i = 0; i < size;) {
		int out = !(data[i] & 0x80);
		size_t n = data[i] & 0x7f;
		i++;
		n = n < size - i ? n : size - i;
		uint8_t *seg = malloc(n ? n : 1); /* exact size: ASan sees a read past it */
		memcpy(seg, data + i, n);
		struct iovec v = { seg, n };
		if (n) /* the shim never hands a codec 0 bytes */
			twp_codec_auto.bytes(st, out, &v, 1, n);
		free(seg);
		enum twp_auto_kind now = twp_auto_chosen(st);
		if (chosen != TWP_AUTO_MORE && now != chosen) {
			fprintf(stderr, "fuzz_auto: chose %d, then %d\n", chosen, now);
			abort();
		}
		chosen = now;
		i += n;
	}
	if (oracle_of(chosen))
		compare(st, oracle_of(chosen), data, size);
	return 0;
}
