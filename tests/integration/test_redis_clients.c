/* Redis clients in five runtimes under the /redis codec, a server without
 * RESET, and the session leaks a pool must not pass on: tracking with
 * RESP3 pushes, an abandoned BLPOP, a pipeline closed halfway. Every
 * verdict comes from the server's side (its connection count, what it
 * answered) or from a run of the same program without the shim. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server srv;

static void redis_up(void) { h_redis_start(&srv, "--enable-debug-command yes"); }
static void down(void) { h_server_stop(&srv); }

static void noreset_up(void)
{
	h_port_server_start(&srv, "noreset",
			    fmt("python3 %s/tests/progs/redis-noreset.py", h_src()));
}

/* The program's stdout; protocol NULL: without the shim. */
static char *run(char *const argv[], const char *protocol)
{
	return h_run_out(argv, srv.port, protocol, 90);
}

/* A value in the server's INFO: real Redis or redis-noreset.py. */
static long info(const char *field) { return h_redis_info(&srv, field); }

/* ---- a server without RESET ---- */

static char *kvcases(const char *protocol, const char *kase, const char *n)
{
	char *argv[] = { "python3", fmt("%s/tests/progs/redis-kvcases.py", h_src()),
			 fmt("%d", srv.port), (char *)kase, (char *)n, NULL };
	return run(argv, protocol);
}

/* The shim writes RESET when parking a tainted connection; this server
 * refuses it, so the connection must be closed, never handed on. */
Test(redis_clients, tainted_connection_without_reset_is_discarded, .init = noreset_up,
     .fini = down, .timeout = 120)
{
	char *out = kvcases("redis", "tainted", "50");
	long made = info("total_connections_received");
	cr_expect(strstr(out, "tainted cycles 50 wrong 0"), "wrong replies under /redis:\n%s", out);
	cr_expect_geq(info("resets_refused"), 50, "the shim did not try RESET on every tainted use");
	cr_expect_eq(info("used_after_refused"), 0,
		     "a connection that refused RESET was used again (the server saw commands)");
	/* 50 tainted users, each discarded; the clean checking users reuse. */
	cr_expect_geq(made, 50, "only %ld connections for 50 tainted uses: one was reused", made);
	cr_expect_leq(made, 53, "%ld connections: the clean uses were not reused", made);
	char *raw = kvcases("raw", "tainted", "3");
	cr_expect(strstr(raw, "tainted cycles 3 wrong 3"),
		  "under /raw SELECT should leak, which shows the check bites:\n%s", raw);
}

Test(redis_clients, untainted_connection_without_reset_is_reused, .init = noreset_up,
     .fini = down, .timeout = 120)
{
	char *out = kvcases("redis", "clean", "300");
	long made = info("total_connections_received");
	cr_expect(strstr(out, "clean cycles 300 wrong 0"), "wrong replies under /redis:\n%s", out);
	/* One for the set-up (it SELECTs, so it is discarded), one for all GETs. */
	cr_expect_leq(made, 2, "%ld server connections for 300 clean uses", made);
	cr_expect_leq(info("resets_refused"), 1, "RESET written after uses that changed nothing");
}

/* ---- leaks on a real Redis ---- */

Test(redis_clients, tracking_monitor_blpop_and_halfway_pipelines_never_reach_the_next_user,
     .init = redis_up, .fini = down, .timeout = 120)
{
	char *without = kvcases(NULL, "leaks", NULL), *with = kvcases("redis", "leaks", NULL);
	cr_expect_str_eq(with, without, "a /redis target passed session state on; with the shim:\n%s\nwithout:\n%s",
			 with, without);
	cr_expect(strstr(without, "tracking: (nil) [flags,[off]") &&
			  strstr(without, "blpop: (timeout) :1 :1 mine") &&
			  strstr(without, "pipeline-sleep: old-49 next-user +PONG") &&
			  strstr(without, "pipeline-block: old-49 next-user +PONG") &&
			  strstr(without, "monitor: mine by-other") &&
			  strstr(without, "reply-off: mine silent"),
		  "control run without the shim:\n%s", without);
	char *raw = kvcases("raw", "leaks", NULL);
	cr_expect(strstr(raw, "tracking: _ {flags,[on]") && !strstr(raw, "pipeline-block: old-49 next") &&
			  !strstr(raw, "monitor: mine by-other"),
		  "under /raw tracking, the blocked pipeline and MONITOR should leak, which shows the "
		  "checks bite:\n%s",
		  raw);
}

