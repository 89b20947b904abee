/* close.c - every way a socket gets closed: bulk closes (closefrom,
 * close_range, a daemon's close loop), the raw system call, fclose, and
 * closing twice. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Closes every fd in [from, to); counts the closes that succeeded on the
 * program's own fds and on sockets it never had (the shim's: must be 0). */
static void close_each(int from, int to, int held, int *ours, int *theirs)
{
	for (int fd = from; fd < to; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		int sock = fd != held && !(fd < FD_SCAN && inherited[fd]) && is_socket_fd(fd);
		if (close(fd) == 0) {
			*ours += !sock;
			*theirs += sock;
		}
	}
}

/* for (fd = 3; fd < 1024; fd++) close(fd), as daemons do, then the same up
 * to the fd limit (where the shim's private fds may live), as daemons that
 * ask sysconf(_SC_OPEN_MAX) do. */
static void close_loop(int held)
{
	int ours = 0, theirs = 0, high = getdtablesize();
	close_each(3, 1024, held, &ours, &theirs);
	note("close-loop: %d closes below 1024 succeeded on the program's fds", ours);
	check(theirs == 0,
	      "close-loop: close() of the shim's private fds below 1024 said EBADF (%d succeeded)",
	      theirs);
	ours = theirs = 0;
	close_each(1024, high < (1 << 20) ? high : (1 << 20), held, &ours, &theirs);
	check(theirs == 0,
	      "close-loop: close() of the shim's private fds up to %d said EBADF (%d succeeded)",
	      high, theirs);
}

/* Another fd for held's socket (the shim's spare for a connection in
 * use), or -1. */
static int twin_fd(int held)
{
	unsigned long ino = socket_inode(held);
	int high = getdtablesize();
	for (int fd = 0; ino && fd < high && fd < (1 << 20); fd++)
		if (fd != held && fcntl(fd, F_GETFD) >= 0 && socket_inode(fd) == ino)
			return fd;
	return -1;
}

static void bulk_close_now(const char *how, int held)
{
	if (!strcmp(how, "closefrom"))
		closefrom(3);
	else if (!strcmp(how, "close-range"))
		check(close_range(3, ~0U, 0) == 0, "close-range: close_range(3, ~0U, 0): %s",
		      strerror(errno));
	else
		close_loop(held);
}

/* A file opened after the bulk close: at fd lowest, or (lowest -1) where
 * it lands, for after a close loop, where parked fds may sit lower. */
static void file_at_lowest(const char *how, int held, int lowest)
{
	char b;
	int f = open("/dev/null", O_RDWR);
	if (lowest < 0)
		lowest = f;
	/* Every number from 3 up is free after the bulk close: the lowest is
	 * the next one handed out (the held connection's was 3 without the
	 * shim; with it, idle connections parked in place may sit lower). */
	check(f == lowest, "%s: a file opened after it gets fd %d, the lowest (%d; held was %d)",
	      how, lowest, f, held);
	check(write(f, "x", 1) == 1 && read(f, &b, 1) == 0 && close(f) == 0,
	      "%s: the file at fd %d written, read and closed", how, f);
}

/* A pipe out of the way of the numbers under test (at 900 and up). */
static int pipe_high(int p[2])
{
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		int high = fcntl(p[i], F_DUPFD_CLOEXEC, 900);
		close(p[i]);
		p[i] = high;
	}
	return 0;
}

/* The program reuses the numbers the bulk close freed: a file where the
 * held connection was (used, then closed), a pipe's write end where the
 * shim's fds were. The read end, or -1; w[] gets the write ends placed. */
static int reuse_numbers(const char *how, int held, const int *nums, int w[2])
{
	static const int none[2] = { -1, -1 };
	int p[2];
	file_at_lowest(how, held, nums ? 3 : -1);
	if (!nums)
		nums = none;
	if (!check(pipe_high(p) == 0, "%s: pipe", how))
		return -1;
	for (int i = 0; i < 2; i++) {
		w[i] = nums[i] >= 0 ? fcntl(p[1], F_DUPFD, nums[i]) : -1;
		if (nums[i] >= 0)
			check(w[i] == nums[i], "%s: a pipe put at fd %d, once the shim's (got %d)",
			      how, nums[i], w[i]);
	}
	close(p[1]);
	return p[0];
}

