/* test_stats.c - the Prometheus text of the stats file. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "pool.h"
#include "stats.h"
#include "twpool.h"
#include "util.h"

#define PYTHON "/usr/bin/python3"

static struct twp_target *target(const char *addr, unsigned port)
{
	struct twp_key k = test_key(addr, port);
	struct twp_target *t = twp_pool_target(&k);
	cr_assert_not_null(t, "target %s:%u created", addr, port);
	return t;
}

/* Two targets with distinct counter values, one idle connection on the first. */
static void populate(void)
{
	twp_pool_configure(TWPOOL_DEFAULT_MAX_IDLE, TWPOOL_DEFAULT_IDLE_TIMEOUT_MS);
	struct twp_target *a = target("10.0.0.1", 6379), *b = target("::1", 443);
	a->n.reused.n = 3;
	a->n.fresh.n = 2;
	a->n.parked.n = 4;
	a->n.closed.n = 1;
	a->n.discards[TWP_R_OVERFLOW].n = 5;
	a->n.discards[TWP_R_FDLIMIT].n = 6;
	a->n.replays_ok.n = 7;
	a->n.replays_failed.n = 8;
	b->n.fresh.n = 11;
	b->n.discards[TWP_R_UNUSED].n = 12;
	static struct twp_conn idle = { .fd = -1, .family = AF_INET };
	idle.target = a;
	cr_assert_null(twp_pool_put(a, &idle, 1), "room for one idle connection");
}

/* The whole rendering, in a heap buffer the caller frees. */
static char *render(void)
{
	size_t need = twp_stats_render(NULL, 0);
	char *buf = malloc(need + 1);
	cr_assert_not_null(buf, "out of memory");
	size_t got = twp_stats_render(buf, need + 1);
	cr_assert_eq(got, need, "two renders of the same state differ in length: %zu vs %zu", got, need);
	cr_assert_eq(strlen(buf), need, "returned length %zu is the text's length %zu", need, strlen(buf));
	return buf;
}

static void assert_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s\n", line);
	cr_assert_not_null(strstr(text, want), "missing line '%s' in:\n%s", line, text);
}

struct family_case {
	char name[40];
	char type[12];
};

