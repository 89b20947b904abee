/* test_pool.c - per-target idle lists: LIFO, caps, idle timeouts.
 * The pool is process-global; Criterion runs each test in its own process,
 * so each starts with an empty pool. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "twpool.h"
#include "util.h"

/* Every stand-in connection of a test, freed when it ends (the pool may
 * still point at some: it dies with the test process). */
static struct twp_conn *made[64];
static int nmade;

static void defaults(void)
{
	twp_pool_configure(TWPOOL_DEFAULT_MAX_IDLE, TWPOOL_DEFAULT_IDLE_TIMEOUT_MS);
}

static void free_conns(void)
{
	while (nmade)
		free(made[--nmade]);
}

static struct twp_target *target(const char *addr, unsigned port)
{
	struct twp_key k = test_key(addr, port);
	struct twp_target *t = twp_pool_target(&k);
	cr_assert_not_null(t, "target for %s:%u created", addr, port);
	return t;
}

/* A stand-in connection: never a real fd. */
static struct twp_conn *conn(struct twp_target *t, int family)
{
	cr_assert_lt(nmade, 64, "test bug: too many connections");
	struct twp_conn *c = made[nmade++] = calloc(1, sizeof(*c));
	cr_assert_not_null(c, "out of memory");
	c->fd = -1;
	c->family = family;
	c->target = t;
	return c;
}

static int list_len(const struct twp_conn *c)
{
	int n = 0;
	for (; c; c = c->next)
		n++;
	return n;
}

static int list_has(const struct twp_conn *l, const struct twp_conn *c)
{
	for (; l; l = l->next)
		if (l == c)
			return 1;
	return 0;
}

/* Takes everything of one family at a time that cannot expire anything. */
static struct twp_conn *take(struct twp_target *t, int family, uint64_t now)
{
	struct twp_conn *expired = NULL;
	struct twp_conn *c = twp_pool_take(t, family, now, &expired);
	cr_assert_null(expired, "nothing should expire at %llu", (unsigned long long)now);
	return c;
}

TestSuite(pool, .init = defaults, .fini = free_conns);

Test(pool, target_created_once_per_key)
{
	struct twp_target *a = target("10.0.0.1", 6379);
	struct twp_target *b = target("10.0.0.1", 6379);
	struct twp_target *c = target("10.0.0.1", 6380);
	struct twp_target *d = target("::ffff:10.0.0.1", 6379);
	cr_assert_eq(a, b, "same key: same target back");
	cr_assert_neq(a, c, "another port: another target");
	cr_assert_eq(a, d, "v4-mapped address: the v4 target");
	cr_assert_eq(a->nidle, 0, "a new target has no idle connections");
	cr_assert_null(a->head[0], "a new target has an empty AF_INET list");
	cr_assert_null(a->head[1], "a new target has an empty AF_INET6 list");
}

Test(pool, link_local_scopes_are_separate_targets)
{
	struct twp_target *a = target("fe80::1%1", 80), *b = target("fe80::1%2", 80);
	cr_assert_neq(a, b, "fe80::1 on two links: two targets, two pools");
	cr_assert_str_eq(a->label, "[fe80::1%1]:80", "the label shows the scope");
}

Test(pool, target_label)
{
	cr_assert_str_eq(target("10.0.0.1", 6379)->label, "10.0.0.1:6379", "IPv4 label");
	cr_assert_str_eq(target("2001:db8::1", 443)->label, "[2001:db8::1]:443", "IPv6 label");
}

Test(pool, put_and_take_are_lifo)
{
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET), *b = conn(t, AF_INET), *c = conn(t, AF_INET);
	cr_assert_null(twp_pool_put(t, a, 1000), "room for a");
	cr_assert_null(twp_pool_put(t, b, 1001), "room for b");
	cr_assert_null(twp_pool_put(t, c, 1002), "room for c");
	cr_assert_eq(t->nidle, 3, "three idle, got %u", t->nidle);
	cr_assert_eq(c->parked_ms, 1002, "put records the parked time");
	cr_assert_eq(take(t, AF_INET, 1003), c, "most recently parked first");
	cr_assert_eq(take(t, AF_INET, 1003), b, "then the one before");
	cr_assert_eq(take(t, AF_INET, 1003), a, "then the oldest");
	cr_assert_null(take(t, AF_INET, 1003), "then nothing");
	cr_assert_eq(t->nidle, 0, "none idle after taking all, got %u", t->nidle);
	cr_assert(!a->prev && !a->next, "a taken connection is unlinked");
}

