/* config.c - parsing the TWPOOL_* environment and the text of the
 * configuration file, and the one configuration the shim runs with. The
 * parsers are pure: no hooks, no state, no I/O. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config.h"

#define MS_MAX 86400000u /* one day: the largest timeout accepted */

struct twp_config twp_cfg;

const char *const twp_loglevel_names[4] = { "error", "warn", "info", "debug" };
const char *const twp_replay_names[3] = { "safe", "all", "off" };

/* Where settings come from: the environment, then the configuration file
 * (NULL: none) for the variables the environment does not set. */
struct src {
	char *const *env;
	const struct twp_conf *file;
};

/* Index in envp of the first "NAME=" entry, name[0..n), or -1. */
static int find_var(char *const *envp, const char *name, size_t n)
{
	for (int i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], name, n) && envp[i][n] == '=')
			return i;
	return -1;
}

/* The file line that sets name[0..n), or 0 when the environment sets it
 * or nothing does. */
static int file_line(const struct src *s, const char *name, size_t n)
{
	if (!s->file || find_var(s->env, name, n) >= 0)
		return 0;
	int i = find_var(s->file->vars, name, n);
	return i < 0 ? 0 : s->file->line[i];
}

const char *twp_env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	int i = find_var(envp, name, n);
	return i < 0 ? NULL : envp[i] + n + 1;
}

