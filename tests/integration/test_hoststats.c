/* Host-wide stats (issue 14 item 2): processes under the shim add to one
 * shared file; twpool stat shows the sum; twpool stat --prom -o writes it
 * for node_exporter's textfile collector, which a test starts and scrapes;
 * connect failures by errno and pass-through connects are counted; the
 * files involved cannot be redirected by another user's symlink. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "twpool.h"

#define fmt h_fmt
#define N_PROCS 8
#define N_CYCLES 50
#define NODE_EXPORTER "/usr/bin/prometheus-node-exporter"
#define PYTHON "/usr/bin/python3" /* Debian's, with python3-prometheus-client */

static struct h_server srv;

static void tw_up(void) { h_twserver_start(&srv, NULL); }
static void down(void) { h_server_stop(&srv); }

static char *host_env(const char *path) { return fmt("%s=%s", TWPOOL_ENV_HOST_STATS, path); }

/* Runs `twpool stat ARGS` (a shell line) on the host file path. */
static void twpool_stat(struct h_run *r, const char *path, const char *args)
{
	char *argv[] = { "sh", "-c", fmt("exec %s/twpool stat %s", h_build(), args), NULL };
	char *env[] = { host_env(path), NULL };
	h_run(r, argv, env, 0, 30);
}

static char *host_prom(const char *path)
{
	struct h_run r;
	twpool_stat(&r, path, "--prom");
	cr_assert_eq(r.status, 0, "twpool stat --prom: status %d, stderr:\n%s", r.status, r.err);
	free(r.err);
	return r.out;
}

/* N_PROCS clients at once, each N_CYCLES cycles; every one must be clean. */
static void run_clients(const char *path)
{
	char *script = fmt("for i in $(seq %d); do %s/twpool-client -p %d -n %d -x p$i & done; wait",
			   N_PROCS, h_build(), srv.port, N_CYCLES);
	char *argv[] = { "sh", "-c", script, NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), host_env(path), NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 120);
	cr_assert_eq(r.status, 0, "clients: status %d, stderr:\n%s", r.status, r.err);
	int lines = 0;
	for (const char *l = r.out; (l = strstr(l, "requests ")); l++, lines++)
		cr_expect(!strncmp(l, fmt("requests %d errors 0 crossed 0", 2 * N_CYCLES),
				   strlen(fmt("requests %d errors 0 crossed 0", 2 * N_CYCLES))),
			  "a client was not clean:\n%s", r.out);
	cr_assert_eq(lines, N_PROCS, "%d result lines:\n%s", lines, r.out);
	h_run_free(&r);
}

/* The "127.0.0.1:PORT  REUSED FRESH ..." row of twpool stat's table. */
static void stat_row(const char *path, long *reused, long *fresh)
{
	struct h_run r;
	twpool_stat(&r, path, "");
	cr_assert_eq(r.status, 0, "twpool stat: status %d, stderr:\n%s", r.status, r.err);
	const char *row = strstr(r.out, fmt("\n  127.0.0.1:%d ", srv.port));
	cr_assert_not_null(row, "no row for the target:\n%s", r.out);
	cr_assert_eq(sscanf(row, " %*s %ld %ld", reused, fresh), 2, "row: %.80s", row);
	h_run_free(&r);
}

Test(hoststats, eight_processes_summed_in_twpool_stat, .init = tw_up, .fini = down, .timeout = 120)
{
	char *path = h_tmp("host.shm");
	run_clients(path);
	long accepted = h_twserver_accepted(&srv), reused = -1, fresh = -1;
	stat_row(path, &reused, &fresh);
	cr_expect_eq(fresh, accepted, "host FRESH %ld, server accepted %ld", fresh, accepted);
	cr_expect_eq(reused + fresh, N_PROCS * N_CYCLES, "host REUSED %ld + FRESH %ld", reused, fresh);
	cr_expect_leq(accepted, N_PROCS, "each process needs one connection at most (%ld)", accepted);
	char *text = host_prom(path);
	cr_expect_eq(h_prom(text, TWPOOL_METRIC_IN_USE, ""), 0, "nothing in use after exit:\n%s", text);
	cr_expect_eq(h_prom(text, TWPOOL_METRIC_HOST_PROCESSES, ""), 0, "no live process:\n%s", text);
	free(text);
}

