/* bench-hoststats - the cost of one counted event (twp_count) with the
 * target's counters bound to the host segment or not, in PROCS processes
 * counting on the same target at once (the shared cache line's worst case).
 *
 *   bench-hoststats [-p PROCS] [-n COUNTS] [-b]
 *
 * Links the shim's internals (not preloaded); -b binds the target to the
 * host segment named by TWPOOL_HOST_STATS. Prints, for the first process,
 *   procs P bound B ns_per_count X */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "stats.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double ns_per_count(struct twp_target *t, long n)
{
	double start = now();
	for (long i = 0; i < n; i++)
		twp_count(&t->n.reused);
	return (now() - start) / (double)n * 1e9;
}

static struct twp_target *target(int bind)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(5000) };
	struct twp_key k;
	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	if (twp_key_from_sockaddr(&k, (void *)&in, sizeof(in)) < 0)
		exit(2);
	struct twp_target *t = twp_pool_target(&k);
	if (!t)
		exit(2);
	return bind ? twp_stats_bind(t) : t;
}

int main(int argc, char **argv)
{
	int c, procs = 1, bind = 0;
	long n = 20000000;
	while ((c = getopt(argc, argv, "p:n:b")) != -1) {
		if (c == 'p')
			procs = atoi(optarg);
		else if (c == 'n')
			n = atol(optarg);
		else if (c == 'b')
			bind = 1;
		else
			return 2;
	}
	struct twp_target *t = target(bind);
	for (int p = 1; p < procs; p++)
		if (fork() == 0)
			_exit(ns_per_count(t, n) > 0 ? 0 : 1);
	printf("procs %d bound %d ns_per_count %.1f\n", procs, bind, ns_per_count(t, n));
	while (wait(NULL) > 0)
		;
	return 0;
}
