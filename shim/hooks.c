/* hooks.c - the interposed entry points, and nothing else.
 *
 * Each hook passes straight through unless the fd is one the shim watches
 * (one array load) or, for socket() and connect(), the shim is on; the
 * decisions live in the modules named after each moment: connect.c,
 * close.c, track.c (I/O), fdops.c (everything else), readiness.c (poll and
 * select), child.c (fork, spawn, exec), deepbind.c (dlopen). While the shim is off (unconfigured, misconfigured, or before its
 * constructor) twp_fdtab_size is 0 and nothing is ever watched. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "child.h"
#include "close.h"
#include "connect.h"
#include "deepbind.h"
#include "fdops.h"
#include "fdtab.h"
#include "goodbye.h"
#include "mysql_login.h"
#include "guard.h"
#include "init.h"
#include "io.h"
#include "provisional.h"
#include "readiness.h"
#include "real.h"
#include "sys.h"
#include "track.h"

#define HOOK __attribute__((visibility("default")))

/* The loader's entry points: the shim turns on before main() and writes
 * its stats file once more at exit. */
__attribute__((constructor)) static void twp_constructor(void)
{
	twp_init();
}

__attribute__((destructor)) static void twp_destructor(void)
{
	twp_fini();
}

/* For fds the shim watches, outside its own recursive calls. */
#define WATCHED(fd) (twp_fd_watched(fd) && !twp_busy)
#define IO_WATCHED(fd) (twp_fd_io(fd) && !twp_busy)

HOOK int socket(int domain, int type, int protocol)
{
	int on = twp_fdtab_size && !twp_busy, fd;
	if (on && (fd = twp_prov_socket(domain, type, protocol)) >= 0)
		return fd;
	fd = twp_real.socket(domain, type, protocol);
	if (fd >= 0 && on)
		twp_connect_socket(fd, domain, type);
	return fd;
}

HOOK int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!twp_fdtab_size || twp_busy)
		return twp_real.connect(fd, sa, len);
	return twp_connect(fd, sa, len);
}

HOOK int close(int fd)
{
	if (!WATCHED(fd))
		return twp_real.close(fd);
	return twp_close(fd);
}

HOOK int shutdown(int fd, int how)
{
	if (!IO_WATCHED(fd))
		return twp_real.shutdown(fd, how);
	if (twp_goodbye_shutdown(fd, how) == 0)
		return 0;
	return twp_fdops_shutdown(fd, how);
}

HOOK int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!WATCHED(fd))
		return twp_real.bind(fd, sa, len);
	return twp_fdops_bind(fd, sa, len);
}

HOOK int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (!WATCHED(fd))
		return twp_real.setsockopt(fd, level, name, val, len);
	return twp_fdops_setsockopt(fd, level, name, val, len);
}

HOOK int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (!WATCHED(fd))
		return twp_real.getsockopt(fd, level, name, val, len);
	return twp_fdops_getsockopt(fd, level, name, val, len);
}

/* fcntl's third argument is an int or a pointer; both travel in one
 * register on the ABIs glibc supports, so it is carried as a pointer. */
static int fcntl_hook(int fd, int cmd, va_list ap)
{
	void *arg = va_arg(ap, void *);
	if (!WATCHED(fd))
		return twp_real.fcntl(fd, cmd, arg);
	return twp_fdops_fcntl(fd, cmd, arg);
}

HOOK int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	int r = fcntl_hook(fd, cmd, ap);
	va_end(ap);
	return r;
}

/* With _FILE_OFFSET_BITS=64 programs call fcntl64. */
HOOK int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	int r = fcntl_hook(fd, cmd, ap);
	va_end(ap);
	return r;
}

HOOK int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!WATCHED(fd))
		return twp_real.ioctl(fd, req, arg);
	return twp_fdops_ioctl(fd, req, arg);
}

HOOK int dup(int fd)
{
	if (!WATCHED(fd))
		return twp_real.dup(fd);
	return twp_fdops_dup(fd);
}

