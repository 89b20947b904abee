/* key.c - building and printing target keys. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "key.h"

static const uint8_t v4mapped_prefix[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };

int twp_key_from_sockaddr(struct twp_key *k, const struct sockaddr *sa, socklen_t len)
{
	memset(k, 0, sizeof(*k));
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;
		k->family = AF_INET;
		k->port = in->sin_port;
		memcpy(k->addr, v4mapped_prefix, 12);
		memcpy(k->addr + 12, &in->sin_addr, 4);
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		k->port = in6->sin6_port;
		memcpy(k->addr, &in6->sin6_addr, 16);
		k->family = memcmp(k->addr, v4mapped_prefix, 12) ? AF_INET6 : AF_INET;
		if (k->family == AF_INET6)
			k->scope = in6->sin6_scope_id;
		return 0;
	}
	return -EAFNOSUPPORT;
}

void twp_key_label(const struct twp_key *k, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (k->family == AF_INET) {
		inet_ntop(AF_INET, k->addr + 12, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(k->port));
	} else {
		inet_ntop(AF_INET6, k->addr, host, sizeof(host));
		if (k->scope)
			snprintf(buf, size, "[%s%%%u]:%u", host, (unsigned)k->scope, ntohs(k->port));
		else
			snprintf(buf, size, "[%s]:%u", host, ntohs(k->port));
	}
}

int twp_key_same_target(const struct twp_key *a, const struct twp_key *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}