ParameterizedTestParameters(stats, help_and_type_lines)
{
	static struct family_case params[] = {
		{ TWPOOL_METRIC_CONNECTS, "counter" },
		{ TWPOOL_METRIC_CLOSES, "counter" },
		{ TWPOOL_METRIC_DISCARDS, "counter" },
		{ TWPOOL_METRIC_IDLE, "gauge" },
		{ TWPOOL_METRIC_REPLAYS, "counter" },
		{ "twpool_info", "gauge" },
	};
	return cr_make_param_array(struct family_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct family_case *f, stats, help_and_type_lines, .init = populate)
{
	char *text = render();
	char help[64], type[96];
	snprintf(help, sizeof(help), "# HELP %s ", f->name);
	snprintf(type, sizeof(type), "# TYPE %s %s", f->name, f->type);
	const char *h = strstr(text, help);
	cr_assert_not_null(h, "no HELP line for %s", f->name);
	cr_assert(h == text || h[-1] == '\n', "HELP for %s starts a line", f->name);
	cr_assert(strchr(h, '\n')[-1] != ' ', "HELP for %s has text after the name", f->name);
	assert_line(text, type);
	cr_assert_lt(h, strstr(text, type), "HELP before TYPE for %s", f->name);
	free(text);
}

Test(stats, sample_lines_carry_target_labels, .init = populate)
{
	char *text = render();
	assert_line(text, "twpool_connects_total{target=\"10.0.0.1:6379\",result=\"reused\"} 3");
	assert_line(text, "twpool_connects_total{target=\"10.0.0.1:6379\",result=\"fresh\"} 2");
	assert_line(text, "twpool_closes_total{target=\"10.0.0.1:6379\",result=\"parked\"} 4");
	assert_line(text, "twpool_closes_total{target=\"10.0.0.1:6379\",result=\"closed\"} 1");
	assert_line(text, "twpool_idle_connections{target=\"10.0.0.1:6379\"} 1");
	assert_line(text, "twpool_connects_total{target=\"[::1]:443\",result=\"reused\"} 0");
	assert_line(text, "twpool_connects_total{target=\"[::1]:443\",result=\"fresh\"} 11");
	assert_line(text, "twpool_idle_connections{target=\"[::1]:443\"} 0");
	assert_line(text, "twpool_replays_total{target=\"10.0.0.1:6379\",result=\"ok\"} 7");
	assert_line(text, "twpool_replays_total{target=\"10.0.0.1:6379\",result=\"failed\"} 8");
	assert_line(text, "twpool_replays_total{target=\"[::1]:443\",result=\"failed\"} 0");
	char info[96];
	snprintf(info, sizeof(info), "twpool_info{version=\"%s\",pid=\"%d\"} 1", TWPOOL_VERSION, (int)getpid());
	assert_line(text, info);
	free(text);
}

Test(stats, every_discard_reason_present_for_every_target, .init = populate)
{
	char *text = render();
	static const char *const labels[] = { "10.0.0.1:6379", "[::1]:443" };
	for (int t = 0; t < 2; t++)
		for (int r = TWP_R_NONE + 1; r < TWP_R_COUNT; r++) {
			unsigned long long v = 0;
			if (t == 0 && r == TWP_R_OVERFLOW) v = 5;
			if (t == 0 && r == TWP_R_FDLIMIT) v = 6;
			if (t == 1 && r == TWP_R_UNUSED) v = 12;
			char line[160];
			snprintf(line, sizeof(line), TWPOOL_METRIC_DISCARDS "{target=\"%s\",reason=\"%s\"} %llu",
				 labels[t], twp_reason_name((enum twp_reason)r), v);
			assert_line(text, line);
		}
	cr_assert_null(strstr(text, "reason=\"none\""), "the internal 'none' reason is not a metric");
	free(text);
}

Test(stats, no_targets_still_renders_families)
{
	char *text = render();
	cr_assert_not_null(strstr(text, "# TYPE " TWPOOL_METRIC_CONNECTS " counter"), "families without samples");
	cr_assert_null(strstr(text, "target=\""), "no samples without targets");
	free(text);
}

Test(stats, cut_to_small_buffers, .init = populate)
{
	char *full = render();
	size_t need = strlen(full);
	size_t sizes[] = { 1, 2, 10, need / 2, need - 1, need, need + 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t size = sizes[i];
		char *buf = malloc(size + 16);
		cr_assert_not_null(buf, "out of memory");
		memset(buf, '#', size + 16);
		size_t got = twp_stats_render(buf, size);
		cr_assert_eq(got, need, "size %zu: returns the length needed (%zu), got %zu", size, need, got);
		size_t kept = size - 1 < need ? size - 1 : need;
		cr_assert_eq(buf[kept], '\0', "size %zu: NUL-terminated at %zu", size, kept);
		cr_assert(!strncmp(buf, full, kept), "size %zu: the cut text is a prefix of the full text", size);
		for (size_t j = size; j < size + 16; j++)
			cr_assert_eq(buf[j], '#', "size %zu: byte %zu past the buffer written", size, j);
		free(buf);
	}
	free(full);
}

Test(stats, zero_size_writes_nothing, .init = populate)
{
	char c = '#';
	size_t need = twp_stats_render(NULL, 0);
	cr_assert_gt(need, 0, "something to render");
	cr_assert_eq(twp_stats_render(&c, 0), need, "size 0 still returns the needed length");
	cr_assert_eq(c, '#', "size 0: buffer untouched");
}

static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "popen '%s'", cmd);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* prometheus_client strips _total from counter family names. */
#define PARSE_SCRIPT \
	"import sys\n" \
	"from prometheus_client.parser import text_string_to_metric_families as p\n" \
	"for f in p(sys.stdin.read()):\n" \
	"    print(f.name, f.type, len(f.samples))\n"

