/* Name resolution never inside connect() (issue 10, item 7): a host-name
 * entry of TWPOOL_TARGETS is looked up off the program's path, and a name
 * that failed is looked up again later.
 *
 * Each client runs in its own mount namespace with /etc/resolv.conf,
 * /etc/nsswitch.conf and /etc/hosts bind-mounted from the test's files: the
 * name server is a UDP socket of the test that never answers, and the hosts
 * file is one the test edits while the client runs. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define fmt h_fmt

#define NAME "somename"
#define CONNECT_BOUND_US 200000 /* a connect that waited for DNS took >= 1 s */
#define MAX_CYCLES 256
#define WAIT_MS 30000           /* for the client to reach its pause */

static struct h_server srv;

static void tw_up(void) { h_twserver_start(&srv, NULL); }
static void down(void) { h_server_stop(&srv); }

/* A directory holding resolv.conf, nsswitch.conf and hosts for the client. */
static char *name_files(const char *tag, const char *resolv, const char *nss, const char *hosts)
{
	char *dir = h_tmp(tag);
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
	h_write_file(fmt("%s/resolv.conf", dir), resolv);
	h_write_file(fmt("%s/nsswitch.conf", dir), nss);
	h_write_file(fmt("%s/hosts", dir), hosts);
	return dir;
}

/* Runs build/twpool-conntime -p PORT args... under the shim, in a mount
 * namespace that sees dir's files at their /etc names. The shim is
 * preloaded into the client alone, not into unshare and sh. */
static void run_client(struct h_run *r, const char *dir, char *const args[], char *const env[])
{
	static const char script[] =
		"d=$1 p=$2; shift 2\n"
		"for f in resolv.conf nsswitch.conf hosts; do\n"
		"  mount --bind \"$d/$f\" \"/etc/$f\" || exit 111\n"
		"done\n"
		"exec env LD_PRELOAD=\"$p\" \"$@\"\n";
	char *argv[32] = { "unshare", "-m", "sh", "-c", (char *)script, "sh", (char *)dir,
			   (char *)h_preload(), fmt("%s/twpool-conntime", h_build()), "-p",
			   fmt("%d", srv.port) };
	int n = 11;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	h_run(r, argv, env, 0, 60);
	cr_assert_not(r->timed_out, "client timed out; stderr:\n%s", r->err);
	cr_assert_neq(r->status, 111, "cannot bind-mount the name files: %s", r->err);
	cr_assert_eq(r->status, 0, "client failed (status %d); stdout:\n%s\nstderr:\n%s",
		     r->status, r->out, r->err);
}

struct cycles {
	int n;
	long us[MAX_CYCLES];
	long accepted[MAX_CYCLES];
};

static void parse_cycles(struct cycles *c, const char *out)
{
	c->n = 0;
	for (const char *p = out; p && c->n < MAX_CYCLES; p = strchr(p, '\n')) {
		int i;
		p += *p == '\n';
		if (sscanf(p, "cycle %d connect_us %ld accepted %ld", &i, &c->us[c->n],
			   &c->accepted[c->n]) == 3)
			c->n++;
	}
}

/* A UDP socket on addr:53 that never answers; queries queue in it. */
static int silent_dns(const char *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	cr_assert(fd >= 0 && inet_pton(AF_INET, addr, &sa.sin_addr) == 1, "udp socket");
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind %s:53: %s", addr, strerror(errno));
	return fd;
}

/* Queries for NAME that reached the silent server. */
static int queries_for_name(int fd)
{
	static const char qname[] = "\x08" NAME "\x00";
	char pkt[512];
	int n = 0;
	ssize_t len;
	while ((len = recv(fd, pkt, sizeof(pkt), MSG_DONTWAIT)) > 0)
		n += memmem(pkt, (size_t)len, qname, sizeof(qname) - 1) != NULL;
	return n;
}

/* Item 7, first half: with a name server that never answers, the connect
 * call returns at once (it waited a whole resolver timeout before), and the
 * connections pass through unpooled since the name has no address. */
