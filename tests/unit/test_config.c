/* test_config.c - twp_config_parse: the TWPOOL_* environment. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_http.h"
#include "config.h"
#include "util.h"

#define ERRLEN 512

/* A parse of up to four NAME=VALUE strings; the result lives in static
 * storage (struct twp_config is large). */
struct parsed {
	int rc;
	struct twp_config c;
	char err[ERRLEN];
};

static struct parsed P;

static struct parsed *parse_env(const char *e0, const char *e1, const char *e2, const char *e3)
{
	char *envp[5] = { (char *)e0, (char *)e1, (char *)e2, (char *)e3, NULL };
	memset(P.err, 'x', sizeof(P.err)); /* catches a missing terminator */
	P.rc = twp_config_parse(&P.c, envp, P.err, sizeof(P.err));
	return &P;
}

static struct parsed *parse1(const char *e0)
{
	return parse_env(e0, NULL, NULL, NULL);
}

/* "TWPOOL_TARGETS=" + value, built in a heap buffer the caller frees. */
static char *targets_var(const char *value)
{
	char *s = malloc(strlen(value) + sizeof("TWPOOL_TARGETS="));
	cr_assert_not_null(s, "out of memory building TWPOOL_TARGETS");
	strcpy(s, "TWPOOL_TARGETS=");
	strcat(s, value);
	return s;
}

static void assert_rejected(const struct parsed *p, const char *var, const char *token)
{
	cr_assert_eq(p->rc, -EINVAL, "expected -EINVAL for %s '%s', got %d (err '%s')",
		     var, token, p->rc, p->err);
	cr_assert_eq(p->c.enabled, 0, "a rejected configuration must leave the shim off (%s '%s')",
		     var, token);
	cr_assert_eq(p->c.nspecs, 0, "a rejected configuration keeps no targets (%s '%s')", var, token);
	cr_assert_not_null(memchr(p->err, '\0', sizeof(p->err)), "err is not NUL-terminated");
	cr_assert_not_null(strstr(p->err, var), "err '%s' does not name the variable %s", p->err, var);
	char quoted[400];
	snprintf(quoted, sizeof(quoted), "'%s'", token);
	cr_assert_not_null(strstr(p->err, quoted), "err '%s' does not quote the bad token %s",
			   p->err, quoted);
	cr_assert_null(strchr(p->err, '\n'), "err '%s' must be one line without a newline", p->err);
}


/* ---- defaults ---------------------------------------------------------- */

static void assert_defaults(const struct twp_config *c)
{
	cr_assert_eq(c->max_idle, TWPOOL_DEFAULT_MAX_IDLE, "default max_idle");
	cr_assert_eq(c->idle_timeout_ms, TWPOOL_DEFAULT_IDLE_TIMEOUT_MS, "default idle timeout");
	cr_assert_eq(c->max_lifetime_ms, TWPOOL_DEFAULT_MAX_LIFETIME_MS, "default max lifetime");
	cr_assert_eq(c->max_uses, TWPOOL_DEFAULT_MAX_USES, "default max uses");
	cr_assert_eq(c->replay_max, TWPOOL_DEFAULT_REPLAY_MAX, "default replay bound");
	cr_assert_eq(c->stats_interval_ms, TWPOOL_DEFAULT_STATS_INTERVAL_MS, "default stats interval");
	cr_assert_eq(c->log_level, TWP_LOG_WARN, "default log level is warn (" TWPOOL_DEFAULT_LOG ")");
	cr_assert_str_empty(c->stats_path, "no stats file by default");
	cr_assert_str_empty(c->log_file, "log to stderr by default");
	cr_assert_str_empty(c->warning, "no warning without unknown variables");
}

Test(config, defaults_with_empty_environment)
{
	struct parsed *p = parse1(NULL);
	cr_assert_eq(p->rc, 0, "an empty environment is valid, got %d (%s)", p->rc, p->err);
	cr_assert_eq(p->c.enabled, 0, "no TWPOOL_TARGETS: the shim stays off");
	cr_assert_eq(p->c.nspecs, 0, "no targets");
	cr_assert_str_empty(p->err, "no error text on success");
	assert_defaults(&p->c);
}

Test(config, null_envp_is_an_empty_environment)
{
	static struct twp_config c;
	char err[64] = "junk";
	cr_assert_eq(twp_config_parse(&c, NULL, err, sizeof(err)), 0, "NULL envp must parse as empty");
	cr_assert_eq(c.enabled, 0, "NULL envp: shim off");
	cr_assert_str_empty(err, "NULL envp: err cleared");
	assert_defaults(&c);
}

Test(config, ignores_unrelated_variables)
{
	struct parsed *p = parse_env("PATH=/usr/bin", "TWPOOLX=1", "MY_TWPOOL_TARGETS=junk",
				     "twpool_targets=junk");
	cr_assert_eq(p->rc, 0, "variables not starting with TWPOOL_ are not ours: %s", p->err);
	cr_assert_str_empty(p->c.warning, "and draw no warning, got '%s'", p->c.warning);
	cr_assert_eq(p->c.enabled, 0, "none of them turns the shim on");
}

Test(config, defaults_kept_when_only_targets_given)
{
	struct parsed *p = parse1("TWPOOL_TARGETS=1.2.3.4:80");
	cr_assert_eq(p->rc, 0, "valid targets: %s", p->err);
	cr_assert_eq(p->c.enabled, 1, "targets given: shim on");
	assert_defaults(&p->c);
}

