/* test_key.c - twp_key_from_sockaddr and twp_key_label. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "key.h"

static const uint8_t mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static struct sockaddr_in sin4(const char *addr, unsigned port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	cr_assert_eq(inet_pton(AF_INET, addr, &in.sin_addr), 1, "test bug: bad IPv4 '%s'", addr);
	return in;
}

static struct sockaddr_in6 sin6(const char *addr, unsigned port)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	cr_assert_eq(inet_pton(AF_INET6, addr, &in6.sin6_addr), 1, "test bug: bad IPv6 '%s'", addr);
	return in6;
}

static struct twp_key key_text(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 in6 = sin6(addr, port);
		memcpy(&ss, &in6, len = sizeof(in6));
	} else {
		struct sockaddr_in in = sin4(addr, port);
		memcpy(&ss, &in, len = sizeof(in));
	}
	struct twp_key k;
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&ss, len), 0, "%s accepted", addr);
	return k;
}

Test(key, ipv4)
{
	struct sockaddr_in in = sin4("192.0.2.7", 6379);
	struct twp_key k;
	memset(&k, 0xaa, sizeof(k));
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in, sizeof(in)), 0, "IPv4 sockaddr accepted");
	cr_assert_eq(k.family, AF_INET, "family AF_INET, got %u", k.family);
	cr_assert_eq(k.port, htons(6379), "port kept in network order");
	cr_assert_arr_eq(k.addr, mapped_prefix, 12, "IPv4 stored as ::ffff:a.b.c.d (prefix)");
	cr_assert_arr_eq(k.addr + 12, &in.sin_addr, 4, "IPv4 stored as ::ffff:a.b.c.d (address)");
}

Test(key, ipv6)
{
	struct sockaddr_in6 in6 = sin6("2001:db8::42", 443);
	struct twp_key k;
	memset(&k, 0xaa, sizeof(k));
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in6, sizeof(in6)), 0, "IPv6 sockaddr accepted");
	cr_assert_eq(k.family, AF_INET6, "family AF_INET6, got %u", k.family);
	cr_assert_eq(k.port, htons(443), "port kept in network order");
	cr_assert_arr_eq(k.addr, &in6.sin6_addr, 16, "IPv6 address copied as is");
}

Test(key, v4_mapped_v6_folds_to_v4)
{
	struct sockaddr_in in = sin4("1.2.3.4", 80);
	struct sockaddr_in6 in6 = sin6("::ffff:1.2.3.4", 80);
	struct twp_key k4, k6;
	cr_assert_eq(twp_key_from_sockaddr(&k4, (void *)&in, sizeof(in)), 0, "v4 accepted");
	cr_assert_eq(twp_key_from_sockaddr(&k6, (void *)&in6, sizeof(in6)), 0, "v4-mapped v6 accepted");
	cr_assert_eq(k6.family, AF_INET, "::ffff:1.2.3.4 folds to AF_INET, got %u", k6.family);
	cr_assert_arr_eq(&k4, &k6, sizeof(k4), "1.2.3.4:80 and [::ffff:1.2.3.4]:80 must be byte-equal keys");
}

Test(key, v4_compatible_v6_is_not_folded)
{
	struct sockaddr_in6 in6 = sin6("::1.2.3.4", 80);
	struct twp_key k;
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in6, sizeof(in6)), 0, "::1.2.3.4 accepted");
	cr_assert_eq(k.family, AF_INET6, "only ::ffff:0:0/96 folds; ::1.2.3.4 stays AF_INET6");
}

Test(key, ignores_flowinfo)
{
	struct sockaddr_in6 a = sin6("2001:db8::1", 80), b = a;
	b.sin6_flowinfo = htonl(0x12345);
	struct twp_key ka, kb;
	cr_assert_eq(twp_key_from_sockaddr(&ka, (void *)&a, sizeof(a)), 0, "a accepted");
	cr_assert_eq(twp_key_from_sockaddr(&kb, (void *)&b, sizeof(b)), 0, "b accepted");
	cr_assert_arr_eq(&ka, &kb, sizeof(ka), "the flow label does not change the destination");
}

/* fe80::1%1 and fe80::1%2 are different hosts on different links: a
 * connection parked for one must never be handed out for the other. */
