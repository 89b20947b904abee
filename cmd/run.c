/* run.c - twpool [OPTION]... COMMAND: build the environment and exec.
 *
 * It never stops a program that could run: where the shim cannot reach it,
 * twpool says so in one line and runs it without pooling (--strict refuses
 * instead). Only what the operator got wrong (a bad setting, no library)
 * stops it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "env.h"
#include "preflight.h"
#include "settings.h"
#include "twpool.h"

/* The inherited TWPOOL_* variables: the library ignores every setting if
 * one is bad, so say so now, naming it. */
static void judge_environment(const struct twp_env *env)
{
	char err[512];
	if (twp_settings_judge(env->vars, err, sizeof(err)))
		twp_usage("%s, in the environment", err);
}

static const char *usable_library(void)
{
	const char *lib = twp_library_path();
	struct stat st;
	if (stat(lib, &st) || !S_ISREG(st.st_mode))
		twp_die(TWP_EXIT_USAGE,
			"library not found: %s (build it with make, install it, "
			"or set TWPOOL_LIB)",
			lib);
	if (strpbrk(lib, " \t\n:"))
		twp_die(TWP_EXIT_USAGE,
			"library path %s contains a space or a colon, which "
			"LD_PRELOAD cannot hold",
			lib);
	return lib;
}

/* Runs COMMAND unpooled with a warning, or refuses it under --strict. */
static void preflight(const char *path, const char *lib, const struct twp_run_opts *o)
{
	struct twp_preflight p;
	twp_preflight(path, lib, twp_env_value(&o->env, "PATH"), &p);
	const struct twp_finding *f = twp_preflight_blocker(&p);
	if (!f || p.status) /* cannot run at all: exec says why */
		return;
	if (o->strict)
		twp_die(TWP_EXIT_USAGE, "%s, so nothing would be pooled", f->text);
	twp_warn("warning: %s: running it without pooling", f->text);
}

static void warn_missing_dir(const struct twp_env *env, const char *name)
{
	const char *value = twp_env_value(env, name);
	const char *slash = value ? strrchr(value, '/') : NULL;
	struct stat st;
	if (!slash)
		return;
	char *dir = slash == value ? twp_xstrdup("/") : strndup(value, (size_t)(slash - value));
	if (dir && (stat(dir, &st) || !S_ISDIR(st.st_mode)))
		twp_warn("warning: %s: directory %s does not exist", name, dir);
	free(dir);
}

static void warn_useless(const struct twp_env *env)
{
	const char *targets = twp_env_value(env, TWPOOL_ENV_TARGETS);
	const char *stats = twp_env_value(env, TWPOOL_ENV_STATS);
	if (!targets || !*targets)
		twp_warn("warning: no target (-t or TWPOOL_TARGETS): nothing will be pooled");
	/* Not TWPOOL_STATS: the library says that itself, once, with or
	 * without twpool. */
	warn_missing_dir(env, TWPOOL_ENV_LOG_FILE);
	if (twp_env_value(env, TWPOOL_ENV_STATS_INTERVAL_MS) && (!stats || !*stats))
		twp_warn("warning: a stats interval without a stats file (-s) does nothing");
}

/* s quoted for a POSIX shell, only when it needs it. */
static char *shell_quote(const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789@%+=:,./_-";
	if (*s && strspn(s, safe) == strlen(s))
		return twp_xstrdup(s);
	char *out = twp_xmalloc(4 * strlen(s) + 3), *o = out;
	*o++ = '\'';
	for (; *s; s++)
		o = *s == '\'' ? stpcpy(o, "'\"'\"'") : (*o = *s, o + 1);
	strcpy(o, "'");
	return out;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show_exec(const char *path, const struct twp_env *env)
{
	char **shown = twp_xmalloc((env->n + 1) * sizeof(*shown));
	size_t n = 0;
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->vars[i], "TWPOOL_", 7) ||
		    !strncmp(env->vars[i], "LD_PRELOAD=", 11))
			shown[n++] = env->vars[i];
	qsort(shown, n, sizeof(*shown), by_name);
	char *line = twp_xasprintf("exec %s with", shell_quote(path));
	for (size_t i = 0; i < n; i++)
		line = twp_xasprintf("%s %s", line, shell_quote(shown[i]));
	twp_warn("%s", line);
}

static int exec_command(const char *path, char **argv, char **env)
{
	fflush(stdout);
	execve(path, argv, env);
	if (errno == ENOEXEC) { /* no #! line: /bin/sh runs it, as execvp does */
		size_t n = 0;
		while (argv[n])
			n++;
		char **sh = twp_xmalloc((n + 2) * sizeof(*sh));
		sh[0] = "/bin/sh";
		sh[1] = (char *)path;
		memcpy(sh + 2, argv + 1, n * sizeof(*sh)); /* argv[1..n], NULL included */
		execve(sh[0], sh, env);
	}
	if (errno == ENOENT) /* the #! or ELF interpreter is missing */
		twp_die(TWP_EXIT_NOT_FOUND, "%s: cannot execute: its interpreter was not found",
			path);
	twp_die(TWP_EXIT_CANNOT_EXEC, "%s: cannot execute: %s", path, strerror(errno));
}

int twp_run_main(int argc, char **argv)
{
	struct twp_run_opts o;
	twp_parse_run_options(argc, argv, &o);
	judge_environment(&o.env);
	const char *lib = usable_library();
	char *path = twp_find_command(o.command[0], twp_env_value(&o.env, "PATH"));
	preflight(path, lib, &o);
	twp_env_set(&o.env, "LD_PRELOAD",
		    twp_preload_value(twp_env_value(&o.env, "LD_PRELOAD"), lib));
	warn_useless(&o.env);
	if (o.verbose)
		show_exec(path, &o.env);
	return exec_command(path, o.command, o.env.vars);
}
