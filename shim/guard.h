/* guard.h - the per-thread recursion guard.
 *
 * While the shim itself calls something that may come back through the
 * hooks (getaddrinfo opens sockets; stdio and malloc may close fds), or
 * while a thread holds the pool lock (a signal handler on that thread could
 * enter close()), twp_busy is non-zero and every hook passes straight
 * through to libc. initial-exec TLS: no allocation on first access. */
#ifndef TWP_GUARD_H
#define TWP_GUARD_H

extern __thread int twp_busy
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

#endif
