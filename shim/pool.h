/* pool.h - targets and their idle connections.
 *
 * A target is one allow-listed (address, port), created on the first
 * connect() to it and kept for the life of the process with its counters.
 * Its idle connections sit in a list per socket family, most recently
 * parked first. All list work happens under one mutex, held for a few
 * pointer moves and never across a system call. */
#ifndef TWP_POOL_H
#define TWP_POOL_H

#include <stdatomic.h>
#include <netinet/in.h>
#include <stdint.h>

#include "key.h"
#include "uthash.h"

enum twp_reason {
	TWP_R_NONE, TWP_R_UNUSED, TWP_R_LAST_WRITE, TWP_R_UNREAD, TWP_R_EOF,
	TWP_R_ERROR, TWP_R_SHUTDOWN, TWP_R_UNSENT, TWP_R_STATE, TWP_R_SOCKOPT,
	TWP_R_SHARED, TWP_R_OVERFLOW, TWP_R_IDLE_TIMEOUT, TWP_R_LIFETIME,
	TWP_R_USES, TWP_R_STALE, TWP_R_FDLIMIT, TWP_R_STDIO, TWP_R_CLOSE_RANGE,
	TWP_R_EPOLL,
	TWP_R_COUNT
};

/* The reason label of twpool_discards_total. */
const char *twp_reason_name(enum twp_reason r);

struct twp_opts;

struct twp_conn {
	int fd;                   /* the shim's fd for it: private, or (inplace) the
				   * number the program closed; -1: none */
	int inplace;              /* fd is a number the program had: parked there */
	int nonblock;             /* O_NONBLOCK on the open file description */
	int cloexec;              /* FD_CLOEXEC of fd, when inplace */
	int family;               /* socket family: AF_INET or AF_INET6 */
	uint32_t uses;            /* times handed to the program */
	uint64_t written;         /* bytes the program wrote in its last use */
	uint64_t gen;             /* twp_spawn_gen when handed out */
	uint64_t born_ms;         /* real connect */
	uint64_t expires_ms;      /* born + lifetime - jitter; 0: never */
	uint64_t parked_ms;
	struct twp_target *target;
	struct twp_opts *opts;    /* options to undo before parking */
	struct sockaddr_in6 peer; /* where it connects (sockaddr_in for AF_INET) */
	socklen_t peerlen;
	char *kept;               /* bytes written since handout, for a replay */
	size_t nkept, keptcap;
	struct twp_conn *prev, *next; /* idle list links */
};

struct twp_target {
	struct twp_key key;
	char label[TWP_LABEL_MAX];
	struct twp_conn *head[2], *tail[2]; /* [0] AF_INET sockets, [1] AF_INET6 */
	unsigned nidle;
	_Atomic uint64_t reused, fresh, parked, closed, replays_ok, replays_failed;
	_Atomic uint64_t discards[TWP_R_COUNT];
	UT_hash_handle hh;
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

/* Empties the pool into *all (after fork, in the child). */
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
