/* reason.c - the names of the discard reasons. */
#include "reason.h"

static const char *const names[TWP_R_COUNT] = {
	[TWP_R_NONE] = "none", [TWP_R_UNUSED] = "unused",
	[TWP_R_LAST_WRITE] = "last_write", [TWP_R_UNREAD] = "unread",
	[TWP_R_EOF] = "eof", [TWP_R_ERROR] = "error", [TWP_R_SHUTDOWN] = "shutdown",
	[TWP_R_UNSENT] = "unsent", [TWP_R_STATE] = "state", [TWP_R_SOCKOPT] = "sockopt",
	[TWP_R_SHARED] = "shared", [TWP_R_OVERFLOW] = "overflow",
	[TWP_R_IDLE_TIMEOUT] = "idle_timeout", [TWP_R_LIFETIME] = "lifetime",
	[TWP_R_USES] = "uses", [TWP_R_STALE] = "stale", [TWP_R_FDLIMIT] = "fdlimit",
	[TWP_R_STDIO] = "stdio", [TWP_R_CLOSE_RANGE] = "close_range", [TWP_R_EPOLL] = "epoll",
	[TWP_R_INFLIGHT] = "inflight", [TWP_R_BLIND] = "blind",
	[TWP_R_PARTIAL] = "partial", [TWP_R_PROTOCOL] = "protocol", [TWP_R_TUNNEL] = "tunnel",
	[TWP_R_SERVER_CLOSE] = "server_close", [TWP_R_TLS] = "tls",
	[TWP_R_SERVER_FIRST] = "server_first",
};

const char *twp_reason_name(enum twp_reason r)
{
	return (unsigned)r < TWP_R_COUNT ? names[r] : "unknown";
}
