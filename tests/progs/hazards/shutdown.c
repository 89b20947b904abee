/* shutdown.c - conversations ended early: shutdown() either way, a close
 * before the reply, a reply read in part, pipelined requests with replies
 * left unread. None of these connections may be reused. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

/* The server's STATS reply fields; -1 on failure. */
static int server_stats(long *accepted, long *active)
{
	char line[LINE_CAP], why[300];
	int fd = tw_connect();
	if (fd < 0)
		return -1;
	int r = request(fd, "STATS", line, sizeof(line), why, sizeof(why));
	close(fd);
	if (r < 0 || sscanf(line, "accepted %ld active %ld", accepted, active) != 2)
		return -1;
	return 0;
}

static void sc_shutdown_wr(void)
{
	char req[128], want[128], line[LINE_CAP];
	warm("shutdown-wr");
	int fd = tw_connect();
	if (!check(fd >= 0, "shutdown-wr: connect"))
		return;
	unique_echo("shutdown-wr", req, want, sizeof(want));
	strcat(req, "\n");
	check(send_all(fd, req, strlen(req)) == 0, "shutdown-wr: request sent");
	check(shutdown(fd, SHUT_WR) == 0, "shutdown-wr: shutdown(SHUT_WR)");
	int n = read_line(fd, line, sizeof(line));
	check(n >= 0 && !strcmp(line, want), "shutdown-wr: reply read after shutdown (%s)",
	      n >= 0 ? line : rl_name(n));
	char b;
	int w = wait_fd(fd, POLLIN, WAIT_MS);
	ssize_t r = w > 0 ? read(fd, &b, 1) : -1;
	check(r == 0, "shutdown-wr: then EOF: the server saw ours and closed (read %zd)", r);
	check(close(fd) == 0, "shutdown-wr: close");
	long acc = -1, act = -1;
	for (int i = 0; i < 50 && (server_stats(&acc, &act) < 0 || act != 1); i++)
		usleep(10000);
	check(act == 1,
	      "shutdown-wr: server holds only the STATS connection (accepted %ld active %ld)", acc,
	      act);
	run_cycles("shutdown-wr: after", M_ECHO, n_cycles);
}

static void sc_shutdown_rdwr(void)
{
	warm("shutdown-rdwr");
	int fd = conn_used("shutdown-rdwr");
	if (fd < 0)
		return;
	check(shutdown(fd, SHUT_RDWR) == 0, "shutdown-rdwr: shutdown(SHUT_RDWR)");
	char b;
	ssize_t r = read(fd, &b, 1);
	check(r == 0, "shutdown-rdwr: read after it returns 0 (%zd)", r);
	errno = 0;
	r = write(fd, "PING\n", 5);
	check(r == -1 && errno == EPIPE, "shutdown-rdwr: write after it fails with EPIPE (%zd, %s)",
	      r, strerror(errno));
	check(close(fd) == 0, "shutdown-rdwr: close");
	run_cycles("shutdown-rdwr: after", M_ECHO, n_cycles);
}

/* ---- programs that close in the middle of a reply ---- */

/* Odd rounds wait 100 ms before closing: the server has acknowledged the
 * request by then (delayed ACK), so only the missing reply says the
 * connection is busy. */
static void sc_early_close(void)
{
	warm("early-close");
	for (int round = 0; round < 4; round++) {
		int fd = tw_connect();
		int sent = fd >= 0 && send_all(fd, "SLEEP 300\n", 10) == 0;
		if (round % 2)
			usleep(100000);
		check(sent && close(fd) == 0,
		      "early-close: round %d: SLEEP 300 sent, closed %s without reading", round,
		      round % 2 ? "100 ms later" : "at once");
		run_cycles("early-close: right after", M_ECHO, n_cycles);
	}
}

static void sc_partial_read(void)
{
	warm("partial-read");
	for (int round = 0; round < 3; round++) {
		char buf[100];
		size_t got = 0;
		int fd = tw_connect();
		if (fd >= 0 && send_all(fd, "BIG 1000000\n", 12) == 0)
			while (got < sizeof(buf) && wait_fd(fd, POLLIN, WAIT_MS) > 0) {
				ssize_t r = read(fd, buf + got, sizeof(buf) - got);
				if (r <= 0)
					break;
				got += (size_t)r;
			}
		check(got == sizeof(buf) && buf[0] == 'x',
		      "partial-read: round %d: read 100 of 1000000 bytes", round);
		check(fd >= 0 && close(fd) == 0, "partial-read: round %d: closed mid-reply", round);
		run_cycles("partial-read: right after", M_ECHO, n_cycles);
	}
}

/* Reads exactly one line, byte by byte, leaving what follows unread. */
static int read_exact_line(int fd, char *line, size_t cap)
{
	size_t len = 0;
	while (len < cap - 1) {
		if (wait_fd(fd, POLLIN, WAIT_MS) <= 0 || read(fd, line + len, 1) != 1)
			return -1;
		if (line[len] == '\n') {
			line[len] = '\0';
			return (int)len;
		}
		len++;
	}
	return -1;
}

static void sc_pipelined(void)
{
	struct tally t = { 0 };
	warm("pipelined");
	for (int round = 0; round < 20; round++) {
		char a1[64], a2[64], req[160], line[LINE_CAP];
		unsigned long k = atomic_fetch_add(&seq, 1);
		snprintf(a1, sizeof(a1), "a1-%d-%lu", (int)getpid(), k);
		snprintf(a2, sizeof(a2), "a2-%d-%lu", (int)getpid(), k);
		snprintf(req, sizeof(req), "ECHO %s\nECHO %s\n", a1, a2);
		int fd = tw_connect();
		int ok = fd >= 0 && send_all(fd, req, strlen(req)) == 0 &&
			 read_exact_line(fd, line, sizeof(line)) >= 0 && !strcmp(line, a1);
		check(ok, "pipelined: round %d: two requests in one write, first reply read",
		      round);
		if (fd >= 0)
			close(fd);
		run_into(&t, M_ECHO, "pipelined", 5);
	}
	tally_report("pipelined: cycles right after each", &t, 100);
	run_cycles("pipelined: after", M_ECHO, n_cycles);
}

const struct scenario hazards_shutdown[] = {
	{ "shutdown-wr", sc_shutdown_wr }, { "shutdown-rdwr", sc_shutdown_rdwr },
	{ "early-close", sc_early_close }, { "partial-read", sc_partial_read },
	{ "pipelined", sc_pipelined },     { NULL, NULL },
};
