/* codec_memcache.h - the memcached protocols behind codec.h.
 *
 * The first byte a program writes picks the protocol, as memcached does:
 * 0x80 is the binary protocol (24-byte headers, quiet opcodes answered
 * only on failure or hit, settled by the next non-quiet response), anything
 * else the text protocol (storage commands with data blocks, retrieval
 * answered by VALUE...END, noreply, and the meta commands, whose quiet
 * flag q is settled by the reply to a later mn).
 *
 * A connection is parked only when nothing can still arrive for it: every
 * reply due was read, every quiet request settled. Replayable: get, gets,
 * mg without N/T/R/E flags, mn; binary GET, GETQ, GETK, GETKQ, NOOP. */
#ifndef TWP_CODEC_MEMCACHE_H
#define TWP_CODEC_MEMCACHE_H

#include "codec.h"

/* The reasons verdict() gives, named once (see codec_resp.h). */
#define TWP_MC_R_DUE TWP_R_LAST_WRITE /* a reply may still come */
#define TWP_MC_R_CONFUSED TWP_R_ERROR /* unreadable, or a reply nobody asked for */
#define TWP_MC_R_QUIT TWP_R_EOF       /* quit, shutdown, or a stream (watch) */

extern const struct twp_codec twp_codec_memcache;

/* Replies surely due (text: non-quiet requests after the last mn not yet
 * answered; binary: non-quiet requests not yet answered). */
long long twp_memcache_due(const void *state);

#endif
