/* child.c - posix_spawn, system, popen and vfork make children without
 * running fork handlers; each one bumps the spawn generation by hand. A
 * connection parked in place sits at a number the program had, with the
 * program's FD_CLOEXEC: before any exec it is made close-on-exec. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "child.h"
#include "conn.h"
#include "deepbind.h"
#include "fdtab.h"
#include "pool.h"
#include "privfd.h"
#include "stats.h"

static struct twp_child_real real;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	real.posix_spawn = (twp_posix_spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
	real.posix_spawnp = (twp_posix_spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
	real.system = (twp_system_fn)dlsym(RTLD_NEXT, "system");
	real.popen = (twp_popen_fn)dlsym(RTLD_NEXT, "popen");
	real.fork = (twp_fork_fn)dlsym(RTLD_NEXT, "fork");
	real.fork_nohandlers = (twp_fork_fn)dlsym(RTLD_NEXT, "_Fork");
	real.execve = (twp_execve_fn)dlsym(RTLD_NEXT, "execve");
	real.execvpe = (twp_execve_fn)dlsym(RTLD_NEXT, "execvpe");
	real.execv = (twp_execv_fn)dlsym(RTLD_NEXT, "execv");
	real.execvp = (twp_execv_fn)dlsym(RTLD_NEXT, "execvp");
	real.fexecve = (twp_fexecve_fn)dlsym(RTLD_NEXT, "fexecve");
}

const struct twp_child_real *twp_child_exec(void)
{
	pthread_once(&once, load);
	if (twp_fdtab_size)
		twp_pool_cloexec_all();
	return &real;
}

const struct twp_child_real *twp_child_begin(void)
{
	twp_conn_mark_shared();
	return twp_child_exec();
}

void twp_atfork_prepare(void)
{
	twp_pool_lock();
}

void twp_atfork_parent(void)
{
	twp_conn_mark_shared();
	twp_pool_unlock();
}

/* The child's pool starts empty; the parent keeps its copies of the idle
 * connections, so the child closes its own without a FIN reaching anyone. */
void twp_atfork_child(void)
{
	struct twp_conn *all = NULL;
	twp_pool_atfork_child();
	twp_conn_mark_shared();
	twp_pool_drain(&all);
	while (all) {
		struct twp_conn *next = all->next;
		twp_privfd_close(all);
		twp_conn_free(all);
		all = next;
	}
	twp_stats_atfork_child();
	twp_deepbind_atfork_child();
}

pid_t twp_child_fork_nohandlers(void)
{
	const struct twp_child_real *r = twp_child_exec();
	if (!r->fork_nohandlers)
		return r->fork();
	if (!twp_fdtab_size)
		return r->fork_nohandlers();
	twp_atfork_prepare();
	pid_t pid = r->fork_nohandlers();
	if (pid == 0)
		twp_atfork_child();
	else
		twp_atfork_parent();
	return pid;
}
