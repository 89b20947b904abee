/* privfd.h - the shim's own fds for idle connections.
 *
 * An idle connection lives under a private fd (placed at or above a base
 * number, out of the way of the low numbers a program expects) or parked
 * in place at a number the program closed. Both count against one budget,
 * a quarter of RLIMIT_NOFILE, so a program near its limit keeps its fds. */
#ifndef TWP_PRIVFD_H
#define TWP_PRIVFD_H

#include "conn.h"
#include "fdtab.h"
#include "reason.h"

/* Sets the base and the budget from RLIMIT_NOFILE (at start). */
void twp_privfd_limits(void);

/* Takes one fd from the budget: 0, or -1 when it is spent. */
int twp_privfd_reserve(void);

/* Gives one back (an idle fd closed, or the program's again). */
void twp_privfd_release(void);

/* Gives c a private duplicate of fd: c->fd becomes the copy, its slot
 * PRIVATE. With reserve, the copy is taken from the budget (a new idle
 * fd); without, it replaces one already counted. TWP_R_NONE, or
 * TWP_R_FDLIMIT when the budget or the fd table has no room. */
enum twp_reason twp_privfd_move(int fd, struct twp_conn *c, int reserve);

/* Moves fd, a socket of the shim's own that belongs to no connection (a
 * stand-in's other end), to a private number counted in the budget: the
 * new fd, or -1. fd is closed either way. */
int twp_privfd_place(int fd);

/* Closes a private fd placed by twp_privfd_place, unless the program
 * closed that number behind the shim's back (then it is another file now,
 * or none). Keeps errno. */
void twp_privfd_drop(int fd);

/* Closes c's fd (private, or parked in place), if any, and gives its
 * place in the budget back. */
void twp_privfd_close(struct twp_conn *c);

/* The shim's fd behind s (PARKED or PRIVATE) was closed or replaced
 * behind its back: the slot is forgotten, its connection (returned, with
 * fd -1) is left to the caller. */
struct twp_conn *twp_privfd_forget(struct twp_slot *s);

#endif
