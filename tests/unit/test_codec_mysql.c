/* The MySQL codec against whole conversations of real clients with a real
 * MariaDB (mysql_transcripts.h: PyMySQL, the mariadb command, PHP mysqli
 * with prepared statements and a cursor), and hand-made packets for what
 * must never be pooled. The oracle of a transcript: its clients wait for
 * every reply, so a reply ends exactly where the client's next chunk
 * starts, and not one byte earlier. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_mysql.h"
#include "mysql_transcripts.h"

static void *fresh(void)
{
	return calloc(1, twp_codec_mysql.state_size);
}

static void feed(void *st, int out, const void *b, size_t n)
{
	struct iovec v = { (void *)b, n };
	twp_codec_mysql.bytes(st, out, &v, 1, n);
}

/* What the pool makes of the codec's answer: a session between commands
 * is parked with COM_RESET_CONNECTION (TWP_R_NONE here); anything else is
 * the codec's reason. */
static enum twp_reason verdict(const void *st)
{
	enum twp_reason v = twp_codec_mysql.verdict(st);
	return v != TWP_R_NONE && twp_codec_mysql.needs_reset(st) ? TWP_R_NONE : v;
}

/* A conversation fed chunk by chunk, server chunks byte by byte: the
 * codec owes nothing exactly at the end of each reply, and something
 * everywhere inside one. */
static void conversation(const struct my_conv *c)
{
	void *st = fresh();
	for (size_t i = 0; i < c->n; i++) {
		const struct my_chunk *k = &c->chunks[i];
		if (!k->server) {
			/* A reply is due, or (the last: COM_QUIT went to the
			 * server) the server is closing the connection. */
			feed(st, 1, k->b, k->len);
			cr_assert_neq(verdict(st), TWP_R_NONE, "%s: after client chunk %zu", c->name, i);
			continue;
		}
		for (size_t j = 0; j < k->len; j++) {
			feed(st, 0, k->b + j, 1);
			int end = j + 1 == k->len && i >= 2; /* the greeting owes a login */
			cr_assert_eq(verdict(st) == TWP_R_NONE, end,
				     "%s: server chunk %zu, byte %zu of %zu: verdict %d", c->name, i,
				     j + 1, k->len, verdict(st));
		}
	}
	cr_expect(twp_mysql_quit(st), "%s: the client's COM_QUIT was not seen", c->name);
	free(st);
}

#define NCONVS (sizeof(my_convs) / sizeof(my_convs[0]))

Test(codec_mysql, real_conversations_end_where_the_client_speaks_again)
{
	for (size_t i = 0; i < NCONVS; i++)
		if (!my_convs[i].change_user)
			conversation(&my_convs[i]);
}

/* The transcript where mysqlnd changes user, and the chunk that does. */
static const struct my_conv *change_user_conv(size_t *at)
{
	for (size_t i = 0; i < NCONVS; i++)
		for (size_t j = 3; my_convs[i].change_user && j < my_convs[i].n; j++)
			if (!my_convs[i].chunks[j].server && my_convs[i].chunks[j].b[4] == 0x11) {
				*at = j;
				return &my_convs[i];
			}
	cr_assert_fail("no transcript changes user");
	return NULL;
}

Test(codec_mysql, change_user_is_never_pooled)
{
	size_t at;
	const struct my_conv *c = change_user_conv(&at);
	void *st = fresh();
	for (size_t j = 0; j < c->n; j++)
		feed(st, !c->chunks[j].server, c->chunks[j].b, c->chunks[j].len);
	cr_expect_eq(verdict(st), TWP_MY_R_STATE);
	free(st);
}

static void login_of(const struct my_chunk *k, struct twp_my_login *l)
{
	cr_assert_eq(twp_mysql_login_parse((const uint8_t *)k->b + 4, k->len - 4, l), 0,
		     "a real login did not parse");
}

Test(codec_mysql, logins_of_every_client_parse)
{
	for (size_t i = 0; i < NCONVS; i++) {
		struct twp_my_login l;
		login_of(&my_convs[i].chunks[1], &l);
		cr_expect(l.user_len == 2 && !memcmp(l.user, "u1", 2), "%s: user", my_convs[i].name);
		cr_expect(l.db_len == 2 && !memcmp(l.db, "d1", 2), "%s: db", my_convs[i].name);
		cr_expect_eq(l.auth_len, 20, "%s: a native password proof is 20 bytes", my_convs[i].name);
		cr_expect(l.plugin_len == 21 && !memcmp(l.plugin, "mysql_native_password", 21),
			  "%s: plugin", my_convs[i].name);
	}
}