Test(config, twpool_lib_is_a_known_variable)
{
	struct parsed *p = parse_env("TWPOOL_LIB=/usr/lib/libtwpool.so", "TWPOOL_TARGETS=*:80", NULL, NULL);
	cr_assert_eq(p->rc, 0, "TWPOOL_LIB (read by the twpool command) is valid: %s", p->err);
	cr_assert_str_empty(p->c.warning, "TWPOOL_LIB is known: no warning, got '%s'", p->c.warning);
}

Test(config, first_of_duplicate_variables_wins_like_getenv)
{
	struct parsed *p = parse_env("TWPOOL_MAX_IDLE=3", "TWPOOL_MAX_IDLE=9", NULL, NULL);
	cr_assert_eq(p->rc, 0, "duplicates are valid: %s", p->err);
	cr_assert_eq(p->c.max_idle, 3, "getenv() returns the first; the shim must agree");
}

/* ---- TWPOOL_TARGETS: good forms ---------------------------------------- */

struct good_target {
	char value[128];
	enum twp_spec_kind kind;
	unsigned port;    /* host order */
	char host[64];    /* address (ADDR) or name (NAME); unused for ANY */
	int family;       /* key family after folding (ADDR) */
};

ParameterizedTestParameters(config, accepts_target_form)
{
	static struct good_target params[] = {
		{ "1.2.3.4:6379", TWP_SPEC_ADDR, 6379, "1.2.3.4", AF_INET },
		{ "127.0.0.1:1", TWP_SPEC_ADDR, 1, "127.0.0.1", AF_INET },
		{ "10.0.0.1:65535", TWP_SPEC_ADDR, 65535, "10.0.0.1", AF_INET },
		{ "[::1]:6379", TWP_SPEC_ADDR, 6379, "::1", AF_INET6 },
		{ "[2001:db8::7]:443", TWP_SPEC_ADDR, 443, "2001:db8::7", AF_INET6 },
		{ "[::ffff:1.2.3.4]:80", TWP_SPEC_ADDR, 80, "1.2.3.4", AF_INET },
		{ "redis.internal:6379", TWP_SPEC_NAME, 6379, "redis.internal", 0 },
		{ "localhost:5432", TWP_SPEC_NAME, 5432, "localhost", 0 },
		{ "db_1-a.example.com:3306", TWP_SPEC_NAME, 3306, "db_1-a.example.com", 0 },
		{ "*:6379", TWP_SPEC_ANY, 6379, "", 0 },
		{ "  1.2.3.4:80\t", TWP_SPEC_ADDR, 80, "1.2.3.4", AF_INET },
		{ "1.2.3.4:80,", TWP_SPEC_ADDR, 80, "1.2.3.4", AF_INET },
	};
	return cr_make_param_array(struct good_target, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct good_target *g, config, accepts_target_form)
{
	char *var = targets_var(g->value);
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, 0, "'%s' is valid, got %d: %s", g->value, p->rc, p->err);
	cr_assert_eq(p->c.enabled, 1, "'%s': shim on", g->value);
	cr_assert_eq(p->c.nspecs, 1, "'%s': one entry, got %d", g->value, p->c.nspecs);
	const struct twp_spec *sp = &p->c.specs[0];
	cr_assert_eq(sp->kind, g->kind, "'%s': kind %d, expected %d", g->value, sp->kind, g->kind);
	cr_assert_eq(ntohs(sp->port), g->port, "'%s': port %u, expected %u (network order)",
		     g->value, ntohs(sp->port), g->port);
	if (g->kind == TWP_SPEC_ADDR) {
		struct twp_key k = test_key(g->host, g->port);
		cr_assert_eq(sp->key.family, g->family, "'%s': key family %u, expected %d",
			     g->value, sp->key.family, g->family);
		cr_assert_arr_eq(&sp->key, &k, sizeof(k), "'%s': key differs from the key of %s port %u",
				 g->value, g->host, g->port);
	} else if (g->kind == TWP_SPEC_NAME) {
		cr_assert_str_eq(sp->name, g->host, "'%s': name '%s', expected '%s'",
				 g->value, sp->name, g->host);
	}
	free(var);
}

Test(config, accepts_several_entries_with_spaces)
{
	struct parsed *p = parse1("TWPOOL_TARGETS=1.2.3.4:80, [::1]:443 ,\t*:6379,, db.local:5432 ");
	cr_assert_eq(p->rc, 0, "comma-separated list with blanks: %s", p->err);
	cr_assert_eq(p->c.nspecs, 4, "four entries (the empty one skipped), got %d", p->c.nspecs);
	static const enum twp_spec_kind kinds[] = { TWP_SPEC_ADDR, TWP_SPEC_ADDR, TWP_SPEC_ANY, TWP_SPEC_NAME };
	static const unsigned ports[] = { 80, 443, 6379, 5432 };
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(p->c.specs[i].kind, kinds[i], "entry %d kind %d, expected %d",
			     i, p->c.specs[i].kind, kinds[i]);
		cr_assert_eq(ntohs(p->c.specs[i].port), ports[i], "entry %d port %u, expected %u",
			     i, ntohs(p->c.specs[i].port), ports[i]);
	}
	cr_assert_str_eq(p->c.specs[3].name, "db.local", "name entry trimmed of spaces");
}

