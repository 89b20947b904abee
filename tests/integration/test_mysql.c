/* MySQL/MariaDB targets: a real mariadbd started by the harness, PyMySQL
 * clients under the shim, judged by the server's Connections counter and
 * the replies the clients checked. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server db;

static void up(void)
{
	h_mariadb_start(&db);
	free(h_mariadb_sql(&db, "CREATE DATABASE d1; CREATE USER u1@'%' IDENTIFIED BY 'p1';"
				" GRANT ALL ON d1.* TO u1@'%';"));
}

static void down(void)
{
	h_server_stop(&db);
}

TestSuite(mysql, .init = up, .fini = down, .timeout = 300);

/* tests/progs/mysql-cycle.py n times as u1 on d1 under the shim, the
 * target given as target; the errors it counted. */
static long cycles(const char *target, int n, const char *mode)
{
	char *argv[] = { "/usr/bin/python3", fmt("%s/tests/progs/mysql-cycle.py", h_src()),
			 fmt("%d", db.port), "u1", "p1", "d1", fmt("%d", n), (char *)mode, NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=%s", target), NULL };
	struct h_run r;
	long errors = -1;
	h_run(&r, argv, env, 1, 120);
	cr_assert_eq(r.status, 0, "mysql-cycle.py failed (status %d): %s%s", r.status, r.out, r.err);
	cr_assert_eq(sscanf(strstr(r.out, "errors ") ? strstr(r.out, "errors ") : "", "errors %ld",
			    &errors), 1, "no error count in: %s", r.out);
	cr_expect_eq(errors, 0, "%s", r.out);
	h_run_free(&r);
	return errors;
}

/* The server speaks first: a parked connection's greeting was read by its
 * first user, so the next user would wait for one that never comes (it
 * did, until its 5 s timeout). A client that goes without COM_QUIT, under
 * /mysql and under a target without a protocol: never pooled. */
Test(mysql, greeting_is_never_lost_to_a_parked_connection)
{
	const char *targets[] = { "127.0.0.1:%d/mysql", "127.0.0.1:%d" };
	for (int i = 0; i < 2; i++) {
		long before = h_mariadb_status(&db, "Connections");
		cycles(fmt(targets[i], db.port), 6, "noquit");
		long made = h_mariadb_status(&db, "Connections") - before;
		cr_expect_eq(made, 6, "%s: 6 runs made %ld server connections",
			     fmt(targets[i], db.port), made);
	}
}

/* The control: clients that say COM_QUIT, with and without the shim, get
 * their own user and database every time. */
Test(mysql, clients_that_quit_run_unchanged)
{
	cycles(fmt("127.0.0.1:%d/mysql", db.port), 20, "quit");
}
