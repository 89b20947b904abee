/* child.h - new processes and new programs, which must never inherit the
 * shim's connections. */
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
typedef int (*twp_execve_fn)(const char *, char *const[], char *const[]);
typedef int (*twp_execv_fn)(const char *, char *const[]);
typedef int (*twp_fexecve_fn)(int, char *const[], char *const[]);

struct twp_child_real {
	twp_posix_spawn_fn posix_spawn, posix_spawnp;
	twp_system_fn system;
	twp_popen_fn popen;
	twp_fork_fn fork, fork_nohandlers; /* fork, _Fork */
	twp_execve_fn execve, execvpe;
	twp_execv_fn execv, execvp;
	twp_fexecve_fn fexecve;
};

/* The real functions (resolved on first use). Before a spawn: marks every
 * connection in use now as possibly shared with the child, and makes every
 * connection parked in place close-on-exec. */
const struct twp_child_real *twp_child_begin(void);

/* _Fork() runs no fork handlers: the shim's own, around the real call. */
pid_t twp_child_fork_nohandlers(void);

/* The fork handlers (registered by init, and run by hand around _Fork):
 * the pool lock held across the fork; in the child the pool starts empty
 * and connections in use are never parked. */
void twp_atfork_prepare(void);
void twp_atfork_parent(void);
void twp_atfork_child(void);

/* Before an exec: parked connections close-on-exec. */
const struct twp_child_real *twp_child_exec(void);

#endif
