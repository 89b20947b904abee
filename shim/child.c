/* child.c - posix_spawn, system, popen and vfork make children without
 * running fork handlers; each one bumps the spawn generation by hand. */
#include <dlfcn.h>
#include <pthread.h>

#include "init.h"
#include "child.h"

static struct twp_child_real real;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	real.posix_spawn = (twp_posix_spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
	real.posix_spawnp = (twp_posix_spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
	real.system = (twp_system_fn)dlsym(RTLD_NEXT, "system");
	real.popen = (twp_popen_fn)dlsym(RTLD_NEXT, "popen");
	real.fork = (twp_fork_fn)dlsym(RTLD_NEXT, "fork");
}

const struct twp_child_real *twp_child_begin(void)
{
	pthread_once(&once, load);
	atomic_fetch_add(&twp_spawn_gen, 1);
	return &real;
}
