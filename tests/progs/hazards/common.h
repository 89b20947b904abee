/* common.h - what every hazard scenario shares: the target, the output
 * lines, plain request/reply calls, connect/request/close cycles and their
 * tally, the fds /proc/self/fd shows, and the scenario table type. */
#ifndef HAZARDS_COMMON_H
#define HAZARDS_COMMON_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#define LINE_CAP 512 /* longest reply line expected */
#define WAIT_MS 5000 /* longest wait for a reply or a socket event: "hang" past it */
#define FD_SCAN 4096 /* fd numbers remembered from startup */
#define N_THREADS 16
#define RLIMIT_FDS 32      /* the rlimit scenario's RLIMIT_NOFILE */
#define SHIM_FDS_ALLOWED 2 /* fds the shim may hold under a tight RLIMIT_NOFILE */
#define ERRNO_MARK 12345   /* an errno value no call sets */
#define SIGNAL_SECONDS 2
#define SIGNAL_INTERVAL_US 200
#define MAX_FAILURES 5 /* a phase stops after this many failed cycles */

/* One scenario: its name on the command line and what it runs. Each area
 * file exports a table of them ending with { NULL, NULL }. */
struct scenario {
	const char *name;
	void (*run)(void);
};

extern const struct scenario hazards_spawn[], hazards_threads[], hazards_dup[], hazards_close[],
	hazards_shutdown[], hazards_signal[], hazards_epoll[], hazards_errno[];

/* Set once by main() before the scenario runs. */
extern struct sockaddr_in target;
extern long n_cycles;
extern char *prog_name;
extern unsigned char inherited[FD_SCAN]; /* fds open when the program started */

extern _Atomic int failures;
extern _Atomic unsigned long seq;

/* ---- output: whole lines with one write(), safe across fork and threads ---- */

void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- plain socket calls, as a careful program makes them ---- */

enum { RL_ERR = -1, RL_EOF = -2, RL_LONG = -3, RL_EXTRA = -4, RL_HANG = -5 };

/* Waits for events on fd; 1 ready, 0 timed out, -1 error. EINTR-proof. */
int wait_fd(int fd, short events, int ms);
/* A connected blocking socket to the target, or -1 with errno. */
int tw_connect(void);
int send_all(int fd, const char *buf, size_t len);
const char *rl_name(int r);
/* Reads one reply line (terminator removed) into line; its length, or RL_*.
 * More bytes than the line means someone else's reply is mixed in. */
int read_line(int fd, char *line, size_t cap);
/* Sends req and reads its reply line; 0, or RL_* with why filled. */
int request(int fd, const char *req, char *line, size_t cap, char *why, size_t wn);
/* 0 when the reply to req is exactly want; 1 crossed; -1 an I/O error. */
int exchange(int fd, const char *req, const char *want, char *why, size_t wn);
/* A unique ECHO request and its reply. */
void unique_echo(const char *tag, char *req, char *want, size_t cap);
/* A unique ECHO on fd: 0, 1 crossed, -1 error. */
int echo_on(int fd, const char *tag, char *why, size_t wn);
/* A connection that has done one clean request/reply, or -1. */
int conn_used(const char *label);
/* Writes through w, reads back from r within a second. */
int pipe_works(int w, int r);

/* ---- cycles and their tally ---- */

enum mode { M_ECHO, M_KV, M_SYSCALL, M_STDIO };

struct tally {
	long ok, errors, crossed;
	char first[300]; /* the first failure, for the report */
};

void tally_add(struct tally *t, int r, const char *why);
int tally_report(const char *label, const struct tally *t, long want);
/* Adds from's counts, and its first failure if to has none, to to. */
void tally_merge(struct tally *to, const struct tally *from, const char *prefix);
/* One connect / request(s) / close cycle. */
int cycle(enum mode m, const char *tag, char *why, size_t wn);
int gave_up(const struct tally *t);
void run_into(struct tally *t, enum mode m, const char *tag, long n);
int run_cycles(const char *label, enum mode m, long n);
void warm(const char *label);
/* Leaves n idle connections in the pool: n used at once, then closed. */
void warm_idle(const char *label, int n);

/* ---- fds as /proc/self/fd shows them ---- */

/* The socket inode behind fd, or 0 when fd is not a socket. */
unsigned long socket_inode(int fd);
int is_socket_fd(int fd);
/* Sockets the program did not inherit and does not hold (held, or -1; any
 * other fd for held's socket counts as held): the shim's idle connections.
 * Their count; *first gets one of them. */
int foreign_sockets(int held, int *first);
/* Fills inherited[] from the fds open now. */
void snapshot_fds(void);

#endif
