/* dup.c - the dup family: a socket with two names must never be parked,
 * and a number the program puts over the shim's own fd is the program's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

/* A request on fd stays outstanding while a whole cycle runs on a new
 * connection: if both were one socket, the cycle would read fd's reply. */
static void interleaved(int fd, const char *label)
{
	char req[128], want[128], line[LINE_CAP], why[300] = "";
	unique_echo(label, req, want, sizeof(want));
	strcat(req, "\n");
	int sent = send_all(fd, req, strlen(req)) == 0;
	int r = cycle(M_ECHO, label, why, sizeof(why));
	check(r == 0, "%s: a cycle while the duplicate has a request outstanding%s%s", label,
	      *why ? ": " : "", why);
	int n = sent ? read_line(fd, line, sizeof(line)) : RL_ERR;
	check(n >= 0 && !strcmp(line, want), "%s: the duplicate got its own reply (%s)", label,
	      n >= 0 ? line : rl_name(n));
}

static void dup_plain(void)
{
	int fd = conn_used("dup");
	if (fd < 0)
		return;
	int d = dup(fd);
	check(d >= 0, "dup: dup() of a used connection gives %d", d);
	check(close(fd) == 0, "dup: closing the original while the duplicate lives");
	interleaved(d, "dup");
	close(d);
}

static void dup_dup2(void)
{
	int a = conn_used("dup2"), b = conn_used("dup2 other");
	if (a < 0 || b < 0)
		return;
	check(dup2(b, a) == a, "dup2: another socket put over a tracked fd");
	interleaved(a, "dup2");
	check(close(b) == 0, "dup2: closing the other name of the socket");
	interleaved(a, "dup2 after closing the other name");
	close(a);
}

static void dup_fcntl(void)
{
	int fd = conn_used("F_DUPFD");
	if (fd < 0)
		return;
	int d = fcntl(fd, F_DUPFD, 100);
	check(d >= 100, "F_DUPFD: duplicate at %d (>= 100)", d);
	check(close(fd) == 0, "F_DUPFD: closing the original while the duplicate lives");
	interleaved(d, "F_DUPFD");
	close(d);
}

/* A socket duplicated before connect(): connecting either name connects
 * the one socket, so the other name must work too. Run with an idle
 * connection in the pool, which must not be put under one name only. */
static void dup_before_connect(int connect_new)
{
	char why[300] = "", label[64];
	snprintf(label, sizeof(label), "dup before connect, connecting the %s name",
		 connect_new ? "new" : "old");
	run_cycles(label, M_ECHO, 1);
	int s = socket(AF_INET, SOCK_STREAM, 0), d = s >= 0 ? dup(s) : -1;
	if (!check(d >= 0, "%s: socket and dup", label))
		return;
	int c = connect(connect_new ? d : s, (struct sockaddr *)&target, sizeof(target));
	check(c == 0, "%s: connect: %s", label, c == 0 ? "ok" : strerror(errno));
	int r = echo_on(connect_new ? s : d, label, why, sizeof(why));
	check(r == 0, "%s: the other name is connected too%s%s", label, *why ? ": " : "", why);
	*why = '\0';
	r = echo_on(connect_new ? d : s, label, why, sizeof(why));
	check(r == 0, "%s: the connected name works%s%s", label, *why ? ": " : "", why);
	close(s);
	close(d);
}

static void sc_dup_before_connect(void)
{
	warm("dup-before-connect");
	dup_before_connect(1);
	dup_before_connect(0);
	run_cycles("dup-before-connect: after", M_ECHO, n_cycles);
}

static void sc_dup(void)
{
	warm("dup");
	dup_plain();
	run_cycles("dup: after dup()", M_ECHO, n_cycles / 4 + 1);
	dup_dup2();
	run_cycles("dup: after dup2()", M_ECHO, n_cycles / 4 + 1);
	dup_fcntl();
	run_cycles("dup: after F_DUPFD", M_ECHO, n_cycles);
}
/* The pipe stays at the shim's old fd number while cycles run: the shim
 * must have moved its connection away, never touching that number again. */
static void sc_dup2_onto_private(void)
{
	int priv = -1, p[2];
	warm("dup2-onto-private");
	int n = foreign_sockets(-1, &priv);
	if (!check(n >= 1, "dup2-onto-private: found shim private fd %d (%d idle pooled sockets)",
		   priv, n))
		return;
	if (!check(pipe(p) == 0, "dup2-onto-private: pipe"))
		return;
	check(dup2(p[1], priv) == priv, "dup2-onto-private: dup2 of a pipe onto fd %d", priv);
	check(fcntl(priv, F_GETFD) == 0,
	      "dup2-onto-private: fd %d has no FD_CLOEXEC, as dup2 leaves it", priv);
	check(pipe_works(priv, p[0]), "dup2-onto-private: the pipe works at fd %d", priv);
	note("dup2-onto-private: %d idle pooled socket(s) now", foreign_sockets(priv, NULL));
	run_cycles("dup2-onto-private: cycles while the pipe holds the number", M_ECHO, n_cycles);
	check(pipe_works(priv, p[0]),
	      "dup2-onto-private: the pipe at fd %d still works after the cycles", priv);
	check(close(priv) == 0, "dup2-onto-private: closing the pipe at fd %d", priv);
	close(p[0]);
	close(p[1]);
	run_cycles("dup2-onto-private: after", M_ECHO, n_cycles / 4 + 1);
}

const struct scenario hazards_dup[] = {
	{ "dup", sc_dup },
	{ "dup-before-connect", sc_dup_before_connect },
	{ "dup2-onto-private", sc_dup2_onto_private },
	{ NULL, NULL },
};
