/* cmd.h - the twpool command: what its files share.
 *
 * The command is a front end to the library: it validates settings with the
 * library's own parser (shim/config.c), so the two can never disagree. It
 * calls exit() from its helpers: it is a short-lived process whose only
 * resources are its stdout and stderr. */
#ifndef TWP_CMD_H
#define TWP_CMD_H

#include <stdarg.h>
#include <stddef.h>

#define TWP_PROG "twpool"

enum twp_exit {
	TWP_EXIT_OK = 0,
	TWP_EXIT_STAT = 1,       /* stat: a file or process unreadable */
	TWP_EXIT_NOT_POOLED = 1, /* check: pooling will not reach COMMAND */
	TWP_EXIT_USAGE = 2,      /* bad usage, setup problem, --strict refusal */
	TWP_EXIT_CANNOT_EXEC = 126,
	TWP_EXIT_NOT_FOUND = 127,
};

/* "twpool: " + message on stderr. */
void twp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* twp_warn, then exit(status). */
_Noreturn void twp_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* twp_warn, a pointer to --help, exit 2. */
_Noreturn void twp_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The pointer alone, after a message of getopt's. */
_Noreturn void twp_try_help(void);
_Noreturn void twp_help(void);

/* Allocation that cannot fail (the command dies instead). */
void *twp_xmalloc(size_t n);
void *twp_xrealloc(void *p, size_t n);
char *twp_xstrdup(const char *s);
char *twp_xstrndup(const char *s, size_t n);
char *twp_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *twp_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Appends to the malloc'd string *s (NULL: empty). */
void twp_append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The library to preload: TWPOOL_LIB, else libtwpool.so beside the command
 * (a build tree), else the installed copy under TWPOOL_LIBDIR. */
const char *twp_library_path(void);

/* The subcommands; each returns the exit status. */
int twp_run_main(int argc, char **argv);
int twp_check_main(int argc, char **argv);
int twp_stat_main(int argc, char **argv);

#endif
