/* scripts/demo (make demo), small: in the demo's own network namespace with
 * PORTS ephemeral ports and tcp_tw_reuse=0, the bundled client fails with
 * EADDRNOTAVAIL without twpool and completes every cycle through the twpool
 * command. The figures come from the demo's "result" lines: the client's
 * own counts, the server's accepted count (STATS) and the kernel's TIME_WAIT
 * sockets (ss); none of them is the shim's word. The suite runs as root, so
 * the namespace must be there: a plain comparison fails the test. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define fmt h_fmt

#define CYCLES 120 /* DEMO_N */
#define PORTS 40   /* DEMO_PORTS */

struct demo_result {
	long requests, errors, eaddrnotavail, crossed, accepted, timewait_peak;
};

/* Parses the "result WHICH-twpool ..." line of out; 0, or -1 if none. */
static int demo_result(const char *out, const char *which, struct demo_result *d)
{
	char *prefix = fmt("\nresult %s-twpool ", which);
	const char *l = strstr(out, prefix);
	if (!l)
		return -1;
	int n = sscanf(l + strlen(prefix),
		       "requests %ld errors %ld eaddrnotavail %ld crossed %ld accepted %ld "
		       "timewait_peak %ld",
		       &d->requests, &d->errors, &d->eaddrnotavail, &d->crossed, &d->accepted,
		       &d->timewait_peak);
	return n == 6 ? 0 : -1;
}

static void run_demo(struct h_run *r)
{
	char *argv[] = { fmt("%s/scripts/demo", h_src()), (char *)h_build(), NULL };
	char *env[] = { fmt("DEMO_N=%d", CYCLES), fmt("DEMO_PORTS=%d", PORTS),
			"DEMO_DELAY_US=1000", fmt("DEMO_PRELOAD=%s", h_preload()), NULL };
	h_run(r, argv, env, 0, 100);
	cr_assert(!r->timed_out, "scripts/demo did not finish in 100 s:\n%s\n%s", r->out, r->err);
	cr_assert(r->status == 0, "scripts/demo exited %d:\n%s\n%s", r->status, r->out, r->err);
	cr_assert(strstr(r->out, "network: a private network namespace; ephemeral ports"),
		  "the demo did not narrow the ports in a namespace of its own:\n%s", r->out);
}

static void expect_exhaustion(const struct demo_result *w, const char *out)
{
	long cycles = w->requests / 2;
	cr_expect(w->eaddrnotavail > 0 && w->errors == w->eaddrnotavail,
		  "without twpool: %ld errors, %ld of them EADDRNOTAVAIL; expected the %d ports "
		  "to run out:\n%s", w->errors, w->eaddrnotavail, PORTS, out);
	cr_expect(cycles + w->eaddrnotavail == CYCLES && cycles <= PORTS,
		  "without twpool: %ld cycles completed and %ld failed, of %d, with %d ports",
		  cycles, w->eaddrnotavail, CYCLES, PORTS);
	cr_expect(w->accepted == cycles,
		  "without twpool the server accepted %ld connections for %ld cycles",
		  w->accepted, cycles);
	cr_expect(w->timewait_peak == cycles,
		  "without twpool: %ld TIME_WAIT sockets at the peak, %ld cycles closed one each",
		  w->timewait_peak, cycles);
	cr_expect(strstr(out, "connect: Cannot assign requested address"),
		  "the demo does not show the client's EADDRNOTAVAIL message:\n%s", out);
}

static void expect_all_complete(const struct demo_result *t, const char *out)
{
	cr_expect(t->requests == 2 * CYCLES && t->errors == 0 && t->crossed == 0 &&
			  t->eaddrnotavail == 0,
		  "with twpool: requests %ld of %d, errors %ld, crossed %ld:\n%s", t->requests,
		  2 * CYCLES, t->errors, t->crossed, out);
	cr_expect(t->accepted >= 1 && t->accepted <= CYCLES / 10,
		  "with twpool the server accepted %ld connections for %d cycles", t->accepted,
		  CYCLES);
	cr_expect(t->timewait_peak <= t->accepted,
		  "with twpool: %ld TIME_WAIT sockets for %ld connections", t->timewait_peak,
		  t->accepted);
}

Test(demo, ports_run_out_without_twpool_and_not_with_it, .timeout = 120)
{
	struct h_run r;
	struct demo_result without, with;
	run_demo(&r);
	cr_assert(!demo_result(r.out, "without", &without), "no result line without twpool:\n%s",
		  r.out);
	cr_assert(!demo_result(r.out, "with", &with), "no result line with twpool:\n%s", r.out);
	expect_exhaustion(&without, r.out);
	expect_all_complete(&with, r.out);
	cr_expect(strstr(r.out, "TIME_WAIT sockets towards the server over time") &&
			  strstr(r.out, "REUSED"),
		  "the chart or the twpool stat table is missing:\n%s", r.out);
	h_run_free(&r);
}
