/* log.h - one line per event, prefixed "twpool[pid]:". */
#ifndef TWP_LOG_H
#define TWP_LOG_H

#include <stddef.h>

#include "config.h"

extern enum twp_loglevel twp_log_level __attribute__((visibility("hidden")));

/* Opens TWPOOL_LOG_FILE (else stderr) and sets the level. A log file that
 * is a symlink or not a regular file is refused with one warning, and the
 * log stays on stderr. */
void twp_log_open(const struct twp_config *c);

/* Writes one line if level is enabled; keeps errno. */
void twp_log(enum twp_loglevel level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes all n bytes with the real write(), retrying on EINTR; 0, or -1
 * with errno set. */
int twp_write_all(int fd, const char *buf, size_t n);

/* The configuration-error line: "twpool: <msg>; passing everything
 * through", on stderr whatever the level. */
void twp_log_config_error(const char *msg);

#define twp_debug(...) do { if (twp_log_level >= TWP_LOG_DEBUG) twp_log(TWP_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
