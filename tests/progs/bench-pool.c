/* bench-pool - the cost of one pool operation (find the target, take an
 * idle connection, park it again) with 1 target holding 1 idle connection,
 * and with T targets holding I idle connections each.
 *
 *   bench-pool [-t TARGETS] [-i IDLE] [-n OPS]
 *
 * Links the shim's internals (not preloaded). Prints
 *   targets T idle I ops N ns_per_op X
 * The operations touch targets in a scattered order, so a pool whose cost
 * grew with its size would show it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

static struct twp_key key_of(unsigned i)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(1000 + i % 60000)) };
	a.sin_addr.s_addr = htonl(0x0a000000u + i); /* 10.0.0.0 + i */
	struct twp_key k;
	twp_key_from_sockaddr(&k, (struct sockaddr *)&a, sizeof(a));
	return k;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Gives each of the targets idle connections (no sockets: fd -1). */
static struct twp_key *fill(unsigned targets, unsigned idle)
{
	struct twp_key *keys = calloc(targets, sizeof(*keys));
	for (unsigned t = 0; keys && t < targets; t++) {
		keys[t] = key_of(t);
		struct twp_target *tg = twp_pool_target(&keys[t]);
		for (unsigned j = 0; j < idle; j++) {
			struct twp_conn *c = calloc(1, sizeof(*c));
			if (!c)
				return NULL;
			c->fd = -1;
			c->family = AF_INET;
			c->target = tg;
			twp_pool_put(tg, c, 1);
		}
	}
	return keys;
}

/* ops take-and-park cycles on scattered targets; returns the misses. */
static unsigned run_ops(const struct twp_key *keys, unsigned targets, long ops)
{
	unsigned x = 12345, misses = 0;
	for (long n = 0; n < ops; n++) {
		x = x * 1103515245u + 12345u;
		struct twp_target *tg = twp_pool_target(&keys[(x >> 8) % targets]);
		struct twp_conn *expired = NULL;
		struct twp_conn *c = twp_pool_take(tg, AF_INET, 2, &expired);
		if (!c) {
			misses++;
			continue;
		}
		twp_pool_put(tg, c, 2);
	}
	return misses;
}

int main(int argc, char **argv)
{
	unsigned targets = 1, idle = 1;
	long ops = 2000000;
	int ch;
	while ((ch = getopt(argc, argv, "t:i:n:")) != -1) {
		if (ch == 't')
			targets = (unsigned)atoi(optarg);
		else if (ch == 'i')
			idle = (unsigned)atoi(optarg);
		else if (ch == 'n')
			ops = atol(optarg);
		else
			return 2;
	}
	if (!targets || !idle || targets > TWP_MAX_POOL_TARGETS || idle > 1024 || ops <= 0)
		return 2;
	twp_pool_configure(idle, 0);
	struct twp_key *keys = fill(targets, idle);
	if (!keys)
		return 1;
	double t0 = now_ns();
	unsigned misses = run_ops(keys, targets, ops);
	double per = (now_ns() - t0) / (double)ops;
	printf("targets %u idle %u ops %ld ns_per_op %.1f misses %u\n", targets, idle, ops, per, misses);
	return misses ? 1 : 0;
}