/* mysqlnd changing user to the very login it made: the COM_CHANGE_USER
 * built from that login carries the same user, proof, database, charset
 * and plugin as mysqlnd's own. */
Test(codec_mysql, change_user_built_from_a_login_matches_mysqlnd)
{
	size_t at;
	const struct my_conv *c = change_user_conv(&at);
	struct twp_my_login l;
	login_of(&c->chunks[1], &l);
	uint8_t built[512];
	size_t n = twp_mysql_change_user(&l, built, sizeof(built));
	cr_assert_gt(n, 0);
	const uint8_t *real = (const uint8_t *)c->chunks[at].b + 4;
	size_t fixed = 1 + 3 + 1 + 20 + 3 + 2 + 22; /* through the plugin name */
	cr_expect_eq(memcmp(built, real, fixed), 0, "the change user differs from mysqlnd's");
	cr_expect_eq(twp_mysql_change_user(&l, built, 40), 0, "overflowed a small buffer");
}

/* The same conversations with each client chunk split in two at every
 * 7th byte: the codec is inside a packet until its last byte. */
Test(codec_mysql, a_command_written_in_pieces_is_partial)
{
	for (size_t i = 0; i < sizeof(my_convs) / sizeof(my_convs[0]); i++) {
		const struct my_conv *c = &my_convs[i];
		if (c->change_user)
			continue;
		void *st = fresh();
		for (size_t j = 0; j < c->n; j++) {
			const struct my_chunk *k = &c->chunks[j];
			if (!k->server && j >= 3 && k->len > 4) {
				feed(st, 1, k->b, k->len - 1);
				cr_assert_neq(verdict(st), TWP_R_NONE, "%s: chunk %zu", c->name, j);
				feed(st, 1, k->b + k->len - 1, 1);
			} else
				feed(st, !k->server, k->b, k->len);
		}
		cr_expect(twp_mysql_quit(st) && verdict(st) == TWP_MY_R_STATE, "%s", c->name);
		free(st);
	}
}

/* The first three chunks of the first transcript: greeting, login, OK. */
static void *logged_in(void)
{
	void *st = fresh();
	for (int i = 0; i < 3; i++)
		feed(st, !my_conv0[i].server, my_conv0[i].b, my_conv0[i].len);
	cr_assert_eq(verdict(st), TWP_R_NONE, "the login did not settle");
	return st;
}

static void packet(void *st, int out, uint8_t seq, const char *payload, size_t n)
{
	uint8_t h[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), seq };
	feed(st, out, h, 4);
	feed(st, out, payload, n);
}

Test(codec_mysql, ssl_request_is_never_pooled)
{
	void *st = fresh();
	feed(st, 0, my_conv0[0].b, my_conv0[0].len);
	char ssl[32] = { 0 };
	uint32_t caps = 0x200 | 0x800 | 0x8000; /* PROTOCOL_41 | SSL | SECURE_CONNECTION */
	memcpy(ssl, &caps, 4);
	packet(st, 1, 1, ssl, sizeof(ssl));
	cr_expect_eq(verdict(st), TWP_MY_R_TLS);
	free(st);
}

Test(codec_mysql, change_user_and_local_infile_are_never_pooled)
{
	void *st = logged_in();
	packet(st, 1, 0, "\x11u2\0", 4);
	cr_expect_eq(verdict(st), TWP_MY_R_STATE, "COM_CHANGE_USER");
	free(st);
	st = logged_in();
	packet(st, 1, 0, "\x03LOAD DATA LOCAL INFILE 'f' INTO TABLE t", 39);
	packet(st, 0, 1, "\xfb" "f", 2);
	cr_expect_eq(verdict(st), TWP_MY_R_STATE, "LOAD DATA LOCAL");
	free(st);
}

Test(codec_mysql, unknown_or_pipelined_commands_are_never_pooled)
{
	void *st = logged_in();
	packet(st, 1, 0, "\x12", 1); /* COM_BINLOG_DUMP */
	cr_expect_eq(verdict(st), TWP_MY_R_CONFUSED);
	free(st);
	st = logged_in();
	packet(st, 1, 0, "\x03SELECT 1", 9);
	packet(st, 1, 0, "\x03SELECT 2", 9);
	cr_expect_eq(verdict(st), TWP_MY_R_CONFUSED, "a second query before the first's reply");
	free(st);
}

Test(codec_mysql, failed_login_and_unasked_replies_are_never_pooled)
{
	void *st = fresh();
	packet(st, 0, 0, "\xff\x10\x04Too many connections", 23);
	cr_expect_eq(verdict(st), TWP_MY_R_LOGIN);
	free(st);
	st = logged_in();
	packet(st, 0, 1, "\x00\x00\x00\x02\x00\x00\x00", 7);
	cr_expect_eq(verdict(st), TWP_MY_R_CONFUSED, "an OK nobody asked for");
	free(st);
}

