/* scripts/bench in --short mode: it runs every section to the end, prints
 * each section's ratio lines, and writes results.md. The numbers themselves
 * are not checked (one short run on a shared machine proves nothing about
 * speed); the full benchmark is `make bench`.
 *
 * The driver runs only what the Makefile built into the BUILD dir it is
 * given (it compiles nothing), and the suite never needs gnuplot: in
 * --short mode no chart is drawn, checked with a gnuplot that records its
 * calls placed first in PATH.
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
#include <sys/stat.h>
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

/* Writes an executable sh script at path. */
static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");
	cr_assert(f, "cannot write %s", path);
	fprintf(f, "#!/bin/sh\n%s", body);
	cr_assert(fclose(f) == 0 && chmod(path, 0755) == 0, "cannot finish %s", path);
}

/* A directory, first in the PATH returned, whose gnuplot appends its
 * arguments to *called and fails. */
static char *path_with_fake_gnuplot(char **called)
{
	char *dir = h_tmp("fake-bin");
	cr_assert(mkdir(dir, 0755) == 0, "cannot make %s", dir);
	*called = h_tmp("gnuplot-called");
	char *script = fmt("echo \"$*\" >> '%s'\nexit 1\n", *called);
	char *gnuplot = fmt("%s/gnuplot", dir);
	write_script(gnuplot, script);
	char *path = fmt("PATH=%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	free(script);
	free(gnuplot);
	free(dir);
	return path;
}

Test(bench, short_mode_runs_every_section, .timeout = 150)
{
	char *out_dir = h_tmp("bench-out");
	char *argv[] = { fmt("%s/scripts/bench", h_src()), (char *)h_build(), "--short", "--out",
			 out_dir, NULL };
	struct h_run r;
	char *called;
	char *env[] = { fmt("BENCH_PRELOAD=%s", h_preload()), path_with_fake_gnuplot(&called), NULL };
	h_run(&r, argv, env, 0, 120);
	cr_assert(!r.timed_out, "scripts/bench --short did not finish in 120 s:\n%s\n%s", r.out, r.err);
	cr_assert(r.status == 0, "scripts/bench --short exited %d:\n%s\n%s", r.status, r.out, r.err);

	/* Throughput: redis-benchmark GET/SET at c1 and c10, the bundled client,
	 * PyMySQL against MariaDB (the script fails unless /mysql pooled it). */
	const char *groups[] = { "redis-get-c1", "redis-get-c10", "redis-set-c1", "redis-set-c10",
				 "client", "mysql" };
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		char *ka = fmt("%s twpool/keep-alive", groups[i]);
		char *pr = fmt("%s twpool/per-request", groups[i]);
		expect_ratio(r.out, ka);
		expect_ratio(r.out, pr);
		free(ka);
		free(pr);
	}
	/* HTTP: ab needs apache2-utils and nginx-light, which only `scripts/deps
	 * bench` installs: each row runs, or the output says it was skipped. */
	for (int c = 1; c <= 10; c += 9) {
		char *skip = fmt("skipped http-c%d: ", c);
		if (line_starting(r.out, skip)) {
			cr_log_info("%s", line_starting(r.out, skip));
		} else {
			char *ka = fmt("http-c%d twpool/keep-alive", c);
			char *row = fmt("| HTTP ab -c %d / nginx |", c);
			expect_ratio(r.out, ka);
			cr_expect(strstr(r.out, row), "no \"%s\" row in the Markdown table", row);
			free(ka);
			free(row);
		}
		free(skip);
	}
	/* Codec cost: the same -k 0 runs with the target /raw and /redis. */
	const char *codec[] = { "codec-get-c1", "codec-get-c10", "codec-set-c1", "codec-set-c10" };
	for (size_t i = 0; i < sizeof(codec) / sizeof(codec[0]); i++)
		expect_ratio(r.out, fmt("%s redis/raw", codec[i]));
	cr_expect(strstr(r.out, "| redis SET -c 10, -k 0 under twpool |"),
		  "no codec row in the Markdown table");
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
	cr_expect(strstr(md, "| MySQL: PyMySQL SELECT 1 / MariaDB |"), "no MySQL row in results.md");

	/* No chart in --short mode: gnuplot is never run, no PNG is left. */
	cr_expect(line_starting(r.out, "chart: skipped in --short mode"),
		  "the output does not say that the chart was skipped:\n%s", r.out);
	char *gp = h_slurp(called);
	cr_expect(gp == NULL, "scripts/bench --short ran gnuplot: %s", gp ? gp : "");
	char *png_path = fmt("%s/results.png", out_dir);
	cr_expect(access(png_path, F_OK) != 0, "%s was written in --short mode", png_path);

	free(gp);
	free(md);
	free(md_path);
	free(png_path);
	free(out_dir);
	free(called);
	free(env[0]);
	free(env[1]);
	free(argv[0]);
	h_run_free(&r);
}

/* A BUILD dir with the library, client and server but not the benchmark
 * programs: the driver names what is missing and how to build it, exits 2,
 * and builds nothing there itself. */
Test(bench, needs_the_programs_make_built, .timeout = 150)
{
	char *dir = h_tmp("partial-build");
	cr_assert(mkdir(dir, 0755) == 0, "cannot make %s", dir);
	const char *keep[] = { "libtwpool.so", "twpool-client", "twpool-server" };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		char *from = fmt("%s/%s", h_build(), keep[i]), *to = fmt("%s/%s", dir, keep[i]);
		cr_assert(symlink(from, to) == 0, "symlink %s %s", from, to);
		free(from);
		free(to);
	}
	char *out_dir = h_tmp("partial-out");
	char *argv[] = { fmt("%s/scripts/bench", h_src()), dir, "--short", "--out", out_dir, NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 120);
	cr_expect(r.status == 2, "scripts/bench exited %d, not 2:\n%s\n%s", r.status, r.out, r.err);
	cr_expect(strstr(r.err, "bench-io is missing") && strstr(r.err, "bench-progs"),
		  "the error does not name bench-io and the make target:\n%s", r.err);
	const char *progs[] = { "bench-io", "bench-pool" };
	for (size_t i = 0; i < 2; i++) {
		char *p = fmt("%s/%s", dir, progs[i]);
		cr_expect(access(p, F_OK) != 0, "scripts/bench built %s itself", p);
		free(p);
	}
	free(argv[0]);
	free(out_dir);
	free(dir);
	h_run_free(&r);
}
