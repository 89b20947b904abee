/* test_targets.c - twp_targets_match against parsed allow-lists, and the
 * host names behind it: looked up off the connect path, retried with a
 * back-off, refreshed (resolver.c), under a clock the tests move. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "resolver.h"
#include "targets.h"
#include "util.h"

static struct twp_config cfg; /* large: static, not on the stack */

static void reset(void)
{
	twp_targets_reset();
	twp_resolver_use(NULL, NULL);
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


/* ---- host names, with a fake clock and a fake name server ---- */

#define NAME_PORT 5432

static _Atomic uint64_t clock_ms = 1000000;
static _Atomic int lookups;     /* calls of fake_lookup */
static _Atomic int gate_closed; /* fake_lookup waits while set: a slow server */
static char answer[48];         /* fake_lookup's address for "db.test"; "": no such name */
static sigset_t lookup_mask;    /* the signal mask fake_lookup ran with */

static uint64_t test_clock(void)
{
	return atomic_load(&clock_ms);
}

static int fake_lookup(const char *name, struct twp_key *keys, int max, int *n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	atomic_fetch_add(&lookups, 1);
	pthread_sigmask(SIG_BLOCK, NULL, &lookup_mask);
	while (atomic_load(&gate_closed))
		usleep(1000);
	*n = 0;
	if (max < 1 || strcmp(name, "db.test") || inet_pton(AF_INET, answer, &sa.sin_addr) != 1)
		return EAI_NONAME;
	*n = twp_key_from_sockaddr(&keys[0], (struct sockaddr *)&sa, sizeof(sa)) == 0;
	return 0;
}

static void use_fakes(void)
{
	reset();
	twp_log_level = TWP_LOG_ERROR; /* the expected warnings; one test reads them */
	twp_resolver_use(test_clock, fake_lookup);
}

static void advance(uint64_t ms)
{
	atomic_fetch_add(&clock_ms, ms);
}

/* A connect's match, then the lookup it may have started runs to its end. */
static int match_settled(const char *addr)
{
	int m = matches(addr, NAME_PORT);
	twp_targets_wait();
	return m;
}

static void until_lookups(int n)
{
	for (int i = 0; i < 10000 && atomic_load(&lookups) < n; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&lookups), n, "the lookup thread never ran");
}

Test(targets, name_lookup_never_waits_inside_match, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432");
	strcpy(answer, "10.0.0.7");
	atomic_store(&gate_closed, 1);
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 0,
		     "a name whose lookup is in flight matches nothing: the connect passes through");
	until_lookups(1);
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 0, "still in flight: still no match");
	cr_assert_eq(atomic_load(&lookups), 1, "one lookup in flight at a time");
	atomic_store(&gate_closed, 0);
	twp_targets_wait();
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 1, "once it resolved, its address matches");
}

Test(targets, lookup_thread_blocks_every_signal, .init = use_fakes, .fini = reset)
{
	sigset_t before, after;
	pthread_sigmask(SIG_BLOCK, NULL, &before);
	use_targets("db.test:5432");
	match_settled("10.0.0.7");
	pthread_sigmask(SIG_BLOCK, NULL, &after);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM, SIGUSR1, SIGPIPE, SIGWINCH };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		cr_expect(sigismember(&lookup_mask, sigs[i]), "the lookup thread leaves %s unblocked",
			  strsignal(sigs[i]));
		cr_expect_eq(sigismember(&after, sigs[i]), sigismember(&before, sigs[i]),
			     "the caller's mask changed for %s", strsignal(sigs[i]));
	}
}

Test(targets, name_entry_matches_its_resolved_address, .init = reset, .fini = reset)
{
	use_targets("localhost:6379");
	matches("127.0.0.1", 6379); /* starts the lookup, getaddrinfo and /etc/hosts */
	twp_targets_wait();
	cr_assert_eq(matches("127.0.0.1", 6379), 1, "localhost:6379 must match 127.0.0.1:6379 (/etc/hosts)");
	cr_assert_eq(matches("::ffff:127.0.0.1", 6379), 1, "and its v4-mapped form");
	cr_assert_eq(matches("127.0.0.1", 6380), 0, "but not another port");
	cr_assert_eq(matches("10.1.2.3", 6379), 0, "nor an address the name does not resolve to");
}

Test(targets, unresolvable_name_matches_nothing, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432, 1.2.3.4:5432");
	answer[0] = '\0';
	cr_assert_eq(match_settled("127.0.0.1"), 0, "an unresolvable name matches nothing");
	cr_assert_eq(matches("127.0.0.1", NAME_PORT), 0, "and keeps matching nothing");
	cr_assert_eq(matches("1.2.3.4", NAME_PORT), 1, "entries after an unresolvable name still match");
}

Test(targets, name_and_address_entries_together, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432,[2001:db8::5]:5432");
	strcpy(answer, "10.0.0.7");
	match_settled("10.0.0.7");
	cr_assert_eq(matches("2001:db8::5", NAME_PORT), 1, "the address entry matches");
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 1, "the name entry matches");
	cr_assert_eq(matches("2001:db8::6", NAME_PORT), 0, "other addresses do not");
}

Test(targets, name_entry_after_reset_is_looked_up_again, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432");
	strcpy(answer, "10.0.0.7");
	match_settled("10.0.0.7");
	twp_targets_reset();
	atomic_store(&gate_closed, 1);
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 0, "a reset forgets the addresses");
	atomic_store(&gate_closed, 0);
	twp_targets_wait();
	cr_assert_eq(atomic_load(&lookups), 2, "and the next match looks the name up at once");
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 1, "which matches again");
}

struct due_case {
	unsigned fails;
	uint64_t after_ms;
};

