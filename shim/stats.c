/* stats.c - rendering and writing the stats file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pool.h"
#include "real.h"
#include "stats.h"
#include "twpool.h"

/* The process writes its file at exit; a forked child only once it pooled. */
static _Atomic int dirty = 1;
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

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
	put(&o, "# HELP twpool_info Shim version and process.\n# TYPE twpool_info gauge\n");
	put(&o, "twpool_info{version=\"%s\",pid=\"%d\"} 1\n", TWPOOL_VERSION, (int)getpid());
	return o.len;
}

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

static int write_file(const char *path, const char *text, size_t len)
{
	char tmp[4300];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t w = twp_real.write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	twp_real.close(fd);
	if (off < len || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

void twp_stats_write(int final)
{
	char path[4200];
	if (!twp_cfg.stats_path[0] || !atomic_load(&dirty) || stats_path(path, sizeof(path)) < 0)
		return;
	if (final ? pthread_mutex_lock(&write_mu) : pthread_mutex_trylock(&write_mu))
		return;
	int saved = errno;
	size_t need = twp_stats_render(NULL, 0) + 1024;
	char *text = malloc(need);
	if (text) {
		size_t len = twp_stats_render(text, need);
		if (len < need)
			write_file(path, text, len);
		free(text);
	}
	pthread_mutex_unlock(&write_mu);
	errno = saved;
}
