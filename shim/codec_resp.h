/* codec_resp.h - the Redis protocol (RESP2 and RESP3) behind codec.h.
 *
 * Requests are arrays of bulk strings or inline command lines, pipelined to
 * any depth; replies are RESP2/RESP3 values, nested up to
 * TWP_RESP_MAX_DEPTH aggregates. A top-level push ('>') or attribute ('|')
 * is not a reply to a request. Each request's command name (its first
 * argument, uppercased, with "|SUB" for its second) decides whether it may
 * be replayed (shim/resp_readonly.h) and whether it changes the
 * connection's session state. */
#ifndef TWP_CODEC_RESP_H
#define TWP_CODEC_RESP_H

#include "codec.h"

/* Aggregates nested deeper than this make the stream unreadable to the
 * codec (the connection is never parked). Redis nests a few levels. */
#define TWP_RESP_MAX_DEPTH 16

/* The reasons verdict() gives, named once so that new reason values can
 * take their place here. */
#define TWP_RESP_R_DUE TWP_R_LAST_WRITE /* a reply is still due, or a request unfinished */
#define TWP_RESP_R_SESSION TWP_R_STATE  /* session state changed: RESET first */
#define TWP_RESP_R_CONFUSED TWP_R_ERROR /* protocol error, or a reply no request asked for */
#define TWP_RESP_R_QUIT TWP_R_EOF       /* QUIT (the server closes), SYNC, PSYNC */

extern const struct twp_codec twp_codec_resp;

/* 1 when the connection is fit for reuse once the server has run RESET on
 * it: verdict() said TWP_RESP_R_SESSION, every request is whole, and every
 * reply was read (or the connection is in a mode where replies cannot be
 * counted: subscribed, MONITOR, CLIENT REPLY; then anything left before
 * "+RESET" shows at checkout). 0 otherwise. The pool writes
 * "*1\r\n$5\r\nRESET\r\n" at park and must read exactly "+RESET\r\n" at
 * checkout, else discard. */
int twp_resp_needs_reset(const void *state);

/* Replies still due: requests written minus replies read (negative when
 * the server sent more than was asked, which verdict() refuses). */
long long twp_resp_due(const void *state);

#endif
