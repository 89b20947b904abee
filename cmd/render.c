/* render.c - the text of twpool stat: a head line per file, a table with a
 * row per target (and their sum), then the metrics without a column. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "stat.h"

#define COLS_MAX 11

struct table {
	char *(*cells)[COLS_MAX]; /* malloc'd strings */
	size_t rows, cols;
};

static void fmt_count(char *buf, size_t size, double v)
{
	snprintf(buf, size, isfinite(v) && v == trunc(v) ? "%.0f" : "%.3g", v);
}

static char *count_str(double v)
{
	char buf[64];
	fmt_count(buf, sizeof(buf), v);
	return twp_xstrdup(buf);
}

static char *pct_str(double part, double whole)
{
	return whole > 0 ? twp_xasprintf("%.1f%%", 100.0 * part / whole) : twp_xstrdup("-");
}

static char *rate_str(double v)
{
	return twp_xasprintf(v >= 100 ? "%.0f" : "%.1f", v);
}

static char *age_str(double s)
{
	long n = (long)(s > 0 ? s : 0);
	if (s < 60)
		return twp_xasprintf("%.0fs", s > 0 ? s : 0);
	if (s < 3600)
		return twp_xasprintf("%ldm%02lds", n / 60, n % 60);
	return twp_xasprintf("%ldh%02ldm", n / 3600, n / 60 % 60);
}

static void add_row(struct table *t, char *const cells[], size_t n)
{
	t->cells = twp_xrealloc(t->cells, (t->rows + 1) * sizeof(*t->cells));
	for (size_t i = 0; i < n; i++)
		t->cells[t->rows][i] = cells[i];
	t->cols = n;
	t->rows++;
}

/* Columns aligned, the inner ones (the numbers) to the right; every line
 * indented by two spaces. Frees the cells. */
static void table_text(struct table *t, char **out)
{
	size_t width[COLS_MAX] = { 0 };
	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			if (strlen(t->cells[r][c]) > width[c])
				width[c] = strlen(t->cells[r][c]);
	for (size_t r = 0; r < t->rows; r++) {
		char *line = NULL;
		for (size_t c = 0; c < t->cols; c++) {
			int right = c > 0 && c + 1 < t->cols;
			twp_append(&line, "%s%*s", c ? "  " : "",
				   right ? (int)width[c] : -(int)width[c], t->cells[r][c]);
			free(t->cells[r][c]);
		}
		size_t n = strlen(line);
		while (n && line[n - 1] == ' ')
			line[--n] = '\0';
		twp_append(out, "\n  %s", line);
		free(line);
	}
	free(t->cells);
}

/* "unused=3 eof=1": the reasons seen, most frequent first, "-" if none. */
static char *discards_str(const struct twp_counts *d)
{
	char *out = NULL, buf[64];
	int *done = calloc(d->n + 1, sizeof(*done));
	for (size_t k = 0; done && k < d->n; k++) {
		size_t best = d->n;
		for (size_t i = 0; i < d->n; i++) /* stable: the first of equals wins */
			if (!done[i] && (best == d->n || d->v[i].value > d->v[best].value))
				best = i;
		done[best] = 1;
		if (d->v[best].value == 0)
			continue;
		fmt_count(buf, sizeof(buf), d->v[best].value);
		twp_append(&out, "%s%s=%s", out ? " " : "", d->v[best].key, buf);
	}
	free(done);
	return out ? out : twp_xstrdup("-");
}

static const struct twp_rate *rate_of(const struct twp_rates *rates, const char *target)
{
	for (size_t i = 0; rates && i < rates->n; i++)
		if (!strcmp(rates->v[i].target, target))
			return &rates->v[i];
	return NULL;
}

static size_t rate_cells(char **cells, const struct twp_rates *rates, const char *target)
{
	const struct twp_rate *r = rate_of(rates, target);
	if (!rates)
		return 0;
	cells[0] = r ? rate_str(r->conn) : twp_xstrdup("-");
	cells[1] = r && r->conn ? pct_str(r->reused, r->conn) : twp_xstrdup("-");
	cells[2] = r ? rate_str(r->reused) : twp_xstrdup("-");
	return 3;
}

