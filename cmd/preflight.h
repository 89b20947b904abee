/* preflight.h - will the dynamic loader preload the shim into COMMAND? */
#ifndef TWP_CMD_PREFLIGHT_H
#define TWP_CMD_PREFLIGHT_H

#include <stddef.h>

struct twp_finding {
	int blocks; /* pooling will not reach the program because of it */
	char *text; /* one line, naming the file: "/bin/x is statically linked: ..." */
};

struct twp_preflight {
	int status; /* 0, or 126/127 when it cannot run at all, as a shell says */
	struct twp_finding *findings;
	size_t n;
};

/* The path execvp would run for name, searching path (NULL: the default
 * search path). Exits 126 or 127 with a shell's message when there is none. */
char *twp_find_command(const char *name, const char *path);

/* Inspects the program at path (found by twp_find_command) as the kernel
 * and the loader will see it when run by this process with lib preloaded:
 * set-id bits and file capabilities against this process's ids, static
 * linking, Go, the machine, and #! interpreters down to the program that
 * really runs. search is PATH, for "#!/usr/bin/env NAME". */
void twp_preflight(const char *path, const char *lib, const char *search, struct twp_preflight *p);

/* The first finding that blocks pooling, or NULL. */
const struct twp_finding *twp_preflight_blocker(const struct twp_preflight *p);

#endif
