/* deepbind-lib - a library that tests/progs/deepbind-main loads with
 * RTLD_DEEPBIND: its socket calls are the ones a DEEPBIND library makes.
 *
 * twp_deep_cycle: one connection to 127.0.0.1:PORT (twpool-server): PING,
 * PONG, close. connect() is called through a function pointer so that its
 * GOT entry is a GLOB_DAT one; the other calls go through the PLT. Returns
 * 0, or -1 with a message on stderr.
 * twp_deep_own_dup: calls dup(), which this library defines itself:
 * DEEPBIND binds it here, and the shim must leave that binding alone. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int twp_deep_cycle(int port);
int twp_deep_own_dup(void);

#define OWN_DUP 4242

int dup(int fd)
{
	(void)fd;
	return OWN_DUP;
}

int twp_deep_own_dup(void)
{
	return dup(0) == OWN_DUP ? 0 : -1;
}

static int ping(int fd)
{
	char buf[16];
	size_t got = 0;
	if (write(fd, "PING\n", 5) != 5)
		return -1;
	while (got < 5) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return memcmp(buf, "PONG\n", 5) ? -1 : 0;
}

int twp_deep_cycle(int port)
{
	int (*volatile conn)(int, const struct sockaddr *, socklen_t) = connect;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || conn(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || ping(fd) < 0) {
		perror("deepbind-lib");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}
