/* fdtab.h - what the shim knows about each of the program's fd numbers.
 *
 * One slot per fd number, in an array sized once from RLIMIT_NOFILE's hard
 * limit, so the hooks find an fd's state with one load and no lock. Fds
 * beyond the table are never tracked: the shim passes them through.
 *
 * A slot has a kind (what the number is to the shim) and flag bits (what
 * the program did with it), both in one atomic word, st.
 *
 * Who writes a slot: the thread in a hook on that fd number, for the
 * program's kinds (SOCK, TRACKED, PROVISIONAL): a program that closes an fd
 * while another thread still uses it has a race of its own. The slot of an
 * idle connection's fd (PARKED, PRIVATE) is written by the thread that owns
 * the connection: the one that parks it, before twp_pool_put, and the one
 * that took it with twp_pool_take. Kind changes go through the twp_slot_to_*
 * functions below, which write the fields first and publish st last with
 * release; the thread that gets the number next reads st with acquire
 * before the fields. Flag bits change with relaxed atomic or/and. */
#ifndef TWP_FDTAB_H
#define TWP_FDTAB_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum twp_kind {
	TWP_FD_NONE,        /* nothing to do: pass every call through */
	TWP_FD_SOCK,        /* a TCP socket the program made, not (yet) pooled */
	TWP_FD_TRACKED,     /* the program's connection to a target: conn */
	TWP_FD_PROVISIONAL, /* an idle connection socket() handed out, not yet
			     * connected by the program: conn */
	TWP_FD_PARKED,      /* an idle connection parked at the number the
			     * program closed: not open, to the program: conn */
	TWP_FD_PRIVATE,     /* the shim's own fd of an idle connection: conn */
};
#define TWP_KIND_MASK 0x7u

/* Flag bits. The fd flags (NONBLOCK, CLOEXEC, FLAGS) are the program's fd's
 * for SOCK, TRACKED and PROVISIONAL (for the last: what the program asked
 * for; the socket catches up at connect). The use bits describe the current
 * use of a TRACKED connection. */
#define TWP_S_NONBLOCK  0x0008u /* O_NONBLOCK is set */
#define TWP_S_CLOEXEC   0x0010u /* FD_CLOEXEC is set */
#define TWP_S_FLAGS     0x0020u /* the two bits above are known */
#define TWP_S_REUSED    0x0040u /* the connection came from the pool */
#define TWP_S_WROTE     0x0080u /* written since it was handed out */
#define TWP_S_READ      0x0100u /* read (>0 bytes) since it was handed out */
#define TWP_S_LASTREAD  0x0200u /* the last I/O was a read */
#define TWP_S_EOF       0x0400u /* a read returned 0 */
#define TWP_S_ERR       0x0800u /* an I/O call failed with a socket error */
#define TWP_S_SHUT      0x1000u /* shutdown() was called */
#define TWP_S_NOPOOL    0x2000u /* never park or reuse: see slot->why */
#define TWP_S_ARMED     0x4000u /* reused, no reply byte yet: replay possible */
#define TWP_S_CONNPEND  0x8000u /* a pooled connection was handed to a
				 * non-blocking connect() (EINPROGRESS) */
#define TWP_S_CLOSING   0x10000u /* close() has begun: calls entering now
				  * fail with EBADF (see calls below) */

struct twp_conn;
struct twp_opts;
struct twp_epolls;

/* calls: threads inside an I/O call on a TRACKED fd. A caller raises it,
 * then reads st (both seq_cst); close() sets TWP_S_CLOSING, then reads
 * calls (both seq_cst): either the caller sees CLOSING and fails with
 * EBADF as on a closed fd, or close() sees the call and closes for real,
 * so a connection with a call in flight is never parked. Never reset: a
 * call that outlives the slot's kind still leaves the count balanced. */
struct twp_slot {
	_Atomic uint32_t st;     /* kind | flag bits */
	uint16_t why;            /* discard reason behind TWP_S_NOPOOL */
	_Atomic uint16_t calls;
	struct twp_conn *conn;   /* the connection, for the kinds that have one */
	struct twp_opts *opts;   /* SOCK: options set before connect() */
	struct twp_epolls *ep;   /* SOCK, TRACKED, PROVISIONAL: the program's
				  * epoll registrations of this fd */
};

