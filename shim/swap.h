/* swap.h - putting another socket under one of the program's fd numbers.
 *
 * The shim replaces the socket behind a program's fd in three moments: a
 * pooled connection handed to connect(), a provisional fd turned into the
 * fresh socket the program asked for, and a dead reused connection replaced
 * by a fresh one for a replay. Each is this one operation. */
#ifndef TWP_SWAP_H
#define TWP_SWAP_H

#include <stdint.h>

struct twp_epolls;
struct twp_opts;

/* Puts socket src under fd: first opts (if any) are set on src and src's
 * O_NONBLOCK made what the TWP_S_NONBLOCK bit of fdflags says (src_nonblock:
 * what it is now); then fd leaves the epoll sets of ep, dup3() puts src
 * there with fdflags' FD_CLOEXEC, and fd joins the sets again. src stays
 * open: the caller closes or keeps it. 0, or -1 with errno and fd as it was
 * (registered again where it was). A failure to register the new socket
 * again is logged, not returned: the swap itself is done. */
int twp_swap(int fd, int src, int src_nonblock, uint32_t fdflags, const struct twp_epolls *ep,
	     const struct twp_opts *opts);

#endif