Test(pool, families_have_separate_lists)
{
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *v4 = conn(t, AF_INET), *v6 = conn(t, AF_INET6);
	twp_pool_put(t, v4, 1000);
	twp_pool_put(t, v6, 1001);
	cr_assert_eq(take(t, AF_INET6, 1002), v6, "an AF_INET6 socket gets the AF_INET6 connection");
	cr_assert_null(take(t, AF_INET6, 1002), "no second AF_INET6 connection");
	cr_assert_eq(take(t, AF_INET, 1002), v4, "an AF_INET socket gets the AF_INET connection");
}

Test(pool, max_idle_evicts_the_oldest)
{
	twp_pool_configure(2, 0);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET), *b = conn(t, AF_INET), *c = conn(t, AF_INET);
	cr_assert_null(twp_pool_put(t, a, 1), "a fits");
	cr_assert_null(twp_pool_put(t, b, 2), "b fits");
	struct twp_conn *back = twp_pool_put(t, c, 3);
	cr_assert_eq(back, a, "a third connection evicts the oldest (a)");
	cr_assert_null(back->next, "and only it");
	cr_assert_eq(t->nidle, 2, "still two idle, got %u", t->nidle);
	cr_assert_eq(take(t, AF_INET, 4), c, "c is kept");
	cr_assert_eq(take(t, AF_INET, 4), b, "b is kept");
}

Test(pool, max_idle_evicts_the_oldest_of_either_family)
{
	twp_pool_configure(2, 0);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *old6 = conn(t, AF_INET6), *v4 = conn(t, AF_INET), *new4 = conn(t, AF_INET);
	twp_pool_put(t, old6, 1);
	twp_pool_put(t, v4, 2);
	cr_assert_eq(twp_pool_put(t, new4, 3), old6, "the cap is per target: the older AF_INET6 goes");
	cr_assert_null(take(t, AF_INET6, 4), "no AF_INET6 connection left");
	cr_assert_eq(take(t, AF_INET, 4), new4, "newest AF_INET first");
	cr_assert_eq(take(t, AF_INET, 4), v4, "then the other");
}

Test(pool, max_idle_zero_returns_the_conn_itself)
{
	twp_pool_configure(0, 0);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET);
	struct twp_conn *back = twp_pool_put(t, a, 1);
	cr_assert_eq(back, a, "max_idle 0: nothing is parked, the caller closes it");
	cr_assert_null(back->next, "a alone is handed back");
	cr_assert_eq(t->nidle, 0, "nothing idle, got %u", t->nidle);
	cr_assert_null(take(t, AF_INET, 2), "nothing to take");
}

/* Caps only come from the environment today, but lowering the cap below
 * the idle count must hand back, not lose, the connections over it. */
Test(pool, lowered_max_idle_loses_no_connection)
{
	twp_pool_configure(4, 0);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *c[5];
	for (int i = 0; i < 4; i++)
		twp_pool_put(t, c[i] = conn(t, AF_INET), (uint64_t)i + 1);
	twp_pool_configure(2, 0);
	c[4] = conn(t, AF_INET);
	struct twp_conn *back = twp_pool_put(t, c[4], 10);
	int in_pool = 0;
	while (take(t, AF_INET, 11))
		in_pool++;
	cr_assert_eq(in_pool + list_len(back), 5,
		     "every connection must be in the pool or handed back to close: %d idle + %d returned",
		     in_pool, list_len(back));
	cr_assert_eq(in_pool, 2, "the pool shrinks to the new cap of 2, got %d", in_pool);
	cr_assert(list_has(back, c[0]) && list_has(back, c[1]) && list_has(back, c[2]),
		  "the three oldest are handed back");
}

Test(pool, take_moves_expired_conns_out)
{
	twp_pool_configure(16, 100);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *old = conn(t, AF_INET), *older = conn(t, AF_INET), *fresh = conn(t, AF_INET);
	twp_pool_put(t, older, 1000);
	twp_pool_put(t, old, 1010);
	twp_pool_put(t, fresh, 1050);
	struct twp_conn *expired = NULL;
	struct twp_conn *got = twp_pool_take(t, AF_INET, 1110, &expired);
	cr_assert_eq(got, fresh, "the connection still within its idle time is taken");
	cr_assert_eq(list_len(expired), 2, "two idle for >= 100 ms moved out, got %d", list_len(expired));
	cr_assert(list_has(expired, old) && list_has(expired, older), "both expired connections listed");
	cr_assert_eq(t->nidle, 0, "nothing left idle, got %u", t->nidle);
}

Test(pool, take_expiry_boundary)
{
	twp_pool_configure(16, 100);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET);
	twp_pool_put(t, a, 1000);
	cr_assert_eq(take(t, AF_INET, 1099), a, "99 ms idle is within a 100 ms timeout");
	twp_pool_put(t, a, 1000);
	struct twp_conn *expired = NULL;
	cr_assert_null(twp_pool_take(t, AF_INET, 1100, &expired), "100 ms idle has timed out");
	cr_assert_eq(expired, a, "and is handed back to be closed");
}

