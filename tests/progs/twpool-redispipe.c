/* twpool-redispipe - a C Redis client that pipelines its session set-up.
 *
 *   twpool-redispipe PORT N same|alternate
 *
 * Cycle i connects to 127.0.0.1:PORT and writes AUTH, SELECT, GET who and
 * ACL WHOAMI in one write, reads the four replies, and closes. "same":
 * always alice and database 3; "alternate": alice/3 and bob/5 in turn (the
 * test creates the users and stores who = db<N> in each database). Prints
 * "wrong: cycle I ..." for each cycle whose replies are not its own, then
 *   loop cycles N wrong W errors E
 * Exit status 0 iff W and E are 0.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"

#define WAIT_MS 2000

struct reader {
	int fd;
	size_t len;
	char buf[4096];
};

/* Reads until buf holds a whole line; 0, or -1 on EOF, error or timeout. */
static int more(struct reader *r)
{
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	if (r->len == sizeof(r->buf) - 1 || poll(&p, 1, WAIT_MS) != 1)
		return -1;
	ssize_t n = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	if (n <= 0)
		return -1;
	r->len += (size_t)n;
	r->buf[r->len] = '\0';
	return 0;
}

/* The next reply, flattened ("OK", "-ERR ...", the bulk's bytes), into out. */
static int reply(struct reader *r, char *out, size_t cap)
{
	char *eol;
	while (!(eol = strstr(r->buf, "\r\n")))
		if (more(r))
			return -1;
	size_t used = (size_t)(eol - r->buf) + 2;
	if (r->buf[0] == '$' && atol(r->buf + 1) >= 0) {
		size_t n = (size_t)atol(r->buf + 1);
		while (r->len < used + n + 2)
			if (more(r))
				return -1;
		snprintf(out, cap, "%.*s", (int)n, eol + 2);
		used += n + 2;
	} else {
		snprintf(out, cap, "%.*s", (int)(eol - r->buf - (r->buf[0] == '+')),
			 r->buf + (r->buf[0] == '+'));
	}
	memmove(r->buf, r->buf + used, r->len - used + 1);
	r->len -= used;
	return 0;
}

/* One cycle: 0 right, 1 wrong (printed), -1 failed. */
static int cycle(int port, long i, const char *user, const char *pw, int db)
{
	char req[256], got[4][64], want[128], have[300];
	struct reader r = { .fd = connect_loopback(port) };
	int n = snprintf(req, sizeof(req),
			 "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n%d\r\n"
			 "*2\r\n$3\r\nGET\r\n$3\r\nwho\r\n*2\r\n$3\r\nACL\r\n$6\r\nWHOAMI\r\n",
			 strlen(user), user, strlen(pw), pw, db);
	if (r.fd < 0 || write(r.fd, req, (size_t)n) != n) {
		if (r.fd >= 0)
			close(r.fd);
		return -1;
	}
	for (int k = 0; k < 4; k++)
		if (reply(&r, got[k], sizeof(got[k]))) {
			close(r.fd);
			return -1;
		}
	close(r.fd);
	snprintf(want, sizeof(want), "OK OK db%d %s", db, user);
	snprintf(have, sizeof(have), "%s %s %s %s", got[0], got[1], got[2], got[3]);
	if (!strcmp(want, have) && !r.len)
		return 0;
	printf("wrong: cycle %ld %s%s\n", i, have, r.len ? " (and more)" : "");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[3], "same") && strcmp(argv[3], "alternate"))) {
		fprintf(stderr, "usage: twpool-redispipe PORT N same|alternate\n");
		return 2;
	}
	int port = atoi(argv[1]), alt = !strcmp(argv[3], "alternate");
	long n = atol(argv[2]), wrong = 0, errors = 0;
	for (long i = 0; i < n; i++) {
		int bob = alt && i % 2;
		int rc = cycle(port, i, bob ? "bob" : "alice", bob ? "b" : "a", bob ? 5 : 3);
		wrong += rc > 0;
		errors += rc < 0;
		if (rc < 0)
			fprintf(stderr, "twpool-redispipe: cycle %ld failed\n", i);
	}
	printf("loop cycles %ld wrong %ld errors %ld\n", n, wrong, errors);
	return wrong || errors;
}
