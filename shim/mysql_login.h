/* mysql_login.h - a parked MySQL connection handed to a new program.
 *
 * A MySQL server speaks first: a greeting with a random scramble, which the
 * client's login answers. A parked connection's greeting was read by its
 * first user, so the next user is served that same greeting by the shim,
 * from a stand-in: one end of a socketpair under the program's fd, whose
 * other end (the peer, the shim's) holds the greeting. The kernel answers
 * every read and poll on it as on a socket with the greeting waiting.
 *
 * The program's login, answering that scramble, never goes to the server
 * as a login: the shim sends it as COM_CHANGE_USER, which logs the
 * connection in again as that login (user, password proof, database,
 * character set, attributes) and leaves a fresh login's session. MariaDB
 * and MySQL answer it with an auth switch carrying the connection's own
 * scramble, which the login's proof answers; the server's verdict (OK, or
 * ERR for a wrong password) is written to the peer for the program as the
 * reply to its login. A switch to another plugin (ed25519,
 * caching_sha2_password) or a request for more is passed to the program,
 * whose answers go to the server, sequence numbers moved by one. At the
 * program's first command, once it has read all the stand-in holds, the
 * real connection takes the stand-in's place (swap.h) and the peer is
 * closed.
 *
 * A login byte for byte equal to the last one the server took on that
 * connection, naming a database, is answered with that login's OK after a
 * COM_INIT_DB of its database (COM_RESET_CONNECTION, written at park with
 * SET ROLE NONE, resets everything else a login sets but keeps a USE).
 *
 * A login with other capabilities than the connection's first (the server
 * keeps the first login's) goes to a fresh connection instead: sent asking
 * for no plugin, it is answered with an auth switch carrying the fresh
 * server's scramble, which is passed to the program. A login no connection
 * can carry (TLS after a served greeting), a refused one, or an answer this
 * shim cannot follow ends the handout (TWP_MYL_FAILED): the program reads
 * what the stand-in holds, then EOF, and its writes fail.
 *
 * The program's COM_QUIT is not sent: the connection is parked at once
 * behind goodbye.c's closed stand-in, with the reset written so
 * transactions, locks and temporary tables go before the next user comes.
 *
 * First use: the greeting is kept as the program reads it, and the login is
 * checked to be one COM_CHANGE_USER can carry; a connection whose greeting
 * or login is not is never parked. Only a login answered by the server
 * without a relayed exchange is kept for the equal-login answer. */
#ifndef TWP_MYSQL_LOGIN_H
#define TWP_MYSQL_LOGIN_H

#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "fdtab.h"
#include "io.h"

/* The greeting and login a server sends and a client writes are ~100 and
 * ~100-600 bytes; longer ones are not pooled. */
#define TWP_MYL_GREETING 320
#define TWP_MYL_LOGIN 1200
#define TWP_MYL_OK 64

enum twp_myl_phase {
	TWP_MYL_OWN,      /* a connection's first use: the program's own login */
	TWP_MYL_GREETED,  /* reused: the greeting served, the login awaited */
	TWP_MYL_RELAY,    /* the server asked the program for more (an auth
			   * switch to another plugin): its answer awaited */
	TWP_MYL_ANSWERED, /* the login's reply served: the real connection
			   * goes under the fd at the next write */
	TWP_MYL_LIVE,     /* the real connection is under the program's fd */
	TWP_MYL_FAILED,   /* the login refused, or not carried: the program
			   * reads what the stand-in holds, then EOF */
};

/* What a MySQL connection keeps across its uses (conn->myl). */
struct twp_myl {
	int peer;             /* the stand-in's other end, or -1 */
	uint8_t phase;
	uint8_t quit;         /* the program's COM_QUIT was kept back */
	int8_t shift;         /* the program's sequence numbers less the
			       * server's, in the login exchange */
	uint8_t fast;         /* this handout may answer a login equal to
			       * accepted with ok, without the server */
	uint8_t ok_n;
	uint16_t greeting_n;  /* bytes of greeting kept (whole: 4 + length) */
	uint16_t login_n;     /* bytes of the program's login written so far */
	uint16_t accepted_n;  /* the last login the server took, and its OK */
	uint8_t greeting[TWP_MYL_GREETING];
	uint8_t login[TWP_MYL_LOGIN];
	uint8_t accepted[TWP_MYL_LOGIN];
	uint8_t ok[TWP_MYL_OK];
	uint8_t caps[8];      /* the first login's capabilities (its bytes 0-3)
			       * and MariaDB's extended ones (28-31) */
};

/* The socket the program's fd stands for: a reused MySQL connection's
 * real socket while a stand-in holds fd, else fd. For socket options and
 * addresses, which the stand-in (AF_UNIX) does not have. */
static inline int twp_myl_sock(int fd)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = s ? atomic_load_explicit(&s->st, memory_order_acquire) : 0;
	if (twp_kind(st) != TWP_FD_TRACKED || !s->conn || !s->conn->myl || s->conn->myl->peer < 0 ||
	    s->conn->fd < 0)
		return fd;
	return s->conn->fd;
}

/* The program read these r bytes on s's MySQL connection: its first use's
 * greeting is kept. */
void twp_myl_read(struct twp_slot *s, const struct iovec *iov, int cnt, ssize_t r);

/* A write on s's MySQL connection: 1 when the call is answered here (the
 * login of a reused connection, a COM_QUIT kept back), with what the
 * program is told in *r and errno set; 0: the caller makes the call (the
 * real connection under fd by then). */
int twp_myl_write(int fd, struct twp_slot *s, const struct twp_io *io, ssize_t *r);

/* After a write on fd left the call: a COM_QUIT kept back parks the
 * connection behind a closed stand-in, or is sent after all. Keeps errno. */
void twp_myl_after_write(int fd, struct twp_slot *s);

/* s's fd was duplicated: a copy of a stand-in not yet replaced by the
 * real connection would talk to the shim's peer, which no one reads, and
 * hang; the handout fails instead (the copies read what the stand-in
 * holds, then EOF). */
void twp_myl_duplicated(struct twp_slot *s);

/* Hands c, from the pool, to the program under fd as a stand-in serving
 * c's greeting (fdflags: the program's fd flags): 0, or -1 with fd as it
 * was (the caller discards c). */
int twp_myl_handout(int fd, struct twp_slot *s, struct twp_conn *c, uint32_t fdflags);

#endif
