/* broker.h - lending idle connections across processes (TWPOOL_BROKER).
 *
 * The broker (cmd/broker.c, twpool-broker) holds clean idle connections
 * between short-lived programs. The shim gives it connections at exit and
 * at overflow, and asks it for one when its own pool has none. Every fd
 * moves: the sender closes its copy once the message is sent, so a
 * connection is never held twice.
 *
 * The protocol, on a unix SOCK_SEQPACKET socket (one message, one fd at
 * most; no framing to get wrong): the client sends struct twp_bmsg with op
 * PUT (the connection's fd attached) or GET; the broker answers a GET with
 * one message, op FD (fd attached) or NONE. Both sides check the peer's uid
 * (SO_PEERCRED) and the broker checks the network namespace named in each
 * message: a connection to 127.0.0.1 means another host in another one. */
#ifndef TWP_BROKER_H
#define TWP_BROKER_H

#include <stdint.h>
#include <sys/socket.h>

#include "key.h"

#define TWP_BMSG_MAGIC 0x74777062u /* "twpb" */

enum twp_bop { TWP_BOP_PUT = 1, TWP_BOP_GET, TWP_BOP_FD, TWP_BOP_NONE };

struct twp_bmsg {
	uint32_t magic;
	uint16_t op;       /* enum twp_bop */
	uint16_t family;   /* the socket's family: AF_INET or AF_INET6 */
	uint64_t netns;    /* inode of the sender's /proc/self/ns/net */
	struct twp_key key;
	uint32_t uses;     /* times handed to a program so far */
	uint32_t pad;
	uint64_t born_ms;  /* real connect, CLOCK_MONOTONIC_COARSE */
	uint64_t expires_ms; /* PUT, FD: end of its lifetime (0: none); GET:
			      * the asker's deadline, past which it no longer
			      * waits and a lent fd would be lost */
};
_Static_assert(sizeof(struct twp_bmsg) == 64, "twp_bmsg must have no padding");

#ifndef TWP_BROKER_DAEMON
#include "reason.h"

struct twp_conn;
struct twp_target;

/* 1 when TWPOOL_BROKER is set (and the shim is on). */
int twp_broker_on(void);

/* Gives each connection of list (idle, linked by ->next) to the broker, or
 * closes it for real, counting why, when there is none to take it. */
void twp_broker_give_list(struct twp_conn *list, enum twp_reason why);

/* At exit: every idle connection of the pool goes to the broker. */
void twp_broker_give_all(void);

/* A connection to t (socket family of sa) from the broker, under a private
 * fd as if taken from the pool; NULL when it has none, is absent (then it
 * is started, for the next time), or does not answer in time. */
struct twp_conn *twp_broker_take(struct twp_target *t, const struct sockaddr *sa, socklen_t len);
#endif

#endif
