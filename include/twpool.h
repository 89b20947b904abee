/* twpool.h - the public contract of libtwpool.so.
 *
 * libtwpool.so is preloaded (LD_PRELOAD) into an unmodified program. It keeps
 * the program's closed TCP connections to allow-listed targets open in a
 * per-process pool and hands them back on the next connect() to the same
 * target. Everything a user can set or read is declared here: environment
 * variables with their defaults, and the metric names of the stats file.
 *
 * Any malformed setting makes the shim print one line on stderr, prefixed
 * "twpool:", naming the variable and the bad token; the shim then passes
 * every call through untouched. It never aborts or exits its host.
 */
#ifndef TWPOOL_H
#define TWPOOL_H

#define TWPOOL_VERSION "0.1.0"

/* Comma-separated allow-list of targets. Entries, each optionally followed
 * by /PROTOCOL (below):
 *   1.2.3.4:6379    an IPv4 address (IPv4-mapped IPv6 connects match it too)
 *   [::1]:6379      an IPv6 address
 *   name:6379       a host name; every address it resolves to matches.
 *                   Never looked up inside connect(): a connect to that
 *                   port starts a lookup on a shim thread when one is due
 *                   (first use; 1 s after a failure, doubling to 60 s;
 *                   60 s after a success) and, until one succeeds, passes
 *                   through unpooled
 *   *:6379          any address on that port
 * Protocols: raw judges a connection clean by the shape of the program's
 * calls: it wrote, it read, and its last call was a read.
 * http (HTTP/1.x) follows each request and response to its last byte: a
 * connection is parked only when every request has its complete response
 * read by the program and the server keeps it alive; CONNECT and Upgrade
 * make it the program's for good. redis (RESP) and memcache (text, meta
 * and binary) count requests and replies; a Redis use that changed session
 * state is RESET before its next use. mysql parks between commands with
 * COM_RESET_CONNECTION written; the next program is served the kept
 * greeting and its login goes to the server as COM_CHANGE_USER (or is
 * answered with the last login's OK when equal). auto (the default, an entry without
 * /PROTOCOL) chooses on each use from the first bytes the program writes:
 * an HTTP/1.x request line is http, a RESP array (*N CR LF $) redis, a
 * memcached binary request (0x80) or a text command Redis has no reading
 * of (gets, cas, add, delete, mg..., set KEY N N N) memcache, anything
 * else (a Redis inline command, get KEY, which both servers read) raw. A
 * TLS ClientHello is never pooled (reason tls); bytes that arrive before
 * the program wrote any mean the server speaks first (SMTP, MySQL, SSH):
 * never pooled (server_first), and no connection to that target is parked
 * or reused again by the process. Any other name is a configuration error.
 * Unset or empty: the shim passes every call through untouched. */
#define TWPOOL_ENV_TARGETS "TWPOOL_TARGETS"
#define TWPOOL_MAX_TARGETS 64 /* entries in TWPOOL_TARGETS */

/* Idle connections kept per target; the oldest is closed past it.
 * 0 disables parking (every close is real). Range 0..1024. */
#define TWPOOL_ENV_MAX_IDLE "TWPOOL_MAX_IDLE"
#define TWPOOL_DEFAULT_MAX_IDLE 16

/* Milliseconds an idle connection may wait in the pool. Below the 5 s
 * keep-alive timeout of Apache and Node so that the shim, not the server,
 * ends an idle connection in the common case. 0: no timeout. */
#define TWPOOL_ENV_IDLE_TIMEOUT_MS "TWPOOL_IDLE_TIMEOUT_MS"
#define TWPOOL_DEFAULT_IDLE_TIMEOUT_MS 4000

/* A connection older than this (ms since its real connect, with up to 10 %
 * jitter subtracted) is closed when it comes back to the pool. 0: no limit. */
#define TWPOOL_ENV_MAX_LIFETIME_MS "TWPOOL_MAX_LIFETIME_MS"
#define TWPOOL_DEFAULT_MAX_LIFETIME_MS 0

/* A connection handed out this many times is closed when it comes back.
 * 0: no limit. */
#define TWPOOL_ENV_MAX_USES "TWPOOL_MAX_USES"
#define TWPOOL_DEFAULT_MAX_USES 0

/* Bytes of a request kept on a connection taken from the pool, until the
 * first byte of a reply arrives. When such a connection turns out dead
 * before any reply byte (EOF, ECONNRESET, EPIPE), the shim connects afresh
 * under the program's fd, re-sends these bytes, and the program's call
 * goes on as if nothing happened. Past the bound, no replay for that use.
 * 0 disables replay. Range 0..16777216. */
#define TWPOOL_ENV_REPLAY_MAX "TWPOOL_REPLAY_MAX"
#define TWPOOL_DEFAULT_REPLAY_MAX 65536

