/* pool.c - the per-target idle lists. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(elt) (hash_oom = 1)
static int hash_oom; /* set by uthash when an add ran out of memory */

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "guard.h"
#include "pool.h"
#include "real.h"
#include "twpool.h"
#include "uthash.h"

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;

/* The hash handle stays here, so uthash is this file's business alone. */
struct entry {
	struct twp_target t;
	UT_hash_handle hh;
};

static struct entry *targets;
static unsigned ntargets;
static struct twp_target *mru[2]; /* per socket family: the target parked into last */
static unsigned max_idle = TWPOOL_DEFAULT_MAX_IDLE;
static unsigned idle_timeout_ms = TWPOOL_DEFAULT_IDLE_TIMEOUT_MS;

void twp_pool_configure(unsigned idle_max, unsigned timeout_ms)
{
	max_idle = idle_max;
	idle_timeout_ms = timeout_ms;
}

/* While a thread holds the lock its hooks pass through: a signal handler
 * calling close() on that thread then cannot deadlock on it. */
void twp_pool_lock(void)
{
	twp_busy++;
	pthread_mutex_lock(&pool_mu);
}

void twp_pool_unlock(void)
{
	pthread_mutex_unlock(&pool_mu);
	twp_busy--;
}

/* The child of fork() inherits the lock taken by atfork_prepare. */
void twp_pool_atfork_child(void)
{
	pthread_mutex_init(&pool_mu, NULL);
	twp_busy--;
}

struct twp_target *twp_pool_target(const struct twp_key *k)
{
	struct entry *e;
	twp_pool_lock();
	HASH_FIND(hh, targets, k, sizeof(*k), e);
	if (!e && ntargets < TWP_MAX_POOL_TARGETS && (e = calloc(1, sizeof(*e)))) {
		e->t.key = *k;
		twp_key_label(k, e->t.label, sizeof(e->t.label));
		hash_oom = 0;
		HASH_ADD(hh, targets, t.key, sizeof(e->t.key), e);
		if (hash_oom) {
			free(e);
			e = NULL;
		} else {
			ntargets++;
		}
	}
	twp_pool_unlock();
	return e ? &e->t : NULL;
}

/* Each target, in the hash's order. */
#define EACH_TARGET(t) \
	for (struct entry *e_ = targets; e_; e_ = e_->hh.next) \
		for (struct twp_target *t = &e_->t; t; t = NULL)

static int fam_index(int family) { return family == AF_INET6; }

static void unlink_conn(struct twp_target *t, struct twp_conn *c)
{
	int i = fam_index(c->family);
	if (c->prev) c->prev->next = c->next; else t->head[i] = c->next;
	if (c->next) c->next->prev = c->prev; else t->tail[i] = c->prev;
	c->prev = c->next = NULL;
	t->nidle--;
}

/* Moves the idle connections of list i whose idle time is over to *out. */
static void expire_list(struct twp_target *t, int i, uint64_t now_ms, struct twp_conn **out)
{
	/* now may trail a parked_ms read on another thread's clock: no wrap. */
	while (idle_timeout_ms && t->tail[i] && now_ms > t->tail[i]->parked_ms &&
	       now_ms - t->tail[i]->parked_ms >= idle_timeout_ms) {
		struct twp_conn *c = t->tail[i];
		unlink_conn(t, c);
		c->next = *out;
		*out = c;
	}
}

struct twp_conn *twp_pool_take(struct twp_target *t, int family, uint64_t now_ms,
			       struct twp_conn **expired)
{
	int i = fam_index(family);
	twp_pool_lock();
	expire_list(t, i, now_ms, expired);
	struct twp_conn *c = t->head[i];
	if (c)
		unlink_conn(t, c);
	twp_pool_unlock();
	return c;
}

struct twp_conn *twp_pool_put(struct twp_target *t, struct twp_conn *c, uint64_t now_ms)
{
	struct twp_conn *out = NULL;
	int i = fam_index(c->family);
	c->parked_ms = now_ms;
	twp_pool_lock();
	while (t->nidle && t->nidle >= max_idle) { /* evict the oldest of either family */
		struct twp_conn *old = t->tail[0];
		if (!old || (t->tail[1] && t->tail[1]->parked_ms < old->parked_ms))
			old = t->tail[1];
		unlink_conn(t, old);
		old->next = out;
		out = old;
	}
	if (t->nidle < max_idle) {
		c->prev = NULL;
		c->next = t->head[i];
		if (c->next) c->next->prev = c; else t->tail[i] = c;
		t->head[i] = c;
		t->nidle++;
		mru[i] = t;
	} else { /* max_idle == 0 */
		c->next = out;
		out = c;
	}
	twp_pool_unlock();
	return out;
}

struct twp_conn *twp_pool_take_inplace(int family, uint64_t now_ms, struct twp_conn **expired)
{
	int i = fam_index(family);
	struct twp_conn *c = NULL;
	twp_pool_lock();
	struct twp_target *t = mru[i];
	if (t) {
		expire_list(t, i, now_ms, expired);
		if (t->head[i] && t->head[i]->inplace) {
			c = t->head[i];
			unlink_conn(t, c);
		}
	}
	twp_pool_unlock();
	return c;
}

void twp_pool_cloexec_all(void)
{
	twp_pool_lock();
	EACH_TARGET(t)
		for (int i = 0; i < 2; i++)
			for (struct twp_conn *c = t->head[i]; c; c = c->next)
				if (c->inplace && !c->cloexec &&
				    twp_real.fcntl(c->fd, F_SETFD, FD_CLOEXEC) == 0)
					c->cloexec = 1;
	twp_pool_unlock();
}

void twp_pool_sweep(uint64_t now_ms, struct twp_conn **expired)
{
	twp_pool_lock();
	EACH_TARGET(t) {
		expire_list(t, 0, now_ms, expired);
		expire_list(t, 1, now_ms, expired);
	}
	twp_pool_unlock();
}

int twp_pool_remove(struct twp_conn *c)
{
	int found = 0;
	twp_pool_lock();
	struct twp_target *t = c->target;
	for (struct twp_conn *p = t->head[fam_index(c->family)]; p; p = p->next)
		if (p == c) {
			unlink_conn(t, c);
			found = 1;
			break;
		}
	twp_pool_unlock();
	return found;
}

void twp_pool_drain(struct twp_conn **all)
{
	EACH_TARGET(t) {
		for (int i = 0; i < 2; i++)
			while (t->tail[i]) {
				struct twp_conn *c = t->tail[i];
				unlink_conn(t, c);
				c->next = *all;
				*all = c;
			}
		memset(&t->n, 0, sizeof(t->n));
	}
}

void twp_pool_each(void (*fn)(const struct twp_target *, void *), void *arg)
{
	twp_pool_lock();
	EACH_TARGET(t)
		fn(t, arg);
	twp_pool_unlock();
}
