/* harness.h - helpers for twpool's Criterion integration tests.
 *
 * The tests run real programs against real servers and assert on what the
 * servers and the kernel saw. build/integration-tests runs inside a private
 * network namespace (scripts/run-tests), so socket counts on loopback belong
 * to the test alone. Environment, set by the Makefile and the runner:
 *   TWPOOL_TEST_BUILD    build directory, absolute     default: h_src()/build
 *   TWPOOL_TEST_LIB      absolute path of libtwpool.so default: h_build()/libtwpool.so
 *   TWPOOL_TEST_PRELOAD  LD_PRELOAD value for children default: TWPOOL_TEST_LIB
 *   TWPOOL_TEST_SRC      repository root, absolute     default: the cwd
 *   TWPOOL_TEST_KEEP     set: keep temporary directories, for debugging
 *
 * Functions that cannot do their job (a server that does not start, a query
 * that gets no answer) fail the current test with cr_assert_fail and a
 * message that says what went wrong; they are for the test's own thread.
 */
#ifndef TWPOOL_HARNESS_H
#define TWPOOL_HARNESS_H

#include <sys/types.h>

/* Directories and the preload value named above; never NULL. */
const char *h_build(void);
const char *h_src(void);
const char *h_preload(void);

/* A server the test started. own_conns is the harness's bookkeeping of its
 * own connections to it (queries), so that the counts below can leave them
 * out; tests do not touch it. */
struct h_server {
	pid_t pid;     /* 0 when not running */
	int port;      /* on 127.0.0.1 */
	char kind[16]; /* "redis", "twpool", "memcached" or h_port_server_start's */
	char dir[256]; /* private temp dir: logs, redis data; removed at stop */
	int own_conns;
};

/* Starts redis-server on 127.0.0.1 on a free port with --save ''
 * --appendonly no, its dir and log file in s->dir, then extra_args (shell
 * words, may be NULL), and waits until it answers PING (10 s at most). */
void h_redis_start(struct h_server *s, const char *extra_args);

/* Starts build/twpool-server -p PORT (a port no socket mentions yet) followed by extra_args (shell words, may
 * be NULL, e.g. "-c 100 -R") and reads its port from its "port N" line. Its
 * stderr goes to s->dir/stderr.log. */
void h_twserver_start(struct h_server *s, const char *extra_args);

/* Runs cmd (a shell command line; exec'd, so s->pid is the server) and
 * reads its port from the first line it prints, "port N" (10 s at most).
 * kind names it in s->kind and its temp dir. */
void h_port_server_start(struct h_server *s, const char *kind, const char *cmd);

/* Starts memcached on 127.0.0.1 on a free port (no UDP), which speaks the
 * text and the binary protocol alike, then extra_args (shell words, may be
 * NULL); waits until it answers "version" (10 s at most). */
void h_memcached_start(struct h_server *s, const char *extra_args);

/* Starts MariaDB (mariadbd, Debian mariadb-server) with a data directory
 * of its own in s->dir (mariadb-install-db), on 127.0.0.1 on a free port
 * and on the unix socket s->dir/mysql.sock, and waits until it answers
 * (30 s at most). root logs in over the socket without a password. */
void h_mariadb_start(struct h_server *s);

/* The same, the server also offering TLS (not requiring it) with a
 * self-signed certificate for 127.0.0.1 made with openssl at start:
 * s->dir/cert.pem, which is also the CA a client verifies it with. */
void h_mariadb_start_tls(struct h_server *s);

/* The MySQL tests' databases and users: d1 and d2; u1/p1 on both, u2/p2 on
 * d2 (mysql_native_password); u3/p3 on both through ed25519, a plugin the
 * greeting does not offer, so its login needs an auth switch. */
void h_mariadb_test_users(struct h_server *s);

/* Runs sql (several statements allowed) as root over the unix socket with
 * the mariadb client; its output (tab-separated, no column names). Fails
 * the test on an error. */
char *h_mariadb_sql(struct h_server *s, const char *sql);

/* A global status counter (e.g. "Connections"); Connections leaves out the
 * harness's own, so it counts only what the programs under test did. */
long h_mariadb_status(struct h_server *s, const char *name);

/* SIGTERM, waits (SIGKILL after 10 s), removes s->dir, sets s->pid to 0.
 * Does nothing when s->pid is 0, so it is safe in a .fini fixture. Servers
 * still running when the test process exits are stopped the same way (and
 * killed by the kernel if that process dies). */
void h_server_stop(struct h_server *s);

