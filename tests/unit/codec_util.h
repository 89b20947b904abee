/* codec_util.h - feeding a protocol codec a scripted conversation in every
 * chunking: whole, byte by byte, each event split at every byte boundary,
 * and as two iovecs of one call followed by bytes the call did not move.
 * Header only (the Makefile links every .c under tests/unit as tests). */
#ifndef TWP_TEST_CODEC_UTIL_H
#define TWP_TEST_CODEC_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define CODEC_MAX_EVENTS 12

/* One conversation: events are '>' (the program wrote) or '<' (it read)
 * followed by the bytes (no NUL among them). */
struct codec_script {
	const char *name;
	const char *ev[CODEC_MAX_EVENTS];
};

static inline size_t codec_ev_len(const struct codec_script *s, int i)
{
	return strlen(s->ev[i] + 1);
}

/* Feeds event i split at k (k == 0: whole; k == (size_t)-1: byte by
 * byte); iov: both parts in one call over two iovecs and a third, unmoved,
 * whose bytes the codec must ignore. */
static inline void codec_feed(const struct twp_codec *c, void *st, const struct codec_script *s,
			      int i, size_t k, int iov)
{
	const char *b = s->ev[i] + 1;
	size_t n = codec_ev_len(s, i);
	int out = s->ev[i][0] == '>';
	if (k == (size_t)-1) {
		for (size_t j = 0; j < n; j++) {
			struct iovec v = { (void *)(b + j), 1 };
			c->bytes(st, out, &v, 1, 1);
		}
		return;
	}
	if (k == 0 || k >= n)
		k = n;
	struct iovec v[3] = { { (void *)b, k }, { (void *)(b + k), n - k }, { "*9\r\n$", 5 } };
	if (iov) {
		c->bytes(st, out, v, 3, n);
	} else {
		c->bytes(st, out, &v[0], 1, k);
		if (n > k)
			c->bytes(st, out, &v[1], 1, n - k);
	}
}

/* Runs s in every chunking; check(st, s, how) asserts on the end state. */
static inline void codec_run(const struct twp_codec *c, const struct codec_script *s,
			     void (*check)(const void *st, const struct codec_script *s, const char *how))
{
	void *st = malloc(c->state_size);
	char how[96];
	cr_assert(st, "state allocated");
	for (int e = -2; e < CODEC_MAX_EVENTS && (e < 0 || s->ev[e]); e++) {
		size_t n = e >= 0 ? codec_ev_len(s, e) : 2;
		for (size_t k = 1; k < n; k++) {
			memset(st, 0, c->state_size);
			for (int i = 0; i < CODEC_MAX_EVENTS && s->ev[i]; i++)
				codec_feed(c, st, s, i, e == -2 ? (size_t)-1 : i == e ? k : 0,
					   e >= 0 && (k & 1));
			snprintf(how, sizeof(how), e == -2 ? "byte by byte" : e == -1 ? "whole" :
				 "event %d split at %zu%s", e, k, k & 1 ? " (iovecs)" : "");
			check(st, s, how);
		}
	}
	free(st);
}

#endif
