/* test_harness.c - the integration harness itself, without the shim: if these
 * fail, the other integration tests cannot be trusted. */
#include "harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct h_server srv;

static void stop_server(void)
{
	h_server_stop(&srv);
}

static char *path_in_build(const char *name)
{
	char *p;
	cr_assert_neq(asprintf(&p, "%s/%s", h_build(), name), -1);
	return p;
}

Test(harness, runner_environment_has_no_preload)
{
	cr_assert_null(getenv("LD_PRELOAD"),
		       "the test runner itself must not run under LD_PRELOAD (found \"%s\")",
		       getenv("LD_PRELOAD"));
}

Test(harness, redis_starts_and_counts_only_foreign_connections, .fini = stop_server)
{
	h_redis_start(&srv, NULL);
	cr_assert_gt(srv.port, 0, "redis port");
	cr_assert_eq(h_redis_info(&srv, "total_connections_received"), 0,
		     "the harness's own PING/INFO connections must not be counted");
	cr_assert_eq(h_redis_cmd_int(&srv, "DBSIZE"), 0, "a fresh redis is empty");

	char port[16];
	snprintf(port, sizeof(port), "%d", srv.port);
	char *py = "/usr/bin/python3";
	char *script;
	cr_assert_neq(asprintf(&script, "%s/tests/progs/pyclient.py", h_src()), -1);
	char *argv[] = { py, script, "--port", port, "-n", "20", NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 60);
	long req, err, crossed;
	cr_assert_eq(r.status, 0, "pyclient failed (status %d):\n%s%s", r.status, r.out, r.err);
	cr_assert_eq(h_client_line(r.out, &req, &err, &crossed), 0, "no final line in:\n%s", r.out);
	cr_assert_eq(req, 40, "20 cycles are 40 requests, got %ld", req);
	cr_assert_eq(h_redis_info(&srv, "total_connections_received"), 20,
		     "redis must have received exactly the client's 20 connections");
	cr_assert_eq(h_redis_info(&srv, "connected_clients"), 0, "no client left connected");
	cr_assert_eq(h_redis_cmd_int(&srv, "DBSIZE"), 20, "the client SET 20 keys");
	cr_assert_eq(h_timewait(srv.port), 20,
		     "one client-side TIME_WAIT per cycle, none "
		     "from the harness's queries; saw %d",
		     h_timewait(srv.port));
	h_run_free(&r);
	free(script);
}

Test(harness, c_client_without_shim_leaves_one_time_wait_per_cycle, .fini = stop_server)
{
	h_twserver_start(&srv, NULL);
	cr_assert_eq(h_twserver_accepted(&srv), 0, "a fresh server has accepted nothing");

	char port[16];
	snprintf(port, sizeof(port), "%d", srv.port);
	char *client = path_in_build("twpool-client");
	char *argv[] = { client, "-p", port, "-n", "50", NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 60);
	long req, err, crossed;
	cr_assert_eq(r.status, 0, "twpool-client failed (status %d):\n%s%s", r.status, r.out,
		     r.err);
	cr_assert_eq(h_client_line(r.out, &req, &err, &crossed), 0, "no final line in:\n%s", r.out);
	cr_assert_eq(req, 100, "50 cycles are 100 requests, got %ld", req);
	cr_assert_eq(err + crossed, 0, "errors %ld crossed %ld", err, crossed);
	cr_assert_eq(h_twserver_accepted(&srv), 50, "one connection per cycle without the shim");
	cr_assert_geq(h_timewait(srv.port), 50,
		      "each close leaves a client-side TIME_WAIT (runner not in a fresh netns?)");
	cr_assert_eq(h_established(srv.port), 0, "the client closed every connection");
	h_run_free(&r);
	free(client);
}

Test(harness, twserver_takes_extra_args, .fini = stop_server)
{
	h_twserver_start(&srv, "-c 0");
	char port[16];
	snprintf(port, sizeof(port), "%d", srv.port);
	char *client = path_in_build("twpool-client");
	char *argv[] = { client, "-p", port, "-n", "3", "-k", "-q", NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 60);
	long err;
	cr_assert_eq(h_client_line(r.out, NULL, &err, NULL), 0, "no final line in:\n%s", r.out);
	cr_assert_gt(err, 0,
		     "with -c 0 the server closes after each reply, so a -k client "
		     "must see errors");
	cr_assert_neq(r.status, 0, "the client's status reflects its errors");
	h_run_free(&r);
	free(client);
}