HOOK int dup2(int oldfd, int newfd)
{
	if (!WATCHED(oldfd) && !WATCHED(newfd))
		return twp_real.dup2(oldfd, newfd);
	return twp_fdops_dup3(oldfd, newfd, -1);
}

HOOK int dup3(int oldfd, int newfd, int flags)
{
	if (!WATCHED(oldfd) && !WATCHED(newfd))
		return twp_real.dup3(oldfd, newfd, flags);
	return twp_fdops_dup3(oldfd, newfd, flags);
}

/* The read/write family: untracked fds go straight through; a tracked
 * fd's call is described once and handed to conn.c, which makes it. */
#define IO_HOOK(name, params, passthrough, ...) \
	HOOK ssize_t name params \
	{ \
		if (!IO_WATCHED(fd)) \
			return twp_real.name passthrough; \
		struct twp_io io = { .fd = fd, __VA_ARGS__ }; \
		return twp_track_io(&io); \
	}

IO_HOOK(read, (int fd, void *b, size_t n), (fd, b, n),
	.kind = TWP_K_READ, .one = { b, n })
IO_HOOK(write, (int fd, const void *b, size_t n), (fd, b, n),
	.kind = TWP_K_WRITE, .one = { (void *)b, n })
IO_HOOK(readv, (int fd, const struct iovec *v, int n), (fd, v, n),
	.kind = TWP_K_READV, .iov = v, .iovcnt = n)
IO_HOOK(writev, (int fd, const struct iovec *v, int n), (fd, v, n),
	.kind = TWP_K_WRITEV, .iov = v, .iovcnt = n)
IO_HOOK(recv, (int fd, void *b, size_t n, int f), (fd, b, n, f),
	.kind = TWP_K_RECV, .one = { b, n }, .flags = f)
IO_HOOK(send, (int fd, const void *b, size_t n, int f), (fd, b, n, f),
	.kind = TWP_K_SEND, .one = { (void *)b, n }, .flags = f)
IO_HOOK(recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),
	(fd, b, n, f, a, l), .kind = TWP_K_RECVFROM, .one = { b, n }, .flags = f, .from = a, .fromlen = l)
IO_HOOK(sendto, (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),
	(fd, b, n, f, a, l), .kind = TWP_K_SENDTO, .one = { (void *)b, n }, .flags = f, .to = a, .tolen = l)
IO_HOOK(recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f),
	.kind = TWP_K_RECVMSG, .msg = m, .flags = f)
IO_HOOK(sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f),
	.kind = TWP_K_SENDMSG, .msg = (struct msghdr *)m, .flags = f)

ssize_t __read_chk(int fd, void *b, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *b, size_t n, size_t buflen, int f);
ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t buflen, int f,
		       struct sockaddr *a, socklen_t *l);

/* _FORTIFY_SOURCE builds call these; glibc's own reach read/recv
 * internally, past the hooks above. */
HOOK ssize_t __read_chk(int fd, void *b, size_t n, size_t buflen)
{
	(void)buflen;
	return read(fd, b, n);
}

HOOK ssize_t __recv_chk(int fd, void *b, size_t n, size_t buflen, int f)
{
	(void)buflen;
	return recv(fd, b, n, f);
}

HOOK ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t buflen, int f,
			    struct sockaddr *a, socklen_t *l)
{
	(void)buflen;
	return recvfrom(fd, b, n, f, a, l);
}

HOOK int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		     const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	return twp_child_begin()->posix_spawn(pid, path, fa, at, argv, envp);
}

HOOK int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		      const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	return twp_child_begin()->posix_spawnp(pid, file, fa, at, argv, envp);
}

HOOK int system(const char *cmd)
{
	return twp_child_begin()->system(cmd);
}

HOOK FILE *popen(const char *cmd, const char *mode)
{
	return twp_child_begin()->popen(cmd, mode);
}

HOOK int execve(const char *path, char *const argv[], char *const envp[])
{
	return twp_child_exec()->execve(path, argv, envp);
}

HOOK int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return twp_child_exec()->execvpe(file, argv, envp);
}

HOOK int execv(const char *path, char *const argv[])
{
	return twp_child_exec()->execv(path, argv);
}

