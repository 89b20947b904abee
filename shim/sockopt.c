/* sockopt.c - recording, replaying and undoing socket options. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"
#include "sockopt.h"

/* Options that decide how a connection is made or routed, or that cannot
 * be read back and restored exactly (buffer sizes double and lock
 * autotuning; filters and ULPs cannot be undone; the MSS is agreed in the
 * handshake and a window clamp of 0 is refused once connected). */
static int ruled_out(int level, int name)
{
	if (level == SOL_SOCKET)
		switch (name) {
		case SO_RCVBUF: case SO_SNDBUF: case SO_RCVBUFFORCE: case SO_SNDBUFFORCE:
		case SO_BINDTODEVICE: case SO_MARK: case SO_ATTACH_FILTER:
		case SO_ATTACH_BPF: case SO_DETACH_FILTER: case SO_LOCK_FILTER:
		case SO_ATTACH_REUSEPORT_CBPF: case SO_ATTACH_REUSEPORT_EBPF:
#ifdef SO_BINDTOIFINDEX
		case SO_BINDTOIFINDEX:
#endif
			return 1;
		}
	if (level == IPPROTO_TCP)
		switch (name) {
		case TCP_ULP: case TCP_FASTOPEN_CONNECT: case TCP_REPAIR:
		case TCP_REPAIR_QUEUE: case TCP_REPAIR_OPTIONS: case TCP_QUEUE_SEQ:
		case TCP_MD5SIG: case TCP_MD5SIG_EXT: case TCP_CONGESTION:
		case TCP_SAVE_SYN: case TCP_ZEROCOPY_RECEIVE: case TCP_MAXSEG:
		case TCP_WINDOW_CLAMP:
			return 1;
		}
	if (level == IPPROTO_IP && (name == IP_TRANSPARENT || name == IP_FREEBIND ||
				    name == IP_BIND_ADDRESS_NO_PORT || name == IP_OPTIONS))
		return 1;
	return 0;
}

/* Pristine defaults: what (level, name) reads on a socket nobody touched,
 * probed once per socket kind on a socket of the shim's own. Readers scan
 * the first n_dflts entries without a lock (an entry is complete before
 * n_dflts counts it); a writer that finds dflt_lock busy skips caching, so
 * no thread waits and a fork child never inherits a held lock it needs. */
#define TWP_DFLTS_MAX 128 /* (kind, option) pairs cached; more are probed each time */

struct twp_dflt {
	struct twp_sock_kind k;
	int level, name;
	socklen_t len; /* 0: the option cannot be read on such a socket */
	unsigned char val[TWP_OPT_VAL_MAX];
};

static struct twp_dflt dflts[TWP_DFLTS_MAX];
static atomic_int n_dflts;
static pthread_mutex_t dflt_lock = PTHREAD_MUTEX_INITIALIZER; /* guards appends */

static int same_key(const struct twp_dflt *a, const struct twp_dflt *b)
{
	return a->k.family == b->k.family && a->k.type == b->k.type && a->k.proto == b->k.proto &&
	       a->level == b->level && a->name == b->name;
}

static const struct twp_dflt *cached_dflt(const struct twp_dflt *k)
{
	int n = atomic_load_explicit(&n_dflts, memory_order_acquire);
	for (int i = 0; i < n; i++)
		if (same_key(&dflts[i], k))
			return &dflts[i];
	return NULL;
}

static void cache_dflt(const struct twp_dflt *d)
{
	if (pthread_mutex_trylock(&dflt_lock) != 0)
		return;
	int n = atomic_load_explicit(&n_dflts, memory_order_relaxed);
	if (n < TWP_DFLTS_MAX && !cached_dflt(d)) {
		dflts[n] = *d;
		atomic_store_explicit(&n_dflts, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&dflt_lock);
}

/* Reads d's option on a fresh socket of d's kind, through the real
 * functions: the program's fd accounting never sees it. 0 or -errno. */
static int probe_dflt(struct twp_dflt *d)
{
	int ps = twp_real.socket(d->k.family, d->k.type | SOCK_CLOEXEC, d->k.proto);
	if (ps < 0)
		return -errno; /* EMFILE and the like pass: not cached */
	d->len = TWP_OPT_VAL_MAX;
	if (twp_real.getsockopt(ps, d->level, d->name, d->val, &d->len) < 0)
		d->len = 0;
	twp_real.close(ps);
	return 0;
}

/* The kind of socket fd is. 0 or -errno. */
static int sock_kind(int fd, struct twp_sock_kind *k)
{
	socklen_t l1 = sizeof(k->family), l2 = sizeof(k->type), l3 = sizeof(k->proto);
	if (twp_real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &k->family, &l1) < 0 ||
	    twp_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &k->type, &l2) < 0 ||
	    twp_real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &k->proto, &l3) < 0)
		return -errno;
	return 0;
}

