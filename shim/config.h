/* config.h - the TWPOOL_* environment and configuration file, parsed once. */
#ifndef TWP_CONFIG_H
#define TWP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "key.h"
#include "twpool.h"

struct twp_codec;

enum twp_spec_kind { TWP_SPEC_ADDR, TWP_SPEC_ANY, TWP_SPEC_NAME };

#define TWP_NAME_MAX 254 /* longest DNS name */

struct twp_spec {
	enum twp_spec_kind kind;
	uint16_t port;           /* network byte order */
	struct twp_key key;      /* TWP_SPEC_ADDR */
	char name[TWP_NAME_MAX]; /* TWP_SPEC_NAME */
	const struct twp_codec *codec; /* from the /PROTOCOL suffix; NULL: raw */
};

enum twp_loglevel { TWP_LOG_ERROR, TWP_LOG_WARN, TWP_LOG_INFO, TWP_LOG_DEBUG };

/* TWPOOL_REPLAY: what a dead pooled connection's request may be sent again
 * for. safe: what its codec says cannot act twice; all: any request whose
 * bytes were all seen; off: none (replay_max is then 0). */
enum twp_replay { TWP_REPLAY_SAFE, TWP_REPLAY_ALL, TWP_REPLAY_OFF };

struct twp_config {
	int enabled; /* targets given and every setting valid */
	int nspecs;
	struct twp_spec specs[TWPOOL_MAX_TARGETS];
	unsigned max_idle;
	unsigned idle_timeout_ms;
	unsigned max_lifetime_ms;
	unsigned max_uses;
	unsigned replay_max;
	enum twp_replay replay;
	unsigned stats_interval_ms;
	enum twp_loglevel log_level;
	char stats_path[4096]; /* "" when unset; %p not yet expanded */
	char log_file[4096];
	char broker[104];       /* TWPOOL_BROKER: "", "auto" or a socket path
				 * (the broker binds PATH.new first: 103 bytes) */
	char broker_exec[4096]; /* TWPOOL_BROKER_EXEC; "": beside the library */
	char warning[320]; /* a TWPOOL_ variable this version does not know */
};

/* The shim's configuration: written once by init before the hooks turn on,
 * read-only after. */
extern struct twp_config twp_cfg __attribute__((visibility("hidden")));

/* The names of the log levels, by enum twp_loglevel. */
extern const char *const twp_loglevel_names[4] __attribute__((visibility("hidden")));

/* The names of the replay modes, by enum twp_replay. */
extern const char *const twp_replay_names[3] __attribute__((visibility("hidden")));

/* Parses the TWPOOL_* variables of envp (NULL-terminated "NAME=VALUE").
 * Returns 0 with c filled in (c->enabled is 0 when no target is given), or
 * -EINVAL with c->enabled = 0 and one human-readable line (no newline, no
 * prefix) in err naming the variable and the bad token. An unknown
 * TWPOOL_ variable (a typo, a newer version's setting) is no error: it is
 * named in c->warning. */
int twp_config_parse(struct twp_config *c, char *const *envp, char *err, size_t errlen);

/* The value of the first "NAME=" entry of envp (may be NULL), or NULL. */
const char *twp_env_get(char *const *envp, const char *name);

#define TWP_CONF_MAX_VARS 32 /* settings in one configuration file */
#define TWP_CONF_WHERE 224   /* "PATH:LINE: " before a message, path cut */

/* The settings of a configuration file: "NAME=VALUE" strings pointing into
 * the text given to twp_conf_parse, and the line each came from. */
struct twp_conf {
	const char *path; /* set by the caller; names the file in messages */
	int n;
	char *vars[TWP_CONF_MAX_VARS + 1]; /* NULL-terminated, like envp */
	int line[TWP_CONF_MAX_VARS];
};

/* Parses the text of a configuration file, buf[0..len), which it rewrites
 * in place (buf must have room for len + 1 bytes). Lines are NAME=VALUE,
 * NAME a TWPOOL_ variable, blanks around NAME, '=' and VALUE ignored, one
 * pair of quotes around VALUE dropped; blank lines and lines starting with
 * '#' are skipped. Returns 0 with f filled in (f->path is left alone), or
 * -EINVAL with one line in err, "PATH:LINE: what is wrong": a line without
 * '=', a name not starting with TWPOOL_, a name set twice, more than
 * TWP_CONF_MAX_VARS settings, a NUL byte. Values are checked by
 * twp_config_parse_with, not here. */
int twp_conf_parse(struct twp_conf *f, char *buf, size_t len, char *err, size_t errlen);

/* twp_config_parse over envp and then f (NULL: none): a variable set in
 * envp wins over the file. A bad value or an unknown name that came from
 * the file is reported prefixed "PATH:LINE: ". */
int twp_config_parse_with(struct twp_config *c, char *const *envp, const struct twp_conf *f,
			  char *err, size_t errlen);

#endif
