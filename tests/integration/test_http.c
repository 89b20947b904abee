/* Targets with /http: the HTTP/1.x codec decides, by the messages' framing,
 * what the call-shape rules got wrong (issue 11). Each test runs real
 * clients (tests/progs/http-client.py) under the shim against real servers:
 * nginx (two origins, A and B), and tests/progs/http-peer.py as a CONNECT
 * proxy, a server that acts on a POST and closes without replying, and an
 * HTTPS server. It checks what the servers saw (nginx's access log, the
 * peers' logs), what the client got (bodies, errors), and, to show the
 * shim was at work and why it closed, the stats file's discard reasons.
 *
 * Measured on the shim before the codec (41d1510, target without /http):
 * 24 of 40 requests after an aborted download got its tail, 10 of 20
 * requests for B after a CONNECT tunnel to A got A's body, 20 POSTs were
 * executed 40 times, 10 of 20 TLS clients failed. */
#include <criterion/criterion.h>
#include <fcntl.h>
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
#define ROUNDS 20

struct peer {
	pid_t pid;
	int port;
	char *log;
};

static pid_t nginx_pid;
static int port_a, port_b;
static char *nginx_dir;
static struct peer proxy, actclose, tls;

static void pause_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, ms % 1000 * 1000000L }, NULL);
}

static void sh(const char *cmd)
{
	cr_assert(system(cmd) == 0, "failed: %s", cmd);
}

/* nginx in the foreground, one process: origin A serves /small
 * ("small-A\n") and /big (5 MB), origin B /small ("small-B\n"); access log
 * "$server_port $connection $status" per request. */