Test(harness, run_captures_large_output_status_and_env)
{
	char *argv[] = { "/bin/sh", "-c",
			 "head -c 3000000 /dev/zero | tr '\\0' x; echo \"[$FOO][$LD_PRELOAD]\" >&2; "
			 "exit 3",
			 NULL };
	char *env[] = { "FOO=bar", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	cr_assert_eq(r.status, 3, "exit status, got %d", r.status);
	cr_assert_eq(r.timed_out, 0);
	cr_assert_eq(strlen(r.out), 3000000, "all of stdout, got %zu bytes", strlen(r.out));
	char want[4200];
	snprintf(want, sizeof(want), "[bar][%s]", h_preload());
	cr_assert(strstr(r.err, want), "stderr \"%s\" should contain \"%s\"", r.err, want);
	h_run_free(&r);
}

Test(harness, run_without_preload_strips_shim_settings)
{
	setenv("TWPOOL_TARGETS", "127.0.0.1:1", 1); /* as if the developer exported it */
	char *argv[] = { "/bin/sh", "-c", "echo \"[$TWPOOL_TARGETS][$LD_PRELOAD]\"", NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 30);
	unsetenv("TWPOOL_TARGETS");
	cr_assert_str_eq(r.out, "[][]\n", "inherited shim settings must not reach children");
	h_run_free(&r);
}

Test(harness, run_kills_at_timeout)
{
	char *argv[] = { "/bin/sh", "-c", "sleep 30 & sleep 30", NULL };
	time_t t0 = time(NULL);
	struct h_run r;
	h_run(&r, argv, NULL, 0, 1);
	cr_assert_eq(r.timed_out, 1, "a 30 s sleep must time out after 1 s");
	cr_assert_eq(r.status, 128 + 9, "killed by SIGKILL, got %d", r.status);
	cr_assert_leq(time(NULL) - t0, 5, "the whole group dies, pipes close quickly");
	h_run_free(&r);
}

Test(harness, client_line_parsing)
{
	long r = 0, e = 0, x = 0;
	cr_assert_eq(h_client_line("noise\nrequests 1 errors 1 crossed 1 elapsed_ms 1 rps 1\n"
				   "requests 40 errors 2 crossed 3 elapsed_ms 5 rps 8000\n",
				   &r, &e, &x),
		     0);
	cr_assert(r == 40 && e == 2 && x == 3, "the last line wins: %ld %ld %ld", r, e, x);
	cr_assert_eq(h_client_line("no requests here\n", &r, &e, &x), -1);
	cr_assert_eq(h_client_line("", &r, &e, &x), -1);
}

Test(harness, prom_sums_matching_samples)
{
	const char *text = "# HELP twpool_connects_total connects\n"
			   "# TYPE twpool_connects_total counter\n"
			   "twpool_connects_total{target=\"127.0.0.1:6379\",result=\"reused\"} 98\n"
			   "twpool_connects_total{target=\"127.0.0.1:6379\",result=\"fresh\"} 2\n"
			   "twpool_connects_total_x{result=\"reused\"} 1000\n"
			   "twpool_idle_connections 3\n";
	cr_assert_float_eq(h_prom(text, "twpool_connects_total", "result=\"reused\""), 98, 1e-9);
	cr_assert_float_eq(h_prom(text, "twpool_connects_total", ""), 100, 1e-9);
	cr_assert_float_eq(h_prom(text, "twpool_idle_connections", ""), 3, 1e-9);
	cr_assert_float_eq(h_prom(text, "twpool_closes_total", ""), -1, 1e-9);
	cr_assert_float_eq(h_prom(NULL, "twpool_closes_total", ""), -1, 1e-9);
}

Test(harness, tmp_and_slurp)
{
	char *p = h_tmp("hello.txt");
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f, "h_tmp must give a writable path: %s", p);
	fputs("hi\n", f);
	fclose(f);
	char *text = h_slurp(p);
	cr_assert_str_eq(text, "hi\n");
	cr_assert_null(h_slurp("/nonexistent/twpool"), "a missing file gives NULL");
	free(text);
	free(p);
}