/* The pipe ends reuse_numbers() placed work after the cycles; all closed. */
static void pipes_still_work(const char *how, const int w[2], int r)
{
	for (int i = 0; i < 2 && r >= 0; i++)
		if (w[i] >= 0) {
			check(pipe_works(w[i], r),
			      "%s: the pipe at fd %d still works after the cycles", how, w[i]);
			close(w[i]);
		}
	if (r >= 0)
		close(r);
}

/* A bulk close takes the program's held connection, the shim's spare fd
 * for it and its idle connections; then the program reuses those numbers
 * and makes connections again. The shim must not touch the reused numbers:
 * its state about them went with the bulk close. */
static void sc_bulk(const char *how)
{
	char label[64];
	int nums[2] = { -1, -1 }, w[2];
	warm_idle(how, 2); /* one to hold, one idle */
	int held = conn_used(how);
	if (held < 0)
		return;
	int n = foreign_sockets(held, &nums[0]);
	nums[1] = twin_fd(held);
	note("%s: %d idle pooled socket(s) before, first at fd %d; the held connection's spare fd: %d",
	     how, n, nums[0], nums[1]);
	bulk_close_now(how, held);
	check(fcntl(held, F_GETFD) < 0 && errno == EBADF, "%s: the held connection's fd is closed",
	      how);
	n = foreign_sockets(-1, NULL);
	/* A loop of close() calls that skips numbers fcntl() calls closed
	 * leaves the connections parked in place (closed, to the program)
	 * where they are; close_range and closefrom take everything. */
	int loop = !strcmp(how, "close-loop");
	check(loop ? n <= 2 : n == 0, "%s: no socket left open but parked ones (%d)", how, n);
	int r = reuse_numbers(how, held, loop ? NULL : nums, w);
	snprintf(label, sizeof(label), "%s: after", how);
	run_cycles(label, M_ECHO, n_cycles);
	run_cycles(label, M_ECHO, n_cycles / 4 + 1); /* pooled again, and reused */
	pipes_still_work(how, w, r);
}

/* ---- close paths ---- */

static void sc_syscall_close(void)
{
	run_cycles("syscall-close: syscall(SYS_close)", M_SYSCALL, n_cycles);
	run_cycles("syscall-close: then close()", M_ECHO, n_cycles);
}

static void sc_fclose(void)
{
	run_cycles("fclose: fdopen/fprintf/fgets/fclose", M_STDIO, n_cycles);
	run_cycles("fclose: then close()", M_ECHO, n_cycles);
}

static void sc_double_close(void)
{
	warm("double-close");
	int fd = conn_used("double-close");
	if (fd < 0)
		return;
	check(close(fd) == 0, "double-close: first close of a clean connection");
	errno = 0;
	int r = close(fd);
	check(r == -1 && errno == EBADF, "double-close: second close fails with EBADF (%d, %s)", r,
	      strerror(errno));
	fd = tw_connect();
	check(fd >= 0 && close(fd) == 0, "double-close: first close of an unused connection");
	errno = 0;
	r = close(fd);
	check(r == -1 && errno == EBADF,
	      "double-close: second close of it fails with EBADF (%d, %s)", r, strerror(errno));
	run_cycles("double-close: after", M_ECHO, n_cycles);
}

static void sc_closefrom(void)
{
	sc_bulk("closefrom");
}
static void sc_close_range(void)
{
	sc_bulk("close-range");
}
static void sc_close_loop(void)
{
	sc_bulk("close-loop");
}

const struct scenario hazards_close[] = {
	{ "closefrom", sc_closefrom },
	{ "close-range", sc_close_range },
	{ "close-loop", sc_close_loop },
	{ "syscall-close", sc_syscall_close },
	{ "fclose", sc_fclose },
	{ "double-close", sc_double_close },
	{ NULL, NULL },
};
