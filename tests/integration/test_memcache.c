/* memcached end to end under the /memcache codec: a text client
 * (pymemcache) and a binary one (twpool-mcbin), 300 short connections
 * each, counted on the server's side; quiet-get pipelines and noreply and
 * meta commands, each followed by a next user whose replies must be its
 * own, compared with a run of the same program without the shim. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server srv;

static void up(void) { h_memcached_start(&srv, NULL); }
static void down(void) { h_server_stop(&srv); }

static char *text(const char *protocol, const char *kase, const char *n)
{
	/* Debian's python3: its pymemcache (python3-pymemcache) */
	char *argv[] = { "/usr/bin/python3", fmt("%s/tests/progs/memcache-text.py", h_src()),
			 fmt("%d", srv.port), (char *)kase, (char *)n, NULL };
	return h_run_out(argv, srv.port, protocol, 100);
}

static char *binary(const char *protocol, const char *kase, const char *n)
{
	char *argv[] = { fmt("%s/twpool-mcbin", h_build()), fmt("%d", srv.port), (char *)kase,
			 (char *)n, NULL };
	return h_run_out(argv, srv.port, protocol, 100);
}

/* 300 connect/set/get/close cycles: at most 2 connections reach memcached. */
static void cycles_pool(char *(*prog)(const char *, const char *, const char *), const char *name)
{
	long before = h_memcached_stat(&srv, "total_connections");
	char *out = prog("memcache", "cycles", "300");
	long made = h_memcached_stat(&srv, "total_connections") - before;
	cr_expect(strstr(out, "cycles 300 wrong 0 errors 0"), "%s under /memcache:\n%s", name, out);
	cr_expect_leq(made, 2, "%s: memcached accepted %ld connections for 300 cycles", name, made);
	cr_expect_geq(made, 1, "%s: memcached saw no connection at all: the count is broken", name);
}

Test(memcache, text_client_300_cycles, .init = up, .fini = down, .timeout = 120)
{
	cycles_pool(text, "pymemcache");
}

Test(memcache, binary_client_300_cycles, .init = up, .fini = down, .timeout = 120)
{
	cycles_pool(binary, "twpool-mcbin");
}

Test(memcache, text_noreply_meta_and_quiet_pipelines_never_cross, .init = up, .fini = down,
     .timeout = 120)
{
	char *without = text(NULL, "cases", NULL);
	long before = h_memcached_stat(&srv, "total_connections");
	char *with = text("memcache", "cases", NULL);
	long made = h_memcached_stat(&srv, "total_connections") - before;
	cr_expect_str_eq(with, without, "a /memcache target passed replies on to the next user; "
			 "with the shim:\n%s\nwithout:\n%s", with, without);
	const char *want[] = { "noreply: VALUE nr 0 2 hi VALUE n 0 1 7 END",
			       "meta: HD VA 2 hi HD EN MN", "mgquiet: VA 4006 old-1-xxx",
			       "getmulti: next user STORED VALUE own 0 4 mine END MN" };
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
		cr_expect(strstr(without, want[i]), "control run without the shim lacks '%s':\n%s", want[i],
			  without);
	/* 11 connections: the clean ones (noreply, meta, the next users) are
	 * reused; the three closed with replies due (bad chunk, quiet mg, get
	 * of 100 keys) are not, so each is followed by a fresh one. */
	cr_expect_lt(made, 11, "no connection was reused under /memcache (%ld made)", made);
	cr_expect_geq(made, 4, "only %ld connections: a half-read one was reused", made);
}

Test(memcache, binary_quiet_gets_closed_halfway_never_cross, .init = up, .fini = down,
     .timeout = 120)
{
	char *without = binary(NULL, "quiet", NULL), *with = binary("memcache", "quiet", NULL);
	cr_expect_str_eq(with, without, "a /memcache target passed binary replies on; with the "
			 "shim:\n%s\nwithout:\n%s", with, without);
	cr_expect(strstr(with, "next user: own replies"), "under /memcache:\n%s", with);
}
