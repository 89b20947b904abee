/* config.c - parsing the TWPOOL_* environment, and the one configuration
 * the shim runs with. The parser is pure: no hooks, no state. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MS_MAX 86400000u /* one day: the largest timeout accepted */

struct twp_config twp_cfg;

const char *const twp_loglevel_names[4] = { "error", "warn", "info", "debug" };

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* Whole decimal number in [lo, hi]; no sign, no spaces, no suffix. */
static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (v > (hi - d) / 10) /* v * 10 + d > hi, asked without overflow */
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v < lo)
		return -ERANGE;
	*out = (unsigned)v;
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	unsigned v;
	if (parse_uint(s, 1, 65535, &v))
		return -EINVAL;
	*port = htons((uint16_t)v);
	return 0;
}

static int valid_hostname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= TWP_NAME_MAX || *s == '-' || *s == '.')
		return 0;
	for (; *s; s++)
		if (!(( *s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_'))
			return 0;
	return 1;
}

/* One allow-list entry: "1.2.3.4:P", "[v6]:P", "*:P" or "name:P". */
static int parse_spec(char *tok, struct twp_spec *sp)
{
	char *host = tok, *colon;
	memset(sp, 0, sizeof(*sp));
	if (*tok == '[') {
		char *end = strchr(tok, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		*end = '\0';
		host = tok + 1;
		colon = end + 1;
	} else {
		colon = strrchr(tok, ':');
		if (!colon || strchr(tok, ':') != colon)
			return -EINVAL;
		*colon = '\0';
	}
	if (parse_port(colon + 1, &sp->port))
		return -EINVAL;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = sp->port };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = sp->port };
	if (*tok == '[') {
		if (inet_pton(AF_INET6, host, &in6.sin6_addr) != 1)
			return -EINVAL;
		sp->kind = TWP_SPEC_ADDR;
		return twp_key_from_sockaddr(&sp->key, (void *)&in6, sizeof(in6));
	}
	if (!strcmp(host, "*")) {
		sp->kind = TWP_SPEC_ANY;
		return 0;
	}
	if (inet_pton(AF_INET, host, &in.sin_addr) == 1) {
		sp->kind = TWP_SPEC_ADDR;
		return twp_key_from_sockaddr(&sp->key, (void *)&in, sizeof(in));
	}
	/* All digits and dots but not an address (e.g. 1.2.3): a typo, not a name. */
	if (strspn(host, "0123456789.") == strlen(host) || !valid_hostname(host))
		return -EINVAL;
	sp->kind = TWP_SPEC_NAME;
	strcpy(sp->name, host);
	return 0;
}

static int parse_targets(struct twp_config *c, const char *val, char *err, size_t errlen)
{
	char buf[8192];
	if (strlen(val) >= sizeof(buf)) {
		snprintf(err, errlen, "TWPOOL_TARGETS: value longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, val);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok += strspn(tok, " \t");
		char *end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*tok)
			continue;
		if (c->nspecs == TWPOOL_MAX_TARGETS) {
			snprintf(err, errlen, "TWPOOL_TARGETS: more than %d entries at '%.64s'",
				 TWPOOL_MAX_TARGETS, tok);
			return -EINVAL;
		}
		char copy[300];
		snprintf(copy, sizeof(copy), "%s", tok);
		if (strlen(tok) >= sizeof(copy) || parse_spec(tok, &c->specs[c->nspecs])) {
			snprintf(err, errlen, "TWPOOL_TARGETS: bad entry '%.128s' (expected HOST:PORT, [IPV6]:PORT or *:PORT)",
				 copy);
			return -EINVAL;
		}
		c->nspecs++;
	}
	return 0;
}

struct num_setting {
	const char *name;
	size_t offset;
	unsigned lo, hi;
};

static const struct num_setting num_settings[] = {
	{ TWPOOL_ENV_MAX_IDLE, offsetof(struct twp_config, max_idle), 0, 1024 },
	{ TWPOOL_ENV_IDLE_TIMEOUT_MS, offsetof(struct twp_config, idle_timeout_ms), 0, MS_MAX },
	{ TWPOOL_ENV_MAX_LIFETIME_MS, offsetof(struct twp_config, max_lifetime_ms), 0, MS_MAX },
	{ TWPOOL_ENV_MAX_USES, offsetof(struct twp_config, max_uses), 0, UINT_MAX - 1 },
	{ TWPOOL_ENV_REPLAY_MAX, offsetof(struct twp_config, replay_max), 0, 16u << 20 },
	{ TWPOOL_ENV_STATS_INTERVAL_MS, offsetof(struct twp_config, stats_interval_ms), 10, 3600000 },
};

static const char *const other_settings[] = {
	TWPOOL_ENV_TARGETS, TWPOOL_ENV_STATS, TWPOOL_ENV_LOG, TWPOOL_ENV_LOG_FILE,
	TWPOOL_ENV_BROKER, TWPOOL_ENV_BROKER_EXEC,
	"TWPOOL_LIB", /* read by the twpool command, not by the shim */
};

static int known_name(const char *var)
{
	size_t n = strcspn(var, "=");
	for (size_t i = 0; i < sizeof(num_settings) / sizeof(num_settings[0]); i++)
		if (strlen(num_settings[i].name) == n && !strncmp(var, num_settings[i].name, n))
			return 1;
	for (size_t i = 0; i < sizeof(other_settings) / sizeof(other_settings[0]); i++)
		if (strlen(other_settings[i]) == n && !strncmp(var, other_settings[i], n))
			return 1;
	return 0;
}

static int parse_loglevel(const char *s, enum twp_loglevel *lvl)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, twp_loglevel_names[i])) {
			*lvl = (enum twp_loglevel)i;
			return 0;
		}
	return -EINVAL;
}

