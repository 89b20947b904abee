/* Stale-safe reuse: a server that closes pooled connections behind the
 * client's back (keep-alive timers, resets, restarts, CLIENT KILL) must
 * never cause an error the program sees. Each test has a control run with
 * replay disabled (TWPOOL_REPLAY_MAX=0) that shows the errors are real. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct h_server srv;

#define fmt h_fmt

static void down(void) { h_server_stop(&srv); }

/* -C 20: the server closes each connection 20 ms after its first reply and
 * never reads what arrives meanwhile; the client reconnects every 15 ms, so
 * its next request reaches a reused connection the server is about to
 * close (5 ms of margin for a slow, sanitized client). */
static void doomed_up(void) { h_twserver_start(&srv, "-C 20"); }
static void doomed_rst_up(void) { h_twserver_start(&srv, "-C 20 -R"); }
/* -c 3: idle connections are closed 3 ms after their last reply. */
static void idle_killer_up(void) { h_twserver_start(&srv, "-c 3"); }

struct outcome {
	long requests, errors, crossed;
	double replays_ok, replays_failed, reused;
	char *err;
};

static struct outcome run_client(const char *replay_max, const char *extra, long n, long delay_us)
{
	char *stats = h_tmp(fmt("replay-%s-%ld.prom", replay_max, delay_us));
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats),
			fmt("TWPOOL_REPLAY_MAX=%s", replay_max), NULL };
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-1", "-q",
			 "-n", fmt("%ld", n), "-d", fmt("%ld", delay_us), (char *)extra, NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 60);
	cr_assert_not(r.timed_out, "client hung; stderr:\n%s", r.err);
	struct outcome o = { .err = r.err };
	cr_assert_eq(h_client_line(r.out, &o.requests, &o.errors, &o.crossed), 0,
		     "no result line:\n%s\n%s", r.out, r.err);
	char *text = h_slurp(stats);
	cr_assert_not_null(text, "no stats file at %s", stats);
	o.replays_ok = h_prom(text, "twpool_replays_total", "result=\"ok\"");
	o.replays_failed = h_prom(text, "twpool_replays_total", "result=\"failed\"");
	o.reused = h_prom(text, "twpool_connects_total", "result=\"reused\"");
	return o;
}

static void expect_replay_hides_deaths(const char *mode)
{
	const long n = 150;
	struct outcome with = run_client("65536", mode, n, 15000);
	cr_expect_eq(with.errors, 0, "%ld errors under twpool with replay; stderr:\n%s", with.errors, with.err);
	cr_expect_eq(with.crossed, 0, "%ld crossed replies", with.crossed);
	cr_expect_eq(with.requests, n, "%ld of %ld requests completed", with.requests, n);
	cr_expect_geq(with.replays_ok, n / 4, "only %.0f replays: the server's closes were not met", with.replays_ok);

	struct outcome without = run_client("0", mode, n, 15000);
	cr_expect_gt(without.errors, n / 10,
		     "control: with replay disabled the same run must show errors, got %ld", without.errors);
	cr_expect_eq(without.replays_ok, 0, "control: no replay may happen with TWPOOL_REPLAY_MAX=0");
}

Test(replay, server_closing_kept_alive_connections_blocking, .init = doomed_up, .fini = down, .timeout = 60)
{
	expect_replay_hides_deaths(NULL);
}

Test(replay, server_closing_kept_alive_connections_epoll, .init = doomed_up, .fini = down, .timeout = 60)
{
	expect_replay_hides_deaths("-e");
}

Test(replay, server_resetting_connections_blocking, .init = doomed_rst_up, .fini = down, .timeout = 60)
{
	expect_replay_hides_deaths(NULL);
}

Test(replay, server_resetting_connections_epoll, .init = doomed_rst_up, .fini = down, .timeout = 60)
{
	expect_replay_hides_deaths("-e");
}

Test(replay, server_killing_idle_connections_on_a_timer, .init = idle_killer_up, .fini = down, .timeout = 60)
{
	/* Reconnecting at about the server's idle timeout: some connections are
	 * found dead at checkout, some die between checkout and the request. */
	long total_errors = 0;
	double total_replays = 0;
	for (long d = 2600; d <= 3400; d += 200) {
		struct outcome o = run_client("65536", d % 400 ? "-e" : NULL, 100, d);
		total_errors += o.errors + o.crossed;
		total_replays += o.replays_ok;
		cr_expect_eq(o.errors + o.crossed, 0, "delay %ld us: %ld errors, %ld crossed; stderr:\n%s",
			     d, o.errors, o.crossed, o.err);
	}
	cr_log_info("idle killer: %.0f replays, %ld errors", total_replays, total_errors);
}

