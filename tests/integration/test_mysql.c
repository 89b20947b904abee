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
	h_mariadb_test_users(&db);
	free(h_mariadb_sql(&db, "CREATE TABLE d1.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64));"
				" INSERT INTO d1.t (v) VALUES ('a'), ('b');"
				" CREATE ROLE r1; GRANT r1 TO u1@'%';"));
}

static void down(void)
{
	h_server_stop(&db);
}

TestSuite(mysql, .init = up, .fini = down, .timeout = 300);

/* Runs tests/progs/NAME with args under the shim (target: the
 * TWPOOL_TARGETS entry; NULL: without the shim): the count it ends with
 * after "WORD ". */
static long prog_count(const char *name, char *const args[], const char *target, const char *word)
{
	char *argv[16] = { "/usr/bin/python3", fmt("%s/tests/progs/%s", h_src(), name),
			   fmt("%d", db.port) };
	int n = 3;
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	char *env[] = { target ? fmt("TWPOOL_TARGETS=%s", target) : NULL, NULL };
	struct h_run r;
	h_run(&r, argv, env, target != NULL, 120);
	cr_assert_eq(r.status, 0, "%s failed (status %d): %s%s", name, r.status, r.out, r.err);
	char *at = strstr(r.out, word);
	long count = -1;
	cr_assert(at && sscanf(at + strlen(word), "%ld", &count) == 1, "no %s count in: %s", word,
		  r.out);
	if (count)
		cr_log_info("%s under %s: %s", name, target ? target : "no shim", r.out);
	h_run_free(&r);
	return count;
}

/* The same, expecting "WORD 0". */
static void prog(const char *name, char *const args[], const char *target, const char *word)
{
	long count = prog_count(name, args, target, word);
	cr_expect_eq(count, 0, "%s under %s: %s %ld", name, target ? target : "no shim", word, count);
}

static char *mysql_target(void)
{
	return fmt("127.0.0.1:%d/mysql", db.port);
}

/* mysql-cycle.py: n connect + query + go away, as u1 on d1. */
static void cycles(const char *target, int n, const char *mode)
{
	prog("mysql-cycle.py", (char *[]){ fmt("%d", n), (char *)mode, "u1:p1:d1", NULL }, target,
	     "errors ");
}

/* The server speaks first: a parked connection's greeting was read by its
 * first user, so the next user would wait for one that never comes (it
 * did, until its 5 s timeout). Under a target without a protocol (auto):
 * never pooled. Under /mysql: the greeting is served again, by the shim,
 * also to programs that go without COM_QUIT. */
Test(mysql, greeting_is_never_lost_to_a_parked_connection)
{
	long before = h_mariadb_status(&db, "Connections");
	cycles(fmt("127.0.0.1:%d", db.port), 6, "noquit");
	long made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_eq(made, 6, "auto: 6 runs made %ld server connections", made);
	before = h_mariadb_status(&db, "Connections");
	cycles(mysql_target(), 40, "noquit");
	made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_leq(made, 2, "/mysql: 40 runs without COM_QUIT made %ld server connections", made);
}

/* The classic short-connection client: 1,000 connect + query + COM_QUIT +
 * close cycles of one process. Without the shim each is a server
 * connection (and, the server closing after COM_QUIT, a TIME_WAIT on its
 * side); under /mysql one connection serves them all
 * and every query still sees its login's user and database. */
Test(mysql, per_request_connections_are_pooled)
{
	long before = h_mariadb_status(&db, "Connections");
	cycles(NULL, 200, "quit");
	long made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_geq(made, 200, "without twpool 200 cycles made only %ld connections", made);
	before = h_mariadb_status(&db, "Connections");
	cycles(mysql_target(), 1000, "quit");
	made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_leq(made, 3, "under /mysql 1000 cycles made %ld server connections", made);
}

/* A login the server refuses is refused under the shim too, exactly as
 * often, and the right logins between them go on working. */
Test(mysql, wrong_password_is_refused_as_without_the_shim)
{
	char *args[] = { "20", "quit", "u1:p1:d1", "u2:wrong:d2", NULL };
	long plain = prog_count("mysql-cycle.py", args, NULL, "errors ");
	long pooled = prog_count("mysql-cycle.py", args, mysql_target(), "errors ");
	cr_expect_eq(plain, 10, "without the shim %ld of 20 logins failed", plain);
	cr_expect_eq(pooled, plain, "under /mysql %ld logins failed, without the shim %ld", pooled, plain);
}

/* Two users and two databases alternating in one process: each run sees
 * its own login's user and database. */
