/* stat.c - twpool stat [-w] [-i SECONDS] [-p] [FILE|PID...] and
 * twpool stat --prom [-o FILE]: the host-wide stats or a stats file read
 * into one row per target, for the tables of render.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "hoststats.h"
#include "stat.h"
#include "twpool.h"

#define FILE_MAX (64u << 20) /* bytes of a stats file read; 64 targets need 20 KB */

static struct twp_count *count_find(const struct twp_counts *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].key, key))
			return &c->v[i];
	return NULL;
}

static struct twp_count *count_slot(struct twp_counts *c, const char *key)
{
	struct twp_count *v = count_find(c, key);
	if (v)
		return v;
	c->v = twp_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n] = (struct twp_count){ twp_xstrdup(key), 0 };
	return &c->v[c->n++];
}

double twp_count_get(const struct twp_counts *c, const char *key)
{
	const struct twp_count *v = count_find(c, key);
	return v ? v->value : 0;
}

void twp_count_add(struct twp_counts *c, const char *key, double value)
{
	count_slot(c, key)->value += value;
}

void twp_count_put(struct twp_counts *c, const char *key, double value)
{
	count_slot(c, key)->value = value;
}

/* The labels but target, sorted: "ok" when there is one, "a=1,b=2" else. */
static char *extra_key(const struct twp_sample *s)
{
	struct twp_label *l = twp_xmalloc((s->nlabels + 1) * sizeof(*l));
	size_t n = 0;
	char *key = twp_xstrdup("");
	for (size_t i = 0; i < s->nlabels; i++)
		if (strcmp(s->labels[i].name, "target"))
			l[n++] = s->labels[i];
	qsort(l, n, sizeof(*l), twp_label_cmp);
	for (size_t i = 0; i < n; i++)
		twp_append(&key, "%s%s%s%s", i ? "," : "", s->nlabels == 2 ? "" : l[i].name,
			   s->nlabels == 2 ? "" : "=", l[i].value);
	free(l);
	return key;
}

static void add_extra(struct twp_target *t, const struct twp_sample *s)
{
	const char *m = strncmp(s->metric, "twpool_", 7) ? s->metric : s->metric + 7;
	size_t len = strlen(m);
	if (len >= 6 && !strcmp(m + len - 6, "_total"))
		len -= 6;
	char *name = twp_xstrndup(m, len), *key = extra_key(s);
	size_t i = 0;
	while (i < t->nextra && strcmp(t->extra[i].name, name))
		i++;
	if (i == t->nextra) {
		t->extra = twp_xrealloc(t->extra, (t->nextra + 1) * sizeof(*t->extra));
		t->extra[t->nextra++] = (struct twp_extra){ .name = name };
	} else {
		free(name);
	}
	twp_count_put(&t->extra[i].values, key, s->value);
	free(key);
}

static void target_add(struct twp_target *t, const struct twp_sample *s)
{
	const char *result = twp_label(s, "result"), *reason = twp_label(s, "reason");
	if (!strcmp(s->metric, TWPOOL_METRIC_CONNECTS))
		twp_count_add(&t->connects, result ? result : "", s->value);
	else if (!strcmp(s->metric, TWPOOL_METRIC_CLOSES))
		twp_count_add(&t->closes, result ? result : "", s->value);
	else if (!strcmp(s->metric, TWPOOL_METRIC_DISCARDS))
		twp_count_add(&t->discards, reason ? reason : "", s->value);
	else if (!strcmp(s->metric, TWPOOL_METRIC_IDLE))
		t->idle += s->value;
	else
		add_extra(t, s);
}

const struct twp_target *twp_snapshot_target(const struct twp_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->ntargets; i++)
		if (!strcmp(s->targets[i].name, name))
			return &s->targets[i];
	return NULL;
}

