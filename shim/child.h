/* child.h - new processes that may inherit the program's connections. */
#ifndef TWP_CHILD_H
#define TWP_CHILD_H

#include <spawn.h>
#include <stdio.h>
#include <sys/types.h>

typedef int (*twp_posix_spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
				  const posix_spawnattr_t *, char *const[], char *const[]);
typedef int (*twp_system_fn)(const char *);
typedef FILE *(*twp_popen_fn)(const char *, const char *);
typedef pid_t (*twp_fork_fn)(void);

struct twp_child_real {
	twp_posix_spawn_fn posix_spawn, posix_spawnp;
	twp_system_fn system;
	twp_popen_fn popen;
	twp_fork_fn fork;
};

/* The real functions (resolved on first use); marks every connection in
 * use now as possibly shared with the child about to be made. */
const struct twp_child_real *twp_child_begin(void);

#endif