Test(mysql, alternating_logins_each_see_their_own)
{
	char *args[] = { "40", "quit", "u1:p1:d1", "u2:p2:d2", "u1:p1:d2", NULL };
	prog("mysql-cycle.py", args, NULL, "errors ");
	long before = h_mariadb_status(&db, "Connections");
	prog("mysql-cycle.py", args, mysql_target(), "errors ");
	long made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_leq(made, 2, "under /mysql 40 alternating logins made %ld connections", made);
	prog("mysql-cycle.py", args, fmt("127.0.0.1:%d", db.port), "errors ");
}

/* A parked connection the server closed (its idle timeout) is found dead
 * when the next program connects, and that program gets a fresh
 * connection and its own greeting: no error. */
Test(mysql, a_connection_the_server_closed_is_replaced_at_checkout)
{
	free(h_mariadb_sql(&db, "SET GLOBAL wait_timeout = 1"));
	long before = h_mariadb_status(&db, "Connections");
	cycles(mysql_target(), 3, "pause");
	long made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_eq(made, 3, "3 runs 2 s apart, past the server's 1 s idle timeout, made %ld "
		     "connections", made);
	long closed = h_mariadb_status(&db, "Aborted_clients");
	cr_expect_geq(closed, 2, "the server closed only %ld idle connections", closed);
}

/* A user whose auth plugin (ed25519) is not the one the greeting offers
 * logs in through an auth switch. On a pooled connection the server's
 * switch in answer to COM_CHANGE_USER asks for that plugin, which only the
 * program can answer: it is passed to the program. It was not, and every
 * such login after another user's lost its connection (10 of 20). */
Test(mysql, logins_of_another_auth_plugin_alternate)
{
	char *args[] = { "40", "quit", "u1:p1:d1", "u3:p3:d1", "u3:p3:d2", "u2:p2:d2", NULL };
	prog("mysql-cycle.py", args, NULL, "errors ");
	long before = h_mariadb_status(&db, "Connections");
	prog("mysql-cycle.py", args, mysql_target(), "errors ");
	long made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_leq(made, 2, "under /mysql 40 logins of two plugins made %ld connections", made);
	char *wrong[] = { "20", "quit", "u3:wrong:d1", "u1:p1:d1", NULL };
	long plain = prog_count("mysql-cycle.py", wrong, NULL, "errors ");
	long pooled = prog_count("mysql-cycle.py", wrong, mysql_target(), "errors ");
	cr_expect_eq(pooled, plain, "under /mysql %ld ed25519 logins failed, without the shim %ld",
		     pooled, plain);
}

/* What a review of the pooling found, each a case of mysql-hazards.py run
 * without the shim and under /mysql, expecting what the first run sees:
 * - pipelined: a refused login with a query in the same write; the query
 *   ran in the last user's session (CURRENT_USER() came back u1@%);
 * - role: SET ROLE through EXECUTE IMMEDIATE, hidden from the codec's scan:
 *   the role reached the next user, even one never granted it;
 * - use: USE in an executable comment or EXECUTE IMMEDIATE: the next same
 *   login got database d2;
 * - caps: a login without FOUND_ROWS and MULTI_STATEMENTS after one with
 *   them kept them (an UPDATE counted 1 row, two statements ran);
 * - dup: a program working on a dup() of its socket waited for a reply
 *   until its timeout (it now fails at once). */
Test(mysql, what_the_review_found)
{
	const char *cases[] = { "pipelined", "role", "use", "caps", "dup" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *args[] = { (char *)cases[i], NULL };
		prog("mysql-hazards.py", args, NULL, "bad ");
		prog("mysql-hazards.py", args, mysql_target(), "bad ");
	}
}

/* Session state left by one connection (a USE, variables, sql_mode, a
 * temporary table, an open transaction, a row lock, GET_LOCK,
 * LAST_INSERT_ID, a prepared statement) is invisible to the next one of
 * the same process: the same checks without the shim and with it. */
Test(mysql, session_state_never_reaches_the_next_user)
{
	const char *modes[] = { "quit", "noquit" };
	for (int i = 0; i < 2; i++) {
		char *args[] = { (char *)modes[i], NULL };
		prog("mysql-state.py", args, NULL, "leaks ");
		long before = h_mariadb_status(&db, "Connections");
		prog("mysql-state.py", args, mysql_target(), "leaks ");
		long made = h_mariadb_status(&db, "Connections") - before;
		/* pooled, or the check proves nothing */
		cr_expect_leq(made, 2, "%s: the state checks made %ld connections", modes[i], made);
	}
}