static struct twp_target *target_slot(struct twp_snapshot *s, const char *name)
{
	struct twp_target *t = (struct twp_target *)twp_snapshot_target(s, name);
	if (t)
		return t;
	s->targets = twp_xrealloc(s->targets, (s->ntargets + 1) * sizeof(*s->targets));
	t = &s->targets[s->ntargets++];
	*t = (struct twp_target){ .name = twp_xstrdup(name) };
	return t;
}

static void counts_merge(struct twp_counts *into, const struct twp_counts *from)
{
	for (size_t i = 0; i < from->n; i++)
		twp_count_add(into, from->v[i].key, from->v[i].value);
}

void twp_snapshot_total(const struct twp_snapshot *s, struct twp_target *total)
{
	*total = (struct twp_target){ .name = TWP_ALL };
	for (size_t i = 0; i < s->ntargets; i++) {
		counts_merge(&total->connects, &s->targets[i].connects);
		counts_merge(&total->closes, &s->targets[i].closes);
		counts_merge(&total->discards, &s->targets[i].discards);
		total->idle += s->targets[i].idle;
	}
}

double twp_target_connects(const struct twp_target *t)
{
	double sum = 0;
	for (size_t i = 0; i < t->connects.n; i++)
		sum += t->connects.v[i].value;
	return sum;
}

static void counts_free(struct twp_counts *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].key);
	free(c->v);
}

void twp_target_free(struct twp_target *t)
{
	counts_free(&t->connects);
	counts_free(&t->closes);
	counts_free(&t->discards);
	for (size_t i = 0; i < t->nextra; i++) {
		free(t->extra[i].name);
		counts_free(&t->extra[i].values);
	}
	free(t->extra);
}

void twp_snapshot_free(struct twp_snapshot *s)
{
	for (size_t i = 0; i < s->ntargets; i++) {
		twp_target_free(&s->targets[i]);
		free(s->targets[i].name);
	}
	free(s->targets);
	free(s->other.v); /* its samples belong to all */
	twp_samples_free(&s->all);
	memset(s, 0, sizeof(*s));
}

static void snapshot_build(struct twp_snapshot *s, const struct twp_samples *all)
{
	for (size_t i = 0; i < all->n; i++) {
		const struct twp_sample *x = &all->v[i];
		const char *target = twp_label(x, "target");
		if (!strcmp(x->metric, "twpool_info")) {
			if (!s->info && x->nlabels)
				s->info = x;
		} else if (target) {
			target_add(target_slot(s, target), x);
		} else {
			s->other.v =
				twp_xrealloc(s->other.v, (s->other.n + 1) * sizeof(*s->other.v));
			s->other.v[s->other.n++] = *x;
		}
	}
}

/* A file the shim wrote has a twpool_ sample; anything else (an empty
 * file, another program's metrics, a text file) is not one. */
static int names_twpool(const char *text)
{
	for (const char *l = text; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l + strspn(l, " \t"), "twpool_", 7))
			return 1;
	return 0;
}

/* The whole file, NUL-terminated, and its mtime; NULL with errno. */
static char *slurp(const char *path, double *mtime)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t len = 0, cap = 16384;
	char *text = twp_xmalloc(cap + 1);
	ssize_t n = fstat(fd, &st);
	*mtime = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
	while (n >= 0 && len < FILE_MAX && (n = read(fd, text + len, cap - len)) > 0)
		if ((len += (size_t)n) == cap)
			text = twp_xrealloc(text, (cap *= 2) + 1);
	int saved = errno;
	close(fd);
	text[len] = '\0';
	if (n < 0) {
		free(text);
		errno = saved;
		return NULL;
	}
	return text;
}

/* text (modified) into s, labelled path. */
static int snapshot_text(char *text, const char *path, double mtime, struct twp_snapshot *s, char *err,
			 size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->path = path;
	s->mtime = mtime;
	if (!names_twpool(text)) {
		snprintf(err, errlen, "not a twpool stats file");
		return -2;
	}
	if (twp_prom_parse(text, &s->all, err, errlen) < 0)
		return -2;
	snapshot_build(s, &s->all);
	return 0;
}

