/* real.h - the libc functions the shim interposes, reached past the hooks.
 *
 * twp_real starts out pointing at raw-syscall stand-ins, so a hook that runs
 * before the constructor (from another library's constructor) still works;
 * twp_real_load() swaps in the dlsym(RTLD_NEXT) results. */
#ifndef TWP_REAL_H
#define TWP_REAL_H

#include <sys/socket.h>
#include <sys/types.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/uio.h>

typedef int (*twp_socket_fn)(int, int, int);
typedef int (*twp_connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*twp_bind_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*twp_close_fn)(int);
typedef int (*twp_shutdown_fn)(int, int);
typedef ssize_t (*twp_read_fn)(int, void *, size_t);
typedef ssize_t (*twp_write_fn)(int, const void *, size_t);
typedef ssize_t (*twp_recv_fn)(int, void *, size_t, int);
typedef ssize_t (*twp_send_fn)(int, const void *, size_t, int);
typedef ssize_t (*twp_recvfrom_fn)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
typedef ssize_t (*twp_sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*twp_recvmsg_fn)(int, struct msghdr *, int);
typedef ssize_t (*twp_sendmsg_fn)(int, const struct msghdr *, int);
typedef ssize_t (*twp_readv_fn)(int, const struct iovec *, int);
typedef ssize_t (*twp_writev_fn)(int, const struct iovec *, int);
typedef int (*twp_setsockopt_fn)(int, int, int, const void *, socklen_t);
typedef int (*twp_getsockopt_fn)(int, int, int, void *, socklen_t *);
typedef int (*twp_fcntl_fn)(int, int, ...);
typedef int (*twp_ioctl_fn)(int, unsigned long, ...);
typedef int (*twp_dup_fn)(int);
typedef int (*twp_dup2_fn)(int, int);
typedef int (*twp_dup3_fn)(int, int, int);
typedef int (*twp_epoll_ctl_fn)(int, int, int, struct epoll_event *);
typedef int (*twp_close_range_fn)(unsigned, unsigned, int);
typedef void (*twp_closefrom_fn)(int);
typedef int (*twp_fclose_fn)(FILE *);

struct twp_real {
	twp_socket_fn socket;
	twp_connect_fn connect;
	twp_bind_fn bind;
	twp_close_fn close;
	twp_shutdown_fn shutdown;
	twp_read_fn read;
	twp_write_fn write;
	twp_recv_fn recv;
	twp_send_fn send;
	twp_recvfrom_fn recvfrom;
	twp_sendto_fn sendto;
	twp_recvmsg_fn recvmsg;
	twp_sendmsg_fn sendmsg;
	twp_readv_fn readv;
	twp_writev_fn writev;
	twp_setsockopt_fn setsockopt;
	twp_getsockopt_fn getsockopt;
	twp_fcntl_fn fcntl;
	twp_ioctl_fn ioctl;
	twp_dup_fn dup;
	twp_dup2_fn dup2;
	twp_dup3_fn dup3;
	twp_epoll_ctl_fn epoll_ctl;
	twp_close_range_fn close_range;
	twp_closefrom_fn closefrom;
	twp_fclose_fn fclose; /* NULL until loaded: see twp_real_fclose() */
};

extern struct twp_real twp_real __attribute__((visibility("hidden")));

void twp_real_load(void);

/* The next definition of name (libc's), looked up once and kept in *cache;
 * NULL when there is none. For the calls the shim only guards, which have
 * no raw-syscall stand-in: they are looked up on first use. */
void *twp_real_sym(void **cache, const char *name);

/* The real function behind a hook of the same name and type. */
#define TWP_NEXT(name) ({ \
		static void *cache_; \
		(__typeof__(&name))twp_real_sym(&cache_, #name); \
	})

/* libc's fclose, loaded on first use if the constructor has not run. */
twp_fclose_fn twp_real_fclose(void);

#endif
