/* twpool-wrongplace - fd paths that could put a connection, or its bytes,
 * in the wrong place (issue: "No connection in the wrong place").
 *
 *   twpool-wrongplace unspec PORT_A PORT_B
 *   twpool-wrongplace inflight PORT
 *   twpool-wrongplace closed PORT
 *   twpool-wrongplace recvmmsg PORT      (server run with -c MS)
 *   twpool-wrongplace sendfile PORT      (server run with -C MS)
 *
 * Talks to twpool-server on 127.0.0.1 and prints one "name value" line per
 * finding, so that a run without the shim and a run with it can be
 * compared line for line. Exits 0 unless something failed that the
 * scenario did not expect (then 1, with a message on stderr). */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "twpool-wrongplace: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in addr_of(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = addr_of(port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	return fd;
}

static void put(int fd, const char *line)
{
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		die("send");
}

/* One reply line, waiting at most ms; "" on EOF, "(timeout)", "(error E)". */
static const char *line_within(int fd, int ms, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, ms) <= 0)
			return "(timeout)";
		ssize_t r = recv(fd, buf + n, 1, 0);
		if (r < 0) {
			snprintf(buf, size, "(error %s)", strerrorname_np(errno));
			return buf;
		}
		if (r == 0 || buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return buf;
}

static const char *ask(int fd, const char *line, char *buf, size_t size)
{
	put(fd, line);
	return line_within(fd, 2000, buf, size);
}

/* connect(AF_UNSPEC) dissolves a connection to A; it then connects to B.
 * The next user of A must be served by A. */
static int unspec(int pa, int pb)
{
	char buf[256];
	int a = dial(pa), b = dial(pb);
	printf("setup_a %s\n", ask(a, "SET who A\n", buf, sizeof(buf)));
	printf("setup_b %s\n", ask(b, "SET who B\n", buf, sizeof(buf)));
	close(a);
	close(b);
	int fd = dial(pa);
	printf("first %s\n", ask(fd, "GET who\n", buf, sizeof(buf)));
	struct sockaddr un = { .sa_family = AF_UNSPEC };
	if (connect(fd, &un, sizeof(un)) < 0)
		die("connect(AF_UNSPEC)");
	struct sockaddr_in ab = addr_of(pb);
	if (connect(fd, (struct sockaddr *)&ab, sizeof(ab)) < 0)
		die("connect to B");
	printf("after_dissolve %s\n", ask(fd, "GET who\n", buf, sizeof(buf)));
	close(fd);
	fd = dial(pa);
	printf("next_user_of_a %s\n", ask(fd, "GET who\n", buf, sizeof(buf)));
	close(fd);
	return 0;
}

static void *blocked_reader(void *arg)
{
	char b[256];
	ssize_t r = recv(*(int *)arg, b, sizeof(b) - 1, 0);
	if (r > 0) {
		b[r] = '\0';
		b[strcspn(b, "\n")] = '\0';
		printf("blocked_thread_got %s\n", b);
		fflush(stdout);
	}
	return NULL;
}

/* A thread is blocked in recv() when another thread closes the fd. */
static int inflight(int port)
{
	char buf[256];
	int fd = dial(port);
	printf("warmup %s\n", ask(fd, "PING\n", buf, sizeof(buf)));
	static int shared;
	shared = fd;
	pthread_t t;
	pthread_create(&t, NULL, blocked_reader, &shared);
	usleep(200000); /* the thread is inside recv() by now */
	close(fd);
	int next = dial(port);
	put(next, "ECHO mine\n");
	usleep(300000); /* a thread still waiting on the old connection reads first */
	printf("next_user %s\n", line_within(next, 2000, buf, sizeof(buf)));
	close(next);
	fflush(stdout);
	_exit(0); /* the blocked thread never returns, as without the shim */
}

static void report(const char *name, int r)
{
	printf("%s %d %s\n", name, r, r < 0 ? strerrorname_np(errno) : "-");
}