/* Which requests are replayed: safe (the default) only those that cannot
 * act twice by their protocol (http: GET, HEAD, OPTIONS, TRACE, or with an
 * Idempotency-Key or X-Idempotency-Key header; redis: read-only commands;
 * memcache: get, gets, mg without N/T/R/E, mn, binary GET*, NOOP; raw, and
 * auto before its choice: any request); all: any request whose bytes were
 * all seen by the shim; off: none. A request whose bytes went through
 * sendfile, splice or another call the shim cannot copy is never replayed. */
#define TWPOOL_ENV_REPLAY "TWPOOL_REPLAY"
#define TWPOOL_DEFAULT_REPLAY "safe"

/* Milliseconds a replay may wait for its fresh connection. */
#define TWPOOL_REPLAY_CONNECT_TIMEOUT_MS 3000

/* Stats file path; "%p" becomes the pid. Unset: no stats file. The file is
 * Prometheus text exposition format, replaced atomically (temp + rename).
 * One process's view, for debugging one program; for a host, and for
 * node_exporter, use the host-wide stats (TWPOOL_HOST_STATS) instead:
 * files of several processes repeat the same series. */
#define TWPOOL_ENV_STATS "TWPOOL_STATS"

/* Minimum milliseconds between two rewrites of the stats file while the
 * program runs; it is written once more at exit. Range 10..3600000. */
#define TWPOOL_ENV_STATS_INTERVAL_MS "TWPOOL_STATS_INTERVAL_MS"
#define TWPOOL_DEFAULT_STATS_INTERVAL_MS 1000

/* Log level: error, warn, info or debug. Lines are prefixed "twpool[pid]:".
 * Configuration errors are printed whatever the level. */
#define TWPOOL_ENV_LOG "TWPOOL_LOG"
#define TWPOOL_DEFAULT_LOG "warn"

/* Log destination file (appended); default stderr. */
#define TWPOOL_ENV_LOG_FILE "TWPOOL_LOG_FILE"

/* Whole-host configuration (twpool.conf(5)): when the environment does not
 * set TWPOOL_TARGETS, the shim reads this file, NAME=VALUE lines with the
 * names above; a variable set in the environment wins over the file. The
 * file is read only if it is a regular file (not a symbolic link) owned by
 * root or the effective user and writable by no one else. A missing file is
 * no error. TWPOOL_CONFIG names another file; set but empty, no file is
 * read. In a setuid, setgid or file-capability program (secure execution)
 * the environment is ignored and only TWPOOL_DEFAULT_CONFIG is read. */
#define TWPOOL_ENV_CONFIG "TWPOOL_CONFIG"
#define TWPOOL_DEFAULT_CONFIG "/etc/twpool.conf"
#define TWPOOL_CONFIG_MAX_BYTES 16384 /* a longer file is refused */

/* A connection broker shared by short-lived programs (off when unset or
 * empty). "auto": $XDG_RUNTIME_DIR/twpool/broker.sock, else
 * /run/user/UID/twpool/broker.sock, else /tmp/twpool-UID/broker.sock (a
 * 0700 directory that must be owned by the user and not a symlink); or an
 * absolute socket path of at most 103 bytes. Clean idle connections go to
 * the broker at exit and at overflow instead of being closed; a connect
 * the pool cannot serve asks it first, waiting at most
 * TWPOOL_BROKER_WAIT_MS. Absent, it is started on demand (twpool-broker
 * next to libtwpool.so, or TWPOOL_BROKER_EXEC) and this connect is direct.
 * The broker serves only processes of its own uid, in its own network
 * namespace, and gets each connection with its socket options reset. */
#define TWPOOL_ENV_BROKER "TWPOOL_BROKER"
#define TWPOOL_ENV_BROKER_EXEC "TWPOOL_BROKER_EXEC"
#define TWPOOL_BROKER_WAIT_MS 20

/* Host-wide stats (on by default): every process under the shim adds its
 * counters to one shared file per user and network namespace, and keeps
 * its gauges in a slot of it while it lives; `twpool stat` with no file
 * reads it, `twpool stat --prom -o FILE` writes it for node_exporter.
 * Unset, empty, "on" or "1": $XDG_RUNTIME_DIR/twpool/stats-NETNS.shm, else
 * /run/user/UID/twpool/..., else /tmp/twpool-UID/... (0700 directories
 * owned by the user, not symlinks; NETNS is the namespace's inode number).
 * "off" or "0": none. An absolute path: that file. The file is used only
 * if it is a regular file of the effective user writable by no one else,
 * with the expected header; otherwise one warning and no host counting.
 * Read from the environment only (secure execution: the default). Cost:
 * one more relaxed atomic add per counted event, on a shared page. */
#define TWPOOL_ENV_HOST_STATS "TWPOOL_HOST_STATS"

