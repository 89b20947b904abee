/* real.c - symbol loading: the real libc functions behind the hooks. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

/* Stand-ins used until twp_real_load() has run: plain system calls. */
static int sys_socket(int d, int t, int p) { return syscall(SYS_socket, d, t, p); }
static int sys_connect(int fd, const struct sockaddr *a, socklen_t l) { return syscall(SYS_connect, fd, a, l); }
static int sys_bind(int fd, const struct sockaddr *a, socklen_t l) { return syscall(SYS_bind, fd, a, l); }
static int sys_close(int fd) { return syscall(SYS_close, fd); }
static int sys_shutdown(int fd, int how) { return syscall(SYS_shutdown, fd, how); }
static ssize_t sys_read(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static ssize_t sys_write(int fd, const void *b, size_t n) { return syscall(SYS_write, fd, b, n); }
static ssize_t sys_recv(int fd, void *b, size_t n, int f) { return syscall(SYS_recvfrom, fd, b, n, f, NULL, NULL); }
static ssize_t sys_send(int fd, const void *b, size_t n, int f) { return syscall(SYS_sendto, fd, b, n, f, NULL, 0); }
static ssize_t sys_recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{
	return syscall(SYS_recvfrom, fd, b, n, f, a, l);
}
static ssize_t sys_sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l)
{
	return syscall(SYS_sendto, fd, b, n, f, a, l);
}
static ssize_t sys_recvmsg(int fd, struct msghdr *m, int f) { return syscall(SYS_recvmsg, fd, m, f); }
static ssize_t sys_sendmsg(int fd, const struct msghdr *m, int f) { return syscall(SYS_sendmsg, fd, m, f); }
static ssize_t sys_readv(int fd, const struct iovec *v, int n) { return syscall(SYS_readv, fd, v, n); }
static ssize_t sys_writev(int fd, const struct iovec *v, int n) { return syscall(SYS_writev, fd, v, n); }
static int sys_setsockopt(int fd, int l, int o, const void *v, socklen_t n)
{
	return syscall(SYS_setsockopt, fd, l, o, v, n);
}
static int sys_getsockopt(int fd, int l, int o, void *v, socklen_t *n)
{
	return syscall(SYS_getsockopt, fd, l, o, v, n);
}
static int sys_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return syscall(SYS_fcntl, fd, cmd, arg);
}
static int sys_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return syscall(SYS_ioctl, fd, req, arg);
}
static int sys_dup(int fd) { return syscall(SYS_dup, fd); }
static int sys_dup2(int a, int b)
{
	if (a == b) /* dup3 refuses equal fds; dup2 checks a is open */
		return syscall(SYS_fcntl, a, F_GETFD) < 0 ? -1 : b;
	return syscall(SYS_dup3, a, b, 0);
}
static int sys_dup3(int a, int b, int f) { return syscall(SYS_dup3, a, b, f); }

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
}