Test(key, link_local_scopes_are_distinct)
{
	struct sockaddr_in6 a = sin6("fe80::1", 80), b = a;
	a.sin6_scope_id = 1;
	b.sin6_scope_id = 2;
	struct twp_key ka, kb;
	cr_assert_eq(twp_key_from_sockaddr(&ka, (void *)&a, sizeof(a)), 0, "fe80::1%%1 accepted");
	cr_assert_eq(twp_key_from_sockaddr(&kb, (void *)&b, sizeof(b)), 0, "fe80::1%%2 accepted");
	cr_assert_eq(ka.scope, 1, "scope id kept in the key, got %u", ka.scope);
	cr_assert(memcmp(&ka, &kb, sizeof(ka)) != 0,
		  "fe80::1%%1 and fe80::1%%2 got the same key: connections to two links would share a pool");
	cr_assert(twp_key_same_target(&ka, &kb), "but both are the host of an allow-list entry [fe80::1]:80");
}

Test(key, v4_mapped_drops_the_scope)
{
	struct sockaddr_in in = sin4("1.2.3.4", 80);
	struct sockaddr_in6 in6 = sin6("::ffff:1.2.3.4", 80);
	in6.sin6_scope_id = 3;
	struct twp_key k4, k6;
	cr_assert_eq(twp_key_from_sockaddr(&k4, (void *)&in, sizeof(in)), 0, "v4 accepted");
	cr_assert_eq(twp_key_from_sockaddr(&k6, (void *)&in6, sizeof(in6)), 0, "v4-mapped accepted");
	cr_assert_arr_eq(&k4, &k6, sizeof(k4), "a scope on a v4-mapped address must not split it from the v4 key");
}

struct same_case {
	char a[48], b[48];
	unsigned pa, pb;
	int same;
};

ParameterizedTestParameters(key, same_target)
{
	static struct same_case params[] = {
		{ "1.2.3.4", "1.2.3.4", 80, 80, 1 },
		{ "1.2.3.4", "::ffff:1.2.3.4", 80, 80, 1 },
		{ "1.2.3.4", "1.2.3.5", 80, 80, 0 },
		{ "1.2.3.4", "1.2.3.4", 80, 81, 0 },
		{ "::1", "::1", 443, 443, 1 },
		{ "::1", "::2", 443, 443, 0 },
		{ "::1.2.3.4", "1.2.3.4", 80, 80, 0 },
	};
	return cr_make_param_array(struct same_case, params, sizeof(params) / sizeof(params[0]));
}


ParameterizedTest(struct same_case *c, key, same_target)
{
	struct twp_key a = key_text(c->a, c->pa), b = key_text(c->b, c->pb);
	cr_assert_eq(twp_key_same_target(&a, &b), c->same, "%s port %u vs %s port %u: same %d expected",
		     c->a, c->pa, c->b, c->pb, c->same);
}

Test(key, accepts_sockaddr_storage_length)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in in = sin4("10.1.2.3", 9);
	memcpy(&ss, &in, sizeof(in));
	struct twp_key k;
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&ss, sizeof(ss)), 0,
		     "a length larger than sockaddr_in (sockaddr_storage) is fine");
	cr_assert_eq(k.family, AF_INET, "family from the storage");
}

struct bad_addr {
	int family;
	socklen_t len;
	char what[48];
};

