/* util.h - helpers shared by the unit tests; header only, since the
 * Makefile links every .c file under tests/unit as a test file. */
#ifndef TWP_TEST_UTIL_H
#define TWP_TEST_UTIL_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

/* The key of a connect() to addr and port; addr is IPv4 or IPv6 text,
 * the latter with an optional "%SCOPE_ID" (a number). */
static inline struct twp_key test_key(const char *text, unsigned port)
{
	struct twp_key k;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	char addr[64];
	snprintf(addr, sizeof(addr), "%s", text);
	char *pct = strchr(addr, '%');
	if (pct) {
		*pct = '\0';
		in6.sin6_scope_id = (uint32_t)strtoul(pct + 1, NULL, 10);
	}
	memset(&k, 0, sizeof(k));
	if (!pct && inet_pton(AF_INET, addr, &in.sin_addr) == 1)
		cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in, sizeof(in)), 0, "key for %s", addr);
	else if (inet_pton(AF_INET6, addr, &in6.sin6_addr) == 1)
		cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in6, sizeof(in6)), 0, "key for %s", addr);
	else
		cr_assert_fail("test bug: '%s' is not an address", addr);
	return k;
}

#endif
