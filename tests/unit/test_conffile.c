/* test_conffile.c - the whole-host configuration file: twp_conf_parse (its
 * text), twp_config_parse_with (environment over file) and twp_config_load
 * (which file is read, and when it is trusted), on real files. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conffile.h"
#include "config.h"

#define ERRLEN 512

static struct twp_conf F;
static char text[4096];
static char err[ERRLEN];

/* twp_conf_parse over a copy of s, as file "t.conf". */
static int conf(const char *s)
{
	snprintf(text, sizeof(text), "%s", s);
	F.path = "t.conf";
	memset(err, 'x', sizeof(err)); /* catches a missing terminator */
	return twp_conf_parse(&F, text, strlen(text), err, sizeof(err));
}

static void assert_conf_error(const char *s, const char *want)
{
	int rc = conf(s);
	cr_assert_eq(rc, -EINVAL, "expected -EINVAL for file text '%s', got %d", s, rc);
	cr_assert_not_null(memchr(err, '\0', sizeof(err)), "err is not NUL-terminated");
	cr_assert_not_null(strstr(err, want), "err '%s' for '%s' should contain '%s'", err, s, want);
	cr_assert_null(strchr(err, '\n'), "err '%s' must be one line", err);
}

/* ---- the text --------------------------------------------------------- */

Test(conffile, empty_text_has_no_settings)
{
	cr_assert_eq(conf(""), 0, "empty file: %s", err);
	cr_assert_eq(F.n, 0, "empty file: no settings");
	cr_assert_null(F.vars[0], "vars is NULL-terminated");
	cr_assert_str_empty(err, "no error text on success");
}

Test(conffile, comments_blanks_and_spaces)
{
	const char *s = "# pool redis\n\n   \t\n  # indented comment\n"
			"  TWPOOL_TARGETS = 127.0.0.1:6379 \r\n"
			"TWPOOL_MAX_IDLE=4\n"
			"TWPOOL_LOG\t=\tdebug";
	cr_assert_eq(conf(s), 0, "valid file: %s", err);
	cr_assert_eq(F.n, 3, "three settings, got %d", F.n);
	cr_assert_str_eq(F.vars[0], "TWPOOL_TARGETS=127.0.0.1:6379", "blanks around name, = and value dropped");
	cr_assert_str_eq(F.vars[1], "TWPOOL_MAX_IDLE=4");
	cr_assert_str_eq(F.vars[2], "TWPOOL_LOG=debug", "last line without a newline");
	cr_assert_eq(F.line[0], 5, "TWPOOL_TARGETS is on line 5, got %d", F.line[0]);
	cr_assert_eq(F.line[2], 7, "TWPOOL_LOG is on line 7, got %d", F.line[2]);
	cr_assert_null(F.vars[3], "vars is NULL-terminated");
}

Test(conffile, quotes_around_a_value_are_dropped)
{
	cr_assert_eq(conf("TWPOOL_TARGETS=\"a:1, b:2\"\nTWPOOL_LOG='info'\nTWPOOL_STATS=\"x'\n"), 0,
		     "quoted values: %s", err);
	cr_assert_str_eq(F.vars[0], "TWPOOL_TARGETS=a:1, b:2", "double quotes dropped, inner space kept");
	cr_assert_str_eq(F.vars[1], "TWPOOL_LOG=info", "single quotes dropped");
	cr_assert_str_eq(F.vars[2], "TWPOOL_STATS=\"x'", "unmatched quotes are part of the value");
}

Test(conffile, empty_value_is_kept)
{
	cr_assert_eq(conf("TWPOOL_STATS=\n"), 0, "empty value: %s", err);
	cr_assert_str_eq(F.vars[0], "TWPOOL_STATS=", "an empty value is a setting, as in the environment");
}

struct bad_text {
	char text[96];
	char want[80];
};

