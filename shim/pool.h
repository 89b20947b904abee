/* pool.h - targets and their idle connections.
 *
 * A target is one allow-listed (address, port), created on the first
 * connect() to it and kept for the life of the process with its counters.
 * Its idle connections sit in a list per socket family, most recently
 * parked first.
 *
 * Ownership: an idle connection belongs to the pool; twp_pool_take and
 * twp_pool_take_inplace hand it to the calling thread, twp_pool_put takes
 * it back. The lists, nidle and the targets' hash change only under the
 * pool mutex, held for a few pointer moves; the only system call under it
 * is the fcntl(FD_CLOEXEC) of twp_pool_cloexec_all before an exec. */
#ifndef TWP_POOL_H
#define TWP_POOL_H

#include <stdint.h>

#include "conn.h"
#include "counters.h"
#include "key.h"

struct twp_target {
	struct twp_key key;
	char label[TWP_LABEL_MAX];
	struct twp_counters n;
	unsigned nidle;
	/* The server spoke before the program wrote (conn.c): no connection
	 * to it is parked or handed out again in this process. */
	_Atomic int server_first;
	/* A MySQL login with other capabilities than a pooled connection's
	 * was seen (mysql_login.c): no MySQL connection to it is handed out
	 * again in this process. */
	_Atomic int mysql_mixed;
	struct twp_conn *head[2], *tail[2]; /* [0] AF_INET sockets, [1] AF_INET6 */
};

/* Most targets the shim creates; connects to further ones pass through. */
#define TWP_MAX_POOL_TARGETS 4096

/* Finds or creates the target for k; NULL when out of memory or past
 * TWP_MAX_POOL_TARGETS. Targets are never freed. */
struct twp_target *twp_pool_target(const struct twp_key *k);

/* Takes the most recently parked connection of the socket family, or NULL.
 * Idle connections past their deadline are moved to *expired (linked by
 * ->next) for the caller to close outside the lock. */
struct twp_conn *twp_pool_take(struct twp_target *t, int family, uint64_t now_ms,
			       struct twp_conn **expired);

/* Takes the most recently parked connection of the socket family if it
 * is parked in place (any target: the one the program used last), or NULL.
 * Expired ones go to *expired as with twp_pool_take. */
struct twp_conn *twp_pool_take_inplace(int family, uint64_t now_ms, struct twp_conn **expired);

/* Sets FD_CLOEXEC on every connection parked in place without it (before
 * an exec or a spawn, so none leaks into another program). */
void twp_pool_cloexec_all(void);

/* Parks c (c->fd valid). Returns the connections for the caller to close
 * (linked by ->next, NULL if none): the oldest idle ones when the target
 * was full, or c itself when TWPOOL_MAX_IDLE is 0. */
struct twp_conn *twp_pool_put(struct twp_target *t, struct twp_conn *c, uint64_t now_ms);

/* Moves every idle connection past its idle deadline into *expired. */
void twp_pool_sweep(uint64_t now_ms, struct twp_conn **expired);

/* Removes c from its idle list if it is there; returns 1 if it was. */
int twp_pool_remove(struct twp_conn *c);

/* Empties the pool into *all and zeroes the counters (in a forked child,
 * single-threaded, after twp_pool_atfork_child). */
void twp_pool_drain(struct twp_conn **all);

/* Calls fn for each target under the lock (stats snapshot). */
void twp_pool_each(void (*fn)(const struct twp_target *, void *), void *arg);

/* Pool settings, from the configuration. */
void twp_pool_configure(unsigned max_idle, unsigned idle_timeout_ms);

/* Resets the lock in a forked child; the child's pool starts empty. */
void twp_pool_atfork_child(void);
void twp_pool_lock(void);
void twp_pool_unlock(void);

#endif
