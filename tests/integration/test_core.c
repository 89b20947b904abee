/* Core pooling, end to end: real clients under LD_PRELOAD against real
 * servers, judged by what the servers and the kernel saw. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N_CYCLES 300

static struct h_server srv;

static void redis_up(void) { h_redis_start(&srv, NULL); }
static void tw_up(void) { h_twserver_start(&srv, NULL); }
static void down(void) { h_server_stop(&srv); }

#define fmt h_fmt

static char *py(void) { return "/usr/bin/python3"; }

static char *pyclient(void) { return fmt("%s/tests/progs/pyclient.py", h_src()); }

/* Runs the python short-connection client: n cycles against port. */
static void run_pyclient(struct h_run *r, int port, int n, char *const env[], int preload)
{
	char *argv[] = { py(), pyclient(), "--port", fmt("%d", port), "-n", fmt("%d", n),
			 "--prefix", "core", NULL };
	h_run(r, argv, env, preload, 60);
	cr_assert_not(r->timed_out, "python client timed out; stderr:\n%s", r->err);
}

static void expect_clean_client(struct h_run *r, long want_requests)
{
	long req = -1, err = -1, crossed = -1;
	cr_assert_eq(h_client_line(r->out, &req, &err, &crossed), 0,
		     "client printed no result line; stdout:\n%s\nstderr:\n%s", r->out, r->err);
	cr_expect_eq(err, 0, "client saw %ld errors; stderr:\n%s", err, r->err);
	cr_expect_eq(crossed, 0, "client got %ld replies that were not its own", crossed);
	cr_expect_eq(req, want_requests, "client completed %ld requests, want %ld", req, want_requests);
	cr_expect(r->status == 0,
		  "client exit status %d; stderr:\n%s", r->status, r->err);
}

Test(core, python_client_reuses_one_connection, .init = redis_up, .fini = down, .timeout = 90)
{
	char *stats = h_tmp("py-%p.prom");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats), NULL };
	long before = h_redis_info(&srv, "total_connections_received");
	struct h_run r;
	run_pyclient(&r, srv.port, N_CYCLES, env, 1);
	expect_clean_client(&r, 2 * N_CYCLES);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	cr_expect_leq(accepted, 2, "redis accepted %ld connections for %d cycles under twpool", accepted, N_CYCLES);
	int tw = h_timewait(srv.port);
	cr_expect_leq(tw, 2, "%d client TIME_WAIT sockets towards redis under twpool", tw);

	/* The stats file of that process (its pid replaced %p). */
	char *dir = strdup(stats);
	*strrchr(dir, '/') = '\0';
	char *cmd = fmt("cat %s/py-*.prom", dir);
	FILE *p = popen(cmd, "r");
	char text[65536] = "";
	size_t n = fread(text, 1, sizeof(text) - 1, p);
	text[n] = '\0';
	pclose(p);
	char *label = fmt("target=\"127.0.0.1:%d\",result=\"reused\"", srv.port);
	double reused = h_prom(text, "twpool_connects_total", label);
	cr_expect_geq(reused, N_CYCLES - 10, "stats file says %.0f reused connects, want >= %d:\n%s",
		      reused, N_CYCLES - 10, text);
	h_run_free(&r);
}

Test(core, target_not_allow_listed_is_untouched, .init = redis_up, .fini = down, .timeout = 90)
{
	/* Allow-list another port: connections to this redis pass through. */
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port == 1 ? 2 : srv.port - 1), NULL };
	long before = h_redis_info(&srv, "total_connections_received");
	struct h_run r;
	run_pyclient(&r, srv.port, N_CYCLES, env, 1);
	expect_clean_client(&r, 2 * N_CYCLES);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	cr_expect_eq(accepted, N_CYCLES, "redis accepted %ld connections, want one per cycle (%d)",
		     accepted, N_CYCLES);
	int tw = h_timewait(srv.port);
	cr_expect_geq(tw, N_CYCLES - 5, "only %d client TIME_WAIT sockets; the shim touched a non-target?", tw);
	h_run_free(&r);
}