HOOK int execvp(const char *file, char *const argv[])
{
	return twp_child_exec()->execvp(file, argv);
}

HOOK int fexecve(int fd, char *const argv[], char *const envp[])
{
	return twp_child_exec()->fexecve(fd, argv, envp);
}

/* glibc's execl, execlp and execle reach execve internally, past the hooks
 * above: these gather their lists and go through them. */
enum exec_list { EXEC_L, EXEC_LP, EXEC_LE };

/* execl, execlp and execle: the list gathered into an argv on this stack
 * (execle's environment follows the NULL), then the hooks above. */
static int exec_list(enum exec_list how, const char *file, const char *arg, va_list ap)
{
	size_t n = 1;
	va_list c;
	va_copy(c, ap);
	while (va_arg(c, char *))
		n++;
	va_end(c);
	char *argv[n + 1];
	argv[0] = (char *)arg;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, char *);
	if (how == EXEC_LE)
		return execve(file, argv, va_arg(ap, char *const *));
	return how == EXEC_LP ? execvp(file, argv) : execv(file, argv);
}

#define EXEC_LIST_HOOK(name, how) \
	HOOK int name(const char *file, const char *arg, ...) \
	{ \
		va_list ap; \
		va_start(ap, arg); \
		int r = exec_list(how, file, arg, ap); \
		va_end(ap); \
		return r; \
	}

EXEC_LIST_HOOK(execl, EXEC_L)
EXEC_LIST_HOOK(execlp, EXEC_LP)
EXEC_LIST_HOOK(execle, EXEC_LE)

HOOK pid_t _Fork(void)
{
	return twp_child_fork_nohandlers();
}

/* A wrapper cannot return twice on one stack: vfork becomes fork. */
HOOK pid_t vfork(void)
{
	return twp_child_begin()->fork();
}

/* The pass-through is a tail call: libc's dlopen takes the caller from its
 * return address (RUNPATH search, $ORIGIN), which must stay the program's. */
__attribute__((optimize("O2")))
HOOK void *dlopen(const char *file, int mode)
{
	if (!twp_deepbind_wanted(file, mode))
		return twp_deepbind_real()(file, mode);
	return twp_deepbind_dlopen(file, mode);
}

HOOK int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (!WATCHED(fd))
		return twp_real.epoll_ctl(epfd, op, fd, ev);
	return twp_fdops_epoll_ctl(epfd, op, fd, ev);
}

HOOK int close_range(unsigned first, unsigned last, int flags)
{
	if (!twp_fdtab_size || twp_busy)
		return twp_real.close_range(first, last, flags);
	return twp_close_range(first, last, flags);
}

/* glibc's closefrom reaches close_range internally, past the hook above. */
HOOK void closefrom(int lowfd)
{
	if (!twp_fdtab_size || twp_busy)
		twp_real.closefrom(lowfd);
	else
		twp_closefrom(lowfd);
}

HOOK int fclose(FILE *fp)
{
	int saved = errno, fd = fp ? fileno(fp) : -1;
	errno = saved;
	if (!WATCHED(fd))
		return twp_real_fclose()(fp);
	return twp_close_stream(fp, fd);
}

#if TWP_HAVE_RAW_SYSCALL
/* Event-loop libraries sometimes close or connect with raw syscall();
 * those numbers go through the hooks, every other one straight through. */
HOOK long syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (twp_fdtab_size && !twp_busy)
		switch (n) {
		case SYS_close:
			return close((int)a);
		case SYS_connect:
			return connect((int)a, (const struct sockaddr *)b, (socklen_t)c);
		case SYS_close_range:
			return close_range((unsigned)a, (unsigned)b, (int)c);
		case SYS_execve:
		case SYS_execveat:
			twp_child_exec();
			break;
		case SYS_dup3:
			return dup3((int)a, (int)b, (int)c);
#ifdef SYS_dup2
		case SYS_dup2:
			return dup2((int)a, (int)b);
#endif
		}
	return twp_syscall(n, a, b, c, d, e, f);
}
#endif

/* ---- calls whose bytes the shim cannot copy: noted, never replayed ---- */

