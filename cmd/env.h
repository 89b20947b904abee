/* env.h - the environment COMMAND gets, built from twpool's own. */
#ifndef TWP_CMD_ENV_H
#define TWP_CMD_ENV_H

#include <stddef.h>

/* A NULL-terminated "NAME=VALUE" vector, as execve takes it. */
struct twp_env {
	char **vars;
	size_t n, cap;
};

/* A copy of the environment twpool was started with. */
void twp_env_init(struct twp_env *e, char *const *from);
/* The value of name, or NULL. The first entry wins, as with getenv. */
const char *twp_env_value(const struct twp_env *e, const char *name);
/* Replaces the value of name where it stands, or appends it. */
void twp_env_set(struct twp_env *e, const char *name, const char *value);

/* The LD_PRELOAD value that loads lib: the sanitizer runtimes of old first
 * (they refuse to run unless loaded first), then lib, then the rest of old
 * without any other copy of the shim (two copies would both interpose). */
char *twp_preload_value(const char *old, const char *lib);

#endif