static int parse_path(const char *name, const char *val, char *dst, size_t size,
		      char *err, size_t errlen)
{
	if (strlen(val) >= size) {
		snprintf(err, errlen, "%s: path longer than %zu bytes", name, size - 1);
		return -EINVAL;
	}
	strcpy(dst, val);
	return 0;
}

/* "", "auto" or an absolute path that fits a unix socket address. */
static int parse_broker(const char *v, struct twp_config *c, char *err, size_t errlen)
{
	if (*v && strcmp(v, "auto") && *v != '/') {
		snprintf(err, errlen, "%s: bad value '%.64s' (expected auto or an absolute path)",
			 TWPOOL_ENV_BROKER, v);
		return -EINVAL;
	}
	return parse_path(TWPOOL_ENV_BROKER, v, c->broker, sizeof(c->broker), err, errlen);
}

static int parse_all(struct twp_config *c, char *const *envp, char *err, size_t errlen)
{
	for (char *const *e = envp; e && *e; e++)
		if (!strncmp(*e, "TWPOOL_", 7) && !known_name(*e) && !c->warning[0])
			snprintf(c->warning, sizeof(c->warning), "unknown variable '%.*s' ignored",
				 (int)strcspn(*e, "="), *e);
	for (size_t i = 0; i < sizeof(num_settings) / sizeof(num_settings[0]); i++) {
		const struct num_setting *s = &num_settings[i];
		const char *v = env_get(envp, s->name);
		if (v && parse_uint(v, s->lo, s->hi, (unsigned *)((char *)c + s->offset))) {
			snprintf(err, errlen, "%s: bad value '%.64s' (expected a whole number from %u to %u)",
				 s->name, v, s->lo, s->hi);
			return -EINVAL;
		}
	}
	const char *v = env_get(envp, TWPOOL_ENV_LOG);
	if (v && parse_loglevel(v, &c->log_level)) {
		snprintf(err, errlen, "%s: bad value '%.64s' (expected error, warn, info or debug)",
			 TWPOOL_ENV_LOG, v);
		return -EINVAL;
	}
	if ((v = env_get(envp, TWPOOL_ENV_STATS)) &&
	    parse_path(TWPOOL_ENV_STATS, v, c->stats_path, sizeof(c->stats_path), err, errlen))
		return -EINVAL;
	if ((v = env_get(envp, TWPOOL_ENV_LOG_FILE)) &&
	    parse_path(TWPOOL_ENV_LOG_FILE, v, c->log_file, sizeof(c->log_file), err, errlen))
		return -EINVAL;
	if ((v = env_get(envp, TWPOOL_ENV_BROKER)) && parse_broker(v, c, err, errlen))
		return -EINVAL;
	if ((v = env_get(envp, TWPOOL_ENV_BROKER_EXEC)) &&
	    parse_path(TWPOOL_ENV_BROKER_EXEC, v, c->broker_exec, sizeof(c->broker_exec), err, errlen))
		return -EINVAL;
	if ((v = env_get(envp, TWPOOL_ENV_TARGETS)) && parse_targets(c, v, err, errlen))
		return -EINVAL;
	return 0;
}

int twp_config_parse(struct twp_config *c, char *const *envp, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->max_idle = TWPOOL_DEFAULT_MAX_IDLE;
	c->idle_timeout_ms = TWPOOL_DEFAULT_IDLE_TIMEOUT_MS;
	c->max_lifetime_ms = TWPOOL_DEFAULT_MAX_LIFETIME_MS;
	c->max_uses = TWPOOL_DEFAULT_MAX_USES;
	c->replay_max = TWPOOL_DEFAULT_REPLAY_MAX;
	c->stats_interval_ms = TWPOOL_DEFAULT_STATS_INTERVAL_MS;
	c->log_level = TWP_LOG_WARN;
	if (errlen)
		err[0] = '\0';
	if (parse_all(c, envp, err, errlen)) {
		c->enabled = 0;
		c->nspecs = 0;
		return -EINVAL;
	}
	c->enabled = c->nspecs > 0;
	return 0;
}
