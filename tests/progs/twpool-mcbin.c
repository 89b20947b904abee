/* twpool-mcbin - memcached's binary protocol, from a short-connection client.
 *
 *   twpool-mcbin PORT cycles N   N x: connect, SET k<pid>-<i> = v<i>, GET
 *                                it back, close; then
 *                                "cycles N wrong W errors E"
 *   twpool-mcbin PORT quiet      a quiet-get pipeline closed halfway: 100
 *                                GETKQ (every third key missing, so no
 *                                reply) and a NOOP, 30 responses read,
 *                                close; then a new connection GETs its own
 *                                key. Prints what each user read, one line
 *                                each, for a comparison with a run without
 *                                the shim.
 * Every response is checked against its request: magic, opcode, opaque,
 * status and value.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"

#define HDR 24
#define OP_GET 0x00
#define OP_SET 0x01
#define OP_NOOP 0x0a
#define OP_GETKQ 0x0d
#define WAIT_MS 2000
#define PIPE_KEYS 100

struct res {
	uint8_t op;
	uint16_t status;
	uint32_t opaque;
	char key[64], val[64];
};

static int port;

/* Appends one request to out at *n. */
static void put_req(uint8_t *out, size_t *n, uint8_t op, uint32_t opaque, const char *key,
		    const char *val)
{
	uint8_t *h = out + *n;
	size_t klen = strlen(key), vlen = val ? strlen(val) : 0, elen = val ? 8 : 0;
	uint32_t body = htonl((uint32_t)(klen + vlen + elen));
	uint16_t kl = htons((uint16_t)klen);
	memset(h, 0, HDR + elen);
	h[0] = 0x80;
	h[1] = op;
	memcpy(h + 2, &kl, 2);
	h[4] = (uint8_t)elen;
	memcpy(h + 8, &body, 4);
	memcpy(h + 12, &opaque, 4); /* echoed as is: byte order does not matter */
	memcpy(h + HDR + elen, key, klen);
	if (val)
		memcpy(h + HDR + elen + klen, val, vlen);
	*n += HDR + elen + klen + vlen;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, WAIT_MS) != 1)
			return -1;
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One response; key and value cut to fit. 0, or -1 (EOF, timeout, junk). */
static int get_res(int fd, struct res *r)
{
	uint8_t h[HDR], body[1024];
	uint16_t kl, st;
	uint32_t bl;
	if (read_full(fd, h, HDR) || h[0] != 0x81)
		return -1;
	memcpy(&kl, h + 2, 2);
	memcpy(&st, h + 6, 2);
	memcpy(&bl, h + 8, 4);
	memcpy(&r->opaque, h + 12, 4);
	size_t klen = ntohs(kl), blen = ntohl(bl), elen = h[4];
	if (blen > sizeof(body) || klen + elen > blen || read_full(fd, body, blen))
		return -1;
	r->op = h[1];
	r->status = ntohs(st);
	snprintf(r->key, sizeof(r->key), "%.*s", (int)klen, (char *)body + elen);
	snprintf(r->val, sizeof(r->val), "%.*s", (int)(blen - elen - klen), (char *)body + elen + klen);
	return 0;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* SET key = val and GET it back on fd: 0 right, 1 wrong, -1 failed. */
static int set_get(int fd, const char *key, const char *val, uint32_t opaque)
{
	uint8_t req[512];
	size_t n = 0;
	struct res a, b;
	put_req(req, &n, OP_SET, opaque, key, val);
	put_req(req, &n, OP_GET, opaque + 1, key, NULL);
	if (send_all(fd, req, n) || get_res(fd, &a) || get_res(fd, &b))
		return -1;
	if (a.op != OP_SET || a.status || a.opaque != opaque || b.op != OP_GET || b.status ||
	    b.opaque != opaque + 1 || strcmp(b.val, val)) {
		printf("wrong: %s: set op %02x status %u, get op %02x status %u value '%s'\n", key, a.op,
		       a.status, b.op, b.status, b.val);
		return 1;
	}
	return 0;
}

static int cycles(long n)
{
	long wrong = 0, errors = 0;
	for (long i = 0; i < n; i++) {
		char key[64], val[32];
		snprintf(key, sizeof(key), "k%d-%ld", (int)getpid(), i);
		snprintf(val, sizeof(val), "v%ld", i);
		int fd = connect_loopback(port);
		int rc = fd < 0 ? -1 : set_get(fd, key, val, (uint32_t)(2 * i));
		if (fd >= 0)
			close(fd);
		wrong += rc > 0;
		errors += rc < 0;
	}
	printf("cycles %ld wrong %ld errors %ld\n", n, wrong, errors);
	return wrong || errors;
}

/* Stores the keys the quiet pipeline asks for, every third left out. */
static int fill_keys(void)
{
	int fd = connect_loopback(port), bad = fd < 0;
	for (int i = 0; i < PIPE_KEYS && !bad; i++) {
		char key[32], val[32];
		snprintf(key, sizeof(key), "q%d", i);
		snprintf(val, sizeof(val), "old-%d", i);
		bad = i % 3 ? set_get(fd, key, val, (uint32_t)i) != 0 : 0;
	}
	if (fd >= 0)
		close(fd);
	return bad ? -1 : 0;
}

static int quiet(void)
{
	static uint8_t req[PIPE_KEYS * 64];
	size_t n = 0;
	struct res r;
	if (fill_keys())
		return 1;
	int fd = connect_loopback(port);
	for (int i = 0; i < PIPE_KEYS; i++) {
		char key[32];
		snprintf(key, sizeof(key), "q%d", i);
		put_req(req, &n, OP_GETKQ, (uint32_t)i, key, NULL);
	}
	put_req(req, &n, OP_NOOP, 999, "", NULL);
	if (fd < 0 || send_all(fd, req, n))
		return 1;
	printf("first user:");
	for (int i = 0; i < 30 && !get_res(fd, &r); i++)
		printf(" %s", r.val);
	printf("\n");
	close(fd);
	fd = connect_loopback(port);
	int rc = fd < 0 ? -1 : set_get(fd, "mine", "next-user", 5000);
	printf("next user: %s\n", rc ? "wrong or failed" : "own replies");
	if (fd >= 0)
		close(fd);
	return rc != 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[2], "cycles") && strcmp(argv[2], "quiet")) ||
	    (!strcmp(argv[2], "cycles") && argc != 4)) {
		fprintf(stderr, "usage: twpool-mcbin PORT cycles N | twpool-mcbin PORT quiet\n");
		return 2;
	}
	port = atoi(argv[1]);
	return !strcmp(argv[2], "cycles") ? cycles(atol(argv[3])) : quiet();
}