Test(stats, parses_as_prometheus_text, .init = populate)
{
	char out[2048];
	if (access(PYTHON, X_OK) != 0 ||
	    run(PYTHON " -c 'import prometheus_client' 2>&1", out, sizeof(out)) != 0)
		cr_skip_test("needs " PYTHON " with prometheus_client (apt-get install python3-prometheus-client)");
	char *text = render();
	char path[] = "/tmp/twpool-stats-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp");
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text), "write rendered text");
	close(fd);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), PYTHON " -c '%s' < %s 2>&1", PARSE_SCRIPT, path);
	out[0] = '\n'; /* so that assert_line finds the first line too */
	int rc = run(cmd, out + 1, sizeof(out) - 1);
	unlink(path);
	cr_assert_eq(rc, 0, "prometheus_client rejected the stats text:%s\n--- text ---\n%s", out, text);
	assert_line(out, "twpool_connects counter 4");
	assert_line(out, "twpool_closes counter 4");
	char discards[64];
	snprintf(discards, sizeof(discards), "twpool_discards counter %d", 2 * (TWP_R_COUNT - 1));
	assert_line(out, discards);
	assert_line(out, "twpool_replays counter 4");
	assert_line(out, "twpool_idle_connections gauge 2");
	assert_line(out, "twpool_info gauge 1");
	free(text);
}

/* A fresh directory for the stats file; its path is "<dir>/<name>". */
static char *stats_dir(const char *name)
{
	static char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/twpool-statsdir-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp");
	snprintf(twp_cfg.stats_path, sizeof(twp_cfg.stats_path), "%s/%s", dir, name);
	return dir;
}

/* dir holds exactly the file base, with exactly the rendered text as
 * process pid renders it. */
static void expect_only_file(const char *dir, const char *base, pid_t pid)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, base);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "stats file %s written", path);
	static char got[65536];
	size_t n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	char *mine = render(), *info = strstr(mine, "twpool_info{"), *want = NULL;
	cr_assert_not_null(info, "no twpool_info sample in:\n%s", mine);
	cr_assert_geq(asprintf(&want, "%.*stwpool_info{version=\"%s\",pid=\"%d\"} 1\n",
			       (int)(info - mine), mine, TWPOOL_VERSION, (int)pid), 0, "asprintf");
	cr_assert_str_eq(got, want, "the file holds exactly the rendered text");
	free(mine);
	free(want);
	char cmd[300], out[256], line[80];
	snprintf(cmd, sizeof(cmd), "ls -A %s", dir);
	run(cmd, out, sizeof(out));
	snprintf(line, sizeof(line), "%s\n", base);
	cr_assert_str_eq(out, line, "only the stats file is left (no temp file)");
	unlink(path);
	rmdir(dir);
}

Test(stats, write_expands_pid_and_leaves_no_temp_file, .init = populate)
{
	const char *dir = stats_dir("s-%p.prom");
	twp_stats_touch();
	twp_stats_write(1);
	char base[64];
	snprintf(base, sizeof(base), "s-%d.prom", (int)getpid());
	expect_only_file(dir, base, getpid());
}

/* A process that never matched a target writes nothing, not even at exit:
 * it would replace the file of one that did (issue 10 item 9). */
Test(stats, write_waits_for_a_counter_to_move, .init = populate)
{
	const char *dir = stats_dir("s.prom");
	twp_stats_write(1);
	char path[256];
	snprintf(path, sizeof(path), "%s/s.prom", dir);
	cr_assert_neq(access(path, F_OK), 0, "stats file %s written before any counter moved", path);
	twp_stats_touch();
	twp_stats_write(1);
	expect_only_file(dir, "s.prom", getpid());
}

/* Without /proc an O_TMPFILE cannot be given a name: the writer falls back
 * to an exclusive temporary of a random name, and still leaves nothing
 * behind. /proc is hidden in a child's private mount namespace. */
Test(stats, write_without_proc_uses_a_named_temporary, .init = populate)
{
	const char *dir = stats_dir("s.prom");
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork");
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("none", "/proc", "tmpfs", 0, NULL) < 0)
			_exit(77);
		twp_stats_touch();
		twp_stats_write(1);
		_exit(access("/proc/self/fd", F_OK) == 0 ? 2 : 0);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid, "waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		cr_skip_test("needs root to hide /proc in a private mount namespace");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer child failed (status %#x; 2: /proc still there)", st);
	expect_only_file(dir, "s.prom", pid);
}
