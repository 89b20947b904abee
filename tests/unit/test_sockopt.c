/* test_sockopt.c - recording, undoing and replaying options on real sockets. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sockopt.h"

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0, "socket(AF_INET, SOCK_STREAM): %s", strerror(errno));
	return fd;
}

/* The option's current value, as bytes. */
static socklen_t get_opt(int fd, int level, int name, void *val)
{
	socklen_t len = TWP_OPT_VAL_MAX;
	memset(val, 0, TWP_OPT_VAL_MAX);
	cr_assert_eq(getsockopt(fd, level, name, val, &len), 0, "getsockopt(%d, %d): %s",
		     level, name, strerror(errno));
	return len;
}

struct opt_case {
	char what[24];
	int level, name;
	socklen_t len;
	unsigned char val[TWP_OPT_VAL_MAX];
};

#define INT_VAL(v) { (unsigned char)(v), 0, 0, 0 }

ParameterizedTestParameters(sockopt, round_trip)
{
	static struct opt_case params[] = {
		{ "TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, sizeof(int), INT_VAL(1) },
		{ "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, sizeof(int), INT_VAL(1) },
		{ "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, sizeof(int), INT_VAL(30) },
		{ "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, sizeof(int), INT_VAL(3) },
		{ "SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, sizeof(int), INT_VAL(1) },
		{ "IP_TOS", IPPROTO_IP, IP_TOS, sizeof(int), INT_VAL(0x10) },
		{ "SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, 0, { 0 } },
		{ "SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, 0, { 0 } },
		{ "SO_LINGER", SOL_SOCKET, SO_LINGER, 0, { 0 } },
	};
	/* Struct values: built here to keep the table readable. */
	struct timeval tv = { .tv_sec = 3, .tv_usec = 0 };
	struct linger lg = { .l_onoff = 1, .l_linger = 5 };
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (params[i].name == SO_RCVTIMEO || params[i].name == SO_SNDTIMEO) {
			memcpy(params[i].val, &tv, sizeof(tv));
			params[i].len = sizeof(tv);
		} else if (params[i].name == SO_LINGER) {
			memcpy(params[i].val, &lg, sizeof(lg));
			params[i].len = sizeof(lg);
		}
	}
	return cr_make_param_array(struct opt_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct opt_case *oc, sockopt, round_trip)
{
	int fd = tcp_socket();
	unsigned char before[TWP_OPT_VAL_MAX], now[TWP_OPT_VAL_MAX];
	socklen_t before_len = get_opt(fd, oc->level, oc->name, before);
	cr_assert(memcmp(before, oc->val, oc->len) != 0, "test bug: %s already has the test value", oc->what);

	struct twp_opts *opts = NULL;
	int unpoolable = 0;
	cr_assert_eq(twp_sockopt_set(fd, &opts, oc->level, oc->name, oc->val, oc->len, &unpoolable), 0,
		     "%s: setsockopt through the shim failed: %s", oc->what, strerror(errno));
	cr_assert_eq(unpoolable, 0, "%s can be restored: the fd stays poolable", oc->what);
	cr_assert_not_null(opts, "%s: options allocated on first use", oc->what);
	cr_assert_geq(opts->n, 1, "%s: the option recorded, got %d entries", oc->what, opts->n);
	const struct twp_opt *e = &opts->o[0];
	cr_assert(e->level == oc->level && e->name == oc->name, "%s: level and name recorded", oc->what);
	cr_assert_eq(e->len, oc->len, "%s: value length recorded", oc->what);
	cr_assert_arr_eq(e->val, oc->val, oc->len, "%s: the program's value recorded", oc->what);
	cr_assert_eq(e->orig_len, before_len, "%s: original length %u, expected %u", oc->what, e->orig_len, before_len);
	cr_assert_arr_eq(e->orig, before, before_len, "%s: the value before the program's recorded", oc->what);
	get_opt(fd, oc->level, oc->name, now);
	cr_assert_arr_eq(now, oc->val, oc->len, "%s: the option really set on the socket", oc->what);

	int fd2 = tcp_socket();
	cr_assert_eq(twp_sockopt_replay(fd2, opts), 0, "%s: replay onto a second socket", oc->what);
	get_opt(fd2, oc->level, oc->name, now);
	cr_assert_arr_eq(now, oc->val, oc->len, "%s: replay set the program's value on the second socket", oc->what);

	cr_assert_eq(twp_sockopt_restore(fd, opts), 0, "%s: restore succeeded", oc->what);
	get_opt(fd, oc->level, oc->name, now);
	cr_assert_arr_eq(now, before, before_len, "%s: restore put the original value back", oc->what);
	close(fd);
	close(fd2);
}

Test(sockopt, setting_twice_keeps_the_first_original)
{
	int fd = tcp_socket(), one = 1, zero = 0, unpoolable = 0;
	struct twp_opts *opts = NULL;
	twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one), &unpoolable);
	twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof(zero), &unpoolable);
	twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one), &unpoolable);
	cr_assert_eq(opts->n, 1, "one entry per distinct option, got %d", opts->n);
	cr_assert_eq(*(int *)opts->o[0].orig, 0, "the original is the value before the first set");
	cr_assert_eq(*(int *)opts->o[0].val, 1, "the value is the latest set");
	cr_assert_eq(twp_sockopt_restore(fd, opts), 0, "restore succeeded");
	int v;
	socklen_t len = sizeof(v);
	getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len);
	cr_assert_eq(v, 0, "TCP_NODELAY back to its original 0");
	close(fd);
}

Test(sockopt, several_options_restored_together)
{
	int fd = tcp_socket(), one = 1, unpoolable = 0;
	struct timeval tv = { 7, 0 }, back;
	struct twp_opts *opts = NULL;
	twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one), &unpoolable);
	twp_sockopt_set(fd, &opts, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one), &unpoolable);
	twp_sockopt_set(fd, &opts, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv), &unpoolable);
	cr_assert_eq(unpoolable, 0, "all three can be restored");
	cr_assert_eq(opts->n, 3, "three recorded, got %d", opts->n);
	cr_assert_eq(twp_sockopt_restore(fd, opts), 0, "restore succeeded");
	int v;
	socklen_t len = sizeof(v);
	getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len);
	cr_assert_eq(v, 0, "TCP_NODELAY restored");
	getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len);
	cr_assert_eq(v, 0, "SO_KEEPALIVE restored");
	len = sizeof(back);
	getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &back, &len);
	cr_assert(back.tv_sec == 0 && back.tv_usec == 0, "SO_RCVTIMEO restored to no timeout");
	close(fd);
}

