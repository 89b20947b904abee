/* sockopt.c - recording, replaying and undoing socket options. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"
#include "sockopt.h"

/* Options that decide how a connection is made or routed, or that cannot
 * be read back and restored exactly (buffer sizes double and lock
 * autotuning; filters and ULPs cannot be undone). */
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
		case TCP_SAVE_SYN: case TCP_ZEROCOPY_RECEIVE:
			return 1;
		}
	if (level == IPPROTO_IP && (name == IP_TRANSPARENT || name == IP_FREEBIND ||
				    name == IP_BIND_ADDRESS_NO_PORT || name == IP_OPTIONS))
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

/* A new entry for (level, name) in *opts, its default read from fd (or
 * copied from *dflt). NULL when it cannot be kept. */
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
	} else {
		e->orig_len = TWP_OPT_VAL_MAX;
		if (twp_real.getsockopt(fd, level, name, e->orig, &e->orig_len) < 0)
			return NULL;
	}
	(*opts)->n++;
	return e;
}

static int same(const struct twp_opt *e, const void *val, socklen_t len)
{
	return e->len && e->len == len && !memcmp(e->val, val, len);
}

static int set_one(int fd, struct twp_opts **opts, int level, int name, const void *val,
		   socklen_t len, const struct twp_opt *dflt, int *unpoolable)
{
	int saved = errno;
	struct twp_opt *e = NULL;
	if (ruled_out(level, name) || len > TWP_OPT_VAL_MAX || !val ||
	    (!(e = find(*opts, level, name)) && !(e = remember(fd, opts, level, name, dflt))))
		*unpoolable = 1;
	errno = saved;
	if (e && same(e, val, len)) {
		e->touched = 1;
		return 0; /* the socket has that value already */
	}
	int r = twp_real.setsockopt(fd, level, name, val, len);
	if (r == 0 && e) {
		memcpy(e->val, val, len);
		e->len = len;
		e->touched = 1;
	}
	return r;
}

int twp_sockopt_set(int fd, struct twp_opts **opts, int level, int name,
		    const void *val, socklen_t len, int *unpoolable)
{
	return set_one(fd, opts, level, name, val, len, NULL, unpoolable);
}

int twp_sockopt_get(const struct twp_opts *opts, int level, int name, void *val, socklen_t *len)
{
	const struct twp_opt *e = find((struct twp_opts *)opts, level, name);
	if (!e || e->touched || !val || !len)
		return 0;
	socklen_t n = *len < e->orig_len ? *len : e->orig_len;
	memcpy(val, e->orig, n);
	*len = n;
	return 1;
}

void twp_sockopt_begin_use(struct twp_opts *opts)
{
	for (int i = 0; opts && i < opts->n; i++)
		opts->o[i].touched = 0;
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

int twp_sockopt_settle(int fd, struct twp_opts *opts)
{
	for (int i = 0; opts && i < opts->n; i++) {
		struct twp_opt *e = &opts->o[i];
		if (e->touched || !e->len || same(e, e->orig, e->orig_len))
			continue;
		if (restore_linger_time(fd, e) < 0 ||
		    twp_real.setsockopt(fd, e->level, e->name, e->orig, e->orig_len) < 0)
			return -errno;
		memcpy(e->val, e->orig, e->orig_len);
		e->len = e->orig_len;
	}
	return 0;
}

int twp_sockopt_restore(int fd, struct twp_opts *opts)
{
	twp_sockopt_begin_use(opts);
	int r = twp_sockopt_settle(fd, opts);
	free(opts);
	return r;
}

int twp_sockopt_adopt(int fd, struct twp_opts **opts, struct twp_opts *from)
{
	int err = 0, unpoolable = 0;
	for (int i = 0; from && i < from->n && !err; i++) {
		const struct twp_opt *f = &from->o[i];
		if (f->len && set_one(fd, opts, f->level, f->name, f->val, f->len, f, &unpoolable) < 0)
			err = -errno;
	}
	free(from);
	return err ? err : unpoolable ? -EINVAL : 0;
}

int twp_sockopt_replay(int fd, const struct twp_opts *opts)
{
	for (int i = 0; opts && i < opts->n; i++) {
		const struct twp_opt *e = &opts->o[i];
		if (e->len && twp_real.setsockopt(fd, e->level, e->name, e->val, e->len) < 0)
			return -errno;
	}
	return 0;
}
