/* env.c - the environment COMMAND gets, and its LD_PRELOAD. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "env.h"

static void push(struct twp_env *e, char *var)
{
	if (e->n + 2 > e->cap) {
		e->cap = e->cap ? 2 * e->cap : 64;
		e->vars = twp_xrealloc(e->vars, e->cap * sizeof(*e->vars));
	}
	e->vars[e->n++] = var;
	e->vars[e->n] = NULL;
}

void twp_env_init(struct twp_env *e, char *const *from)
{
	memset(e, 0, sizeof(*e));
	e->cap = 64;
	e->vars = twp_xmalloc(e->cap * sizeof(*e->vars));
	e->vars[0] = NULL;
	for (; from && *from; from++)
		push(e, *from);
}

static char **find(const struct twp_env *e, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->vars[i], name, len) && e->vars[i][len] == '=')
			return &e->vars[i];
	return NULL;
}

const char *twp_env_value(const struct twp_env *e, const char *name)
{
	char **var = find(e, name);
	return var ? *var + strlen(name) + 1 : NULL;
}

void twp_env_set(struct twp_env *e, const char *name, const char *value)
{
	char *var = twp_xasprintf("%s=%s", name, value);
	char **old = find(e, name);
	if (old)
		*old = var;
	else
		push(e, var);
}

/* libtwpool.so, libtwpool.so.0, libtwpool.so.0.1 ... */
static int is_shim(const char *base)
{
	const char *p = base + strlen("libtwpool.so");
	if (strncmp(base, "libtwpool.so", strlen("libtwpool.so")))
		return 0;
	while (*p == '.' && p[1] >= '0' && p[1] <= '9')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	return *p == '\0';
}

/* libasan.so, libtsan.so.2, libubsan.so.1 ... */
static int is_sanitizer(const char *base)
{
	const char *san = strstr(base, "san.so");
	return !strncmp(base, "lib", 3) && san && san >= base + 3 &&
	       strspn(base + 3, "abcdefghijklmnopqrstuvwxyz") >= (size_t)(san - base - 3);
}

static void append(char **out, const char *word)
{
	char *s = twp_xasprintf("%s%s%s", *out, **out ? " " : "", word);
	free(*out);
	*out = s;
}

char *twp_preload_value(const char *old, const char *lib)
{
	char *copy = twp_xstrdup(old ? old : ""), *save = NULL;
	char *first = twp_xstrdup(""), *after = twp_xstrdup("");
	for (char *w = strtok_r(copy, " :", &save); w; w = strtok_r(NULL, " :", &save)) {
		const char *base = strrchr(w, '/') ? strrchr(w, '/') + 1 : w;
		if (!is_shim(base))
			append(is_sanitizer(base) ? &first : &after, w);
	}
	append(&first, lib);
	if (*after)
		append(&first, after);
	free(copy);
	free(after);
	return first;
}
