/* Libraries loaded with RTLD_DEEPBIND: their socket calls reach the shim.
 *
 * PHP loads every extension with RTLD_DEEPBIND, so its curl extension's
 * libcurl bound connect() and close() to libc past the hooks: 300 requests
 * made 300 connections to nginx. The shim now points such a library's
 * hooked GOT entries at the hooks after it loads. Checked on what the
 * servers saw: nginx's access log ($connection numbers), twpool-server's
 * accepted count. ASan and TSan abort any RTLD_DEEPBIND dlopen (their
 * interceptor refuses it) and make themselves every dlopen's caller, so
 * these tests say so and skip in those builds. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define fmt h_fmt
#define PHP_REQUESTS 300
#define LIB_CYCLES 200

static struct h_server srv;
static pid_t nginx_pid;
static int nginx_port;
static char *nginx_dir;

#define DEEPBIND_ABORTS "the sanitizer runtime aborts any dlopen with RTLD_DEEPBIND"
#define CALLER_LOST "the sanitizer's dlopen interceptor is the caller: RUNPATH fails without the shim too"

static void skip_under_sanitizer(const char *why)
{
	if (strstr(h_preload(), "libasan") || strstr(h_preload(), "libtsan"))
		cr_skip_test("%s", why);
}

static void tw_up(void) { h_twserver_start(&srv, NULL); }
static void tw_down(void) { h_server_stop(&srv); }

/* nginx in the foreground, one process, access log "$connection $status"
 * per request, keep-alive for 1000 requests. */
