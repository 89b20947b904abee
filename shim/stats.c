/* stats.c - rendering and writing the stats file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool.h"
#include "real.h"
#include "stats.h"
#include "twpool.h"

/* A process writes the file only once one of its counters moved: a shell
 * that never matched a target must not replace, at its exit, the file of
 * the client it ran with the same TWPOOL_STATS. */
static _Atomic int dirty;
/* One warning per process about a file that cannot be written. */
static _Atomic int warned;
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

/* Libraries loaded with RTLD_DEEPBIND: [0] bypassed, [1] redirected. */
static _Atomic uint64_t deepbind[2];

void twp_stats_deepbind(int redirected)
{
	atomic_fetch_add_explicit(&deepbind[!!redirected], 1, memory_order_relaxed);
	if (!redirected) /* a warning worth a file, even in a process that pools nothing */
		twp_stats_touch();
}

void twp_stats_touch(void)
{
	if (!atomic_load_explicit(&dirty, memory_order_relaxed))
		atomic_store_explicit(&dirty, 1, memory_order_relaxed);
}

void twp_stats_atfork_child(void)
{
	atomic_store(&dirty, 0);
	pthread_mutex_init(&write_mu, NULL);
}

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
			  o->len < o->size ? o->size - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static uint64_t get(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

enum family { F_CONNECTS, F_CLOSES, F_DISCARDS, F_IDLE, F_REPLAYS, F_COUNT };

static void family_samples(const struct twp_target *t, void *arg)
{
	struct out *o = ((void **)arg)[0];
	enum family f = *(enum family *)((void **)arg)[1];
	const char *l = t->label;
	switch (f) {
	case F_CONNECTS:
		put(o, TWPOOL_METRIC_CONNECTS "{target=\"%s\",result=\"reused\"} %llu\n", l, (unsigned long long)get(&t->n.reused));
		put(o, TWPOOL_METRIC_CONNECTS "{target=\"%s\",result=\"fresh\"} %llu\n", l, (unsigned long long)get(&t->n.fresh));
		break;
	case F_CLOSES:
		put(o, TWPOOL_METRIC_CLOSES "{target=\"%s\",result=\"parked\"} %llu\n", l, (unsigned long long)get(&t->n.parked));
		put(o, TWPOOL_METRIC_CLOSES "{target=\"%s\",result=\"closed\"} %llu\n", l, (unsigned long long)get(&t->n.closed));
		break;
	case F_DISCARDS:
		for (int r = TWP_R_NONE + 1; r < TWP_R_COUNT; r++)
			put(o, TWPOOL_METRIC_DISCARDS "{target=\"%s\",reason=\"%s\"} %llu\n", l,
			    twp_reason_name((enum twp_reason)r), (unsigned long long)get(&t->n.discards[r]));
		break;
	case F_IDLE:
		put(o, TWPOOL_METRIC_IDLE "{target=\"%s\"} %u\n", l, t->nidle);
		break;
	case F_REPLAYS:
		put(o, TWPOOL_METRIC_REPLAYS "{target=\"%s\",result=\"ok\"} %llu\n", l, (unsigned long long)get(&t->n.replays_ok));
		put(o, TWPOOL_METRIC_REPLAYS "{target=\"%s\",result=\"failed\"} %llu\n", l, (unsigned long long)get(&t->n.replays_failed));
		break;
	default:
		break;
	}
}

size_t twp_stats_render(char *buf, size_t size)
{
	static const struct { const char *name, *type, *help; } fams[F_COUNT] = {
		{ TWPOOL_METRIC_CONNECTS, "counter", "Connections handed to the program by connect(), by result." },
		{ TWPOOL_METRIC_CLOSES, "counter", "Closes of pooled-target connections by the program, by result." },
		{ TWPOOL_METRIC_DISCARDS, "counter", "Connections closed for real instead of parked or reused, by reason." },
		{ TWPOOL_METRIC_IDLE, "gauge", "Idle connections in the pool now." },
		{ TWPOOL_METRIC_REPLAYS, "counter", "Requests re-sent on a fresh connection after a reused one died before its reply." },
	};
	struct out o = { buf, size, 0 };
	if (size)
		buf[0] = '\0';
	for (enum family f = 0; f < F_COUNT; f++) {
		put(&o, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help, fams[f].name, fams[f].type);
		void *arg[2] = { &o, &f };
		twp_pool_each(family_samples, arg);
	}
	put(&o, "# HELP %s Libraries loaded with RTLD_DEEPBIND, by whether their socket calls reach the shim.\n"
	     "# TYPE %s counter\n", TWPOOL_METRIC_DEEPBIND, TWPOOL_METRIC_DEEPBIND);
	for (int r = 1; r >= 0; r--)
		put(&o, TWPOOL_METRIC_DEEPBIND "{result=\"%s\"} %llu\n", r ? "redirected" : "bypassed",
		    (unsigned long long)atomic_load_explicit(&deepbind[r], memory_order_relaxed));
	put(&o, "# HELP twpool_info Shim version and process.\n# TYPE twpool_info gauge\n");
	put(&o, "twpool_info{version=\"%s\",pid=\"%d\"} 1\n", TWPOOL_VERSION, (int)getpid());
	return o.len;
}

/* Room for TWPOOL_STATS with its %p expanded. */
#define TWP_STATS_PATH_MAX 4200

/* TWPOOL_STATS with every %p replaced by the pid. */
static int stats_path(char *out, size_t size)
{
	const char *p = twp_cfg.stats_path;
	size_t n = 0;
	for (; *p && n + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			n += (size_t)snprintf(out + n, size - n, "%d", (int)getpid());
			p++;
		} else {
			out[n++] = *p;
		}
	}
	if (n >= size)
		return -1;
	out[n] = '\0';
	return 0;
}

