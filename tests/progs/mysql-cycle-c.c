/* mysql-cycle-c PORT N MODE USER:PASSWORD:DB... - a C program on
 * libmariadb, a connection per cycle: N times connect with the next login
 * of the list (round robin), SELECT CURRENT_USER(), DATABASE(), check both
 * are that login's, then go away; MODE quit closes with COM_QUIT
 * (mysql_close). Prints one line per error and "errors E", like
 * mysql-cycle.py. */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct login {
	char user[64], pass[64], db[64];
};

static int parse_login(const char *arg, struct login *l)
{
	return sscanf(arg, "%63[^:]:%63[^:]:%63s", l->user, l->pass, l->db) == 3 ? 0 : -1;
}

/* The query's row as "USER DB" in got; 0, or -1 with the error in got. */
static int query(MYSQL *c, char *got, size_t size)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	if (mysql_query(c, "SELECT CURRENT_USER(), DATABASE()") || !(res = mysql_store_result(c))) {
		snprintf(got, size, "%s", mysql_error(c));
		return -1;
	}
	row = mysql_fetch_row(res);
	if (row)
		snprintf(got, size, "%s %s", row[0] ? row[0] : "NULL", row[1] ? row[1] : "NULL");
	else
		snprintf(got, size, "no row");
	mysql_free_result(res);
	return 0;
}

/* One cycle: 0 when the query saw this login's user and database, else -1
 * after printing why. */
static int cycle(int run, unsigned int port, const struct login *l)
{
	unsigned int timeout = 5;
	char got[256], want[160];
	MYSQL *c = mysql_init(NULL);
	int ok;

	if (!c) {
		printf("run %d: mysql_init failed\n", run);
		return -1;
	}
	mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &timeout);
	if (!mysql_real_connect(c, "127.0.0.1", l->user, l->pass, l->db, port, NULL, 0)) {
		printf("run %d: %.200s\n", run, mysql_error(c));
		mysql_close(c);
		return -1;
	}
	snprintf(want, sizeof(want), "%s@%% %s", l->user, l->db);
	ok = query(c, got, sizeof(got)) == 0 && strcmp(got, want) == 0;
	if (!ok)
		printf("run %d: got %s, want %s\n", run, got, want);
	mysql_close(c);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct login logins[8];
	int nlogins = argc - 4, n, errors = 0;

	if (argc < 5 || nlogins > 8 || strcmp(argv[3], "quit") != 0) {
		fprintf(stderr, "usage: mysql-cycle-c PORT N quit USER:PASSWORD:DB... (up to 8)\n");
		return 2;
	}
	for (int i = 0; i < nlogins; i++)
		if (parse_login(argv[4 + i], &logins[i]) < 0) {
			fprintf(stderr, "mysql-cycle-c: bad login %s\n", argv[4 + i]);
			return 2;
		}
	n = atoi(argv[2]);
	for (int i = 0; i < n; i++)
		if (cycle(i, (unsigned int)atoi(argv[1]), &logins[i % nlogins]) < 0)
			errors++;
	printf("errors %d\n", errors);
	mysql_library_end();
	return 0;
}
