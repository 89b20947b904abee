/* key.h - the identity of a target: folded address family, port, address. */
#ifndef TWP_KEY_H
#define TWP_KEY_H

#include <stdint.h>
#include <sys/socket.h>

/* Padding-free so that it can be hashed and compared as bytes. IPv4 and
 * IPv4-mapped IPv6 addresses both become family AF_INET with the address
 * in ::ffff:a.b.c.d form, so the two ways of reaching one host match. */
struct twp_key {
	uint16_t family; /* AF_INET or AF_INET6, after folding */
	uint16_t port;   /* network byte order */
	uint8_t addr[16];
	uint32_t scope;  /* sin6_scope_id: fe80::1 on two links are two hosts */
};
_Static_assert(sizeof(struct twp_key) == 24, "twp_key must have no padding");

/* Fills *k from a socket address. Returns 0, or -EAFNOSUPPORT for a family
 * other than AF_INET/AF_INET6 or a length too short for it. */
int twp_key_from_sockaddr(struct twp_key *k, const struct sockaddr *sa, socklen_t len);

/* Same host and port, whatever the scope (allow-list entries have none). */
int twp_key_same_target(const struct twp_key *a, const struct twp_key *b);

/* Writes "1.2.3.4:6379", "[::1]:6379" or "[fe80::1%2]:80" into buf (at
 * least TWP_LABEL_MAX). */
#define TWP_LABEL_MAX 72
void twp_key_label(const struct twp_key *k, char *buf, size_t size);

#endif
