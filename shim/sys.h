/* sys.h - raw system calls that never pass through any hook.
 *
 * The shim exports a syscall() hook, so within the shim the name syscall
 * resolves to that hook; the stand-ins and the hook's pass-through use this
 * instead. Returns the kernel's result: >= 0, or -errno. */
#ifndef TWP_SYS_H
#define TWP_SYS_H

#if defined(__x86_64__)
static inline long twp_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define TWP_HAVE_RAW_SYSCALL 1
#elif defined(__aarch64__)
static inline long twp_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory", "cc");
	return x0;
}
#define TWP_HAVE_RAW_SYSCALL 1
#else
/* Elsewhere the syscall() hook is not built and libc's is safe to call. */
#include <unistd.h>
#include <errno.h>
static inline long twp_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long r = syscall(n, a, b, c, d, e, f);
	return r == -1 ? -errno : r;
}
#define TWP_HAVE_RAW_SYSCALL 0
#endif

/* libc's convention on top: -1 with errno on failure. Takes six
 * arguments after n (pass 0 for unused ones), each read as a long. */
long twp_syscall(long n, ...);

#endif
