/* The connection broker (TWPOOL_BROKER, build/twpool-broker): bash loops
 * of redis-cli, each run one short-lived process, judged by what
 * redis-server counted and the TIME_WAIT sockets the kernel holds; the
 * broker's faults (SIGKILL mid-loop, a stale socket file, another user's
 * broker) and its refusals, spoken to over its own protocol. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#define TWP_BROKER_DAEMON
#include "broker.h"

#define fmt h_fmt

static struct h_server srv;
static char *sock_path; /* this test's broker socket */

static void up(void)
{
	h_redis_start(&srv, NULL);
	sock_path = h_tmp("broker.sock");
}

/* The broker's pid, from the lock file beside its socket; 0 if none. */
static pid_t broker_pid(void)
{
	char *s = h_slurp(fmt("%s.lock", sock_path));
	pid_t pid = s ? (pid_t)atol(s) : 0;
	free(s);
	return pid > 0 && kill(pid, 0) == 0 ? pid : 0;
}

static void kill_broker(int sig)
{
	pid_t pid = broker_pid();
	if (pid)
		kill(pid, sig);
	for (int i = 0; i < 200 && pid && kill(pid, 0) == 0; i++)
		usleep(10000);
}

static void down(void)
{
	if (sock_path)
		kill_broker(SIGTERM);
	h_server_stop(&srv);
}

TestSuite(broker, .init = up, .fini = down, .timeout = 300);

/* Runs `redis-cli GET k` n times in one bash loop, each a new process
 * under the shim (with the broker when broker is set); kill_at > 0: the
 * broker is SIGKILLed after that run. Returns the errors counted: a
 * failed run or a wrong answer. */
static long loop(int n, int broker, int kill_at, const char *as_user)
{
	char *script = fmt("e=0; for i in $(seq %d); do r=$(%sredis-cli -p %d GET k) || r=x;"
			   " [ \"$r\" = 1 ] || e=$((e+1));"
			   " [ $i = %d ] && kill -9 $(cat %s.lock);"
			   " done; echo errors $e", n, as_user ? as_user : "", srv.port, kill_at,
			   sock_path);
	char *argv[] = { "bash", "-c", script, NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port),
			fmt("TWPOOL_LOG_FILE=%s", h_tmp("shim.log")),
			broker ? fmt("TWPOOL_BROKER=%s", sock_path) : NULL, NULL };
	struct h_run r;
	long errors = -1;
	h_run(&r, argv, env, 1, 280);
	cr_assert_eq(r.status, 0, "the loop failed (status %d): %s", r.status, r.err);
	cr_assert_eq(sscanf(r.out, "errors %ld", &errors), 1, "no error count in: %s", r.out);
	h_run_free(&r);
	return errors;
}

/* Runs that found the broker too slow to answer (a loaded machine) and
 * connected directly, as documented: one line each in the shim's log. */
static int timeouts(void)
{
	char *text = h_slurp(h_tmp("shim.log")), *p = text;
	int n = 0;
	while (p && (p = strstr(p, "no answer from"))) {
		n++;
		p++;
	}
	free(text);
	return n;
}

static void set_key(void)
{
	cr_assert_eq(h_redis_cmd_int(&srv, "INCR k"), 1, "the key k was not fresh");
}

Test(broker, one_shot_loop_reuses_across_processes)
{
	set_key();
	long errors = loop(300, 1, 0, NULL);
	long conns = h_redis_info(&srv, "total_connections_received");
	int tw = h_timewait(srv.port), late = timeouts();
	cr_expect_eq(errors, 0, "%ld of 300 runs failed", errors);
	cr_expect_leq(late, 15, "%d of 300 runs found the broker too slow", late);
	cr_expect_leq(conns, 3 + late, "300 one-shot runs made %ld server connections (%d slow answers)",
		      conns, late);
	/* A slow answer's direct connection goes to the broker at exit as a
	 * second idle one, which ends at the idle timeout: one TIME_WAIT. */
	cr_expect_leq(tw, 3 + late, "%d client TIME_WAIT sockets after 300 runs (%d slow answers)",
		      tw, late);
	cr_expect_neq(broker_pid(), 0, "no broker was started on demand");
}

/* The control: the same loop without a broker pays one connection, and
 * one TIME_WAIT, per run. */
Test(broker, without_broker_each_run_connects)
{
	set_key();
	long errors = loop(30, 0, 0, NULL);
	cr_expect_eq(errors, 0);
	cr_expect_eq(h_redis_info(&srv, "total_connections_received"), 30);
	cr_expect_geq(h_timewait(srv.port), 30);
	cr_expect_eq(broker_pid(), 0, "a broker was started though TWPOOL_BROKER is unset");
}