/* r = call, bracketed for fd's connection (out: bytes towards the peer). */
#define BLIND(fd, out, call) ({ \
		int t_ = IO_WATCHED(fd) ? twp_track_blind_begin(fd) : 0; \
		ssize_t r_ = t_ < 0 ? -1 : (call); \
		int e_ = errno; \
		twp_track_blind_end(fd, t_, out, r_, e_); \
		errno = e_; \
		r_; \
	})

HOOK ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	return BLIND(out, 1, TWP_NEXT(sendfile)(out, in, off, n));
}

HOOK ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
	return BLIND(out, 1, TWP_NEXT(sendfile64)(out, in, off, n));
}

static ssize_t splice_out(int in, loff_t *offin, int out, loff_t *offout, size_t n, unsigned f)
{
	return BLIND(out, 1, TWP_NEXT(splice)(in, offin, out, offout, n, f));
}

HOOK ssize_t splice(int in, loff_t *offin, int out, loff_t *offout, size_t n, unsigned f)
{
	return BLIND(in, 0, splice_out(in, offin, out, offout, n, f));
}

static ssize_t copy_out(int in, loff_t *offin, int out, loff_t *offout, size_t n, unsigned f)
{
	return BLIND(out, 1, TWP_NEXT(copy_file_range)(in, offin, out, offout, n, f));
}

HOOK ssize_t copy_file_range(int in, loff_t *offin, int out, loff_t *offout, size_t n, unsigned f)
{
	return BLIND(in, 0, copy_out(in, offin, out, offout, n, f));
}

HOOK int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int f)
{
	return (int)BLIND(fd, 1, TWP_NEXT(sendmmsg)(fd, v, n, f));
}

HOOK int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int f, struct timespec *t)
{
	return (int)BLIND(fd, 0, TWP_NEXT(recvmmsg)(fd, v, n, f, t));
}

/* With offset -1 these read and write a socket like readv and writev. */
HOOK ssize_t preadv2(int fd, const struct iovec *v, int n, off_t off, int f)
{
	return BLIND(fd, 0, TWP_NEXT(preadv2)(fd, v, n, off, f));
}

HOOK ssize_t pwritev2(int fd, const struct iovec *v, int n, off_t off, int f)
{
	return BLIND(fd, 1, TWP_NEXT(pwritev2)(fd, v, n, off, f));
}

/* ---- calls on a number the program closed fail as on a closed fd ---- */

/* -1 with EBADF for a parked fd; a provisional one becomes a fresh socket. */
#define CLOSED(fd) (WATCHED(fd) && twp_unpark((fd), twp_slot(fd)) < 0)

#define GUARD_HOOK(ret, name, params, args) \
	HOOK ret name params \
	{ \
		if (CLOSED(fd)) \
			return (ret)-1; \
		return TWP_NEXT(name) args; \
	}

GUARD_HOOK(int, fstat, (int fd, struct stat *b), (fd, b))
GUARD_HOOK(int, fstat64, (int fd, struct stat64 *b), (fd, b))
/* A reused MySQL connection's stand-in answers for its real socket. */
#define NAME_HOOK(name) \
	HOOK int name(int fd, struct sockaddr *a, socklen_t *l) \
	{ \
		if (CLOSED(fd)) \
			return -1; \
		return TWP_NEXT(name)(twp_myl_sock(fd), a, l); \
	}
NAME_HOOK(getpeername)
NAME_HOOK(getsockname)
GUARD_HOOK(off_t, lseek, (int fd, off_t o, int w), (fd, o, w))
GUARD_HOOK(off64_t, lseek64, (int fd, off64_t o, int w), (fd, o, w))
GUARD_HOOK(int, fsync, (int fd), (fd))
GUARD_HOOK(int, fdatasync, (int fd), (fd))
GUARD_HOOK(ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o))
GUARD_HOOK(ssize_t, pread64, (int fd, void *b, size_t n, off64_t o), (fd, b, n, o))
GUARD_HOOK(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o))
GUARD_HOOK(ssize_t, pwrite64, (int fd, const void *b, size_t n, off64_t o), (fd, b, n, o))
GUARD_HOOK(ssize_t, preadv, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o))
GUARD_HOOK(ssize_t, pwritev, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o))
GUARD_HOOK(ssize_t, preadv64, (int fd, const struct iovec *v, int n, off64_t o), (fd, v, n, o))
GUARD_HOOK(ssize_t, pwritev64, (int fd, const struct iovec *v, int n, off64_t o), (fd, v, n, o))