ParameterizedTestParameters(targets, next_lookup_is_due)
{
	static struct due_case params[] = {
		{ 0, TWP_REFRESH_MS }, { 1, 1000 }, { 2, 2000 }, { 3, 4000 }, { 6, 32000 },
		{ 7, TWP_RETRY_MAX_MS }, { 8, TWP_RETRY_MAX_MS }, { 40, TWP_RETRY_MAX_MS },
		{ ~0u, TWP_RETRY_MAX_MS },
	};
	return cr_make_param_array(struct due_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct due_case *d, targets, next_lookup_is_due)
{
	uint64_t now = 5000;
	uint64_t got = twp_name_next_due(now, d->fails) - now;
	cr_assert_eq(got, d->after_ms, "after %u failures in a row: next lookup in %llu ms, want %llu",
		     d->fails, (unsigned long long)got, (unsigned long long)d->after_ms);
}

/* Moves the clock to just before the next lookup is due, then to it. */
static void expect_next_lookup_after(uint64_t ms, const char *addr)
{
	int before = atomic_load(&lookups);
	advance(ms - 1);
	match_settled(addr);
	cr_assert_eq(atomic_load(&lookups), before, "looked up again %llu ms early",
		     (unsigned long long)1);
	advance(1);
	match_settled(addr);
	cr_assert_eq(atomic_load(&lookups), before + 1, "not looked up again after %llu ms",
		     (unsigned long long)ms);
}

Test(targets, failed_name_is_retried_with_backoff, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432");
	answer[0] = '\0';
	match_settled("10.0.0.7");
	cr_assert_eq(atomic_load(&lookups), 1, "the first match looks the name up");
	uint64_t waits[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		expect_next_lookup_after(waits[i], "10.0.0.7");
}

Test(targets, failed_name_matches_once_it_resolves, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432");
	answer[0] = '\0';
	cr_assert_eq(match_settled("10.0.0.7"), 0, "no such name yet");
	strcpy(answer, "10.0.0.7"); /* the name appears */
	advance(TWP_RETRY_FIRST_MS - 1);
	cr_assert_eq(match_settled("10.0.0.7"), 0, "not retried before the back-off");
	advance(1);
	match_settled("10.0.0.7");
	cr_assert_eq(atomic_load(&lookups), 2, "retried once the back-off is over");
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 1, "and now the name matches");
}

Test(targets, resolved_name_is_refreshed_and_a_new_address_seen, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432");
	strcpy(answer, "10.0.0.7");
	match_settled("10.0.0.7");
	strcpy(answer, "10.0.0.8"); /* the name moves */
	expect_next_lookup_after(TWP_REFRESH_MS, "10.0.0.7");
	cr_assert_eq(matches("10.0.0.8", NAME_PORT), 1, "the new address matches after the refresh");
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 0, "the old one no longer does");
	answer[0] = '\0'; /* the name goes away */
	expect_next_lookup_after(TWP_REFRESH_MS, "10.0.0.8");
	cr_assert_eq(matches("10.0.0.8", NAME_PORT), 0, "a name that stopped resolving matches nothing");
}

static int count_in_file(const char *path, const char *text)
{
	char buf[8192] = "";
	FILE *f = fopen(path, "r");
	cr_assert(f, "cannot read %s", path);
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	int n = 0;
	for (char *p = buf; (p = strstr(p, text)); p += strlen(text))
		n++;
	return n;
}

Test(targets, failure_is_logged_once_per_run_of_failures, .init = use_fakes, .fini = reset)
{
	char log[] = "/tmp/twp-targets-log-XXXXXX";
	int fd = mkstemp(log);
	cr_assert(fd >= 0, "mkstemp");
	close(fd);
	char var[64], lvar[64], err[128];
	snprintf(var, sizeof(var), "TWPOOL_LOG_FILE=%s", log);
	snprintf(lvar, sizeof(lvar), "TWPOOL_TARGETS=db.test:%d", NAME_PORT);
	char *envp[] = { var, lvar, NULL };
	cr_assert_eq(twp_config_parse(&cfg, envp, err, sizeof(err)), 0, "%s", err);
	twp_log_open(&cfg);
	const char *line = "cannot resolve 'db.test'";
	answer[0] = '\0';
	match_settled("10.0.0.7");
	expect_next_lookup_after(1000, "10.0.0.7");
	expect_next_lookup_after(2000, "10.0.0.7");
	cr_expect_eq(count_in_file(log, line), 1, "three failures in a row: one line");
	strcpy(answer, "10.0.0.7");
	expect_next_lookup_after(4000, "10.0.0.7");
	answer[0] = '\0';
	expect_next_lookup_after(TWP_REFRESH_MS, "10.0.0.7");
	cr_expect_eq(count_in_file(log, line), 2, "a new run of failures: a second line");
	unlink(log);
}

/* A child forked while its parent's lookup is in flight has no lookup
 * thread: its own connects must start one rather than wait forever. */
Test(targets, forked_child_looks_up_what_its_parent_had_in_flight, .init = use_fakes, .fini = reset)
{
	use_targets("db.test:5432");
	strcpy(answer, "10.0.0.7");
	atomic_store(&gate_closed, 1);
	matches("10.0.0.7", NAME_PORT);
	until_lookups(1);
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork");
	if (pid == 0) {
		atomic_store(&gate_closed, 0); /* the child's name server answers */
		match_settled("10.0.0.7");
		_exit(atomic_load(&lookups) == 2 && matches("10.0.0.7", NAME_PORT) ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the child did not look the name up itself (status 0x%x)", status);
	atomic_store(&gate_closed, 0);
	twp_targets_wait();
	cr_assert_eq(matches("10.0.0.7", NAME_PORT), 1, "the parent's own lookup ended too");
}
