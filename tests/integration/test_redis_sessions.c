/* Redis connection state never reaches the next user (tests/progs/
 * redis-sessions.py): with a /redis target the program sees exactly what
 * it sees without the shim; with /raw (the call-shape rules, the old
 * behaviour) the state leaks, which shows the scenarios can fail. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server srv;

static void up(void) { h_redis_start(&srv, "--enable-debug-command yes"); }
static void down(void) { h_server_stop(&srv); }

/* The script's output; protocol NULL: without the shim. */
static char *run_args(const char *protocol, const char *mode, const char *n)
{
	char *argv[] = { "python3", fmt("%s/tests/progs/redis-sessions.py", h_src()),
			 fmt("%d", srv.port), (char *)mode, (char *)n, NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d/%s", srv.port, protocol ? protocol : ""),
			NULL };
	struct h_run r;
	h_run(&r, argv, protocol ? env : NULL, protocol != NULL, 60);
	cr_assert_not(r.timed_out, "redis-sessions.py hung (%s); err:\n%s",
		      protocol ? protocol : "no shim", r.err);
	cr_assert_eq(r.status, 0, "redis-sessions.py failed (%s); err:\n%s",
		     protocol ? protocol : "no shim", r.err);
	return r.out;
}

static char *run(const char *protocol) { return run_args(protocol, NULL, NULL); }

Test(redis_sessions, state_never_reaches_the_next_user, .init = up, .fini = down, .timeout = 120)
{
	char *without = run(NULL);
	long before = h_redis_info(&srv, "total_connections_received");
	char *with = run("redis");
	long made = h_redis_info(&srv, "total_connections_received") - before;
	cr_expect_str_eq(with, without, "a /redis target leaked session state to the next user");
	cr_expect(strstr(without, "select: in-db0") && strstr(without, "auth: -NOPERM"),
		  "control run without the shim:\n%s", without);
	/* 18 connections were opened; the clean ones (PING-like, pipeline read
	 * whole) are reused, every tainted one is closed. */
	cr_expect_lt(made, 18, "no connection was reused under /redis (%ld made)", made);
}

Test(redis_sessions, raw_rules_leak_which_shows_the_scenarios_bite, .init = up, .fini = down,
     .timeout = 120)
{
	char *without = run(NULL), *raw = run("raw");
	cr_expect_str_neq(raw, without,
			  "under /raw the scenarios should show leaked state; they showed none:\n%s",
			  raw);
	cr_expect(strstr(raw, "select: in-db1"), "SELECT did not leak under /raw:\n%s", raw);
}

/* The same AUTH and SELECT on every connection keep their reuse: the
 * connection is RESET when parked, and the next user authenticates again. */
Test(redis_sessions, auth_and_select_per_connection_keep_reuse, .init = up, .fini = down,
     .timeout = 180)
{
	long before = h_redis_info(&srv, "total_connections_received");
	char *with = run_args("redis", "loop", "1000");
	long made = h_redis_info(&srv, "total_connections_received") - before;
	cr_expect(strstr(with, "loop cycles 1000 wrong 0"), "wrong replies under /redis:\n%s", with);
	cr_expect_leq(made, 2, "%ld server connections for 1000 AUTH+SELECT+GET cycles", made);
	char *without = run_args(NULL, "loop", "20");
	cr_expect(strstr(without, "loop cycles 20 wrong 0"), "control without the shim:\n%s",
		  without);
}
