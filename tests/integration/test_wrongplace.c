/* No connection in the wrong place: fd paths that could hand a connection,
 * or its bytes, to the wrong user (tests/progs/twpool-wrongplace.c). Each
 * scenario runs without the shim and with it: the program must see the
 * same thing, and the server must have seen the same thing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server a, b;

static void down(void)
{
	h_server_stop(&a);
	h_server_stop(&b);
}

static void plain_up(void) { h_twserver_start(&a, NULL); }
static void two_up(void)
{
	h_twserver_start(&a, NULL);
	h_twserver_start(&b, NULL);
}
/* -c 150: idle connections closed 150 ms after their last reply. */
static void idle_killer_up(void) { h_twserver_start(&a, "-c 150"); }
/* -C 200: closed 200 ms after the first reply, never reading after it. */
static void doomed_up(void) { h_twserver_start(&a, "-C 200"); }

/* Runs the scenario; with_shim: under libtwpool.so, both servers listed. */
static char *run(const char *scenario, int with_shim, int timeout_s)
{
	char *argv[] = { fmt("%s/twpool-wrongplace", h_build()), (char *)scenario,
			 fmt("%d", a.port), fmt("%d", b.port), NULL };
	char *env[] = { b.port ? fmt("TWPOOL_TARGETS=127.0.0.1:%d,127.0.0.1:%d", a.port, b.port)
			       : fmt("TWPOOL_TARGETS=127.0.0.1:%d", a.port), NULL };
	struct h_run r;
	h_run(&r, argv, with_shim ? env : NULL, with_shim, timeout_s);
	cr_assert_not(r.timed_out, "%s %s the shim hung; out:\n%s\nerr:\n%s", scenario,
		      with_shim ? "with" : "without", r.out, r.err);
	cr_assert_eq(r.status, 0, "%s %s the shim exited %d; err:\n%s", scenario,
		     with_shim ? "with" : "without", r.status, r.err);
	return r.out;
}

/* The value of "name value..." in out, or "(missing)". */
static char *field(const char *out, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, name, n) && l[n] == ' ')
			return strndup(l + n + 1, strcspn(l + n + 1, "\n"));
	return "(missing)";
}

Test(wrongplace, connect_af_unspec_then_elsewhere, .init = two_up, .fini = down, .timeout = 60)
{
	char *without = run("unspec", 0, 30), *with = run("unspec", 1, 30);
	cr_expect_str_eq(field(without, "next_user_of_a"), "VALUE A", "control:\n%s", without);
	cr_expect_str_eq(field(with, "after_dissolve"), "VALUE B", "the program's own reconnect:\n%s", with);
	cr_expect_str_eq(field(with, "next_user_of_a"), "VALUE A",
			 "the next user of A was served by another server:\n%s", with);
	cr_expect_str_eq(with, without, "the program saw something else under the shim");
}

Test(wrongplace, thread_inside_recv_while_closed, .init = plain_up, .fini = down, .timeout = 60)
{
	char *without = run("inflight", 0, 30), *with = run("inflight", 1, 30);
	cr_expect_str_eq(field(without, "next_user"), "mine", "control:\n%s", without);
	cr_expect_str_eq(field(with, "next_user"), "mine",
			 "the next user's reply went elsewhere:\n%s", with);
	cr_expect_str_eq(field(with, "blocked_thread_got"), "(missing)",
			 "the blocked thread took another user's reply:\n%s", with);
	cr_expect_str_eq(with, without, "the program saw something else under the shim");
}

Test(wrongplace, closed_number_answers_ebadf, .init = plain_up, .fini = down, .timeout = 60)
{
	char *without = run("closed", 0, 30), *with = run("closed", 1, 30);
	cr_expect_str_eq(field(without, "fstat"), "-1 EBADF", "control:\n%s", without);
	cr_expect_str_eq(field(without, "poll"), "1 revents 0x20", "control:\n%s", without);
	cr_expect_str_eq(with, without, "a number closed by the program answered differently under the shim");
}

Test(wrongplace, reply_read_by_recvmmsg_never_replayed, .init = idle_killer_up, .fini = down,
     .timeout = 60)
{
	char *without = run("recvmmsg", 0, 30), *with = run("recvmmsg", 1, 30);
	cr_expect_str_eq(field(without, "requests_executed_after"), "0", "control:\n%s", without);
	cr_expect_str_eq(field(with, "use2_recvmmsg"), "1 counted", "%s", with);
	cr_expect_str_eq(field(with, "requests_executed_after"), "0",
			 "an answered request was executed again by a replay:\n%s", with);
	cr_expect_str_eq(field(with, "use2_after_idle_close"), field(without, "use2_after_idle_close"),
			 "the program must see the failure it sees without pooling");
}

Test(wrongplace, body_sent_by_sendfile_never_replayed_short, .init = doomed_up, .fini = down,
     .timeout = 60)
{
	char *with = run("sendfile", 1, 30);
	cr_expect_str_eq(field(with, "use2_sendfile"), "5", "%s", with);
	const char *reply = field(with, "use2_reply");
	cr_expect(!strcmp(reply, "") || !strcmp(reply, "body") || !strncmp(reply, "(error", 6),
		  "a replay without the sendfile() body left the program waiting: reply '%s'\n%s",
		  reply, with);
}
