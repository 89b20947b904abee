/* hoststats.c - the host-wide stats segment, and the Prometheus text of a
 * table of targets. Linked into the shim and into twpool stat: it logs
 * nothing (callers say what went wrong, from err) and reaches hooked libc
 * calls only through twp_real. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoststats.h"
#include "real.h"
#include "twpool.h"

/* A FILLING entry whose filler died stays so; after this many polls the
 * claimer moves on to the next entry instead of waiting. */
#define FILL_WAIT_POLLS 1000

static const char *const cf_names[TWP_CF_COUNT] = { "EADDRNOTAVAIL", "ECONNREFUSED", "ETIMEDOUT", "other" };

const char *twp_cf_name(enum twp_cf f)
{
	return f < TWP_CF_COUNT ? cf_names[f] : "other";
}

enum twp_cf twp_cf_of(int err)
{
	switch (err) {
	case EADDRNOTAVAIL:
		return TWP_CF_EADDRNOTAVAIL;
	case ECONNREFUSED:
		return TWP_CF_ECONNREFUSED;
	case ETIMEDOUT:
		return TWP_CF_ETIMEDOUT;
	default:
		return TWP_CF_OTHER;
	}
}

/* dir is ours, not a symlink, and nobody else may enter it. */
static int private_dir(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* $XDG_RUNTIME_DIR/twpool, else /run/user/UID/twpool, else /tmp/twpool-UID. */
static int default_dir(char *dir, size_t size)
{
	const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
	unsigned uid = (unsigned)geteuid();
	struct stat st;
	if (xdg && *xdg == '/' && snprintf(dir, size, "%s/twpool", xdg) < (int)size && private_dir(dir) == 0)
		return 0;
	snprintf(dir, size, "/run/user/%u", uid);
	if (stat(dir, &st) == 0 && snprintf(dir, size, "/run/user/%u/twpool", uid) < (int)size &&
	    private_dir(dir) == 0)
		return 0;
	snprintf(dir, size, "/tmp/twpool-%u", uid);
	return private_dir(dir) < 0 ? -errno : 0;
}

int twp_hs_path(char *out, size_t size)
{
	const char *v = secure_getenv(TWPOOL_ENV_HOST_STATS);
	struct stat st;
	char dir[4096];
	if (v && (!strcmp(v, "0") || !strcmp(v, "off")))
		return 1;
	if (v && *v == '/')
		return snprintf(out, size, "%s", v) < (int)size ? 0 : -ENAMETOOLONG;
	int r = default_dir(dir, sizeof(dir));
	if (r < 0)
		return r;
	/* Per network namespace: 127.0.0.1:6379 is another server in another one. */
	unsigned long long ns = stat("/proc/self/ns/net", &st) == 0 ? (unsigned long long)st.st_ino : 0;
	return snprintf(out, size, "%s/stats-%llu.shm", dir, ns) < (int)size ? 0 : -ENAMETOOLONG;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void header_fill(struct twp_hs *h)
{
	memcpy(h->magic, TWP_HS_MAGIC, sizeof(h->magic));
	h->version = TWP_HS_VERSION;
	h->size = sizeof(*h);
	h->ntargets = TWP_HS_TARGETS;
	h->nslots = TWP_HS_SLOTS;
	h->ncounters = TWP_C_COUNT;
	h->label_max = TWP_LABEL_MAX;
}

static int header_ok(const struct twp_hs *h)
{
	struct twp_hs want;
	header_fill(&want);
	return !memcmp(h->magic, want.magic, sizeof(want.magic)) && h->version == want.version &&
	       h->size == want.size && h->ntargets == want.ntargets && h->nslots == want.nslots &&
	       h->ncounters == want.ncounters && h->label_max == want.label_max;
}

/* A complete new segment at a name nobody could plant, linked to path:
 * link() fails rather than replace what another process published first. */
static int create(const char *path)
{
	char tmp[4200];
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint64_t)getpid() << 20 ^ (uint64_t)(uintptr_t)&r;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%016llx", path, (unsigned long long)r) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600), err = 0;
	if (fd < 0)
		return -errno;
	struct twp_hs *h = MAP_FAILED;
	if (ftruncate(fd, sizeof(*h)) < 0 ||
	    (h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		err = -errno;
	} else {
		header_fill(h);
		munmap(h, sizeof(*h));
		if (link(tmp, path) < 0 && errno != EEXIST)
			err = -errno;
	}
	twp_real.close(fd);
	unlink(tmp);
	return err;
}

static int open_checked(const char *path, int rw, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e != ENOENT)
			fail(err, errlen, "%s: %s", path, e == ELOOP ? "a symbolic link" : strerror(e));
		errno = e;
		return -1;
	}
	const char *why = TWP_NEXT(fstat)(fd, &st) < 0 ? strerror(errno)
			  : !S_ISREG(st.st_mode) ? "not a regular file"
			  : st.st_uid != geteuid() ? "owned by another user"
			  : st.st_mode & 022 ? "writable by others"
			  : st.st_size != (off_t)sizeof(struct twp_hs) ? "not of the size of this version"
			  : NULL;
	if (why) {
		twp_real.close(fd);
		errno = EINVAL;
		return fail(err, errlen, "%s: %s", path, why);
	}
	return fd;
}