struct ruled_case {
	char what[32];
	int level, name;
	socklen_t len;
	char val[TWP_OPT_VAL_MAX];
};

ParameterizedTestParameters(sockopt, ruled_out)
{
	static struct ruled_case params[] = {
		{ "SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, sizeof(int), { 0, 0, 1, 0 } },
		{ "SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, sizeof(int), { 0, 0, 1, 0 } },
		{ "SO_RCVBUFFORCE", SOL_SOCKET, SO_RCVBUFFORCE, sizeof(int), { 0, 0, 1, 0 } },
		{ "SO_BINDTODEVICE", SOL_SOCKET, SO_BINDTODEVICE, 3, "lo" },
		{ "SO_MARK", SOL_SOCKET, SO_MARK, sizeof(int), { 7 } },
		{ "TCP_ULP", IPPROTO_TCP, TCP_ULP, 4, "tls" },
		{ "TCP_CONGESTION", IPPROTO_TCP, TCP_CONGESTION, 6, "cubic" },
		{ "TCP_FASTOPEN_CONNECT", IPPROTO_TCP, TCP_FASTOPEN_CONNECT, sizeof(int), { 1 } },
		{ "TCP_REPAIR", IPPROTO_TCP, TCP_REPAIR, sizeof(int), { 1 } },
		{ "TCP_SAVE_SYN", IPPROTO_TCP, TCP_SAVE_SYN, sizeof(int), { 1 } },
		{ "IP_TRANSPARENT", IPPROTO_IP, IP_TRANSPARENT, sizeof(int), { 1 } },
		{ "IP_FREEBIND", IPPROTO_IP, IP_FREEBIND, sizeof(int), { 1 } },
		{ "IP_BIND_ADDRESS_NO_PORT", IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, sizeof(int), { 1 } },
		{ "TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG, sizeof(int), { 0, 2 } },
		{ "TCP_WINDOW_CLAMP", IPPROTO_TCP, TCP_WINDOW_CLAMP, sizeof(int), { 0, 2 } },
	};
	return cr_make_param_array(struct ruled_case, params, sizeof(params) / sizeof(params[0]));
}

/* Whether the kernel lets the test set it (privileges, modules) does not
 * matter: asking is enough to rule pooling out. */
ParameterizedTest(struct ruled_case *rc, sockopt, ruled_out)
{
	int fd = tcp_socket(), unpoolable = 0;
	struct twp_opts *opts = NULL;
	twp_sockopt_set(fd, &opts, rc->level, rc->name, rc->val, rc->len, &unpoolable);
	cr_assert_eq(unpoolable, 1, "%s cannot be undone or shapes the connection: fd must be unpoolable", rc->what);
	cr_assert(!opts || opts->n == 0, "%s must not be recorded for replay", rc->what);
	twp_sockopt_restore(fd, opts);
	close(fd);
}

Test(sockopt, value_larger_than_kept_is_unpoolable)
{
	int fd = tcp_socket(), unpoolable = 0;
	int big[(TWP_OPT_VAL_MAX / sizeof(int)) + 1] = { 1 };
	struct twp_opts *opts = NULL;
	twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, big, sizeof(big), &unpoolable);
	cr_assert_eq(unpoolable, 1, "a %zu-byte value cannot be kept: unpoolable", sizeof(big));
	twp_sockopt_restore(fd, opts);
	close(fd);
}

/* Options getsockopt can read on an unconnected TCP socket, each set to
 * the value it already has. */
static const struct { int level, name; } many[] = {
	{ SOL_SOCKET, SO_KEEPALIVE }, { SOL_SOCKET, SO_REUSEADDR }, { SOL_SOCKET, SO_REUSEPORT },
	{ SOL_SOCKET, SO_LINGER }, { SOL_SOCKET, SO_RCVTIMEO }, { SOL_SOCKET, SO_SNDTIMEO },
	{ SOL_SOCKET, SO_OOBINLINE }, { IPPROTO_IP, IP_MTU_DISCOVER }, { SOL_SOCKET, SO_RCVLOWAT },
	{ SOL_SOCKET, SO_DONTROUTE }, { IPPROTO_TCP, TCP_NODELAY }, { IPPROTO_TCP, TCP_KEEPIDLE },
	{ IPPROTO_TCP, TCP_KEEPINTVL }, { IPPROTO_TCP, TCP_KEEPCNT }, { IPPROTO_TCP, TCP_USER_TIMEOUT },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT }, { IPPROTO_IP, IP_RECVTOS }, { IPPROTO_IP, IP_TTL },
	{ IPPROTO_IP, IP_RECVERR },
};

Test(sockopt, more_than_max_options_is_unpoolable)
{
	_Static_assert(sizeof(many) / sizeof(many[0]) > TWP_OPTS_MAX, "need more options than kept");
	int fd = tcp_socket(), unpoolable = 0;
	struct twp_opts *opts = NULL;
	for (int i = 0; i <= TWP_OPTS_MAX; i++) {
		unsigned char v[TWP_OPT_VAL_MAX];
		socklen_t len = get_opt(fd, many[i].level, many[i].name, v);
		cr_assert_eq(twp_sockopt_set(fd, &opts, many[i].level, many[i].name, v, len, &unpoolable), 0,
			     "option #%d (%d/%d) set: %s", i, many[i].level, many[i].name, strerror(errno));
		if (i < TWP_OPTS_MAX)
			cr_assert_eq(unpoolable, 0, "option #%d of %d still fits", i + 1, TWP_OPTS_MAX);
	}
	cr_assert_eq(unpoolable, 1, "option #%d is past TWP_OPTS_MAX: unpoolable", TWP_OPTS_MAX + 1);
	cr_assert_eq(opts->n, TWP_OPTS_MAX, "only TWP_OPTS_MAX kept, got %d", opts->n);
	twp_sockopt_restore(fd, opts);
	close(fd);
}

Test(sockopt, setsockopt_error_returned_with_errno)
{
	int fd = tcp_socket(), unpoolable = 0, zero = 0;
	struct twp_opts *opts = NULL;
	errno = 0;
	int r = twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_KEEPIDLE, &zero, sizeof(zero), &unpoolable);
	cr_assert_eq(r, -1, "TCP_KEEPIDLE 0 is invalid: -1, got %d", r);
	cr_assert_eq(errno, EINVAL, "errno EINVAL from setsockopt, got %s", strerror(errno));
	cr_assert_eq(unpoolable, 0, "a failed set changes nothing: still poolable");
	int fd2 = tcp_socket();
	cr_assert_eq(twp_sockopt_replay(fd2, opts), 0, "the failed value is not replayed");
	twp_sockopt_restore(fd, opts);
	close(fd);
	close(fd2);
}