static void target_row(struct table *t, const struct twp_target *s, const struct twp_rates *rates)
{
	char *cells[COLS_MAX] = { twp_xstrdup(s->name) };
	size_t n = 1 + rate_cells(cells + 1, rates, s->name);
	double reused = twp_count_get(&s->connects, "reused");
	cells[n++] = count_str(reused);
	cells[n++] = count_str(twp_count_get(&s->connects, "fresh"));
	cells[n++] = pct_str(reused, twp_target_connects(s));
	cells[n++] = count_str(twp_count_get(&s->closes, "parked"));
	cells[n++] = count_str(twp_count_get(&s->closes, "closed"));
	cells[n++] = count_str(s->idle);
	cells[n++] = discards_str(&s->discards);
	add_row(t, cells, n);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct twp_count *)a)->key, ((const struct twp_count *)b)->key);
}

static int by_extra_name(const void *a, const void *b)
{
	return strcmp(((const struct twp_extra *)a)->name, ((const struct twp_extra *)b)->name);
}

/* "  127.0.0.1:6379 replays: failed=0 ok=3", a line per extra metric. */
static void extra_lines(const struct twp_target *s, char **out)
{
	char buf[64];
	if (s->nextra) /* qsort takes no NULL, even for nothing */
		qsort(s->extra, s->nextra, sizeof(*s->extra), by_extra_name);
	for (size_t i = 0; i < s->nextra; i++) {
		struct twp_counts *v = &s->extra[i].values;
		qsort(v->v, v->n, sizeof(*v->v), by_key);
		twp_append(out, "\n  %s %s:", s->name, s->extra[i].name);
		for (size_t k = 0; k < v->n; k++) {
			fmt_count(buf, sizeof(buf), v->v[k].value);
			twp_append(out, " %s%s%s", v->v[k].key, *v->v[k].key ? "=" : "", buf);
		}
	}
}

static void target_table(const struct twp_snapshot *snap, const struct twp_rates *rates, char **out)
{
	static char *const head[] = { "TARGET", "CONN/s", "NOW-REUSE%", "REUSED/s",
				      "REUSED", "FRESH",  "REUSE%",     "PARKED",
				      "CLOSED", "IDLE",   "DISCARDS" };
	char *cells[COLS_MAX];
	struct table t = { 0 };
	struct twp_target total;
	size_t n = 0;
	for (size_t i = 0; i < COLS_MAX; i++)
		if (rates || i == 0 || i > 3)
			cells[n++] = twp_xstrdup(head[i]);
	add_row(&t, cells, n);
	for (size_t i = 0; i < snap->ntargets; i++)
		target_row(&t, &snap->targets[i], rates);
	twp_snapshot_total(snap, &total);
	if (snap->ntargets > 1)
		target_row(&t, &total, rates);
	twp_target_free(&total);
	table_text(&t, out);
	for (size_t i = 0; i < snap->ntargets; i++)
		extra_lines(&snap->targets[i], out);
}

static void other_lines(const struct twp_snapshot *snap, char **out)
{
	char buf[64];
	for (size_t i = 0; i < snap->other.n; i++) {
		const struct twp_sample *s = &snap->other.v[i];
		struct twp_label *l = s->labels;
		if (s->nlabels)
			qsort(l, s->nlabels, sizeof(*l), twp_label_cmp);
		twp_append(out, "\n  %s%s", s->metric, s->nlabels ? "{" : "");
		for (size_t k = 0; k < s->nlabels; k++)
			twp_append(out, "%s%s=\"%s\"", k ? "," : "", l[k].name, l[k].value);
		fmt_count(buf, sizeof(buf), s->value);
		twp_append(out, "%s %s", s->nlabels ? "}" : "", buf);
	}
}

char *twp_render(const struct twp_snapshot *snap, const struct twp_rates *rates, double now)
{
	const char *pid = snap->info ? twp_label(snap->info, "pid") : NULL;
	const char *version = snap->info ? twp_label(snap->info, "version") : NULL;
	int host = !strcmp(snap->path, TWP_HOST);
	char *out = twp_xstrdup(host ? "host-wide (all processes of this user and network namespace)" : snap->path);
	if (pid && *pid && !host)
		twp_append(&out, "  pid %s", pid);
	if (version && *version)
		twp_append(&out, "  shim %s", version);
	if (!host) {
		char *age = age_str(now - snap->mtime);
		twp_append(&out, "  written %s ago", age);
		free(age);
	}
	if (snap->ntargets)
		target_table(snap, rates, &out);
	else
		twp_append(&out, "\n  (no pooled connections yet)");
	other_lines(snap, &out);
	return out;
}
