/* scripts/bench in --short mode: it runs every section to the end, prints
 * each section's ratio lines, and writes results.md and a PNG chart. The
 * numbers themselves are not checked (one short run on a shared machine
 * proves nothing about speed); the full benchmark is `make bench`.
 *
 * The integration tests run as root in a private network namespace, so the
 * port exhaustion section runs here too and must report both counts; when
 * not root the script says it skipped that part, and this test fails
 * rather than pass without it. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define fmt h_fmt

/* The line of out that starts with prefix, or NULL. */
static const char *line_starting(const char *out, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, prefix, n))
			return p;
	return NULL;
}

/* A ratio line "ratio NAME KIND VALUE" with a positive number. */
static void expect_ratio(const char *out, const char *name_kind)
{
	char *prefix = fmt("ratio %s ", name_kind);
	const char *l = line_starting(out, prefix);
	cr_expect(l != NULL, "no \"%s\" line in the output", prefix);
	if (l) {
		double v = strtod(l + strlen(prefix), NULL);
		cr_expect(v > 0, "\"%s\" is not a positive ratio: %.80s", prefix, l);
	}
	free(prefix);
}

Test(bench, short_mode_runs_every_section, .timeout = 150)
{
	char *out_dir = h_tmp("bench-out");
	char *argv[] = { fmt("%s/scripts/bench", h_src()), (char *)h_build(), "--short", "--out",
			 out_dir, NULL };
	struct h_run r;
	char *pre = NULL;
	cr_assert(asprintf(&pre, "BENCH_PRELOAD=%s", h_preload()) >= 0);
	char *env[] = { pre, NULL };
	h_run(&r, argv, env, 0, 120);
	cr_assert(!r.timed_out, "scripts/bench --short did not finish in 120 s:\n%s\n%s", r.out, r.err);
	cr_assert(r.status == 0, "scripts/bench --short exited %d:\n%s\n%s", r.status, r.out, r.err);

	/* Throughput: redis-benchmark GET/SET at c1 and c10, the bundled client. */
	const char *groups[] = { "redis-get-c1", "redis-get-c10", "redis-set-c1", "redis-set-c10",
				 "client" };
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		char *ka = fmt("%s twpool/keep-alive", groups[i]);
		char *pr = fmt("%s twpool/per-request", groups[i]);
		expect_ratio(r.out, ka);
		expect_ratio(r.out, pr);
		free(ka);
		free(pr);
	}
	/* Overheads: pass-through to a target not allow-listed, untracked I/O. */
	expect_ratio(r.out, "passthru with/without");
	expect_ratio(r.out, "io with/without");
	cr_expect(line_starting(r.out, "io-instructions: callgrind skipped in --short mode"),
		  "the output does not say that callgrind was skipped in --short mode:\n%s", r.out);

	/* Port exhaustion: runs here (root, private namespace), both counts. */
	cr_expect(strstr(r.out, "network: a private network namespace"),
		  "the benchmark did not run in a private network namespace:\n%s", r.out);
	cr_expect(!line_starting(r.out, "exhaustion skipped"),
		  "port exhaustion was skipped although the tests run as root:\n%s", r.out);
	long req = -1, err = -1, eadd = -1;
	const char *w = line_starting(r.out, "exhaustion without-twpool requests ");
	cr_expect(w && sscanf(w, "exhaustion without-twpool requests %ld errors %ld (EADDRNOTAVAIL %ld)",
			      &req, &err, &eadd) == 3,
		  "no exhaustion count without twpool:\n%s", r.out);
	cr_expect(err > 0 && eadd == err && req + err == 1000,
		  "without twpool the 100 ports should run out: requests %ld errors %ld EADDRNOTAVAIL %ld",
		  req, err, eadd);
	const char *t = line_starting(r.out, "exhaustion with-twpool requests ");
	cr_expect(t && sscanf(t, "exhaustion with-twpool requests %ld errors %ld", &req, &err) == 2,
		  "no exhaustion count with twpool:\n%s", r.out);
	cr_expect(req == 1000 && err == 0, "with twpool: requests %ld errors %ld", req, err);

	/* results.md: the Markdown printed, with the machine; results.png. */
	char *md_path = fmt("%s/results.md", out_dir);
	char *md = h_slurp(md_path);
	cr_assert(md, "%s was not written", md_path);
	cr_expect(strstr(md, "# twpool benchmarks") && strstr(md, "| redis GET -c 1 |") &&
			  strstr(md, "| twpool-client / twpool-server |") && strstr(md, "## Port exhaustion"),
		  "results.md lacks a section:\n%s", md);
	cr_expect(strstr(md, "CPUs (nproc)") && strstr(md, "Linux ") && strstr(md, "Date: "),
		  "results.md does not name the machine:\n%s", md);
	cr_expect(strstr(r.out, "| redis SET -c 10 |"), "the Markdown table is not on stdout");
	char *png_path = fmt("%s/results.png", out_dir);
	FILE *f = fopen(png_path, "rb");
	cr_assert(f, "%s was not written", png_path);
	unsigned char magic[8] = { 0 };
	size_t got = fread(magic, 1, sizeof(magic), f);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fclose(f);
	static const unsigned char png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	cr_expect(got == 8 && !memcmp(magic, png_magic, 8), "%s is not a PNG", png_path);
	cr_expect(size > 1000, "%s is only %ld bytes", png_path, size);

	free(md);
	free(md_path);
	free(png_path);
	free(out_dir);
	h_run_free(&r);
}
