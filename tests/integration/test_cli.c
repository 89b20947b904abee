/* The twpool command (cmd/, built as BUILD/twpool) and its man page:
 * argument checks, the pre-flight (twpool check, warnings, --strict), the
 * environment it execs with, and twpool stat on real stats files written by
 * the shim. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "twpool.h"

static struct h_server srv;

static void tw_up(void)
{
	h_twserver_start(&srv, NULL);
}
static void down(void)
{
	h_server_stop(&srv);
}

#define fmt h_fmt

static char *twpool(void)
{
	return fmt("%s/twpool", h_build());
}

static char *man_page(void)
{
	return fmt("%s/cmd/twpool.1", h_src());
}

/* The library under test, whatever build directory it is in. */
static char *lib(void)
{
	const char *l = getenv("TWPOOL_TEST_LIB");
	return l ? (char *)l : fmt("%s/libtwpool.so", h_build());
}

static char *lib_env(void)
{
	return fmt("TWPOOL_LIB=%s", lib());
}

/* The sanitizer runtimes of the runner's preload value ("" for a plain
 * build): they must stay first in LD_PRELOAD, before the shim. */
static char *san_preload(void)
{
	char *all = strdup(h_preload()), *save = NULL, *out = strdup("");
	for (char *w = strtok_r(all, " :", &save); w; w = strtok_r(NULL, " :", &save)) {
		const char *base = strrchr(w, '/') ? strrchr(w, '/') + 1 : w;
		if (strncmp(base, "libtwpool", 9))
			out = fmt("%s%s%s", out, *out ? " " : "", w);
	}
	return out;
}

/* The default environment for twpool: the library under test, and the
 * sanitizer runtime if any. */
static char **tw_env(void)
{
	static char *env[3];
	env[0] = lib_env();
	env[1] = *san_preload() ? fmt("LD_PRELOAD=%s", san_preload()) : NULL;
	return env;
}

/* The runner's TWPOOL_TEST_* variables are not twpool settings: without
 * them the shim has no unknown TWPOOL_* name to warn about on stderr. */
static const char *const unset_test_vars[] = {
	"/usr/bin/env",    "-u", "TWPOOL_TEST_BUILD",   "-u", "TWPOOL_TEST_LIB",  "-u",
	"TWPOOL_TEST_SRC", "-u", "TWPOOL_TEST_PRELOAD", "-u", "TWPOOL_TEST_KEEP",
};
#define N_UNSET (sizeof(unset_test_vars) / sizeof(unset_test_vars[0]))

/* Runs twpool with args (NULL-terminated); twpool itself is never
 * preloaded. env NULL: tw_env(). */
static void tw_argv(struct h_run *r, char *const env[], char *const args[])
{
	char *argv[N_UNSET + 64];
	size_t n = 0;
	for (; n < N_UNSET; n++)
		argv[n] = (char *)unset_test_vars[n];
	argv[n++] = twpool();
	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(n, N_UNSET + 63, "too many arguments for twpool");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	h_run(r, argv, env ? env : tw_env(), 0, 60);
	cr_assert_not(r->timed_out, "twpool %s timed out; stderr:\n%s", args[0], r->err);
}

static void tw(struct h_run *r, char *const env[], const char *arg, ...)
{
	char *args[64];
	int n = 0;
	va_list ap;
	va_start(ap, arg);
	for (const char *a = arg; a; a = va_arg(ap, const char *)) {
		cr_assert_lt(n, 63, "too many arguments for tw()");
		args[n++] = (char *)a;
	}
	va_end(ap);
	args[n] = NULL;
	tw_argv(r, env, args);
}

/* Replaces path atomically, as the shim does; mtime 0: now. */
static void write_file_at(const char *path, const char *text, time_t mtime)
{
	char *tmp = fmt("%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	cr_assert(f, "cannot create %s", tmp);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	if (mtime) {
		struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
		cr_assert_eq(utimensat(AT_FDCWD, tmp, ts, 0), 0, "utimensat %s", tmp);
	}
	cr_assert_eq(rename(tmp, path), 0, "cannot rename %s", tmp);
}

static void write_file(const char *path, const char *text)
{
	write_file_at(path, text, 0);
}

/* h_tmp(name) holding text, with mode. */
static char *tmp_file(const char *name, const char *text, mode_t mode)
{
	char *path = h_tmp(name);
	write_file(path, text);
	cr_assert_eq(chmod(path, mode), 0, "chmod %o %s", (unsigned)mode, path);
	return path;
}

/* The line of text containing needle, as a new string, or NULL. */
static char *line_with(const char *text, const char *needle)
{
	const char *p = strstr(text, needle);
	if (!p)
		return NULL;
	const char *b = p, *e = strchr(p, '\n');
	while (b > text && b[-1] != '\n')
		b--;
	return strndup(b, e ? (size_t)(e - b) : strlen(b));
}

/* --help, --version, the man page */