/* d's option on a fresh socket of d's kind, into d. 0 or -errno
 * (-ENOPROTOOPT: such a socket has no such option). */
static int kind_default(struct twp_dflt *d)
{
	const struct twp_dflt *c = cached_dflt(d);
	int err = 0;
	if (c)
		*d = *c;
	else if (!(err = probe_dflt(d)))
		cache_dflt(d);
	return err ? err : d->len ? 0 : -ENOPROTOOPT;
}

int twp_sockopt_default(int fd, int level, int name, void *val, socklen_t *len)
{
	struct twp_dflt d = { .level = level, .name = name };
	int saved = errno, err = sock_kind(fd, &d.k);
	if (!err)
		err = kind_default(&d);
	errno = saved;
	if (err)
		return err;
	*len = d.len;
	memcpy(val, d.val, d.len);
	return 0;
}

/* Options of which one changes another: a change of IP_TOS sets
 * SO_PRIORITY to the priority the TOS maps to (on AF_INET6 sockets too).
 * What a program reads then depends on the order of its sets, which the
 * values alone do not tell; so before the first set of any of them in a
 * use they are all put back to their defaults, sources first, and then
 * the program's sets reach the socket in its order, with no shortcut. */
static const struct { int level, name; } coupled[] = {
	{ IPPROTO_IP, IP_TOS }, { SOL_SOCKET, SO_PRIORITY },
};
#define N_COUPLED ((int)(sizeof(coupled) / sizeof(coupled[0])))

static int is_coupled(int level, int name)
{
	for (int i = 0; i < N_COUPLED; i++)
		if (coupled[i].level == level && coupled[i].name == name)
			return 1;
	return 0;
}

static struct twp_opt *find(struct twp_opts *o, int level, int name)
{
	for (int i = 0; o && i < o->n; i++)
		if (o->o[i].level == level && o->o[i].name == name)
			return &o->o[i];
	return NULL;
}

/* e's default, for a socket of o's kind (read from fd the first time). */
static int opts_default(int fd, struct twp_opts *o, struct twp_opt *e)
{
	struct twp_dflt d = { .k = o->kind, .level = e->level, .name = e->name };
	int saved = errno, err = d.k.family ? 0 : sock_kind(fd, &d.k);
	if (!err)
		o->kind = d.k;
	if (!err && !(err = kind_default(&d))) {
		e->orig_len = d.len;
		memcpy(e->orig, d.val, d.len);
	}
	errno = saved;
	return err;
}

/* A new entry for (level, name) in *opts, its default that of a fresh
 * socket like fd (or copied from *dflt). NULL when it cannot be kept. */
static struct twp_opt *remember(int fd, struct twp_opts **opts, int level, int name,
				const struct twp_opt *dflt)
{
	if (!*opts && !(*opts = calloc(1, sizeof(**opts))))
		return NULL;
	if ((*opts)->n == TWP_OPTS_MAX)
		return NULL;
	struct twp_opt *e = &(*opts)->o[(*opts)->n];
	memset(e, 0, sizeof(*e));
	e->level = level;
	e->name = name;
	if (dflt) {
		e->orig_len = dflt->orig_len;
		memcpy(e->orig, dflt->orig, sizeof(e->orig));
	} else if (opts_default(fd, *opts, e) < 0) {
		return NULL;
	}
	(*opts)->n++;
	return e;
}

static struct twp_opt *entry(int fd, struct twp_opts **opts, int level, int name,
			     const struct twp_opt *dflt)
{
	struct twp_opt *e = find(*opts, level, name);
	return e ? e : remember(fd, opts, level, name, dflt);
}

