/* fdtab.h - what the shim knows about each of the program's fd numbers.
 *
 * One slot per fd number, in an array sized once from RLIMIT_NOFILE's hard
 * limit, so the hooks find an fd's state with one load and no lock. Fds
 * beyond the table are never tracked: the shim passes them through. */
#ifndef TWP_FDTAB_H
#define TWP_FDTAB_H

#include <stdatomic.h>
#include <stdint.h>

/* Slot state bits. */
#define TWP_S_SOCK      0x0001u /* TCP socket made by socket(): a candidate */
#define TWP_S_NONBLOCK  0x0002u /* O_NONBLOCK is set (valid with SOCK or TRACKED) */
#define TWP_S_CLOEXEC   0x0004u /* FD_CLOEXEC is set (valid with SOCK or TRACKED) */
#define TWP_S_FLAGS     0x0008u /* the two bits above are known */
#define TWP_S_TRACKED   0x0010u /* connected to a target: slot->conn is valid */
#define TWP_S_REUSED    0x0020u /* the connection came from the pool */
#define TWP_S_WROTE     0x0040u /* written since it was handed out */
#define TWP_S_READ      0x0080u /* read (>0 bytes) since it was handed out */
#define TWP_S_LASTREAD  0x0100u /* the last I/O was a read */
#define TWP_S_EOF       0x0200u /* a read returned 0 */
#define TWP_S_ERR       0x0400u /* an I/O call failed with a socket error */
#define TWP_S_SHUT      0x0800u /* shutdown() was called */
#define TWP_S_NOPOOL    0x1000u /* never park or reuse: see slot->why */
#define TWP_S_PRIVATE   0x2000u /* the shim's own fd (a pooled connection) */
#define TWP_S_ARMED     0x4000u /* reused, no reply byte yet: replay possible */
#define TWP_S_PARKED    0x8000u /* an idle connection parked at the number the
				 * program closed: not open, to the program */
#define TWP_S_PROVISIONAL 0x10000u /* an idle connection socket() handed out;
				    * the program has not connected it yet */
#define TWP_S_CONNPEND  0x20000u /* a pooled connection was handed to a
				  * non-blocking connect() (EINPROGRESS) */

/* Bits that make a hook look at the slot at all. */
#define TWP_S_WATCHED (TWP_S_SOCK | TWP_S_TRACKED | TWP_S_PRIVATE | TWP_S_PARKED | TWP_S_PROVISIONAL)
/* Bits that make the read/write hooks look. */
#define TWP_S_IO (TWP_S_TRACKED | TWP_S_PARKED | TWP_S_PROVISIONAL)

struct twp_conn;
struct twp_opts;
struct twp_epolls;

struct twp_slot {
	_Atomic uint32_t st;
	uint16_t why;            /* discard reason behind TWP_S_NOPOOL */
	struct twp_conn *conn;   /* TRACKED, PARKED, PROVISIONAL: the connection;
				  * PRIVATE: the connection whose spare fd it is */
	struct twp_opts *opts;   /* options set before connect() (TWP_S_SOCK) */
	struct twp_epolls *ep;   /* the program's epoll registrations of this fd */
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

static inline uint32_t twp_slot_st(int fd)
{
	return (unsigned)fd < twp_fdtab_size
		? atomic_load_explicit(&twp_fdtab[fd].st, memory_order_relaxed) : 0;
}

/* The hooks' fast path: is there anything to do for this fd? */
static inline int twp_fd_watched(int fd)
{
	return (twp_slot_st(fd) & TWP_S_WATCHED) != 0;
}

static inline int twp_fd_io(int fd)
{
	return (twp_slot_st(fd) & TWP_S_IO) != 0;
}

static inline void twp_slot_set(struct twp_slot *s, uint32_t bits)
{
	atomic_fetch_or_explicit(&s->st, bits, memory_order_relaxed);
}

static inline void twp_slot_clear(struct twp_slot *s, uint32_t bits)
{
	atomic_fetch_and_explicit(&s->st, ~bits, memory_order_relaxed);
}

/* One past the highest fd number the shim ever watched: bulk closes
 * (close_range, closefrom) scan the table only up to here. */
extern unsigned twp_fdtab_high __attribute__((visibility("hidden")));
void twp_fdtab_note(int fd);

/* Forgets everything about fd (frees pending options). */
void twp_slot_reset(struct twp_slot *s);

/* Marks fd as never to be parked, with a discard reason (enum twp_reason). */
void twp_slot_nopool(struct twp_slot *s, unsigned reason);

#endif
