/* codec_mysql.h - MySQL/MariaDB client/server framing behind codec.h.
 *
 * The codec follows a connection from the server's greeting: the login
 * (HandshakeResponse41, or an SSLRequest: TLS, never pooled), the
 * authentication exchange (auth switch, more data, OK or ERR), then each
 * command and the reply it is owed: OK/ERR, a result set (column count,
 * column definitions, EOF unless CLIENT_DEPRECATE_EOF, rows, EOF or OK,
 * and again while SERVER_MORE_RESULTS_EXISTS), a prepared statement's
 * definitions, a field list, fetched rows. Packets of 16 MB and more are
 * followed through their continuation packets.
 *
 * A connection is parkable only between commands (every reply read) or
 * after COM_QUIT. Never: TLS, compression, a login that failed, a query
 * with the word ROLE (MariaDB keeps an active role across both resets),
 * COM_CHANGE_USER, LOAD DATA LOCAL INFILE (the server asked for a file),
 * a command this codec does not know, a command written while a reply was
 * still due. Nothing is replayed: a query may act twice.
 *
 * A session always carries state: a connection is parked with
 * COM_RESET_CONNECTION written (its OK read before the next use), and the
 * next user's login is served by mysql_login.c. */
#ifndef TWP_CODEC_MYSQL_H
#define TWP_CODEC_MYSQL_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* The login's capability flag that starts TLS. */
#define TWP_MY_CLIENT_SSL 0x800u

/* The reasons verdict() gives, named once. */
#define TWP_MY_R_DUE TWP_R_LAST_WRITE  /* a reply is still due or unread */
#define TWP_MY_R_PARTIAL TWP_R_PARTIAL /* inside a packet */
#define TWP_MY_R_TLS TWP_R_TUNNEL      /* TLS or compression negotiated */
#define TWP_MY_R_STATE TWP_R_STATE     /* change user, a file asked for */
#define TWP_MY_R_CONFUSED TWP_R_PROTOCOL /* not MySQL as this codec knows it */
#define TWP_MY_R_LOGIN TWP_R_ERROR     /* the login failed */

extern const struct twp_codec twp_codec_mysql;

/* 1 when the program's last command was COM_QUIT (nothing is owed). */
int twp_mysql_quit(const void *state);

/* 1 between commands: logged in, every reply read, nothing written since. */
int twp_mysql_between(const void *state);

/* 1 when the use may have changed the database (COM_INIT_DB, a query or
 * prepare with the word USE): COM_RESET_CONNECTION keeps it. (A query with
 * the word ROLE: never parked, as COM_CHANGE_USER keeps the role too.) */
int twp_mysql_db_changed(const void *state);

/* The scramble of a greeting payload p[0..n) into out: its length (20 on
 * today's servers), or 0 when p is no greeting this codec knows. */
size_t twp_mysql_scramble(const uint8_t *p, size_t n, uint8_t *out, size_t cap);

/* An auth switch request payload (0xFE, plugin name, data): 0 with the
 * plugin's name and its data (a trailing NUL left out), or -1. */
int twp_mysql_switch_parse(const uint8_t *p, size_t n, const uint8_t **plugin, size_t *plugin_len,
			   const uint8_t **data, size_t *data_len);

/* A login (HandshakeResponse41 payload) cut into its fields; pointers
 * into the payload. */
struct twp_my_login {
	uint32_t caps;
	uint8_t charset;
	const uint8_t *user, *auth, *db, *plugin, *attrs;
	size_t user_len, auth_len, db_len, plugin_len, attrs_len; /* attrs: with its length */
};

/* 0 with l filled, or -1 when p[0..n) is no login this codec can follow. */
int twp_mysql_login_parse(const uint8_t *p, size_t n, struct twp_my_login *l);

/* The COM_CHANGE_USER payload that logs the connection in again as l,
 * whose auth data answers the scramble of the greeting l saw: the
 * session it leaves is a fresh login's (nothing of the last user's, the
 * login's database selected; COM_RESET_CONNECTION keeps a USE). Its length,
 * or 0 when it does not fit cap. MariaDB answers it with an auth switch
 * carrying that same scramble, which l's auth data answers. */
size_t twp_mysql_change_user(const struct twp_my_login *l, uint8_t *buf, size_t cap);

/* The login payload l (whose first 32 bytes are head) asking for no
 * plugin the server has and carrying no auth data: the server answers it
 * with an auth switch carrying its own scramble, which the program that
 * wrote l answers. Its length, or 0 (no room, or a client without plugin
 * auth). */
size_t twp_mysql_login_unanswered(const struct twp_my_login *l, const uint8_t *head,
				  uint8_t *buf, size_t cap);

#endif