struct twp_hs *twp_hs_open(const char *path, int create_it, char *err, size_t errlen)
{
	int fd = open_checked(path, create_it, err, errlen);
	if (fd < 0 && errno == ENOENT && create_it) {
		int r = create(path);
		if (r < 0) {
			fail(err, errlen, "%s: cannot create it: %s", path, strerror(-r));
			return NULL;
		}
		fd = open_checked(path, 1, err, errlen);
	}
	if (fd < 0)
		return NULL;
	int prot = create_it ? PROT_READ | PROT_WRITE : PROT_READ;
	struct twp_hs *h = mmap(NULL, sizeof(*h), prot, MAP_SHARED, fd, 0);
	int e = errno;
	twp_real.close(fd);
	if (h == MAP_FAILED) {
		fail(err, errlen, "%s: %s", path, strerror(e));
		return NULL;
	}
	if (!header_ok(h)) {
		munmap(h, sizeof(*h));
		fail(err, errlen, "%s: not a twpool host stats file of version %d", path, TWP_HS_VERSION);
		errno = EINVAL;
		return NULL;
	}
	return h;
}

void twp_hs_close(struct twp_hs *h)
{
	if (h)
		munmap(h, sizeof(*h));
}

/* Waits for a FILLING entry to be READY; 0 if its filler seems gone. */
static int ready(struct twp_hs_target *e)
{
	for (int i = 0; i < FILL_WAIT_POLLS; i++) {
		if (atomic_load_explicit(&e->state, memory_order_acquire) == TWP_HS_READY)
			return 1;
		sched_yield();
	}
	return 0;
}

int twp_hs_target(struct twp_hs *h, const char *label)
{
	for (int i = 0; i < TWP_HS_TARGETS; i++) {
		struct twp_hs_target *e = &h->t[i];
		uint32_t st = TWP_HS_FREE;
		if (atomic_compare_exchange_strong(&e->state, &st, TWP_HS_FILLING)) {
			snprintf(e->label, sizeof(e->label), "%s", label);
			atomic_store_explicit(&e->state, TWP_HS_READY, memory_order_release);
			return i;
		}
		if ((st == TWP_HS_READY || ready(e)) && !strncmp(e->label, label, sizeof(e->label)))
			return i;
	}
	atomic_fetch_add_explicit(&h->g[TWP_HG_TARGETS_DROPPED], 1, memory_order_relaxed);
	return -1;
}

/* Field 22 of /proc/PID/stat (start time in clock ticks), or 0. */
static uint64_t start_time(int pid)
{
	char path[40], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = twp_real.read(fd, buf, sizeof(buf) - 1);
	twp_real.close(fd);
	buf[n > 0 ? n : 0] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	unsigned long long t = 0;
	if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &t) != 1)
		t = 0;
	return t;
}