/* Starts nginx (one process, no master) on 127.0.0.1 on a free port,
 * serving s->dir/www (created empty; write files there), with a
 * stub_status at /twpool-status and server_body (nginx directives inside
 * its server block, may be NULL) and waits until it answers. */
void h_nginx_start(struct h_server *s, const char *server_body);

/* Connections nginx accepted since it started, leaving out the harness's
 * own (stub_status queries), or -1 when it does not answer. */
long h_nginx_accepted(struct h_server *s);

/* The integer value of an INFO field (e.g. "total_connections_received"),
 * or -1 if there is no such field. Queried over a fresh connection that the
 * harness closes without leaving TIME_WAIT on the client side (it sends QUIT
 * and waits for the server to close). total_connections_received and
 * connected_clients leave out the harness's own connections, so they count
 * only what the programs under test did. */
long h_redis_info(struct h_server *s, const char *field);

/* Sends one inline command (e.g. "DBSIZE", "CLIENT KILL TYPE normal") and
 * returns its integer reply; any other reply fails the test. */
long h_redis_cmd_int(struct h_server *s, const char *cmd);

/* The integer value of a memcached "stats" field, or -1 if there is none;
 * queried like h_redis_info. total_connections leaves out the harness's
 * own connections and curr_connections the query's. Note that memcached
 * counts its listening sockets in both. */
long h_memcached_stat(struct h_server *s, const char *field);

/* Connections twpool-server accepted since it started, leaving out the
 * harness's own (queries through STATS, closed like h_redis_info's). */
long h_twserver_accepted(struct h_server *s);

/* A finished child program. out and err are NUL-terminated and complete. */
struct h_run {
	int status;    /* exit status, or 128 + signal number if killed */
	int timed_out; /* 1 if the harness killed it at the timeout */
	char *out;
	char *err;
};

/* Runs argv (argv[0] looked up in PATH) with the runner's environment plus
 * env_extra (NULL-terminated "NAME=VALUE" strings, may be NULL; they replace
 * variables of the same name) and waits for it. The inherited environment
 * loses LD_PRELOAD and every TWPOOL_* variable (TWPOOL_TEST_* included: the
 * shim warns about names it does not know), so the test alone sets the
 * shim's configuration. If preload, the child gets
 * LD_PRELOAD=h_preload() (unless env_extra sets LD_PRELOAD itself). stdin
 * is /dev/null. The child runs in its own process group; at timeout_s
 * seconds (<= 0: 120) the whole group is killed. */
void h_run(struct h_run *r, char *const argv[], char *const env_extra[], int preload,
	   int timeout_s);

/* Runs argv like h_run: when protocol is not NULL, with the shim and
 * TWPOOL_TARGETS=127.0.0.1:port/protocol (just the port when it is ""),
 * otherwise without the shim. Fails the test unless the program exits 0
 * within timeout_s; returns its stdout, never freed (like h_fmt). */
char *h_run_out(char *const argv[], int port, const char *protocol, int timeout_s);

/* Frees r->out and r->err. */
void h_run_free(struct h_run *r);

/* Parses the last "requests R errors E crossed X ..." line of the clients'
 * output into the non-NULL pointers. Returns 0, or -1 if there is none. */
int h_client_line(const char *out, long *requests, long *errors, long *crossed);

/* Sockets in TIME_WAIT, or ESTABLISHED, whose remote port is port, from
 * /proc/net/tcp and /proc/net/tcp6 (this network namespace). Client-side
 * sockets towards a server have the server's port as remote port. */
int h_timewait(int port);
int h_established(int port);

/* Returns malloc'd "DIR/name" where DIR is this process's temp directory,
 * created on first use and removed at exit. The caller frees the string. */
/* asprintf that cannot fail (a failed assertion instead); never freed,
 * for the short life of a test process. */
char *h_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

char *h_tmp(const char *name);

/* A port no socket in this network namespace mentions, local or remote
 * (so neither a listener nor an old TIME_WAIT is in the way). */
int h_free_port(void);

/* Writes text to path (created or truncated); fails the test otherwise. */
void h_write_file(const char *path, const char *text);

/* The whole file, malloc'd and NUL-terminated, or NULL if unreadable. */
char *h_slurp(const char *path);

/* Lines of the file at path that start with prefix (0 if unreadable):
 * what a test server logged. */
long h_log_lines(const char *path, const char *prefix);

/* Sum of the samples of metric (exact name) in Prometheus text whose label
 * block contains label_substr ("" matches any, e.g. "result=\"reused\"").
 * Returns -1 if no sample matches or text is NULL. */
double h_prom(const char *text, const char *metric, const char *label_substr);

#endif /* TWPOOL_HARNESS_H */