Test(core, malformed_targets_says_so_and_passes_through, .init = redis_up, .fini = down, .timeout = 90)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d,bogus-entry", srv.port), NULL };
	long before = h_redis_info(&srv, "total_connections_received");
	struct h_run r;
	run_pyclient(&r, srv.port, 50, env, 1);
	expect_clean_client(&r, 100);
	cr_expect(strstr(r.err, "twpool: TWPOOL_TARGETS") != NULL,
		  "stderr should name TWPOOL_TARGETS in a twpool: line; got:\n%s", r.err);
	cr_expect(strstr(r.err, "bogus-entry") != NULL, "stderr should name the bad token; got:\n%s", r.err);
	int lines = 0;
	for (const char *p = r.err; (p = strstr(p, "twpool:")); p++)
		lines++;
	cr_expect_eq(lines, 1, "want exactly one twpool: line on stderr, got %d:\n%s", lines, r.err);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	cr_expect_eq(accepted, 50, "misconfigured shim must pass through: %ld connections for 50 cycles", accepted);
	h_run_free(&r);
}

Test(core, bad_numeric_setting_passes_through, .init = tw_up, .fini = down, .timeout = 60)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), "TWPOOL_MAX_IDLE=lots", NULL };
	long before = h_twserver_accepted(&srv);
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "40", "-q", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	expect_clean_client(&r, 80);
	cr_expect(strstr(r.err, "twpool: TWPOOL_MAX_IDLE") && strstr(r.err, "lots"),
		  "stderr should name TWPOOL_MAX_IDLE and 'lots'; got:\n%s", r.err);
	long accepted = h_twserver_accepted(&srv) - before;
	cr_expect_eq(accepted, 40, "%ld connections for 40 cycles with a bad setting", accepted);
	h_run_free(&r);
}

Test(core, c_client_reuses_one_connection, .init = tw_up, .fini = down, .timeout = 60)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), NULL };
	long before = h_twserver_accepted(&srv);
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "1000", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	expect_clean_client(&r, 2000);
	long accepted = h_twserver_accepted(&srv) - before;
	cr_expect_leq(accepted, 1, "server accepted %ld connections for 1000 cycles", accepted);
	cr_expect_leq(h_timewait(srv.port), 1, "client TIME_WAIT towards the server");
	h_run_free(&r);
}

Test(core, epoll_client_nonblocking_connects_reuse, .init = tw_up, .fini = down, .timeout = 60)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), NULL };
	long before = h_twserver_accepted(&srv);
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "1000", "-e", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	expect_clean_client(&r, 2000);
	long accepted = h_twserver_accepted(&srv) - before;
	cr_expect_leq(accepted, 1, "server accepted %ld connections for 1000 non-blocking cycles", accepted);
	h_run_free(&r);
}

Test(core, redis_benchmark_per_request_connections_are_pooled, .init = redis_up, .fini = down, .timeout = 120)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), NULL };
	long before = h_redis_info(&srv, "total_connections_received");
	char *argv[] = { "redis-benchmark", "-p", fmt("%d", srv.port), "-c", "1", "-n", "3000",
			 "-k", "0", "-t", "set,get", "-q", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 90);
	cr_assert(r.status == 0, "redis-benchmark failed:\n%s", r.err);
	cr_expect(strstr(r.out, "GET:") && strstr(r.out, "SET:"), "no results:\n%s", r.out);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	/* redis-benchmark makes a few set-up connections of its own per test. */
	cr_expect_leq(accepted, 8, "redis accepted %ld connections for 6000 per-request cycles", accepted);
	int tw = h_timewait(srv.port);
	cr_expect_leq(tw, 8, "%d client TIME_WAIT sockets after redis-benchmark -k 0 under twpool", tw);
	long hits = h_redis_cmd_int(&srv, "DBSIZE");
	cr_expect_geq(hits, 1, "redis holds the benchmark's key");
	h_run_free(&r);
}

