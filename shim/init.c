/* init.c - turning the shim on: configuration, tables, fork handlers. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conffile.h"
#include "conn.h"
#include "fdtab.h"
#include "guard.h"
#include "init.h"
#include "log.h"
#include "pool.h"
#include "real.h"
#include "stats.h"

struct twp_config twp_cfg;
_Atomic uint64_t twp_spawn_gen;
int twp_priv_base = 0;
int twp_priv_max = 0;
_Atomic int twp_priv_count;
__thread int twp_busy __attribute__((tls_model("initial-exec")));

/* Private fds live high, out of the way of the low numbers a program
 * expects, and take at most a quarter of RLIMIT_NOFILE. */
static void priv_limits(void)
{
	struct rlimit rl;
	rlim_t cur = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cur = rl.rlim_cur;
	twp_priv_base = cur >= 2048 ? 1024 : (int)(cur / 2);
	twp_priv_max = (int)(cur / 4);
}

void twp_atfork_prepare(void)
{
	twp_pool_lock();
}

void twp_atfork_parent(void)
{
	atomic_fetch_add(&twp_spawn_gen, 1);
	twp_pool_unlock();
}

void twp_atfork_child(void)
{
	twp_pool_atfork_child();
	atomic_fetch_add(&twp_spawn_gen, 1);
	twp_conn_atfork_child();
	twp_stats_atfork_child();
}

int twp_init_with(const struct twp_config *cfg)
{
	twp_cfg = *cfg;
	twp_log_open(&twp_cfg);
	if (twp_cfg.warning[0])
		twp_log(TWP_LOG_WARN, "%s", twp_cfg.warning);
	if (!twp_cfg.enabled)
		return 0;
	twp_pool_configure(twp_cfg.max_idle, twp_cfg.idle_timeout_ms);
	priv_limits();
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
		twp_log_config_error(err);
	twp_init_with(&cfg);
	twp_busy--;
}

void twp_fini(void)
{
	if (twp_fdtab_size)
		twp_stats_write(1);
}