Test(config, v4_mapped_v6_entry_folds_to_the_v4_key)
{
	struct parsed *p = parse1("TWPOOL_TARGETS=[::ffff:1.2.3.4]:80,1.2.3.4:80");
	cr_assert_eq(p->rc, 0, "both forms are valid: %s", p->err);
	cr_assert_eq(p->c.specs[0].key.family, AF_INET, "[::ffff:1.2.3.4] must fold to AF_INET");
	cr_assert_arr_eq(&p->c.specs[0].key, &p->c.specs[1].key, sizeof(struct twp_key),
			 "[::ffff:1.2.3.4]:80 and 1.2.3.4:80 must give byte-equal keys");
}

Test(config, empty_targets_leave_the_shim_off_without_error)
{
	static const char *const values[] = { "TWPOOL_TARGETS=", "TWPOOL_TARGETS= ", "TWPOOL_TARGETS=,,",
					      "TWPOOL_TARGETS= , \t," };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct parsed *p = parse1(values[i]);
		cr_assert_eq(p->rc, 0, "'%s' is not an error, got %d: %s", values[i], p->rc, p->err);
		cr_assert_eq(p->c.enabled, 0, "'%s': no targets, shim off", values[i]);
		cr_assert_str_empty(p->err, "'%s': no error text", values[i]);
	}
}

static char *many_targets(int n)
{
	char *s = malloc(32 + (size_t)n * 24);
	cr_assert_not_null(s, "out of memory");
	strcpy(s, "TWPOOL_TARGETS=");
	for (int i = 0; i < n; i++)
		sprintf(s + strlen(s), "%s10.0.%d.%d:80", i ? "," : "", i / 250, i % 250 + 1);
	return s;
}

Test(config, accepts_exactly_max_targets)
{
	char *var = many_targets(TWPOOL_MAX_TARGETS);
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, 0, "%d entries are allowed: %s", TWPOOL_MAX_TARGETS, p->err);
	cr_assert_eq(p->c.nspecs, TWPOOL_MAX_TARGETS, "all %d kept, got %d", TWPOOL_MAX_TARGETS, p->c.nspecs);
	free(var);
}

Test(config, rejects_more_than_max_targets)
{
	char *var = many_targets(TWPOOL_MAX_TARGETS + 1);
	struct parsed *p = parse1(var);
	char token[32];
	snprintf(token, sizeof(token), "10.0.%d.%d:80", TWPOOL_MAX_TARGETS / 250,
		 TWPOOL_MAX_TARGETS % 250 + 1);
	assert_rejected(p, "TWPOOL_TARGETS", token);
	free(var);
}

Test(config, accepts_longest_host_name)
{
	char name[TWP_NAME_MAX];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (size_t i = 60; i < sizeof(name) - 1; i += 61)
		name[i] = '.';
	char *var = targets_var(name);
	var = realloc(var, strlen(var) + 4);
	strcat(var, ":80");
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, 0, "a %zu-character name is valid: %s", strlen(name), p->err);
	cr_assert_str_eq(p->c.specs[0].name, name, "name kept whole");
	free(var);
}

Test(config, rejects_host_name_one_too_long)
{
	char name[TWP_NAME_MAX + 1];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	char *var = targets_var(name);
	var = realloc(var, strlen(var) + 4);
	strcat(var, ":80");
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, -EINVAL, "a %zu-character name is too long", strlen(name));
	cr_assert_eq(p->c.enabled, 0, "rejected: shim off");
	cr_assert_not_null(strstr(p->err, "TWPOOL_TARGETS"), "err '%s' names TWPOOL_TARGETS", p->err);
	free(var);
}

Test(config, rejects_overlong_entry_without_overflow)
{
	char entry[1001];
	memset(entry, 'b', sizeof(entry) - 1);
	entry[sizeof(entry) - 1] = '\0';
	char *var = targets_var(entry);
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, -EINVAL, "a 1000-byte entry is rejected");
	cr_assert_eq(p->c.enabled, 0, "rejected: shim off");
	cr_assert_not_null(strstr(p->err, "TWPOOL_TARGETS"), "err '%s' names TWPOOL_TARGETS", p->err);
	cr_assert_not_null(strstr(p->err, "'bbbbbbbb"), "err '%s' quotes the start of the token", p->err);
	free(var);
}

Test(config, rejects_overlong_targets_value)
{
	size_t n = 9000;
	char *var = malloc(n + 32);
	cr_assert_not_null(var, "out of memory");
	strcpy(var, "TWPOOL_TARGETS=");
	size_t len = strlen(var);
	while (len + 12 < n) {
		memcpy(var + len, "1.2.3.4:80, ", 12);
		len += 12;
	}
	var[len] = '\0';
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, -EINVAL, "a %zu-byte TWPOOL_TARGETS is rejected", len);
	cr_assert_eq(p->c.enabled, 0, "rejected: shim off");
	cr_assert_not_null(strstr(p->err, "TWPOOL_TARGETS"), "err '%s' names TWPOOL_TARGETS", p->err);
	free(var);
}

/* ---- TWPOOL_TARGETS: protocols ----------------------------------------- */

#include "codec.h"
#include "codec_http.h"

/* Criterion runs each case in a process of its own: no pointers here. */
struct proto_case {
	char value[64];
	char codec[16]; /* the codec's name; "": none, the call-shape rules */
};

