/* spawn.c - fork and the other ways of making children: a child must never
 * use its parent's pooled connections, and a connection held across a
 * child must come through it untouched. */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

static int child_status_ok(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void fork_child(const char *how, int held, int go)
{
	char label[64];
	int n = foreign_sockets(held, NULL);
	check(n == 0, "%s child: no pooled fd inherited from the parent (%d foreign sockets)", how,
	      n);
	check(close(held) == 0, "%s child: closing its copy of the parent's connection", how);
	check(write(go, "g", 1) == 1, "%s child: telling the parent to start", how);
	snprintf(label, sizeof(label), "%s child", how);
	run_cycles(label, M_ECHO, n_cycles);
	_exit(atomic_load(&failures) ? 1 : 0);
}

static void parent_side(const char *how, int held)
{
	struct tally t = { 0 };
	char tag[64], htag[64], label[160];
	snprintf(tag, sizeof(tag), "%s parent", how);
	snprintf(htag, sizeof(htag), "%s held", how);
	for (long i = 0; i < n_cycles && !gave_up(&t); i++) {
		char why[300] = "";
		tally_add(&t, cycle(M_ECHO, tag, why, sizeof(why)), why);
		tally_add(&t, echo_on(held, htag, why, sizeof(why)), why);
	}
	snprintf(label, sizeof(label),
		 "%s parent: cycles and requests on its held connection, beside the child", how);
	tally_report(label, &t, 2 * n_cycles);
}

/* Once the child has closed its copy of the held connection, parent and
 * child run their cycles at the same time, the parent also using the held
 * connection between its cycles: a copy the child wrongly pooled, or an
 * idle connection both kept, would mix the two processes' replies. */
static void fork_with(const char *how, pid_t (*fork_fn)(void))
{
	int go[2];
	char b, label[96];
	warm_idle(how, 2); /* one for the held connection, one idle at fork */
	snprintf(label, sizeof(label), "%s: parent's held connection", how);
	int held = conn_used(label);
	if (held < 0 || !check(pipe(go) == 0, "%s: pipe", how))
		return;
	pid_t pid = fork_fn();
	if (pid == 0)
		fork_child(how, held, go[1]);
	if (!check(pid > 0, "%s: %s", how, pid > 0 ? "forked" : strerror(errno)))
		return;
	close(go[1]);
	check(read(go[0], &b, 1) == 1, "%s parent: the child started", how);
	parent_side(how, held);
	close(held);
	close(go[0]);
	int st = 0;
	pid_t w = waitpid(pid, &st, 0);
	check(w == pid && child_status_ok(st),
	      "%s: child ran its cycles concurrently and exited 0 (status %#x)", how, st);
	snprintf(label, sizeof(label), "%s parent after the child", how);
	run_cycles(label, M_ECHO, n_cycles / 4 + 1);
}

static void sc_fork(void)
{
	fork_with("fork", fork);
}

/* ---- fork while other threads pool ---- */

static atomic_int busy_stop;

static void *busy_run(void *arg)
{
	struct tally *t = arg;
	while (!atomic_load(&busy_stop) && !gave_up(t))
		run_into(t, M_KV, "busy", 1);
	return NULL;
}

/* A child forked while other threads are in the middle of connects and
 * closes: it must not deadlock on a lock a vanished thread held, and its
 * own cycles must be right. */
static int fork_one_busy(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct tally t = { 0 };
		run_into(&t, M_ECHO, "fork-threads child", n_cycles / 10 + 1);
		_exit(t.errors || t.crossed || t.ok != n_cycles / 10 + 1 ? 1 : 0);
	}
	int st = -1;
	return pid > 0 && waitpid(pid, &st, 0) == pid && child_status_ok(st);
}

static void sc_fork_threads(void)
{
	pthread_t th[N_THREADS / 2];
	struct tally t[N_THREADS / 2], all = { 0 };
	int started = 0, good = 0, forks = 20;
	memset(t, 0, sizeof(t));
	for (; started < N_THREADS / 2; started++)
		if (pthread_create(&th[started], NULL, busy_run, &t[started]) != 0)
			break;
	for (int i = 0; i < forks; i++)
		good += fork_one_busy();
	atomic_store(&busy_stop, 1);
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		tally_merge(&all, &t[i], "");
	}
	check(good == forks,
	      "fork-threads: %d of %d children forked beside %d busy threads ran right", good,
	      forks, started);
	tally_report("fork-threads: the busy threads' cycles", &all,
		     all.ok + all.errors + all.crossed);
	check(all.ok > 0, "fork-threads: the threads made %ld cycles meanwhile", all.ok);
}

/* glibc's async-signal-safe fork: it runs no fork handlers. */
static void sc_underscore_fork(void)
{
	fork_with("_Fork", _Fork);
}

/* vfork's child may only exec or _exit; kept in a function of its own. */
static pid_t spawn_vfork(void)
{
	pid_t pid = vfork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Runs /bin/true by method how; its wait status, or -1. */
static int spawn_true(const char *how)
{
	pid_t pid = -1;
	int st = -1;
	if (!strcmp(how, "system"))
		return system("/bin/true");
	if (!strcmp(how, "popen")) {
		FILE *f = popen("/bin/true", "r");
		return f ? pclose(f) : -1;
	}
	if (!strcmp(how, "vfork")) {
		pid = spawn_vfork();
	} else {
		char *argv[] = { "true", NULL };
		int e = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
		if (e) {
			errno = e;
			return -1;
		}
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static void sc_spawn(const char *how)
{
	char label[64], why[300] = "";
	snprintf(label, sizeof(label), "%s", how);
	warm(label);
	int held = conn_used(label);
	if (held < 0)
		return;
	int st = spawn_true(how);
	check(st >= 0 && child_status_ok(st),
	      "%s: /bin/true ran while a connection was held (status %#x)", how, st);
	check(echo_on(held, how, why, sizeof(why)) == 0,
	      "%s: the held connection still answers right after the child%s%s", how,
	      *why ? ": " : "", why);
	check(close(held) == 0, "%s: closing the connection held across the child", how);
	snprintf(label, sizeof(label), "%s: after the child", how);
	run_cycles(label, M_ECHO, n_cycles);
}

static void sc_exec(void)
{
	run_cycles("exec: cycles before exec", M_ECHO, n_cycles);
	int n = foreign_sockets(-1, NULL);
	note("exec: %d idle pooled socket(s) before exec; ls -l /proc/self/fd follows", n);
	char *argv[] = { "ls", "-l", "/proc/self/fd/", NULL };
	execv("/bin/ls", argv);
	check(0, "exec: execv /bin/ls: %s", strerror(errno));
}

static void sc_vfork(void)
{
	sc_spawn("vfork");
}
static void sc_posix_spawn(void)
{
	sc_spawn("posix_spawn");
}
static void sc_system(void)
{
	sc_spawn("system");
}
static void sc_popen(void)
{
	sc_spawn("popen");
}

const struct scenario hazards_spawn[] = {
	{ "fork", sc_fork },
	{ "_Fork", sc_underscore_fork },
	{ "fork-threads", sc_fork_threads },
	{ "vfork", sc_vfork },
	{ "posix_spawn", sc_posix_spawn },
	{ "system", sc_system },
	{ "popen", sc_popen },
	{ "exec", sc_exec },
	{ NULL, NULL },
};