/* Scrapes node_exporter at port (retrying while it starts), parses with
 * prometheus_client's parser and prints every twpool_* and
 * node_textfile_* sample as NAME{LABELS} VALUE, labels sorted; a series
 * seen twice makes the script fail. */
static const char scrape_py[] =
	"import sys, time, urllib.request\n"
	"from prometheus_client.parser import text_string_to_metric_families\n"
	"url = 'http://127.0.0.1:%s/metrics' % sys.argv[1]\n"
	"for i in range(100):\n"
	"    try:\n"
	"        body = urllib.request.urlopen(url, timeout=5).read().decode()\n"
	"        break\n"
	"    except OSError:\n"
	"        time.sleep(0.1)\n"
	"else:\n"
	"    sys.exit('node_exporter never answered')\n"
	"seen = set()\n"
	"for fam in text_string_to_metric_families(body):\n"
	"    for s in fam.samples:\n"
	"        if not s.name.startswith(('twpool_', 'node_textfile_')):\n"
	"            continue\n"
	"        key = (s.name, tuple(sorted(s.labels.items())))\n"
	"        if key in seen:\n"
	"            sys.exit('duplicate series %r' % (key,))\n"
	"        seen.add(key)\n"
	"        labels = ','.join('%s=\"%s\"' % kv for kv in key[1])\n"
	"        print('%s{%s} %r' % (s.name, labels, s.value))\n";

static pid_t node_exporter(const char *dir, int port, const char *log)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork");
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(NODE_EXPORTER, NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
		      fmt("--collector.textfile.directory=%s", dir),
		      fmt("--web.listen-address=127.0.0.1:%d", port), (char *)NULL);
		_exit(127);
	}
	return pid;
}

static char *scrape(int port)
{
	char *argv[] = { PYTHON, "-c", (char *)scrape_py, fmt("%d", port), NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 60);
	cr_assert_eq(r.status, 0, "scrape: status %d, stderr:\n%s", r.status, r.err);
	free(r.err);
	return r.out;
}

static void expect_series(const char *text, const char *metric, const char *labels, double want)
{
	double got = h_prom(text, metric, labels);
	cr_expect_eq(got, want, "%s{%s}: %g, want %g, scraped:\n%s", metric, labels, got, want, text);
}

Test(hoststats, node_exporter_scrapes_one_series_per_target_and_reason, .init = tw_up, .fini = down,
     .timeout = 180)
{
	char *path = h_tmp("host.shm"), *dir = h_tmp("textfile"), *log = h_tmp("node_exporter.log");
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s", dir);
	run_clients(path);
	long accepted = h_twserver_accepted(&srv);
	struct h_run r;
	twpool_stat(&r, path, fmt("--prom -o %s/twpool.prom", dir));
	cr_assert_eq(r.status, 0, "twpool stat -o: status %d, stderr:\n%s", r.status, r.err);
	h_run_free(&r);
	int port = h_free_port();
	pid_t ne = node_exporter(dir, port, log);
	char *text = scrape(port);
	kill(ne, SIGTERM);
	waitpid(ne, NULL, 0);
	char *target = fmt("result=\"fresh\",target=\"127.0.0.1:%d\"", srv.port);
	expect_series(text, TWPOOL_METRIC_CONNECTS, target, (double)accepted);
	target = fmt("result=\"reused\",target=\"127.0.0.1:%d\"", srv.port);
	expect_series(text, TWPOOL_METRIC_CONNECTS, target, (double)(N_PROCS * N_CYCLES - accepted));
	expect_series(text, TWPOOL_METRIC_CLOSES, fmt("result=\"parked\",target=\"127.0.0.1:%d\"", srv.port),
		      N_PROCS * N_CYCLES);
	expect_series(text, TWPOOL_METRIC_DISCARDS, fmt("reason=\"overflow\",target=\"127.0.0.1:%d\"", srv.port), 0);
	expect_series(text, "node_textfile_scrape_error", "", 0);
	char *nelog = h_slurp(log);
	cr_assert_not_null(nelog, "node_exporter log");
	cr_expect(!strstr(nelog, "collected before") && !strstr(nelog, "duplicate") && !strstr(nelog, "level=error"),
		  "node_exporter complained:\n%s", nelog);
	cr_expect(strstr(nelog, "textfile"), "node_exporter ran its textfile collector:\n%s", nelog);
	free(nelog);
	free(text);
}

