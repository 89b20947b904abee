/* Issue 10 item 5, options that change other options: one user sets them
 * (IP_TOS changes SO_PRIORITY, and the rest of what the shim tracks), the
 * next user of the same pooled connection must read what a fresh socket
 * reads. Judged by the program's own readings, by redis's accepted count
 * (one connection: the reuse happened) and against the same program run
 * without the shim, which must print the very same values. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server srv;

static void redis_dual_up(void) { h_redis_start(&srv, "--bind 127.0.0.1 ::1"); }
static void down(void) { h_server_stop(&srv); }

static void run_optcheck(struct h_run *r, const char *mode, const char *family, int preload)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d,[::1]:%d", srv.port, srv.port), NULL };
	char *argv[] = { "/usr/bin/python3", fmt("%s/tests/progs/optcheck.py", h_src()),
			 fmt("%d", srv.port), (char *)mode, (char *)family, NULL };
	h_run(r, argv, env, preload, 60);
	cr_assert_not(r->timed_out, "optcheck %s %s timed out; stderr:\n%s", mode, family, r->err);
}

/* The first line where a and b differ, for the failure message. */
static char *first_difference(const char *a, const char *b)
{
	int line = 1;
	const char *la = a, *lb = b;
	for (; *a && *a == *b; a++, b++)
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
	return fmt("line %d: without the shim \"%.*s\", with it \"%.*s\"", line,
		   (int)strcspn(la, "\n"), la, (int)strcspn(lb, "\n"), lb);
}

/* Runs optcheck's mode with the shim and without: both clean, the same
 * output, and redis accepted want_accepted connections for the shim's run. */
static void differential(const char *mode, const char *family, long want_accepted)
{
	long before = h_redis_info(&srv, "total_connections_received");
	struct h_run with, without;
	run_optcheck(&with, mode, family, 1);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	run_optcheck(&without, mode, family, 0);
	cr_expect(strstr(with.out, "FAIL") == NULL && with.status == 0,
		  "%s %s under the shim: an option read differently from a fresh socket "
		  "(status %d):\n%s\n%s", mode, family, with.status, with.out, with.err);
	cr_expect_eq(accepted, want_accepted, "%s %s: redis accepted %ld connections under the shim, "
		     "want %ld", mode, family, accepted, want_accepted);
	cr_expect(without.status == 0 && strstr(without.out, "ok "),
		  "test bug: the program fails without the shim (status %d):\n%s\n%s", without.status,
		  without.out, without.err);
	cr_expect_str_eq(with.out, without.out, "%s %s: the shim changed what options read, %s",
			 mode, family, first_difference(without.out, with.out));
	h_run_free(&with);
	h_run_free(&without);
}

/* Eight uses on one connection (one accepted: the reuse happened). */
Test(sockopt_defaults, options_that_change_other_options_v4, .init = redis_dual_up, .fini = down,
     .timeout = 90)
{
	differential("defaults", "4", 1);
}

Test(sockopt_defaults, options_that_change_other_options_v6, .init = redis_dual_up, .fini = down,
     .timeout = 90)
{
	differential("defaults", "6", 1);
}

/* SO_RCVBUF, TCP_CONGESTION and SO_RCVLOWAT set on what socket() handed
 * out: those users get sockets of their own; D and F new connections, H
 * (SO_RCVLOWAT 4 grows nothing) the pooled one at connect. Three accepted
 * (A, D, F), and the next users read a fresh socket's values. On the old code the pooled
 * connection took them and the next user read SO_RCVBUF 80000 and reno. */
Test(sockopt_defaults, unpoolable_options_never_reach_the_next_user, .init = redis_dual_up,
     .fini = down, .timeout = 90)
{
	differential("ruledout", "4", 3);
}