Test(sockopt, bad_fd_error_returned_with_errno)
{
	int one = 1, unpoolable = 0;
	struct twp_opts *opts = NULL;
	errno = 0;
	int r = twp_sockopt_set(-1, &opts, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one), &unpoolable);
	cr_assert_eq(r, -1, "setsockopt on fd -1 fails");
	cr_assert_eq(errno, EBADF, "errno EBADF, got %s", strerror(errno));
	cr_assert_eq(unpoolable, 1, "the original could not be read: unpoolable");
	free(opts);
}

Test(sockopt, unknown_option_is_unpoolable_and_fails)
{
	int fd = tcp_socket(), one = 1, unpoolable = 0;
	struct twp_opts *opts = NULL;
	errno = 0;
	int r = twp_sockopt_set(fd, &opts, IPPROTO_TCP, 9999, &one, sizeof(one), &unpoolable);
	cr_assert_eq(r, -1, "an unknown option fails");
	cr_assert_eq(errno, ENOPROTOOPT, "errno ENOPROTOOPT from setsockopt, got %s", strerror(errno));
	cr_assert_eq(unpoolable, 1, "an option whose value cannot be read back is unpoolable");
	twp_sockopt_restore(fd, opts);
	close(fd);
}

Test(sockopt, null_value_is_unpoolable_and_fails)
{
	int fd = tcp_socket(), unpoolable = 0;
	struct twp_opts *opts = NULL;
	errno = 0;
	int r = twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, NULL, sizeof(int), &unpoolable);
	cr_assert_eq(r, -1, "a NULL value fails in the kernel");
	cr_assert_eq(errno, EFAULT, "errno EFAULT, got %s", strerror(errno));
	cr_assert_eq(unpoolable, 1, "NULL value: unpoolable");
	twp_sockopt_restore(fd, opts);
	close(fd);
}

