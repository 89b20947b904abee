/* MySQL/MariaDB over TLS: a real mariadbd offering TLS with a certificate
 * made at start, PyMySQL and the mariadb command under the shim with the
 * target /mysql. A session that negotiated TLS (CLIENT_SSL) is never
 * pooled: each one is a server connection of its own, and works; the same
 * program without TLS is pooled, so the count can tell them apart. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server db;

static void up(void)
{
	h_mariadb_start_tls(&db);
	free(h_mariadb_sql(&db, "CREATE DATABASE d1; CREATE USER u1@'%' IDENTIFIED BY 'p1';"
				" GRANT ALL ON d1.* TO u1@'%';"));
}

static void down(void)
{
	h_server_stop(&db);
}

TestSuite(mysql_tls, .init = up, .fini = down, .timeout = 300);

static char *cert(void)
{
	return fmt("%s/cert.pem", db.dir);
}

static char *mysql_target(void)
{
	return fmt("TWPOOL_TARGETS=127.0.0.1:%d/mysql", db.port);
}

/* mysql-tls.py: n PyMySQL connect + query + close cycles under /mysql, over
 * TLS verified with ca, or without TLS ("-"); the server connections they
 * made. Every cycle must have seen its user and the TLS it asked for. */
static long tls_cycles(int n, const char *ca)
{
	char *argv[] = { "/usr/bin/python3", fmt("%s/tests/progs/mysql-tls.py", h_src()),
			 fmt("%d", db.port), fmt("%d", n), (char *)ca, NULL };
	char *env[] = { mysql_target(), NULL };
	long before = h_mariadb_status(&db, "Connections");
	struct h_run r;
	h_run(&r, argv, env, 1, 120);
	cr_assert_eq(r.status, 0, "mysql-tls.py failed (status %d): %s%s", r.status, r.out, r.err);
	cr_expect(strstr(r.out, "errors 0\n"), "mysql-tls.py %d %s: %s%s", n, ca, r.out, r.err);
	h_run_free(&r);
	return h_mariadb_status(&db, "Connections") - before;
}

/* PyMySQL verifying the server's certificate: every TLS session works and
 * is one server connection (not pooled, as the codec promises); the same
 * program without TLS keeps one. */
Test(mysql_tls, tls_sessions_are_never_pooled_and_work)
{
	long made = tls_cycles(30, cert());
	cr_expect_eq(made, 30, "30 TLS cycles under /mysql made %ld server connections", made);
	made = tls_cycles(30, "-");
	cr_expect_leq(made, 2, "30 plain cycles under /mysql made %ld server connections", made);
	made = tls_cycles(30, cert());
	cr_expect_eq(made, 30, "30 TLS cycles after plain ones made %ld server connections", made);
}

/* The mariadb command with --ssl and a verified certificate under the
 * shim: its session is TLS, its query answered, one connection each. */
Test(mysql_tls, mariadb_command_with_ssl_works_under_the_shim)
{
	long before = h_mariadb_status(&db, "Connections");
	for (int i = 0; i < 5; i++) {
		char *argv[] = { "mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", fmt("%d", db.port),
				 "-uu1", "-pp1", "--ssl", fmt("--ssl-ca=%s", cert()), "--ssl-verify-server-cert",
				 "-N", "-B", "-e", "SELECT CURRENT_USER(); SHOW STATUS LIKE 'Ssl_cipher'", NULL };
		char *env[] = { mysql_target(), NULL };
		struct h_run r;
		h_run(&r, argv, env, 1, 60);
		cr_assert_eq(r.status, 0, "mariadb --ssl failed (status %d): %s%s", r.status, r.out, r.err);
		char *cipher = strstr(r.out, "Ssl_cipher\t");
		cr_expect(strstr(r.out, "u1@%\n") && cipher && cipher[11] && cipher[11] != '\n',
			  "mariadb --ssl: not u1's TLS session: %s", r.out);
		h_run_free(&r);
	}
	long made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_eq(made, 5, "5 runs of mariadb --ssl made %ld server connections", made);
}
