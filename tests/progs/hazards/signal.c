/* signal.c - a signal handler that closes sockets, and a tight fd limit
 * (set by the program, or inherited across exec). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static volatile sig_atomic_t spare_fd = -1, handler_closes;

static void on_alarm(int sig)
{
	(void)sig;
	int fd = spare_fd, saved = errno;
	if (fd >= 0) {
		spare_fd = -1;
		close(fd);
		handler_closes = handler_closes + 1;
	}
	errno = saved;
}

static void set_timer(long us)
{
	struct itimerval it = { { 0, us }, { 0, us } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void catch_alarm(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
}

/* A used connection for the handler to close, unless it has one. */
static void give_spare(struct tally *t, long *spares)
{
	if (spare_fd >= 0)
		return;
	char why[300] = "";
	int fd = tw_connect();
	int r = fd >= 0 ? echo_on(fd, "spare", why, sizeof(why)) : -1;
	tally_add(t, r, fd >= 0 ? why : "spare: connect failed");
	if (fd >= 0)
		spare_fd = fd;
	(*spares)++;
}

static void sc_signal_close(void)
{
	struct tally t = { 0 };
	long spares = 0, rounds = 0;
	catch_alarm();
	set_timer(SIGNAL_INTERVAL_US);
	time_t end = time(NULL) + SIGNAL_SECONDS;
	while ((time(NULL) < end || rounds < 10) && !gave_up(&t)) {
		give_spare(&t, &spares);
		run_into(&t, M_ECHO, "signal-close", 1);
		rounds++;
	}
	set_timer(0);
	if (spare_fd >= 0)
		close(spare_fd);
	note("signal-close: %ld rounds, %ld spare connections, %d closed by the handler", rounds,
	     spares, (int)handler_closes);
	check(handler_closes > 0, "signal-close: the handler closed connections (%d)",
	      (int)handler_closes);
	tally_report("signal-close: main loop and spare requests", &t, rounds + spares);
	run_cycles("signal-close: after", M_ECHO, n_cycles);
}

/* ---- fd limits ---- */

/* Opens /dev/null until EMFILE; how many it got (all closed again). */
static int fill_count(void)
{
	int fds[RLIMIT_FDS + 8], n = 0;
	while (n < (int)(sizeof(fds) / sizeof(fds[0]))) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	int got = n, why = errno;
	while (n > 0)
		close(fds[--n]);
	if (got < (int)(sizeof(fds) / sizeof(fds[0])) && why != EMFILE)
		note("rlimit: open stopped on %s, not EMFILE", strerror(why));
	return got;
}

/* Fills the fd table, runs cycles, fills it again: the second fill must
 * get nearly as many fds as the first. */
static void fd_budget(const char *label)
{
	char l[96];
	int inh = 0;
	for (int fd = 0; fd < RLIMIT_FDS; fd++)
		inh += inherited[fd];
	int first = fill_count();
	note("%s: %d fds below %d inherited, %d more opened before any connection", label, inh,
	     RLIMIT_FDS, first);
	snprintf(l, sizeof(l), "%s: cycles under a %d-fd limit", label, RLIMIT_FDS);
	run_cycles(l, M_ECHO, n_cycles);
	int second = fill_count();
	int want = RLIMIT_FDS - inh - SHIM_FDS_ALLOWED;
	note("%s: %d fds opened after the cycles, %d idle pooled socket(s)", label, second,
	     foreign_sockets(-1, NULL));
	check(second >= want,
	      "%s: the program still gets %d fds (>= %d): the shim holds at most %d", label, second,
	      want, SHIM_FDS_ALLOWED);
	snprintf(l, sizeof(l), "%s: cycles after filling the table", label);
	run_cycles(l, M_ECHO, n_cycles / 4 + 1);
}

static void sc_rlimit(void)
{
	struct rlimit rl;
	char port[16], n[24];
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = RLIMIT_FDS;
	if (!check(setrlimit(RLIMIT_NOFILE, &rl) == 0, "rlimit: RLIMIT_NOFILE set to %d",
		   RLIMIT_FDS))
		return;
	fd_budget("rlimit");
	if (atomic_load(&failures))
		return;
	/* Again in a program that starts under the limit: the shim sizes its
	 * share of fds when it starts. */
	snprintf(port, sizeof(port), "%d", ntohs(target.sin_port));
	snprintf(n, sizeof(n), "%ld", n_cycles);
	char *argv[] = { prog_name, "rlimit-inherited", "-p", port, "-n", n, NULL };
	execv("/proc/self/exe", argv);
	check(0, "rlimit: exec of rlimit-inherited: %s", strerror(errno));
}

static void sc_rlimit_inherited(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (check(rl.rlim_cur == RLIMIT_FDS,
		  "rlimit-inherited: started with RLIMIT_NOFILE %ld (want %d)", (long)rl.rlim_cur,
		  RLIMIT_FDS))
		fd_budget("rlimit-inherited");
}

const struct scenario hazards_signal[] = {
	{ "signal-close", sc_signal_close },
	{ "rlimit", sc_rlimit },
	{ "rlimit-inherited", sc_rlimit_inherited },
	{ NULL, NULL },
};
