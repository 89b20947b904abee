/* settings.c - the options of `twpool COMMAND`. Every value is judged by
 * twp_config_parse, the parser the library runs at start-up, so the command
 * accepts exactly what the library accepts. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "settings.h"
#include "twpool.h"

enum { OPT_LOG_FILE = 256, OPT_STRICT, OPT_BROKER, OPT_REPLAY, OPT_NUMERIC };

/* The numeric options, in the order of their OPT_NUMERIC + i codes. */
static const char *const numeric_vars[] = {
	TWPOOL_ENV_MAX_IDLE, TWPOOL_ENV_IDLE_TIMEOUT_MS,   TWPOOL_ENV_MAX_LIFETIME_MS,
	TWPOOL_ENV_MAX_USES, TWPOOL_ENV_STATS_INTERVAL_MS, TWPOOL_ENV_REPLAY_MAX,
};

static const struct option long_options[] = {
	{ "target", required_argument, NULL, 't' },
	{ "stats", required_argument, NULL, 's' },
	{ "log", required_argument, NULL, 'l' },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "broker", optional_argument, NULL, OPT_BROKER },
	{ "replay", required_argument, NULL, OPT_REPLAY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "max-idle", required_argument, NULL, OPT_NUMERIC + 0 },
	{ "idle-timeout", required_argument, NULL, OPT_NUMERIC + 1 },
	{ "max-lifetime", required_argument, NULL, OPT_NUMERIC + 2 },
	{ "max-uses", required_argument, NULL, OPT_NUMERIC + 3 },
	{ "stats-interval", required_argument, NULL, OPT_NUMERIC + 4 },
	{ "replay-max", required_argument, NULL, OPT_NUMERIC + 5 },
	{ NULL, 0, NULL, 0 },
};

int twp_settings_judge(char *const *env, char *err, size_t errlen)
{
	static struct twp_config c; /* 27 KB: not on the stack */
	return twp_config_parse(&c, env, err, errlen);
}

/* Judges NAME=value alone; the message names opt, not the variable. */
static void judge_option(const char *opt, const char *name, const char *value)
{
	char *one[] = { twp_xasprintf("%s=%s", name, value), NULL };
	char err[512];
	if (twp_settings_judge(one, err, sizeof(err)) == 0) {
		free(one[0]);
		return;
	}
	size_t n = strlen(name);
	const char *why = !strncmp(err, name, n) && !strncmp(err + n, ": ", 2) ? err + n + 2 : err;
	twp_usage("%s: %s", opt, why);
}

/* Absolute, so that COMMAND changing directory does not move the file. */
static char *path_value(const char *opt, const char *value)
{
	char cwd[PATH_MAX];
	if (!*value)
		twp_usage("%s: empty file name", opt);
	if (*value == '/')
		return twp_xstrdup(value);
	if (!getcwd(cwd, sizeof(cwd)))
		twp_usage("%s: cannot make %s absolute: the current directory is unknown", opt,
			  value);
	return twp_xasprintf("%s/%s", strcmp(cwd, "/") ? cwd : "", value);
}

/* Adds the entries of a comma list to *list, trimmed, without empty ones
 * (the library skips them) and without repeats. */
static void add_targets(char **list, const char *value)
{
	char *copy = twp_xstrdup(value), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t += strspn(t, " \t");
		size_t n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			t[--n] = '\0';
		char *padded = twp_xasprintf(",%s,", *list), *needle = twp_xasprintf(",%s,", t);
		if (n && !strstr(padded, needle)) {
			char *l = twp_xasprintf("%s%s%s", *list, **list ? "," : "", t);
			free(*list);
			*list = l;
		}
		free(padded);
		free(needle);
	}
	free(copy);
}

static void set(struct twp_run_opts *o, const char *opt, const char *name, const char *value)
{
	judge_option(opt, name, value);
	twp_env_set(&o->env, name, value);
}

static void apply(struct twp_run_opts *o, int c, const char *opt, char **targets, char **raw)
{
	switch (c) {
	case 'h':
		twp_help();
	case 'V':
		printf("%s %s\n", TWP_PROG, TWPOOL_VERSION);
		exit(fflush(stdout) ? TWP_EXIT_USAGE : TWP_EXIT_OK);
	case 't':
		add_targets(targets, optarg);
		twp_append(raw, "%s%s", **raw ? "," : "", optarg);
		return;
	case 's':
		return set(o, opt, TWPOOL_ENV_STATS, path_value(opt, optarg));
	case OPT_LOG_FILE:
		return set(o, opt, TWPOOL_ENV_LOG_FILE, path_value(opt, optarg));
	case OPT_BROKER: /* --broker: auto; --broker=PATH: that socket */
		return set(o, opt, TWPOOL_ENV_BROKER, optarg ? path_value(opt, optarg) : "auto");
	case 'l':
		return set(o, opt, TWPOOL_ENV_LOG, optarg);
	case OPT_REPLAY:
		return set(o, opt, TWPOOL_ENV_REPLAY, optarg);
	case 'v':
		o->verbose = 1;
		return set(o, opt, TWPOOL_ENV_LOG, "debug");
	case OPT_STRICT:
		o->strict = 1;
		return;
	default:
		if (c < OPT_NUMERIC ||
		    c >= OPT_NUMERIC + (int)(sizeof(numeric_vars) / sizeof(numeric_vars[0])))
			twp_try_help(); /* getopt has said what is wrong */
		return set(o, opt, numeric_vars[c - OPT_NUMERIC], optarg);
	}
}

void twp_parse_run_options(int argc, char **argv, struct twp_run_opts *o)
{
	extern char **environ;
	char *targets = twp_xstrdup(""), *raw = twp_xstrdup(""), opt[64];
	int c, index = -1;
	memset(o, 0, sizeof(*o));
	twp_env_init(&o->env, environ);
	while ((c = getopt_long(argc, argv, "+t:s:l:vhV", long_options, &index)) != -1) {
		if (index >= 0)
			snprintf(opt, sizeof(opt), "--%s", long_options[index].name);
		else
			snprintf(opt, sizeof(opt), "-%c", c);
		apply(o, c, opt, &targets, &raw);
		index = -1;
	}
	if (*raw && !*targets)
		twp_usage("-t: no target in '%s'", raw);
	if (*raw)
		set(o, "-t", TWPOOL_ENV_TARGETS, targets);
	if (optind >= argc)
		twp_usage("no COMMAND given");
	o->command = argv + optind;
}
