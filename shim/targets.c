/* targets.c - matching destinations against TWPOOL_TARGETS. */
#include "resolver.h"
#include "targets.h"

/* Indexed like the configuration's entries; only name entries use theirs. */
static struct twp_name names[TWPOOL_MAX_TARGETS];

const struct twp_spec *twp_targets_find(const struct twp_config *c, const struct twp_key *k)
{
	for (int i = 0; i < c->nspecs; i++) {
		const struct twp_spec *sp = &c->specs[i];
		if (sp->port != k->port)
			continue;
		if (sp->kind == TWP_SPEC_ANY)
			return sp;
		if (sp->kind == TWP_SPEC_ADDR && twp_key_same_target(&sp->key, k))
			return sp;
		if (sp->kind == TWP_SPEC_NAME && twp_name_match(&names[i], sp->name, sp->port, k))
			return sp;
	}
	return NULL;
}

int twp_targets_match(const struct twp_config *c, const struct twp_key *k)
{
	return twp_targets_find(c, k) != NULL;
}

void twp_targets_wait(void)
{
	for (int i = 0; i < TWPOOL_MAX_TARGETS; i++)
		twp_name_wait(&names[i]);
}

void twp_targets_reset(void)
{
	for (int i = 0; i < TWPOOL_MAX_TARGETS; i++)
		twp_name_forget(&names[i]);
}
