/* test_targets.c - twp_targets_match against parsed allow-lists. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "targets.h"
#include "util.h"

static struct twp_config cfg; /* large: static, not on the stack */

static void reset(void)
{
	twp_targets_reset();
}

static void use_targets(const char *list)
{
	char var[512], err[256];
	snprintf(var, sizeof(var), "TWPOOL_TARGETS=%s", list);
	char *envp[] = { var, NULL };
	cr_assert_eq(twp_config_parse(&cfg, envp, err, sizeof(err)), 0,
		     "test bug: '%s' does not parse: %s", list, err);
}


static int matches(const char *addr, unsigned port)
{
	struct twp_key k = test_key(addr, port);
	return twp_targets_match(&cfg, &k);
}

struct match_case {
	char targets[128];
	char addr[48];
	unsigned port;
	int match;
};

ParameterizedTestParameters(targets, match)
{
	static struct match_case params[] = {
		/* exact addresses */
		{ "1.2.3.4:6379", "1.2.3.4", 6379, 1 },
		{ "1.2.3.4:6379", "1.2.3.5", 6379, 0 },
		{ "1.2.3.4:6379", "1.2.3.4", 6380, 0 },
		{ "[::1]:443", "::1", 443, 1 },
		{ "[::1]:443", "::2", 443, 0 },
		{ "[::1]:443", "::1", 444, 0 },
		{ "[::1]:443", "127.0.0.1", 443, 0 },
		/* v4-mapped connects match v4 entries, and the other way round */
		{ "1.2.3.4:80", "::ffff:1.2.3.4", 80, 1 },
		{ "[::ffff:1.2.3.4]:80", "1.2.3.4", 80, 1 },
		{ "1.2.3.4:80", "::1.2.3.4", 80, 0 },
		/* entries have no scope: a scoped connect to the address matches */
		{ "[fe80::1]:80", "fe80::1%1", 80, 1 },
		{ "[fe80::1]:80", "fe80::1%2", 80, 1 },
		{ "[fe80::1]:80", "fe80::2%1", 80, 0 },
		{ "*:80", "fe80::1%1", 80, 1 },
		/* any address on a port */
		{ "*:6379", "10.9.8.7", 6379, 1 },
		{ "*:6379", "2001:db8::1", 6379, 1 },
		{ "*:6379", "::ffff:10.9.8.7", 6379, 1 },
		{ "*:6379", "10.9.8.7", 6378, 0 },
		/* lists: any entry may match */
		{ "1.1.1.1:1, 2.2.2.2:2, *:3", "2.2.2.2", 2, 1 },
		{ "1.1.1.1:1, 2.2.2.2:2, *:3", "9.9.9.9", 3, 1 },
		{ "1.1.1.1:1, 2.2.2.2:2, *:3", "1.1.1.1", 2, 0 },
		{ "1.1.1.1:1, 2.2.2.2:2, *:3", "2.2.2.2", 1, 0 },
	};
	return cr_make_param_array(struct match_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct match_case *m, targets, match, .init = reset, .fini = reset)
{
	use_targets(m->targets);
	int got = matches(m->addr, m->port);
	cr_assert_eq(got, m->match, "TWPOOL_TARGETS='%s', connect to %s port %u: match %d, expected %d",
		     m->targets, m->addr, m->port, got, m->match);
}

Test(targets, empty_list_matches_nothing, .init = reset, .fini = reset)
{
	memset(&cfg, 0, sizeof(cfg));
	cr_assert_eq(matches("127.0.0.1", 80), 0, "no entries: nothing matches");
}

Test(targets, name_entry_matches_its_resolved_address, .init = reset, .fini = reset)
{
	use_targets("localhost:6379");
	cr_assert_eq(matches("127.0.0.1", 6379), 1, "localhost:6379 must match 127.0.0.1:6379 (/etc/hosts)");
	cr_assert_eq(matches("::ffff:127.0.0.1", 6379), 1, "and its v4-mapped form");
	cr_assert_eq(matches("127.0.0.1", 6380), 0, "but not another port");
	cr_assert_eq(matches("10.1.2.3", 6379), 0, "nor an address the name does not resolve to");
	cr_assert_eq(matches("127.0.0.1", 6379), 1, "second lookup (cached) still matches");
}

Test(targets, name_entry_after_reset_resolves_again, .init = reset, .fini = reset)
{
	use_targets("localhost:6379");
	cr_assert_eq(matches("127.0.0.1", 6379), 1, "first resolution matches");
	twp_targets_reset();
	cr_assert_eq(matches("127.0.0.1", 6379), 1, "after a reset the name is resolved again");
}

Test(targets, unresolvable_name_matches_nothing, .init = reset, .fini = reset)
{
	use_targets("no-such-host.invalid:80, 1.2.3.4:80");
	cr_assert_eq(matches("127.0.0.1", 80), 0, "an unresolvable name matches nothing");
	cr_assert_eq(matches("127.0.0.1", 80), 0, "and keeps matching nothing (negative result cached)");
	cr_assert_eq(matches("1.2.3.4", 80), 1, "entries after an unresolvable name still match");
}

Test(targets, name_and_address_entries_together, .init = reset, .fini = reset)
{
	use_targets("localhost:5432,[2001:db8::5]:5432");
	cr_assert_eq(matches("2001:db8::5", 5432), 1, "the address entry matches");
	cr_assert_eq(matches("127.0.0.1", 5432), 1, "the name entry matches");
	cr_assert_eq(matches("2001:db8::6", 5432), 0, "other addresses do not");
}