Test(replay, fresh_connection_is_never_replayed, .init = doomed_up, .fini = down, .timeout = 60)
{
	/* With pooling off (TWPOOL_MAX_IDLE=0) every connection is fresh: the
	 * shim must not replay, so deaths stay visible... but this server only
	 * kills a connection after its first reply, so a fresh connection per
	 * request sees none: zero errors and zero replays. */
	char *stats = h_tmp("fresh.prom");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats),
			"TWPOOL_MAX_IDLE=0", NULL };
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-1", "-q",
			 "-n", "100", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	long req, err, crossed;
	cr_assert_eq(h_client_line(r.out, &req, &err, &crossed), 0, "no result line");
	cr_expect_eq(err, 0, "fresh connections: %ld errors", err);
	char *text = h_slurp(stats);
	cr_assert_not_null(text);
	cr_expect_eq(h_prom(text, "twpool_replays_total", "result=\"ok\""), 0, "a fresh connection was replayed");
	cr_expect_eq(h_prom(text, "twpool_connects_total", "result=\"reused\""), 0, "MAX_IDLE=0 reused one");
}

/* ---- a server restart in the middle of a run ---- */

static pid_t spawn_server(int port)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork");
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(fmt("%s/twpool-server", h_build()), "twpool-server", "-p", fmt("%d", port), (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) { /* until it accepts */
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return pid;
		usleep(10000);
	}
	cr_assert_fail("restarted server never listened on %d", port);
	return -1;
}

/* The client pauses between phases (it creates DIR/pause-N and waits for
 * DIR/go-N); the test restarts the server in each pause, so every pooled
 * connection the client holds is dead when it resumes. */
static const char *phased_client =
	"import os,socket,sys,time\n"
	"port=int(sys.argv[1]); d=sys.argv[2]; bad=0\n"
	"for phase in range(4):\n"
	"    for i in range(50):\n"
	"        s=socket.create_connection(('127.0.0.1',port))\n"
	"        m=b'p%d-%d'%(phase,i)\n"
	"        s.sendall(b'ECHO '+m+b'\\n')\n"
	"        r=s.recv(64)\n"
	"        if r!=m+b'\\n': bad+=1; print('bad reply',r,file=sys.stderr)\n"
	"        s.close()\n"
	"    if phase<3:\n"
	"        open(os.path.join(d,'pause-%d'%phase),'w').close()\n"
	"        while not os.path.exists(os.path.join(d,'go-%d'%phase)): time.sleep(0.005)\n"
	"print('errors',bad)\n"
	"sys.exit(1 if bad else 0)\n";

struct restarts {
	char *dir;
	pid_t pid;
};

static int wait_file(const char *path, int ms)
{
	for (; ms > 0; ms -= 5) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(5000);
	}
	return -1;
}

static void *restarter(void *arg)
{
	struct restarts *rs = arg;
	for (int p = 0; p < 3; p++) {
		if (wait_file(fmt("%s/pause-%d", rs->dir, p), 20000) < 0)
			return NULL;
		kill(rs->pid, SIGTERM);
		waitpid(rs->pid, NULL, 0);
		rs->pid = spawn_server(srv.port);
		close(open(fmt("%s/go-%d", rs->dir, p), O_CREAT | O_WRONLY, 0644));
	}
	return NULL;
}

static void restart_up(void) { h_twserver_start(&srv, NULL); }

Test(replay, server_restarts_cause_no_errors, .init = restart_up, .fini = down, .timeout = 60)
{
	/* The harness's server is replaced by ones of our own on its port. */
	kill(srv.pid, SIGTERM);
	waitpid(srv.pid, NULL, 0);
	struct restarts rs = { .dir = h_tmp(""), .pid = spawn_server(srv.port) };
	char *stats = h_tmp("restart.prom");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats), NULL };
	char *argv[] = { "/usr/bin/python3", "-c", (char *)phased_client, fmt("%d", srv.port), rs.dir, NULL };
	pthread_t th;
	pthread_create(&th, NULL, restarter, &rs);
	struct h_run r;
	h_run(&r, argv, env, 1, 50);
	pthread_join(th, NULL);
	srv.pid = rs.pid;
	cr_expect_eq(r.status, 0, "the client saw errors across 3 server restarts:\n%s%s", r.out, r.err);
	char *text = h_slurp(stats);
	cr_assert_not_null(text, "no stats file");
	double stale = h_prom(text, "twpool_discards_total", "reason=\"stale\"");
	double replays = h_prom(text, "twpool_replays_total", "result=\"ok\"");
	cr_expect_geq(stale + replays, 3, "each restart must kill a pooled connection: %.0f stale, %.0f replays",
		      stale, replays);
	cr_expect_geq(h_prom(text, "twpool_connects_total", "result=\"reused\""), 190, "pooling was not exercised");
	h_run_free(&r);
}