/* Temporaries are named <path>.tmp.<16 hex digits>: a name no other user
 * can plant in advance. O_EXCL and O_NOFOLLOW make a planted one fail the
 * attempt, never redirect it; a few attempts outlast bad luck. */
#define TMP_TRIES 8
#define TMP_SUFFIX_MAX sizeof(".tmp.0123456789abcdef") /* with the NUL */

static void tmp_name(char *tmp, size_t size, const char *path)
{
	uint64_t r;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
	}
	snprintf(tmp, size, "%s.tmp.%016llx", path, (unsigned long long)r);
}

/* Cuts path (a buffer of at least 2 bytes) down to its directory. */
static void cut_to_dir(char *path)
{
	char *slash = strrchr(path, '/');
	if (!slash)
		strcpy(path, ".");
	else if (slash == path)
		path[1] = '\0'; /* "/name": the root */
	else
		*slash = '\0';
}

/* An unnamed file beside path (O_TMPFILE): it gets a name only once it is
 * complete. -1 where the file system or /proc cannot do it. */
static int write_unnamed(const char *path, char *tmp, size_t size, const char *text, size_t len)
{
	char proc[40];
	snprintf(tmp, size, "%s", path);
	cut_to_dir(tmp);
	int fd = open(tmp, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int ok = twp_write_all(fd, text, len) == 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int i = 0; ok && i < TMP_TRIES; i++) {
		tmp_name(tmp, size, path);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
			break;
		ok = errno == EEXIST && i + 1 < TMP_TRIES;
	}
	twp_real.close(fd);
	return ok ? 0 : -1;
}

/* A new file of a name nobody could plant. */
static int write_named(const char *path, char *tmp, size_t size, const char *text, size_t len)
{
	int fd = -1;
	for (int i = 0; fd < 0 && i < TMP_TRIES; i++) {
		tmp_name(tmp, size, path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			return -1;
	}
	if (fd < 0)
		return -1;
	int ok = twp_write_all(fd, text, len) == 0;
	twp_real.close(fd);
	if (!ok)
		unlink(tmp);
	return ok ? 0 : -1;
}

/* Replaces path with text atomically: a complete temporary, renamed over
 * it. rename() replaces a symlink at path, never what it points to. */
static int write_file(const char *path, const char *text, size_t len)
{
	char tmp[TWP_STATS_PATH_MAX + TMP_SUFFIX_MAX];
	if (write_unnamed(path, tmp, sizeof(tmp), text, len) < 0 &&
	    write_named(path, tmp, sizeof(tmp), text, len) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void warn_once(const char *path, int err)
{
	if (!atomic_exchange(&warned, 1))
		twp_log(TWP_LOG_WARN, "TWPOOL_STATS: cannot write '%s': %s; no stats file", path, strerror(err));
}

void twp_stats_check(void)
{
	char path[TWP_STATS_PATH_MAX], dir[TWP_STATS_PATH_MAX];
	if (!twp_cfg.stats_path[0])
		return;
	if (stats_path(path, sizeof(path)) < 0) {
		warn_once(twp_cfg.stats_path, ENAMETOOLONG);
		return;
	}
	memcpy(dir, path, sizeof(dir));
	cut_to_dir(dir);
	int saved = errno;
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
		warn_once(path, errno);
	errno = saved;
}

void twp_stats_write(int final)
{
	char path[TWP_STATS_PATH_MAX];
	if (!twp_cfg.stats_path[0] || !atomic_load(&dirty) || stats_path(path, sizeof(path)) < 0)
		return;
	if (final ? pthread_mutex_lock(&write_mu) : pthread_mutex_trylock(&write_mu))
		return;
	int saved = errno;
	size_t need = twp_stats_render(NULL, 0) + 1024;
	char *text = malloc(need);
	if (text) {
		size_t len = twp_stats_render(text, need);
		if (len < need && write_file(path, text, len) < 0)
			warn_once(path, errno);
		free(text);
	}
	pthread_mutex_unlock(&write_mu);
	errno = saved;
}