ParameterizedTestParameters(conffile, rejects_malformed_line)
{
	static struct bad_text params[] = {
		{ "TWPOOL_TARGETS", "t.conf:1: expected NAME=VALUE, got 'TWPOOL_TARGETS'" },
		{ "# ok\nTWPOOL_LOG debug\n", "t.conf:2: expected NAME=VALUE" },
		{ "=1\n", "t.conf:1: expected NAME=VALUE, got '=1'" },
		{ "export TWPOOL_LOG=info\n", "t.conf:1: expected NAME=VALUE" },
		{ "TW-POOL=1\n", "t.conf:1: expected NAME=VALUE" },
		{ "LD_PRELOAD=/x.so\n", "t.conf:1: 'LD_PRELOAD' is not a TWPOOL_ variable" },
		{ "twpool_targets=*:1\n", "'twpool_targets' is not a TWPOOL_ variable" },
		{ "TWPOOL_LOG=info\n\nTWPOOL_LOG=debug\n", "t.conf:3: TWPOOL_LOG set again (first on line 1)" },
	};
	return cr_make_param_array(struct bad_text, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_text *b, conffile, rejects_malformed_line)
{
	assert_conf_error(b->text, b->want);
}

Test(conffile, nul_byte_is_rejected)
{
	char s[] = "TWPOOL_LOG=info\nTWPOOL_MAX_IDLE=4\0\n";
	F.path = "t.conf";
	int rc = twp_conf_parse(&F, s, sizeof(s) - 1, err, sizeof(err));
	cr_assert_eq(rc, -EINVAL, "a NUL byte inside the text is an error");
	cr_assert_not_null(strstr(err, "t.conf:2: NUL byte"), "err '%s' names line 2", err);
}

Test(conffile, too_many_settings)
{
	char s[4096] = "";
	for (int i = 0; i <= TWP_CONF_MAX_VARS; i++)
		snprintf(s + strlen(s), sizeof(s) - strlen(s), "TWPOOL_X%d=1\n", i);
	char want[64];
	snprintf(want, sizeof(want), "t.conf:%d: more than %d settings", TWP_CONF_MAX_VARS + 1,
		 TWP_CONF_MAX_VARS);
	assert_conf_error(s, want);
}

Test(conffile, tight_error_buffer_is_cut_and_terminated)
{
	char s[] = "FOO=1\n", small[8];
	F.path = "t.conf";
	memset(small, 'x', sizeof(small));
	cr_assert_eq(twp_conf_parse(&F, s, strlen(s), small, sizeof(small)), -EINVAL);
	cr_assert_str_eq(small, "t.conf:", "err is a terminated cut of the message");
}

/* ---- environment over file -------------------------------------------- */

static struct twp_config C;

static int with(char *const *envp, const char *file)
{
	cr_assert_eq(conf(file), 0, "test bug: file text '%s' does not parse: %s", file, err);
	memset(err, 'x', sizeof(err));
	return twp_config_parse_with(&C, envp, &F, err, sizeof(err));
}

Test(conffile, replay_mode_from_the_file)
{
	int rc = with(NULL, "TWPOOL_TARGETS=127.0.0.1:6379\nTWPOOL_REPLAY=off\n");
	cr_assert_eq(rc, 0, "valid file: %s", err);
	cr_assert_eq(C.replay, TWP_REPLAY_OFF, "TWPOOL_REPLAY from the file");
	cr_assert_eq(C.replay_max, 0, "off keeps no request bytes");
	rc = with(NULL, "TWPOOL_TARGETS=127.0.0.1:6379\n\nTWPOOL_REPLAY=never\n");
	cr_assert_eq(rc, -EINVAL, "a bad mode in the file is refused");
	cr_assert_eq(strncmp(err, "t.conf:3: TWPOOL_REPLAY: bad value 'never'", 41), 0,
		     "the message names the file's line: '%s'", err);
}

Test(conffile, file_alone_turns_pooling_on)
{
	int rc = with(NULL, "TWPOOL_TARGETS=127.0.0.1:6379\nTWPOOL_MAX_IDLE=7\n");
	cr_assert_eq(rc, 0, "valid file: %s", err);
	cr_assert_eq(C.enabled, 1, "targets from the file turn the shim on");
	cr_assert_eq(C.nspecs, 1, "one target");
	cr_assert_eq(C.max_idle, 7, "TWPOOL_MAX_IDLE from the file");
	cr_assert_str_empty(err, "no error text");
}

Test(conffile, environment_wins_per_variable)
{
	char *env[] = { "TWPOOL_MAX_IDLE=3", "PATH=/bin", NULL };
	int rc = with(env, "TWPOOL_TARGETS=*:80\nTWPOOL_MAX_IDLE=7\nTWPOOL_IDLE_TIMEOUT_MS=50\n");
	cr_assert_eq(rc, 0, "valid: %s", err);
	cr_assert_eq(C.max_idle, 3, "the environment's TWPOOL_MAX_IDLE wins, got %u", C.max_idle);
	cr_assert_eq(C.idle_timeout_ms, 50, "a variable only the file sets applies");
	cr_assert_eq(C.enabled, 1, "targets from the file");
}

Test(conffile, bad_value_in_file_names_file_and_line)
{
	int rc = with(NULL, "# x\nTWPOOL_TARGETS=*:80\nTWPOOL_MAX_IDLE=lots\n");
	cr_assert_eq(rc, -EINVAL, "a bad value in the file is an error");
	cr_assert_eq(C.enabled, 0, "and leaves the shim off");
	cr_assert_str_eq(err, "t.conf:3: TWPOOL_MAX_IDLE: bad value 'lots' (expected a whole number from 0 to 1024)",
			 "err names file, line, variable and token");
}

Test(conffile, bad_value_in_environment_has_no_file_prefix)
{
	char *env[] = { "TWPOOL_MAX_IDLE=lots", NULL };
	int rc = with(env, "TWPOOL_TARGETS=*:80\nTWPOOL_MAX_IDLE=2\n");
	cr_assert_eq(rc, -EINVAL, "the environment's bad value is the one used, and rejected");
	cr_assert(!strncmp(err, "TWPOOL_MAX_IDLE: bad value 'lots'", 33),
		  "err '%s' is about the environment, not the file", err);
}

Test(conffile, bad_target_in_file_names_the_line)
{
	int rc = with(NULL, "TWPOOL_LOG=info\nTWPOOL_TARGETS=1.2.3:80\n");
	cr_assert_eq(rc, -EINVAL, "bad target in the file");
	cr_assert(!strncmp(err, "t.conf:2: TWPOOL_TARGETS: bad entry '1.2.3:80'", 46), "err '%s'", err);
}

Test(conffile, unknown_name_in_file_warns_with_line_and_suggestion)
{
	int rc = with(NULL, "TWPOOL_TARGETS=*:80\nTWPOOL_MAX_IDEL=4\n");
	cr_assert_eq(rc, 0, "an unknown name is no error: %s", err);
	cr_assert_eq(C.enabled, 1, "the rest applies");
	cr_assert_str_eq(C.warning, "t.conf:2: unknown variable 'TWPOOL_MAX_IDEL' ignored; did you mean TWPOOL_MAX_IDLE?",
			 "warning names file, line, name and the near name");
}

/* ---- reading the file ------------------------------------------------- */

static char dir[] = "/tmp/twp-conffile-XXXXXX";

static void mkdir_tmp(void)
{
	cr_assert_not_null(mkdtemp(dir), "mkdtemp");
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* dir/name with the given text and mode; returns its path (static). */
static const char *put(const char *name, const char *body, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot create %s", path);
	fputs(body, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0, "chmod %s", path);
	return path;
}

static char env_config[sizeof("TWPOOL_CONFIG=") + 300];

/* twp_config_load with TWPOOL_CONFIG=path and the other entries given. */
static int load(const char *path, const char *e1, int secure)
{
	snprintf(env_config, sizeof(env_config), "TWPOOL_CONFIG=%s", path);
	char *env[] = { env_config, (char *)e1, NULL };
	memset(err, 'x', sizeof(err));
	return twp_config_load(&C, env, secure, err, sizeof(err));
}

#define GOOD "TWPOOL_TARGETS=127.0.0.1:6379\n"

Test(conffile, reads_the_file_when_the_environment_has_no_targets, .init = mkdir_tmp, .fini = rm_tmp)
{
	const char *p = put("a.conf", GOOD "TWPOOL_MAX_USES=9\n", 0644);
	cr_assert_eq(load(p, "TWPOOL_LOG=debug", 0), 0, "valid file: %s", err);
	cr_assert_eq(C.enabled, 1, "targets from the file");
	cr_assert_eq(C.max_uses, 9, "settings from the file");
	cr_assert_eq(C.log_level, TWP_LOG_DEBUG, "and from the environment");
}

Test(conffile, environment_targets_mean_no_file, .init = mkdir_tmp, .fini = rm_tmp)
{
	const char *p = put("a.conf", GOOD "TWPOOL_MAX_USES=9\nJUNK\n", 0644);
	cr_assert_eq(load(p, "TWPOOL_TARGETS=*:80", 0), 0, "the file is not read: %s", err);
	cr_assert_eq(C.max_uses, TWPOOL_DEFAULT_MAX_USES, "nothing from the file applies");
	cr_assert_eq(C.specs[0].kind, TWP_SPEC_ANY, "the environment's targets");
}

Test(conffile, empty_targets_in_environment_opt_out, .init = mkdir_tmp, .fini = rm_tmp)
{
	const char *p = put("a.conf", GOOD, 0644);
	cr_assert_eq(load(p, "TWPOOL_TARGETS=", 0), 0, "%s", err);
	cr_assert_eq(C.enabled, 0, "TWPOOL_TARGETS set but empty keeps the program out of host-wide pooling");
}

Test(conffile, empty_config_variable_reads_no_file)
{
	cr_assert_eq(load("", NULL, 0), 0, "%s", err);
	cr_assert_eq(C.enabled, 0, "TWPOOL_CONFIG set but empty: no file read, no targets");
}

Test(conffile, missing_file_is_no_error, .init = mkdir_tmp, .fini = rm_tmp)
{
	char p[300];
	snprintf(p, sizeof(p), "%s/missing.conf", dir);
	cr_assert_eq(load(p, NULL, 0), 0, "a missing file is silent: %s", err);
	cr_assert_str_empty(err, "no error text");
	cr_assert_eq(C.enabled, 0, "and no targets");
}

static void assert_refused(const char *path, const char *why)
{
	int rc = load(path, "TWPOOL_LOG=info", 0);
	cr_assert_eq(rc, -EINVAL, "%s: expected -EINVAL, got %d (%s)", path, rc, err);
	cr_assert_eq(C.enabled, 0, "%s: a refused file leaves the shim off", path);
	cr_assert_eq(C.log_level, TWP_LOG_INFO, "%s: the environment's settings still apply", path);
	cr_assert(!strncmp(err, path, strlen(path)), "err '%s' starts with the path %s", err, path);
	cr_assert_not_null(strstr(err, why), "err '%s' says '%s'", err, why);
}

Test(conffile, refuses_group_or_world_writable_file, .init = mkdir_tmp, .fini = rm_tmp)
{
	assert_refused(put("g.conf", GOOD, 0664), "writable by group or others (mode 0664)");
	assert_refused(put("o.conf", GOOD, 0602), "writable by group or others (mode 0602)");
}

Test(conffile, refuses_symbolic_link, .init = mkdir_tmp, .fini = rm_tmp)
{
	const char *p = put("real.conf", GOOD, 0644);
	char link[300];
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	cr_assert_eq(symlink(p, link), 0, "symlink");
	assert_refused(link, "symbolic link");
}

Test(conffile, refuses_fifo_without_blocking, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 10)
{
	char fifo[300];
	snprintf(fifo, sizeof(fifo), "%s/fifo.conf", dir);
	cr_assert_eq(mkfifo(fifo, 0644), 0, "mkfifo");
	assert_refused(fifo, "not a regular file");
	assert_refused(dir, "not a regular file");
}

Test(conffile, refuses_file_of_another_user, .init = mkdir_tmp, .fini = rm_tmp)
{
	const char *p = put("u.conf", GOOD, 0644);
	cr_assert_eq(chown(p, 4242, (gid_t)-1), 0, "chown (the unit tests run as root)");
	if (geteuid() == 4242)
		cr_skip_test("running as uid 4242");
	assert_refused(p, "owned by uid 4242");
}

Test(conffile, refuses_oversized_file, .init = mkdir_tmp, .fini = rm_tmp)
{
	size_t n = TWPOOL_CONFIG_MAX_BYTES + 1;
	char *big = malloc(n + 1);
	cr_assert_not_null(big);
	memset(big, '#', n);
	big[n] = '\0';
	char want[64];
	snprintf(want, sizeof(want), "larger than %d bytes", TWPOOL_CONFIG_MAX_BYTES);
	assert_refused(put("big.conf", big, 0644), want);
	big[n - 1] = '\0'; /* exactly the bound: accepted */
	cr_assert_eq(load(put("max.conf", big, 0644), NULL, 0), 0, "a file of exactly the bound: %s", err);
	free(big);
}

Test(conffile, malformed_file_is_refused_with_its_line, .init = mkdir_tmp, .fini = rm_tmp)
{
	const char *p = put("m.conf", GOOD "TWPOOL_MAX_IDLE\n", 0644);
	assert_refused(p, ":2: expected NAME=VALUE");
}

Test(conffile, secure_execution_ignores_the_environment, .init = mkdir_tmp, .fini = rm_tmp)
{
	/* setuid: TWPOOL_CONFIG and every other variable are the caller's. */
	const char *p = put("a.conf", GOOD, 0644);
	cr_assert_eq(load(p, "TWPOOL_LOG_FILE=/etc/owned", 1), 0, "%s", err);
	struct stat st;
	cr_assert_eq(C.log_file[0], '\0', "TWPOOL_LOG_FILE from the environment is ignored");
	if (stat(TWPOOL_DEFAULT_CONFIG, &st) == 0)
		cr_skip_test("this host has a real " TWPOOL_DEFAULT_CONFIG ", which secure mode reads");
	cr_assert_eq(C.enabled, 0, "TWPOOL_CONFIG is ignored: only " TWPOOL_DEFAULT_CONFIG " counts");
	char *env[] = { "TWPOOL_TARGETS=*:80", NULL };
	cr_assert_eq(twp_config_load(&C, env, 1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(C.enabled, 0, "TWPOOL_TARGETS from the environment is ignored too");
}
