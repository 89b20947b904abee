/* bench-io - the cost of I/O on fds twpool does not track (scripts/bench).
 *
 *   bench-io [-n N] [-s]
 *
 * N times (default 100000) writes 64 bytes to a pipe and reads them back,
 * in one thread: two system calls per iteration, on fds the shim never
 * tracks. Run it with and without libtwpool.so preloaded (with
 * TWPOOL_TARGETS set, so the shim is on) to see what its read/write hooks
 * cost on everything else a program does. -s uses an AF_UNIX socketpair
 * instead of a pipe. The loop is run_loop(), kept out of line so that
 * callgrind can count just it (--toggle-collect=run_loop).
 *
 * Prints one line
 *   iterations N elapsed_ns T ns_per_iter X ops_per_s Y
 * and exits 0, or 1 after a failed or short read or write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

static long run_loop(int wfd, int rfd, long n) __attribute__((noinline));

/* Returns the number of iterations that completed. */
static long run_loop(int wfd, int rfd, long n)
{
	char out[MSG], in[MSG];
	memset(out, 'x', sizeof(out));
	for (long i = 0; i < n; i++) {
		out[0] = (char)i;
		if (write(wfd, out, MSG) != MSG)
			return i;
		if (read(rfd, in, MSG) != MSG || in[0] != out[0])
			return i;
	}
	return n;
}

/* Parses -n and -s; returns 0, or 2 (the exit status) after a message. */
static int parse_args(int argc, char **argv, long *n, int *use_sock)
{
	int ch;
	char *end;
	while ((ch = getopt(argc, argv, "n:s")) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			*n = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || *n < 1) {
				fprintf(stderr, "bench-io: -n %s: not a positive number\n", optarg);
				return 2;
			}
			break;
		case 's':
			*use_sock = 1;
			break;
		default:
			fprintf(stderr, "usage: bench-io [-n N] [-s]\n");
			return 2;
		}
	}
	return 0;
}

static long elapsed_ns(const struct timespec *t0, const struct timespec *t1)
{
	long ns = (t1->tv_sec - t0->tv_sec) * 1000000000L + (t1->tv_nsec - t0->tv_nsec);
	return ns > 0 ? ns : 1;
}

int main(int argc, char **argv)
{
	long n = 100000;
	int use_sock = 0, fds[2];
	if (parse_args(argc, argv, &n, &use_sock))
		return 2;
	if (use_sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : pipe(fds)) {
		perror(use_sock ? "bench-io: socketpair" : "bench-io: pipe");
		return 1;
	}
	int wfd = use_sock ? fds[0] : fds[1], rfd = use_sock ? fds[1] : fds[0];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long done = run_loop(wfd, rfd, n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (done != n) {
		fprintf(stderr, "bench-io: iteration %ld: %s\n", done,
			errno ? strerror(errno) : "short read or write");
		return 1;
	}
	long ns = elapsed_ns(&t0, &t1);
	printf("iterations %ld elapsed_ns %ld ns_per_iter %.1f ops_per_s %.0f\n", n, ns,
	       (double)ns / (double)n, (double)n * 1e9 / (double)ns);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