int twp_snapshot_read(const char *path, struct twp_snapshot *s, char *err, size_t errlen)
{
	double mtime;
	char *text = slurp(path, &mtime);
	if (!text) {
		memset(s, 0, sizeof(*s));
		return -1;
	}
	int r = snapshot_text(text, path, mtime, s, err, errlen);
	free(text);
	return r;
}

char *twp_host_text(int per_process, char *err, size_t errlen)
{
	static struct twp_hs none; /* no file yet: nothing counted */
	char path[4096];
	int r = twp_hs_path(path, sizeof(path));
	if (r != 0) {
		snprintf(err, errlen, r > 0 ? "host stats are off (%s)" : "no directory for host stats: %s",
			 r > 0 ? TWPOOL_ENV_HOST_STATS : strerror(-r));
		return NULL;
	}
	struct twp_hs *h = twp_hs_open(path, 0, err, errlen);
	if (!h && errno != ENOENT)
		return NULL;
	char *text = twp_hs_render(h ? h : &none, per_process);
	twp_hs_close(h);
	return text;
}

int twp_snapshot_load(const char *path, int per_process, struct twp_snapshot *s, char *err, size_t errlen)
{
	if (strcmp(path, TWP_HOST))
		return twp_snapshot_read(path, s, err, errlen);
	char *text = twp_host_text(per_process, err, errlen);
	memset(s, 0, sizeof(*s));
	if (!text)
		return -2;
	int r = snapshot_text(text, TWP_HOST, twp_now(), s, err, errlen);
	free(text);
	return r;
}

static char *environ_value(const char *pid, const char *name, const char **why)
{
	double mtime;
	char *env = slurp(twp_xasprintf("/proc/%s/environ", pid), &mtime);
	size_t n = strlen(name);
	if (!env) {
		*why = errno == ENOENT ? "no such process" : strerror(errno);
		return NULL;
	}
	for (char *e = env; *e; e += strlen(e) + 1) /* NUL-separated, one more NUL at the end */
		if (!strncmp(e, name, n) && e[n] == '=')
			return e + n + 1;
	*why = "TWPOOL_STATS is not in its environment";
	return NULL;
}

/* pattern with every %p replaced by the pid, as the library does. */
static char *expand_pid(const char *pattern, const char *pid)
{
	char *out = twp_xstrdup("");
	for (const char *p = pattern; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			twp_append(&out, "%ld", strtol(pid, NULL, 10));
			p++;
		} else {
			twp_append(&out, "%c", *p);
		}
	}
	return out;
}

/* The stats file of process pid, from its TWPOOL_STATS; NULL with *why. */
static char *stats_file_of(const char *pid, const char **why)
{
	char *pattern = environ_value(pid, TWPOOL_ENV_STATS, why), cwd[4096];
	if (pattern && !*pattern)
		*why = "TWPOOL_STATS is empty in its environment";
	if (!pattern || !*pattern)
		return NULL;
	char *path = expand_pid(pattern, pid);
	if (*path == '/')
		return path;
	ssize_t n = readlink(twp_xasprintf("/proc/%s/cwd", pid), cwd, sizeof(cwd) - 1);
	if (n < 0) {
		*why = strerror(errno);
		return NULL;
	}
	cwd[n] = '\0';
	return twp_xasprintf("%s/%s", cwd, path);
}

static int all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* The file of each argument; a PID stands for its process's stats file. */
static char **resolve(char **args, size_t n)
{
	char **paths = twp_xmalloc(n * sizeof(*paths));
	const char *why;
	for (size_t i = 0; i < n; i++) {
		paths[i] = all_digits(args[i]) ? stats_file_of(args[i], &why) : args[i];
		if (!paths[i])
			twp_die(TWP_EXIT_STAT, "stat: process %s: %s", args[i], why);
	}
	return paths;
}