Test(sockopt, success_keeps_errno)
{
	int fd = tcp_socket(), one = 1, unpoolable = 0;
	struct twp_opts *opts = NULL;
	errno = EXDEV;
	cr_assert_eq(twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one), &unpoolable), 0,
		     "TCP_NODELAY set");
	cr_assert_eq(errno, EXDEV, "a successful call leaves errno alone, got %s", strerror(errno));
	twp_sockopt_restore(fd, opts);
	close(fd);
}

Test(sockopt, null_opts_replay_and_restore)
{
	int fd = tcp_socket();
	cr_assert_eq(twp_sockopt_replay(fd, NULL), 0, "nothing to replay");
	cr_assert_eq(twp_sockopt_restore(fd, NULL), 0, "nothing to restore");
	close(fd);
}

Test(sockopt, replay_failure_returns_negative_errno)
{
	struct twp_opts *opts = calloc(1, sizeof(*opts));
	cr_assert_not_null(opts, "out of memory");
	opts->n = 1;
	opts->o[0] = (struct twp_opt){ .level = IPPROTO_TCP, .name = TCP_KEEPIDLE, .len = sizeof(int) };
	int fd = tcp_socket();
	cr_assert_eq(twp_sockopt_replay(fd, opts), -EINVAL, "an invalid recorded value: -EINVAL");
	close(fd);
	free(opts);
}

