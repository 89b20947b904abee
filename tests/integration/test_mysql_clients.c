/* MySQL clients other than PyMySQL under the /mysql codec: PHP mysqli and
 * PDO_mysql (mysqlnd), Perl DBI with DBD::MariaDB and DBD::mysql, and a C
 * program on libmariadb. Each is a real program run with the shim and
 * without it; the verdicts come from MariaDB's Connections counter and
 * from the replies each program checked itself (its user and database). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define fmt h_fmt

static struct h_server db;

static void up(void)
{
	h_mariadb_start(&db);
	h_mariadb_test_users(&db);
}

static void down(void) { h_server_stop(&db); }

struct client {
	const char *name, *interp, *prog; /* interp NULL: prog is in the build dir */
	const char *api; /* the program's first argument, or NULL */
	int extension;	 /* a PHP extension: loaded with RTLD_DEEPBIND */
	int ed25519;	 /* has MariaDB's client_ed25519 auth plugin */
};

static const struct client clients[] = {
	{ "php-mysqli", "php", "mysql-cycle.php", "mysqli", 1, 0 },
	{ "php-pdo_mysql", "php", "mysql-cycle.php", "pdo", 1, 0 },
	{ "perl-DBD::MariaDB", "perl", "mysql-cycle.pl", "MariaDB", 0, 1 },
	{ "perl-DBD::mysql", "perl", "mysql-cycle.pl", "mysql", 0, 1 },
	{ "c-libmariadb", NULL, "mysql-cycle-c", NULL, 0, 1 },
};

/* The client's n cycles over logins ("USER:PASSWORD:DB", at most 4,
 * NULL-terminated), with the shim (protocol "mysql") or without it (NULL):
 * the errors it counted; *out: what it printed. */
static long cycles(const struct client *c, const char *protocol, int n, const char *const logins[],
		   char **out)
{
	char *prog = c->interp ? fmt("%s/tests/progs/%s", h_src(), c->prog)
			       : fmt("%s/%s", h_build(), c->prog);
	char *argv[12] = { (char *)c->interp, prog };
	int i = 2;
	if (c->api)
		argv[i++] = (char *)c->api;
	argv[i++] = fmt("%d", db.port);
	argv[i++] = fmt("%d", n);
	argv[i++] = "quit";
	for (int l = 0; logins[l] && l < 4; l++)
		argv[i++] = (char *)logins[l];
	argv[i] = NULL;
	*out = h_run_out(c->interp ? argv : argv + 1, db.port, protocol, 200);
	char *at = NULL; /* the last line's: an error message may hold the word */
	for (char *p = *out; (p = strstr(p, "errors ")); p++)
		at = p;
	long errors = -1;
	cr_assert(at && sscanf(at + 7, "%ld", &errors) == 1, "%s: no error count in:\n%.2000s",
		  c->name, *out);
	return errors;
}

/* Server connections made by the client's n cycles. */
static long connections(const struct client *c, const char *protocol, int n,
			const char *const logins[], const char *what)
{
	char *out;
	long before = h_mariadb_status(&db, "Connections");
	long errors = cycles(c, protocol, n, logins, &out);
	cr_expect_eq(errors, 0, "%s %s under %s: %ld errors in %d cycles:\n%.2000s", c->name, what,
		     protocol ? protocol : "no shim", errors, n, out);
	return h_mariadb_status(&db, "Connections") - before;
}

/* connect + SELECT CURRENT_USER(), DATABASE() + close: without the shim a
 * server connection per cycle (so the count below can fail), under /mysql
 * one connection serves 1,000 cycles. */
static void per_request(const struct client *c)
{
	const char *const u1[] = { "u1:p1:d1", NULL };
	long made = connections(c, NULL, 200, u1, "same login");
	cr_expect_eq(made, 200, "%s without the shim: 200 cycles made %ld server connections",
		     c->name, made);
	made = connections(c, "mysql", 1000, u1, "same login");
	cr_expect_leq(made, 3, "%s under /mysql: 1000 cycles made %ld server connections", c->name,
		      made);
}

/* Two users and two databases in turn in one process: each query sees its
 * own login's user and database, and still few connections. */
static void alternating(const struct client *c)
{
	const char *const logins[] = { "u1:p1:d1", "u2:p2:d2", "u1:p1:d2", NULL };
	connections(c, NULL, 60, logins, "alternating logins");
	long made = connections(c, "mysql", 300, logins, "alternating logins");
	cr_expect_leq(made, 3, "%s under /mysql: 300 alternating logins made %ld connections",
		      c->name, made);
}

/* n cycles over logins without the shim, then under /mysql: want of them
 * refused without the shim, exactly as many under it (the other logins
 * going on working). The server connections the run under /mysql made. */
static long refused_as_without(const struct client *c, int n, const char *const logins[],
			       long want)
{
	char *plain_out, *pooled_out;
	long plain = cycles(c, NULL, n, logins, &plain_out);
	long before = h_mariadb_status(&db, "Connections");
	long pooled = cycles(c, "mysql", n, logins, &pooled_out);
	long made = h_mariadb_status(&db, "Connections") - before;
	cr_expect_eq(plain, want, "%s without the shim: %ld of %d logins failed:\n%.2000s", c->name,
		     plain, n, plain_out);
	cr_expect_eq(pooled, plain, "%s under /mysql: %ld logins failed, without the shim %ld:\n%.2000s",
		     c->name, pooled, plain, pooled_out);
	return made;
}

/* A login the server refuses is refused under the shim exactly as often. */
static void wrong_password(const struct client *c)
{
	const char *const logins[] = { "u1:p1:d1", "u2:wrong:d2", NULL };
	refused_as_without(c, 20, logins, 10);
}

/* A user of the ed25519 plugin among others: the server's auth switch in
 * answer to the pooled connection's COM_CHANGE_USER is the program's to
 * answer. Clients on libmariadb have the plugin and log in every time, on
 * few connections; mysqlnd has not and fails those logins, under the shim
 * exactly as often as without it. */
static void other_auth_plugin(const struct client *c)
{
	const char *const logins[] = { "u1:p1:d1", "u3:p3:d1", "u3:p3:d2", "u2:p2:d2", NULL };
	long made = refused_as_without(c, 40, logins, c->ed25519 ? 0 : 20);
	if (c->ed25519)
		cr_expect_leq(made, 3, "%s under /mysql: 40 logins of two plugins made %ld connections",
			      c->name, made);
}

/* Indices into clients: Criterion may run a test in a new process image,
 * where pointers taken in the runner mean nothing. */
ParameterizedTestParameters(mysql_clients, each)
{
	static int index[] = { 0, 1, 2, 3, 4 };
	_Static_assert(sizeof(index) / sizeof(*index) == sizeof(clients) / sizeof(*clients),
		       "one index per client");
	return cr_make_param_array(int, index, sizeof(index) / sizeof(*index));
}

ParameterizedTest(int *i, mysql_clients, each, .init = up, .fini = down, .timeout = 600)
{
	const struct client *c = &clients[*i];
	const char *san = getenv("TWPOOL_TEST_SAN");
	if (c->extension && san && *san)
		cr_skip_test("%s runs in the plain build's suite: PHP loads extensions with "
			     "RTLD_DEEPBIND, which a sanitizer runtime refuses", c->name);
	per_request(c);
	alternating(c);
	wrong_password(c);
	other_auth_plugin(c);
}
