/* resolver.h - host names of the allow-list, looked up off the program's
 * path.
 *
 * A connect() never waits for DNS. The first connect to a name's port
 * starts a lookup on a short-lived thread of the shim's own (every signal
 * blocked, so the program's handlers never run on it; it exits when the
 * lookup ends) and passes through unpooled, as does every connect until
 * the lookup succeeds. A failed lookup is retried TWP_RETRY_FIRST_MS after
 * it, doubling to TWP_RETRY_MAX_MS, and logged once per run of failures;
 * a resolved name is looked up again TWP_REFRESH_MS later so that an
 * address change is seen. Lookups start only from a connect that finds one
 * due: a program that stops connecting sends no DNS traffic. */
#ifndef TWP_RESOLVER_H
#define TWP_RESOLVER_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "key.h"

#define TWP_RESOLVED_MAX 16      /* addresses kept per name */
#define TWP_REFRESH_MS 60000     /* a resolved name is looked up again */
#define TWP_RETRY_FIRST_MS 1000  /* after a first failure */
#define TWP_RETRY_MAX_MS 60000   /* the doubling stops here */

#define TWP_KEY_WORDS (sizeof(struct twp_key) / sizeof(uint64_t))
_Static_assert(sizeof(struct twp_key) % sizeof(uint64_t) == 0, "twp_key is stored as words");

/* One host-name entry. Connects read the addresses lock-free under a
 * sequence count, so no lock is ever held where a signal handler's
 * connect() could find it. The thread of the process named by owner is the
 * only writer; fails and name belong to it. Zeroed: never looked up. */
struct twp_name {
	_Atomic unsigned seq;   /* odd while the addresses change */
	_Atomic int n;
	_Atomic uint64_t addrs[TWP_RESOLVED_MAX][TWP_KEY_WORDS]; /* keys, port included */
	_Atomic uint64_t due_ms; /* next lookup, twp_now_ms() time; 0: now */
	_Atomic pid_t owner;     /* process whose thread is looking it up; 0: none */
	unsigned fails;          /* failed lookups in a row */
	uint16_t port;           /* network byte order */
	char name[TWP_NAME_MAX];
};

/* 1 if k is an address name resolved to (with port), else 0. Starts a
 * lookup when one is due; never waits for one. Keeps errno. */
int twp_name_match(struct twp_name *nm, const char *name, uint16_t port,
		   const struct twp_key *k);

/* When the lookup after one at now_ms is due: TWP_REFRESH_MS later after a
 * success (fails == 0), else the back-off for the fails-th failure in a
 * row. */
uint64_t twp_name_next_due(uint64_t now_ms, unsigned fails);

/* Waits until no lookup of nm started by this process is in flight. */
void twp_name_wait(struct twp_name *nm);

/* Waits as above, then forgets the name's addresses and schedule. */
void twp_name_forget(struct twp_name *nm);

/* For tests: the clock and the lookup; NULL restores twp_now_ms() and
 * getaddrinfo(). A lookup fills keys (port left 0) and returns 0, or
 * returns an EAI_ error. Set them while no lookup is in flight. */
typedef uint64_t (*twp_clock_fn)(void);
typedef int (*twp_lookup_fn)(const char *name, struct twp_key *keys, int max, int *n);
void twp_resolver_use(twp_clock_fn clock, twp_lookup_fn lookup);

#endif