Test(sockopt, restore_failure_returns_negative_errno)
{
	int fd = tcp_socket(), one = 1, unpoolable = 0;
	struct twp_opts *opts = NULL;
	twp_sockopt_set(fd, &opts, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one), &unpoolable);
	close(fd);
	cr_assert_eq(twp_sockopt_restore(fd, opts), -EBADF, "restore on a closed fd: -EBADF");
}

static int read_int(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0, "getsockopt(%d, %d): %s", level, name,
		     strerror(errno));
	return v;
}

static void set_int(int fd, struct twp_opts **opts, int level, int name, int v)
{
	int unpoolable = 0;
	if (opts)
		cr_assert_eq(twp_sockopt_set(fd, opts, level, name, &v, sizeof(v), &unpoolable), 0,
			     "shim set of %d/%d to %d: %s", level, name, v, strerror(errno));
	else
		cr_assert_eq(setsockopt(fd, level, name, &v, sizeof(v)), 0, "set of %d/%d to %d: %s",
			     level, name, v, strerror(errno));
	cr_assert_eq(unpoolable, 0, "%d/%d can be restored: poolable", level, name);
}

/* The default comes from a fresh socket, not from the socket at hand:
 * IP_TOS 0x10 has made this one's SO_PRIORITY 6. */
Test(sockopt, default_is_a_fresh_sockets)
{
	int fd = tcp_socket(), v = 0;
	socklen_t len = sizeof(v);
	setsockopt(fd, IPPROTO_IP, IP_TOS, &(int){ 0x10 }, sizeof(int));
	cr_assert_eq(read_int(fd, SOL_SOCKET, SO_PRIORITY), 6, "test bug: IP_TOS 0x10 maps to priority 6");
	cr_assert_eq(twp_sockopt_default(fd, SOL_SOCKET, SO_PRIORITY, &v, &len), 0, "default read");
	cr_assert_eq(v, 0, "SO_PRIORITY's default is a fresh socket's 0, got %d", v);
	cr_assert_eq(len, sizeof(int), "default length %u", len);
	unsigned char big[TWP_OPT_VAL_MAX];
	cr_assert_eq(twp_sockopt_default(fd, IPPROTO_IPV6, IPV6_TCLASS, big, &len), -ENOPROTOOPT,
		     "an AF_INET socket has no IPV6_TCLASS: -ENOPROTOOPT");
	cr_assert_eq(twp_sockopt_default(-1, SOL_SOCKET, SO_PRIORITY, big, &len), -EBADF, "bad fd: -EBADF");
	close(fd);
}

/* One user's IP_TOS then SO_PRIORITY, put back: the socket reads as a
 * fresh one. With the default read after IP_TOS, priority came back 6. */
