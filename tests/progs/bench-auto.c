/* bench-auto - what the codec auto adds to the start of a use: zeroing
 * the state (at each handout) and reading the first request, against the
 * chosen codec alone. Not built by make; build and run it with
 *
 *   cc -O2 -std=gnu11 -D_GNU_SOURCE -Iinclude -Ishim -o build/bench-auto \
 *      tests/progs/bench-auto.c shim/codec_auto.c shim/codec_http.c \
 *      shim/codec_resp.c shim/codec_memcache.c shim/reason.c && build/bench-auto
 *
 * CPU time per use, not wall time: the machine may be shared. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec_auto.h"
#include "codec_http.h"
#include "codec_resp.h"

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static _Alignas(16) char st[8192];

/* CPU ns per use of k: zero its state, read req. */
static double run(const struct twp_codec *k, const char *req, int n)
{
	struct iovec v = { (void *)req, strlen(req) };
	double t0 = now_ns();
	for (int i = 0; i < n; i++) {
		memset(st, 0, k->state_size);
		k->bytes(st, 1, &v, 1, v.iov_len);
		__asm__ volatile("" ::: "memory");
	}
	return (now_ns() - t0) / n;
}
int main(void)
{
	const char *r = "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n";
	const char *h = "GET /small HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5\r\n"
			"Accept: */*\r\n\r\n";
	int n = 2000000;
	printf("redis  direct %.1f ns  auto %.1f ns\n", run(&twp_codec_resp, r, n),
	       run(&twp_codec_auto, r, n));
	printf("http   direct %.1f ns  auto %.1f ns\n", run(&twp_codec_http, h, n),
	       run(&twp_codec_auto, h, n));
	return 0;
}