/* The path forms name the fd itself only with AT_EMPTY_PATH and "". */
#define EMPTY_PATH_OF(fd, path, flags) (twp_names_fd(path, flags) ? (fd) : -1)

HOOK int fstatat(int fd, const char *path, struct stat *b, int flags)
{
	if (CLOSED(EMPTY_PATH_OF(fd, path, flags)))
		return -1;
	return TWP_NEXT(fstatat)(fd, path, b, flags);
}

HOOK int fstatat64(int fd, const char *path, struct stat64 *b, int flags)
{
	if (CLOSED(EMPTY_PATH_OF(fd, path, flags)))
		return -1;
	return TWP_NEXT(fstatat64)(fd, path, b, flags);
}

HOOK int statx(int fd, const char *path, int flags, unsigned mask, struct statx *b)
{
	if (CLOSED(EMPTY_PATH_OF(fd, path, flags)))
		return -1;
	return TWP_NEXT(statx)(fd, path, flags, mask, b);
}

/* Binaries built against glibc before 2.33 call these for fstat. */
int __fxstat(int ver, int fd, struct stat *b);
int __fxstat64(int ver, int fd, struct stat64 *b);
GUARD_HOOK(int, __fxstat, (int ver, int fd, struct stat *b), (ver, fd, b))
GUARD_HOOK(int, __fxstat64, (int ver, int fd, struct stat64 *b), (ver, fd, b))

ssize_t __pread_chk(int fd, void *b, size_t n, off_t o, size_t buflen);
ssize_t __pread64_chk(int fd, void *b, size_t n, off64_t o, size_t buflen);
GUARD_HOOK(ssize_t, __pread_chk, (int fd, void *b, size_t n, off_t o, size_t bl), (fd, b, n, o, bl))
GUARD_HOOK(ssize_t, __pread64_chk, (int fd, void *b, size_t n, off64_t o, size_t bl),
	   (fd, b, n, o, bl))

/* ---- readiness of many fds at once ---- */

static int poll_ms(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m)
{
	(void)m;
	return TWP_NEXT(poll)(fds, n, t ? (int)(t->tv_sec * 1000 + t->tv_nsec / 1000000) : -1);
}

static int ppoll_ts(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m)
{
	return TWP_NEXT(ppoll)(fds, n, t, m);
}

HOOK int poll(struct pollfd *fds, nfds_t n, int ms)
{
	if (!twp_fdtab_size || twp_busy)
		return TWP_NEXT(poll)(fds, n, ms);
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	return twp_poll(fds, n, ms < 0 ? NULL : &t, NULL, poll_ms);
}

HOOK int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m)
{
	if (!twp_fdtab_size || twp_busy)
		return TWP_NEXT(ppoll)(fds, n, t, m);
	return twp_poll(fds, n, t, m, ppoll_ts);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m,
		size_t fdslen);

/* _FORTIFY_SOURCE builds call these; glibc's own reach poll internally. */
HOOK int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen)
{
	(void)fdslen;
	return poll(fds, n, ms);
}

HOOK int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m,
		     size_t fdslen)
{
	(void)fdslen;
	return ppoll(fds, n, t, m);
}

HOOK int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
	if (twp_fdtab_size && !twp_busy && twp_select_check(nfds, r, w, e) < 0)
		return -1;
	return TWP_NEXT(select)(nfds, r, w, e, t);
}

HOOK int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
		 const sigset_t *m)
{
	if (twp_fdtab_size && !twp_busy && twp_select_check(nfds, r, w, e) < 0)
		return -1;
	return TWP_NEXT(pselect)(nfds, r, w, e, t, m);
}
