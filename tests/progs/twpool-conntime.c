/* twpool-conntime - times each connect() call, and asks the server how many
 * connections it has accepted.
 *
 *   twpool-conntime -p PORT [-h ADDR] [-n N] [-d DELAY_MS] [-b] [-w FILE]
 *
 * Each of N cycles (default 10) opens a TCP socket, non-blocking unless -b,
 * connects it to ADDR:PORT (an IPv4 literal, default 127.0.0.1), waits for
 * the connection, sends "STATS" to twpool-server, reads its "accepted A ..."
 * line and closes. The time is that of the connect() call alone, which is
 * what a program's event loop waits for. One line per cycle on stdout:
 *   cycle I connect_us U accepted A
 * -d sleeps DELAY_MS milliseconds after each cycle. -w FILE: after the first
 * cycle, creates FILE and waits (30 s at most) until something removes it,
 * so that a test can change the world between the first connect and the
 * others. Exit status 0 iff every cycle got its reply.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_WAIT_MS 10000 /* longest wait for one connect or reply */
#define REMOVE_WAIT_MS 30000

static struct sockaddr_in addr = { .sin_family = AF_INET };
static bool blocking;

static long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int fail(const char *what)
{
    fprintf(stderr, "twpool-conntime: %s: %s\n", what, errno ? strerror(errno) : "unexpected EOF");
    return -1;
}

/* Waits for events on fd; 0 when they came, -1 with a message otherwise. */
static int wait_fd(int fd, short events, const char *what)
{
    struct pollfd p = { .fd = fd, .events = events };
    int n;
    while ((n = poll(&p, 1, IO_WAIT_MS)) < 0 && errno == EINTR)
        ;
    if (n == 1)
        return 0;
    if (n == 0)
        errno = ETIMEDOUT;
    return fail(what);
}

/* Connects fd, timing the connect() call alone into *us. */
static int timed_connect(int fd, long *us)
{
    long t0 = now_us();
    int r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    *us = now_us() - t0;
    if (r == 0)
        return 0;
    if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, "connect wait") < 0)
        return fail("connect");
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        errno = err ? err : errno;
        return fail("connect (SO_ERROR)");
    }
    return 0;
}

/* Sends STATS and returns the accepted count of the reply, or -1. */
static long stats(int fd)
{
    static const char req[] = "STATS\n";
    char line[256];
    size_t got = 0;
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
        return fail("send");
    while (!memchr(line, '\n', got)) {
        if (got == sizeof(line) - 1 || wait_fd(fd, POLLIN, "reply wait") < 0)
            return -1;
        ssize_t n = recv(fd, line + got, sizeof(line) - 1 - got, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            errno = n < 0 ? errno : 0;
            return fail("recv");
        }
        got += (size_t)n;
    }
    line[got] = '\0';
    long accepted;
    if (sscanf(line, "accepted %ld", &accepted) != 1) {
        fprintf(stderr, "twpool-conntime: unexpected reply: %s", line);
        return -1;
    }
    return accepted;
}

static int cycle(int i)
{
    int fd = socket(AF_INET, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0)
        return fail("socket");
    long us = 0, accepted = -1;
    if (timed_connect(fd, &us) == 0)
        accepted = stats(fd);
    close(fd);
    if (accepted < 0)
        return -1;
    printf("cycle %d connect_us %ld accepted %ld\n", i, us, accepted);
    fflush(stdout);
    return 0;
}

/* Announces the pause by creating path, then waits for its removal. */
static int pause_at(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return fail(path);
    close(fd);
    for (long waited = 0; access(path, F_OK) == 0; waited += 10) {
        if (waited >= REMOVE_WAIT_MS) {
            errno = ETIMEDOUT;
            return fail("waiting for the removal of the -w file");
        }
        sleep_ms(10);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: twpool-conntime -p PORT [-h ADDR] [-n N] [-d DELAY_MS] [-b] [-w FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *pause_file = NULL;
    long n = 10, delay_ms = 0, port = 0;
    int opt;
    while ((opt = getopt(argc, argv, "p:h:n:d:bw:")) != -1) {
        switch (opt) {
        case 'p': port = strtol(optarg, NULL, 10); break;
        case 'h': host = optarg; break;
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'd': delay_ms = strtol(optarg, NULL, 10); break;
        case 'b': blocking = true; break;
        case 'w': pause_file = optarg; break;
        default: usage();
        }
    }
    if (port <= 0 || port > 65535 || n <= 0 || delay_ms < 0 ||
        inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        usage();
    addr.sin_port = htons((unsigned short)port);
    for (int i = 0; i < n; i++) {
        if (cycle(i) < 0)
            return 1;
        if (i == 0 && pause_file && pause_at(pause_file) < 0)
            return 1;
        if (delay_ms)
            sleep_ms(delay_ms);
    }
    return 0;
}