static const char *env_get(const struct src *s, const char *name)
{
	const char *v = twp_env_get(s->env, name);
	return v || !s->file ? v : twp_env_get(s->file->vars, name);
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

/* One allow-list entry: "1.2.3.4:P", "[v6]:P", "*:P" or "name:P", each
 * optionally followed by "/PROTOCOL". -ENOPROTOOPT: the protocol is unknown. */
static int parse_spec(char *tok, struct twp_spec *sp)
{
	char *host = tok, *colon, *slash = strchr(tok, '/');
	memset(sp, 0, sizeof(*sp));
	if (twp_codec_by_name(slash ? slash + 1 : "auto", &sp->codec) < 0)
		return -ENOPROTOOPT;
	if (slash)
		*slash = '\0';
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
		int bad = strlen(tok) >= sizeof(copy) ? -EINVAL : parse_spec(tok, &c->specs[c->nspecs]);
		if (bad == -ENOPROTOOPT) {
			snprintf(err, errlen, "TWPOOL_TARGETS: unknown protocol in entry '%.128s' (expected %s)",
				 copy, TWP_CODEC_NAMES);
			return -EINVAL;
		}
		if (bad) {
			snprintf(err, errlen, "TWPOOL_TARGETS: bad entry '%.128s' (expected HOST:PORT, "
				 "[IPV6]:PORT or *:PORT, each with an optional /PROTOCOL)", copy);
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
	TWPOOL_ENV_CONFIG, TWPOOL_ENV_REPLAY,
	TWPOOL_ENV_BROKER, TWPOOL_ENV_BROKER_EXEC,
	TWPOOL_ENV_HOST_STATS, /* read by hoststats.c, from the environment only */
	"TWPOOL_LIB", /* read by the twpool command, not by the shim */
};

#define N_NUM (sizeof(num_settings) / sizeof(num_settings[0]))
#define N_OTHER (sizeof(other_settings) / sizeof(other_settings[0]))

/* The i-th name the shim knows, or NULL past the last. */
static const char *known_at(size_t i)
{
	if (i < N_NUM)
		return num_settings[i].name;
	return i - N_NUM < N_OTHER ? other_settings[i - N_NUM] : NULL;
}

static int known_name(const char *var)
{
	size_t n = strcspn(var, "=");
	for (size_t i = 0; known_at(i); i++)
		if (strlen(known_at(i)) == n && !strncmp(var, known_at(i), n))
			return 1;
	return 0;
}

#define SUGGEST_MAX 2   /* edits from a known name that draw "did you mean" */
#define SUGGEST_LEN 40  /* longer than any known name plus SUGGEST_MAX */

static int upper(char ch)
{
	return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

/* Optimal string alignment distance between a[0..m) and b, ignoring case:
 * insertions, deletions, substitutions and swaps of neighbours count one. */
static int edit_distance(const char *a, size_t m, const char *b)
{
	size_t n = strlen(b);
	int d[SUGGEST_LEN + 1][SUGGEST_LEN + 1];
	if (m > SUGGEST_LEN || n > SUGGEST_LEN)
		return SUGGEST_MAX + 1;
	for (size_t i = 0; i <= m; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= n; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= m; i++)
		for (size_t j = 1; j <= n; j++) {
			int sub = d[i - 1][j - 1] + (upper(a[i - 1]) != upper(b[j - 1]));
			int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			int best = sub < del ? sub : del;
			best = best < ins ? best : ins;
			if (i > 1 && j > 1 && upper(a[i - 1]) == upper(b[j - 2]) &&
			    upper(a[i - 2]) == upper(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[m][n];
}

/* The name of the list at() walks closest to s[0..m), if within
 * SUGGEST_MAX edits. */
static const char *nearest(const char *s, size_t m, const char *(*at)(size_t))
{
	const char *best = NULL;
	int best_d = SUGGEST_MAX + 1;
	for (size_t i = 0; at(i); i++) {
		int dist = edit_distance(s, m, at(i));
		if (dist < best_d) {
			best_d = dist;
			best = at(i);
		}
	}
	return best;
}

/* The known name closest to var's name, if within SUGGEST_MAX edits. */
static const char *suggest(const char *var)
{
	return nearest(var, strcspn(var, "="), known_at);
}

/* "unknown variable 'NAME' ignored[; did you mean KNOWN?]" after where
 * ("" or "PATH:LINE: "), into c->warning unless a warning is already there. */
static void warn_unknown(struct twp_config *c, const char *where, const char *var)
{
	const char *near = suggest(var);
	if (c->warning[0])
		return;
	snprintf(c->warning, sizeof(c->warning), "%sunknown variable '%.*s' ignored%s%s%s", where,
		 (int)strcspn(var, "="), var, near ? "; did you mean " : "", near ? near : "",
		 near ? "?" : "");
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

static const char *replay_at(size_t i)
{
	return i < 3 ? twp_replay_names[i] : NULL;
}

static int parse_replay(const char *v, struct twp_config *c, char *err, size_t errlen)
{
	for (size_t i = 0; replay_at(i); i++)
		if (!strcmp(v, replay_at(i))) {
			c->replay = (enum twp_replay)i;
			return 0;
		}
	const char *near = nearest(v, strlen(v), replay_at);
	snprintf(err, errlen, "%s: bad value '%.64s' (expected safe, all or off)%s%s%s",
		 TWPOOL_ENV_REPLAY, v, near ? "; did you mean " : "", near ? near : "",
		 near ? "?" : "");
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

static void check_names(struct twp_config *c, const struct src *s)
{
	for (char *const *e = s->env; e && *e; e++)
		if (!strncmp(*e, "TWPOOL_", 7) && !known_name(*e))
			warn_unknown(c, "", *e);
	for (int i = 0; s->file && i < s->file->n; i++) {
		char where[TWP_CONF_WHERE];
		snprintf(where, sizeof(where), "%.200s:%d: ", s->file->path, s->file->line[i]);
		if (!known_name(s->file->vars[i]))
			warn_unknown(c, where, s->file->vars[i]);
	}
}

static int parse_all(struct twp_config *c, const struct src *src, char *err, size_t errlen)
{
	check_names(c, src);
	for (size_t i = 0; i < N_NUM; i++) {
		const struct num_setting *s = &num_settings[i];
		const char *v = env_get(src, s->name);
		if (v && parse_uint(v, s->lo, s->hi, (unsigned *)((char *)c + s->offset))) {
			snprintf(err, errlen, "%s: bad value '%.64s' (expected a whole number from %u to %u)",
				 s->name, v, s->lo, s->hi);
			return -EINVAL;
		}
	}
	const char *v = env_get(src, TWPOOL_ENV_LOG);
	if (v && parse_loglevel(v, &c->log_level)) {
		snprintf(err, errlen, "%s: bad value '%.64s' (expected error, warn, info or debug)",
			 TWPOOL_ENV_LOG, v);
		return -EINVAL;
	}
	if ((v = env_get(src, TWPOOL_ENV_REPLAY)) && parse_replay(v, c, err, errlen))
		return -EINVAL;
	if ((v = env_get(src, TWPOOL_ENV_STATS)) &&
	    parse_path(TWPOOL_ENV_STATS, v, c->stats_path, sizeof(c->stats_path), err, errlen))
		return -EINVAL;
	if ((v = env_get(src, TWPOOL_ENV_LOG_FILE)) &&
	    parse_path(TWPOOL_ENV_LOG_FILE, v, c->log_file, sizeof(c->log_file), err, errlen))
		return -EINVAL;
	if ((v = env_get(src, TWPOOL_ENV_BROKER)) && parse_broker(v, c, err, errlen))
		return -EINVAL;
	if ((v = env_get(src, TWPOOL_ENV_BROKER_EXEC)) &&
	    parse_path(TWPOOL_ENV_BROKER_EXEC, v, c->broker_exec, sizeof(c->broker_exec), err, errlen))
		return -EINVAL;
	if ((v = env_get(src, TWPOOL_ENV_TARGETS)) && parse_targets(c, v, err, errlen))
		return -EINVAL;
	return 0;
}

static void set_defaults(struct twp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_idle = TWPOOL_DEFAULT_MAX_IDLE;
	c->idle_timeout_ms = TWPOOL_DEFAULT_IDLE_TIMEOUT_MS;
	c->max_lifetime_ms = TWPOOL_DEFAULT_MAX_LIFETIME_MS;
	c->max_uses = TWPOOL_DEFAULT_MAX_USES;
	c->replay_max = TWPOOL_DEFAULT_REPLAY_MAX;
	c->stats_interval_ms = TWPOOL_DEFAULT_STATS_INTERVAL_MS;
	c->log_level = TWP_LOG_WARN;
	c->replay = TWP_REPLAY_SAFE;
}

int twp_config_parse_with(struct twp_config *c, char *const *envp, const struct twp_conf *f,
			  char *err, size_t errlen)
{
	struct src s = { envp, f };
	char msg[512] = "", where[TWP_CONF_WHERE] = "";
	set_defaults(c);
	/* Every message starts with the variable's name: the line that set it
	 * is found from there, and a short err gets a cut of the same text. */
	int rc = parse_all(c, &s, msg, sizeof(msg));
	int line = rc ? file_line(&s, msg, strcspn(msg, ":")) : 0;
	if (line)
		snprintf(where, sizeof(where), "%.200s:%d: ", f->path, line);
	if (errlen)
		snprintf(err, errlen, "%s%s", where, msg);
	if (rc) {
		c->enabled = 0;
		c->nspecs = 0;
		return -EINVAL;
	}
	if (c->replay == TWP_REPLAY_OFF)
		c->replay_max = 0; /* nothing kept: no connection is armed */
	c->enabled = c->nspecs > 0;
	return 0;
}

int twp_config_parse(struct twp_config *c, char *const *envp, char *err, size_t errlen)
{
	return twp_config_parse_with(c, envp, NULL, err, errlen);
}

/* ---- the configuration file's text -------------------------------------- */

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* "PATH:LINE: " and the message into err; returns -EINVAL. */
static int conf_error(const struct twp_conf *f, int line, char *err, size_t errlen,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int conf_error(const struct twp_conf *f, int line, char *err, size_t errlen,
		      const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (errlen)
		snprintf(err, errlen, "%.200s:%d: %s", f->path, line, msg);
	return -EINVAL;
}

/* Drops one pair of matching quotes around v[0..*n), as a shell would. */
static char *unquote(char *v, size_t *n)
{
	if (*n >= 2 && (v[0] == '"' || v[0] == '\'') && v[*n - 1] == v[0]) {
		*n -= 2;
		return v + 1;
	}
	return v;
}

/* One trimmed, non-comment line: rewritten in place to "NAME=VALUE" and
 * added to f. */
static int conf_line(struct twp_conf *f, char *p, int line, char *err, size_t errlen)
{
	size_t k = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
	char *eq = p + k + strspn(p + k, " \t");
	if (!k || *eq != '=')
		return conf_error(f, line, err, errlen, "expected NAME=VALUE, got '%.64s'", p);
	if (strncmp(p, "TWPOOL_", 7))
		return conf_error(f, line, err, errlen, "'%.*s' is not a TWPOOL_ variable",
				  (int)(k < 64 ? k : 64), p);
	int first = find_var(f->vars, p, k);
	if (first >= 0)
		return conf_error(f, line, err, errlen, "%.*s set again (first on line %d)",
				  (int)(k < 64 ? k : 64), p, f->line[first]);
	if (f->n == TWP_CONF_MAX_VARS)
		return conf_error(f, line, err, errlen, "more than %d settings", TWP_CONF_MAX_VARS);
	char *v = eq + 1 + strspn(eq + 1, " \t");
	size_t vn = strlen(v);
	v = unquote(v, &vn);
	p[k] = '=';
	memmove(p + k + 1, v, vn);
	p[k + 1 + vn] = '\0';
	f->line[f->n] = line;
	f->vars[f->n++] = p;
	f->vars[f->n] = NULL;
	return 0;
}

int twp_conf_parse(struct twp_conf *f, char *buf, size_t len, char *err, size_t errlen)
{
	f->n = 0;
	f->vars[0] = NULL;
	if (errlen)
		err[0] = '\0';
	buf[len] = '\0';
	int line = 1;
	for (char *p = buf, *next; p < buf + len; p = next, line++) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		next = nl ? nl + 1 : buf + len;
		if (memchr(p, '\0', (size_t)(next - p - (nl != NULL))))
			return conf_error(f, line, err, errlen, "NUL byte: not a text file");
		if (nl)
			*nl = '\0';
		char *end = p + strlen(p);
		while (end > p && is_blank(end[-1]))
			*--end = '\0';
		p += strspn(p, " \t");
		if (*p && *p != '#' && conf_line(f, p, line, err, errlen))
			return -EINVAL;
	}
	return 0;
}