/* A 16 MB row: its payload continues in a second packet; a 0xFE first
 * byte there is data, not an EOF. */
Test(codec_mysql, packets_of_16_mb_continue)
{
	void *st = logged_in();
	packet(st, 1, 0, "\x03SELECT big", 11);
	packet(st, 0, 1, "\x01", 1);                      /* one column */
	packet(st, 0, 2, "\x03" "def\0\0\0\0\0\0\0\0\0", 12); /* its definition */
	packet(st, 0, 3, "\xfe\0\0\x02\0", 5);            /* EOF */
	size_t big = 0xffffff;
	char *row = malloc(big);
	memset(row, 0xfe, big);
	packet(st, 0, 4, row, big);
	cr_expect_neq(verdict(st), TWP_R_NONE, "the first part of a row ended the result");
	packet(st, 0, 5, "\xfe\0\0\x02\0", 5);            /* the row's last 5 bytes */
	cr_expect_neq(verdict(st), TWP_R_NONE, "the row's tail was read as an EOF");
	packet(st, 0, 6, "\xfe\0\0\x02\0", 5);            /* EOF */
	cr_expect_eq(verdict(st), TWP_R_NONE);
	free(row);
	free(st);
}

Test(codec_mysql, nothing_is_replayed)
{
	void *st = logged_in();
	packet(st, 1, 0, "\x03SELECT 1", 9);
	cr_expect_eq(twp_codec_mysql.replayable(st), 0);
	free(st);
}

/* A greeting and login with these capabilities (no real client here sets
 * CLIENT_DEPRECATE_EOF: PyMySQL, libmariadb and mysqlnd do not). */
static void *logged_in_with(uint32_t caps)
{
	void *st = fresh();
	char g[64] = "\x0a" "10.11.0-test";  /* protocol 10, version */
	size_t at = 1 + 13 + 4 + 8 + 1;   /* NUL, thread id, scramble, filler */
	g[at] = (char)caps, g[at + 1] = (char)(caps >> 8);
	g[at + 5] = (char)(caps >> 16), g[at + 6] = (char)(caps >> 24);
	packet(st, 0, 0, g, at + 16);
	char login[40] = { 0 };
	memcpy(login, &caps, 4);
	packet(st, 1, 1, login, sizeof(login));
	packet(st, 0, 2, "\x00\x00\x00\x02\x00\x00\x00", 7);
	cr_assert_eq(verdict(st), TWP_R_NONE, "the login did not settle");
	return st;
}

#define CAPS_41_DEPRECATE_EOF (0x200u | 0x8000u | 0x20000u | 0x1000000u)

/* Without EOF packets a result's columns run straight into its rows, and
 * it ends with an OK that has a 0xFE header; its status says whether
 * another result follows. */
Test(codec_mysql, deprecate_eof_results_and_multi_results)
{
	void *st = logged_in_with(CAPS_41_DEPRECATE_EOF);
	packet(st, 1, 0, "\x03SELECT 1; SELECT 2", 19);
	packet(st, 0, 1, "\x01", 1);
	packet(st, 0, 2, "\x03" "def\0\0\0\0\0\0\0\0\0", 12);
	packet(st, 0, 3, "\x01" "1", 2);
	cr_expect_neq(verdict(st), TWP_R_NONE, "a row taken for the end");
	packet(st, 0, 4, "\xfe\x00\x00\x0a\x00\x00\x00", 7); /* more results */
	cr_expect_neq(verdict(st), TWP_R_NONE, "the first of two results ended the reply");
	packet(st, 0, 5, "\x01", 1);
	packet(st, 0, 6, "\x03" "def\0\0\0\0\0\0\0\0\0", 12);
	packet(st, 0, 7, "\x01" "2", 2);
	packet(st, 0, 8, "\xfe\x00\x00\x02\x00\x00\x00", 7);
	cr_expect_eq(verdict(st), TWP_R_NONE);
	free(st);
}

Test(codec_mysql, deprecate_eof_prepare)
{
	void *st = logged_in_with(CAPS_41_DEPRECATE_EOF);
	packet(st, 1, 0, "\x16SELECT ?", 9);
	/* OK: statement 1, one column, one parameter */
	packet(st, 0, 1, "\x00\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00", 12);
	packet(st, 0, 2, "\x03" "def\0\0\0\0\0\0\0\0\0", 12);
	cr_expect_neq(verdict(st), TWP_R_NONE, "ended after the parameters");
	packet(st, 0, 3, "\x03" "def\0\0\0\0\0\0\0\0\0", 12);
	cr_expect_eq(verdict(st), TWP_R_NONE, "not ended after the columns");
	free(st);
}

