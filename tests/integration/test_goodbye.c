/* Programs that say goodbye (issue 11, items 3 and 4). HTTP clients that
 * ask for the close (ab without -k, urllib, PHP, wget, curl, Node with
 * agent: false) and programs that shutdown() before close() (redis-py,
 * Node's socket.end()) run under the shim against real servers: nginx with
 * stub_status, and Redis. The servers' accept counters say whether the
 * connections were pooled; bodies and replies, compared with a run without
 * the shim, say whether the programs got what they asked for.
 *
 * On the shim before goodbye.c (9cb8ff6) every one of these programs cost
 * the server one connection per request or operation. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server nginx, redis;
static int port;

/* nginx serves /small, "small-A\n"; Redis has goodbye:I = vI, I in 0-9. */
static void all_up(void)
{
	h_nginx_start(&nginx, NULL);
	port = nginx.port;
	h_write_file(fmt("%s/www/small", nginx.dir), "small-A\n");
	h_redis_start(&redis, NULL);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(h_redis_cmd_int(&redis, fmt("APPEND goodbye:%d v%d", i, i)), 2);
}

static void all_down(void)
{
	h_server_stop(&nginx);
	h_server_stop(&redis);
}

static long nginx_accepts(void)
{
	long a = h_nginx_accepted(&nginx);
	cr_assert_geq(a, 0, "nginx does not answer its status page");
	return a;
}

/* Runs sh -c cmd (with or without the shim, target port/http); its stdout. */
static char *run(const char *cmd, int port_, const char *proto, int shim)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d%s", port_, proto), NULL };
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	struct h_run r;
	h_run(&r, argv, env, shim, 100);
	cr_assert_not(r.timed_out, "timed out: %s\nstderr:\n%s", cmd, r.err);
	cr_assert_eq(r.status, 0, "failed (%d): %s\nstderr:\n%s", r.status, cmd, r.err);
	char *out = strdup(r.out);
	h_run_free(&r);
	return out;
}

/* cmd under the shim: accepts by nginx, and the output equals the run
 * without the shim. */
static long pooled_http(const char *cmd)
{
	char *plain = run(cmd, port, "/http", 0);
	long before = nginx_accepts();
	char *shim = run(cmd, port, "/http", 1);
	long accepts = nginx_accepts() - before;
	cr_expect_str_eq(shim, plain, "%s: not the same output under the shim", cmd);
	cr_expect(strlen(plain) > 0, "%s printed nothing", cmd);
	free(plain);
	free(shim);
	return accepts;
}

TestSuite(goodbye, .init = all_up, .fini = all_down, .timeout = 240);

/* ab without -k speaks HTTP/1.0 and waits for the close after each reply. */
static void ab(int conc)
{
	char *cmd = fmt("ab -q -n 2000 -c %d http://127.0.0.1:%d/small | "
			"grep -E '^(Complete|Failed|Non-2xx|Document Length)'", conc, port);
	long accepts = pooled_http(cmd);
	char *out = run(cmd, port, "/http", 1);
	cr_expect(strstr(out, "Complete requests:      2000") && strstr(out, "Failed requests:        0") &&
		  !strstr(out, "Non-2xx"), "ab under the shim:\n%s", out);
	cr_expect(accepts <= conc + 2, "nginx accepted %ld connections for 2000 requests at -c %d",
		  accepts, conc);
	free(out);
}

Test(goodbye, ab_c1_http10_requests_share_one_connection)
{
	ab(1);
}

Test(goodbye, ab_c10_http10_requests_share_ten_connections)
{
	ab(10);
}

#define ROUNDS 10
#define URL "http://127.0.0.1:%d/small"

static void clients(const char *what, const char *cmd, int requests)
{
	long accepts = pooled_http(cmd);
	cr_expect(accepts <= 1, "%s: nginx accepted %ld connections for %d requests", what, accepts,
		  requests);
}

Test(goodbye, python_urllib_with_connection_close)
{
	clients("urllib", fmt("/usr/bin/python3 -c \"import urllib.request as u\n"
			      "for i in range(%d): print(u.urlopen(u.Request('" URL "', "
			      "headers={'Connection': 'close'})).read())\"", ROUNDS, port), ROUNDS);
}

Test(goodbye, php_file_get_contents)
{
	/* -n: no php.ini, so no opcache, which a sanitizer runtime refuses
	 * (PHP loads it with RTLD_DEEPBIND); file_get_contents is core. */
	clients("php", fmt("php -n -r 'for ($i = 0; $i < %d; $i++) echo file_get_contents(\"" URL "\");'",
			   ROUNDS, port), ROUNDS);
}

Test(goodbye, wget_without_keepalive)
{
	/* wget hangs at start with libtsan preloaded, shim or not (CI's TSan
	 * run: 100 s, and 10 s by hand without the shim). */
	if (strstr(h_preload(), "tsan"))
		cr_skip_test("wget runs in the plain and ASan suites, not beside the TSan runtime");
	clients("wget", fmt("for i in $(seq %d); do echo " URL "; done | "
			    "wget -q -O - --no-http-keep-alive -i -", ROUNDS, port), ROUNDS);
}