Test(sockopt, tos_then_priority_restored_to_fresh)
{
	int fd = tcp_socket();
	struct twp_opts *opts = NULL;
	set_int(fd, &opts, IPPROTO_IP, IP_TOS, 0x10);
	set_int(fd, &opts, SOL_SOCKET, SO_PRIORITY, 3);
	cr_assert_eq(twp_sockopt_restore(fd, opts), 0, "restore succeeded");
	cr_expect_eq(read_int(fd, SOL_SOCKET, SO_PRIORITY), 0, "SO_PRIORITY back to a fresh socket's 0");
	cr_expect_eq(read_int(fd, IPPROTO_IP, IP_TOS), 0, "IP_TOS back to a fresh socket's 0");
	close(fd);
}

/* Before connect, the next user reads an option the last one changed only
 * through another (SO_PRIORITY through IP_TOS) as a fresh socket has it. */
Test(sockopt, coupled_option_reads_default_before_connect)
{
	int fd = tcp_socket(), v = -1;
	socklen_t len = sizeof(v);
	struct twp_opts *opts = NULL;
	set_int(fd, &opts, IPPROTO_IP, IP_TOS, 0x10);
	twp_sockopt_begin_use(opts);
	cr_assert_eq(twp_sockopt_get(opts, SOL_SOCKET, SO_PRIORITY, &v, &len), 1,
		     "SO_PRIORITY answered by the shim, not by the socket (which says 6)");
	cr_expect_eq(v, 0, "SO_PRIORITY reads 0 as on a fresh socket, got %d", v);
	twp_sockopt_restore(fd, opts);
	close(fd);
}

/* A sequence of int sets: level, name, value; name 0 ends it. */
struct set_seq {
	char what[48];
	int a[4][3]; /* the previous user's sets */
	int b[4][3]; /* the next user's sets */
};

#define TOS(v) { IPPROTO_IP, IP_TOS, v }
#define PRIO(v) { SOL_SOCKET, SO_PRIORITY, v }

ParameterizedTestParameters(sockopt, coupled_order)
{
	static struct set_seq params[] = {
		{ "A tos; B nothing", { TOS(0x10) }, { { 0 } } },
		{ "A tos, prio; B nothing", { TOS(0x10), PRIO(3) }, { { 0 } } },
		{ "A prio, tos; B nothing", { PRIO(3), TOS(0x10) }, { { 0 } } },
		{ "A tos, prio; B prio", { TOS(0x10), PRIO(3) }, { PRIO(2) } },
		{ "A tos, prio; B same tos", { TOS(0x10), PRIO(3) }, { TOS(0x10) } },
		{ "A tos, prio; B same prio, same tos", { TOS(0x10), PRIO(3) }, { PRIO(3), TOS(0x10) } },
		{ "A tos; B prio", { TOS(0x10) }, { PRIO(3) } },
		{ "B tos, prio, same tos", { { 0 } }, { TOS(0x10), PRIO(3), TOS(0x10) } },
		{ "A prio; B tos 0", { PRIO(5) }, { TOS(0) } },
	};
	return cr_make_param_array(struct set_seq, params, sizeof(params) / sizeof(params[0]));
}

static void apply(int fd, struct twp_opts **opts, int seq[4][3])
{
	for (int i = 0; i < 4 && seq[i][1]; i++)
		set_int(fd, opts, seq[i][0], seq[i][1], seq[i][2]);
}

/* Options that change each other, set by one user then another: after
 * settle the socket reads what a fresh socket given only the second
 * user's sets reads, and a replay onto a new socket reads the same. */