/* SIGKILL mid-loop leaves a stale socket file; the next run finds it
 * refused, starts another broker (which takes the lock and replaces the
 * file) and connects directly. Only reuse is lost. */
Test(broker, killed_broker_costs_only_reuse)
{
	set_key();
	long errors = loop(100, 1, 50, NULL);
	long conns = h_redis_info(&srv, "total_connections_received");
	cr_expect_eq(errors, 0, "%ld runs failed around the broker's death", errors);
	cr_expect_leq(conns, 6, "%ld server connections: no reuse after the kill", conns);
	cr_expect_neq(broker_pid(), 0, "no broker was started again after the kill");
}

/* A socket file nobody listens on, as left by a crash. */
Test(broker, stale_socket_file_is_replaced)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	close(s);
	set_key();
	long errors = loop(30, 1, 0, NULL);
	long conns = h_redis_info(&srv, "total_connections_received");
	cr_expect_eq(errors, 0);
	cr_expect_leq(conns, 3, "%ld server connections with a stale socket file", conns);
}

/* argv (argv[0] looked up in PATH), stderr in broker.log; returns the
 * log's path once sock_path exists. */
static char *spawn_logged(char *const argv[], pid_t *pid)
{
	char *log = h_tmp("broker.log");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	cr_assert_eq(posix_spawnp(pid, argv[0], &fa, NULL, argv, (char *[]){ NULL }), 0);
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 500 && access(sock_path, F_OK) < 0; i++)
		usleep(10000);
	cr_assert_eq(access(sock_path, F_OK), 0, "%s did not listen on %s", argv[0], sock_path);
	return log;
}

/* build/twpool-broker --socket sock_path, its stderr in a file. Idle
 * connections are kept for minutes: slow (sanitized) programs between a
 * give and a take must not turn a test of something else into one of the
 * idle timeout. */
static char *start_broker(void)
{
	char *argv[] = { fmt("%s/twpool-broker", h_build()), "--socket", sock_path, "--linger",
			 "60", "--idle-timeout-ms", "600000", "--verbose", NULL };
	pid_t pid;
	return spawn_logged(argv, &pid);
}

/* Root's broker, reachable by everyone (socket 0666): nobody's runs get
 * none of root's connections, and root's connection is still there. */
Test(broker, lends_nothing_across_users)
{
	char *log = start_broker();
	cr_assert_eq(chmod(h_tmp(""), 0755), 0);
	cr_assert_eq(chmod(sock_path, 0666), 0);
	set_key();
	cr_assert_eq(loop(3, 1, 0, NULL), 0);
	long before = h_redis_info(&srv, "total_connections_received");
	cr_assert_leq(before, 1, "root's runs made %ld connections", before);
	cr_assert_eq(loop(10, 1, 0, "setpriv --reuid=nobody --regid=nogroup --clear-groups "), 0);
	long after = h_redis_info(&srv, "total_connections_received");
	cr_expect_eq(after - before, 10, "nobody's 10 runs made %ld connections, not 10",
		     after - before);
	cr_assert_eq(loop(1, 1, 0, NULL), 0);
	cr_expect_eq(h_redis_info(&srv, "total_connections_received"), after,
		     "root's connection was not kept for root");
	char *text = h_slurp(log);
	cr_expect(text && strstr(text, "refused a client of uid 65534"), "broker log: %s", text);
}

/* One message to the broker, fd attached when >= 0, from a process that
 * says it is in this network namespace (or, with other_ns, another one);
 * the fd lent in reply to a GET, or -1. */