/* Metrics, in the stats file and the host view. Every sample of the first
 * seven carries target="host:port".
 *
 * TIME_WAIT: a reuse (result="reused") is a handshake and a TIME_WAIT
 * avoided; a park is not (a parked connection later closed by idle
 * timeout, overflow or exit still ends in TIME_WAIT). There is no separate
 * "TIME_WAIT avoided" metric: read savings from result="reused". */
#define TWPOOL_METRIC_CONNECTS "twpool_connects_total"  /* result=reused|fresh */
#define TWPOOL_METRIC_CLOSES "twpool_closes_total"      /* result=parked|closed */
#define TWPOOL_METRIC_DISCARDS "twpool_discards_total"  /* reason=... below */
#define TWPOOL_METRIC_REPLAYS "twpool_replays_total"    /* result=ok|failed */
/* Real connects to a target that failed at once (not EINPROGRESS; a
 * non-blocking connect that fails later is not seen), by errno:
 * errno=EADDRNOTAVAIL|ECONNREFUSED|ETIMEDOUT|other */
#define TWPOOL_METRIC_CONNECT_FAILURES "twpool_connect_failures_total"
#define TWPOOL_METRIC_IDLE "twpool_idle_connections"    /* gauge */
/* Gauge: connections the program holds (connects minus closes). In the
 * host view, the gauges are those of live processes, refreshed at most
 * every TWPOOL_STATS_INTERVAL_MS while a process connects, and at exit. */
#define TWPOOL_METRIC_IN_USE "twpool_in_use_connections"
/* Without a target label: TCP connects to addresses not listed, passed
 * through untouched (that started: not EALREADY, EISCONN). */
#define TWPOOL_METRIC_PASSTHROUGH "twpool_passthrough_connects_total"
/* Libraries loaded with RTLD_DEEPBIND (no target label): result=redirected
 * when their socket calls were pointed at the shim, bypassed when not. */
#define TWPOOL_METRIC_DEEPBIND "twpool_deepbind_libraries_total"
/* Host view only: processes whose configuration was refused (they pass
 * everything through); live processes; targets not added because the
 * host table (256 targets) was full; per-process gauges (twpool stat -p)
 * with a pid label. */
#define TWPOOL_METRIC_CONFIG_ERRORS "twpool_config_errors_total"
#define TWPOOL_METRIC_HOST_PROCESSES "twpool_host_processes"
#define TWPOOL_METRIC_HOST_DROPPED "twpool_host_targets_dropped_total"
#define TWPOOL_METRIC_PROCESS_IDLE "twpool_process_idle_connections"
#define TWPOOL_METRIC_PROCESS_IN_USE "twpool_process_in_use_connections"

/* Why a connection was closed for real instead of parked or reused (the
 * reason label of twpool_discards_total):
 *   unused        the program did not both write and read it
 *   last_write    the last I/O was a write: a reply may still be coming
 *   unread        unread bytes were waiting
 *   eof           the peer closed it
 *   error         a socket error was pending or seen
 *   shutdown      the program called shutdown()
 *   unsent        bytes were still unsent or unacknowledged
 *   state         the TCP state was not ESTABLISHED
 *   sockopt       an option the shim cannot restore was set after connect
 *   shared        the connection may be shared with another process or fd
 *   overflow      the target already had TWPOOL_MAX_IDLE idle connections
 *   idle_timeout  it waited longer than TWPOOL_IDLE_TIMEOUT_MS
 *   lifetime      it was older than TWPOOL_MAX_LIFETIME_MS
 *   uses          it was handed out TWPOOL_MAX_USES times
 *   stale         the check at checkout found it dead or dirty
 *   fdlimit       the shim's bound on private fds was reached
 *   stdio         it was closed by fclose() (stdio's reads are invisible)
 *   close_range   it was closed by close_range() or closefrom()
 *   epoll         it was in more epoll sets than the shim keeps track of
 *   inflight      another thread was still inside a call on it at close()
 *   blind         bytes went through a call its protocol codec cannot read
 *                 (sendfile, splice, sendmmsg, recvmmsg, copy_file_range)
 *   partial       by its protocol, a request or its reply was not complete
 *   protocol      bytes its protocol's codec cannot frame (not that
 *                 protocol, malformed, a reply nobody asked for, TLS)
 *   tunnel        it became the program's for good (HTTP CONNECT, Upgrade)
 *   server_close  the server said it closes the connection (HTTP
 *                 Connection: close, HTTP/1.0 without keep-alive, a body
 *                 that ends at the close)
 *   tls           auto: the program began with a TLS ClientHello
 *   server_first  auto: the server spoke before the program wrote (this
 *                 use), or did so on an earlier use (the target's)
 */

#endif /* TWPOOL_H */
