/* track.c - making the program's I/O calls and noting what they did. */
#include <errno.h>

#include "codec.h"
#include "conn.h"
#include "fdtab.h"
#include "provisional.h"
#include "replay.h"
#include "track.h"

static void note(struct twp_slot *s, const struct twp_io *io, ssize_t r, int err)
{
	if (r > 0) {
		if (twp_io_writes(io)) {
			twp_slot_set(s, TWP_S_WROTE);
			twp_slot_clear(s, TWP_S_LASTREAD);
			s->conn->written += (uint64_t)r;
		} else if (!(io->flags & MSG_PEEK)) {
			twp_slot_set(s, TWP_S_READ | TWP_S_LASTREAD);
		}
	} else if (r == 0) {
		if (!twp_io_writes(io))
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

ssize_t twp_track_io(const struct twp_io *io)
{
	struct twp_slot *s = twp_slot(io->fd);
	uint32_t st = atomic_load_explicit(&s->st, memory_order_relaxed);
	if (twp_kind(st) != TWP_FD_TRACKED) {
		if (twp_unpark(io->fd, s) < 0)
			return -1;
		return twp_io_call(io, 0); /* an unconnected socket now: ENOTCONN */
	}
	ssize_t r;
	if (st & TWP_S_ARMED)
		r = twp_replay_io(s, io);
	else
		r = twp_io_call(io, 0);
	int err = errno;
	note(s, io, r, err);
	to_codec(s->conn, io, r);
	errno = err;
	return r;
}
