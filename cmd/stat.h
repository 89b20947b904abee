/* stat.h - twpool stat: stats files (Prometheus text), read and shown. */
#ifndef TWP_CMD_STAT_H
#define TWP_CMD_STAT_H

#include <stddef.h>

#define TWP_ALL "(all)" /* the row that sums the targets */
#define TWP_HOST "(host)" /* the path that stands for the host-wide stats */

struct twp_label {
	char *name, *value;
};

struct twp_sample {
	char *metric;
	struct twp_label *labels; /* in the file's order */
	size_t nlabels;
	double value;
};

struct twp_samples {
	struct twp_sample *v;
	size_t n;
};

/* Parses the text exposition format; text is modified. Returns 0, or -1
 * with "line N: what" in err. */
int twp_prom_parse(char *text, struct twp_samples *out, char *err, size_t errlen);
void twp_samples_free(struct twp_samples *all);
const char *twp_label(const struct twp_sample *s, const char *name);
/* qsort order of struct twp_label: by name. */
int twp_label_cmp(const void *a, const void *b);

/* Counters by label value, in the order they first appear. */
struct twp_count {
	char *key;
	double value;
};

struct twp_counts {
	struct twp_count *v;
	size_t n;
};

double twp_count_get(const struct twp_counts *c, const char *key);
void twp_count_add(struct twp_counts *c, const char *key, double value);
void twp_count_put(struct twp_counts *c, const char *key, double value);

/* A metric the table has no column for, e.g. replays: "ok" -> 3. */
struct twp_extra {
	char *name; /* without twpool_ and _total */
	struct twp_counts values;
};

struct twp_target {
	char *name;
	struct twp_counts connects, closes, discards; /* by result or reason */
	double idle;
	struct twp_extra *extra;
	size_t nextra;
};

/* One read of one stats file. */
struct twp_snapshot {
	const char *path;
	double mtime;
	const struct twp_sample *info; /* twpool_info, or NULL */
	struct twp_target *targets;
	size_t ntargets;
	struct twp_samples other; /* samples without a target label, in all */
	struct twp_samples all;   /* owns every sample */
};

/* Reads path. Returns 0, or -1 with errno set, or -2 with the reason it is
 * not a readable stats file in err. */
int twp_snapshot_read(const char *path, struct twp_snapshot *s, char *err, size_t errlen);
/* twp_snapshot_read, or the host-wide stats when path is TWP_HOST
 * (per_process: with the gauges of each live process). */
int twp_snapshot_load(const char *path, int per_process, struct twp_snapshot *s, char *err, size_t errlen);
/* The host-wide stats as Prometheus text (malloc'd), or NULL with err.
 * No file yet: every counter 0. */
char *twp_host_text(int per_process, char *err, size_t errlen);
void twp_snapshot_free(struct twp_snapshot *s);
/* Frees what a target holds but its name. */
void twp_target_free(struct twp_target *t);
/* Every target of s summed, named TWP_ALL. */
void twp_snapshot_total(const struct twp_snapshot *s, struct twp_target *total);
const struct twp_target *twp_snapshot_target(const struct twp_snapshot *s, const char *name);
double twp_target_connects(const struct twp_target *t);

/* Rates of one target in watch mode, per second. */
struct twp_rate {
	const char *target;
	double conn, reused; /* per second */
};

struct twp_rates {
	struct twp_rate *v;
	size_t n;
};

/* The text of one snapshot; rates NULL outside watch mode. */
char *twp_render(const struct twp_snapshot *s, const struct twp_rates *rates, double now);

/* Seconds since the epoch, as a file's mtime is. */
double twp_now(void);

/* twpool stat -w: redraws every interval seconds until SIGINT. */
int twp_stat_watch(char **paths, size_t n, double interval, int per_process);

#endif