Test(pool, take_only_expires_its_own_family)
{
	twp_pool_configure(16, 100);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *v6 = conn(t, AF_INET6);
	twp_pool_put(t, v6, 1000);
	struct twp_conn *expired = NULL;
	cr_assert_null(twp_pool_take(t, AF_INET, 5000, &expired), "no AF_INET connection");
	cr_assert_null(expired, "take(AF_INET) leaves the AF_INET6 list to the sweep");
	cr_assert_eq(t->nidle, 1, "the AF_INET6 connection still idle");
}

/* The caller reads the clock before taking the lock; another thread may
 * park a connection with a later time in between. That connection has
 * been idle for no time at all and must not be expired. */
Test(pool, take_with_earlier_clock_does_not_expire_a_fresh_conn)
{
	twp_pool_configure(16, 100);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET);
	twp_pool_put(t, a, 1004);
	struct twp_conn *expired = NULL;
	struct twp_conn *got = twp_pool_take(t, AF_INET, 1000, &expired);
	cr_assert_null(expired, "a connection parked 'after' now was expired (now - parked_ms wrapped)");
	cr_assert_eq(got, a, "the fresh connection is handed out");
}

Test(pool, sweep_expires_every_target_and_family)
{
	twp_pool_configure(16, 100);
	struct twp_target *t1 = target("10.0.0.1", 80), *t2 = target("2001:db8::1", 443);
	struct twp_conn *e1 = conn(t1, AF_INET), *e2 = conn(t1, AF_INET6), *e3 = conn(t2, AF_INET6);
	struct twp_conn *k1 = conn(t1, AF_INET), *k2 = conn(t2, AF_INET6);
	twp_pool_put(t1, e1, 1000);
	twp_pool_put(t1, e2, 1000);
	twp_pool_put(t2, e3, 1010);
	twp_pool_put(t1, k1, 1150);
	twp_pool_put(t2, k2, 1150);
	struct twp_conn *expired = NULL;
	twp_pool_sweep(1200, &expired);
	cr_assert_eq(list_len(expired), 3, "three idle for >= 100 ms, got %d", list_len(expired));
	cr_assert(list_has(expired, e1) && list_has(expired, e2) && list_has(expired, e3),
		  "each expired connection listed");
	cr_assert_eq(t1->nidle, 1, "t1 keeps its fresh connection, got %u", t1->nidle);
	cr_assert_eq(t2->nidle, 1, "t2 keeps its fresh connection, got %u", t2->nidle);
	cr_assert_eq(take(t1, AF_INET, 1200), k1, "t1's fresh one still there");
	cr_assert_eq(take(t2, AF_INET6, 1200), k2, "t2's fresh one still there");
}

Test(pool, sweep_appends_to_the_expired_list)
{
	twp_pool_configure(16, 100);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *already = conn(t, AF_INET), *a = conn(t, AF_INET);
	twp_pool_put(t, a, 0);
	struct twp_conn *expired = already;
	twp_pool_sweep(500, &expired);
	cr_assert_eq(list_len(expired), 2, "sweep adds to what the list held, got %d", list_len(expired));
	cr_assert(list_has(expired, already), "the earlier entry is kept");
}

Test(pool, zero_idle_timeout_never_expires)
{
	twp_pool_configure(16, 0);
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET);
	twp_pool_put(t, a, 0);
	struct twp_conn *expired = NULL;
	twp_pool_sweep(UINT64_MAX / 2, &expired);
	cr_assert_null(expired, "idle timeout 0: nothing expires");
	cr_assert_eq(take(t, AF_INET, UINT64_MAX / 2), a, "still there to take");
}

Test(pool, remove)
{
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET), *b = conn(t, AF_INET), *c = conn(t, AF_INET);
	struct twp_conn *never = conn(t, AF_INET);
	twp_pool_put(t, a, 1);
	twp_pool_put(t, b, 2);
	twp_pool_put(t, c, 3);
	cr_assert_eq(twp_pool_remove(b), 1, "b (middle) was idle: removed");
	cr_assert_eq(twp_pool_remove(b), 0, "b is no longer idle");
	cr_assert_eq(twp_pool_remove(never), 0, "a connection never parked is not found");
	cr_assert_eq(t->nidle, 2, "two idle after the removal, got %u", t->nidle);
	cr_assert_eq(twp_pool_remove(c), 1, "c (head) removed");
	cr_assert_eq(twp_pool_remove(a), 1, "a (tail) removed");
	cr_assert_null(take(t, AF_INET, 4), "list empty after removing all");
	cr_assert_eq(t->nidle, 0, "none idle, got %u", t->nidle);
}