/* Calls on a number the program closed answer as on a closed fd. */
static int closed(int port)
{
	char buf[256];
	int fd = dial(port);
	printf("used %s\n", ask(fd, "PING\n", buf, sizeof(buf)));
	close(fd);
	struct stat st;
	struct statx sx;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int n = 0;
	report("fstat", fstat(fd, &st));
	report("fstatat_empty", fstatat(fd, "", &st, AT_EMPTY_PATH));
	report("statx_empty", statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
	report("getpeername", getpeername(fd, (struct sockaddr *)&ss, &sl));
	sl = sizeof(ss);
	report("getsockname", getsockname(fd, (struct sockaddr *)&ss, &sl));
	report("lseek", (int)lseek(fd, 0, SEEK_CUR));
	report("fsync", fsync(fd));
	report("ioctl_fionread", ioctl(fd, FIONREAD, &n));
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, 100);
	printf("poll %d revents %#x\n", r, (unsigned)p.revents);
	struct timespec ts = { 0, 100000000 };
	p.revents = 0;
	r = ppoll(&p, 1, &ts, NULL);
	printf("ppoll %d revents %#x\n", r, (unsigned)p.revents);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	struct timeval tv = { 0, 100000 };
	report("select", select(fd + 1, &rs, NULL, NULL, &tv));
	return 0;
}

/* STATS: requests the server has answered so far (this query included). */
static long server_requests(int port)
{
	char buf[256];
	int fd = dial(port);
	const char *l = ask(fd, "STATS\n", buf, sizeof(buf));
	long acc = 0, act = 0, req = -1;
	sscanf(l, "accepted %ld active %ld requests %ld", &acc, &act, &req);
	close(fd);
	return req;
}

/* A reply read with recvmmsg() answers the request: a later failure on
 * the connection must never send that request again. */
static int recvmmsg_case(int port)
{
	char buf[256];
	int fd = dial(port);
	printf("use1 %s\n", ask(fd, "PING\n", buf, sizeof(buf)));
	close(fd);
	fd = dial(port);
	put(fd, "ECHO counted\n");
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct mmsghdr m = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	int got = recvmmsg(fd, &m, 1, 0, NULL);
	buf[got == 1 ? m.msg_len : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	printf("use2_recvmmsg %d %s\n", got, buf);
	usleep(300000); /* the server's idle timer closes the connection */
	long before = server_requests(port);
	put(fd, "PING\n");
	printf("use2_after_idle_close %s\n", line_within(fd, 2000, buf, sizeof(buf)));
	close(fd);
	printf("requests_executed_after %ld\n", server_requests(port) - before - 1);
	return 0;
}

/* A request body sent with sendfile() cannot be copied: no replay may
 * send the request without it (the server would wait for the rest). */
static int sendfile_case(int port)
{
	char buf[256], path[] = "/tmp/twpool-wrongplace-XXXXXX";
	int file = mkstemp(path);
	if (file < 0 || write(file, "body\n", 5) != 5)
		die("temp file");
	unlink(path);
	int fd = dial(port);
	printf("use1 %s\n", ask(fd, "PING\n", buf, sizeof(buf)));
	close(fd);
	fd = dial(port);
	put(fd, "ECHO ");
	off_t off = 0;
	printf("use2_sendfile %zd\n", sendfile(fd, file, &off, 5));
	printf("use2_reply %s\n", line_within(fd, 3000, buf, sizeof(buf)));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && !strcmp(argv[1], "unspec"))
		return unspec(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "inflight"))
		return inflight(atoi(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "closed"))
		return closed(atoi(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "recvmmsg"))
		return recvmmsg_case(atoi(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "sendfile"))
		return sendfile_case(atoi(argv[2]));
	fprintf(stderr, "usage: twpool-wrongplace unspec|inflight|closed|recvmmsg|sendfile PORT [PORT]\n");
	return 2;
}
