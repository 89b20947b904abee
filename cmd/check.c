/* check.c - twpool check COMMAND: the pre-flight alone, nothing is run.
 * One line per finding on stdout, then the verdict; exit 0 when pooling
 * will reach COMMAND, 1 when not, 126/127 when it cannot run, as a shell. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "preflight.h"
#include "settings.h"
#include "twpool.h"

extern char **environ;

/* What the library will make of the inherited settings. */
static int settings_usable(void)
{
	char err[512];
	const char *targets = getenv(TWPOOL_ENV_TARGETS);
	if (twp_settings_judge(environ, err, sizeof(err))) {
		printf("%s: the library would pass every call through\n", err);
		return 0;
	}
	if (!targets || !*targets)
		printf("no target in TWPOOL_TARGETS here: give one with twpool -t, the library "
		       "pools nothing without\n");
	return 1;
}

static int library_missing(const char *lib)
{
	struct stat st;
	if (stat(lib, &st) == 0 && S_ISREG(st.st_mode))
		return 0;
	printf("library not found: %s (build it with make, install it, or set TWPOOL_LIB)\n", lib);
	return 1;
}

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int twp_check_main(int argc, char **argv)
{
	struct twp_preflight p;
	int c;
	argv[0] = TWP_PROG " check";
	while ((c = getopt_long(argc, argv, "+h", long_options, NULL)) != -1)
		if (c == 'h')
			twp_help();
		else
			twp_try_help();
	if (optind >= argc)
		twp_usage("check: no COMMAND given");
	const char *lib = twp_library_path();
	char *path = twp_find_command(argv[optind], getenv("PATH"));
	twp_preflight(path, lib, getenv("PATH"), &p);
	for (size_t i = 0; i < p.n; i++)
		printf("%s\n", p.findings[i].text);
	int missing = library_missing(lib);
	int reached = settings_usable() && !missing && !twp_preflight_blocker(&p) && !p.status;
	printf("pooling will %sreach %s\n", reached ? "" : "not ", path);
	if (p.status)
		return p.status;
	return reached ? TWP_EXIT_OK : TWP_EXIT_NOT_POOLED;
}
