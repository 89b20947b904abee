/* resolver.c - looking host names up on a thread of the shim's own. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "guard.h"
#include "log.h"
#include "resolver.h"

#define SEQ_TRIES 64 /* reads that may meet a rewrite before a connect gives up */
#define RETRY_DOUBLINGS 16 /* caps the shift; 1 s << 16 is far past the maximum */

static uint64_t real_clock(void)
{
	return twp_now_ms();
}

static int gai_lookup(const char *name, struct twp_key *keys, int max, int *n)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int err = getaddrinfo(name, NULL, &hints, &res);
	*n = 0;
	if (err)
		return err;
	for (struct addrinfo *ai = res; ai && *n < max; ai = ai->ai_next)
		if (twp_key_from_sockaddr(&keys[*n], ai->ai_addr, ai->ai_addrlen) == 0)
			(*n)++;
	freeaddrinfo(res);
	return 0;
}

static twp_clock_fn now_ms = real_clock;
static twp_lookup_fn lookup = gai_lookup;

void twp_resolver_use(twp_clock_fn clock, twp_lookup_fn fn)
{
	now_ms = clock ? clock : real_clock;
	lookup = fn ? fn : gai_lookup;
}

uint64_t twp_name_next_due(uint64_t now, unsigned fails)
{
	if (!fails)
		return now + TWP_REFRESH_MS;
	unsigned shift = fails - 1 < RETRY_DOUBLINGS ? fails - 1 : RETRY_DOUBLINGS;
	uint64_t wait = (uint64_t)TWP_RETRY_FIRST_MS << shift;
	return now + (wait < TWP_RETRY_MAX_MS ? wait : TWP_RETRY_MAX_MS);
}

/* ---- the addresses, under a sequence count ----
 * Release stores and acquire loads of the words, not fences (TSan does not
 * model fences): a reader that sees any word of a rewrite also sees the odd
 * count stored before it, so its second read of the count differs. */

static void publish(struct twp_name *nm, const struct twp_key *keys, int n)
{
	unsigned s = atomic_load_explicit(&nm->seq, memory_order_relaxed) | 1;
	atomic_store_explicit(&nm->seq, s, memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		uint64_t w[TWP_KEY_WORDS];
		memcpy(w, &keys[i], sizeof(w));
		for (size_t j = 0; j < TWP_KEY_WORDS; j++)
			atomic_store_explicit(&nm->addrs[i][j], w[j], memory_order_release);
	}
	atomic_store_explicit(&nm->n, n, memory_order_release);
	atomic_store_explicit(&nm->seq, s + 1, memory_order_release);
}

static int scan(struct twp_name *nm, const struct twp_key *k)
{
	int n = atomic_load_explicit(&nm->n, memory_order_acquire);
	for (int i = 0; i < n && i < TWP_RESOLVED_MAX; i++) {
		uint64_t w[TWP_KEY_WORDS];
		struct twp_key a;
		for (size_t j = 0; j < TWP_KEY_WORDS; j++)
			w[j] = atomic_load_explicit(&nm->addrs[i][j], memory_order_acquire);
		memcpy(&a, w, sizeof(a));
		if (twp_key_same_target(&a, k))
			return 1;
	}
	return 0;
}

/* A read that keeps meeting a rewrite (or one a fork cut in half) answers
 * "no": that connect passes through, which is always safe. */
static int holds(struct twp_name *nm, const struct twp_key *k)
{
	for (int tries = 0; tries < SEQ_TRIES; tries++) {
		unsigned s = atomic_load_explicit(&nm->seq, memory_order_acquire);
		if (s & 1)
			continue;
		int found = scan(nm, k);
		if (atomic_load_explicit(&nm->seq, memory_order_relaxed) == s)
			return found;
	}
	return 0;
}

/* ---- one lookup ---- */

/* Any failure drops the old addresses: a name that does not resolve
 * matches nothing, as the log line says. */
static void settle(struct twp_name *nm, int err, struct twp_key *keys, int n)
{
	if (!err) {
		for (int i = 0; i < n; i++)
			keys[i].port = nm->port;
		if (nm->fails)
			twp_log(TWP_LOG_INFO, "TWPOOL_TARGETS: '%s' resolves again; pooling it", nm->name);
		nm->fails = 0;
	} else if (nm->fails++ == 0) {
		twp_log(TWP_LOG_WARN, "TWPOOL_TARGETS: cannot resolve '%s': %s; not pooling it",
			nm->name, err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
	} else {
		twp_debug("TWPOOL_TARGETS: '%s' still does not resolve (%u failures)",
			  nm->name, nm->fails);
	}
	publish(nm, keys, err ? 0 : n);
	atomic_store(&nm->due_ms, twp_name_next_due(now_ms(), nm->fails));
	atomic_store_explicit(&nm->owner, 0, memory_order_release);
}

/* getaddrinfo opens sockets of its own: twp_busy lets them pass through. */
static void *lookup_thread(void *arg)
{
	struct twp_name *nm = arg;
	struct twp_key keys[TWP_RESOLVED_MAX];
	int n = 0;
	twp_busy++;
	prctl(PR_SET_NAME, "twpool-dns");
	int err = lookup(nm->name, keys, TWP_RESOLVED_MAX, &n);
	settle(nm, err, keys, n);
	return NULL;
}

/* Detached, with every signal blocked from its first instruction: the
 * program's handlers, sigwait() threads and EINTR expectations never see
 * it. */
static int start_thread(struct twp_name *nm)
{
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all;
	sigfillset(&all);
	if (pthread_attr_init(&attr) != 0)
		return EAGAIN;
	int err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!err)
		err = pthread_attr_setsigmask_np(&attr, &all);
	if (!err)
		err = pthread_create(&th, &attr, lookup_thread, nm);
	pthread_attr_destroy(&attr);
	return err;
}

/* Claims the lookup for this process. An owner that is another process is
 * the parent this process was forked from: its thread is not here, so the
 * claim is taken over. */
static void kick(struct twp_name *nm, const char *name, uint16_t port)
{
	pid_t me = getpid();
	pid_t cur = atomic_load(&nm->owner);
	if (cur == me || !atomic_compare_exchange_strong(&nm->owner, &cur, me))
		return; /* in flight, or another thread claimed it just now */
	snprintf(nm->name, sizeof(nm->name), "%s", name);
	nm->port = port;
	int err = start_thread(nm);
	if (err) {
		errno = err;
		settle(nm, EAI_SYSTEM, NULL, 0);
	}
}

int twp_name_match(struct twp_name *nm, const char *name, uint16_t port,
		   const struct twp_key *k)
{
	if (now_ms() >= atomic_load_explicit(&nm->due_ms, memory_order_relaxed)) {
		int saved = errno;
		kick(nm, name, port);
		errno = saved;
	}
	return holds(nm, k);
}

void twp_name_wait(struct twp_name *nm)
{
	struct timespec tick = { 0, 1000000 };
	while (atomic_load(&nm->owner) == getpid())
		nanosleep(&tick, NULL);
}

void twp_name_forget(struct twp_name *nm)
{
	twp_name_wait(nm);
	publish(nm, NULL, 0);
	nm->fails = 0;
	atomic_store(&nm->due_ms, 0);
	atomic_store(&nm->owner, 0);
}