/* ---- clients in five runtimes ---- */

static void setup_users(void)
{
	const char *cmds[][7] = {
		{ "ACL", "SETUSER", "alice", "on", ">a", "~*", "+@all" },
		{ "ACL", "SETUSER", "bob", "on", ">b", "~*", "+@all" },
	};
	for (size_t i = 0; i < 2; i++) {
		char *argv[] = { "redis-cli", "-p", fmt("%d", srv.port), (char *)cmds[i][0],
				 (char *)cmds[i][1], (char *)cmds[i][2], (char *)cmds[i][3],
				 (char *)cmds[i][4], (char *)cmds[i][5], (char *)cmds[i][6], NULL };
		run(argv, NULL);
	}
	for (int db = 3; db <= 5; db += 2) {
		char *argv[] = { "redis-cli", "-p", fmt("%d", srv.port), "-n", fmt("%d", db), "SET", "who",
				 fmt("db%d", db), NULL };
		run(argv, NULL);
	}
}

static void clients_up(void)
{
	redis_up();
	setup_users();
}

struct client {
	const char *name, *interp, *prog; /* interp NULL: prog is in the build dir */
	int extension; /* a PHP extension: loaded with RTLD_DEEPBIND */
};

static const struct client clients[] = {
	{ "phpredis", "php", "redis-loop.php", 1 },
	{ "perl-redis", "perl", "redis-loop.pl", 0 },
	{ "node-resp", "node", "redis-loop.js", 0 },
	{ "c-pipeline", NULL, "twpool-redispipe", 0 },
};

static char *loop(const struct client *c, const char *protocol, int n, const char *mode)
{
	char *prog = c->interp ? fmt("%s/tests/progs/%s", h_src(), c->prog)
			       : fmt("%s/%s", h_build(), c->prog);
	char *argv[] = { c->interp ? (char *)c->interp : prog, prog, fmt("%d", srv.port),
			 fmt("%d", n), (char *)mode, NULL };
	return run(c->interp ? argv : argv + 1, protocol);
}

/* AUTH + SELECT 3 + GET + close 1,000 times: RESET at park, the reply read
 * at checkout, so one server connection serves them all. */
static void same_session(const struct client *c)
{
	long before = info("total_connections_received");
	char *out = loop(c, "redis", 1000, "same");
	long made = info("total_connections_received") - before;
	cr_expect(strstr(out, "loop cycles 1000 wrong 0 errors 0"), "%s under /redis:\n%s", c->name,
		  out);
	cr_expect_leq(made, 2, "%s: %ld server connections for 1000 AUTH+SELECT+GET cycles", c->name,
		      made);
}

/* Users and databases in turn: the replies of a run without the shim. */
static void alternating(const struct client *c)
{
	char *without = loop(c, NULL, 100, "alternate"), *with = loop(c, "redis", 100, "alternate");
	cr_expect_str_eq(with, without, "%s: alternating users differ under /redis", c->name);
	cr_expect(strstr(without, "loop cycles 100 wrong 0 errors 0"), "%s without the shim:\n%s",
		  c->name, without);
}

/* Indices into clients: Criterion may run a test in a new process image,
 * where pointers taken in the runner mean nothing. */
ParameterizedTestParameters(redis_clients, runtimes)
{
	static int index[] = { 0, 1, 2, 3 };
	_Static_assert(sizeof(index) / sizeof(*index) == sizeof(clients) / sizeof(*clients),
		       "one index per client");
	return cr_make_param_array(int, index, sizeof(index) / sizeof(*index));
}

/* phpredis, Perl Redis, Node with its own RESP, C pipelining its set-up. */
ParameterizedTest(int *i, redis_clients, runtimes, .init = clients_up, .fini = down, .timeout = 240)
{
	const char *san = getenv("TWPOOL_TEST_SAN");
	if (clients[*i].extension && san && *san)
		cr_skip_test("%s runs in the plain build's suite: PHP loads extensions with "
			     "RTLD_DEEPBIND, which a sanitizer runtime refuses", clients[*i].name);
	same_session(&clients[*i]);
	alternating(&clients[*i]);
}
