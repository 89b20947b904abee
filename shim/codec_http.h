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
	uint8_t longed; /* a request that asked for the close was made
			 * keep-alive: the program expects EOF after it */
	uint8_t edit;   /* enum twp_http_edit still to be applied, at edit_at */
	uint8_t edit_done; /* TWP_HTTP_INSERT: its bytes already sent */
	uint64_t edit_at;  /* offset in the program's written bytes */
};

/* How a request that asks the server to close is made keep-alive on the
 * wire. RENAME: an HTTP/1.1 request's "Connection: close" header gets an
 * unknown name of the same length, so the server applies 1.1's default
 * keep-alive and every length stays the program's. INSERT: an HTTP/1.0
 * request without a Connection header gets one after its request line. */
enum twp_http_edit { TWP_HTTP_EDIT_NONE, TWP_HTTP_RENAME, TWP_HTTP_INSERT };
#define TWP_HTTP_RENAME_TO "X-Twpool-C" /* as long as "Connection" */
#define TWP_HTTP_INSERT_TEXT "Connection: keep-alive\r\n"

extern const struct twp_codec twp_codec_http __attribute__((visibility("hidden")));

/* 1 when m stands between two messages. */
int twp_http_idle(const struct twp_http_msg *m);

/* p[0..n) are bytes the program is about to write at offset at, h between
 * requests. When they hold a whole request head that asks for the close
 * and that the codec follows once edited, plans the edit (edit, edit_at,
 * longed) and returns 1; else 0. */
int twp_http_plan_keepalive(struct twp_http *h, const char *p, size_t n, uint64_t at);

/* 1 while the codec still follows m's framing (not lost, not a tunnel). */
int twp_http_following(const struct twp_http_msg *m);

#endif