static void nginx_up(void)
{
	nginx_dir = h_tmp(fmt("nginx-%d", (int)getpid()));
	nginx_port = h_free_port();
	cr_assert(system(fmt("mkdir -p '%s'", nginx_dir)) == 0, "cannot create %s", nginx_dir);
	h_write_file(fmt("%s/nginx.conf", nginx_dir), fmt(
		"daemon off; master_process off; worker_processes 1;\n"
		"pid %1$s/nginx.pid; error_log %1$s/error.log;\n"
		"events { worker_connections 1024; }\n"
		"http {\n"
		"  log_format conn '$connection $status';\n"
		"  access_log %1$s/access.log conn;\n"
		"  keepalive_requests 1000;\n"
		"  client_body_temp_path %1$s/body; proxy_temp_path %1$s/proxy;\n"
		"  fastcgi_temp_path %1$s/fcgi; uwsgi_temp_path %1$s/uwsgi; scgi_temp_path %1$s/scgi;\n"
		"  server { listen 127.0.0.1:%2$d; location / { return 200 \"twpool deepbind\\n\"; } }\n"
		"}\n", nginx_dir, nginx_port));
	nginx_pid = fork();
	cr_assert(nginx_pid >= 0, "fork failed");
	if (nginx_pid == 0) {
		execlp("nginx", "nginx", "-p", nginx_dir, "-e", fmt("%s/error.log", nginx_dir),
		       "-c", fmt("%s/nginx.conf", nginx_dir), (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		if (access(fmt("%s/nginx.pid", nginx_dir), F_OK) == 0)
			return;
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
	cr_assert_fail("nginx did not start; error log:\n%s", h_slurp(fmt("%s/error.log", nginx_dir)));
}

static void nginx_down(void)
{
	if (nginx_pid > 0) {
		kill(nginx_pid, SIGTERM);
		waitpid(nginx_pid, NULL, 0);
		nginx_pid = 0;
	}
}

/* Distinct connections that carried requests, and the requests that got a
 * 200, from nginx's access log. */
static void nginx_saw(long *conns, long *ok)
{
	char *log = h_slurp(fmt("%s/access.log", nginx_dir));
	char seen[65536] = { 0 };
	cr_assert(log, "nginx wrote no access log");
	*conns = *ok = 0;
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long c;
		int status;
		cr_assert(sscanf(line, "%lu %d", &c, &status) == 2 && c < sizeof(seen),
			  "odd access log line: %s", line);
		*conns += !seen[c];
		seen[c] = 1;
		*ok += status == 200;
	}
	free(log);
}

static char **shim_env(const char *port, const char *stats)
{
	static char *env[4];
	env[0] = fmt("TWPOOL_TARGETS=127.0.0.1:%s", port);
	env[1] = "TWPOOL_LOG=info";
	env[2] = fmt("TWPOOL_STATS=%s", stats);
	env[3] = NULL;
	return env;
}

/* Runs argv under the shim and expects want in its output. */
static void run_expecting(struct h_run *r, char *argv[], char *env[], const char *want)
{
	h_run(r, argv, env, 1, 50);
	cr_assert_not(r->timed_out, "%s timed out; stderr:\n%s", argv[0], r->err);
	cr_expect(strstr(r->out, want), "%s printed:\n%s\nwant \"%s\"; stderr:\n%s",
		  argv[0], r->out, want, r->err);
}

static void expect_redirected(const char *err, const char *lib, const char *stats_path)
{
	const char *line = strstr(err, fmt("%s loaded with RTLD_DEEPBIND: ", lib));
	int n = -1;
	cr_expect(line && sscanf(strchr(line, ':') + 2, "%d socket calls redirected", &n) == 1 && n > 0,
		  "no log line saying %s's socket calls were redirected; stderr:\n%s", lib, err);
	char *stats = h_slurp(stats_path);
	cr_expect(h_prom(stats, "twpool_deepbind_libraries_total", "result=\"redirected\"") >= 1,
		  "stats count no redirected DEEPBIND library:\n%s", stats ? stats : "(no file)");
	cr_expect(h_prom(stats, "twpool_deepbind_libraries_total", "result=\"bypassed\"") == 0,
		  "stats count a bypassed DEEPBIND library:\n%s", stats ? stats : "(no file)");
	free(stats);
}

Test(deepbind, php_curl_extension_is_pooled, .init = nginx_up, .fini = nginx_down, .timeout = 120)
{
	skip_under_sanitizer(DEEPBIND_ABORTS);
	char *stats = h_tmp("php.prom"), *port = fmt("%d", nginx_port);
	char *argv[] = { "php", fmt("%s/tests/progs/deepbind-curl.php", h_src()), port,
			 fmt("%d", PHP_REQUESTS), NULL };
	struct h_run r;
	run_expecting(&r, argv, shim_env(port, stats), fmt("requests %d errors 0 bodies same", PHP_REQUESTS));
	long conns, ok;
	nginx_saw(&conns, &ok);
	cr_expect_eq(ok, PHP_REQUESTS, "nginx answered %ld requests with 200, want %d", ok, PHP_REQUESTS);
	cr_expect(conns >= 1 && conns <= 3,
		  "nginx saw %ld connections for %d requests: libcurl's calls bypass the shim", conns, PHP_REQUESTS);
	expect_redirected(r.err, "/curl.so", stats);
	h_run_free(&r);
}

/* Arrays, not pointers: the test runs in a fresh process image. */
struct mode {
	char lib[32], how[8];
};

ParameterizedTestParameters(deepbind, library_connections_are_pooled)
{
	static struct mode modes[] = { { "deepbind-lib.so", "lazy" }, { "deepbind-lib-now.so", "now" } };
	return cr_make_param_array(struct mode, modes, 2);
}

/* The lazy library's GOT entries still point at PLT stubs when it loads;
 * the bind-now one's are resolved to libc and read-only (RELRO). Its own
 * dup() must keep DEEPBIND's binding to itself ("own-dup ok"). */
ParameterizedTest(struct mode *m, deepbind, library_connections_are_pooled, .init = tw_up,
		  .fini = tw_down, .timeout = 60)
{
	skip_under_sanitizer(DEEPBIND_ABORTS);
	const char *lib = m->lib, *how = m->how;
	char *stats = h_tmp(fmt("%s.prom", how)), *port = fmt("%d", srv.port);
	char *argv[] = { fmt("%s/deepbind-main", h_build()), fmt("%s/%s", h_build(), lib), (char *)how, port,
			 fmt("%d", LIB_CYCLES), NULL };
	struct h_run r;
	run_expecting(&r, argv, shim_env(port, stats), fmt("requests %d errors 0 own-dup ok", LIB_CYCLES));
	long accepted = h_twserver_accepted(&srv);
	cr_expect_eq(accepted, 1, "the server accepted %ld connections for %d cycles of %s",
		     accepted, LIB_CYCLES, lib);
	expect_redirected(r.err, lib, stats);
	h_run_free(&r);
}

/* dlopen by bare name from a program whose RUNPATH alone finds the library:
 * the hook must not make the shim the caller. A DEEPBIND load by bare name
 * is not redirected (its search depends on the caller): it still loads,
 * and the log and the stats say it bypasses the shim. */
Test(deepbind, bare_names_keep_the_callers_runpath, .timeout = 30)
{
	skip_under_sanitizer(CALLER_LOST);
	for (int deep = 0; deep < 2; deep++) {
		char *stats = h_tmp(fmt("runpath-%d.prom", deep));
		char *argv[] = { fmt("%s/deepbind-main", h_build()), "--runpath", "libtwpdeep.so",
				 deep ? "deep" : NULL, NULL };
		struct h_run r;
		h_run(&r, argv, shim_env("1", stats), 1, 20);
		cr_expect(r.status == 0 && strstr(r.out, "runpath ok"),
			  "dlopen by bare name (deep %d) failed under the shim: %s\nstderr:\n%s", deep, r.out, r.err);
		char *text = h_slurp(stats);
		/* No file when nothing happened: a process that pools nothing writes none. */
		double bypassed = text ? h_prom(text, "twpool_deepbind_libraries_total",
						"result=\"bypassed\"") : 0;
		cr_expect(bypassed == deep,
			  "bypassed DEEPBIND libraries: want %d in\n%s", deep, text ? text : "(no file)");
		cr_expect(!deep || strstr(r.err, "libtwpdeep.so loaded with RTLD_DEEPBIND by bare name"),
			  "no log line about the bypass; stderr:\n%s", r.err);
		free(text);
		h_run_free(&r);
	}
}
