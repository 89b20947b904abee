/* codec.h - the place of protocol codecs.
 *
 * A codec reads the bytes a program writes and reads on a pooled
 * connection, incrementally and without allocating on the hot path, and
 * answers the questions the pool asks: is every request answered, may the
 * current request be replayed, must this connection never be reused. It
 * knows nothing of fds, pools or epoll; no pool code knows a protocol.
 *
 * A connection without a codec (conn->codec NULL) follows the call-shape
 * rules of track.c and close.c: it wrote, it read, and its last call was a
 * read. */
#ifndef TWP_CODEC_H
#define TWP_CODEC_H

#include <stddef.h>
#include <sys/uio.h>

#include "reason.h"

struct twp_codec {
	const char *name;
	/* Allocated with the connection and zeroed at each handout: all
	 * zeroes is a connection with nothing sent yet. */
	size_t state_size;
	/* The program wrote (out) or read (!out) these n bytes of iov. */
	void (*bytes)(void *state, int out, const struct iovec *iov, int cnt, size_t n);
	/* Why the connection may not be parked now, or TWP_R_NONE. */
	enum twp_reason (*verdict)(const void *state);
	/* 1 when the bytes written since the handout may be sent again. */
	int (*replayable)(const void *state);
	/* Optional: a request that brings a used connection back to a fresh
	 * one's state (written when it is parked), the exact reply it gets
	 * (read before the next handout), and needs_reset, 1 when this use
	 * changed that state and the connection is otherwise clean. */
	int (*needs_reset)(const void *state);
	const char *reset, *reset_reply;
	size_t reset_len, reset_reply_len;
};

/* The protocol names TWPOOL_TARGETS accepts after a '/', for messages. */
#define TWP_CODEC_NAMES "auto, raw, http, redis, memcache or mysql"

/* The codec of a protocol name of TWPOOL_TARGETS: 0 with *out set (NULL:
 * the call-shape rules, for "raw" and for the protocols whose codec is
 * still to come), or -1 for a name this version does not know. A target
 * without a name is "auto". */
int twp_codec_by_name(const char *name, const struct twp_codec **out);

#endif
