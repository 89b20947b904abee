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
 * one message, op FD (fd attached), NONE or LATE. Both sides check the peer's uid
 * (SO_PEERCRED) and the broker checks the network namespace named in each
 * message: a connection to 127.0.0.1 means another host in another one. */
#ifndef TWP_BROKER_H
#define TWP_BROKER_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "key.h"

#define TWP_BMSG_MAGIC 0x74777062u /* "twpb" */

/* LATE: none, because the GET came past its asker's deadline. */
enum twp_bop { TWP_BOP_PUT = 1, TWP_BOP_GET, TWP_BOP_FD, TWP_BOP_NONE, TWP_BOP_LATE };

struct twp_bmsg {
	uint32_t magic;
	uint16_t op;       /* enum twp_bop */
	uint16_t family;   /* the socket's family: AF_INET or AF_INET6 */
	uint64_t netns;    /* inode of the sender's /proc/self/ns/net */
	struct twp_key key;
	uint32_t uses;     /* times handed to a program so far */
	uint32_t proto;    /* the protocol it was pooled under (twp_bproto):
			    * lent only to a program of the same, since the
			    * rules that found it clean were that codec's */
	uint64_t born_ms;  /* real connect, CLOCK_MONOTONIC_COARSE */
	uint64_t expires_ms; /* PUT, FD: end of its lifetime (0: none); GET:
			      * the asker's deadline, past which it no longer
			      * waits and a lent fd would be lost */
};
_Static_assert(sizeof(struct twp_bmsg) == 64, "twp_bmsg must have no padding");

/* A protocol's number in twp_bmsg.proto, the same in every process: a
 * hash of its codec's name (0: the call-shape rules, no codec). */
static inline uint32_t twp_bproto(const char *codec_name)
{
	uint32_t h = 2166136261u;
	for (const char *p = codec_name; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return codec_name ? h | 1u : 0;
}

/* Both ends' sendmsg and recvmsg: the shim's real ones, or libc's. */
typedef ssize_t (*twp_bsend_fn)(int, const struct msghdr *, int);
typedef ssize_t (*twp_brecv_fn)(int, struct msghdr *, int);

/* Sends m on b, fd attached when >= 0, never blocking and never raising
 * SIGPIPE: 0 when the whole message went, else -1. */
static inline int twp_bmsg_send(twp_bsend_fn fn, int b, const struct twp_bmsg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		h.msg_control = cbuf;
		h.msg_controllen = sizeof(cbuf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return fn(b, &h, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* Receives one message on b without blocking, with at most one fd (in
 * *fd, close-on-exec; else -1). Returns recvmsg's result; *whole is 1 when
 * that was one whole twp_bmsg, nothing cut off. Any fd is the caller's. */
static inline ssize_t twp_bmsg_recv(twp_brecv_fn fn, int b, struct twp_bmsg *m, int *fd,
				    int *whole)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	*fd = -1;
	ssize_t n = fn(b, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&h) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	*whole = n == (ssize_t)sizeof(*m) && m->magic == TWP_BMSG_MAGIC &&
		 !(h.msg_flags & (MSG_CTRUNC | MSG_TRUNC));
	return n;
}

#ifndef TWP_BROKER_DAEMON
#include "reason.h"

struct twp_conn;
struct twp_codec;
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
struct twp_conn *twp_broker_take(struct twp_target *t, const struct twp_codec *codec,
				  const struct sockaddr *sa, socklen_t len);
#endif

#endif