static uint64_t owner_of(int pid)
{
	return (uint64_t)(uint32_t)pid << 32 | (uint32_t)start_time(pid);
}

uint64_t twp_hs_self(void)
{
	return owner_of(getpid());
}

int twp_hs_alive(uint64_t owner)
{
	int pid = (int)(owner >> 32);
	if (pid <= 0)
		return 0;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return 0;
	return owner_of(pid) == owner;
}

static void slot_clear(struct twp_hs_slot *s)
{
	for (int i = 0; i < TWP_HS_TARGETS; i++) {
		atomic_store_explicit(&s->idle[i], 0, memory_order_relaxed);
		atomic_store_explicit(&s->inuse[i], 0, memory_order_relaxed);
	}
}

/* Takes slot i if its owner is still was; clears it before owning it so
 * that no reader adds a dead owner's gauges to ours. */
static int take(struct twp_hs *h, int i, uint64_t was, uint64_t self)
{
	if (!atomic_compare_exchange_strong(&h->s[i].owner, &was, TWP_HS_CLAIMING))
		return -1;
	slot_clear(&h->s[i]);
	atomic_store_explicit(&h->s[i].owner, self, memory_order_release);
	return i;
}

int twp_hs_slot_claim(struct twp_hs *h)
{
	uint64_t self = twp_hs_self();
	for (int i = 0; i < TWP_HS_SLOTS; i++) {
		/* self: this process before an exec(), whose gauges are gone */
		uint64_t o = atomic_load(&h->s[i].owner);
		if ((o == 0 || o == self) && take(h, i, o, self) >= 0)
			return i;
	}
	for (int i = 0; i < TWP_HS_SLOTS; i++) {
		uint64_t o = atomic_load(&h->s[i].owner);
		if (o != TWP_HS_CLAIMING && !twp_hs_alive(o) && take(h, i, o, self) >= 0)
			return i;
	}
	atomic_fetch_add_explicit(&h->g[TWP_HG_SLOTS_FULL], 1, memory_order_relaxed);
	return -1;
}

