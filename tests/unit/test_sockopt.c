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
	cr_assert_eq(opts->n, 1, "%s: one option recorded, got %d", oc->what, opts->n);
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
	{ SOL_SOCKET, SO_OOBINLINE }, { SOL_SOCKET, SO_PRIORITY }, { SOL_SOCKET, SO_RCVLOWAT },
	{ SOL_SOCKET, SO_DONTROUTE }, { IPPROTO_TCP, TCP_NODELAY }, { IPPROTO_TCP, TCP_KEEPIDLE },
	{ IPPROTO_TCP, TCP_KEEPINTVL }, { IPPROTO_TCP, TCP_KEEPCNT }, { IPPROTO_TCP, TCP_USER_TIMEOUT },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT }, { IPPROTO_IP, IP_TOS }, { IPPROTO_IP, IP_TTL },
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
