/* bench-codec - the cost of the protocol codecs' framing: a pipeline of
 * about 1 KB of replies (and the requests that asked for them) read in one
 * chunk, repeated: requests into a fresh state, replies into a state
 * that has read the requests (copied in each round).
 *
 *   bench-codec [-n ROUNDS]
 *
 * Links the codecs directly (not preloaded). Prints one line per stream:
 *   codec C stream S replies R bytes B ns_per_reply X ns_per_request Y */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec_memcache.h"
#include "codec_resp.h"

#define STREAM_BYTES 1024

struct stream {
	const struct twp_codec *codec;
	const char *name;
	const char *req, *rep; /* one request and its reply, repeated to ~1 KB */
};

static const struct stream streams[] = {
	{ &twp_codec_resp, "get-bulk16", "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n",
	  "$16\r\n0123456789abcdef\r\n" },
	{ &twp_codec_resp, "set-ok", "*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$3\r\nabc\r\n", "+OK\r\n" },
	{ &twp_codec_resp, "lrange-3", "*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$1\r\n2\r\n",
	  "*3\r\n$3\r\none\r\n$3\r\ntwo\r\n:3\r\n" },
	{ &twp_codec_memcache, "get-hit16", "get key:1\r\n",
	  "VALUE key:1 0 16\r\n0123456789abcdef\r\nEND\r\n" },
	{ &twp_codec_memcache, "mg-hit16", "mg key:1 v\r\n", "VA 16\r\n0123456789abcdef\r\n" },
};

/* CPU time, not wall time: the machine may be shared. */
static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* s's request or reply repeated while it fits in STREAM_BYTES. */
static size_t repeat(char *buf, const char *one, int *count)
{
	size_t n = 0, k = strlen(one);
	for (*count = 0; n + k <= STREAM_BYTES; (*count)++, n += k)
		memcpy(buf + n, one, k);
	return n;
}

/* Nanoseconds per round of feeding io to a state copied from from. */
static double run(const struct stream *s, void *st, const void *from, int out,
		  const struct iovec *io, long rounds)
{
	double t0 = now_ns();
	for (long r = 0; r < rounds; r++) {
		memcpy(st, from, s->codec->state_size);
		s->codec->bytes(st, out, io, 1, io->iov_len);
	}
	return (now_ns() - t0) / rounds;
}

static void bench(const struct stream *s, long rounds)
{
	static char req[STREAM_BYTES], rep[STREAM_BYTES];
	int nreq, nrep;
	struct iovec out = { req, repeat(req, s->req, &nreq) };
	struct iovec in = { rep, repeat(rep, s->rep, &nrep) };
	int n = nreq < nrep ? nreq : nrep;
	out.iov_len = (size_t)n * strlen(s->req);
	in.iov_len = (size_t)n * strlen(s->rep);
	void *fresh = calloc(1, s->codec->state_size), *asked = calloc(1, s->codec->state_size);
	void *st = calloc(1, s->codec->state_size);
	s->codec->bytes(asked, 1, &out, 1, out.iov_len);
	double reqs = run(s, st, fresh, 1, &out, rounds);
	double reps = run(s, st, asked, 0, &in, rounds);
	if (s->codec->verdict(st) != TWP_R_NONE) {
		fprintf(stderr, "bench-codec: %s: the codec did not read every reply\n", s->name);
		exit(1);
	}
	printf("codec %s stream %s replies %d bytes %zu ns_per_reply %.1f ns_per_request %.1f\n",
	       s->codec->name, s->name, n, in.iov_len, reps / n, reqs / n);
	free(st);
	free(asked);
	free(fresh);
}

int main(int argc, char **argv)
{
	long rounds = 20000;
	int opt;
	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || (rounds = atol(optarg)) < 1) {
			fprintf(stderr, "usage: bench-codec [-n ROUNDS]\n");
			return 2;
		}
	}
	for (size_t i = 0; i < sizeof(streams) / sizeof(*streams); i++)
		bench(&streams[i], rounds);
	return 0;
}