/* The variables --help and the man page must document. */
static const char *const settings[] = {
	TWPOOL_ENV_TARGETS,           TWPOOL_ENV_STATS,           TWPOOL_ENV_MAX_IDLE,
	TWPOOL_ENV_IDLE_TIMEOUT_MS,   TWPOOL_ENV_MAX_LIFETIME_MS, TWPOOL_ENV_MAX_USES,
	TWPOOL_ENV_STATS_INTERVAL_MS, TWPOOL_ENV_REPLAY_MAX,      TWPOOL_ENV_LOG,
	TWPOOL_ENV_LOG_FILE,          TWPOOL_ENV_REPLAY,
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

Test(cli, help_documents_usage_and_exit_codes)
{
	struct h_run r;
	tw(&r, NULL, "--help", NULL);
	cr_assert_eq(r.status, 0, "--help exit status %d; stderr:\n%s", r.status, r.err);
	const char *want[] = { "Usage: twpool", "twpool stat", "twpool check", "--strict",
			       "Examples:",     "Exit status", "126",          "127" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(r.out, want[i]), "--help does not mention '%s':\n%s", want[i],
			  r.out);
	for (size_t i = 0; i < N_SETTINGS; i++)
		cr_expect(strstr(r.out, settings[i]), "--help does not mention %s:\n%s",
			  settings[i], r.out);
	h_run_free(&r);
}

Test(cli, version_is_the_header_version)
{
	struct h_run r;
	tw(&r, NULL, "--version", NULL);
	cr_assert_eq(r.status, 0, "--version exit status %d", r.status);
	cr_expect_str_eq(r.out, "twpool " TWPOOL_VERSION "\n",
			 "--version says '%s'; include/twpool.h says " TWPOOL_VERSION, r.out);
	char *man = h_slurp(man_page());
	cr_assert(man, "cmd/twpool.1 is missing");
	cr_expect(strstr(man, "\"twpool " TWPOOL_VERSION "\""),
		  "the .TH line of cmd/twpool.1 does not say twpool " TWPOOL_VERSION);
	free(man);
	h_run_free(&r);
}

Test(cli, man_page_covers_the_contract)
{
	char *man = h_slurp(man_page());
	cr_assert(man, "cmd/twpool.1 is missing");
	for (size_t i = 0; i < N_SETTINGS; i++)
		cr_expect(strstr(man, settings[i]), "cmd/twpool.1 does not mention %s",
			  settings[i]);
	const char *want[] = { TWPOOL_METRIC_CONNECTS, TWPOOL_METRIC_CLOSES, TWPOOL_METRIC_DISCARDS,
			       TWPOOL_METRIC_IDLE,     ".SH EXIT STATUS",    ".SH LIMITATIONS",
			       ".SH EXAMPLES",         "\\-\\-strict",       ".B check" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(man, want[i]), "cmd/twpool.1 does not mention '%s'", want[i]);
	free(man);
}

Test(cli, man_page_renders_without_warnings)
{
	if (access("/usr/bin/groff", X_OK))
		cr_skip_test("groff is not installed");
	char *argv[] = { "/usr/bin/groff", "-man", "-Tutf8", "-ww", "-z", man_page(), NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 30);
	cr_expect_eq(r.status, 0, "groff exit status %d:\n%s", r.status, r.err);
	cr_expect_str_empty(r.err, "groff warns about cmd/twpool.1:\n%s", r.err);
	h_run_free(&r);
}

/* Argument checks: exit 2, and the message names the culprit. */

/* Arrays, not pointers: Criterion copies parameters into the test's
 * process, where a pointer into the runner's memory is worthless. */
struct bad_arg {
	int argc;
	char args[3][32];
	char names[32]; /* the message must contain this */
};

ParameterizedTestParameters(cli, rejects_bad_argument)
{
	static struct bad_arg params[] = {
		{ 2, { "--max-idle", "abc" }, "--max-idle" },
		{ 2, { "--max-idle", "2000" }, "--max-idle" },
		{ 2, { "--idle-timeout", "-5" }, "--idle-timeout" },
		{ 2, { "--max-lifetime", "1e3" }, "--max-lifetime" },
		{ 2, { "--max-uses", "" }, "--max-uses" },
		{ 2, { "--stats-interval", "5" }, "--stats-interval" },
		{ 2, { "-t", "127.0.0.1" }, "127.0.0.1" },
		{ 2, { "-t", "::1:6379" }, "::1:6379" },
		{ 2, { "-t", "[::1]:0" }, "[::1]:0" },
		{ 2, { "-t", "[nope]:80" }, "[nope]:80" },
		{ 2, { "-t", "1.2.3:80" }, "1.2.3:80" },
		{ 2, { "-t", "127.0.0.1:1,host:70000" }, "host:70000" },
		{ 2, { "--target", "*:" }, "*:" },
		{ 2, { "-l", "loud" }, "loud" },
		{ 1, { "--bogus" }, "--bogus" },
		{ 2, { "-s", "" }, "-s" },
		{ 2, { "-t", "127.0.0.1:1" }, "COMMAND" }, /* and nothing to run */
	};
	return cr_make_param_array(struct bad_arg, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_arg *b, cli, rejects_bad_argument)
{
	char *args[8];
	int n = 0;
	for (int i = 0; i < b->argc; i++)
		args[n++] = (char *)b->args[i];
	if (strcmp(b->names, "COMMAND"))
		args[n++] = "/bin/true";
	args[n] = NULL;
	struct h_run r;
	tw_argv(&r, NULL, args);
	cr_expect_eq(r.status, 2, "twpool %s %s: exit status %d, want 2; stderr:\n%s", b->args[0],
		     b->args[1], r.status, r.err);
	cr_expect(strstr(r.err, b->names), "twpool %s %s: the message does not name '%s':\n%s",
		  b->args[0], b->args[1], b->names, r.err);
	cr_expect(strstr(r.err, "--help"), "no usage hint after the error:\n%s", r.err);
	h_run_free(&r);
}

Test(cli, rejects_bad_inherited_variable)
{
	char *env[] = { "TWPOOL_MAX_IDLE=lots", tw_env()[0], tw_env()[1], NULL };
	struct h_run r;
	tw(&r, env, "-t", "127.0.0.1:1", "/bin/true", NULL);
	cr_expect_eq(r.status, 2, "exit status %d, want 2", r.status);
	cr_expect(strstr(r.err, "TWPOOL_MAX_IDLE") && strstr(r.err, "lots"),
		  "the message does not name TWPOOL_MAX_IDLE and its value:\n%s", r.err);
	h_run_free(&r);

	/* ... unless an option overrides it. */
	tw(&r, env, "--max-idle", "3", "-t", "127.0.0.1:1", "/bin/true", NULL);
	cr_expect_eq(r.status, 0, "exit status %d with --max-idle overriding; stderr:\n%s",
		     r.status, r.err);
	h_run_free(&r);
}

/* /auto and --replay, judged by the library's parser. Before them: '/auto'
 * was an unknown protocol and --replay an unknown option. */
Test(cli, takes_auto_targets_and_replay_modes)
{
	struct h_run r;
	tw(&r, tw_env(), "--replay", "off", "-t", "127.0.0.1:1/auto,127.0.0.1:2", "/usr/bin/env",
	   NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	char *l = line_with(r.out, "TWPOOL_REPLAY=");
	cr_expect(l && !strcmp(l, "TWPOOL_REPLAY=off"), "TWPOOL_REPLAY passed on:\n%s", r.out);
	free(l);
	l = line_with(r.out, "TWPOOL_TARGETS=");
	cr_expect(l && !strcmp(l, "TWPOOL_TARGETS=127.0.0.1:1/auto,127.0.0.1:2"),
		  "targets passed on:\n%s", r.out);
	free(l);
	h_run_free(&r);
	tw(&r, tw_env(), "--replay", "saf", "-t", "127.0.0.1:1", "/bin/true", NULL);
	cr_expect_eq(r.status, 2, "a bad mode is a usage error: status %d", r.status);
	cr_expect(strstr(r.err, "--replay") && strstr(r.err, "did you mean safe?"),
		  "the message names the option and the near value:\n%s", r.err);
	h_run_free(&r);
}

Test(cli, leaves_unknown_variables_to_the_shim)
{
	char *env[] = { "TWPOOL_NOT_A_SETTING=1", tw_env()[0], tw_env()[1], NULL };
	struct h_run r;
	tw(&r, env, "-t", "127.0.0.1:1", "/usr/bin/env", NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	cr_expect(strstr(r.out, "TWPOOL_NOT_A_SETTING=1\n"), "the variable was not passed on:\n%s",
		  r.out);
	h_run_free(&r);
}

/* COMMAND lookup and refusals */

Test(cli, command_not_found_is_127)
{
	struct h_run r;
	tw(&r, NULL, "-t", "127.0.0.1:1", "twpool-no-such-command", NULL);
	cr_expect_eq(r.status, 127, "exit status %d, want 127", r.status);
	cr_expect(strstr(r.err, "twpool-no-such-command"), "message does not name the command:\n%s",
		  r.err);
	h_run_free(&r);
}

Test(cli, command_not_executable_is_126)
{
	char *path = tmp_file("not-executable", "#!/bin/sh\nexit 0\n", 0644);
	struct h_run r;
	tw(&r, NULL, "-t", "127.0.0.1:1", path, NULL);
	cr_expect_eq(r.status, 126, "exit status %d, want 126; stderr:\n%s", r.status, r.err);
	h_run_free(&r);
}

/* The pre-flight: what keeps the shim out of a program. Run as root, the
 * loader honours LD_PRELOAD for a setuid program owned by root (no
 * privilege is gained: the kernel sets no AT_SECURE), and ignores it for
 * one that is setuid or setgid to another user. */

/* A copy of src at h_tmp(name), owned by uid:gid, with mode. */
static char *copy_as(const char *name, const char *src, uid_t uid, gid_t gid, mode_t mode)
{
	char *path = h_tmp(name);
	char *cp = fmt("cp '%s' '%s'", src, path);
	cr_assert_eq(system(cp), 0, "%s failed", cp);
	cr_assert_eq(chown(path, uid, gid), 0, "chown %u:%u %s", (unsigned)uid, (unsigned)gid,
		     path);
	cr_assert_eq(chmod(path, mode), 0, "chmod %o %s", (unsigned)mode, path); /* after chown */
	return path;
}

#define NOBODY 65534 /* uid of nobody, gid of nogroup on Debian */

static void need_root(void)
{
	if (getuid() != 0)
		cr_skip_test("needs root: set-id copies owned by another user");
}

/* A statically linked program that exits with status, or a skipped test. */
static char *static_prog(const char *name, int status)
{
	char *src = h_tmp(fmt("%s.c", name)), *bin = h_tmp(name);
	write_file(src, fmt("int main(void) { return %d; }\n", status));
	char *cc = fmt("cc -static -o '%s' '%s' 2>/dev/null", bin, src);
	if (system(cc) != 0)
		cr_skip_test("no static libc to build a static program with");
	struct h_run r;
	char *argv[] = { bin, NULL };
	h_run(&r, argv, NULL, 0, 30);
	cr_assert_eq(r.status, status, "the static program itself does not run");
	h_run_free(&r);
	return bin;
}

/* twpool-client, or in a sanitizer build a plain copy of it: a sanitizer
 * runtime in a program that starts setuid to another user cannot read its
 * options (the process is not dumpable) and dies in its leak checker. */
static char *plain_client(void)
{
	if (!*san_preload())
		return fmt("%s/twpool-client", h_build());
	char *bin = h_tmp("plain-client");
	char *cc = fmt("cc -std=gnu11 -D_GNU_SOURCE -O1 -o '%s' '%s/tests/progs/twpool-client.c' "
		       "-lpthread",
		       bin, h_src());
	cr_assert_eq(system(cc), 0, "%s failed", cc);
	return bin;
}

/* Runs 50 cycles of client (a copy of twpool-client) through twpool
 * against srv with opt ("" for none); returns the connections the server
 * accepted for them. */
static long client_through_twpool(struct h_run *r, const char *opt, const char *client)
{
	long before = h_twserver_accepted(&srv);
	char *target = fmt("127.0.0.1:%d", srv.port), *port = fmt("%d", srv.port);
	if (*opt)
		tw(r, NULL, opt, "-t", target, "--", client, "-p", port, "-n", "50", NULL);
	else
		tw(r, NULL, "-t", target, "--", client, "-p", port, "-n", "50", NULL);
	return h_twserver_accepted(&srv) - before;
}

Test(cli, setuid_to_another_user_runs_unpooled_with_a_warning, .init = tw_up, .fini = down,
     .timeout = 90)
{
	need_root();
	const mode_t modes[] = { 04755, 02755 };
	for (int i = 0; i < 2; i++) {
		char *client = copy_as(i ? "sgid-client" : "suid-client", plain_client(),
				       i ? 0 : NOBODY, i ? NOBODY : 0, modes[i]);
		const char *kind = i ? "setgid" : "setuid";
		struct h_run r;
		long accepted = client_through_twpool(&r, "", client);
		cr_expect_eq(r.status, 0,
			     "%s client: exit status %d, want 0 (run, unpooled); "
			     "stderr:\n%s",
			     kind, r.status, r.err);
		cr_expect(strstr(r.err, "warning:") && strstr(r.err, kind) &&
				  strstr(r.err, "LD_PRELOAD") &&
				  strstr(r.err, "running it without pooling"),
			  "%s client: no one-line warning saying why:\n%s", kind, r.err);
		cr_expect_geq(accepted, 50,
			      "%s client: the server accepted %ld connections for 50 "
			      "cycles: it cannot have been pooled",
			      kind, accepted);
		h_run_free(&r);

		accepted = client_through_twpool(&r, "--strict", client);
		cr_expect_eq(r.status, 2, "--strict, %s client: exit status %d, want 2", kind,
			     r.status);
		cr_expect(strstr(r.err, kind) && strstr(r.err, "so nothing would be pooled"),
			  "--strict: the refusal does not say why:\n%s", r.err);
		cr_expect_eq(accepted, 0, "--strict: the refused client ran (%ld connections)",
			     accepted);
		h_run_free(&r);
	}
}

Test(cli, setuid_run_by_its_owner_is_pooled, .init = tw_up, .fini = down, .timeout = 90)
{
	need_root();
	char *client = copy_as("suid-root-client", fmt("%s/twpool-client", h_build()), 0, 0, 04755);
	struct h_run r;
	long accepted = client_through_twpool(&r, "--strict", client);
	cr_expect_eq(r.status, 0, "root running its own setuid client: exit status %d; stderr:\n%s",
		     r.status, r.err);
	cr_expect_leq(accepted, 3,
		      "the server accepted %ld connections for 50 cycles: the shim "
		      "was not preloaded",
		      accepted);
	cr_expect(!strstr(r.err, "warning"), "a warning for a program that is pooled:\n%s", r.err);
	h_run_free(&r);
}

Test(cli, static_binary_runs_unpooled_with_a_warning)
{
	char *bin = static_prog("static-prog", 3);
	struct h_run r;
	tw(&r, NULL, "-t", "127.0.0.1:1", bin, NULL);
	cr_expect_eq(r.status, 3, "exit status %d, want the program's 3; stderr:\n%s", r.status,
		     r.err);
	cr_expect(strstr(r.err, "warning:") && strstr(r.err, "statically linked") &&
			  strstr(r.err, "running it without pooling"),
		  "no warning saying why:\n%s", r.err);
	h_run_free(&r);

	tw(&r, NULL, "--strict", "-t", "127.0.0.1:1", bin, NULL);
	cr_expect_eq(r.status, 2, "--strict: exit status %d, want 2; stderr:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, "statically linked") && strstr(r.err, "so nothing would be pooled"),
		  "--strict: the refusal does not say why:\n%s", r.err);
	h_run_free(&r);
}

/* twpool check COMMAND: the verdict in the exit status and the last line. */
static void check(struct h_run *r, int want, const char *command, const char *needle)
{
	tw(r, NULL, "check", command, NULL);
	cr_expect_eq(r->status, want,
		     "twpool check %s: exit status %d, want %d; stdout:\n%s"
		     "stderr:\n%s",
		     command, r->status, want, r->out, r->err);
	cr_expect(strstr(r->out, needle) || strstr(r->err, needle),
		  "twpool check %s does not say '%s':\n%s%s", command, needle, r->out, r->err);
	if (want == 0 || want == 1)
		cr_expect(strstr(r->out, want ? "pooling will not reach" : "pooling will reach"),
			  "twpool check %s: no verdict line:\n%s", command, r->out);
}

Test(cli, check_dynamic_missing_and_unexecutable)
{
	struct h_run r;
	check(&r, 0, "true", "dynamically linked");
	h_run_free(&r);
	check(&r, 127, "twpool-no-such-command", "twpool-no-such-command");
	h_run_free(&r);
	char *path = tmp_file("check-not-executable", "#!/bin/sh\nexit 0\n", 0644);
	check(&r, 126, path, "permission denied");
	h_run_free(&r);

	char *env[] = { "TWPOOL_LIB=/nonexistent/libtwpool.so", tw_env()[1], NULL };
	tw(&r, env, "check", "/bin/true", NULL);
	cr_expect_eq(r.status, 1, "no library: exit status %d, want 1", r.status);
	cr_expect(strstr(r.out, "library not found"), "no library: not said:\n%s", r.out);
	h_run_free(&r);
}

Test(cli, check_static_and_go_binaries)
{
	struct h_run r;
	char *bin = static_prog("check-static", 0);
	check(&r, 1, bin, "statically linked");
	h_run_free(&r);

	/* A Go binary links statically, or dynamically with cgo; either way
	 * its runtime makes the system calls itself. Go-like: a C program with
	 * the section every Go binary has. */
	char *info = h_tmp("buildinfo"), *go = h_tmp("go-like"), *go_static = h_tmp("go-static");
	write_file(info, "\xff Go buildinf:");
	const char *srcs[] = { "/bin/true", bin };
	const char *dsts[] = { go, go_static };
	for (int i = 0; i < 2; i++) {
		char *cmd = fmt("objcopy --add-section .go.buildinfo='%s' '%s' '%s'", info, srcs[i],
				dsts[i]);
		cr_assert_eq(system(cmd), 0, "%s failed", cmd);
		cr_assert_eq(chmod(dsts[i], 0755), 0);
	}
	check(&r, 1, go, "is a Go program");
	cr_expect(!strstr(r.out, "statically linked"),
		  "the dynamic Go-like binary is called "
		  "static:\n%s",
		  r.out);
	h_run_free(&r);
	check(&r, 1, go_static, "is a Go program");
	cr_expect(strstr(r.out, "statically linked"), "static Go-like: not said:\n%s", r.out);
	h_run_free(&r);
}

Test(cli, check_setuid_and_setgid)
{
	need_root();
	struct h_run r;
	char *own = copy_as("check-suid-root", "/bin/true", 0, 0, 04755);
	check(&r, 0, own, "setuid");
	h_run_free(&r);
	char *other = copy_as("check-suid-nobody", "/bin/true", NOBODY, 0, 04755);
	check(&r, 1, other, "setuid");
	cr_expect(strstr(r.out, "LD_PRELOAD"), "no reason given:\n%s", r.out);
	h_run_free(&r);
	char *group = copy_as("check-sgid-nogroup", "/bin/true", 0, NOBODY, 02755);
	check(&r, 1, group, "setgid");
	h_run_free(&r);
}

/* Capabilities put the loader in secure mode for everyone but root. */
Test(cli, check_file_capabilities)
{
	need_root();
	if (access("/usr/sbin/setcap", X_OK) || access("/usr/bin/setpriv", X_OK))
		cr_skip_test("setcap or setpriv is not installed");
	char *dir = h_tmp("caps");
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(chmod(h_tmp(""), 0755), 0, "nobody must reach the file");
	char *path = fmt("%s/true-caps", dir);
	cr_assert_eq(system(fmt("cp /bin/true '%s' && /usr/sbin/setcap cap_net_raw+ep '%s'", path,
				path)),
		     0, "cannot give %s a capability", path);
	struct h_run r;
	check(&r, 0, path, "file capabilities");
	h_run_free(&r);

	char *argv[] = { "/usr/bin/setpriv",
			 "--reuid=65534",
			 "--regid=65534",
			 "--clear-groups",
			 twpool(),
			 "check",
			 path,
			 NULL };
	h_run(&r, argv, tw_env(), 0, 30);
	cr_expect_eq(r.status, 1, "as nobody: exit status %d, want 1; stdout:\n%s\nstderr:\n%s",
		     r.status, r.out, r.err);
	cr_expect(strstr(r.out, "file capabilities") && strstr(r.out, "LD_PRELOAD"),
		  "as nobody: no reason given:\n%s", r.out);
	h_run_free(&r);
}

Test(cli, check_scripts_follow_their_interpreter)
{
	struct h_run r;
	char *sh = tmp_file("check-sh", "#!/bin/sh\nexit 0\n", 0755);
	check(&r, 0, sh, "/bin/sh");
	h_run_free(&r);

	char *bin = static_prog("static-interp", 0);
	char *st = tmp_file("check-static-interp", fmt("#!%s -x\n", bin), 0755);
	check(&r, 1, st, "statically linked");
	h_run_free(&r);

	/* #!/usr/bin/env NAME: NAME, found in PATH, is what runs. */
	char *envd = tmp_file("check-env", "#!/usr/bin/env static-interp\n", 0755);
	char *env[] = { fmt("PATH=%s:/usr/bin:/bin", h_tmp("")), tw_env()[0], tw_env()[1], NULL };
	tw(&r, env, "check", envd, NULL);
	cr_expect_eq(r.status, 1, "env script: exit status %d, want 1:\n%s", r.status, r.out);
	cr_expect(strstr(r.out, "statically linked") && strstr(r.out, bin),
		  "env script: the static program it runs is not named:\n%s", r.out);
	h_run_free(&r);

	char *gone = tmp_file("check-no-interp", "#!/nonexistent/interpreter\n", 0755);
	check(&r, 127, gone, "/nonexistent/interpreter");
	h_run_free(&r);
}

Test(cli, runs_scripts_and_returns_their_status)
{
	char *path = tmp_file("script.sh", "#!/bin/sh\necho \"ppid $PPID\"\nexit 7\n", 0755);
	struct h_run r;
	tw(&r, NULL, "-t", "127.0.0.1:1", "--", path, NULL);
	cr_expect_eq(r.status, 7, "exit status %d, want the script's 7; stderr:\n%s", r.status,
		     r.err);
	/* exec, not fork: the script's parent is whoever started twpool. */
	long ppid = -1;
	cr_expect(sscanf(r.out, "ppid %ld", &ppid) == 1 && ppid != -1, "no ppid line:\n%s", r.out);
	cr_expect_eq(ppid, (long)getpid(),
		     "the script's parent is %ld, not the test (%ld): twpool "
		     "did not exec",
		     ppid, (long)getpid());
	h_run_free(&r);
}

Test(cli, warns_when_nothing_is_pooled)
{
	struct h_run r;
	tw(&r, NULL, "/bin/true", NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, "nothing will be pooled"), "no warning without a target:\n%s",
		  r.err);
	h_run_free(&r);
}

/* The environment COMMAND gets */

Test(cli, passes_settings_in_the_environment)
{
	char *san = san_preload();
	char *env[] = { lib_env(), fmt("LD_PRELOAD=%s%slibm.so.6", san, *san ? " " : ""),
			"TWPOOL_MAX_USES=7", "TWPOOL_IDLE_TIMEOUT_MS=100", NULL };
	/* A relative stats path, from a directory of the test's own. */
	char *dir = h_tmp("cwd");
	cr_assert(mkdir(dir, 0755) == 0 && chdir(dir) == 0, "cannot make and enter %s", dir);
	struct h_run r;
	tw(&r, env, "-t", "127.0.0.1:6379", "--target", "[::1]:6380,*:11211", "-s", "rel-%p.prom",
	   "--max-idle", "3", "--idle-timeout", "2500", "--max-lifetime", "60000",
	   "--stats-interval", "50", "--log", "info", "--log-file", "/dev/null", "/usr/bin/env",
	   NULL);
	cr_assert_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);

	char *preload = line_with(r.out, "LD_PRELOAD=");
	cr_assert(preload, "no LD_PRELOAD in the environment:\n%s", r.out);
	char *want = fmt("LD_PRELOAD=%s%s%s libm.so.6", san, *san ? " " : "", lib());
	cr_expect_str_eq(preload, want,
			 "the shim must come first (after a sanitizer runtime), "
			 "the old LD_PRELOAD after it");

	char cwd[4096];
	cr_assert(getcwd(cwd, sizeof(cwd)));
	const char *lines[] = {
		"TWPOOL_TARGETS=127.0.0.1:6379,[::1]:6380,*:11211",
		fmt("TWPOOL_STATS=%s/rel-%%p.prom", cwd), /* made absolute */
		"TWPOOL_MAX_IDLE=3",
		"TWPOOL_IDLE_TIMEOUT_MS=2500", /* the option beats the inherited value */
		"TWPOOL_MAX_LIFETIME_MS=60000",
		"TWPOOL_MAX_USES=7", /* inherited, kept */
		"TWPOOL_STATS_INTERVAL_MS=50",
		"TWPOOL_LOG=info",
		"TWPOOL_LOG_FILE=/dev/null",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char *l = line_with(r.out, lines[i]);
		cr_expect(l && !strcmp(l, lines[i]), "want the line %s in:\n%s", lines[i], r.out);
		free(l);
	}
	h_run_free(&r);
}

Test(cli, verbose_sets_debug)
{
	struct h_run r;
	tw(&r, NULL, "-v", "-t", "127.0.0.1:1", "/usr/bin/env", NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	char *l = line_with(r.out, "TWPOOL_LOG=");
	cr_expect(l && !strcmp(l, "TWPOOL_LOG=debug"), "-v: want TWPOOL_LOG=debug, got %s", l);
	cr_expect(strstr(r.err, "/usr/bin/env"), "-v does not show what it runs:\n%s", r.err);
	h_run_free(&r);
}

Test(cli, broker_flag_sets_the_broker)
{
	const char *cases[][2] = { { "--broker", "TWPOOL_BROKER=auto" },
				   { "--broker=/run/tw/b.sock", "TWPOOL_BROKER=/run/tw/b.sock" } };
	for (size_t i = 0; i < 2; i++) {
		struct h_run r;
		tw(&r, NULL, cases[i][0], "-t", "127.0.0.1:1", "/usr/bin/env", NULL);
		cr_expect_eq(r.status, 0, "%s: exit status %d; stderr:\n%s", cases[i][0], r.status,
			     r.err);
		char *l = line_with(r.out, "TWPOOL_BROKER=");
		cr_expect(l && !strcmp(l, cases[i][1]), "%s: want %s, got %s", cases[i][0],
			  cases[i][1], l);
		free(l);
		h_run_free(&r);
	}
}

/* Nothing but the settings is added: no stray variables. */
Test(cli, adds_nothing_else_to_the_environment)
{
	char *san = san_preload();
	char *san_env = *san ? fmt("LD_PRELOAD=%s", san) : "PATH=/usr/bin:/bin";
	char *argv[] = { "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", lib_env(),      san_env,
			 twpool(),       "-t", "127.0.0.1:1",        "/usr/bin/env", NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 30);
	cr_assert_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	/* An LD_PRELOAD already set keeps its place in the environment. */
	char *preload = fmt("LD_PRELOAD=%s%s%s\n", san, *san ? " " : "", lib());
	char *want = fmt("PATH=/usr/bin:/bin\n%s\n%sTWPOOL_TARGETS=127.0.0.1:1\n%s", lib_env(),
			 *san ? preload : "", *san ? "" : preload);
	cr_expect_str_eq(r.out, want, "environment of COMMAND under env -i");
	h_run_free(&r);
}

/* Ignored signals survive exec: twpool must leave COMMAND's as it found
 * them (the Python twpool ignored SIGPIPE and SIGXFSZ). */
Test(cli, leaves_no_signal_ignored)
{
	char *argv[] = { "/bin/grep", "^SigIgn:", "/proc/self/status", NULL };
	struct h_run direct, r;
	h_run(&direct, argv, NULL, 0, 30);
	tw(&r, NULL, "-t", "127.0.0.1:1", "/bin/grep", "^SigIgn:", "/proc/self/status", NULL);
	cr_assert_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	cr_expect_str_eq(r.out, direct.out, "COMMAND under twpool ignores other signals");
	h_run_free(&direct);
	h_run_free(&r);
}

/* An installed twpool finds the library under the LIBDIR it was built
 * with; a copy built for a temporary prefix shows it. */
Test(cli, installed_copy_finds_the_installed_library, .timeout = 180)
{
	char *prefix = h_tmp("prefix"), *build = h_tmp("build");
	char *cmd = fmt("make -s -C '%s' BUILD='%s' LIBDIR='%s/lib' CFLAGS=-O0 '%s/twpool' >&2 && "
			"mkdir -p '%s/bin' '%s/lib' && cp '%s' '%s/lib/libtwpool.so.0' && "
			"cp '%s/twpool' '%s/bin/twpool'",
			h_src(), build, prefix, build, prefix, prefix, lib(), prefix, build,
			prefix);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	char *argv[N_UNSET + 8];
	size_t n = 0;
	for (; n < N_UNSET; n++)
		argv[n] = (char *)unset_test_vars[n];
	char *tail[] = { "-u", "TWPOOL_LIB",  fmt("%s/bin/twpool", prefix),
			 "-t", "127.0.0.1:1", "/usr/bin/env",
			 NULL };
	memcpy(argv + n, tail, sizeof(tail));
	char *san = san_preload();
	char *env[] = { *san ? fmt("LD_PRELOAD=%s", san) : NULL, NULL };
	struct h_run r;
	h_run(&r, argv, env, 0, 30);
	cr_assert_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	char *l = line_with(r.out, "LD_PRELOAD=");
	char *want = fmt("LD_PRELOAD=%s%s%s/lib/libtwpool.so.0", san, *san ? " " : "", prefix);
	cr_expect(l && !strcmp(l, want), "installed twpool preloads %s, want %s", l, want);
	h_run_free(&r);
}

/* End to end: the client through twpool, the stats file, twpool stat */

/* Runs 200 cycles of twpool-client through twpool against srv; returns the
 * stats file it wrote. */
static char *pooled_client_run(const char *name)
{
	char *stats = h_tmp(name);
	char *port = fmt("%d", srv.port);
	struct h_run r;
	tw(&r, NULL, "-t", fmt("127.0.0.1:%d", srv.port), "-s", stats, "--",
	   fmt("%s/twpool-client", h_build()), "-p", port, "-n", "200", NULL);
	cr_assert_eq(r.status, 0, "twpool-client under twpool: exit status %d\n%s\n%s", r.status,
		     r.out, r.err);
	h_run_free(&r);
	return stats;
}

Test(cli, end_to_end_client_reuses_connections, .init = tw_up, .fini = down, .timeout = 90)
{
	char *stats = pooled_client_run("e2e.prom");
	long accepted = h_twserver_accepted(&srv);
	cr_expect_leq(accepted, 3, "the server accepted %ld connections for 200 cycles", accepted);

	char *text = h_slurp(stats);
	cr_assert(text, "no stats file %s", stats);
	char *label = fmt("target=\"127.0.0.1:%d\",result=\"reused\"", srv.port);
	double reused = h_prom(text, TWPOOL_METRIC_CONNECTS, label);
	cr_expect_geq(reused, 190, "stats file: %.0f reused connects, want >= 190:\n%s", reused,
		      text);

	struct h_run r;
	tw(&r, NULL, "stat", stats, NULL);
	cr_assert_eq(r.status, 0, "twpool stat: exit status %d; stderr:\n%s", r.status, r.err);
	char *target = fmt("127.0.0.1:%d", srv.port);
	char *row = line_with(r.out, target);
	cr_assert(row, "twpool stat shows no row for %s:\n%s", target, r.out);
	char name[128];
	long shown = -1;
	cr_expect(sscanf(row, " %127s %ld", name, &shown) == 2 && shown == (long)reused,
		  "the row shows %ld reused, the file says %.0f:\n%s", shown, reused, r.out);
	cr_expect(strstr(r.out, "REUSED") && strstr(r.out, "REUSE%"), "no table header:\n%s",
		  r.out);
	h_run_free(&r);
}

Test(cli, stats_file_parses_with_prometheus_client, .init = tw_up, .fini = down, .timeout = 90)
{
	char *stats = pooled_client_run("prom.prom");
	const char *script =
		"import sys\n"
		"from prometheus_client.parser import text_string_to_metric_families\n"
		"names = set()\n"
		"for family in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
		"    names.update(s.name for s in family.samples)\n"
		"print(' '.join(sorted(names)))\n";
	char *argv[] = { "/usr/bin/python3", "-c", (char *)script, stats, NULL };
	struct h_run r;
	h_run(&r, argv, NULL, 0, 30);
	cr_assert_eq(r.status, 0, "prometheus_client rejects %s:\n%s", stats, r.err);
	const char *want[] = { TWPOOL_METRIC_CONNECTS, TWPOOL_METRIC_CLOSES, TWPOOL_METRIC_DISCARDS,
			       TWPOOL_METRIC_IDLE, "twpool_info" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(r.out, want[i]), "prometheus_client found no %s; it found: %s",
			  want[i], r.out);
	h_run_free(&r);
}

/* twpool stat on files written here */

static const char *canned =
	"# HELP twpool_connects_total Connections handed to the program by connect(), by result.\n"
	"# TYPE twpool_connects_total counter\n"
	"twpool_connects_total{target=\"127.0.0.1:6379\",result=\"reused\"} %ld\n"
	"twpool_connects_total{target=\"127.0.0.1:6379\",result=\"fresh\"} %ld\n"
	"twpool_closes_total{target=\"127.0.0.1:6379\",result=\"parked\"} %ld\n"
	"twpool_closes_total{target=\"127.0.0.1:6379\",result=\"closed\"} 1\n"
	"twpool_discards_total{target=\"127.0.0.1:6379\",reason=\"unused\"} 1\n"
	"twpool_discards_total{target=\"127.0.0.1:6379\",reason=\"eof\"} 0\n"
	"twpool_idle_connections{target=\"127.0.0.1:6379\"} 2\n"
	"twpool_replays_total{target=\"127.0.0.1:6379\",result=\"ok\"} 3\n"
	"twpool_connects_total{target=\"odd\\\"name\\\\:1\",result=\"fresh\"} 4\n"
	"twpool_info{version=\"0.1.0\",pid=\"1234\"} 1\n";

static char *canned_text(long reused, long fresh, long parked)
{
	return fmt(canned, reused, fresh, parked);
}

Test(cli, stat_shows_every_metric)
{
	char *path = h_tmp("canned.prom");
	write_file(path, canned_text(299, 1, 299));
	struct h_run r;
	tw(&r, NULL, "stat", path, NULL);
	cr_assert_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	char *row = line_with(r.out, "127.0.0.1:6379 ");
	cr_assert(row, "no row for the target:\n%s", r.out);
	const char *want[] = { "299", "99.7%", "unused=1" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(row, want[i]), "the row lacks %s: %s", want[i], row);
	cr_expect(!strstr(row, "eof="), "a zero discard reason is shown: %s", row);
	cr_expect(strstr(r.out, "replays") && strstr(r.out, "ok=3"), "extra metric not shown:\n%s",
		  r.out);
	cr_expect(strstr(r.out, "odd\"name\\:1"), "escaped label value not decoded:\n%s", r.out);
	cr_expect(strstr(r.out, "pid 1234"), "twpool_info not shown:\n%s", r.out);
	h_run_free(&r);
}

Test(cli, stat_errors_name_the_file)
{
	char *missing = h_tmp("missing.prom"), *bad = h_tmp("bad.prom");
	write_file(bad, "twpool_connects_total{target=\"a:1\",result=\"reused\" 3\n");
	struct h_run r;
	tw(&r, NULL, "stat", missing, NULL);
	cr_expect_eq(r.status, 1, "missing file: exit status %d, want 1", r.status);
	cr_expect(strstr(r.err, missing), "the message does not name %s:\n%s", missing, r.err);
	h_run_free(&r);

	tw(&r, NULL, "stat", bad, NULL);
	cr_expect_eq(r.status, 1, "malformed file: exit status %d, want 1", r.status);
	cr_expect(strstr(r.err, bad) && strstr(r.err, "line 1"),
		  "the message does not name %s "
		  "and the line:\n%s",
		  bad, r.err);
	h_run_free(&r);

	tw(&r, NULL, "stat", NULL); /* no argument: the host-wide stats (test_hoststats.c) */
	cr_expect_eq(r.status, 0, "no argument: exit status %d, want 0; stderr:\n%s", r.status, r.err);
	cr_expect(strstr(r.out, "host-wide"), "no argument shows the host:\n%s", r.out);
	h_run_free(&r);
}

/* Only a file with twpool_ samples is a stats file; an empty one is not
 * (the library replaces its file whole, never leaves it empty). */
Test(cli, stat_says_when_a_file_is_not_a_stats_file)
{
	const char *texts[] = { "", "# HELP x A metric.\nx_total{a=\"1\"} 3\nup 1\n",
				"root:x:0:0:root:/root:/bin/bash\n" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *path = h_tmp(fmt("foreign-%zu.prom", i));
		write_file(path, texts[i]);
		struct h_run r;
		tw(&r, NULL, "stat", path, NULL);
		cr_expect_eq(r.status, 1, "%s: exit status %d, want 1; stdout:\n%s", path, r.status,
			     r.out);
		cr_expect(strstr(r.err, path) && strstr(r.err, "not a twpool stats file"),
			  "%s: the message does not say so:\n%s", path, r.err);
		h_run_free(&r);
	}
	/* A program that has pooled nothing yet still writes twpool_info. */
	char *idle = h_tmp("idle.prom");
	write_file(idle, "twpool_info{version=\"0.1.0\",pid=\"7\"} 1\n");
	struct h_run r;
	tw(&r, NULL, "stat", idle, NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	cr_expect(strstr(r.out, "no pooled connections yet"), "idle file:\n%s", r.out);
	h_run_free(&r);
}

/* Starts /bin/sleep with env; posix_spawn returns once it has exec'd. */
static pid_t spawn_sleeper(char *const env[])
{
	pid_t pid;
	char *argv[] = { "/bin/sleep", "60", NULL };
	cr_assert_eq(posix_spawn(&pid, argv[0], NULL, NULL, argv, env), 0, "posix_spawn sleep");
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

Test(cli, stat_finds_the_file_of_a_pid)
{
	char *pattern = h_tmp("bypid-%p.prom");
	char *env[] = { fmt("TWPOOL_STATS=%s", pattern), NULL };
	pid_t pid = spawn_sleeper(env);
	char *path = h_tmp(fmt("bypid-%d.prom", (int)pid));
	write_file(path, canned_text(10, 2, 10));

	struct h_run r;
	tw(&r, NULL, "stat", fmt("%d", (int)pid), NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	cr_expect(strstr(r.out, path) && strstr(r.out, "127.0.0.1:6379"),
		  "twpool stat %d does not show %s:\n%s", (int)pid, path, r.out);
	h_run_free(&r);
	reap(pid);

	char *none[] = { "NOTHING=here", NULL };
	pid = spawn_sleeper(none);
	tw(&r, NULL, "stat", fmt("%d", (int)pid), NULL);
	cr_expect_eq(r.status, 1, "a process without TWPOOL_STATS: exit status %d, want 1",
		     r.status);
	cr_expect(strstr(r.err, "TWPOOL_STATS"), "the message does not say why:\n%s", r.err);
	h_run_free(&r);
	reap(pid);
}

/* Output of a child, read as it comes. */
struct pipe_out {
	int fd;
	size_t len, cap;
	char *buf;
};

/* Reads until needle appears at or after offset from, or EOF, or
 * timeout_ms; returns whether it appeared. */
static int read_until(struct pipe_out *o, size_t from, const char *needle, int timeout_ms)
{
	struct timespec start, t;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		o->buf[o->len] = '\0';
		if (needle && strstr(o->buf + from, needle))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = timeout_ms - ((t.tv_sec - start.tv_sec) * 1000 +
					  (t.tv_nsec - start.tv_nsec) / 1000000);
		struct pollfd pfd = { .fd = o->fd, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return 0;
		if (o->len + 4096 >= o->cap) {
			o->cap *= 2;
			o->buf = realloc(o->buf, o->cap);
			cr_assert(o->buf, "realloc");
		}
		ssize_t n = read(o->fd, o->buf + o->len, o->cap - o->len - 1);
		if (n <= 0)
			return 0;
		o->len += (size_t)n;
	}
}

/* -w waits for a missing file, shows rates between two versions of it, and
 * exits 0 on Ctrl-C. */
Test(cli, stat_watch_waits_shows_rates_and_quits_on_sigint, .timeout = 60)
{
	char *path = h_tmp("watch.prom");
	unlink(path);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		signal(SIGINT, SIG_DFL); /* the runner may ignore it; the test needs it */
		execl(twpool(), twpool(), "stat", "-w", "-i", "0.1", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	struct pipe_out o = { .fd = fds[0], .cap = 1 << 16, .buf = malloc(1 << 16) };
	cr_assert(o.buf);
	o.buf[0] = '\0';
	cr_expect(read_until(&o, 0, "waiting", 20000),
		  "no sign of waiting for the missing file:\n%s", o.buf);

	/* Two versions of the file, 4 s apart by their mtime: 100 connects,
	 * 90 reused and 80 parked in between. */
	time_t now = time(NULL);
	size_t mark = o.len;
	write_file_at(path, canned_text(90, 10, 80), now - 1);
	cr_expect(read_until(&o, mark, "TARGET", 20000), "the file was not shown:\n%s", o.buf);
	mark = o.len;
	write_file_at(path, canned_text(180, 20, 160), now + 3);
	int rated = read_until(&o, mark, " 25.0 ", 20000);
	kill(pid, SIGINT);
	read_until(&o, 0, NULL, 20000); /* to EOF */
	close(fds[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "twpool stat -w after SIGINT: status %d, want exit 0", status);

	cr_expect(strstr(o.buf, "CONN/s") && strstr(o.buf, "REUSED/s"), "no rate columns:\n%s",
		  o.buf);
	char *row = line_with(o.buf + mark, " 25.0 ");
	cr_assert(rated && row, "no rates shown for the target:\n%s", o.buf);
	cr_expect(strstr(row, "127.0.0.1:6379 ") && strstr(row, " 90.0% ") && strstr(row, " 22.5 "),
		  "want 25.0 connects/s, 90.0%% reused and 22.5 reused/s in: %s\n(all output:\n%s)",
		  row, o.buf);
	free(o.buf);
}

Test(cli, make_install_and_uninstall_with_destdir, .timeout = 60)
{
	char *stage = h_tmp("stage");
	char *install[] = { "make",
			    "-s",
			    "-C",
			    (char *)h_src(),
			    "install",
			    h_fmt("DESTDIR=%s", stage),
			    "PREFIX=/usr/local",
			    h_fmt("BUILD=%s", h_build()),
			    NULL };
	struct h_run r;
	h_run(&r, install, NULL, 0, 50);
	cr_assert_eq(r.status, 0, "make install failed:\n%s%s", r.out, r.err);
	const char *files[] = { "lib/libtwpool.so.0", "lib/libtwpool.so", "bin/twpool",
				"share/man/man1/twpool.1" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		cr_expect_eq(access(h_fmt("%s/usr/local/%s", stage, files[i]), F_OK), 0,
			     "make install did not install %s", files[i]);
	char *man[] = { "man", "-l", h_fmt("%s/usr/local/share/man/man1/twpool.1", stage), NULL };
	struct h_run m;
	char *env[] = { "MANPAGER=cat", "MANWIDTH=80", NULL };
	h_run(&m, man, env, 0, 30);
	cr_expect_eq(m.status, 0, "man -l failed:\n%s", m.err);
	cr_expect(strstr(m.out, "TWPOOL_TARGETS") != NULL,
		  "the rendered page documents TWPOOL_TARGETS:\n%.2000s", m.out);
	char *uninstall[] = { "make",
			      "-s",
			      "-C",
			      (char *)h_src(),
			      "uninstall",
			      h_fmt("DESTDIR=%s", stage),
			      "PREFIX=/usr/local",
			      NULL };
	struct h_run u;
	h_run(&u, uninstall, NULL, 0, 30);
	cr_assert_eq(u.status, 0, "make uninstall failed:\n%s", u.err);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		cr_expect_neq(access(h_fmt("%s/usr/local/%s", stage, files[i]), F_OK), 0,
			      "make uninstall left %s", files[i]);
}