ParameterizedTest(struct set_seq *sq, sockopt, coupled_order)
{
	int fd = tcp_socket(), fresh = tcp_socket(), again = tcp_socket();
	struct twp_opts *opts = NULL;
	apply(fd, &opts, sq->a);
	twp_sockopt_begin_use(opts);
	apply(fd, &opts, sq->b);
	cr_assert_eq(twp_sockopt_settle(fd, opts), 0, "%s: settle", sq->what);
	apply(fresh, NULL, sq->b);
	cr_assert_eq(twp_sockopt_replay(again, opts), 0, "%s: replay", sq->what);
	for (int i = 0; i < 2; i++) {
		int level = i ? SOL_SOCKET : IPPROTO_IP, name = i ? SO_PRIORITY : IP_TOS;
		int want = read_int(fresh, level, name);
		cr_expect_eq(read_int(fd, level, name), want, "%s: %s reads %d, a fresh socket %d", sq->what,
			     i ? "SO_PRIORITY" : "IP_TOS", read_int(fd, level, name), want);
		cr_expect_eq(read_int(again, level, name), want, "%s: after replay %s reads %d, want %d",
			     sq->what, i ? "SO_PRIORITY" : "IP_TOS", read_int(again, level, name), want);
	}
	twp_sockopt_restore(fd, opts);
	close(fd);
	close(fresh);
	close(again);
}

/* TTL and hop limit go back to -1, following the sysctl as a fresh socket
 * does, not to the number it happened to read. */
Test(sockopt, ttl_restored_to_follow_the_system)
{
	int fd = tcp_socket();
	struct twp_opts *opts = NULL;
	set_int(fd, &opts, IPPROTO_IP, IP_TTL, 9);
	twp_sockopt_begin_use(opts);
	cr_assert_eq(twp_sockopt_settle(fd, opts), 0, "settle");
	cr_expect_eq(*(int *)opts->o[0].val, -1, "IP_TTL put back as -1 (system default), not %d",
		     *(int *)opts->o[0].val);
	cr_expect_eq(read_int(fd, IPPROTO_IP, IP_TTL), *(int *)opts->o[0].orig, "reads the default again");
	twp_sockopt_restore(fd, opts);
	close(fd);
}

/* A large SO_RCVLOWAT grows the receive buffer for good: unpoolable. A
 * small one leaves it alone. */
Test(sockopt, rcvlowat_that_grows_the_buffer_is_unpoolable)
{
	int fd = tcp_socket(), unpoolable = 0, small = 16, large = 1 << 20;
	struct twp_opts *opts = NULL;
	twp_sockopt_set(fd, &opts, SOL_SOCKET, SO_RCVLOWAT, &small, sizeof(small), &unpoolable);
	cr_expect_eq(unpoolable, 0, "SO_RCVLOWAT 16 leaves the buffer alone: poolable");
	int before = read_int(fd, SOL_SOCKET, SO_RCVBUF);
	twp_sockopt_set(fd, &opts, SOL_SOCKET, SO_RCVLOWAT, &large, sizeof(large), &unpoolable);
	cr_assert_neq(read_int(fd, SOL_SOCKET, SO_RCVBUF), before, "test bug: the buffer did not grow");
	cr_expect_eq(unpoolable, 1, "SO_RCVLOWAT 1 MiB grew SO_RCVBUF from %d: unpoolable", before);
	twp_sockopt_restore(fd, opts);
	close(fd);
}

/* What may be set on a pooled connection handed out by socket(): not what
 * rules pooling out, nor SO_RCVLOWAT (it may grow the buffer for good). */
Test(sockopt, reusable_options)
{
	cr_expect(twp_sockopt_reusable(IPPROTO_TCP, TCP_NODELAY), "TCP_NODELAY can be undone");
	cr_expect(twp_sockopt_reusable(IPPROTO_IP, IP_TOS), "IP_TOS can be undone");
	cr_expect_not(twp_sockopt_reusable(SOL_SOCKET, SO_RCVBUF), "SO_RCVBUF cannot be undone");
	cr_expect_not(twp_sockopt_reusable(IPPROTO_TCP, TCP_CONGESTION), "TCP_CONGESTION is ruled out");
	cr_expect_not(twp_sockopt_reusable(SOL_SOCKET, SO_RCVLOWAT), "SO_RCVLOWAT may grow SO_RCVBUF");
}