static void nginx_up(void)
{
	nginx_dir = h_tmp(fmt("nginx-%d", (int)getpid()));
	port_a = h_free_port();
	port_b = h_free_port();
	sh(fmt("mkdir -p '%1$s/a' '%1$s/b' && printf 'small-A\\n' > '%1$s/a/small' && "
	       "printf 'small-B\\n' > '%1$s/b/small' && head -c 5000000 /dev/zero > '%1$s/a/big'",
	       nginx_dir));
	h_write_file(fmt("%s/nginx.conf", nginx_dir), fmt(
		"daemon off; master_process off; worker_processes 1;\n"
		"pid %1$s/nginx.pid; error_log %1$s/error.log;\n"
		"events { worker_connections 1024; }\n"
		"http {\n"
		"  log_format conn '$server_port $connection $status';\n"
		"  access_log %1$s/access.log conn;\n"
		"  keepalive_requests 1000;\n"
		"  client_body_temp_path %1$s/body; proxy_temp_path %1$s/proxy;\n"
		"  fastcgi_temp_path %1$s/fcgi; uwsgi_temp_path %1$s/uwsgi; scgi_temp_path %1$s/scgi;\n"
		"  server { listen 127.0.0.1:%2$d; root %1$s/a; }\n"
		"  server { listen 127.0.0.1:%3$d; root %1$s/b; }\n"
		"}\n", nginx_dir, port_a, port_b));
	nginx_pid = fork();
	cr_assert(nginx_pid >= 0, "fork failed");
	if (nginx_pid == 0) {
		execlp("nginx", "nginx", "-p", nginx_dir, "-e", fmt("%s/error.log", nginx_dir),
		       "-c", fmt("%s/nginx.conf", nginx_dir), (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++, pause_ms(50))
		if (access(fmt("%s/nginx.pid", nginx_dir), F_OK) == 0)
			return;
	cr_assert_fail("nginx did not start; error log:\n%s", h_slurp(fmt("%s/error.log", nginx_dir)));
}

static void stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

/* Connections of nginx's server on port that carried requests. */
static long nginx_conns(int port)
{
	char *log = h_slurp(fmt("%s/access.log", nginx_dir));
	static char seen[65536];
	long conns = 0;
	cr_assert(log, "nginx wrote no access log");
	memset(seen, 0, sizeof(seen));
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long c;
		int p, status;
		cr_assert(sscanf(line, "%d %lu %d", &p, &c, &status) == 3 && c < sizeof(seen),
			  "odd access log line: %s", line);
		if (p == port && !seen[c]++)
			conns++;
	}
	free(log);
	return conns;
}

/* tests/progs/http-peer.py MODE, not under the shim; its port from its
 * "port N" line. */
static void peer_up(struct peer *p, const char *mode)
{
	p->log = h_tmp(fmt("%s.log", mode));
	char *out = h_tmp(fmt("%s.out", mode));
	if (!strcmp(mode, "tls"))
		sh(fmt("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		       "-keyout '%1$s.key' -out '%1$s.crt' -subj /CN=twpool -days 1 2>/dev/null", p->log));
	p->pid = fork();
	cr_assert(p->pid >= 0, "fork failed");
	if (p->pid == 0) {
		int fd = creat(out, 0600);
		dup2(fd, 1);
		unsetenv("LD_PRELOAD");
		execlp("python3", "python3", fmt("%s/tests/progs/http-peer.py", h_src()), mode, p->log,
		       (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++, pause_ms(50)) {
		char *text = h_slurp(out);
		int ok = text && sscanf(text, "port %d", &p->port) == 1;
		free(text);
		if (ok)
			return;
	}
	cr_assert_fail("http-peer.py %s did not start", mode);
}

/* Lines of p's log that start with what. */
static long peer_saw(const struct peer *p, const char *what)
{
	return h_log_lines(p->log, what);
}

static void all_up(void)
{
	nginx_up();
	peer_up(&proxy, "proxy");
	peer_up(&actclose, "actclose");
	peer_up(&tls, "tls");
}

static void all_down(void)
{
	stop(&tls.pid);
	stop(&actclose.pid);
	stop(&proxy.pid);
	stop(&nginx_pid);
}

/* The outcome of one client run under the shim. */
struct outcome {
	long requests, errors, crossed;
	char *stats; /* the stats file at exit */
};

/* Runs http-client.py with args under the shim, target port with /http
 * (TWPOOL_TEST_HTTP_SUFFIX="" runs the same against an older shim that
 * knows no protocols, to see each hazard happen there). */
static struct outcome client(int port, const char *args)
{
	char *stats = h_tmp(fmt("client-%d.prom", port));
	const char *suffix = getenv("TWPOOL_TEST_HTTP_SUFFIX");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d%s", port, suffix ? suffix : "/http"),
			fmt("TWPOOL_STATS=%s", stats), NULL };
	char *argv[] = { "sh", "-c", fmt("exec python3 '%s/tests/progs/http-client.py' %s", h_src(), args),
			 NULL };
	struct h_run r;
	struct outcome o;
	unlink(stats);
	h_run(&r, argv, env, 1, 100);
	cr_assert_not(r.timed_out, "http-client.py %s timed out; stderr:\n%s", args, r.err);
	cr_assert_eq(h_client_line(r.out, &o.requests, &o.errors, &o.crossed), 0,
		     "http-client.py %s printed no result line:\n%s\nstderr:\n%s", args, r.out, r.err);
	o.stats = h_slurp(stats);
	cr_assert(o.stats, "no stats file: the shim did not run (stderr:\n%s)", r.err);
	h_run_free(&r);
	return o;
}

static double discards(const struct outcome *o, const char *reason)
{
	double n = h_prom(o->stats, "twpool_discards_total", fmt("reason=\"%s\"", reason));
	return n < 0 ? 0 : n;
}

static double reused(const struct outcome *o)
{
	return h_prom(o->stats, "twpool_connects_total", "result=\"reused\"");
}

TestSuite(http, .init = all_up, .fini = all_down, .timeout = 120);

Test(http, complete_exchanges_are_pooled)
{
	struct outcome o = client(port_a, fmt("get %d %d /small 'small-A\\n'", port_a, ROUNDS));
	cr_expect(o.requests == ROUNDS && o.errors == 0 && o.crossed == 0,
		  "%ld requests, %ld errors, %ld wrong bodies", o.requests, o.errors, o.crossed);
	long conns = nginx_conns(port_a);
	cr_expect(conns >= 1 && conns <= 2, "nginx saw %ld connections for %d requests", conns, ROUNDS);
	cr_expect(reused(&o) >= ROUNDS - 1, "reused %g of %d connections:\n%s", reused(&o), ROUNDS,
		  o.stats);
}

Test(http, an_aborted_download_never_hands_its_tail_on)
{
	struct outcome o = client(port_a, fmt("abort %d %d", port_a, 2 * ROUNDS));
	cr_expect(o.crossed == 0 && o.errors == 0,
		  "%ld of %ld requests after an aborted download got something else than their "
		  "answer, %ld errors", o.crossed, o.requests, o.errors);
	cr_expect(discards(&o, "partial") >= 2 * ROUNDS,
		  "%g aborted downloads closed as partial, want %d:\n%s", discards(&o, "partial"),
		  2 * ROUNDS, o.stats);
	cr_expect(reused(&o) >= 2 * ROUNDS - 1, "complete exchanges still pooled: reused %g:\n%s",
		  reused(&o), o.stats);
}

Test(http, a_connect_tunnel_is_never_parked)
{
	struct outcome o = client(proxy.port, fmt("connect %d %d %d %d", proxy.port, port_a, port_b,
						  ROUNDS));
	cr_expect(o.requests == 2 * ROUNDS && o.crossed == 0 && o.errors == 0,
		  "%ld requests through the proxy: %ld answered with the tunnel's origin, %ld errors",
		  o.requests, o.crossed, o.errors);
	cr_expect_eq(peer_saw(&proxy, "CONNECT"), ROUNDS, "the proxy saw %ld CONNECTs, want %d",
		     peer_saw(&proxy, "CONNECT"), ROUNDS);
	cr_expect_eq(peer_saw(&proxy, "GET http://"), ROUNDS, "the proxy saw %ld requests, want %d",
		     peer_saw(&proxy, "GET http://"), ROUNDS);
	cr_expect_eq(discards(&o, "tunnel"), ROUNDS, "%g tunnels closed as such, want %d:\n%s",
		     discards(&o, "tunnel"), ROUNDS, o.stats);
}

Test(http, an_https_tunnel_is_never_parked)
{
	struct outcome o = client(proxy.port, fmt("connecttls %d %d %d %d", proxy.port, tls.port,
						  port_b, ROUNDS));
	cr_expect(o.requests == 2 * ROUNDS && o.crossed == 0 && o.errors == 0,
		  "%ld requests through the proxy: %ld wrong bodies, %ld errors", o.requests,
		  o.crossed, o.errors);
	cr_expect_eq(peer_saw(&tls, "error"), 0, "the HTTPS server saw %ld TLS errors",
		     peer_saw(&tls, "error"));
	cr_expect_eq(discards(&o, "tunnel"), ROUNDS, "%g tunnels closed as such, want %d:\n%s",
		     discards(&o, "tunnel"), ROUNDS, o.stats);
}

Test(http, a_post_is_never_replayed)
{
	struct outcome o = client(actclose.port, fmt("post %d %d", actclose.port, ROUNDS));
	cr_expect_eq(peer_saw(&actclose, "POST"), ROUNDS,
		     "the server executed %ld POSTs for %d sent (a replay runs one twice)",
		     peer_saw(&actclose, "POST"), ROUNDS);
	cr_expect_eq(o.errors, ROUNDS, "%ld of %d POSTs failed; each must see the server's close",
		     o.errors, ROUNDS);
	cr_expect(reused(&o) >= ROUNDS, "the POSTs went on reused connections: reused %g:\n%s",
		  reused(&o), o.stats);
	cr_expect(h_prom(o.stats, "twpool_replays_total", "result=\"ok\"") <= 0,
		  "a POST was replayed:\n%s", o.stats);
}

Test(http, a_tls_target_is_never_pooled)
{
	struct outcome o = client(tls.port, fmt("tls %d %d", tls.port, ROUNDS));
	cr_expect(o.requests == ROUNDS && o.errors == 0 && o.crossed == 0,
		  "%ld TLS requests: %ld errors, %ld wrong bodies", o.requests, o.errors, o.crossed);
	cr_expect_eq(peer_saw(&tls, "accept"), ROUNDS, "the server accepted %ld connections for %d "
		     "TLS clients", peer_saw(&tls, "accept"), ROUNDS);
	cr_expect_eq(peer_saw(&tls, "error"), 0, "the server saw %ld TLS errors", peer_saw(&tls, "error"));
	cr_expect_eq(discards(&o, "protocol"), ROUNDS, "%g closed as not HTTP, want %d:\n%s",
		     discards(&o, "protocol"), ROUNDS, o.stats);
}