/* ---- redis killing every normal client between requests ---- */

/* Every 3rd cycle, between requests, the client has redis kill every
 * normal client connection, its pooled one included, through a socket it
 * binds first (so the shim passes that one through untouched). */
static const char *killing_client =
	"import socket,sys,time\n"
	"port=int(sys.argv[1]); bad=0; killed=0\n"
	"def kill():\n"
	"    k=socket.socket(); k.bind(('127.0.0.1',0)); k.connect(('127.0.0.1',port))\n"
	"    k.sendall(b'CLIENT KILL TYPE normal SKIPME yes\\r\\n'); r=k.recv(64); k.close()\n"
	"    return int(r[1:].strip())\n"
	"for i in range(300):\n"
	"    s=socket.create_connection(('127.0.0.1',port))\n"
	"    k=b'k%d'%i\n"
	"    s.sendall(b'*3\\r\\n$3\\r\\nSET\\r\\n$%d\\r\\n%s\\r\\n$1\\r\\nv\\r\\n'%(len(k),k))\n"
	"    r=s.recv(64)\n"
	"    if r!=b'+OK\\r\\n': bad+=1; print('bad reply',r,file=sys.stderr)\n"
	"    s.close()\n"
	"    if i%3==2: killed+=kill()\n"
	"print('errors',bad,'killed',killed)\n"
	"sys.exit(1 if bad else 0)\n";

static void redis_up(void) { h_redis_start(&srv, NULL); }

Test(replay, redis_client_kill_between_requests, .init = redis_up, .fini = down, .timeout = 90)
{
	char *stats = h_tmp("kill.prom");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats), NULL };
	char *argv[] = { "/usr/bin/python3", "-c", (char *)killing_client, fmt("%d", srv.port), NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 60);
	cr_expect_eq(r.status, 0, "the client saw errors while redis killed its connections:\n%s%s", r.out, r.err);
	long killed = -1;
	const char *k = strstr(r.out, "killed ");
	if (k)
		killed = strtol(k + 7, NULL, 10);
	cr_expect_geq(killed, 90, "redis killed only %ld client connections: the test did not bite", killed);
	char *text = h_slurp(stats);
	cr_assert_not_null(text);
	double stale = h_prom(text, "twpool_discards_total", "reason=\"stale\"");
	double replays = h_prom(text, "twpool_replays_total", "result=\"ok\"");
	cr_expect_geq(stale + replays, 90, "killed connections must show as stale discards or replays: %.0f + %.0f",
		      stale, replays);
	h_run_free(&r);
}

/* ---- lifetime and use limits ---- */

static void tw_up(void) { h_twserver_start(&srv, NULL); }

Test(replay, max_uses_recycles_connections, .init = tw_up, .fini = down, .timeout = 60)
{
	char *stats = h_tmp("uses.prom");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats),
			"TWPOOL_MAX_USES=10", NULL };
	long before = h_twserver_accepted(&srv);
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "100", "-q", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	cr_assert_eq(r.status, 0, "client failed:\n%s", r.err);
	long accepted = h_twserver_accepted(&srv) - before;
	cr_expect(accepted >= 10 && accepted <= 11, "100 cycles, 10 uses each: %ld connections", accepted);
	char *text = h_slurp(stats);
	cr_expect_geq(h_prom(text, "twpool_discards_total", "reason=\"uses\""), 9, "uses discards:\n%s", text);
}

Test(replay, max_lifetime_recycles_connections, .init = tw_up, .fini = down, .timeout = 60)
{
	char *stats = h_tmp("life.prom");
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats),
			"TWPOOL_MAX_LIFETIME_MS=100", NULL };
	long before = h_twserver_accepted(&srv);
	/* 100 cycles 5 ms apart: about 0.5 s, so about 5 connections of 100 ms. */
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "100",
			 "-d", "5000", "-q", NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	cr_assert_eq(r.status, 0, "client failed:\n%s", r.err);
	long accepted = h_twserver_accepted(&srv) - before;
	cr_expect(accepted >= 3 && accepted <= 20, "0.5 s of 100 ms connections: %ld connections", accepted);
	char *text = h_slurp(stats);
	cr_expect_geq(h_prom(text, "twpool_discards_total", "reason=\"lifetime\""), 2, "lifetime discards:\n%s", text);
}