static int same(const struct twp_opt *e, const void *val, socklen_t len)
{
	return e->len && e->len == len && !memcmp(e->val, val, len);
}

/* The value that puts an option back as a fresh socket has it: what a
 * fresh socket reads, except where it reads a system default it follows
 * through a sentinel (TTL and hop limit -1: the sysctl and the route;
 * TCP_NOTSENT_LOWAT 0: the sysctl). Its length. */
static socklen_t pristine(const struct twp_opt *e, unsigned char *v)
{
	int sentinel;
	if ((e->level == IPPROTO_IP && e->name == IP_TTL) ||
	    (e->level == IPPROTO_IPV6 && e->name == IPV6_UNICAST_HOPS))
		sentinel = -1;
	else if (e->level == IPPROTO_TCP && e->name == TCP_NOTSENT_LOWAT)
		sentinel = 0;
	else {
		memcpy(v, e->orig, e->orig_len);
		return e->orig_len;
	}
	memcpy(v, &sentinel, sizeof(sentinel));
	return sizeof(sentinel);
}

/* Turning SO_LINGER off leaves its time as the program set it, visible to
 * getsockopt; turning it on with the original time first puts that back. */
static int restore_linger_time(int fd, const struct twp_opt *e)
{
	struct linger l;
	if (e->level != SOL_SOCKET || e->name != SO_LINGER || e->orig_len != sizeof(l))
		return 0;
	memcpy(&l, e->orig, sizeof(l));
	if (l.l_onoff)
		return 0;
	l.l_onoff = 1;
	return twp_real.setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* Puts e back to its default; with force, even if it seems to be there. */
static int restore_one(int fd, struct twp_opt *e, int force)
{
	unsigned char v[TWP_OPT_VAL_MAX];
	socklen_t n = pristine(e, v);
	if (!force && (!e->len || same(e, v, n)))
		return 0;
	if (restore_linger_time(fd, e) < 0 || twp_real.setsockopt(fd, e->level, e->name, v, n) < 0)
		return -errno;
	memcpy(e->val, v, n);
	e->len = n;
	return 0;
}

/* Have the coupled options left their defaults? Their values are all at
 * the defaults only if the socket's are: a TOS change sets the priority
 * from the TOS, and the default TOS maps to the default priority. */
static int coupled_dirty(struct twp_opts *o)
{
	for (int i = 0; i < N_COUPLED; i++) {
		struct twp_opt *e = find(o, coupled[i].level, coupled[i].name);
		unsigned char v[TWP_OPT_VAL_MAX];
		if (e && e->len && !same(e, v, pristine(e, v)))
			return 1;
	}
	return 0;
}

/* The coupled options back at their defaults for this use: each of them
 * recorded (so a read before connect can be answered), and put back in
 * order if any has left its default. 0 or -errno. */
static int reset_coupled(int fd, struct twp_opts **opts)
{
	int err = 0, dirty = coupled_dirty(*opts);
	for (int i = 0; i < N_COUPLED && !err; i++) {
		struct twp_opt *e = entry(fd, opts, coupled[i].level, coupled[i].name, NULL);
		err = !e ? -EINVAL : dirty ? restore_one(fd, e, 1) : 0;
	}
	if (!err)
		(*opts)->coupled_fresh = 1;
	return err;
}

/* SO_RCVLOWAT grows the receive buffer to make room for that much, and no
 * later set shrinks it. The buffer's size, or -1 for other options. */
static int rcvbuf_of(int fd, int level, int name)
{
	int v = -1, saved = errno;
	socklen_t l = sizeof(v);
	if (level != SOL_SOCKET || name != SO_RCVLOWAT ||
	    twp_real.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l) < 0)
		v = -1;
	errno = saved;
	return v;
}

/* Marks e set by the current user; a change moves it last in its order. */
static void touch(struct twp_opts *o, struct twp_opt *e, const void *val, socklen_t len)
{
	if (!e->touched || !same(e, val, len))
		e->touched = ++o->seq;
	memcpy(e->val, val, len);
	e->len = len;
}