ParameterizedTestParameters(config, target_protocol)
{
	static struct proto_case params[] = {
		{ "1.2.3.4:80", "auto" }, { "1.2.3.4:80/auto", "auto" }, { "1.2.3.4:80/raw", "" },
		{ "1.2.3.4:80/http", "http" }, { "[::1]:8080/http", "http" },
		{ "*:80/http", "http" }, { "web.local:80/http", "http" },
		{ "1.2.3.4:6379/redis", "redis" }, { "1.2.3.4:11211/memcache", "memcache" },
		{ "1.2.3.4:3306/mysql", "mysql" },
	};
	return cr_make_param_array(struct proto_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct proto_case *pc, config, target_protocol)
{
	char *var = targets_var(pc->value);
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, 0, "'%s' is valid, got %d: %s", pc->value, p->rc, p->err);
	const struct twp_codec *c = p->c.specs[0].codec;
	cr_assert_str_eq(c ? c->name : "", pc->codec, "'%s': codec '%s', expected '%s'", pc->value,
			 c ? c->name : "", pc->codec);
	const struct twp_codec *want = NULL;
	cr_assert_eq(twp_codec_by_name(*pc->codec ? pc->codec : "raw", &want), 0, "%s", pc->codec);
	cr_assert_eq(c, want, "'%s': the one codec of its protocol", pc->value);
	free(var);
}

Test(config, unknown_protocol_is_named)
{
	struct parsed *p = parse1("TWPOOL_TARGETS=1.2.3.4:80/http,1.2.3.4:81/gopher");
	assert_rejected(p, "TWPOOL_TARGETS", "1.2.3.4:81/gopher");
	cr_assert_not_null(strstr(p->err, "protocol"), "err '%s' says the protocol is the matter",
			   p->err);
	cr_assert_not_null(strstr(p->err, TWP_CODEC_NAMES), "err '%s' lists the protocols", p->err);
}

/* ---- TWPOOL_REPLAY ----------------------------------------------------- */

Test(config, replay_defaults_to_safe)
{
	struct parsed *p = parse1("TWPOOL_TARGETS=1.2.3.4:80");
	cr_assert_eq(p->rc, 0, "%s", p->err);
	cr_assert_eq(p->c.replay, TWP_REPLAY_SAFE, "default mode %d", p->c.replay);
	cr_assert_str_eq(twp_replay_names[p->c.replay], TWPOOL_DEFAULT_REPLAY);
	cr_assert_eq(p->c.replay_max, TWPOOL_DEFAULT_REPLAY_MAX, "safe keeps the bound");
}

struct replay_case {
	char value[16];
	int mode;
	unsigned replay_max;
};