/* COM_RESET_CONNECTION keeps a USE: a use that may have changed the
 * database is said so, and the next login is made again in full. */
Test(codec_mysql, a_use_that_may_change_the_database_is_seen)
{
	static const struct {
		const char *sql;
		int changes;
	} cases[] = {
		{ "SELECT 1", 0 },        { "use d2", 1 },          { "SELECT * FROM users", 0 },
		{ "select 1;USE`d2`", 1 }, { "SELECT 'reuse', fuse", 0 }, { "  Use d2", 1 },
		{ "SELECT 1 /* use */", 1 }, { "SELECT roles FROM t", 0 }, { "SELECT 'user'", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *st = logged_in();
		char q[64];
		size_t n = strlen(cases[i].sql);
		q[0] = 0x03;
		memcpy(q + 1, cases[i].sql, n);
		packet(st, 1, 0, q, n + 1);
		packet(st, 0, 1, "\x00\x00\x00\x02\x00\x00\x00", 7);
		cr_expect_eq(verdict(st), TWP_R_NONE, "%s: not between commands", cases[i].sql);
		cr_expect_eq(twp_mysql_db_changed(st), cases[i].changes, "%s", cases[i].sql);
		free(st);
	}
	void *st = logged_in();
	packet(st, 1, 0, "\x02" "d2", 3); /* COM_INIT_DB */
	packet(st, 0, 1, "\x00\x00\x00\x02\x00\x00\x00", 7);
	cr_expect(twp_mysql_db_changed(st), "COM_INIT_DB");
	free(st);
}

/* The scramble of a real greeting: 8 bytes after the thread id and 12
 * after the reserved bytes; a greeting cut anywhere gives none or a
 * shorter one, never a read past its end (ASan run). */
Test(codec_mysql, the_scramble_of_a_greeting)
{
	const uint8_t *g = (const uint8_t *)my_conv0[0].b + 4;
	size_t n = my_conv0[0].len - 4;
	uint8_t s[64];
	cr_assert_eq(twp_mysql_scramble(g, n, s, sizeof(s)), 20);
	cr_expect_eq(memcmp(s, "tV/*$r6S", 8), 0, "the first part");
	cr_expect_eq(memcmp(s + 8, "}?aJ0Oz>`L9x", 12), 0, "the second part");
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, g, cut);
		cr_expect_leq(twp_mysql_scramble(copy, cut, s, sizeof(s)), 20, "cut at %zu", cut);
		free(copy);
	}
	cr_expect_eq(twp_mysql_scramble(g, n, s, 16), 0, "a scramble longer than the room");
}

/* An auth switch request: the plugin's name and its data, the trailing
 * NUL left out; anything else is not one. */
Test(codec_mysql, an_auth_switch_request)
{
	static const uint8_t sw[] = "\xfe" "client_ed25519\0" "0123456789abcdef0123456789abcdef";
	const uint8_t *plugin, *data;
	size_t plen, dlen;
	cr_assert_eq(twp_mysql_switch_parse(sw, sizeof(sw), &plugin, &plen, &data, &dlen), 0);
	cr_expect(plen == 14 && !memcmp(plugin, "client_ed25519", 14));
	cr_expect(dlen == 32 && !memcmp(data, "0123456789abcdef", 16));
	cr_expect_eq(twp_mysql_switch_parse(sw, 8, &plugin, &plen, &data, &dlen), -1, "no NUL");
	cr_expect_eq(twp_mysql_switch_parse((const uint8_t *)"\x00\x00", 2, &plugin, &plen, &data,
					    &dlen), -1, "an OK");
}

/* MariaDB keeps an active role across COM_RESET_CONNECTION and
 * COM_CHANGE_USER alike: a session that may have set one is never parked. */
Test(codec_mysql, a_session_that_may_have_set_a_role_is_never_parked)
{
	static const char *const sql[] = { "SET ROLE r1", "set role NONE", "SELECT 1; SET ROLE r1" };
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		void *st = logged_in();
		char q[64];
		size_t n = strlen(sql[i]);
		q[0] = 0x03;
		memcpy(q + 1, sql[i], n);
		packet(st, 1, 0, q, n + 1);
		packet(st, 0, 1, "\x00\x00\x00\x02\x00\x00\x00", 7);
		cr_expect_eq(verdict(st), TWP_MY_R_STATE, "%s", sql[i]);
		free(st);
	}
}
