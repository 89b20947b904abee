/* watch.c - twpool stat -w: the tables redrawn every interval, with rates
 * between the last two versions of each file (told apart by mtime: the
 * library replaces the file whole, at most every TWPOOL_STATS_INTERVAL_MS;
 * the host-wide stats are a new version at every read). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "stat.h"

struct watcher {
	struct twp_snapshot prev, last; /* the last two versions; path NULL: none */
	struct twp_rates rates;
};

static volatile sig_atomic_t interrupted;
static int per_process; /* twpool stat -p: the host's gauges per process */

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

double twp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put_rate(struct twp_rates *r, const char *target, double conn, double reused)
{
	r->v = twp_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n++] = (struct twp_rate){ target, conn, reused };
}

static void rate(struct twp_rates *r, const struct twp_target *now, const struct twp_target *then,
		 double dt)
{
	struct twp_target none = { 0 };
	if (!then)
		then = &none;
	double d_conn = twp_target_connects(now) - twp_target_connects(then);
	double d_reused =
		twp_count_get(&now->connects, "reused") - twp_count_get(&then->connects, "reused");
	if (dt <= 0 || d_conn < 0 || d_reused < 0)
		return; /* counters went back: the program restarted */
	put_rate(r, now->name, d_conn / dt, d_reused / dt);
}

/* Rates from prev to last; the names point into last. */
static void rates_between(struct watcher *w)
{
	struct twp_target all_now, all_then;
	double dt = w->last.mtime - w->prev.mtime;
	for (size_t i = 0; i < w->last.ntargets; i++) {
		const struct twp_target *t = &w->last.targets[i];
		rate(&w->rates, t, twp_snapshot_target(&w->prev, t->name), dt);
	}
	twp_snapshot_total(&w->last, &all_now);
	twp_snapshot_total(&w->prev, &all_then);
	rate(&w->rates, &all_now, &all_then, dt);
	twp_target_free(&all_now);
	twp_target_free(&all_then);
}

/* Keeps snap when it is a new version (else frees it); the rates to show. */
static const struct twp_rates *update(struct watcher *w, struct twp_snapshot *snap, double interval,
				      double now)
{
	if (!w->last.path || snap->mtime != w->last.mtime) {
		twp_snapshot_free(&w->prev);
		w->prev = w->last;
		w->last = *snap;
		w->rates.n = 0;
		if (w->prev.path)
			rates_between(w);
	} else {
		twp_snapshot_free(snap);
	}
	double gap = w->prev.path ? w->last.mtime - w->prev.mtime : 0;
	double quiet = interval > gap ? interval : gap;
	if (now - w->last.mtime > 3 * (quiet > 1.0 ? quiet : 1.0)) {
		/* Not rewritten for a while: the program is idle (or gone). */
		w->rates.n = 0;
		for (size_t i = 0; i < w->last.ntargets; i++)
			put_rate(&w->rates, w->last.targets[i].name, 0, 0);
		put_rate(&w->rates, TWP_ALL, 0, 0);
	}
	return &w->rates;
}

static void show_file(const char *path, struct watcher *w, double interval, double now, char **out)
{
	struct twp_snapshot snap;
	char err[512];
	int r = twp_snapshot_load(path, per_process, &snap, err, sizeof(err));
	if (r == -1 && errno == ENOENT) {
		twp_append(out, "\n\n%s  waiting for the file to appear", path);
	} else if (r) {
		twp_append(out, "\n\n%s  cannot read it: %s", path,
			   r == -1 ? strerror(errno) : err);
	} else {
		const struct twp_rates *rates = update(w, &snap, interval, now);
		char *text = twp_render(&w->last, rates, now);
		twp_append(out, "\n\n%s", text);
		free(text);
	}
}

static void redraw(char **paths, size_t n, struct watcher *w, double interval, int tty)
{
	double now = twp_now();
	time_t secs = (time_t)now;
	struct tm tm;
	char clock[16], *out = NULL;
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&secs, &tm));
	twp_append(&out, "%stwpool stat: every %gs, %s; Ctrl-C quits", tty ? "\033[H\033[2J" : "",
		   interval, clock);
	for (size_t i = 0; i < n; i++)
		show_file(paths[i], &w[i], interval, now, &out);
	printf("%s\n%s", out, tty ? "" : "\n");
	fflush(stdout);
	free(out);
}

int twp_stat_watch(char **paths, size_t n, double interval, int per_proc)
{
	struct sigaction sa = { .sa_handler = on_sigint }; /* no SA_RESTART: wake the sleep */
	struct watcher *w = calloc(n, sizeof(*w));
	int tty = isatty(STDOUT_FILENO);
	struct timespec pause = { (time_t)interval, (long)((interval - (time_t)interval) * 1e9) };
	if (!w)
		twp_die(TWP_EXIT_USAGE, "out of memory");
	per_process = per_proc;
	sigaction(SIGINT, &sa, NULL);
	while (!interrupted) {
		redraw(paths, n, w, interval, tty);
		nanosleep(&pause, NULL);
	}
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		twp_snapshot_free(&w[i].prev);
		twp_snapshot_free(&w[i].last);
		free(w[i].rates.v);
	}
	free(w);
	return TWP_EXIT_OK;
}