static int stat_once(char **paths, size_t n, int per_process)
{
	int status = TWP_EXIT_OK;
	const char *sep = "";
	for (size_t i = 0; i < n; i++) {
		struct twp_snapshot snap;
		char err[512];
		int r = twp_snapshot_load(paths[i], per_process, &snap, err, sizeof(err));
		if (r == 0) {
			char *text = twp_render(&snap, NULL, twp_now());
			printf("%s%s\n", sep, text);
			free(text);
			twp_snapshot_free(&snap);
			sep = "\n";
			continue;
		}
		twp_warn("stat: %s: %s", paths[i], r == -1 ? strerror(errno) : err);
		status = TWP_EXIT_STAT;
	}
	return status;
}

/* Replaces path with text: a new file beside it, renamed over it, so
 * that a collector never reads half a file and a symlink at path is
 * replaced, not followed. */
static int write_atomic(const char *path, const char *text)
{
	char *tmp = twp_xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644), err = 0;
	size_t len = strlen(text), done = 0;
	if (fd < 0)
		return -1;
	while (done < len && err == 0) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno != EINTR)
			err = errno;
		done += w > 0 ? (size_t)w : 0;
	}
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err)
		unlink(tmp);
	free(tmp);
	errno = err;
	return err ? -1 : 0;
}

/* twpool stat --prom [-o FILE]: the host's Prometheus text. */
static int stat_prom(const char *out, int per_process)
{
	char err[512];
	char *text = twp_host_text(per_process, err, sizeof(err));
	if (!text) {
		twp_warn("stat: %s", err);
		return TWP_EXIT_STAT;
	}
	int status = TWP_EXIT_OK;
	if (!out)
		fputs(text, stdout);
	else if (write_atomic(out, text) < 0) {
		twp_warn("stat: -o %s: %s", out, strerror(errno));
		status = TWP_EXIT_STAT;
	}
	free(text);
	return status;
}

static double interval_arg(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0.05 && v <= 86400))
		twp_usage("stat: -i: '%s' is not a number of seconds (0.05..86400)", s);
	return v;
}

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "prom", no_argument, NULL, 'P' },
	{ "output", required_argument, NULL, 'o' },
	{ "processes", no_argument, NULL, 'p' },
	{ NULL, 0, NULL, 0 },
};

struct stat_opts {
	int watch, prom, per_process;
	double interval;
	const char *out;
};

static void stat_options(int argc, char **argv, struct stat_opts *o)
{
	int c;
	while ((c = getopt_long(argc, argv, "wi:o:ph", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			twp_help();
		case 'i':
			o->interval = interval_arg(optarg);
			__attribute__((fallthrough)); /* -i implies -w */
		case 'w':
			o->watch = 1;
			break;
		case 'o':
			o->out = optarg;
			__attribute__((fallthrough)); /* -o implies --prom */
		case 'P':
			o->prom = 1;
			break;
		case 'p':
			o->per_process = 1;
			break;
		default:
			twp_try_help(); /* getopt has said what is wrong */
		}
	}
	if (o->prom && (o->watch || optind < argc))
		twp_usage("stat: --prom and -o take the host-wide stats only: no -w, FILE or PID");
}

int twp_stat_main(int argc, char **argv)
{
	struct stat_opts o = { .interval = 1.0 };
	static char *host[] = { TWP_HOST };
	argv[0] = TWP_PROG " stat";
	stat_options(argc, argv, &o);
	if (o.prom)
		return stat_prom(o.out, o.per_process);
	size_t n = optind < argc ? (size_t)(argc - optind) : 1;
	char **paths = optind < argc ? resolve(argv + optind, n) : host;
	int status = o.watch ? twp_stat_watch(paths, n, o.interval, o.per_process)
			     : stat_once(paths, n, o.per_process);
	if (paths != host)
		free(paths); /* the strings are argv's or leave with the process */
	return status;
}