Test(pool, remove_keeps_the_rest_in_order)
{
	struct twp_target *t = target("10.0.0.1", 80);
	struct twp_conn *a = conn(t, AF_INET), *b = conn(t, AF_INET), *c = conn(t, AF_INET);
	twp_pool_put(t, a, 1);
	twp_pool_put(t, b, 2);
	twp_pool_put(t, c, 3);
	twp_pool_remove(b);
	cr_assert_eq(take(t, AF_INET, 4), c, "c first");
	cr_assert_eq(take(t, AF_INET, 4), a, "then a: the list relinked around b");
}

Test(pool, drain_empties_every_list_and_zeroes_counters)
{
	struct twp_target *t1 = target("10.0.0.1", 80), *t2 = target("10.0.0.2", 80);
	twp_pool_put(t1, conn(t1, AF_INET), 1);
	twp_pool_put(t1, conn(t1, AF_INET6), 2);
	twp_pool_put(t1, conn(t1, AF_INET), 3);
	twp_pool_put(t2, conn(t2, AF_INET), 4);
	t1->n.reused.n = 5;
	t2->n.fresh.n = 6;
	t1->n.parked.n = 7;
	t2->n.closed.n = 8;
	t1->n.discards[TWP_R_OVERFLOW].n = 9;
	struct twp_conn *all = NULL;
	twp_pool_drain(&all);
	cr_assert_eq(list_len(all), 4, "every idle connection drained, got %d", list_len(all));
	cr_assert_eq(t1->nidle + t2->nidle, 0, "no idle connections left");
	cr_assert(!t1->head[0] && !t1->head[1] && !t2->head[0], "lists empty");
	cr_assert(!t1->n.reused.n && !t2->n.fresh.n && !t1->n.parked.n && !t2->n.closed.n, "counters zeroed");
	cr_assert_eq(t1->n.discards[TWP_R_OVERFLOW].n, 0, "discard counters zeroed");
	cr_assert_eq(target("10.0.0.1", 80), t1, "targets themselves survive the drain");
}

struct reason_case {
	int reason;
	char name[16];
};

ParameterizedTestParameters(pool, reason_name)
{
	static struct reason_case params[] = {
		{ TWP_R_UNUSED, "unused" }, { TWP_R_LAST_WRITE, "last_write" },
		{ TWP_R_UNREAD, "unread" }, { TWP_R_EOF, "eof" }, { TWP_R_ERROR, "error" },
		{ TWP_R_SHUTDOWN, "shutdown" }, { TWP_R_UNSENT, "unsent" }, { TWP_R_STATE, "state" },
		{ TWP_R_SOCKOPT, "sockopt" }, { TWP_R_SHARED, "shared" }, { TWP_R_OVERFLOW, "overflow" },
		{ TWP_R_IDLE_TIMEOUT, "idle_timeout" }, { TWP_R_LIFETIME, "lifetime" },
		{ TWP_R_USES, "uses" }, { TWP_R_STALE, "stale" }, { TWP_R_FDLIMIT, "fdlimit" },
		{ TWP_R_STDIO, "stdio" }, { TWP_R_CLOSE_RANGE, "close_range" }, { TWP_R_EPOLL, "epoll" },
		{ TWP_R_INFLIGHT, "inflight" }, { TWP_R_BLIND, "blind" }, { TWP_R_PARTIAL, "partial" },
		{ TWP_R_PROTOCOL, "protocol" }, { TWP_R_TUNNEL, "tunnel" },
		{ TWP_R_SERVER_CLOSE, "server_close" }, { TWP_R_TLS, "tls" },
		{ TWP_R_SERVER_FIRST, "server_first" }, { TWP_R_COUNT, "unknown" }, { -1, "unknown" },
	};
	_Static_assert(TWP_R_SERVER_FIRST + 1 == TWP_R_COUNT, "a new reason needs a row here and a line in twpool.h");
	return cr_make_param_array(struct reason_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct reason_case *r, pool, reason_name)
{
	cr_assert_str_eq(twp_reason_name((enum twp_reason)r->reason), r->name,
			 "reason %d must be labelled '%s' (see twpool.h)", r->reason, r->name);
}

Test(pool, reason_names_are_distinct_metric_labels)
{
	for (int r = TWP_R_NONE + 1; r < TWP_R_COUNT; r++) {
		const char *n = twp_reason_name((enum twp_reason)r);
		cr_assert_not_null(n, "reason %d has a name", r);
		cr_assert_str_neq(n, "unknown", "reason %d is missing from the name table", r);
		cr_assert_eq(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n),
			     "reason '%s' must be a plain label value", n);
		for (int q = TWP_R_NONE + 1; q < r; q++)
			cr_assert_str_neq(n, twp_reason_name((enum twp_reason)q), "reasons %d and %d share '%s'", q, r, n);
	}
}
