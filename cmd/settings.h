/* settings.h - the options of `twpool COMMAND`, judged by the library's
 * own parser. */
#ifndef TWP_CMD_SETTINGS_H
#define TWP_CMD_SETTINGS_H

#include "env.h"

struct twp_run_opts {
	struct twp_env env; /* twpool's environment with the options applied */
	int verbose;        /* -v: show what is run */
	int strict;         /* --strict: refuse what pooling cannot reach */
	char **command;     /* COMMAND [ARG]..., NULL-terminated */
};

/* Parses argv into o; exits 2 with a message naming the option and the
 * value on a bad one, or after --help / --version. */
void twp_parse_run_options(int argc, char **argv, struct twp_run_opts *o);

/* Parses the TWPOOL_* variables of env as the library will. Returns 0, or
 * -EINVAL with the library's message in err. */
int twp_settings_judge(char *const *env, char *err, size_t errlen);

#endif