ParameterizedTestParameters(config, replay_modes)
{
	static struct replay_case params[] = {
		{ "safe", TWP_REPLAY_SAFE, 1000 }, { "all", TWP_REPLAY_ALL, 1000 },
		{ "off", TWP_REPLAY_OFF, 0 },
	};
	return cr_make_param_array(struct replay_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct replay_case *rc, config, replay_modes)
{
	char var[64];
	snprintf(var, sizeof(var), "TWPOOL_REPLAY=%s", rc->value);
	struct parsed *p = parse_env("TWPOOL_TARGETS=1.2.3.4:80", var, "TWPOOL_REPLAY_MAX=1000", NULL);
	cr_assert_eq(p->rc, 0, "%s: %s", var, p->err);
	cr_assert_eq(p->c.replay, rc->mode, "%s: mode %d", var, p->c.replay);
	cr_assert_eq(p->c.replay_max, rc->replay_max, "%s: replay_max %u (off keeps nothing)", var,
		     p->c.replay_max);
	cr_assert_eq(p->c.warning[0], '\0', "%s is a known name: '%s'", var, p->c.warning);
}

struct replay_bad {
	char value[16];
	char hint[32]; /* "": no suggestion expected */
};

ParameterizedTestParameters(config, replay_rejects)
{
	static struct replay_bad params[] = {
		{ "saf", "did you mean safe?" }, { "SAFE", "did you mean safe?" },
		{ "al", "did you mean all?" }, { "of", "did you mean off?" },
		{ "", "" }, { "sometimes", "" }, { "1", "" },
	};
	return cr_make_param_array(struct replay_bad, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct replay_bad *rb, config, replay_rejects)
{
	char var[64];
	snprintf(var, sizeof(var), "TWPOOL_REPLAY=%s", rb->value);
	struct parsed *p = parse_env("TWPOOL_TARGETS=1.2.3.4:80", var, NULL, NULL);
	cr_assert_eq(p->rc, -EINVAL, "'%s' must be refused", var);
	cr_assert_eq(p->c.enabled, 0, "'%s': the shim passes through", var);
	cr_assert_eq(strncmp(p->err, "TWPOOL_REPLAY: bad value '", 26), 0, "err '%s'", p->err);
	cr_assert_null(strchr(p->err, '\n'), "one line: '%s'", p->err);
	cr_assert_not_null(strstr(p->err, "safe, all or off"), "err '%s' lists the values", p->err);
	if (*rb->hint)
		cr_assert_not_null(strstr(p->err, rb->hint), "err '%s' lacks '%s'", p->err, rb->hint);
	else
		cr_assert_null(strstr(p->err, "did you mean"), "err '%s' guesses", p->err);
}

Test(config, replay_typo_in_name_is_suggested)
{
	struct parsed *p = parse_env("TWPOOL_TARGETS=1.2.3.4:80", "TWPOOL_REPLAI=off", NULL, NULL);
	cr_assert_eq(p->rc, 0, "%s", p->err);
	cr_assert_not_null(strstr(p->c.warning, "did you mean TWPOOL_REPLAY?"), "'%s'",
			   p->c.warning);
}

/* ---- TWPOOL_TARGETS: bad entries -------------------------------------- */

struct bad_target {
	char value[128];
	char token[64]; /* the entry the error must quote */
};

ParameterizedTestParameters(config, rejects_bad_target)
{
	static struct bad_target params[] = {
		{ "1.2.3.4", "1.2.3.4" },               /* no port */
		{ "1.2.3.4:", "1.2.3.4:" },             /* empty port */
		{ "1.2.3.4:0", "1.2.3.4:0" },
		{ "1.2.3.4:65536", "1.2.3.4:65536" },
		{ "1.2.3.4:99999999999", "1.2.3.4:99999999999" },
		{ "1.2.3.4:abc", "1.2.3.4:abc" },
		{ "1.2.3.4:-1", "1.2.3.4:-1" },
		{ "1.2.3.4:+80", "1.2.3.4:+80" },
		{ "1.2.3.4:80x", "1.2.3.4:80x" },
		{ "1.2.3.4: 80", "1.2.3.4: 80" },
		{ "1.2.3:80", "1.2.3:80" },
		{ "999.1.1.1:80", "999.1.1.1:80" },
		{ "[::1]80", "[::1]80" },
		{ "[::1", "[::1" },
		{ "[::1]:", "[::1]:" },
		{ "[]:80", "[]:80" },
		{ "[1.2.3.4]:80", "[1.2.3.4]:80" },
		{ "[::1]]:80", "[::1]]:80" },
		{ "::1:80", "::1:80" },                 /* IPv6 without brackets */
		{ ":80", ":80" },
		{ "host:80:90", "host:80:90" },
		{ "-bad:80", "-bad:80" },
		{ ".bad:80", ".bad:80" },
		{ "bad host:80", "bad host:80" },
		{ "b@d:80", "b@d:80" },
		{ "*:0", "*:0" },
		{ "**:80", "**:80" },
		{ "1.2.3.4:80,bad", "bad" },            /* a good entry does not save the rest */
		{ "*:80, [::1]:x ,1.2.3.4:80", "[::1]:x" },
		{ "1.2.3.4:80/", "1.2.3.4:80/" },       /* an empty protocol */
		{ "1.2.3.4:80/HTTP", "1.2.3.4:80/HTTP" },
		{ "1.2.3.4/http:80", "1.2.3.4/http:80" },
		{ "1.2.3.4:80/http/raw", "1.2.3.4:80/http/raw" },
		{ "1.2.3.4:x/http", "1.2.3.4:x/http" },
	};
	return cr_make_param_array(struct bad_target, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_target *b, config, rejects_bad_target)
{
	char *var = targets_var(b->value);
	assert_rejected(parse1(var), "TWPOOL_TARGETS", b->token);
	free(var);
}

/* ---- numeric settings -------------------------------------------------- */

struct num_case {
	char name[40];
	char value[40];
	int ok;
	unsigned expect;
};

ParameterizedTestParameters(config, numeric_setting)
{
	static struct num_case params[] = {
		{ "TWPOOL_MAX_IDLE", "0", 1, 0 },
		{ "TWPOOL_MAX_IDLE", "1", 1, 1 },
		{ "TWPOOL_MAX_IDLE", "007", 1, 7 },
		{ "TWPOOL_MAX_IDLE", "1024", 1, 1024 },
		{ "TWPOOL_MAX_IDLE", "1025", 0, 0 },
		{ "TWPOOL_MAX_IDLE", "", 0, 0 },
		{ "TWPOOL_MAX_IDLE", "abc", 0, 0 },
		{ "TWPOOL_MAX_IDLE", "-1", 0, 0 },
		{ "TWPOOL_MAX_IDLE", "+4", 0, 0 },
		{ "TWPOOL_MAX_IDLE", " 4", 0, 0 },
		{ "TWPOOL_MAX_IDLE", "4 ", 0, 0 },
		{ "TWPOOL_MAX_IDLE", "0x10", 0, 0 },
		{ "TWPOOL_MAX_IDLE", "99999999999999999999999", 0, 0 },

		{ "TWPOOL_IDLE_TIMEOUT_MS", "0", 1, 0 },
		{ "TWPOOL_IDLE_TIMEOUT_MS", "250", 1, 250 },
		{ "TWPOOL_IDLE_TIMEOUT_MS", "86400000", 1, 86400000 },
		{ "TWPOOL_IDLE_TIMEOUT_MS", "86400001", 0, 0 },
		{ "TWPOOL_IDLE_TIMEOUT_MS", "4s", 0, 0 },
		{ "TWPOOL_IDLE_TIMEOUT_MS", "1e3", 0, 0 },
		{ "TWPOOL_IDLE_TIMEOUT_MS", "1.5", 0, 0 },
		{ "TWPOOL_IDLE_TIMEOUT_MS", "", 0, 0 },

		{ "TWPOOL_MAX_LIFETIME_MS", "0", 1, 0 },
		{ "TWPOOL_MAX_LIFETIME_MS", "60000", 1, 60000 },
		{ "TWPOOL_MAX_LIFETIME_MS", "86400000", 1, 86400000 },
		{ "TWPOOL_MAX_LIFETIME_MS", "86400001", 0, 0 },
		{ "TWPOOL_MAX_LIFETIME_MS", "-5", 0, 0 },
		{ "TWPOOL_MAX_LIFETIME_MS", "ten", 0, 0 },

		{ "TWPOOL_MAX_USES", "0", 1, 0 },
		{ "TWPOOL_MAX_USES", "100", 1, 100 },
		{ "TWPOOL_MAX_USES", "4294967294", 1, 4294967294u },
		{ "TWPOOL_MAX_USES", "4294967295", 0, 0 },
		{ "TWPOOL_MAX_USES", "18446744073709551617", 0, 0 },
		{ "TWPOOL_MAX_USES", "1,000", 0, 0 },

		{ "TWPOOL_REPLAY_MAX", "0", 1, 0 },
		{ "TWPOOL_REPLAY_MAX", "4096", 1, 4096 },
		{ "TWPOOL_REPLAY_MAX", "16777216", 1, 16777216 },
		{ "TWPOOL_REPLAY_MAX", "16777217", 0, 0 },
		{ "TWPOOL_REPLAY_MAX", "64k", 0, 0 },

		{ "TWPOOL_STATS_INTERVAL_MS", "10", 1, 10 },
		{ "TWPOOL_STATS_INTERVAL_MS", "5000", 1, 5000 },
		{ "TWPOOL_STATS_INTERVAL_MS", "3600000", 1, 3600000 },
		{ "TWPOOL_STATS_INTERVAL_MS", "9", 0, 0 },
		{ "TWPOOL_STATS_INTERVAL_MS", "0", 0, 0 },
		{ "TWPOOL_STATS_INTERVAL_MS", "3600001", 0, 0 },
		{ "TWPOOL_STATS_INTERVAL_MS", "1s", 0, 0 },
	};
	return cr_make_param_array(struct num_case, params, sizeof(params) / sizeof(params[0]));
}

static unsigned num_field(const struct twp_config *c, const char *name)
{
	if (!strcmp(name, TWPOOL_ENV_MAX_IDLE)) return c->max_idle;
	if (!strcmp(name, TWPOOL_ENV_IDLE_TIMEOUT_MS)) return c->idle_timeout_ms;
	if (!strcmp(name, TWPOOL_ENV_MAX_LIFETIME_MS)) return c->max_lifetime_ms;
	if (!strcmp(name, TWPOOL_ENV_MAX_USES)) return c->max_uses;
	if (!strcmp(name, TWPOOL_ENV_REPLAY_MAX)) return c->replay_max;
	if (!strcmp(name, TWPOOL_ENV_STATS_INTERVAL_MS)) return c->stats_interval_ms;
	cr_assert_fail("test bug: unknown numeric variable %s", name);
	return 0;
}

ParameterizedTest(struct num_case *n, config, numeric_setting)
{
	char var[96];
	snprintf(var, sizeof(var), "%s=%s", n->name, n->value);
	struct parsed *p = parse_env(var, "TWPOOL_TARGETS=*:80", NULL, NULL);
	if (!n->ok) {
		assert_rejected(p, n->name, n->value);
		return;
	}
	cr_assert_eq(p->rc, 0, "%s is valid, got %d: %s", var, p->rc, p->err);
	cr_assert_eq(p->c.enabled, 1, "%s with a target: shim on", var);
	cr_assert_eq(num_field(&p->c, n->name), n->expect, "%s parsed as %u, expected %u",
		     var, num_field(&p->c, n->name), n->expect);
}

/* ---- TWPOOL_LOG -------------------------------------------------------- */

struct log_case {
	char value[16];
	int ok;
	enum twp_loglevel level;
};

ParameterizedTestParameters(config, log_level)
{
	static struct log_case params[] = {
		{ "error", 1, TWP_LOG_ERROR }, { "warn", 1, TWP_LOG_WARN },
		{ "info", 1, TWP_LOG_INFO }, { "debug", 1, TWP_LOG_DEBUG },
		{ "", 0, 0 }, { "WARN", 0, 0 }, { "verbose", 0, 0 }, { "2", 0, 0 },
		{ "info ", 0, 0 }, { "warning", 0, 0 },
	};
	return cr_make_param_array(struct log_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct log_case *l, config, log_level)
{
	char var[48];
	snprintf(var, sizeof(var), "TWPOOL_LOG=%s", l->value);
	struct parsed *p = parse1(var);
	if (!l->ok) {
		assert_rejected(p, "TWPOOL_LOG", l->value);
		return;
	}
	cr_assert_eq(p->rc, 0, "%s is valid: %s", var, p->err);
	cr_assert_eq(p->c.log_level, l->level, "%s gave level %d, expected %d", var, p->c.log_level, l->level);
}

/* ---- unknown variables ------------------------------------------------- */

/* A typo or a newer version's setting is no error: the rest of the
 * configuration applies, and c->warning names the variable. */
struct unknown_case {
	char var[64];
	char name[40];
};

ParameterizedTestParameters(config, warns_about_unknown_variable)
{
	static struct unknown_case params[] = {
		{ "TWPOOL_TARGET=1.2.3.4:80", "TWPOOL_TARGET" },
		{ "TWPOOL_TARGETSS=1.2.3.4:80", "TWPOOL_TARGETSS" },
		{ "TWPOOL_MAXIDLE=4", "TWPOOL_MAXIDLE" },
		{ "TWPOOL_LOG_LEVEL=debug", "TWPOOL_LOG_LEVEL" },
		{ "TWPOOL_STATS_INTERVAL=100", "TWPOOL_STATS_INTERVAL" },
		{ "TWPOOL_=x", "TWPOOL_" },
		{ "TWPOOL_DEBUG", "TWPOOL_DEBUG" }, /* no '=' at all */
	};
	return cr_make_param_array(struct unknown_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct unknown_case *u, config, warns_about_unknown_variable)
{
	struct parsed *p = parse_env("TWPOOL_TARGETS=*:80", u->var, "TWPOOL_MAX_IDLE=3", NULL);
	cr_assert_eq(p->rc, 0, "'%s' is unknown, not an error: got %d (%s)", u->var, p->rc, p->err);
	cr_assert_eq(p->c.enabled, 1, "'%s': the known settings still apply, shim on", u->var);
	cr_assert_eq(p->c.max_idle, 3, "'%s': TWPOOL_MAX_IDLE after it still parsed", u->var);
	cr_assert_str_empty(p->err, "'%s': no error text", u->var);
	char quoted[64];
	snprintf(quoted, sizeof(quoted), "'%s'", u->name);
	cr_assert_not_null(strstr(p->c.warning, quoted), "warning '%s' must name %s", p->c.warning, quoted);
	cr_assert(!strncmp(p->c.warning, "unknown variable", 16), "warning '%s' starts with 'unknown variable'",
		  p->c.warning);
	cr_assert_null(strchr(p->c.warning, '\n'), "warning '%s' is one line", p->c.warning);
}

/* A name within two edits (case aside, a swap of neighbours one edit) of a
 * known one draws "did you mean"; a farther one does not. */
struct near_case {
	char var[64];
	char warning[160];
};

ParameterizedTestParameters(config, suggests_the_near_name)
{
	static struct near_case params[] = {
		{ "TWPOOL_TARGET=1", "unknown variable 'TWPOOL_TARGET' ignored; did you mean TWPOOL_TARGETS?" },
		{ "TWPOOL_TRAGETS=1", "unknown variable 'TWPOOL_TRAGETS' ignored; did you mean TWPOOL_TARGETS?" },
		{ "TWPOOL_TARGETSS=1", "unknown variable 'TWPOOL_TARGETSS' ignored; did you mean TWPOOL_TARGETS?" },
		{ "TWPOOL_MAXIDLE=4", "unknown variable 'TWPOOL_MAXIDLE' ignored; did you mean TWPOOL_MAX_IDLE?" },
		{ "TWPOOL_max_idle=4", "unknown variable 'TWPOOL_max_idle' ignored; did you mean TWPOOL_MAX_IDLE?" },
		{ "TWPOOL_STAT=x", "unknown variable 'TWPOOL_STAT' ignored; did you mean TWPOOL_STATS?" },
		{ "TWPOOL_LOGFILE=x", "unknown variable 'TWPOOL_LOGFILE' ignored; did you mean TWPOOL_LOG_FILE?" },
		{ "TWPOOL_CONFIG_=x", "unknown variable 'TWPOOL_CONFIG_' ignored; did you mean TWPOOL_CONFIG?" },
		{ "TWPOOL_IDLE_TIMEOUT=9", "unknown variable 'TWPOOL_IDLE_TIMEOUT' ignored" },
		{ "TWPOOL_LOG_LEVEL=debug", "unknown variable 'TWPOOL_LOG_LEVEL' ignored" },
		{ "TWPOOL_FOO=1", "unknown variable 'TWPOOL_FOO' ignored; did you mean TWPOOL_LOG?" }, /* 2 edits */
		{ "TWPOOL_ZZZ=1", "unknown variable 'TWPOOL_ZZZ' ignored" },
		{ "TWPOOL_=1", "unknown variable 'TWPOOL_' ignored" },
	};
	return cr_make_param_array(struct near_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct near_case *n, config, suggests_the_near_name)
{
	struct parsed *p = parse1(n->var);
	cr_assert_eq(p->rc, 0, "'%s' is a warning, not an error: %s", n->var, p->err);
	cr_assert_str_eq(p->c.warning, n->warning, "warning for '%s'", n->var);
}

Test(config, unknown_variable_warning_names_the_first)
{
	struct parsed *p = parse_env("TWPOOL_FOO=1", "TWPOOL_BAR=2", NULL, NULL);
	cr_assert_eq(p->rc, 0, "unknown variables are no error: %s", p->err);
	cr_assert_not_null(strstr(p->c.warning, "'TWPOOL_FOO'"), "warning '%s' names the first unknown", p->c.warning);
}

Test(config, unknown_variable_does_not_hide_a_bad_value)
{
	struct parsed *p = parse_env("TWPOOL_FOO=1", "TWPOOL_MAX_IDLE=lots", NULL, NULL);
	assert_rejected(p, "TWPOOL_MAX_IDLE", "lots");
}

Test(config, long_unknown_name_is_cut_in_the_warning)
{
	char var[600];
	memset(var, 'Z', sizeof(var));
	memcpy(var, "TWPOOL_", 7);
	strcpy(var + sizeof(var) - 3, "=1");
	struct parsed *p = parse1(var);
	cr_assert_eq(p->rc, 0, "a long unknown name is no error");
	cr_assert_not_null(memchr(p->c.warning, '\0', sizeof(p->c.warning)), "warning NUL-terminated");
	cr_assert(!strncmp(p->c.warning, "unknown variable 'TWPOOL_ZZZ", 28), "warning '%s' starts with the name",
		  p->c.warning);
}

/* ---- paths ------------------------------------------------------------- */

static char *path_var(const char *name, size_t len)
{
	size_t n = strlen(name);
	char *s = malloc(n + 2 + len);
	cr_assert_not_null(s, "out of memory");
	memcpy(s, name, n);
	s[n] = '=';
	s[n + 1] = '/';
	memset(s + n + 2, 'p', len - 1);
	s[n + 1 + len] = '\0';
	return s;
}

struct path_case {
	char name[32];
};

ParameterizedTestParameters(config, path_length)
{
	static struct path_case params[] = { { "TWPOOL_STATS" }, { "TWPOOL_LOG_FILE" } };
	return cr_make_param_array(struct path_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct path_case *pc, config, path_length)
{
	size_t max = sizeof(P.c.stats_path) - 1;
	char *fits = path_var(pc->name, max);
	struct parsed *p = parse1(fits);
	cr_assert_eq(p->rc, 0, "%s of %zu bytes fits: %s", pc->name, max, p->err);
	const char *got = !strcmp(pc->name, "TWPOOL_STATS") ? p->c.stats_path : p->c.log_file;
	cr_assert_eq(strlen(got), max, "%s kept whole (%zu bytes, got %zu)", pc->name, max, strlen(got));
	cr_assert_str_eq(got, strchr(fits, '=') + 1, "%s copied exactly", pc->name);

	char *over = path_var(pc->name, max + 1);
	p = parse1(over);
	cr_assert_eq(p->rc, -EINVAL, "%s of %zu bytes is too long", pc->name, max + 1);
	cr_assert_eq(p->c.enabled, 0, "over-long %s: shim off", pc->name);
	cr_assert(!strncmp(p->err, pc->name, strlen(pc->name)), "err '%s' starts with %s", p->err, pc->name);
	free(fits);
	free(over);
}

Test(config, stats_path_keeps_percent_p_unexpanded)
{
	struct parsed *p = parse1("TWPOOL_STATS=/tmp/twpool-%p.prom");
	cr_assert_eq(p->rc, 0, "a stats path is valid: %s", p->err);
	cr_assert_str_eq(p->c.stats_path, "/tmp/twpool-%p.prom", "%%p is expanded by the writer, not the parser");
}

/* ---- the error buffer -------------------------------------------------- */

Test(config, error_is_cut_to_a_small_buffer)
{
	char *envp[] = { "TWPOOL_MAX_IDLE=lots", NULL };
	static struct twp_config c;
	char err[9];
	memset(err, 'x', sizeof(err));
	cr_assert_eq(twp_config_parse(&c, envp, err, sizeof(err)), -EINVAL, "bad value still rejected");
	cr_assert_eq(err[sizeof(err) - 1], '\0', "cut error text is NUL-terminated");
	cr_assert_str_eq(err, "TWPOOL_M", "cut error text is the start of the message");
}

Test(config, zero_length_error_buffer)
{
	char *envp[] = { "TWPOOL_TARGETS=nope", "TWPOOL_LOG=loud", NULL };
	static struct twp_config c;
	char err[1] = { 'x' };
	cr_assert_eq(twp_config_parse(&c, envp, err, 0), -EINVAL, "bad value rejected with errlen 0");
	cr_assert_eq(err[0], 'x', "errlen 0: err must not be written");
	cr_assert_eq(c.enabled, 0, "rejected: shim off");
}

/* ---- TWPOOL_BROKER --------------------------------------------------- */

Test(config, broker_off_by_default)
{
	struct parsed *p = parse1("TWPOOL_TARGETS=*:80");
	cr_assert_str_empty(p->c.broker, "no broker unless asked for, got '%s'", p->c.broker);
}

Test(config, broker_accepts_auto_and_absolute_paths_without_warning)
{
	const char *ok[] = { "TWPOOL_BROKER=auto", "TWPOOL_BROKER=/run/user/1000/twpool/b.sock",
			     "TWPOOL_BROKER=" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct parsed *p = parse_env(ok[i], "TWPOOL_BROKER_EXEC=/usr/lib/twpool-broker",
					     "TWPOOL_TARGETS=*:80", NULL);
		cr_assert_eq(p->rc, 0, "%s: %s", ok[i], p->err);
		cr_assert_str_eq(p->c.broker, ok[i] + 14, "%s", ok[i]);
		cr_assert_str_eq(p->c.broker_exec, "/usr/lib/twpool-broker");
		cr_assert_str_empty(p->c.warning, "%s is known: no warning, got '%s'", ok[i],
				    p->c.warning);
	}
}

Test(config, broker_rejects_relative_path)
{
	assert_rejected(parse_env("TWPOOL_BROKER=broker.sock", "TWPOOL_TARGETS=*:80", NULL, NULL),
			"TWPOOL_BROKER", "broker.sock");
}

/* A unix socket address holds 107 bytes of path, and the broker binds
 * PATH.new before renaming it: 103. */
Test(config, broker_rejects_path_longer_than_a_socket_address)
{
	char var[300];
	snprintf(var, sizeof(var), "TWPOOL_BROKER=/%0103d", 0);
	struct parsed *p = parse_env(var, "TWPOOL_TARGETS=*:80", NULL, NULL);
	cr_assert_eq(p->rc, -EINVAL, "a 104-byte path is too long: %s", p->err);
	cr_assert_not_null(strstr(p->err, "TWPOOL_BROKER"), "err '%s'", p->err);
	var[strlen(var) - 1] = '\0';
	p = parse_env(var, "TWPOOL_TARGETS=*:80", NULL, NULL);
	cr_assert_eq(p->rc, 0, "a 103-byte path fits: %s", p->err);
}
