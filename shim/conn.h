/* conn.h - a pooled connection, and its life apart from any fd.
 *
 * A twp_conn is one TCP connection to a target that the shim may pool. It
 * is owned by exactly one party at a time: the program's fd number that
 * carries it (a TRACKED or PROVISIONAL slot; the thread in a hook on that
 * number may change it), or the pool while it is idle (under the pool lock
 * until a thread takes it). Only its owner reads or writes its fields;
 * handing it over (twp_pool_put, twp_pool_take) is the synchronisation. */
#ifndef TWP_CONN_H
#define TWP_CONN_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "reason.h"

struct twp_target;
struct twp_opts;
struct twp_codec;
struct twp_myl;

/* Bytes written since the connection was handed out, kept for a replay
 * (replay.c) until the first reply byte. */
struct twp_kept {
	char *buf;
	size_t n, cap;
};

struct twp_conn {
	/* The shim's fd for it, or -1. Idle: a private fd, or (inplace) the
	 * number the program closed. In use: a private copy kept for parking,
	 * or the program's own number when it was handed back in place. */
	int fd;
	int inplace;          /* fd is a number the program had */
	int nonblock;         /* O_NONBLOCK of the socket, while not in use */
	int cloexec;          /* FD_CLOEXEC of fd, while parked in place */
	int family;           /* socket family: AF_INET or AF_INET6 */
	uint32_t uses;        /* times handed to the program */
	uint64_t written;     /* bytes the program wrote in its current use */
	uint64_t gen;         /* the spawn generation when handed out */
	uint64_t born_ms;     /* real connect */
	uint64_t expires_ms;  /* born + lifetime - jitter; 0: never */
	uint64_t parked_ms;
	struct twp_target *target;
	struct twp_opts *opts;    /* options to undo before the next use */
	const struct twp_codec *codec; /* NULL: the call-shape rules */
	int reset_pending;        /* the codec's reset was written at park:
				   * its reply is read before the next use */
	struct twp_myl *myl;      /* a MySQL connection's greeting and
				   * login (mysql_login.h), or NULL */
	void *codec_state;
	struct sockaddr_in6 peer; /* where it connects (sockaddr_in for AF_INET) */
	socklen_t peerlen;
	struct twp_kept kept;
	struct twp_conn *prev, *next; /* idle list links */
};

/* A connection the program is connecting to t at sa (fd -1, one use),
 * read by codec (NULL: the call-shape rules); NULL when out of memory. */
struct twp_conn *twp_conn_new(struct twp_target *t, const struct twp_codec *codec,
			      const struct sockaddr *sa, socklen_t len);

/* c, from the pool, is handed to the program again: counts the reuse and
 * forgets the last use's bytes (its codec starts afresh). */
void twp_conn_begin_use(struct twp_conn *c);

/* c's use read bytes before it wrote any: when its codec takes that for
 * a server that speaks first (auto: SMTP, MySQL, SSH greetings), c's
 * target is never pooled again in this process. */
void twp_conn_first_read(struct twp_conn *c);

/* 1 when c's target speaks first: never park c, never hand it out. */
int twp_conn_server_first(const struct twp_conn *c);

/* 1 when a process was made since c was handed out (it may share c). */
int twp_conn_maybe_shared(const struct twp_conn *c);

/* A child process was made: every connection in use may be shared. */
void twp_conn_mark_shared(void);

/* Frees c and its records; its fd is the caller's business. */
void twp_conn_free(struct twp_conn *c);

/* Closes c's fd (if any) and frees it, counting the reason. Keeps errno. */
void twp_conn_discard(struct twp_conn *c, enum twp_reason why);
void twp_conn_discard_list(struct twp_conn *list, enum twp_reason why);

/* Reads, on fd (c's socket), the reply to the codec's reset written at
 * park, waiting a bounded few ms: TWP_R_NONE when it was exactly the
 * codec's reset_reply, else why the connection must not be used again.
 * Clears c->reset_pending either way. */
enum twp_reason twp_conn_consume_reset(struct twp_conn *c, int fd);

/* Discards the connection in use under the program's fd, which the
 * program (or a bulk close, dup2, fclose) closes itself. */
void twp_conn_discard_inuse(struct twp_conn *c, int fd, enum twp_reason why);

/* Closes idle connections past their time and rewrites the stats file
 * when their intervals are due. Cheap when nothing is due. */
void twp_conn_tick(void);

#endif
