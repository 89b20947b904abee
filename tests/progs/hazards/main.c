/* twpool-hazards - every way a program touches a socket, one scenario a run.
 *
 *   twpool-hazards SCENARIO -p PORT [-n N]
 *
 * Talks to twpool-server on 127.0.0.1:PORT with plain libc calls, the way
 * real programs do, and checks from the program's side that nothing went
 * wrong: every request carries a key or payload no other request uses, and
 * every reply must be exactly its own (a reply meant for another request is
 * "crossed"). Meant to run under libtwpool.so, where the integration tests
 * also check what the server and the kernel saw; it is correct without the
 * shim too, except where a line says it looks for the shim's own fds.
 *
 * Output: one line per check, "ok ..." or "FAIL ...", and "# ..." for facts.
 * Exit status 0 iff no check failed. N (default 200) is the number of
 * connect/request/close cycles of each phase.
 *
 * Scenarios, by area (one file each; `twpool-hazards` alone lists them):
 *   spawn.c     fork _Fork fork-threads vfork posix_spawn system popen exec
 *   threads.c   threads
 *   dup.c       dup dup-before-connect dup2-onto-private
 *   close.c     closefrom close-range close-loop syscall-close fclose
 *               double-close
 *   shutdown.c  shutdown-wr shutdown-rdwr early-close partial-read pipelined
 *   signal.c    signal-close rlimit (which goes on as rlimit-inherited)
 *   epoll.c     epoll nonblock-connect
 *   errno.c     errno
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const struct scenario *const areas[] = {
	hazards_spawn,    hazards_threads, hazards_dup,   hazards_close,
	hazards_shutdown, hazards_signal,  hazards_epoll, hazards_errno,
};

#define N_AREAS (sizeof(areas) / sizeof(areas[0]))

static void usage(void)
{
	fprintf(stderr, "usage: twpool-hazards SCENARIO -p PORT [-n N]\nscenarios:");
	for (size_t a = 0; a < N_AREAS; a++)
		for (const struct scenario *s = areas[a]; s->name; s++)
			fprintf(stderr, " %s", s->name);
	fprintf(stderr, "\n");
	exit(2);
}

static const struct scenario *find_scenario(const char *name)
{
	for (size_t a = 0; a < N_AREAS; a++)
		for (const struct scenario *s = areas[a]; s->name; s++)
			if (!strcmp(name, s->name))
				return s;
	return NULL;
}

/* Sets target and n_cycles from "-p PORT [-n N]" after the scenario name. */
static void parse_args(int argc, char **argv)
{
	long port = 0;
	int ch;
	optind = 2;
	while ((ch = getopt(argc, argv, "p:n:")) != -1) {
		if (ch == 'p')
			port = strtol(optarg, NULL, 10);
		else if (ch == 'n')
			n_cycles = strtol(optarg, NULL, 10);
		else
			usage();
	}
	if (port <= 0 || port > 65535 || n_cycles < 1 || optind != argc)
		usage();
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)port);
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const struct scenario *sc = find_scenario(argv[1]);
	parse_args(argc, argv);
	if (!sc)
		usage();
	prog_name = argv[0];
	signal(SIGPIPE, SIG_IGN);
	snapshot_fds();
	sc->run();
	int f = atomic_load(&failures);
	note("%s: %d check(s) failed", sc->name, f);
	return f ? 1 : 0;
}
