/* fuzz_config.c - libFuzzer target for twp_config_parse, and for the
 * configuration file's parser (twp_conf_parse, twp_config_parse_with).
 *
 * The input is a few lines, each one environment entry (blank lines are
 * skipped). A line is prefixed with "TWPOOL_" unless it starts with '~',
 * which is dropped and the rest used as is (for foreign and near-miss
 * variable names, comments, blanks and quotes). Each
 * entry lives in its own exact-size allocation so that ASan sees any read
 * past its end. The parse runs twice, with a roomy and with a tight error
 * buffer, and the two outcomes must agree. Then the second half of the
 * entries, one per line, is parsed as a configuration file (in an
 * exact-size buffer) under the first half as the environment. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"

#define MAX_VARS 8
#define BIG_ERR 512
#define CONF_PATH "fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_config: invariant broken: %s (err '%s')\n", what, err ? err : "");
	abort();
}

static int split(const uint8_t *data, size_t size, char **vars)
{
	int n = 0;
	size_t i = 0;
	while (i <= size && n < MAX_VARS) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
		const char *prefix = "TWPOOL_";
		size_t skip = 0;
		if (!len) { /* blank line: no entry */
			if (!nl)
				break;
			i++;
			continue;
		}
		if (data[i] == '~') {
			prefix = "";
			skip = 1;
		}
		size_t plen = strlen(prefix);
		char *v = malloc(plen + len - skip + 1);
		if (!v)
			abort();
		memcpy(v, prefix, plen);
		memcpy(v + plen, data + i + skip, len - skip);
		v[plen + len - skip] = '\0'; /* an embedded NUL just ends the entry early */
		vars[n++] = v;
		if (!nl)
			break;
		i += len + 1;
	}
	vars[n] = NULL;
	return n;
}

static void check_ok(const struct twp_config *c, const char *err)
{
	if (err[0])
		fail("error text on success", err);
	if (c->enabled != (c->nspecs > 0))
		fail("enabled != (nspecs > 0)", err);
	if (c->nspecs < 0 || c->nspecs > TWPOOL_MAX_TARGETS)
		fail("nspecs out of range", err);
	for (int i = 0; i < c->nspecs; i++) {
		const struct twp_spec *sp = &c->specs[i];
		if (!sp->port)
			fail("spec with port 0", err);
		if (sp->kind == TWP_SPEC_ADDR && sp->key.family != AF_INET &&
		    sp->key.family != AF_INET6)
			fail("address spec with a bad key family", err);
		if (sp->kind == TWP_SPEC_NAME &&
		    (!sp->name[0] || !memchr(sp->name, '\0', sizeof(sp->name))))
			fail("name spec empty or unterminated", err);
		if (sp->kind != TWP_SPEC_ADDR && sp->kind != TWP_SPEC_ANY &&
		    sp->kind != TWP_SPEC_NAME)
			fail("spec of unknown kind", err);
	}
	if (c->max_idle > 1024 || c->stats_interval_ms < 10 || c->stats_interval_ms > 3600000 ||
	    c->idle_timeout_ms > 86400000 || c->max_lifetime_ms > 86400000)
		fail("numeric setting out of its documented range", err);
	if (!memchr(c->warning, '\0', sizeof(c->warning)) ||
	    (c->warning[0] && !strstr(c->warning, "unknown variable '")))
		fail("warning unterminated or not about an unknown variable", c->warning);
	if (c->log_level < TWP_LOG_ERROR || c->log_level > TWP_LOG_DEBUG)
		fail("log level out of range", err);
	if (!memchr(c->stats_path, '\0', sizeof(c->stats_path)) ||
	    !memchr(c->log_file, '\0', sizeof(c->log_file)))
		fail("path unterminated", err);
}