extern struct twp_slot *twp_fdtab __attribute__((visibility("hidden")));
extern unsigned twp_fdtab_size __attribute__((visibility("hidden")));

/* Sizes the table; 0 or -ENOMEM (then nothing is ever tracked). */
int twp_fdtab_init(void);

/* The slot of fd, or NULL when fd is outside the table. */
static inline struct twp_slot *twp_slot(int fd)
{
	return (unsigned)fd < twp_fdtab_size ? &twp_fdtab[fd] : NULL;
}

static inline enum twp_kind twp_kind(uint32_t st)
{
	return (enum twp_kind)(st & TWP_KIND_MASK);
}

static inline uint32_t twp_slot_st(int fd)
{
	return (unsigned)fd < twp_fdtab_size
		? atomic_load_explicit(&twp_fdtab[fd].st, memory_order_relaxed) : 0;
}

/* Kinds whose fd carries (or stands for) a connection's I/O. */
#define TWP_IO_KINDS ((1u << TWP_FD_TRACKED) | (1u << TWP_FD_PROVISIONAL) | (1u << TWP_FD_PARKED))

/* The hooks' fast path: is there anything to do for this fd? */
static inline int twp_fd_watched(int fd)
{
	return twp_kind(twp_slot_st(fd)) != TWP_FD_NONE;
}

static inline int twp_fd_io(int fd)
{
	return ((1u << twp_kind(twp_slot_st(fd))) & TWP_IO_KINDS) != 0;
}

/* An idle connection's fd: closed, to the program. */
static inline int twp_kind_idle(uint32_t st)
{
	return twp_kind(st) == TWP_FD_PARKED || twp_kind(st) == TWP_FD_PRIVATE;
}

/* Calls the program makes on a number it closed fail as on a closed fd:
 * -1 with EBADF for a parked slot, else 0. */
static inline int twp_parked_ebadf(uint32_t st)
{
	if (twp_kind(st) != TWP_FD_PARKED)
		return 0;
	errno = EBADF;
	return -1;
}

static inline void twp_slot_set(struct twp_slot *s, uint32_t bits)
{
	atomic_fetch_or_explicit(&s->st, bits, memory_order_relaxed);
}

static inline void twp_slot_clear(struct twp_slot *s, uint32_t bits)
{
	atomic_fetch_and_explicit(&s->st, ~bits, memory_order_relaxed);
}

static inline void twp_slot_put(struct twp_slot *s, uint32_t bits, int on)
{
	if (on)
		twp_slot_set(s, bits);
	else
		twp_slot_clear(s, bits);
}

/* The fd flag bits for O_NONBLOCK and FD_CLOEXEC, known. */
static inline uint32_t twp_fdflags(int nonblock, int cloexec)
{
	return TWP_S_FLAGS | (nonblock ? TWP_S_NONBLOCK : 0) | (cloexec ? TWP_S_CLOEXEC : 0);
}

/* One past the highest fd number the shim ever watched: bulk closes
 * (close_range, closefrom) scan the table only up to here. */
extern unsigned twp_fdtab_high __attribute__((visibility("hidden")));

/* ---- kind changes: each writes conn and the bits, st last ---- */

/* NONE: forgets everything about the number (frees options, epoll record). */
void twp_slot_reset(struct twp_slot *s);

/* SOCK: the number is a plain socket of the program's, with the given fd
 * flag bits; its records (options, epoll) stay as they are. */
void twp_slot_to_sock(int fd, struct twp_slot *s, uint32_t bits);

/* TRACKED, PROVISIONAL: the program's number now carries c; bits are the
 * fd flags and use bits to start with. Options and epoll record stay. */
void twp_slot_to_conn(int fd, struct twp_slot *s, enum twp_kind kind, struct twp_conn *c,
		      uint32_t bits);

/* PARKED, PRIVATE: an idle connection's fd; the slot's records are freed. */
void twp_slot_to_idle(int fd, struct twp_slot *s, enum twp_kind kind, struct twp_conn *c);

/* Marks fd as never to be parked, with a discard reason (enum twp_reason). */
void twp_slot_nopool(struct twp_slot *s, unsigned reason);

/* The fd flag bits of the program's fd (TWP_S_FLAGS and the two it
 * covers), from the slot when it knows them, else from the kernel; 0 when
 * the kernel does not say. */
uint32_t twp_fd_flags(int fd, uint32_t st);

#endif
