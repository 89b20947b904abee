/* deepbind.h - libraries loaded with RTLD_DEEPBIND reach the hooks too.
 *
 * RTLD_DEEPBIND makes a library look symbols up in itself and its own
 * dependencies before the global scope, so its socket calls bind to libc
 * past the preloaded hooks (PHP loads every extension that way). After such
 * a library loads, the shim points the GOT entries of its hooked symbols, in
 * the library and the dependencies that came with it, at the hooks; every
 * other binding DEEPBIND chose is left alone. */
#ifndef TWP_DEEPBIND_H
#define TWP_DEEPBIND_H

#include <stdint.h>


typedef void *(*twp_dlopen_fn)(const char *, int);

/* libc's dlopen, loaded on first use (a hook may run before the
 * constructor). The hook must tail-call it: dlopen searches the caller's
 * RPATH/RUNPATH and expands $ORIGIN from the caller's return address. */
twp_dlopen_fn twp_deepbind_real(void);

/* Whether dlopen(file, mode) is one the shim must load itself: a DEEPBIND
 * load while the shim is on. Bare names and names with "$" are left to a
 * tail call (their search depends on the caller) and counted as bypassed. */
int twp_deepbind_wanted(const char *file, int mode);

/* dlopen(file, mode), then the redirection, one log line and a count.
 * Same result and dlerror() state as dlopen. */
void *twp_deepbind_dlopen(const char *file, int mode);

/* In a forked child: another thread of the parent may have been
 * redirecting. For init's fork handler. */
void twp_deepbind_atfork_child(void);


#endif