Test(core, redis_benchmark_without_shim_leaves_time_wait, .init = redis_up, .fini = down, .timeout = 120)
{
	/* The control for the test above: the same load without the shim. */
	long before = h_redis_info(&srv, "total_connections_received");
	char *argv[] = { "redis-benchmark", "-p", fmt("%d", srv.port), "-c", "1", "-n", "1000",
			 "-k", "0", "-t", "get", "-q", NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 90);
	cr_assert(r.status == 0, "redis-benchmark failed:\n%s", r.err);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	cr_expect_geq(accepted, 1000, "without twpool redis accepted only %ld connections", accepted);
	/* Loopback may recycle a few TIME_WAIT sockets for new connects. */
	int tw = h_timewait(srv.port);
	cr_expect_geq(tw, 900, "without twpool each request leaves a TIME_WAIT: %d for 1000", tw);
	h_run_free(&r);
}

Test(core, options_and_flags_hold_and_never_leak, .init = redis_up, .fini = down, .timeout = 60)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), NULL };
	long before = h_redis_info(&srv, "total_connections_received");
	char *argv[] = { py(), fmt("%s/tests/progs/optcheck.py", h_src()), fmt("%d", srv.port), NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	cr_expect(r.status == 0,
		  "option checks failed:\n%s\n%s", r.out, r.err);
	cr_expect(strstr(r.out, "FAIL") == NULL, "option checks:\n%s", r.out);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	/* 9 cycles; the last two are one non-blocking and one blocking; reuse must have happened. */
	cr_expect_leq(accepted, 3, "%ld connections: the option cycles were not pooled", accepted);
	h_run_free(&r);
}

Test(core, exec_leaves_no_pooled_fd, .init = redis_up, .fini = down, .timeout = 60)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), NULL };
	char *argv[] = { py(), fmt("%s/tests/progs/execcheck.py", h_src()), fmt("%d", srv.port), NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	cr_assert(r.status == 0, "exec check failed:\n%s", r.err);
	cr_expect(strstr(r.out, " 3 -> ") != NULL, "no fd listing from the exec'd ls:\n%s", r.out);
	cr_expect(strstr(r.out, "socket:") == NULL, "a socket survived exec:\n%s", r.out);
	h_run_free(&r);
}

/* A python client that binds before connecting, and one using a hostname
 * entry, an IPv6 entry and a wildcard entry. A name is looked up off the
 * connect path, started by the first connect: mode 'name' leaves the lookup
 * half a second after that connect. */
static const char *variant_script =
	"import socket,sys,time\n"
	"port=int(sys.argv[1]); mode=sys.argv[2]\n"
	"for i in range(60):\n"
	"    fam = socket.AF_INET6 if mode in ('v6','mapped') else socket.AF_INET\n"
	"    s=socket.socket(fam)\n"
	"    if mode=='bind': s.bind(('127.0.0.1',0))\n"
	"    host={'v6':'::1','mapped':'::ffff:127.0.0.1'}.get(mode,'127.0.0.1')\n"
	"    s.connect((host,port))\n"
	"    s.sendall(b'PING\\r\\n'); assert s.recv(64)==b'+PONG\\r\\n'\n"
	"    s.close()\n"
	"    if mode=='name' and i==0: time.sleep(0.5)\n";

