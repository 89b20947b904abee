/* sockopt.h - socket options the program sets on pooled connections.
 *
 * For each option ever set on a socket the shim keeps its current value and
 * its default: what a fresh socket of the same kind reads, never what the
 * reused socket read (another option may have changed it). A use of a
 * pooled connection starts with every option untouched; the program's
 * setsockopt() of a value the socket already has costs no system call
 * (except for options that change each other, IP_TOS and SO_PRIORITY,
 * which reach the socket in the program's order); when the use begins for
 * real (connect), options the previous user set and this one did not are
 * put back to their defaults, so one user's options never reach the next.
 * Options that cannot be put back, or that shape how a connection is made,
 * make the fd unpoolable. */
#ifndef TWP_SOCKOPT_H
#define TWP_SOCKOPT_H

#include <sys/socket.h>

#define TWP_OPT_VAL_MAX 16 /* largest option value kept (struct timeval) */
#define TWP_OPTS_MAX 16    /* distinct options kept per socket */

struct twp_opt {
	int level, name;
	socklen_t len, orig_len;             /* len 0: never set successfully */
	unsigned char val[TWP_OPT_VAL_MAX];  /* the value the socket has now */
	unsigned char orig[TWP_OPT_VAL_MAX]; /* what a fresh socket reads */
	int touched; /* 0, or when the current user last changed it (1, 2, ...) */
};

/* What kind of socket an option belongs to: its defaults depend on it. */
struct twp_sock_kind {
	int family, type, proto; /* family 0: not read yet */
};

struct twp_opts {
	int n;
	struct twp_sock_kind kind;
	int seq;           /* changes the current user made so far */
	int coupled_fresh; /* options that change each other are at their
			    * defaults for this use, or as the program set them */
	struct twp_opt o[TWP_OPTS_MAX];
};

/* What (level, name) reads on a fresh socket of fd's family, type and
 * protocol, probed once per kind on a socket of the shim's own and cached.
 * val holds TWP_OPT_VAL_MAX bytes. 0 or -errno (-ENOPROTOOPT: such a
 * socket has no such option); errno is kept. */
int twp_sockopt_default(int fd, int level, int name, void *val, socklen_t *len);

/* The program's setsockopt() on a watched fd: records the option in *opts
 * (allocated on first use) and sets it, unless the socket has that value
 * already. Returns setsockopt's result with errno; sets *unpoolable to 1
 * when the option rules out pooling. */
int twp_sockopt_set(int fd, struct twp_opts **opts, int level, int name,
		    const void *val, socklen_t len, int *unpoolable);

/* Can the option be set on a pooled connection handed out by socket()?
 * 0 for the ones that rule pooling out (and SO_RCVLOWAT, which may grow
 * the receive buffer for good): set those on a socket of its own, or they
 * reach the connection's next user. */
int twp_sockopt_reusable(int level, int name);

/* The program's getsockopt() before connect on a pooled connection: an
 * option the previous user set and this one has not reads as its default.
 * 1 if answered from opts, else 0. */
int twp_sockopt_get(const struct twp_opts *opts, int level, int name, void *val, socklen_t *len);

/* A new use starts: every option untouched. */
void twp_sockopt_begin_use(struct twp_opts *opts);

/* Puts untouched options back to their defaults. 0 or -errno. */
int twp_sockopt_settle(int fd, struct twp_opts *opts);

/* Puts every option back to its default and frees opts. 0 or -errno. */
int twp_sockopt_restore(int fd, struct twp_opts *opts);

/* Applies the options the program set on a fresh socket (from, freed) to
 * the pooled connection fd, recording them in *opts as touched. 0 or
 * -errno. */
int twp_sockopt_adopt(int fd, struct twp_opts **opts, struct twp_opts *from);

/* Applies every recorded value to fd (a fresh socket made to replace a
 * dead connection). 0 or -errno. */
int twp_sockopt_replay(int fd, const struct twp_opts *opts);

#endif
