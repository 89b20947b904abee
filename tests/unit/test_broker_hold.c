/* The broker's table of held connections (cmd/broker_hold.c), with real
 * TCP connections to a listener of the test's own. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../../cmd/broker_int.h"

/* What broker.c defines for the daemon. */
int tb_epoll = -1;
unsigned tb_max_idle = 8;
unsigned tb_idle_timeout_ms = 1000;
int tb_verbose;
void tb_log(const char *fmt, ...) { (void)fmt; }

static int lsn = -1;

static void up(void)
{
	static int inited;
	if (!inited++)
		cr_assert_eq(tb_hold_init(1024, 1000), 0);
	tb_epoll = epoll_create1(EPOLL_CLOEXEC);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	lsn = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(lsn, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lsn, 8), 0);
}

/* An established connection to the listener, and its PUT record. */
static int conn(struct twp_bmsg *m)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	cr_assert_eq(getsockname(lsn, (struct sockaddr *)&a, &l), 0);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(s, (struct sockaddr *)&a, l), 0);
	*m = (struct twp_bmsg){ .magic = TWP_BMSG_MAGIC, .op = TWP_BOP_PUT, .family = AF_INET };
	cr_assert_eq(twp_key_from_sockaddr(&m->key, (struct sockaddr *)&a, l), 0);
	return s;
}

TestSuite(broker_hold, .init = up);

/* The loop stamps a connection after it read the clock for its sweep: a
 * connection parked "later" than the sweep's now is young, not one whose
 * age wrapped to centuries (it was evicted at once, 1 run in ~80). */
Test(broker_hold, parked_after_the_sweeps_clock_is_kept)
{
	struct twp_bmsg m, out;
	int s = conn(&m);
	tb_put(s, &m, 5000);
	cr_assert(tb_is_held(s), "a fit connection was refused");
	tb_sweep(4990);
	cr_expect(tb_is_held(s), "evicted by a sweep that read the clock 10 ms before its park");
	cr_expect_eq(tb_get(&m, &out), s);
	tb_sweep(5000 + tb_idle_timeout_ms);
	cr_expect(!tb_is_held(s), "kept past its idle timeout");
}

Test(broker_hold, lifetime_ends_it)
{
	struct twp_bmsg m;
	int s = conn(&m);
	m.expires_ms = 5100;
	tb_put(s, &m, 5000);
	tb_sweep(5099);
	cr_expect(tb_is_held(s));
	tb_sweep(5100);
	cr_expect(!tb_is_held(s), "kept past its lifetime");
}
