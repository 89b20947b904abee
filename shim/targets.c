/* targets.c - matching destinations against TWPOOL_TARGETS. */
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "log.h"
#include "targets.h"

#define TWP_RESOLVED_MAX 16 /* addresses kept per host name */

struct resolved {
	int n;
	struct twp_key keys[TWP_RESOLVED_MAX];
};

static _Atomic(struct resolved *) names[TWPOOL_MAX_TARGETS];

/* getaddrinfo opens sockets of its own: twp_busy lets them pass through. */
static struct resolved *resolve(const struct twp_spec *sp)
{
	struct resolved *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	twp_busy++;
	int err = getaddrinfo(sp->name, NULL, &hints, &res);
	twp_busy--;
	if (err) {
		twp_log(TWP_LOG_WARN, "TWPOOL_TARGETS: cannot resolve '%s': %s; not pooling it",
			sp->name, gai_strerror(err));
		return r;
	}
	for (struct addrinfo *ai = res; ai && r->n < TWP_RESOLVED_MAX; ai = ai->ai_next) {
		struct twp_key k;
		if (twp_key_from_sockaddr(&k, ai->ai_addr, ai->ai_addrlen) == 0) {
			k.port = sp->port;
			r->keys[r->n++] = k;
		}
	}
	freeaddrinfo(res);
	return r;
}

static int name_matches(int i, const struct twp_spec *sp, const struct twp_key *k)
{
	struct resolved *r = atomic_load_explicit(&names[i], memory_order_acquire);
	if (!r) {
		struct resolved *mine = resolve(sp), *none = NULL;
		if (!mine)
			return 0;
		if (atomic_compare_exchange_strong(&names[i], &none, mine))
			r = mine;
		else { /* another thread resolved it first */
			free(mine);
			r = none;
		}
	}
	for (int j = 0; j < r->n; j++)
		if (twp_key_same_target(&r->keys[j], k))
			return 1;
	return 0;
}

int twp_targets_match(const struct twp_config *c, const struct twp_key *k)
{
	for (int i = 0; i < c->nspecs; i++) {
		const struct twp_spec *sp = &c->specs[i];
		if (sp->port != k->port)
			continue;
		if (sp->kind == TWP_SPEC_ANY)
			return 1;
		if (sp->kind == TWP_SPEC_ADDR && twp_key_same_target(&sp->key, k))
			return 1;
		if (sp->kind == TWP_SPEC_NAME && name_matches(i, sp, k))
			return 1;
	}
	return 0;
}

void twp_targets_reset(void)
{
	for (int i = 0; i < TWPOOL_MAX_TARGETS; i++)
		free(atomic_exchange(&names[i], NULL));
}