/* twpool-client under the shim with targets, on port, n cycles; returns
 * its error count. */
static long client_errors(const char *path, const char *targets, int port, int n)
{
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-q", "-p", fmt("%d", port), "-n", fmt("%d", n), NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=%s", targets), host_env(path), NULL };
	struct h_run r;
	long req = -1, err = -1, crossed = -1;
	h_run(&r, argv, env, 1, 60);
	cr_assert_eq(h_client_line(r.out, &req, &err, &crossed), 0, "client printed no result; stderr:\n%s", r.err);
	h_run_free(&r);
	return err;
}

Test(hoststats, refused_connects_counted_by_errno, .timeout = 60)
{
	char *path = h_tmp("host.shm");
	int port = h_free_port(); /* nobody listens */
	long errors = client_errors(path, fmt("127.0.0.1:%d", port), port, 3);
	cr_assert_eq(errors, 3, "every cycle failed: %ld errors", errors);
	char *text = host_prom(path);
	expect_series(text, TWPOOL_METRIC_CONNECT_FAILURES,
		      fmt("target=\"127.0.0.1:%d\",errno=\"ECONNREFUSED\"", port), 3);
	expect_series(text, TWPOOL_METRIC_CONNECTS, fmt("target=\"127.0.0.1:%d\",result=\"fresh\"", port), 0);
	free(text);
}

Test(hoststats, passthrough_connects_counted, .init = tw_up, .fini = down, .timeout = 60)
{
	char *path = h_tmp("host.shm");
	long errors = client_errors(path, fmt("127.0.0.1:%d", h_free_port()), srv.port, 3);
	cr_assert_eq(errors, 0, "the unlisted server answered");
	long accepted = h_twserver_accepted(&srv);
	cr_assert_eq(accepted, 3, "the server saw every connect: %ld", accepted);
	char *text = host_prom(path);
	expect_series(text, TWPOOL_METRIC_PASSTHROUGH, "", 3);
	cr_expect_eq(h_prom(text, TWPOOL_METRIC_CONNECTS, ""), -1, "no target was counted:\n%s", text);
	free(text);
}

/* In a namespace of its own with 2 ephemeral ports and no TIME_WAIT
 * reuse, a client that closes for real (TWPOOL_MAX_IDLE=0) runs out of
 * ports after 2 cycles: 3 connects fail with EADDRNOTAVAIL. */
