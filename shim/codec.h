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
	size_t state_size; /* allocated with the connection, zeroed per use */
	/* The program wrote (out) or read (!out) these n bytes of iov. */
	void (*bytes)(void *state, int out, const struct iovec *iov, int cnt, size_t n);
	/* Why the connection may not be parked now, or TWP_R_NONE. */
	enum twp_reason (*verdict)(const void *state);
	/* 1 when the bytes written since the last reply may be sent again. */
	int (*replayable)(const void *state);
};

#endif
