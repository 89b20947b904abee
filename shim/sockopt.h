/* sockopt.h - socket options the program sets on pooled connections.
 *
 * Options set before connect() are replayed onto a connection taken from
 * the pool; every option set on a connection is put back to the value it
 * had before the program touched it when the connection is parked, so one
 * user's options never reach the next. Options that cannot be put back, or
 * that shape how a connection is made, make the fd unpoolable. */
#ifndef TWP_SOCKOPT_H
#define TWP_SOCKOPT_H

#include <sys/socket.h>

#define TWP_OPT_VAL_MAX 16 /* largest option value kept (struct timeval) */
#define TWP_OPTS_MAX 16    /* distinct options kept per socket */

struct twp_opt {
	int level, name;
	socklen_t len, orig_len;
	unsigned char val[TWP_OPT_VAL_MAX];  /* the program's value */
	unsigned char orig[TWP_OPT_VAL_MAX]; /* the value before it */
};

struct twp_opts {
	int n;
	struct twp_opt o[TWP_OPTS_MAX];
};

/* The program's setsockopt() on a watched fd: records the option in *opts
 * (allocated on first use) and sets it. Returns setsockopt's result with
 * errno; sets *unpoolable to 1 when the option rules out pooling. */
int twp_sockopt_set(int fd, struct twp_opts **opts, int level, int name,
		    const void *val, socklen_t len, int *unpoolable);

/* Applies opts to fd (a connection taken from the pool). 0 or -errno. */
int twp_sockopt_replay(int fd, const struct twp_opts *opts);

/* Puts fd's options back to their recorded originals and frees opts.
 * 0, or -errno when one could not be restored (the caller closes fd). */
int twp_sockopt_restore(int fd, struct twp_opts *opts);

#endif