ParameterizedTestParameters(key, rejects)
{
	static struct bad_addr params[] = {
		{ AF_INET, sizeof(struct sockaddr_in) - 1, "AF_INET one byte short" },
		{ AF_INET, sizeof(sa_family_t), "AF_INET family only" },
		{ AF_INET, 0, "AF_INET length 0" },
		{ AF_INET6, sizeof(struct sockaddr_in6) - 1, "AF_INET6 one byte short" },
		{ AF_INET6, sizeof(struct sockaddr_in), "AF_INET6 with sockaddr_in length" },
		{ AF_INET6, 0, "AF_INET6 length 0" },
		{ AF_UNIX, sizeof(struct sockaddr_un), "AF_UNIX" },
		{ AF_UNSPEC, sizeof(struct sockaddr_storage), "AF_UNSPEC" },
		{ AF_NETLINK, sizeof(struct sockaddr_storage), "AF_NETLINK" },
	};
	return cr_make_param_array(struct bad_addr, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_addr *b, key, rejects)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)b->family;
	struct twp_key k;
	memset(&k, 0xaa, sizeof(k));
	int r = twp_key_from_sockaddr(&k, (void *)&ss, b->len);
	cr_assert_eq(r, -EAFNOSUPPORT, "%s (len %u): expected -EAFNOSUPPORT, got %d", b->what, b->len, r);
	static const struct twp_key zero;
	cr_assert_arr_eq(&k, &zero, sizeof(k), "%s: a rejected key is left zeroed, not half-filled", b->what);
}

Test(key, rejects_null_sockaddr)
{
	struct twp_key k;
	cr_assert_eq(twp_key_from_sockaddr(&k, NULL, sizeof(struct sockaddr_in)), -EAFNOSUPPORT,
		     "NULL sockaddr must be rejected, not dereferenced");
}

struct label_case {
	char addr[48];
	unsigned port;
	char label[TWP_LABEL_MAX];
};

ParameterizedTestParameters(key, label)
{
	static struct label_case params[] = {
		{ "1.2.3.4", 6379, "1.2.3.4:6379" },
		{ "0.0.0.0", 0, "0.0.0.0:0" },
		{ "255.255.255.255", 65535, "255.255.255.255:65535" },
		{ "::1", 6379, "[::1]:6379" },
		{ "2001:db8::1", 443, "[2001:db8::1]:443" },
		{ "::ffff:10.0.0.1", 80, "10.0.0.1:80" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
		  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" },
		{ "::1.2.3.4", 1, "[::1.2.3.4]:1" },
	};
	return cr_make_param_array(struct label_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct label_case *l, key, label)
{
	struct twp_key k = key_text(l->addr, l->port);
	char buf[TWP_LABEL_MAX];
	memset(buf, 'x', sizeof(buf));
	twp_key_label(&k, buf, sizeof(buf));
	cr_assert_str_eq(buf, l->label, "label of %s port %u", l->addr, l->port);
}

Test(key, label_with_scope)
{
	struct sockaddr_in6 in6 = sin6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	in6.sin6_scope_id = 4294967295u;
	struct twp_key k;
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in6, sizeof(in6)), 0, "scoped address accepted");
	char buf[TWP_LABEL_MAX];
	twp_key_label(&k, buf, sizeof(buf));
	cr_assert_str_eq(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535",
			 "the longest label, with its scope, fits TWP_LABEL_MAX");
	in6 = sin6("fe80::1", 80);
	in6.sin6_scope_id = 2;
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in6, sizeof(in6)), 0, "fe80::1%%2 accepted");
	twp_key_label(&k, buf, sizeof(buf));
	cr_assert_str_eq(buf, "[fe80::1%2]:80", "scope shown after %%");
}

Test(key, label_is_cut_to_the_buffer)
{
	struct sockaddr_in in = sin4("192.168.100.200", 6379);
	struct twp_key k;
	cr_assert_eq(twp_key_from_sockaddr(&k, (void *)&in, sizeof(in)), 0, "accepted");
	char buf[8];
	memset(buf, 'x', sizeof(buf));
	twp_key_label(&k, buf, 6);
	cr_assert_str_eq(buf, "192.1", "label cut to size-1 characters and terminated");
	cr_assert_eq(buf[6], 'x', "nothing written past size");
}
