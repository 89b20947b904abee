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

/* One event of a conversation as bytes. */
struct codec_event {
	int out;
	const char *b;
	size_t n;
};

/* Feeds ev split at k (k == 0: whole; k == (size_t)-1: byte by byte);
 * iov: both parts in one call over two iovecs and a third, unmoved, whose
 * bytes the codec must ignore. */
static inline void codec_feed(const struct twp_codec *c, void *st, const struct codec_event *ev,
			      size_t k, int iov)
{
	if (k == (size_t)-1) {
		for (size_t j = 0; j < ev->n; j++) {
			struct iovec v = { (void *)(ev->b + j), 1 };
			c->bytes(st, ev->out, &v, 1, 1);
		}
		return;
	}
	if (k == 0 || k >= ev->n)
		k = ev->n;
	struct iovec v[3] = { { (void *)ev->b, k }, { (void *)(ev->b + k), ev->n - k },
			      { "*9\r\n$", 5 } };
	if (iov) {
		c->bytes(st, ev->out, v, 3, ev->n);
	} else {
		c->bytes(st, ev->out, &v[0], 1, k);
		if (ev->n > k)
			c->bytes(st, ev->out, &v[1], 1, ev->n - k);
	}
}

/* Runs the n events in every chunking; check(st, arg, how) asserts on
 * the end state. */
static inline void codec_run_events(const struct twp_codec *c, const struct codec_event *ev, int n,
				    void (*check)(const void *st, const void *arg, const char *how),
				    const void *arg)
{
	void *st = malloc(c->state_size);
	char how[96];
	cr_assert(st, "state allocated");
	for (int e = -2; e < n; e++) {
		size_t len = e >= 0 ? ev[e].n : 2;
		for (size_t k = 1; k < len; k++) {
			memset(st, 0, c->state_size);
			for (int i = 0; i < n; i++)
				codec_feed(c, st, &ev[i], e == -2 ? (size_t)-1 : i == e ? k : 0,
					   e >= 0 && (k & 1));
			snprintf(how, sizeof(how), e == -2 ? "byte by byte" : e == -1 ? "whole" :
				 "event %d split at %zu%s", e, k, k & 1 ? " (iovecs)" : "");
			check(st, arg, how);
		}
	}
	free(st);
}

/* Runs the script s in every chunking. */
static inline void codec_run(const struct twp_codec *c, const struct codec_script *s,
			     void (*check)(const void *st, const void *s, const char *how))
{
	struct codec_event ev[CODEC_MAX_EVENTS];
	int n = 0;
	for (; n < CODEC_MAX_EVENTS && s->ev[n]; n++)
		ev[n] = (struct codec_event){ s->ev[n][0] == '>', s->ev[n] + 1, strlen(s->ev[n] + 1) };
	codec_run_events(c, ev, n, check, s);
}

#endif
