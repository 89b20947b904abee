/* codec_http.h - the HTTP/1.x codec: framing of requests and responses
 * (RFC 9112), read incrementally from the bytes a program writes and reads.
 *
 * The state is a fixed struct: nothing is buffered but a header's name or
 * the value of the few headers that frame a message, so no allocation on
 * the I/O path. Framing it cannot follow (not HTTP/1.x, malformed, a
 * response nobody asked for, pipelining deeper than TWP_HTTP_PIPELINE)
 * makes the connection the program's for good, never an error the program
 * sees. The struct is here for the unit and fuzz tests; everyone else goes
 * through twp_codec_http. */
#ifndef TWP_CODEC_HTTP_H
#define TWP_CODEC_HTTP_H

#include <stdint.h>

#include "codec.h"

/* Bytes kept of a header name or of a framing header's value: the longest
 * name the codec looks for is 17 bytes; a framing value longer than this is
 * not one a sane peer sends, and makes the connection unpoolable. */
#define TWP_HTTP_TOKEN 48

/* Requests sent and not yet answered that the codec can follow. */
#define TWP_HTTP_PIPELINE 32

/* One direction's message being read. */
struct twp_http_msg {
	uint8_t st;      /* where in the message: enum in codec_http.c */
	uint8_t hdr;     /* the header whose value is being read */
	uint8_t flags;   /* what the headers said so far */
	uint8_t minor;   /* HTTP/1.minor of the start line */
	uint8_t n;       /* bytes in buf (TWP_HTTP_TOKEN + 1: overflowed) */
	uint8_t cr;      /* a CR was read: an LF must follow */
	uint8_t spaces;  /* spaces in the start line so far */
	uint8_t method;  /* request: the method's class */
	uint16_t status; /* response: the status code */
	uint32_t pos;    /* bytes of the start line so far */
	uint64_t win;    /* the last 8 bytes of the start line */
	uint64_t len;    /* Content-Length, then body or chunk bytes left;
			  * in a request line, where its last word starts */
	char buf[TWP_HTTP_TOKEN];
};

struct twp_http {
	struct twp_http_msg req, resp;
	uint32_t sent;  /* requests whose start line was written */
	uint32_t done;  /* final responses read to their last byte */
	uint8_t kind[TWP_HTTP_PIPELINE]; /* per request not yet answered */
	uint8_t never;  /* enum twp_reason why it can never be parked, or 0 */
	uint8_t noreplay; /* a request written may not be sent twice */
};

extern const struct twp_codec twp_codec_http __attribute__((visibility("hidden")));

/* 1 when m stands between two messages. */
int twp_http_idle(const struct twp_http_msg *m);

/* 1 while the codec still follows m's framing (not lost, not a tunnel). */
int twp_http_following(const struct twp_http_msg *m);

#endif