void twp_hs_slot_release(struct twp_hs *h, int slot)
{
	if (slot < 0 || slot >= TWP_HS_SLOTS)
		return;
	slot_clear(&h->s[slot]);
	atomic_store_explicit(&h->s[slot].owner, 0, memory_order_release);
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

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of samples: for each row, one per (label value, counter index). */
struct family {
	const char *name, *type, *help, *label;
	int first, count; /* counters v[first..first+count) */
	const char *const *values; /* label values, NULL: one sample unlabelled */
	const char *(*value_of)(int i);
};

/* The discards family starts past TWP_R_NONE. */
static const char *reason_of(int i)
{
	return twp_reason_name((enum twp_reason)(i + 1));
}

static const char *cf_of(int i)
{
	return twp_cf_name((enum twp_cf)i);
}

static void family_samples(struct out *o, const struct family *f, const struct twp_row *rows, size_t n)
{
	head(o, f->name, f->type, f->help);
	for (size_t r = 0; r < n; r++)
		for (int i = 0; i < f->count; i++) {
			const char *v = f->values ? f->values[i] : f->value_of(i);
			put(o, "%s{target=\"%s\",%s=\"%s\"} %llu\n", f->name, rows[r].label, f->label, v,
			    (unsigned long long)rows[r].v[f->first + i]);
		}
}

static const char *const reused_fresh[] = { "reused", "fresh" }, *const parked_closed[] = { "parked", "closed" },
		  *const ok_failed[] = { "ok", "failed" };

static const struct family families[] = {
	{ TWPOOL_METRIC_CONNECTS, "counter", "Connections handed to the program by connect(), by result; reused is a handshake and a TIME_WAIT avoided.",
	  "result", TWP_C_REUSED, 2, reused_fresh, NULL },
	{ TWPOOL_METRIC_CLOSES, "counter", "Closes of pooled-target connections by the program, by result.",
	  "result", TWP_C_PARKED, 2, parked_closed, NULL },
	{ TWPOOL_METRIC_DISCARDS, "counter", "Connections closed for real instead of parked or reused, by reason.",
	  "reason", TWP_C_DISCARDS + 1, TWP_R_COUNT - 1, NULL, reason_of },
	{ TWPOOL_METRIC_REPLAYS, "counter", "Requests re-sent on a fresh connection after a reused one died before its reply.",
	  "result", TWP_C_REPLAYS_OK, 2, ok_failed, NULL },
	{ TWPOOL_METRIC_CONNECT_FAILURES, "counter", "Real connects to a target that failed at once, by errno.",
	  "errno", TWP_C_FAILED, TWP_CF_COUNT, NULL, cf_of },
};

static void gauge(struct out *o, const char *name, const char *help, const struct twp_row *rows, size_t n,
		  int inuse)
{
	head(o, name, "gauge", help);
	for (size_t r = 0; r < n; r++)
		put(o, "%s{target=\"%s\"} %llu\n", name, rows[r].label,
		    (unsigned long long)(inuse ? rows[r].inuse : rows[r].idle));
}

static void untargeted(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	head(o, name, type, help);
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void info_lines(struct out *o, const struct twp_text_info *in)
{
	head(o, TWPOOL_METRIC_DEEPBIND, "counter",
	     "Libraries loaded with RTLD_DEEPBIND, by whether their socket calls reach the shim.");
	put(o, TWPOOL_METRIC_DEEPBIND "{result=\"redirected\"} %llu\n", (unsigned long long)in->deepbind[1]);
	put(o, TWPOOL_METRIC_DEEPBIND "{result=\"bypassed\"} %llu\n", (unsigned long long)in->deepbind[0]);
	untargeted(o, TWPOOL_METRIC_PASSTHROUGH, "counter",
		   "TCP connects to addresses not in TWPOOL_TARGETS, passed through untouched.", in->passthrough);
	if (in->g) {
		untargeted(o, TWPOOL_METRIC_CONFIG_ERRORS, "counter",
			   "Processes whose configuration was refused (they passed everything through).",
			   in->g[TWP_HG_CONFIG_ERRORS]);
		untargeted(o, TWPOOL_METRIC_HOST_PROCESSES, "gauge", "Live processes with a slot in the host stats.",
			   in->processes);
		untargeted(o, TWPOOL_METRIC_HOST_DROPPED, "counter",
			   "Targets a process could not add to the full host table (counted in its own file only).",
			   in->g[TWP_HG_TARGETS_DROPPED]);
	}
	head(o, "twpool_info", "gauge", "Shim version and process (pid 0: the host view).");
	put(o, "twpool_info{version=\"%s\",pid=\"%d\"} 1\n", TWPOOL_VERSION, in->pid);
}

size_t twp_rows_render(char *buf, size_t size, const struct twp_row *rows, size_t n,
		       const struct twp_text_info *info)
{
	struct out o = { buf, size, 0 };
	if (size)
		buf[0] = '\0';
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		family_samples(&o, &families[f], rows, n);
	gauge(&o, TWPOOL_METRIC_IDLE, "Idle connections in the pool now.", rows, n, 0);
	gauge(&o, TWPOOL_METRIC_IN_USE, "Pooled-target connections the program holds now.", rows, n, 1);
	info_lines(&o, info);
	return o.len;
}

/* Adds entry e into rows (a new row, or the one of the same label: an
 * entry claimed twice after a dead filler); returns the row's index. */
static size_t add_entry(struct twp_row *rows, size_t *n, const struct twp_hs_target *e)
{
	char label[TWP_LABEL_MAX];
	snprintf(label, sizeof(label), "%.*s", (int)sizeof(label) - 1, e->label); /* maybe unterminated */
	size_t r = 0;
	while (r < *n && strcmp(rows[r].label, label))
		r++;
	if (r == *n) {
		memset(&rows[r], 0, sizeof(rows[r]));
		memcpy(rows[r].label, label, sizeof(label));
		(*n)++;
	}
	for (int i = 0; i < TWP_C_COUNT; i++)
		rows[r].v[i] += atomic_load_explicit(&e->c[i], memory_order_relaxed);
	return r;
}

/* Rows of the host (row_of[i]: the row of entry i, or -1) and its number
 * of live processes. */
static size_t host_rows(const struct twp_hs *h, struct twp_row *rows, int *row_of, uint64_t *live)
{
	size_t n = 0;
	for (int i = 0; i < TWP_HS_TARGETS; i++)
		row_of[i] = atomic_load_explicit(&h->t[i].state, memory_order_acquire) == TWP_HS_READY
			? (int)add_entry(rows, &n, &h->t[i]) : -1;
	*live = 0;
	for (int s = 0; s < TWP_HS_SLOTS; s++) {
		if (!twp_hs_alive(atomic_load(&h->s[s].owner)))
			continue;
		++*live;
		for (int i = 0; i < TWP_HS_TARGETS; i++)
			if (row_of[i] >= 0) {
				rows[row_of[i]].idle += atomic_load_explicit(&h->s[s].idle[i], memory_order_relaxed);
				rows[row_of[i]].inuse += atomic_load_explicit(&h->s[s].inuse[i], memory_order_relaxed);
			}
	}
	return n;
}

/* twpool_process_*{pid,target}: the gauges of each live slot. */
static void process_lines(struct out *o, const struct twp_hs *h, const int *row_of, const struct twp_row *rows,
			  int inuse)
{
	const char *name = inuse ? TWPOOL_METRIC_PROCESS_IN_USE : TWPOOL_METRIC_PROCESS_IDLE;
	head(o, name, "gauge", inuse ? "Connections a live process holds now." : "Idle connections of a live process now.");
	for (int s = 0; s < TWP_HS_SLOTS; s++) {
		uint64_t owner = atomic_load(&h->s[s].owner);
		if (!twp_hs_alive(owner))
			continue;
		for (int i = 0; i < TWP_HS_TARGETS; i++)
			if (row_of[i] >= 0)
				put(o, "%s{pid=\"%d\",target=\"%s\"} %u\n", name, (int)(owner >> 32),
				    rows[row_of[i]].label,
				    (unsigned)(inuse ? h->s[s].inuse[i] : h->s[s].idle[i]));
	}
}

char *twp_hs_render(const struct twp_hs *h, int per_process)
{
	int row_of[TWP_HS_TARGETS];
	struct twp_row *rows = calloc(TWP_HS_TARGETS, sizeof(*rows));
	uint64_t g[TWP_HG_COUNT];
	struct twp_text_info info = { .g = g };
	if (!rows)
		return NULL;
	for (int i = 0; i < TWP_HG_COUNT; i++)
		g[i] = atomic_load_explicit(&h->g[i], memory_order_relaxed);
	info.deepbind[0] = g[TWP_HG_DEEPBIND_BYPASSED];
	info.deepbind[1] = g[TWP_HG_DEEPBIND_REDIRECTED];
	info.passthrough = g[TWP_HG_PASSTHROUGH];
	size_t n = host_rows(h, rows, row_of, &info.processes);
	struct out o = { NULL, 0, twp_rows_render(NULL, 0, rows, n, &info) };
	if (per_process) {
		process_lines(&o, h, row_of, rows, 0);
		process_lines(&o, h, row_of, rows, 1);
	}
	/* The slots may change between the two passes: room to spare, then cut. */
	o.size = o.len + 4096;
	o.buf = malloc(o.size);
	if (o.buf) {
		o.len = twp_rows_render(o.buf, o.size, rows, n, &info);
		if (per_process) {
			process_lines(&o, h, row_of, rows, 0);
			process_lines(&o, h, row_of, rows, 1);
		}
		if (o.len >= o.size) /* a cut line: better no line */
			*(strrchr(o.buf, '\n') + 1) = '\0';
	}
	free(rows);
	return o.buf;
}