static int set_one(int fd, struct twp_opts **opts, int level, int name, const void *val,
		   socklen_t len, const struct twp_opt *dflt, int *unpoolable)
{
	int saved = errno, cpl = is_coupled(level, name);
	struct twp_opt *e = NULL;
	if (ruled_out(level, name) || len > TWP_OPT_VAL_MAX || !val ||
	    !(e = entry(fd, opts, level, name, dflt)) ||
	    (cpl && !(*opts)->coupled_fresh && reset_coupled(fd, opts) < 0))
		*unpoolable = 1;
	errno = saved;
	if (e && !cpl && same(e, val, len)) {
		touch(*opts, e, val, len);
		return 0; /* the socket has that value already */
	}
	int rcvbuf = rcvbuf_of(fd, level, name);
	int r = twp_real.setsockopt(fd, level, name, val, len);
	if (r == 0 && rcvbuf != rcvbuf_of(fd, level, name))
		*unpoolable = 1;
	if (r == 0 && e)
		touch(*opts, e, val, len);
	return r;
}

int twp_sockopt_reusable(int level, int name)
{
	return !ruled_out(level, name) && !(level == SOL_SOCKET && name == SO_RCVLOWAT);
}

int twp_sockopt_set(int fd, struct twp_opts **opts, int level, int name,
		    const void *val, socklen_t len, int *unpoolable)
{
	return set_one(fd, opts, level, name, val, len, NULL, unpoolable);
}

int twp_sockopt_get(const struct twp_opts *opts, int level, int name, void *val, socklen_t *len)
{
	const struct twp_opt *e = find((struct twp_opts *)opts, level, name);
	if (!e || e->touched || !val || !len || (is_coupled(level, name) && opts->coupled_fresh))
		return 0;
	socklen_t n = *len < e->orig_len ? *len : e->orig_len;
	memcpy(val, e->orig, n);
	*len = n;
	return 1;
}

void twp_sockopt_begin_use(struct twp_opts *opts)
{
	if (!opts)
		return;
	opts->seq = 0;
	opts->coupled_fresh = 0;
	for (int i = 0; i < opts->n; i++)
		opts->o[i].touched = 0;
}

int twp_sockopt_settle(int fd, struct twp_opts *opts)
{
	if (!opts)
		return 0;
	int err = 0;
	if (!opts->coupled_fresh && coupled_dirty(opts))
		err = reset_coupled(fd, &opts);
	for (int i = 0; i < opts->n && !err; i++) {
		struct twp_opt *e = &opts->o[i];
		if (!e->touched && !is_coupled(e->level, e->name))
			err = restore_one(fd, e, 0);
	}
	return err;
}

int twp_sockopt_restore(int fd, struct twp_opts *opts)
{
	twp_sockopt_begin_use(opts);
	int r = twp_sockopt_settle(fd, opts);
	free(opts);
	return r;
}

/* Indices of o's entries: untouched first, then in the order the current
 * user last changed them, the order that matters for coupled options. */
static void in_set_order(const struct twp_opts *o, int idx[TWP_OPTS_MAX])
{
	for (int i = 0; i < o->n; i++) {
		int j = i;
		for (; j > 0 && o->o[idx[j - 1]].touched > o->o[i].touched; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
}

int twp_sockopt_adopt(int fd, struct twp_opts **opts, struct twp_opts *from)
{
	int err = 0, unpoolable = 0, idx[TWP_OPTS_MAX];
	if (from)
		in_set_order(from, idx);
	for (int i = 0; from && i < from->n && !err; i++) {
		const struct twp_opt *f = &from->o[idx[i]];
		if (f->len && set_one(fd, opts, f->level, f->name, f->val, f->len, f, &unpoolable) < 0)
			err = -errno;
	}
	free(from);
	return err ? err : unpoolable ? -EINVAL : 0;
}

int twp_sockopt_replay(int fd, const struct twp_opts *opts)
{
	int idx[TWP_OPTS_MAX];
	if (opts)
		in_set_order(opts, idx);
	for (int i = 0; opts && i < opts->n; i++) {
		const struct twp_opt *e = &opts->o[idx[i]];
		if (e->len && twp_real.setsockopt(fd, e->level, e->name, e->val, e->len) < 0)
			return -errno;
	}
	return 0;
}