Test(goodbye, curl_connection_close_and_http10)
{
	/* curl hangs at start with libasan preloaded, shim or not. */
	if (strstr(h_preload(), "asan") || strstr(h_preload(), "tsan"))
		cr_skip_test("curl runs in the plain build's suite, not beside a sanitizer runtime");
	char *urls = fmt(URL " " URL " " URL " " URL " " URL, port, port, port, port, port);
	clients("curl close", fmt("curl -s -H 'Connection: close' %s", urls), 5);
	clients("curl 1.0", fmt("curl -s --http1.0 %s", urls), 5);
}

Test(goodbye, node_http_get_without_agent)
{
	clients("node", fmt("node -e \"const http = require('http'); let n = 0;\n"
			    "(function one() { http.get({ host: '127.0.0.1', port: %d, path: '/small',"
			    " agent: false }, r => { let b = ''; r.on('data', d => b += d);"
			    " r.on('end', () => { process.stdout.write(b); if (++n < %d) one(); }); });"
			    " })();\"", port, ROUNDS), ROUNDS);
}

/* An event loop sees the end through epoll when the last byte is read. */
Test(goodbye, epoll_client_sees_end_of_file_and_never_hangs)
{
	long accepts = pooled_http(fmt("/usr/bin/python3 '%s/tests/progs/goodbye-epoll.py' %d 20",
				       h_src(), port));
	cr_expect(accepts <= 1, "nginx accepted %ld connections for 20 requests", accepts);
	char *out = run(fmt("/usr/bin/python3 '%s/tests/progs/goodbye-epoll.py' %d 20", h_src(), port),
			port, "/http", 1);
	cr_expect(strstr(out, "requests 20 errors 0 crossed 0 hangs 0"), "%s", out);
	free(out);
}

/* Redis client per operation, or a Node client that ends with end(). */
static void redis_clients(const char *cmd, const char *proto, long ops)
{
	long before = h_redis_info(&redis, "total_connections_received");
	char *out = run(cmd, redis.port, proto, 1);
	long conns = h_redis_info(&redis, "total_connections_received") - before;
	long requests, errors, crossed;
	cr_assert_eq(h_client_line(out, &requests, &errors, &crossed), 0, "no result: %s", out);
	cr_expect(requests == ops && errors == 0 && crossed == 0, "%s%s: %s", cmd, proto, out);
	cr_expect(conns <= 2, "%s%s: Redis accepted %ld connections for %ld operations", cmd, proto,
		  conns, ops);
	free(out);
}

Test(goodbye, redis_py_client_per_operation)
{
	char *cmd = fmt("/usr/bin/python3 '%s/tests/progs/goodbye-redis.py' %d 300", h_src(), redis.port);
	redis_clients(cmd, "", 300);
	redis_clients(cmd, "/redis", 300);
}

Test(goodbye, node_socket_end)
{
	char *cmd = fmt("node '%s/tests/progs/goodbye-end.js' %d 100", h_src(), redis.port);
	redis_clients(cmd, "", 100);
	redis_clients(cmd, "/redis", 100);
}

/* shutdown(SHUT_WR) before the reply is read is a real one: the server
 * sees end of file, answers, and closes; the program gets the reply and
 * then end of file. An emulated one would end the stream before the reply. */
Test(goodbye, a_shutdown_with_a_reply_due_is_real)
{
	const char *py = "/usr/bin/python3 -c \"import socket\n"
			 "for i in range(5):\n"
			 "  s = socket.create_connection(('127.0.0.1', %d))\n"
			 "  s.sendall(b'GET goodbye:1\\r\\n'); s.shutdown(socket.SHUT_WR); b = b''\n"
			 "  while True:\n"
			 "    c = s.recv(100)\n"
			 "    if not c: break\n"
			 "    b += c\n"
			 "  print(b); s.close()\"";
	for (int i = 0; i < 2; i++) {
		long before = h_redis_info(&redis, "total_connections_received");
		char *out = run(fmt(py, redis.port), redis.port, i ? "/redis" : "", 1);
		long conns = h_redis_info(&redis, "total_connections_received") - before;
		cr_expect_str_eq(out, "b'$2\\r\\nv1\\r\\n'\nb'$2\\r\\nv1\\r\\n'\nb'$2\\r\\nv1\\r\\n'\n"
				      "b'$2\\r\\nv1\\r\\n'\nb'$2\\r\\nv1\\r\\n'\n");
		cr_expect_eq(conns, 5, "Redis accepted %ld connections for 5 real goodbyes", conns);
		free(out);
	}
}

/* The raw rules take a reply read in part for a whole one (the last call
 * was a read); bytes still unread at shutdown() say otherwise: a real
 * shutdown, and the program reads the rest, then the server's end. */
Test(goodbye, a_shutdown_with_bytes_unread_is_real)
{
	const char *py = "/usr/bin/python3 -c \"import socket, time\n"
			 "s = socket.create_connection(('127.0.0.1', %d))\n"
			 "s.sendall(b'GET goodbye:1\\r\\nGET goodbye:2\\r\\n'); time.sleep(0.3)\n"
			 "b = s.recv(3); s.shutdown(socket.SHUT_WR)\n"
			 "while True:\n"
			 "  c = s.recv(100)\n"
			 "  if not c: break\n"
			 "  b += c\n"
			 "print(b)\"";
	char *out = run(fmt(py, redis.port), redis.port, "", 1);
	cr_expect_str_eq(out, "b'$2\\r\\nv1\\r\\n$2\\r\\nv2\\r\\n'\n");
	free(out);
}
