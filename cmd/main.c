/* main.c - twpool: dispatch, messages, --help, and where the library is. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_int.h"
#include "cmd.h"

#ifndef TWPOOL_LIBDIR
#define TWPOOL_LIBDIR "/usr/local/lib"
#endif

static const char help_text[] =
	"Usage: twpool [OPTION]... [--] COMMAND [ARG]...\n"
	"       twpool check COMMAND [ARG]...\n"
	"       twpool stat [-w] [-i SECONDS] [-p] [FILE|PID...]\n"
	"       twpool stat --prom [-p] [-o FILE]\n"
	"\n"
	"Run COMMAND with libtwpool.so preloaded. Its TCP connections to the targets\n"
	"are kept open when it closes them, and handed back on its next connect() to\n"
	"the same target. COMMAND replaces twpool (same pid); its children inherit the\n"
	"settings.\n"
	"\n"
	"Options (each sets the TWPOOL_* variable named in brackets):\n"
	"  -t, --target HOST:PORT   pool connections to HOST:PORT; repeat it or give a\n"
	"                           comma list. HOST is an IPv4 address, an IPv6\n"
	"                           address in brackets, a host name, or * for any\n"
	"                           address                           [TWPOOL_TARGETS]\n"
	"  -s, --stats FILE         write stats (Prometheus text format) to FILE;\n"
	"                           %%p in FILE becomes the pid          [TWPOOL_STATS]\n"
	"      --max-idle N         idle connections kept per target, 0..1024;\n"
	"                           default 16                       [TWPOOL_MAX_IDLE]\n"
	"      --idle-timeout MS    close a connection idle for MS ms, 0..86400000;\n"
	"                           0: never; default 4000     [TWPOOL_IDLE_TIMEOUT_MS]\n"
	"      --max-lifetime MS    close a connection older than MS ms when it comes\n"
	"                           back, 0..86400000; 0: never; default 0\n"
	"                                                      [TWPOOL_MAX_LIFETIME_MS]\n"
	"      --max-uses N         close a connection handed out N times when it\n"
	"                           comes back; 0: never; default 0  [TWPOOL_MAX_USES]\n"
	"      --stats-interval MS  least ms between two writes of the stats file,\n"
	"                           10..3600000; default 1000\n"
	"                                                    [TWPOOL_STATS_INTERVAL_MS]\n"
	"      --replay-max N       bytes of a request kept for a replay on a fresh\n"
	"                           connection, 0..16777216; 0: no replay;\n"
	"                           default 65536                [TWPOOL_REPLAY_MAX]\n"
	"      --replay MODE        requests replayed: safe (those that cannot act\n"
	"                           twice, by protocol), all or off; default safe\n"
	"                                                              [TWPOOL_REPLAY]\n"
	"  -l, --log LEVEL          error, warn, info or debug; default warn\n"
	"                                                                 [TWPOOL_LOG]\n"
	"  -v, --verbose            --log debug, and show what twpool runs\n"
	"      --log-file FILE      append log lines to FILE, not stderr\n"
	"                                                            [TWPOOL_LOG_FILE]\n"
	"      --broker[=SOCKET]    lend idle connections across short-lived programs\n"
	"                           through a per-user broker (started on demand);\n"
	"                           default socket: auto              [TWPOOL_BROKER]\n"
	"      --strict             refuse to run COMMAND when pooling cannot reach it;\n"
	"                           without it, twpool warns and runs it unpooled\n"
	"  -h, --help               print this help and exit\n"
	"  -V, --version            print the version and exit\n"
	"\n"
	"An option overrides the variable already in the environment; the other\n"
	"TWPOOL_* variables are passed on as they are. To run a program named \"stat\"\n"
	"or \"check\", write: twpool [OPTION]... -- stat ...\n"
	"\n"
	"Pooling cannot reach a statically linked program, a Go program, or one that\n"
	"gains privileges when it starts (setuid or setgid to another user, file\n"
	"capabilities when not run by root): twpool says so in one line and runs it\n"
	"without pooling, or refuses with --strict. twpool check says what it finds\n"
	"without running COMMAND, one line per finding.\n"
	"\n"
	"twpool stat prints the host-wide stats (every process of this user under the\n"
	"shim, summed; TWPOOL_HOST_STATS), or a table per stats file: for each target the connects\n"
	"reused and fresh, the reuse ratio, the closes parked and closed, the discards\n"
	"by reason, and the idle connections. A PID argument (all digits) stands for\n"
	"the file named by that process's TWPOOL_STATS.\n"
	"  -w                       refresh every second with rates, until Ctrl-C\n"
	"  -i SECONDS               refresh interval (implies -w)\n"
	"  -p, --processes          host-wide: the gauges of each live process too\n"
	"  --prom                   host-wide, as Prometheus text\n"
	"  -o, --output FILE        write that text to FILE atomically (for\n"
	"                           node_exporter's textfile collector)\n"
	"\n"
	"Examples:\n"
	"  twpool -t 127.0.0.1:6379 -- php worker.php\n"
	"                           pool a program's connections to a local Redis\n"
	"  twpool -t db.internal:5432 -t '[::1]:11211' -s /run/app/twpool-%%p.prom app\n"
	"                           two targets, and a stats file per process\n"
	"  twpool check /usr/local/bin/app\n"
	"                           will pooling reach it? nothing is run\n"
	"  twpool stat -w 4242      the stats of process 4242, with rates, live\n"
	"\n"
	"Exit status:\n"
	"  0    stat succeeded; check: pooling will reach COMMAND\n"
	"  1    stat: a stats file or a process could not be read;\n"
	"       check: pooling will not reach COMMAND\n"
	"  2    usage error; library not found; with --strict, COMMAND cannot be\n"
	"       pooled (setuid or setgid, statically linked, Go, another architecture)\n"
	"  126  COMMAND was found but could not be executed\n"
	"  127  COMMAND was not found\n"
	"  otherwise the exit status of COMMAND\n"
	"\n"
	"Library: %s (TWPOOL_LIB overrides)\n"
	"See twpool(1).\n";

static void vwarn(const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs(TWP_PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void twp_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void twp_die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(status);
}

void twp_try_help(void)
{
	fputs("Try '" TWP_PROG " --help' for more information.\n", stderr);
	exit(TWP_EXIT_USAGE);
}

void twp_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	twp_try_help();
}

void twp_help(void)
{
	printf(help_text, twp_library_path());
	exit(fflush(stdout) ? TWP_EXIT_USAGE : TWP_EXIT_OK);
}

void *twp_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		twp_die(TWP_EXIT_USAGE, "out of memory");
	return p;
}

void *twp_xmalloc(size_t n)
{
	return twp_xrealloc(NULL, n);
}

char *twp_xstrdup(const char *s)
{
	return strcpy(twp_xmalloc(strlen(s) + 1), s);
}

char *twp_xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		twp_die(TWP_EXIT_USAGE, "out of memory");
	return d;
}

char *twp_xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		twp_die(TWP_EXIT_USAGE, "out of memory");
	return s;
}

char *twp_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = twp_xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void twp_append(char **s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *tail = twp_xvasprintf(fmt, ap);
	va_end(ap);
	size_t len = *s ? strlen(*s) : 0, n = strlen(tail);
	*s = twp_xrealloc(*s, len + n + 1);
	memcpy(*s + len, tail, n + 1);
	free(tail);
}

static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return twp_xstrdup(path);
	return twp_xasprintf("%s/%s", cwd, path);
}

/* The directory of this executable holds libtwpool.so in a build tree;
 * an installed command finds it under the LIBDIR it was built with. */
static char *beside_the_command(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	char *lib = twp_xasprintf("%s/libtwpool.so", exe);
	if (access(lib, F_OK) == 0)
		return lib;
	free(lib);
	return NULL;
}

const char *twp_library_path(void)
{
	static char *path;
	const char *env = getenv("TWPOOL_LIB");
	if (path)
		return path;
	if (env && *env)
		return path = absolute(env);
	if ((path = beside_the_command()))
		return path;
	path = twp_xasprintf("%s/libtwpool.so.0", TWPOOL_LIBDIR);
	if (access(path, F_OK) && access(TWPOOL_LIBDIR "/libtwpool.so", F_OK) == 0)
		path = twp_xasprintf("%s/libtwpool.so", TWPOOL_LIBDIR);
	return path;
}

int main(int argc, char **argv)
{
	/* getopt prefixes its messages with argv[0]. */
	argv[0] = TWP_PROG;
	if (argc > 1 && !strcmp(argv[1], "stat"))
		return twp_stat_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "check"))
		return twp_check_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "broker"))
		return tb_main(argc - 1, argv + 1);
	return twp_run_main(argc, argv);
}
