/* The runtime matrix: scripts/matrix runs short-connection clients in C,
 * Python (blocking and asyncio), Perl and Node.js against redis-server and
 * memcached under the shim and judges each cell by what the servers and
 * the kernel saw (connections accepted, TIME_WAIT sockets). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const runtimes[] = { "c", "python", "python-asyncio", "perl", "node" };
static const char *const servers[] = { "redis", "memcached" };

struct cell {
	long replies, errors, accepted, time_wait, reused;
	char result[16];
	int seen;
};

/* The table row of runtime/server in the matrix output. */
static int find_row(const char *out, const char *runtime, const char *server, struct cell *c)
{
	char *copy = strdup(out), *save = NULL;
	memset(c, 0, sizeof(*c));
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char rt[32], sv[32];
		if (sscanf(line, "%31s %31s %ld %ld %ld %ld %ld %15s", rt, sv, &c->replies, &c->errors,
			   &c->accepted, &c->time_wait, &c->reused, c->result) == 8 &&
		    !strcmp(rt, runtime) && !strcmp(sv, server)) {
			c->seen = 1;
			break;
		}
	}
	free(copy);
	return c->seen;
}

Test(matrix, every_runtime_pools_against_redis_and_memcached, .timeout = 240)
{
	const int n = 100;
	char *script = NULL, *cycles = NULL;
	cr_assert(asprintf(&script, "%s/scripts/matrix", h_src()) > 0);
	cr_assert(asprintf(&cycles, "%d", n) > 0);
	char *argv[] = { script, "-n", cycles, "-b", (char *)h_build(), NULL };
	struct h_run r;
	char *pre = NULL;
	cr_assert(asprintf(&pre, "MATRIX_PRELOAD=%s", h_preload()) >= 0);
	char *env[] = { pre, NULL };
	h_run(&r, argv, env, 0, 200);
	cr_assert_not(r.timed_out, "scripts/matrix hung; stdout:\n%s\nstderr:\n%s", r.out, r.err);
	cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
		  "scripts/matrix exit status %#x (a cell failed the bar); stdout:\n%s\nstderr:\n%s", r.status,
		  r.out, r.err);
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
		for (size_t j = 0; j < sizeof(servers) / sizeof(servers[0]); j++) {
			struct cell c;
			const char *rt = runtimes[i], *sv = servers[j];
			if (!find_row(r.out, rt, sv, &c)) {
				cr_expect_fail("no table row for %s against %s:\n%s\n%s", rt, sv, r.out, r.err);
				continue;
			}
			cr_expect_eq(c.replies, 2 * n, "%s/%s: %ld replies right of %d:\n%s", rt, sv, c.replies,
				     2 * n, r.out);
			cr_expect_eq(c.errors, 0, "%s/%s: %ld errors:\n%s", rt, sv, c.errors, r.out);
			cr_expect_leq(c.accepted, 5, "%s/%s: the server accepted %ld connections for %d cycles:\n%s",
				      rt, sv, c.accepted, n, r.out);
			cr_expect_leq(c.time_wait, 5, "%s/%s: %ld client TIME_WAIT sockets:\n%s", rt, sv,
				      c.time_wait, r.out);
			cr_expect_geq(c.reused, n - 5, "%s/%s: only %ld connects reused:\n%s", rt, sv, c.reused,
				      r.out);
			cr_expect_str_eq(c.result, "ok", "%s/%s: the script says %s:\n%s", rt, sv, c.result, r.out);
		}
	free(script);
	free(cycles);
	h_run_free(&r);
}
