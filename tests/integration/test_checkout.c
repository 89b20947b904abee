/* The reuse path's cost: what a pooled connection's next user costs the
 * kernel, judged by the kernel's own view of the program's sockets
 * (/proc/self/fd and fdinfo, read without a call on the fd) and by the
 * server. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#define fmt h_fmt
#define N_CYCLES 60

static struct h_server srv;

static void redis_up(void) { h_redis_start(&srv, NULL); }
static void down(void) { h_server_stop(&srv); }

/* Each cycle: socket(), FIONBIO on (Python's setblocking(False)), and on
 * odd cycles off again, before connect; PING, PONG, close. It counts the
 * cycles whose new socket was already the previous cycle's connected
 * socket (the same inode in /proc/self/fd, read without a call on the fd:
 * no socket made, nothing swapped in), and the cycles where the kernel's
 * O_NONBLOCK (fdinfo flags) after connect is not what the program last
 * asked for. */
static const char client[] =
	"import os, select, socket, sys\n"
	"port, n = int(sys.argv[1]), int(sys.argv[2])\n"
	"def inode(fd):\n"
	"    return os.readlink('/proc/self/fd/%d' % fd)\n"
	"def kernel_nonblock(fd):\n"
	"    for line in open('/proc/self/fdinfo/%d' % fd):\n"
	"        if line.startswith('flags:'):\n"
	"            return bool(int(line.split()[1], 8) & os.O_NONBLOCK)\n"
	"same = wrong_flags = errors = 0\n"
	"last = None\n"
	"for i in range(n):\n"
	"    s = socket.socket()\n"
	"    s.setblocking(False)\n"
	"    if i % 2:\n"
	"        s.setblocking(True)\n"
	"    same += inode(s.fileno()) == last\n"
	"    err = s.connect_ex(('127.0.0.1', port))\n"
	"    if err not in (0, 115):\n"
	"        errors += 1; s.close(); continue\n"
	"    select.select([], [s], [], 5)\n"
	"    wrong_flags += kernel_nonblock(s.fileno()) != (i % 2 == 0)\n"
	"    s.setblocking(True)\n"
	"    s.sendall(b'PING\\r\\n')\n"
	"    errors += s.recv(64) != b'+PONG\\r\\n'\n"
	"    last = inode(s.fileno())\n"
	"    s.close()\n"
	"print('same %d wrong_flags %d errors %d' % (same, wrong_flags, errors))\n";

Test(checkout, fionbio_before_connect_keeps_the_socket_in_place, .init = redis_up, .fini = down,
     .timeout = 90)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), NULL };
	char *argv[] = { "python3", "-c", (char *)client, fmt("%d", srv.port),
			 fmt("%d", N_CYCLES), NULL };
	long before = h_redis_info(&srv, "total_connections_received");
	struct h_run r;
	h_run(&r, argv, env, 1, 60);
	cr_assert_not(r.timed_out, "client timed out; stderr:\n%s", r.err);
	int same = -1, wrong = -1, errors = -1;
	cr_assert_eq(sscanf(r.out, "same %d wrong_flags %d errors %d", &same, &wrong, &errors), 3,
		     "no result line; stdout:\n%s\nstderr:\n%s", r.out, r.err);
	cr_expect_eq(errors, 0, "%d cycles failed; stderr:\n%s", errors, r.err);
	cr_expect_eq(wrong, 0, "%d cycles: the kernel's O_NONBLOCK after connect is not what the "
		     "program asked for", wrong);
	cr_expect_geq(same, N_CYCLES - 2, "only %d of %d sockets were the pooled socket itself: "
		      "the rest were made, swapped and closed for every use", same, N_CYCLES);
	long accepted = h_redis_info(&srv, "total_connections_received") - before;
	cr_expect_leq(accepted, 2, "redis accepted %ld connections for %d cycles", accepted, N_CYCLES);
	h_run_free(&r);
}
