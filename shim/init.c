/* init.c - turning the shim on: configuration, tables, fork handlers.
 * Calls downward only; nothing calls back into it but the hooks. */
#include <pthread.h>
#include <sys/auxv.h>

#include "broker.h"
#include "child.h"
#include "conffile.h"
#include "close.h"
#include "config.h"
#include "fdtab.h"
#include "guard.h"
#include "init.h"
#include "log.h"
#include "pool.h"
#include "privfd.h"
#include "real.h"
#include "stats.h"

int twp_init_with(const struct twp_config *cfg)
{
	twp_cfg = *cfg;
	twp_log_open(&twp_cfg);
	if (twp_cfg.warning[0])
		twp_log(TWP_LOG_WARN, "%s", twp_cfg.warning);
	if (!twp_cfg.enabled)
		return 0;
	twp_pool_configure(twp_cfg.max_idle, twp_cfg.idle_timeout_ms);
	twp_stats_check();
	twp_privfd_limits();
	if (pthread_atfork(twp_atfork_prepare, twp_atfork_parent, twp_atfork_child) != 0) {
		twp_log(TWP_LOG_ERROR, "cannot register fork handlers; passing everything through");
		return -1;
	}
	/* Last: a non-empty fd table is what turns the hooks on. */
	if (twp_fdtab_init() < 0) {
		twp_log(TWP_LOG_ERROR, "out of memory for the fd table; passing everything through");
		return -1;
	}
	twp_log(TWP_LOG_INFO, "pooling %d target(s), max idle %u, idle timeout %u ms",
		twp_cfg.nspecs, twp_cfg.max_idle, twp_cfg.idle_timeout_ms);
	return 0;
}

void twp_init(void)
{
	extern char **environ;
	static struct twp_config cfg; /* large: not on the stack */
	char err[512];
	twp_busy++;
	twp_real_load();
	if (twp_config_load(&cfg, environ, getauxval(AT_SECURE) != 0, err, sizeof(err)) < 0)
		twp_log_config_error(err), twp_stats_config_error();
	twp_init_with(&cfg);
	twp_busy--;
}

void twp_fini(void)
{
	if (!twp_fdtab_size)
		return;
	if (twp_broker_on())
		twp_close_all_clean();
	twp_stats_write(1);
	twp_broker_give_all();
}
