/* codec_auto.h - the codec of a target given without /PROTOCOL. */
#ifndef TWP_CODEC_AUTO_H
#define TWP_CODEC_AUTO_H

#include <stddef.h>

#include "codec.h"

/* auto: the codec of each use is chosen from the first bytes the program
 * writes (twp_auto_classify); before that, bytes read mean the server
 * speaks first. Never parked: TLS (reason tls), server first (reason
 * server_first). */
extern const struct twp_codec twp_codec_auto __attribute__((visibility("hidden")));

/* Bytes of state the codec auto keeps for the codec it chooses; every
 * codec it may choose fits (test_codec_auto). */
#define TWP_AUTO_ROOM 1024

enum twp_auto_kind {
	TWP_AUTO_MORE,         /* a prefix of something recognised: more bytes */
	TWP_AUTO_RAW,          /* nothing recognised: the call-shape rules */
	TWP_AUTO_HTTP,         /* an HTTP/1.x request line */
	TWP_AUTO_REDIS,        /* a RESP array of bulk strings: *N\r\n$ */
	TWP_AUTO_MEMCACHE,     /* memcached binary (0x80), or a text command
				* that cannot be a Redis inline command */
	TWP_AUTO_TLS,          /* a TLS ClientHello record: 0x16 0x03 0x00-0x04 */
	TWP_AUTO_SERVER_FIRST, /* bytes read before any written (never from
				* twp_auto_classify: the codec's own finding) */
};

/* What the first n bytes a program wrote on a connection are. TWP_AUTO_MORE
 * until they decide; the choice never changes with more bytes. A memcached
 * text command that Redis also reads as an inline command (get k, set k v,
 * incr k, touch k, quit...) is TWP_AUTO_RAW: either server would answer it. */
enum twp_auto_kind twp_auto_classify(const void *buf, size_t n);

/* The choice the codec auto made for the use whose state this is. */
enum twp_auto_kind twp_auto_chosen(const void *state);

#endif
