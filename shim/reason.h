/* reason.h - why a connection was closed for real instead of parked or
 * reused: the reason label of twpool_discards_total (the list with its
 * meanings is in include/twpool.h). */
#ifndef TWP_REASON_H
#define TWP_REASON_H

enum twp_reason {
	TWP_R_NONE, TWP_R_UNUSED, TWP_R_LAST_WRITE, TWP_R_UNREAD, TWP_R_EOF,
	TWP_R_ERROR, TWP_R_SHUTDOWN, TWP_R_UNSENT, TWP_R_STATE, TWP_R_SOCKOPT,
	TWP_R_SHARED, TWP_R_OVERFLOW, TWP_R_IDLE_TIMEOUT, TWP_R_LIFETIME,
	TWP_R_USES, TWP_R_STALE, TWP_R_FDLIMIT, TWP_R_STDIO, TWP_R_CLOSE_RANGE,
	TWP_R_EPOLL, TWP_R_INFLIGHT, TWP_R_BLIND, TWP_R_PARTIAL, TWP_R_PROTOCOL,
	TWP_R_TUNNEL, TWP_R_SERVER_CLOSE, TWP_R_TLS, TWP_R_SERVER_FIRST,
	TWP_R_COUNT
};

/* The label value of r ("unknown" outside the enum). */
const char *twp_reason_name(enum twp_reason r);

#endif
