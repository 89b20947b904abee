/* prom.c - the Prometheus text exposition format, as far as stats files
 * use it: comments, NAME{LABEL="VALUE",...} VALUE [TIMESTAMP]. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "stat.h"

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"
#define BLANKS " \t"

struct cursor {
	char *p;
	char *err;
	size_t errlen;
};

static int fail(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Length of the name at s whose first byte is in first, the rest in rest. */
static size_t name_len(const char *s, const char *first, const char *rest)
{
	if (!*s || !strchr(first, *s))
		return 0;
	return 1 + strspn(s + 1, rest);
}

/* The value of a label, unescaped in place; c->p is past its opening ". */
static int label_value(struct cursor *c, const char *name, char **value)
{
	char *out = c->p;
	*value = out;
	for (;;) {
		char ch = *c->p++;
		if (ch == '\0')
			return fail(c, "unterminated value of label %s", name);
		if (ch == '"')
			break;
		if (ch == '\\') {
			ch = *c->p == '\\' ? '\\' : *c->p == '"' ? '"' : *c->p == 'n' ? '\n' : 0;
			if (!ch)
				return fail(c, "bad escape in label %s", name);
			c->p++;
		}
		*out++ = ch;
	}
	*out = '\0'; /* out < c->p: the closing quote at least was consumed */
	return 0;
}

static int one_label(struct cursor *c, char *line, struct twp_sample *s)
{
	size_t n = name_len(c->p, LOWER UPPER "_", LOWER UPPER DIGITS "_");
	if (!n)
		return fail(c, "expected a label name at column %zu", (size_t)(c->p - line) + 1);
	s->labels = twp_xrealloc(s->labels, (s->nlabels + 1) * sizeof(*s->labels));
	struct twp_label *l = &s->labels[s->nlabels++];
	char *name = l->name = twp_xstrndup(c->p, n), *value;
	l->value = NULL;
	c->p += n;
	c->p += strspn(c->p, BLANKS);
	if (*c->p != '=')
		return fail(c, "expected =\"...\" after label %s", name);
	c->p += 1 + strspn(c->p + 1, BLANKS);
	if (*c->p != '"')
		return fail(c, "expected =\"...\" after label %s", name);
	c->p++;
	if (label_value(c, name, &value))
		return -1;
	l->value = twp_xstrdup(value);
	c->p += strspn(c->p, BLANKS);
	if (*c->p == ',')
		c->p++;
	else if (*c->p != '}')
		return fail(c, "expected , or } after label %s", name);
	return 0;
}

static int labels(struct cursor *c, char *line, struct twp_sample *s)
{
	c->p++; /* { */
	for (;;) {
		c->p += strspn(c->p, BLANKS);
		if (*c->p == '}') {
			c->p++;
			return 0;
		}
		if (one_label(c, line, s))
			return -1;
	}
}

/* VALUE [TIMESTAMP] after the name and labels. */
static int value(struct cursor *c, struct twp_sample *s)
{
	char *end, *fields[3];
	int n = 0;
	if (*c->p && !strchr(BLANKS, *c->p))
		return fail(c, "expected a value after %s", s->metric);
	for (char *save = NULL, *f = strtok_r(c->p, BLANKS, &save); f && n < 3;
	     f = strtok_r(NULL, BLANKS, &save))
		fields[n++] = f;
	if (n < 1 || n > 2)
		return fail(c, "expected a value after %s", s->metric);
	s->value = strtod(fields[0], &end);
	if (end == fields[0] || *end)
		return fail(c, "'%s' is not a number", fields[0]);
	return 0;
}

static int sample(struct cursor *c, char *line, struct twp_sample *s)
{
	size_t n = name_len(line, LOWER UPPER "_:", LOWER UPPER DIGITS "_:");
	memset(s, 0, sizeof(*s));
	if (!n)
		return fail(c, "expected a metric name");
	s->metric = twp_xstrndup(line, n);
	c->p = line + n;
	if (*c->p == '{' && labels(c, line, s))
		return -1;
	return value(c, s);
}

/* The line without leading and trailing blanks (and \r). */
static char *trim(char *line)
{
	line += strspn(line, BLANKS "\r\v\f");
	size_t n = strlen(line);
	while (n && strchr(BLANKS "\r\v\f", line[n - 1]))
		line[--n] = '\0';
	return line;
}

int twp_prom_parse(char *text, struct twp_samples *out, char *err, size_t errlen)
{
	char what[256];
	struct cursor c = { .err = what, .errlen = sizeof(what) };
	size_t lineno = 0;
	memset(out, 0, sizeof(*out));
	for (char *next = text, *line; (line = strsep(&next, "\n"));) {
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		out->v = twp_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
		if (sample(&c, line, &out->v[out->n])) {
			snprintf(err, errlen, "line %zu: %s", lineno, what);
			out->n++; /* free it too */
			twp_samples_free(out);
			return -1;
		}
		out->n++;
	}
	return 0;
}

const char *twp_label(const struct twp_sample *s, const char *name)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (!strcmp(s->labels[i].name, name))
			return s->labels[i].value;
	return NULL;
}

int twp_label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct twp_label *)a)->name, ((const struct twp_label *)b)->name);
}

void twp_samples_free(struct twp_samples *all)
{
	for (size_t i = 0; i < all->n; i++) {
		for (size_t k = 0; k < all->v[i].nlabels; k++) {
			free(all->v[i].labels[k].name);
			free(all->v[i].labels[k].value);
		}
		free(all->v[i].labels);
		free(all->v[i].metric);
	}
	free(all->v);
	memset(all, 0, sizeof(*all));
}