static long run_variant(const char *targets, const char *mode)
{
	char *env[] = { fmt("TWPOOL_TARGETS=%s", targets), NULL };
	long before = h_redis_info(&srv, "total_connections_received");
	char *argv[] = { py(), "-c", (char *)variant_script, fmt("%d", srv.port), (char *)mode, NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	cr_assert(r.status == 0, "%s client failed:\n%s", mode, r.err);
	h_run_free(&r);
	return h_redis_info(&srv, "total_connections_received") - before;
}

static void redis_dual_up(void) { h_redis_start(&srv, "--bind 127.0.0.1 ::1"); }

Test(core, bound_socket_is_passed_through, .init = redis_up, .fini = down, .timeout = 60)
{
	long n = run_variant(fmt("127.0.0.1:%d", srv.port), "bind");
	cr_expect_eq(n, 60, "bound sockets must not be pooled: %ld connections for 60", n);
}

Test(core, hostname_entry_pools, .init = redis_up, .fini = down, .timeout = 60)
{
	long n = run_variant(fmt("localhost:%d", srv.port), "name");
	cr_expect_leq(n, 2, "localhost:%d entry: %ld connections for 60 cycles (the first, "
		      "made while the name was looked up, passes through)", srv.port, n);
}

Test(core, wildcard_entry_pools, .init = redis_up, .fini = down, .timeout = 60)
{
	long n = run_variant(fmt("*:%d", srv.port), "plain");
	cr_expect_leq(n, 1, "*:%d entry: %ld connections for 60 cycles", srv.port, n);
}

Test(core, ipv6_entry_pools, .init = redis_dual_up, .fini = down, .timeout = 60)
{
	long n = run_variant(fmt("[::1]:%d", srv.port), "v6");
	cr_expect_leq(n, 1, "[::1] entry: %ld connections for 60 cycles", n);
}

Test(core, ipv4_mapped_connect_matches_ipv4_entry, .init = redis_up, .fini = down, .timeout = 60)
{
	long n = run_variant(fmt("127.0.0.1:%d", srv.port), "mapped");
	cr_expect_leq(n, 1, "::ffff:127.0.0.1 against a 127.0.0.1 entry: %ld connections for 60", n);
}

Test(core, valgrind_finds_nothing_in_a_client_run, .init = tw_up, .fini = down, .timeout = 120)
{
	/* Memcheck and a sanitizer runtime cannot share a process. */
	if (strstr(h_preload(), "asan") || strstr(h_preload(), "tsan"))
		cr_skip_test("valgrind runs in the plain build's suite, not beside a sanitizer runtime");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), NULL };
	char *argv[] = { "valgrind", "-q", "--error-exitcode=97", "--leak-check=no",
			 fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "200", "-e", NULL };
	long before = h_twserver_accepted(&srv);
	struct h_run r;
	h_run(&r, argv, env, 1, 100);
	cr_expect_eq(r.status, 0, "valgrind reported errors in a client run under twpool:\n%s", r.err);
	expect_clean_client(&r, 400);
	cr_expect_leq(h_twserver_accepted(&srv) - before, 1, "the client under valgrind was not pooled");
	h_run_free(&r);
}

Test(core, idle_connections_time_out, .init = tw_up, .fini = down, .timeout = 60)
{
	/* Cycles 200 ms apart against a 50 ms idle timeout: each parked
	 * connection has expired by the next connect, which closes it and
	 * makes a fresh one. */
	char *stats = h_tmp("idle.prom");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats),
			"TWPOOL_IDLE_TIMEOUT_MS=50", NULL };
	long before = h_twserver_accepted(&srv);
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "4",
			 "-d", "200000", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	expect_clean_client(&r, 8);
	long accepted = h_twserver_accepted(&srv) - before;
	cr_expect_eq(accepted, 4, "4 cycles beyond the idle timeout: %ld connections, want 4", accepted);
	char *text = h_slurp(stats);
	cr_assert_not_null(text, "no stats file");
	cr_expect_geq(h_prom(text, "twpool_discards_total", "reason=\"idle_timeout\""), 3,
		      "idle timeouts in the stats:\n%s", text);
	cr_expect_eq(h_prom(text, "twpool_connects_total", "result=\"reused\""), 0, "an expired connection was reused");
	h_run_free(&r);
}