static int exchange(int b, uint16_t op, int fd, int other_ns)
{
	struct stat st;
	struct twp_bmsg m = { .magic = TWP_BMSG_MAGIC, .op = op, .family = AF_INET };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = fd >= 0 ? sizeof(cbuf) : 0 };
	m.key.family = AF_INET; /* IPv4 keys hold ::ffff:a.b.c.d (shim/key.h) */
	m.key.port = in.sin_port;
	memcpy(m.key.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
	memcpy(m.key.addr + 12, &in.sin_addr, 4);
	cr_assert_eq(stat("/proc/self/ns/net", &st), 0);
	m.netns = st.st_ino + (other_ns ? 1 : 0);
	if (fd >= 0) {
		struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	cr_assert_eq(sendmsg(b, &h, 0), (ssize_t)sizeof(m), "sendmsg: %s", strerror(errno));
	if (op != TWP_BOP_GET)
		return -1;
	h.msg_controllen = sizeof(cbuf);
	struct pollfd p = { .fd = b, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1, "no reply to GET");
	cr_assert_eq(recvmsg(b, &h, 0), (ssize_t)sizeof(m));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
	if (m.op != TWP_BOP_FD || !cm)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static int broker_conn(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	int b = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	cr_assert_eq(connect(b, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
	return b;
}

/* A real connection to the test's redis-server. */
static int redis_socket(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(s, (struct sockaddr *)&in, sizeof(in)), 0, "connect: %s", strerror(errno));
	return s;
}

/* 127.0.0.1 in another network namespace is another host: a connection
 * is neither taken from one nor lent to one. */
Test(broker, keeps_network_namespaces_apart)
{
	char *log = start_broker();
	int b = broker_conn(), s = redis_socket();
	exchange(b, TWP_BOP_PUT, s, 1);
	close(s);
	cr_expect_eq(exchange(b, TWP_BOP_GET, -1, 0), -1, "a connection of another namespace was lent");
	s = redis_socket();
	exchange(b, TWP_BOP_PUT, s, 0);
	close(s);
	cr_expect_eq(exchange(b, TWP_BOP_GET, -1, 1), -1, "a connection was lent to another namespace");
	int got = exchange(b, TWP_BOP_GET, -1, 0);
	cr_expect_geq(got, 0, "the connection of this namespace was not kept; broker log: %s",
		      h_slurp(log));
	close(got);
	close(b);
}

/* A pipe filed under the target's key is refused; a real connection to
 * it, filed the same way, comes back (the refusal is not a broken path). */
Test(broker, refuses_what_is_not_a_connection)
{
	char *log = start_broker();
	int p[2], b = broker_conn();
	cr_assert_eq(pipe(p), 0);
	exchange(b, TWP_BOP_PUT, p[0], 0);
	close(p[0]);
	cr_expect_eq(exchange(b, TWP_BOP_GET, -1, 0), -1, "the broker lent a pipe as a connection");
	int s = redis_socket();
	exchange(b, TWP_BOP_PUT, s, 0);
	close(s);
	int got = exchange(b, TWP_BOP_GET, -1, 0);
	cr_expect_geq(got, 0, "the broker did not lend back a real connection; broker log: %s",
		      h_slurp(log));
	close(got);
	close(b);
	char *text = h_slurp(log);
	cr_expect(text && strstr(text, "not a socket"), "broker log: %s", text);
}

/* TWPOOL_MAX_IDLE=1 and 8 threads: the connections the pool overflows with
 * go to the broker instead of closing, and come back to the next misses.
 * The control run, without a broker, closes them (TIME_WAIT). */
static int overflow_run(int broker)
{
	struct h_server tw = { 0 };
	h_twserver_start(&tw, NULL);
	char *argv[] = { fmt("%s/twpool-client", h_build()), "-p", fmt("%d", tw.port), "-t", "8",
			 "-n", "100", "-q", NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", tw.port), "TWPOOL_MAX_IDLE=1",
			broker ? fmt("TWPOOL_BROKER=%s", sock_path) : NULL, NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 120);
	cr_assert_eq(r.status, 0, "twpool-client failed: %s%s", r.out, r.err);
	h_run_free(&r);
	int tw_count = h_timewait(tw.port);
	h_server_stop(&tw);
	return tw_count;
}

Test(broker, overflow_goes_to_the_broker)
{
	start_broker();
	int without = overflow_run(0), with = overflow_run(1);
	cr_expect_gt(without, 0, "the control run overflowed nothing (no TIME_WAIT)");
	cr_expect_eq(with, 0, "%d TIME_WAIT with the broker (%d without)", with, without);
}

/* Python under the shim, one process per script; codec: "" or "/redis". */
static void py_run_codec(const char *codec, const char *script)
{
	char *argv[] = { "python3", "-c", (char *)script, NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d%s", srv.port, codec),
			fmt("TWPOOL_BROKER=%s", sock_path), NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 60);
	cr_assert_eq(r.status, 0, "python failed: %s%s", r.out, r.err);
	cr_assert_str_eq(r.out, "ok\n", "%s%s", r.out, r.err);
	h_run_free(&r);
}

static void py_run(const char *script)
{
	py_run_codec("", script);
}

#define PY_CONNECT \
	"import socket, struct\n" \
	"s = socket.socket()\n"
#define PY_PING(port) fmt("s.connect(('127.0.0.1', %d))\n" \
	"s.sendall(b'PING\\r\\n')\n" \
	"assert s.recv(100) == b'+PONG\\r\\n'\n", port)

/* One program's socket options do not travel with its connection to the
 * next program: the broker gets it with the kernel's defaults back. */
Test(broker, options_stay_with_their_program)
{
	start_broker();
	py_run(fmt(PY_CONNECT "s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
		   "s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 5, 0))\n"
		   "%sprint('ok')\n", PY_PING(srv.port)));
	py_run(fmt(PY_CONNECT "%s"
		   "assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0, 'TCP_NODELAY leaked'\n"
		   "assert s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16) == bytes(16), 'SO_RCVTIMEO leaked'\n"
		   "print('ok')\n", PY_PING(srv.port)));
	cr_expect_eq(h_redis_info(&srv, "total_connections_received"), 1,
		     "the second program did not reuse the first one's connection");
}

/* A program that switched database and exited: its connection goes to the
 * broker only once the reset written at park has been answered, so the
 * next program, through the broker, reuses it and is in database 0. */
Test(broker, tainted_connection_is_reset_before_lending)
{
	start_broker();
	cr_assert_eq(h_redis_cmd_int(&srv, "INCR k"), 1);
	py_run_codec("/redis", fmt(PY_CONNECT "s.connect(('127.0.0.1', %d))\n"
		   "s.sendall(b'SELECT 1\\r\\nSET k db1\\r\\n')\n"
		   "b = b''\n"
		   "while b.count(b'\\r\\n') < 2: b += s.recv(100)\n"
		   "assert b == b'+OK\\r\\n+OK\\r\\n', b\n"
		   "print('ok')\n", srv.port));
	py_run_codec("/redis", fmt(PY_CONNECT "s.connect(('127.0.0.1', %d))\n"
		   "s.sendall(b'GET k\\r\\n')\n"
		   "b = s.recv(100)\n"
		   "assert b == b'$1\\r\\n1\\r\\n', 'not database 0: %%r' %% b\n"
		   "print('ok')\n", srv.port));
	cr_expect_eq(h_redis_info(&srv, "total_connections_received"), 1,
		     "the tainted connection was closed, not reset and lent");
}

/* A connection found clean by one protocol's rules is lent only to a
 * program of the same protocol: raw rules let a SELECT pass, and a /redis
 * program that took that connection was in database 1. */
Test(broker, lends_only_under_the_same_protocol)
{
	start_broker();
	cr_assert_eq(h_redis_cmd_int(&srv, "INCR k"), 1);
	py_run_codec("/raw", fmt(PY_CONNECT "s.connect(('127.0.0.1', %d))\n"
		   "s.sendall(b'SELECT 1\\r\\nSET k db1\\r\\n')\n"
		   "b = b''\n"
		   "while b.count(b'\\r\\n') < 2: b += s.recv(100)\n"
		   "print('ok')\n", srv.port));
	py_run_codec("/redis", fmt(PY_CONNECT "s.connect(('127.0.0.1', %d))\n"
		   "s.sendall(b'GET k\\r\\n')\n"
		   "b = s.recv(100)\n"
		   "assert b == b'$1\\r\\n1\\r\\n', 'not database 0: %%r' %% b\n"
		   "print('ok')\n", srv.port));
	cr_expect_eq(h_redis_info(&srv, "total_connections_received"), 2,
		     "the /redis program was lent the /raw program's connection");
}

/* Socket activation (the shipped twpool-broker.socket): the broker serves
 * the socket it was passed, and leaves it where it is (same inode). */
Test(broker, serves_the_socket_systemd_passes)
{
	struct stat before, after;
	char *argv[] = { "systemd-socket-activate", "--seqpacket", "-l", sock_path,
			 fmt("%s/twpool-broker", h_build()), "--socket", sock_path, "--verbose", NULL };
	pid_t pid;
	char *log = spawn_logged(argv, &pid);
	cr_assert_eq(stat(sock_path, &before), 0);
	h_write_file(fmt("%s.lock", sock_path), fmt("%d\n", (int)pid)); /* for down() */
	set_key();
	cr_expect_eq(loop(30, 1, 0, NULL), 0);
	long conns = h_redis_info(&srv, "total_connections_received");
	int late = timeouts();
	cr_expect_leq(conns, 3 + late, "30 runs made %ld connections (%d slow answers)", conns, late);
	cr_assert_eq(stat(sock_path, &after), 0, "the socket file is gone");
	cr_expect_eq(after.st_ino, before.st_ino, "the broker replaced systemd's socket with its own");
	char *text = h_slurp(log);
	cr_expect(text && strstr(text, "socket from systemd"), "broker log: %s", text);
}
