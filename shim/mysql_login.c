/* mysql_login.c - a parked MySQL connection's greeting served again, and
 * the next program's login carried to the server as COM_CHANGE_USER. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "clock.h"
#include "codec_mysql.h"
#include "conn.h"
#include "goodbye.h"
#include "log.h"
#include "mysql_login.h"
#include "pool.h"
#include "privfd.h"
#include "real.h"
#include "sockopt.h"
#include "swap.h"

/* Longest a reused connection's login waits for the server's verdict on
 * the COM_CHANGE_USER that carries it (a fresh login would wait as long). */
#define TWP_MYL_WAIT_MS 10000

static const uint8_t quit_packet[] = { 1, 0, 0, 0, 1 };

static size_t total(const struct iovec *iov, int cnt)
{
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

static size_t packet_len(const uint8_t *p)
{
	return 4 + (p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16);
}

static void put_header(uint8_t *p, size_t len, uint8_t seq)
{
	p[0] = (uint8_t)len;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)(len >> 16);
	p[3] = seq;
}

/* Writes p[0..n) to the peer, unless the program closed that number
 * behind the shim's back (it may be another file now). 0, or -1. */
static int to_peer(struct twp_myl *m, const uint8_t *p, size_t n)
{
	struct twp_slot *ps = m->peer >= 0 ? twp_slot(m->peer) : NULL;
	if (!ps || twp_kind(atomic_load(&ps->st)) != TWP_FD_PRIVATE || ps->conn)
		return -1;
	return twp_real.send(m->peer, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n ? 0 : -1;
}

static void drop_peer(struct twp_myl *m)
{
	if (m->peer >= 0)
		twp_privfd_drop(m->peer);
	m->peer = -1;
}

/* Waits until fd is ready for events, or the deadline: 0, or -1. */
static int wait_for(int fd, short events, uint64_t deadline)
{
	uint64_t now = twp_now_ms();
	if (now >= deadline)
		return -1;
	struct pollfd p = { .fd = fd, .events = events };
	int r = TWP_NEXT(poll)(&p, 1, (int)(deadline - now));
	return r < 0 && errno != EINTR ? -1 : 0;
}

static int send_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = twp_real.send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if ((w < 0 && errno != EAGAIN && errno != EINTR) || wait_for(fd, POLLOUT, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t r = twp_real.recv(fd, p, n, MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR) ||
			   wait_for(fd, POLLIN, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

/* One packet from the server into p (header and payload): its payload
 * length, or -1 (none within the deadline, or longer than cap). */
static long recv_packet(int fd, uint8_t *p, size_t cap, uint64_t deadline)
{
	if (recv_all(fd, p, 4, deadline) < 0)
		return -1;
	size_t n = packet_len(p) - 4;
	if (4 + n > cap || recv_all(fd, p + 4, n, deadline) < 0)
		return -1;
	return (long)n;
}

/* The handout failed (a refused login, an answer this shim cannot follow,
 * a login it must not carry): the program reads what the peer holds, then
 * EOF, as from a server that closed; its writes fail; the connection is
 * closed when the program closes. */
static void fail(struct twp_slot *s, struct twp_myl *m, enum twp_reason why)
{
	twp_slot_nopool(s, why);
	drop_peer(m);
	m->phase = TWP_MYL_FAILED;
}

/* The login's OK kept with the login, for the next equal one. */
static void keep_ok(struct twp_myl *m, const uint8_t *pkt, size_t n)
{
	m->accepted_n = 0;
	if (n > sizeof(m->ok))
		return;
	memcpy(m->accepted, m->login, m->login_n);
	m->accepted_n = m->login_n;
	memcpy(m->ok, pkt, n);
	m->ok_n = (uint8_t)n;
}

/* The server's packets of the login exchange, pkt[0..4+got) first, passed
 * to the program through the peer with their sequence numbers moved by
 * m->shift, until the program must answer (an auth switch or more data:
 * phase RELAY) or the server's verdict (OK or ERR: phase ANSWERED).
 * 0, or -1 when the server went quiet or the peer is gone. */
static int relay(struct twp_slot *s, struct twp_conn *c, struct twp_myl *m, uint8_t *pkt,
		 size_t cap, long got, uint64_t deadline)
{
	for (;;) {
		pkt[3] = (uint8_t)(pkt[3] + m->shift);
		if (to_peer(m, pkt, 4 + (size_t)got) < 0)
			return -1;
		if (pkt[4] == 0xff) { /* refused: the program reads the ERR, then EOF */
			fail(s, m, TWP_MY_R_LOGIN);
			return 0;
		}
		if (pkt[4] == 0x00) {
			if (m->shift == (int8_t)-1)
				keep_ok(m, pkt, 4 + (size_t)got);
			m->phase = TWP_MYL_ANSWERED;
			return 0;
		}
		/* caching_sha2_password's fast-auth success: its OK follows. */
		if (!(pkt[4] == 0x01 && got == 2 && pkt[5] == 0x03)) {
			m->phase = TWP_MYL_RELAY;
			m->login_n = 0;
			return 0;
		}
		if ((got = recv_packet(c->fd, pkt, cap, deadline)) < 1)
			return -1;
	}
}

/* The program's login, carried as COM_CHANGE_USER on c. The server's auth
 * switch is answered here when it asks for the login's plugin and the
 * scramble the login answered (the server's later packets reach the
 * program one sequence number earlier); any other is passed to the
 * program, which answers it (one number later). 0, or -1. */
static int exchange(struct twp_slot *s, struct twp_conn *c, struct twp_myl *m)
{
	struct twp_my_login l;
	uint8_t req[4 + TWP_MYL_LOGIN + 16], pkt[1024], scramble[64];
	size_t sn = twp_mysql_scramble(m->greeting + 4, m->greeting_n - 4u, scramble, sizeof(scramble));
	m->accepted_n = 0; /* whatever comes, the session is no longer that login's */
	if (m->login[3] != 1 || !sn ||
	    twp_mysql_login_parse(m->login + 4, m->login_n - 4u, &l) < 0)
		return -1;
	size_t n = twp_mysql_change_user(&l, req + 4, sizeof(req) - 4);
	if (!n || l.auth_len > sizeof(req) - 4)
		return -1;
	put_header(req, n, 0);
	uint64_t deadline = twp_now_ms() + TWP_MYL_WAIT_MS;
	long got;
	if (send_all(c->fd, req, 4 + n, deadline) < 0 ||
	    (got = recv_packet(c->fd, pkt, sizeof(pkt), deadline)) < 1)
		return -1;
	const uint8_t *plugin, *data;
	size_t plen, dlen;
	m->shift = (int8_t)(2 - pkt[3]); /* the program's login was number 1 */
	if (pkt[4] == 0xfe &&
	    twp_mysql_switch_parse(pkt + 4, (size_t)got, &plugin, &plen, &data, &dlen) == 0 &&
	    plen == l.plugin_len && !memcmp(plugin, l.plugin, plen) && dlen == sn &&
	    !memcmp(data, scramble, sn)) {
		put_header(req, l.auth_len, (uint8_t)(pkt[3] + 1));
		memcpy(req + 4, l.auth, l.auth_len);
		m->shift = (int8_t)(2 - (pkt[3] + 2));
		if (send_all(c->fd, req, 4 + l.auth_len, deadline) < 0 ||
		    (got = recv_packet(c->fd, pkt, sizeof(pkt), deadline)) < 1)
			return -1;
	}
	return relay(s, c, m, pkt, sizeof(pkt), got, deadline);
}

/* A fresh connection to c's server, or -1. */
static int dial(const struct twp_conn *c, uint64_t deadline)
{
	int fd = twp_real.socket(c->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 1;
	socklen_t len = sizeof(err);
	uint64_t now = twp_now_ms();
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	if (fd < 0)
		return -1;
	if ((twp_real.connect(fd, (const struct sockaddr *)&c->peer, c->peerlen) == 0 ||
	     (errno == EINPROGRESS && now < deadline &&
	      TWP_NEXT(poll)(&p, 1, (int)(deadline - now)) == 1)) &&
	    twp_real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && !err)
		return fd;
	twp_real.close(fd);
	return -1;
}

/* fd becomes c's socket in place of the pooled one, which is closed. fd is
 * consumed either way. 0, or -1 (c has no socket then). */
static int adopt(struct twp_conn *c, int fd)
{
	twp_privfd_close(c);
	enum twp_reason why = twp_privfd_move(fd, c, 1);
	twp_real.close(fd);
	c->nonblock = 1;
	return why == TWP_R_NONE ? 0 : -1;
}

/* A login the pooled connection cannot carry (other client capabilities:
 * the server keeps the first login's) goes to a fresh connection instead.
 * Its greeting is read here; the login goes to it asking for no plugin and
 * carrying no proof; the server's auth switch, with the fresh scramble, is
 * passed to the program, which answers it (the same sequence numbers). The
 * fresh connection becomes c's. TLS cannot be carried so: -1. */
static int fresh_login(struct twp_slot *s, struct twp_conn *c, struct twp_myl *m)
{
	struct twp_my_login l;
	uint8_t req[4 + TWP_MYL_LOGIN + 32], pkt[1024];
	uint64_t deadline = twp_now_ms() + TWP_MYL_WAIT_MS;
	long got;
	if (twp_mysql_login_parse(m->login + 4, m->login_n - 4u, &l) < 0 ||
	    l.caps & TWP_MY_CLIENT_SSL)
		return -1;
	size_t n = twp_mysql_login_unanswered(&l, m->login + 4, req + 4, sizeof(req) - 4);
	int fd = n ? dial(c, deadline) : -1;
	if (fd < 0)
		return -1;
	put_header(req, n, 1);
	if ((got = recv_packet(fd, pkt, sizeof(pkt), deadline)) < 1 || pkt[3] != 0 ||
	    4 + (size_t)got > sizeof(m->greeting) || send_all(fd, req, 4 + n, deadline) < 0 ||
	    twp_sockopt_replay(fd, c->opts) < 0) {
		twp_real.close(fd);
		return -1;
	}
	if (adopt(c, fd) < 0)
		return -1;
	memcpy(m->greeting, pkt, 4 + (size_t)got);
	m->greeting_n = (uint16_t)(4 + got);
	memcpy(m->caps, m->login + 4, 4);
	memcpy(m->caps + 4, m->login + 4 + 28, 4);
	m->accepted_n = 0;
	m->shift = 0;
	if ((got = recv_packet(c->fd, pkt, sizeof(pkt), deadline)) < 1)
		return -1;
	return relay(s, c, m, pkt, sizeof(pkt), got, deadline);
}

/* The program's answer in a relayed exchange, to the server, and what the
 * server says next, to the program. */
static int relay_answer(struct twp_slot *s, struct twp_conn *c, struct twp_myl *m)
{
	uint8_t pkt[1024];
	uint64_t deadline = twp_now_ms() + TWP_MYL_WAIT_MS;
	long got;
	m->login[3] = (uint8_t)(m->login[3] - m->shift);
	if (send_all(c->fd, m->login, m->login_n, deadline) < 0 ||
	    (got = recv_packet(c->fd, pkt, sizeof(pkt), deadline)) < 1)
		return -1;
	return relay(s, c, m, pkt, sizeof(pkt), got, deadline);
}

/* A packet the program writes during the login (the login itself, or its
 * answer to a relayed auth request), in one or more calls, into
 * m->login: 1 when whole (*r: the bytes taken), 0 when more is to come,
 * -1 when it is too long for this shim (*r -1, errno set). */
static int take_packet(struct twp_slot *s, struct twp_conn *c, struct twp_myl *m,
		       const struct iovec *iov, int cnt, ssize_t *r)
{
	uint8_t buf[TWP_MYL_LOGIN];
	size_t have = m->login_n, got = twp_iov_copy(buf, sizeof(buf) - have, iov, cnt);
	size_t want = sizeof(m->login);
	memcpy(m->login + have, buf, got);
	if (have + got >= 4 && (want = packet_len(m->login)) > sizeof(m->login)) {
		twp_slot_nopool(s, TWP_R_PROTOCOL);
		errno = EPIPE; /* a login this long is not pooled (TWP_MYL_LOGIN) */
		*r = -1;
		return -1;
	}
	size_t took = have + got > want ? want - have : got;
	m->login_n = (uint16_t)(have + took);
	c->codec->bytes(c->codec_state, 1, iov, cnt, took);
	*r = (ssize_t)took;
	return m->login_n >= 4 && m->login_n == want;
}

/* A login equal to the last one the server took here, naming a database:
 * that database is selected again (COM_RESET_CONNECTION keeps a USE, and
 * no scan of query texts sees every way to make one), then the program
 * gets the kept OK (the database's own OK, which may carry session
 * tracking, is read whole and only its kind looked at). 1, or 0 when the
 * server must take the login. */
static int answer_equal(struct twp_conn *c, struct twp_myl *m)
{
	struct twp_my_login l;
	uint8_t req[4 + 1 + 256], pkt[1024];
	uint64_t deadline = twp_now_ms() + TWP_MYL_WAIT_MS;
	if (!m->fast || m->login_n != m->accepted_n || memcmp(m->login, m->accepted, m->login_n) ||
	    twp_mysql_login_parse(m->login + 4, m->login_n - 4u, &l) < 0 || !l.db_len ||
	    l.db_len > sizeof(req) - 5)
		return 0;
	req[4] = 0x02; /* COM_INIT_DB */
	memcpy(req + 5, l.db, l.db_len);
	put_header(req, 1 + l.db_len, 0);
	if (send_all(c->fd, req, 5 + l.db_len, deadline) < 0 ||
	    recv_packet(c->fd, pkt, sizeof(pkt), deadline) < 1 || pkt[3] != 1 || pkt[4] != 0x00)
		return 0;
	return to_peer(m, m->ok, m->ok_n) == 0;
}

/* The login's capabilities are those the connection was made with: the
 * server keeps its first login's (COM_CHANGE_USER cannot change them), and
 * they change what replies look like (FOUND_ROWS, MULTI_STATEMENTS,
 * DEPRECATE_EOF, session tracking, TLS, MariaDB's extended ones). */
static int same_caps(const struct twp_myl *m)
{
	return m->login_n >= 36 && !memcmp(m->login + 4, m->caps, 4) &&
	       !memcmp(m->login + 4 + 28, m->caps + 4, 4);
}

/* The program's login or answer, whole: answered from the kept OK, or
 * through the server. When the server cannot be followed, the program sees
 * its server go away during the handshake. */
static void answer(struct twp_slot *s, struct twp_conn *c, struct twp_myl *m)
{
	int saved = errno, v = 0;
	if (m->phase == TWP_MYL_RELAY)
		v = relay_answer(s, c, m);
	else if (!same_caps(m))
		v = fresh_login(s, c, m) < 0 ? -2 : 0;
	else if (answer_equal(c, m))
		m->phase = TWP_MYL_ANSWERED;
	else
		v = exchange(s, c, m);
	if (v == -2 && !atomic_exchange(&c->target->mysql_mixed, 1))
		twp_log(TWP_LOG_WARN, "%s: a login (TLS) that neither the pooled connection nor a "
			"fresh one can carry; no MySQL connection to it is handed out again, and this "
			"one is closed", c->target->label);
	else if (v < 0)
		twp_log(TWP_LOG_WARN, "%s: the server's answer to a pooled connection's login "
			"could not be followed; this connection is closed", c->target->label);
	if (v < 0)
		fail(s, m, TWP_R_PROTOCOL);
	errno = saved;
}

/* The real connection takes the stand-in's place under fd, once the
 * program has read all the stand-in holds (a program that writes its login
 * and a command at once is not followed: its command fails). */
static int go_live(int fd, struct twp_slot *s, struct twp_conn *c, struct twp_myl *m)
{
	uint32_t fl = twp_fd_flags(fd, atomic_load(&s->st));
	int unread = -1;
	if (!fl || twp_real.ioctl(fd, FIONREAD, &unread) < 0 || unread != 0 ||
	    twp_swap(fd, c->fd, c->nonblock, fl, s->ep, NULL) < 0)
		return -1;
	c->nonblock = !!(fl & TWP_S_NONBLOCK);
	drop_peer(m);
	m->phase = TWP_MYL_LIVE;
	return 0;
}

/* A first use's login: parked later only when COM_CHANGE_USER can carry
 * the next one like it (protocol 4.1 with plugin auth, all in one write). */
static void check_own_login(struct twp_slot *s, struct twp_myl *m, const struct iovec *iov, int cnt)
{
	uint8_t buf[TWP_MYL_LOGIN], cu[TWP_MYL_LOGIN + 16];
	size_t got = twp_iov_copy(buf, sizeof(buf), iov, cnt);
	struct twp_my_login l;
	if (m->greeting_n < 4 || m->greeting_n != packet_len(m->greeting) || got < 36 ||
	    packet_len(buf) != got || buf[3] != 1 || twp_mysql_login_parse(buf + 4, got - 4, &l) < 0 ||
	    !l.plugin || !twp_mysql_change_user(&l, cu, sizeof(cu))) {
		twp_slot_nopool(s, TWP_R_PROTOCOL);
		return;
	}
	memcpy(m->caps, buf + 4, 4);
	memcpy(m->caps + 4, buf + 4 + 28, 4);
}

static int keep_quit(struct twp_slot *s, struct twp_conn *c, struct twp_myl *m,
		     const struct iovec *iov, int cnt, size_t len, ssize_t *r)
{
	uint8_t b[sizeof(quit_packet)];
	if (len != sizeof(b) || atomic_load(&s->st) & TWP_S_NOPOOL ||
	    twp_iov_copy(b, sizeof(b), iov, cnt) != sizeof(b) || memcmp(b, quit_packet, sizeof(b)) ||
	    !twp_mysql_between(c->codec_state))
		return 0;
	m->quit = 1;
	*r = (ssize_t)len;
	return 1;
}

int twp_myl_write(int fd, struct twp_slot *s, const struct twp_io *io, ssize_t *r)
{
	struct twp_conn *c = s->conn;
	struct twp_myl *m = c->myl;
	const struct iovec *iov;
	int cnt;
	if (c->codec != &twp_codec_mysql || (io->kind == TWP_K_SENDMSG && io->msg->msg_controllen))
		return 0;
	twp_io_buffers(io, &iov, &cnt);
	if (!m) { /* wrote before any greeting: not a server this shim can pool */
		twp_slot_nopool(s, TWP_R_PROTOCOL);
		return 0;
	}
	switch (m->phase) {
	case TWP_MYL_GREETED:
	case TWP_MYL_RELAY:
		if (take_packet(s, c, m, iov, cnt, r) == 1)
			answer(s, c, m);
		return 1;
	case TWP_MYL_ANSWERED:
		if (go_live(fd, s, c, m) == 0)
			break;
		fail(s, m, TWP_R_ERROR);
		/* fall through */
	case TWP_MYL_FAILED:
		errno = EPIPE;
		*r = -1;
		return 1;
	case TWP_MYL_OWN:
		if (!c->written)
			check_own_login(s, m, iov, cnt);
		break;
	}
	return keep_quit(s, c, m, iov, cnt, total(iov, cnt), r);
}

void twp_myl_after_write(int fd, struct twp_slot *s)
{
	uint32_t st = atomic_load(&s->st);
	struct twp_conn *c = twp_kind(st) == TWP_FD_TRACKED ? s->conn : NULL;
	if (!c || !c->myl || !c->myl->quit)
		return;
	c->myl->quit = 0;
	if (twp_goodbye_hand_over(fd, s, 0) == 0)
		return; /* parked: the program's close() closes the stand-in */
	/* Not fit to be parked after all: the COM_QUIT goes to the server. */
	int saved = errno;
	struct iovec v = { (void *)quit_packet, sizeof(quit_packet) };
	if (twp_real.send(fd, quit_packet, sizeof(quit_packet), MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
		c->codec->bytes(c->codec_state, 1, &v, 1, sizeof(quit_packet));
	errno = saved;
}

void twp_myl_read(struct twp_slot *s, const struct iovec *iov, int cnt, ssize_t r)
{
	struct twp_conn *c = s->conn;
	struct twp_myl *m = c->myl;
	if (m && m->phase != TWP_MYL_OWN)
		return; /* only a first use's greeting is kept */
	if (c->written)
		return;
	if (!m && (m = c->myl = calloc(1, sizeof(*m))))
		m->peer = -1;
	size_t have = m ? m->greeting_n : 0;
	if (!m || have + (size_t)r > sizeof(m->greeting) ||
	    (have >= 4 && have >= packet_len(m->greeting))) {
		twp_slot_nopool(s, TWP_R_PROTOCOL); /* too long, or more than a greeting */
		return;
	}
	m->greeting_n = (uint16_t)(have + twp_iov_copy(m->greeting + have, (size_t)r, iov, cnt));
}

void twp_myl_duplicated(struct twp_slot *s)
{
	struct twp_myl *m = s->conn ? s->conn->myl : NULL;
	if (m && (m->phase == TWP_MYL_GREETED || m->phase == TWP_MYL_RELAY ||
		  m->phase == TWP_MYL_ANSWERED))
		fail(s, m, TWP_R_SHARED);
}

int twp_myl_handout(int fd, struct twp_slot *s, struct twp_conn *c, uint32_t fdflags)
{
	struct twp_myl *m = c->myl;
	int sv[2], nb = !!(fdflags & TWP_S_NONBLOCK);
	if (!m || m->greeting_n < 4 || m->greeting_n != packet_len(m->greeting))
		return -1;
	drop_peer(m);
	if (c->inplace) { /* the number the program closed may be its again */
		int old = c->fd;
		if (twp_privfd_move(old, c, 0) != TWP_R_NONE)
			return -1;
		twp_slot_reset(twp_slot(old));
		twp_real.close(old);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0), 0, sv) < 0)
		return -1;
	if (twp_real.send(sv[1], m->greeting, m->greeting_n, MSG_NOSIGNAL) != m->greeting_n) {
		twp_real.close(sv[1]);
		twp_real.close(sv[0]);
		return -1;
	}
	if ((m->peer = twp_privfd_place(sv[1])) < 0 || /* sv[1] closed either way */
	    twp_swap(fd, sv[0], nb, fdflags, s->ep, NULL) < 0) {
		drop_peer(m);
		twp_real.close(sv[0]);
		return -1;
	}
	twp_real.close(sv[0]);
	m->phase = TWP_MYL_GREETED;
	/* c's codec still holds its last use (begin_use comes after). */
	m->fast = m->accepted_n && !twp_mysql_db_changed(c->codec_state);
	m->login_n = 0;
	m->quit = 0;
	return 0;
}
