/* track.c - making the program's I/O calls and noting what they did. */
#include <errno.h>

#include "codec.h"
#include "codec_mysql.h"
#include "conn.h"
#include "fdtab.h"
#include "goodbye.h"
#include "mysql_login.h"
#include "provisional.h"
#include "replay.h"
#include "track.h"

/* Enters a call on fd (see struct twp_slot on calls): 1 when the slot is a
 * TRACKED connection's and its calls count is raised (leave() lowers it),
 * 0 when there is nothing to track (the fd is a fresh socket now), -1 with
 * errno when the call must fail as on a closed fd. */
static int enter(int fd, struct twp_slot *s)
{
	atomic_fetch_add_explicit(&s->calls, 1, memory_order_seq_cst);
	uint32_t st = atomic_load_explicit(&s->st, memory_order_seq_cst);
	if (twp_kind(st) == TWP_FD_TRACKED && !(st & TWP_S_CLOSING))
		return 1;
	atomic_fetch_sub_explicit(&s->calls, 1, memory_order_release);
	if (st & TWP_S_CLOSING) {
		errno = EBADF;
		return -1;
	}
	return twp_unpark(fd, s) < 0 ? -1 : 0;
}

static void leave(struct twp_slot *s)
{
	atomic_fetch_sub_explicit(&s->calls, 1, memory_order_release);
}

static void note(struct twp_slot *s, int out, int peek, ssize_t r, int err)
{
	if (r > 0) {
		if (out) {
			twp_slot_set(s, TWP_S_WROTE);
			twp_slot_clear(s, TWP_S_LASTREAD);
			s->conn->written += (uint64_t)r;
		} else if (!peek) {
			twp_slot_set(s, TWP_S_READ | TWP_S_LASTREAD);
		}
	} else if (r == 0) {
		if (!out)
			twp_slot_set(s, TWP_S_EOF);
	} else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
		twp_slot_set(s, TWP_S_ERR);
	}
}

/* The bytes the call moved, to the connection's codec if it has one. */
static void to_codec(struct twp_conn *c, const struct twp_io *io, ssize_t r)
{
	const struct iovec *iov;
	int cnt;
	if (!c->codec || r <= 0 || io->flags & MSG_PEEK)
		return;
	twp_io_buffers(io, &iov, &cnt);
	c->codec->bytes(c->codec_state, twp_io_writes(io), iov, cnt, (size_t)r);
}

static void mysql_read(struct twp_slot *s, const struct twp_io *io, ssize_t r)
{
	const struct iovec *iov;
	int cnt;
	if (io->flags & MSG_PEEK)
		return;
	twp_io_buffers(io, &iov, &cnt);
	twp_myl_read(s, iov, cnt, r);
}

static ssize_t issue(struct twp_slot *s, const struct twp_io *io)
{
	if (atomic_load_explicit(&s->st, memory_order_relaxed) & TWP_S_ARMED)
		return twp_replay_io(s, io);
	return twp_io_call(io, 0);
}

ssize_t twp_track_io(const struct twp_io *io)
{
	struct twp_slot *s = twp_slot(io->fd);
	int in = enter(io->fd, s);
	if (in <= 0)
		return in < 0 ? -1 : twp_io_call(io, 0); /* a fresh socket: ENOTCONN */
	ssize_t r;
	int out = twp_io_writes(io),
	    fed = out && (twp_myl_write(io->fd, s, io, &r) || twp_goodbye_write(s, io, issue, &r));
	if (!fed)
		r = issue(s, io);
	int err = errno;
	if (twp_kind(atomic_load_explicit(&s->st, memory_order_relaxed)) == TWP_FD_TRACKED) {
		note(s, out, io->flags & MSG_PEEK, r, err);
		if (!fed)
			to_codec(s->conn, io, r);
		if (!out && r > 0 && s->conn->codec == &twp_codec_mysql)
			mysql_read(s, io, r);
		if (r > 0 && !out && !s->conn->written)
			twp_conn_first_read(s->conn);
	}
	leave(s);
	if (!out && r > 0)
		twp_goodbye_after_read(io->fd, s);
	if (out && fed)
		twp_myl_after_write(io->fd, s);
	errno = err;
	return r;
}

int twp_track_blind_begin(int fd)
{
	struct twp_slot *s = twp_slot(fd);
	return s && (atomic_load_explicit(&s->st, memory_order_relaxed) & TWP_KIND_MASK)
		? enter(fd, s) : 0;
}

void twp_track_blind_end(int fd, int token, int out, ssize_t r, int err)
{
	struct twp_slot *s = twp_slot(fd);
	if (token <= 0)
		return;
	if (twp_kind(atomic_load_explicit(&s->st, memory_order_relaxed)) == TWP_FD_TRACKED) {
		if (r > 0) {
			twp_slot_clear(s, TWP_S_ARMED);
			s->conn->kept.n = 0;
			if (s->conn->codec)
				twp_slot_nopool(s, TWP_R_BLIND);
		}
		note(s, out, 0, r, err);
	}
	leave(s);
}