static void check_rejected(const struct twp_config *c, const char *err)
{
	if (c->enabled || c->nspecs)
		fail("rejected configuration left enabled or with targets", err);
	if (!err[0])
		fail("rejected without an error text", err);
	if (strncmp(err, "TWPOOL_", 7) && strncmp(err, "unknown variable", 16) &&
	    strncmp(err, CONF_PATH ":", sizeof(CONF_PATH)))
		fail("error text names neither a TWPOOL_ variable nor an unknown one", err);
	if (strchr(err, '\n'))
		fail("error text has a newline", err);
}

/* vars[k..n) joined by newlines, as a file, in an allocation of exactly
 * len + 1 bytes (the parser's documented room). */
static char *file_text(char **vars, int k, int n, size_t *len)
{
	*len = 0;
	for (int i = k; i < n; i++)
		*len += strlen(vars[i]) + 1;
	char *t = malloc(*len + 1), *p = t;
	if (!t)
		abort();
	for (int i = k; i < n; i++) {
		size_t l = strlen(vars[i]);
		memcpy(p, vars[i], l);
		p[l] = '\n';
		p += l + 1;
	}
	return t;
}

static void check_conf(const struct twp_conf *f, const char *err)
{
	if (f->n < 0 || f->n > TWP_CONF_MAX_VARS || f->vars[f->n])
		fail("file: settings count out of range or vars not NULL-terminated", err);
	for (int i = 0; i < f->n; i++)
		if (strncmp(f->vars[i], "TWPOOL_", 7) || !strchr(f->vars[i], '=') || f->line[i] < 1)
			fail("file: a setting is not TWPOOL_NAME=VALUE with a line", f->vars[i]);
}

/* The second half of vars as a file, the first as the environment. */
static void fuzz_file(struct twp_config *c, char **vars, int n)
{
	static struct twp_conf f;
	char err[BIG_ERR];
	size_t len;
	int k = n / 2;
	char *text = file_text(vars, k, n, &len);
	char *saved = vars[k];
	f.path = CONF_PATH;
	int rc = twp_conf_parse(&f, text, len, err, sizeof(err));
	if (rc == -EINVAL && strncmp(err, CONF_PATH ":", sizeof(CONF_PATH)))
		fail("file: error text does not start with PATH:", err);
	if (rc != 0 && rc != -EINVAL)
		fail("file: return value neither 0 nor -EINVAL", err);
	if (rc == 0) {
		check_conf(&f, err);
		vars[k] = NULL; /* the environment: the first half */
		rc = twp_config_parse_with(c, vars, &f, err, sizeof(err));
		vars[k] = saved;
		if (rc == 0)
			check_ok(c, err);
		else if (rc == -EINVAL)
			check_rejected(c, err);
		else
			fail("file: twp_config_parse_with returned neither 0 nor -EINVAL", err);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct twp_config c; /* large: not on the stack */
	char *vars[MAX_VARS + 1];
	int n = split(data, size, vars);

	char *err = malloc(BIG_ERR);
	if (!err)
		abort();
	memset(err, 'x', BIG_ERR);
	int rc = twp_config_parse(&c, vars, err, BIG_ERR);
	if (!memchr(err, '\0', BIG_ERR))
		fail("error text not NUL-terminated", NULL);
	if (rc == 0)
		check_ok(&c, err);
	else if (rc == -EINVAL)
		check_rejected(&c, err);
	else
		fail("return value neither 0 nor -EINVAL", err);

	/* Same input, tight error buffer: same outcome, err a cut of the first. */
	size_t small = size % 24;
	char *err2 = small ? malloc(small) : NULL;
	if (small && !err2)
		abort();
	if (small)
		memset(err2, 'x', small);
	int rc2 = twp_config_parse(&c, vars, err2, small);
	if (rc2 != rc)
		fail("outcome depends on the error buffer size", err);
	if (small && (!memchr(err2, '\0', small) || strncmp(err2, err, small - 1)))
		fail("tight error text is not a terminated cut of the full one", err);

	free(err2);
	free(err);
	fuzz_file(&c, vars, n);
	for (int i = 0; i < n; i++)
		free(vars[i]);
	return 0;
}
