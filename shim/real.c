/* real.c - symbol loading: the real libc functions behind the hooks. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"
#include "sys.h"

long twp_syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	long r = twp_sys6(n, a, b, c, d, e, f);
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Stand-ins used until twp_real_load() has run: plain system calls. */
static int sys_socket(int d, int t, int p) { return twp_syscall(SYS_socket, d, t, p, 0, 0, 0); }
static int sys_connect(int fd, const struct sockaddr *a, socklen_t l) { return twp_syscall(SYS_connect, fd, a, l, 0, 0, 0); }
static int sys_bind(int fd, const struct sockaddr *a, socklen_t l) { return twp_syscall(SYS_bind, fd, a, l, 0, 0, 0); }
static int sys_close(int fd) { return twp_syscall(SYS_close, fd, 0, 0, 0, 0, 0); }
static int sys_shutdown(int fd, int how) { return twp_syscall(SYS_shutdown, fd, how, 0, 0, 0, 0); }
static ssize_t sys_read(int fd, void *b, size_t n) { return twp_syscall(SYS_read, fd, b, n, 0, 0, 0); }
static ssize_t sys_write(int fd, const void *b, size_t n) { return twp_syscall(SYS_write, fd, b, n, 0, 0, 0); }
static ssize_t sys_recv(int fd, void *b, size_t n, int f) { return twp_syscall(SYS_recvfrom, fd, b, n, f, NULL, NULL); }
static ssize_t sys_send(int fd, const void *b, size_t n, int f) { return twp_syscall(SYS_sendto, fd, b, n, f, NULL, 0); }
static ssize_t sys_recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{
	return twp_syscall(SYS_recvfrom, fd, b, n, f, a, l);
}
static ssize_t sys_sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l)
{
	return twp_syscall(SYS_sendto, fd, b, n, f, a, l);
}
static ssize_t sys_recvmsg(int fd, struct msghdr *m, int f) { return twp_syscall(SYS_recvmsg, fd, m, f, 0, 0, 0); }
static ssize_t sys_sendmsg(int fd, const struct msghdr *m, int f) { return twp_syscall(SYS_sendmsg, fd, m, f, 0, 0, 0); }
static ssize_t sys_readv(int fd, const struct iovec *v, int n) { return twp_syscall(SYS_readv, fd, v, n, 0, 0, 0); }
static ssize_t sys_writev(int fd, const struct iovec *v, int n) { return twp_syscall(SYS_writev, fd, v, n, 0, 0, 0); }
static int sys_setsockopt(int fd, int l, int o, const void *v, socklen_t n)
{
	return twp_syscall(SYS_setsockopt, fd, l, o, v, n, 0);
}
static int sys_getsockopt(int fd, int l, int o, void *v, socklen_t *n)
{
	return twp_syscall(SYS_getsockopt, fd, l, o, v, n, 0);
}
static int sys_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return twp_syscall(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
}
static int sys_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return twp_syscall(SYS_ioctl, fd, req, arg, 0, 0, 0);
}
static int sys_dup(int fd) { return twp_syscall(SYS_dup, fd, 0, 0, 0, 0, 0); }
static int sys_dup2(int a, int b)
{
	if (a == b) /* dup3 refuses equal fds; dup2 checks a is open */
		return twp_syscall(SYS_fcntl, a, F_GETFD, 0, 0, 0, 0) < 0 ? -1 : b;
	return twp_syscall(SYS_dup3, a, b, 0, 0, 0, 0);
}
static int sys_dup3(int a, int b, int f) { return twp_syscall(SYS_dup3, a, b, f, 0, 0, 0); }
static int sys_epoll_ctl(int e, int op, int fd, struct epoll_event *ev) { return twp_syscall(SYS_epoll_ctl, e, op, fd, ev, 0, 0); }
static int sys_close_range(unsigned a, unsigned b, int f) { return twp_syscall(SYS_close_range, a, b, f, 0, 0, 0); }
static void sys_closefrom(int fd) { twp_syscall(SYS_close_range, fd, ~0u, 0, 0, 0, 0); }

struct twp_real twp_real = {
	.socket = sys_socket, .connect = sys_connect, .bind = sys_bind,
	.close = sys_close, .shutdown = sys_shutdown,
	.read = sys_read, .write = sys_write, .recv = sys_recv, .send = sys_send,
	.recvfrom = sys_recvfrom, .sendto = sys_sendto,
	.recvmsg = sys_recvmsg, .sendmsg = sys_sendmsg,
	.readv = sys_readv, .writev = sys_writev,
	.setsockopt = sys_setsockopt, .getsockopt = sys_getsockopt,
	.fcntl = sys_fcntl, .ioctl = sys_ioctl,
	.dup = sys_dup, .dup2 = sys_dup2, .dup3 = sys_dup3,
	.epoll_ctl = sys_epoll_ctl, .close_range = sys_close_range, .closefrom = sys_closefrom,
};

/* A symbol that cannot be found keeps its stand-in: degraded, never fatal. */
#define LOAD(name) do { \
		void *p_ = dlsym(RTLD_NEXT, #name); \
		if (p_) \
			__atomic_store_n((void **)&twp_real.name, p_, __ATOMIC_RELEASE); \
	} while (0)

void twp_real_load(void)
{
	LOAD(socket); LOAD(connect); LOAD(bind); LOAD(close); LOAD(shutdown);
	LOAD(read); LOAD(write); LOAD(recv); LOAD(send);
	LOAD(recvfrom); LOAD(sendto); LOAD(recvmsg); LOAD(sendmsg);
	LOAD(readv); LOAD(writev); LOAD(setsockopt); LOAD(getsockopt);
	LOAD(fcntl); LOAD(ioctl); LOAD(dup); LOAD(dup2); LOAD(dup3);
	LOAD(epoll_ctl); LOAD(close_range); LOAD(closefrom); LOAD(fclose);
}

void *twp_real_sym(void **cache, const char *name)
{
	void *p = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
	if (!p && (p = dlsym(RTLD_NEXT, name)))
		__atomic_store_n(cache, p, __ATOMIC_RELEASE);
	return p;
}

twp_fclose_fn twp_real_fclose(void)
{
	if (!__atomic_load_n(&twp_real.fclose, __ATOMIC_ACQUIRE))
		LOAD(fclose);
	return twp_real.fclose;
}
