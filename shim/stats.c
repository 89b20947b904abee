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
#include "hoststats.h"
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
/* Connects to addresses not listed (this process). */
static _Atomic uint64_t passthrough;

/* The host segment, mapped once (NULL: off or refused), and this
 * process's slot in it (-1: none yet; a forked child claims its own). */
static struct twp_hs *_Atomic host; /* read by the stats writer without the once */
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static _Atomic int slot = -1;

static void host_open(void)
{
	char path[4096], err[512];
	struct twp_hs *h = NULL;
	int saved = errno, r = twp_hs_path(path, sizeof(path));
	if (r < 0)
		twp_log(TWP_LOG_WARN, "host stats: no private directory: %s; not counted host-wide", strerror(-r));
	else if (r == 0 && !(h = twp_hs_open(path, 1, err, sizeof(err))))
		twp_log(TWP_LOG_WARN, "host stats: %s; not counted host-wide", err);
	atomic_store(&host, h);
	errno = saved;
}

static struct twp_hs *host_get(void)
{
	pthread_once(&host_once, host_open);
	return atomic_load(&host);
}

/* Adds one to a host-wide counter without a target. */
static void host_count(enum twp_hg g)
{
	struct twp_hs *h = host_get();
	if (h)
		atomic_fetch_add_explicit(&h->g[g], 1, memory_order_relaxed);
}

struct twp_target *twp_stats_bind(struct twp_target *t)
{
	struct twp_hs *h;
	if (!t || atomic_load_explicit(&t->n.host, memory_order_relaxed) || !(h = host_get()))
		return t;
	int i = twp_hs_target(h, t->label), unbound = 0;
	if (i < 0 || !atomic_compare_exchange_strong(&t->n.host, &unbound, i + 1))
		return t; /* full, or another thread bound it */
	for (int c = 0; c < TWP_C_COUNT; c++)
		atomic_store_explicit(&t->n.c[c].host, &h->t[i].c[c], memory_order_relaxed);
	return t;
}

int twp_stats_connect_failed(struct twp_target *t, int r)
{
	int saved = errno;
	twp_count(&t->n.failed[twp_cf_of(errno)]);
	errno = saved;
	return r;
}

int twp_stats_passthrough(int r, int counted)
{
	if (!counted || (r < 0 && errno != EINPROGRESS))
		return r;
	int saved = errno;
	atomic_fetch_add_explicit(&passthrough, 1, memory_order_relaxed);
	host_count(TWP_HG_PASSTHROUGH);
	errno = saved;
	return r;
}

void twp_stats_config_error(void)
{
	host_count(TWP_HG_CONFIG_ERRORS);
}

void twp_stats_deepbind(int redirected)
{
	atomic_fetch_add_explicit(&deepbind[!!redirected], 1, memory_order_relaxed);
	host_count(redirected ? TWP_HG_DEEPBIND_REDIRECTED : TWP_HG_DEEPBIND_BYPASSED);
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
	atomic_store(&slot, -1);
	pthread_mutex_init(&write_mu, NULL);
}

/* Connections the program holds: handed out and not yet closed by it. */
static uint64_t in_use(const struct twp_counters *n)
{
	uint64_t out = twp_ctr_get(&n->reused) + twp_ctr_get(&n->fresh),
		 back = twp_ctr_get(&n->parked) + twp_ctr_get(&n->closed);
	return out > back ? out - back : 0;
}

static void slot_gauges(const struct twp_target *t, void *arg)
{
	struct twp_hs_slot *s = arg;
	int i = atomic_load_explicit(&t->n.host, memory_order_relaxed) - 1;
	if (i < 0 || i >= TWP_HS_TARGETS)
		return;
	atomic_store_explicit(&s->idle[i], t->nidle, memory_order_relaxed);
	atomic_store_explicit(&s->inuse[i], (uint32_t)in_use(&t->n), memory_order_relaxed);
}

/* This process's gauges into its slot; at exit, the slot freed. */
static void host_gauges(int final)
{
	struct twp_hs *h = atomic_load(&host);
	int i = atomic_load(&slot);
	if (!h || (final && i < 0))
		return;
	if (final) {
		twp_hs_slot_release(h, i);
		atomic_store(&slot, -1);
		return;
	}
	if (i < 0) {
		i = twp_hs_slot_claim(h);
		atomic_store(&slot, i);
	}
	if (i >= 0)
		twp_pool_each(slot_gauges, &h->s[i]);
}

struct rows {
	struct twp_row *v;
	size_t n, cap;
};

static void add_row(const struct twp_target *t, void *arg)
{
	struct rows *r = arg;
	if (r->n == r->cap)
		return; /* a target created since they were counted */
	struct twp_row *row = &r->v[r->n++];
	memcpy(row->label, t->label, sizeof(row->label));
	for (int c = 0; c < TWP_C_COUNT; c++)
		row->v[c] = twp_ctr_get(&t->n.c[c]);
	row->idle = t->nidle;
	row->inuse = in_use(&t->n);
}

static void count_target(const struct twp_target *t, void *arg)
{
	(void)t;
	++*(size_t *)arg;
}

size_t twp_stats_render(char *buf, size_t size)
{
	struct rows r = { 0 };
	struct twp_text_info info = {
		.deepbind = { atomic_load(&deepbind[0]), atomic_load(&deepbind[1]) },
		.passthrough = atomic_load(&passthrough),
		.pid = (int)getpid(),
	};
	twp_pool_each(count_target, &r.cap);
	r.v = r.cap ? calloc(r.cap, sizeof(*r.v)) : NULL;
	if (r.v)
		twp_pool_each(add_row, &r);
	size_t len = twp_rows_render(buf, size, r.v, r.n, &info);
	free(r.v);
	return len;
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
	host_gauges(final);
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