static void silent_dns_case(const char *ns_addr, const char *mode)
{
	const char *kind = mode[0] ? "blocking" : "non-blocking";
	int dns = silent_dns(ns_addr);
	char *dir = name_files(kind, fmt("nameserver %s\noptions timeout:1 attempts:1\n", ns_addr),
			       "hosts: dns\n", "127.0.0.1 localhost\n");
	char *env[] = { fmt("TWPOOL_TARGETS=" NAME ":%d", srv.port), NULL };
	struct h_run r;
	char *args[] = { "-n", "6", "-d", "300", mode[0] ? (char *)mode : NULL, NULL };
	run_client(&r, dir, args, env);
	struct cycles c;
	parse_cycles(&c, r.out);
	cr_assert_eq(c.n, 6, "client printed %d cycles, want 6:\n%s", c.n, r.out);
	for (int i = 0; i < c.n; i++)
		cr_expect_lt(c.us[i], CONNECT_BOUND_US,
			     "%s connect %d took %ld us with a silent name server (bound %d us):\n%s",
			     kind, i, c.us[i], CONNECT_BOUND_US, r.out);
	cr_expect_eq(c.accepted[c.n - 1] - c.accepted[0], c.n - 1,
		     "a name without an address is not pooled: server accepted counts\n%s", r.out);
	int q = queries_for_name(dns);
	cr_expect_geq(q, 1, "the name server saw no query for " NAME ": the test did not test DNS");
	close(dns);
	h_run_free(&r);
}

Test(dns, name_resolution_never_inside_a_nonblocking_connect, .init = tw_up, .fini = down,
     .timeout = 90)
{
	silent_dns_case("127.0.0.2", "");
}

Test(dns, name_resolution_never_inside_a_blocking_connect, .init = tw_up, .fini = down,
     .timeout = 90)
{
	silent_dns_case("127.0.0.3", "-b");
}

/* The test's side of the pause: once the shim has said the name does not
 * resolve, the name goes into the hosts file, then the client goes on. */
struct add_name {
	const char *log, *hosts, *pause;
	int done; /* 1 added, -1 gave up: read after the join */
};

static int file_has(const char *path, const char *text)
{
	char *s = h_slurp(path);
	int yes = s && strstr(s, text);
	free(s);
	return yes;
}

static void *add_name_later(void *arg)
{
	struct add_name *a = arg;
	struct timespec tick = { 0, 10 * 1000000L };
	a->done = -1;
	for (int waited = 0; waited < WAIT_MS; waited += 10, nanosleep(&tick, NULL)) {
		if (access(a->pause, F_OK) != 0 || !file_has(a->log, "cannot resolve '" NAME "'"))
			continue;
		int fd = open(a->hosts, O_WRONLY | O_APPEND); /* in place: the bind mount shows it */
		static const char line[] = "127.0.0.1 " NAME "\n";
		if (fd >= 0 && write(fd, line, sizeof(line) - 1) == (ssize_t)sizeof(line) - 1) {
			a->done = 1;
			unlink(a->pause);
		}
		if (fd >= 0)
			close(fd);
		break;
	}
	return NULL;
}

static int count_lines_with(const char *path, const char *text)
{
	char *s = h_slurp(path);
	int n = 0;
	for (char *p = s; p && (p = strstr(p, text)); p += strlen(text))
		n++;
	free(s);
	return n;
}

/* Item 7, second half: a name that did not resolve at the first connect
 * is looked up again, and once it resolves the connections are pooled. */
Test(dns, failed_name_is_retried_and_pooled_once_it_resolves, .init = tw_up, .fini = down,
     .timeout = 90)
{
	enum { N = 200, TAIL = 50 };
	char *dir = name_files("added", "nameserver 127.0.0.4\n", "hosts: files\n",
			       "127.0.0.1 localhost\n");
	struct add_name a = { .log = h_tmp("added.log"), .hosts = fmt("%s/hosts", dir),
			      .pause = h_tmp("added.pause") };
	char *env[] = { fmt("TWPOOL_TARGETS=" NAME ":%d", srv.port), fmt("TWPOOL_LOG_FILE=%s", a.log),
			NULL };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, add_name_later, &a), 0, "pthread_create");
	struct h_run r;
	char *args[] = { "-n", fmt("%d", N), "-d", "20", "-w", (char *)a.pause, NULL };
	run_client(&r, dir, args, env);
	pthread_join(th, NULL);
	cr_assert_eq(a.done, 1, "the shim never logged that " NAME " does not resolve; log:\n%s",
		     h_slurp(a.log));
	struct cycles c;
	parse_cycles(&c, r.out);
	cr_assert_eq(c.n, N, "client printed %d cycles, want %d", c.n, N);
	long first = c.accepted[0], last = c.accepted[N - 1];
	cr_expect_eq(c.accepted[N - TAIL], last,
		     "the server still accepted connections in the last %d cycles (%ld then %ld): "
		     "the name added to the hosts file was never pooled", TAIL,
		     c.accepted[N - TAIL], last);
	cr_expect_lt(last - first, N / 2, "%ld connections for %d cycles", last - first + 1, N);
	int warned = count_lines_with(a.log, "cannot resolve '" NAME "'");
	cr_expect_eq(warned, 1, "the failure is logged once, not %d times", warned);
	h_run_free(&r);
}