Test(hoststats, eaddrnotavail_counted_by_errno, .timeout = 60)
{
	char *path = h_tmp("host.shm"), *pf = h_tmp("port");
	char *script = fmt("ip link set lo up && echo '40000 40001' > /proc/sys/net/ipv4/ip_local_port_range && "
			   "echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse && "
			   "%s/twpool-server -p 5000 -P %s >/dev/null 2>&1 & srv=$!; "
			   "for i in $(seq 100); do [ -s %s ] && break; sleep 0.05; done && "
			   "LD_PRELOAD='%s' TWPOOL_TARGETS=127.0.0.1:5000 TWPOOL_MAX_IDLE=0 %s/twpool-client -q -p 5000 -n 5; "
			   "kill $srv; wait",
			   h_build(), pf, pf, h_preload(), h_build());
	char *argv[] = { "unshare", "-n", "sh", "-c", script, NULL };
	char *env[] = { host_env(path), NULL };
	struct h_run r;
	long req = -1, err = -1, crossed = -1;
	h_run(&r, argv, env, 0, 60);
	cr_assert_eq(h_client_line(r.out, &req, &err, &crossed), 0, "client printed no result; stderr:\n%s", r.err);
	cr_assert_eq(err, 3, "2 cycles had a port, 3 did not: %ld errors; stderr:\n%s", err, r.err);
	h_run_free(&r);
	char *text = host_prom(path);
	expect_series(text, TWPOOL_METRIC_CONNECT_FAILURES, "target=\"127.0.0.1:5000\",errno=\"EADDRNOTAVAIL\"", 3);
	expect_series(text, TWPOOL_METRIC_CONNECTS, "target=\"127.0.0.1:5000\",result=\"fresh\"", 2);
	free(text);
}

/* A root-owned 0600 file, and a world-writable directory without the
 * sticky bit (no symlink protection applies in it) where nobody planted
 * name -> the victim. Returns the link's path. */
static char *planted(const char *name, char **victim_path)
{
	char *victim = h_tmp(fmt("%s.victim", name)), *dir = h_tmp(fmt("%s.open", name));
	char *link = fmt("%s/%s", dir, name);
	struct h_run r;
	char *argv[] = { "sh", "-c",
			 fmt("umask 077 && echo secret > %s && mkdir -m 0777 %s && ln -s %s %s && chown -h nobody %s",
			     victim, dir, victim, link, link), NULL };
	h_run(&r, argv, NULL, 0, 10);
	cr_assert_eq(r.status, 0, "planting %s: %s", link, r.err);
	h_run_free(&r);
	*victim_path = victim;
	return link;
}

static void expect_untouched(const char *victim)
{
	struct stat st;
	char *text = h_slurp(victim);
	cr_expect_str_eq(text ? text : "(unreadable)", "secret\n", "the victim %s was written", victim);
	cr_expect(stat(victim, &st) == 0 && st.st_size == 7 && (st.st_mode & 0777) == 0600 && st.st_uid == 0,
		  "the victim %s was changed", victim);
	free(text);
}

Test(hoststats, planted_symlink_not_followed_by_the_shim, .init = tw_up, .fini = down, .timeout = 60)
{
	char *victim, *link = planted("host.shm", &victim);
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", srv.port), "-n", "20", NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), host_env(link), NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 60);
	cr_expect_eq(r.status, 0, "the client ran on: status %d, stderr:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, "host stats") && strstr(r.err, "symbolic link"), "one line says why:\n%s", r.err);
	cr_expect_leq(h_twserver_accepted(&srv), 1, "still pooled");
	h_run_free(&r);
	expect_untouched(victim);
	char target[4096];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	cr_expect(n > 0 && !strncmp(target, victim, (size_t)n), "the planted link is left alone");
}

Test(hoststats, planted_symlink_replaced_by_stat_output, .timeout = 60)
{
	char *victim, *link = planted("twpool.prom", &victim);
	struct h_run r;
	twpool_stat(&r, h_tmp("host.shm"), fmt("--prom -o %s", link));
	cr_expect_eq(r.status, 0, "twpool stat -o: status %d, stderr:\n%s", r.status, r.err);
	h_run_free(&r);
	expect_untouched(victim);
	struct stat st;
	cr_expect(lstat(link, &st) == 0 && S_ISREG(st.st_mode), "the link was replaced by the file");
	char *text = h_slurp(link);
	cr_expect(text && strstr(text, "# TYPE " TWPOOL_METRIC_CONNECTS " counter"), "the file is the host's text");
	free(text);
}
