/* conffile.h - the whole-host configuration file (twpool.conf(5)). */
#ifndef TWP_CONFFILE_H
#define TWP_CONFFILE_H

#include "config.h"

/* The process's configuration: envp, plus the configuration file when envp
 * does not set TWPOOL_TARGETS (see TWPOOL_ENV_CONFIG in twpool.h). secure:
 * the process runs in secure-execution mode (getauxval(AT_SECURE)); envp
 * is then ignored and only TWPOOL_DEFAULT_CONFIG is read. Returns what
 * twp_config_parse returns; a file that is there but cannot be used (not a
 * regular file, wrong owner or mode, too large, unreadable, malformed) is
 * -EINVAL with c->enabled = 0 and err naming the file. A missing file is
 * no error. Not thread-safe: it is called once, from the constructor. */
int twp_config_load(struct twp_config *c, char *const *envp, int secure, char *err, size_t errlen);

#endif
