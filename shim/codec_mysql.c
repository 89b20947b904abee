/* codec_mysql.c - MySQL/MariaDB framing: packets, the login, and the
 * reply each command is owed.
 *
 * Each direction is cut into packets as bytes stream by (3-byte length,
 * sequence number, payload; a 0xFFFFFF length continues in the next
 * packet). Of a payload only its first HEAD bytes are kept: enough for
 * every field framing depends on (the greeting's capabilities after its
 * version string, an OK packet's status after two length-encoded
 * integers, a prepare reply's counts). */
#include <stdint.h>
#include <string.h>

#include "codec_mysql.h"

#define HEAD 96
#define LEN_CONTINUED 0xffffffu

/* Capability flags (the client's login, masked by the server's). */
#define CLIENT_CONNECT_WITH_DB 0x8u
#define CLIENT_COMPRESS 0x20u
#define CLIENT_PROTOCOL_41 0x200u
#define CLIENT_SSL 0x800u
#define CLIENT_SECURE_CONNECTION 0x8000u
#define CLIENT_PLUGIN_AUTH 0x80000u
#define CLIENT_CONNECT_ATTRS 0x100000u
#define CLIENT_PLUGIN_AUTH_LENENC 0x200000u
#define CLIENT_DEPRECATE_EOF 0x1000000u
#define SERVER_MORE_RESULTS_EXISTS 0x8u
#define SERVER_STATUS_CURSOR_EXISTS 0x40u

/* Commands by the reply they are owed. */
#define COM_QUIT 0x01
#define COM_INIT_DB 0x02
#define COM_QUERY 0x03
#define COM_FIELD_LIST 0x04
#define COM_REFRESH 0x07
#define COM_STATISTICS 0x09
#define COM_PROCESS_KILL 0x0c
#define COM_DEBUG 0x0d
#define COM_PING 0x0e
#define COM_CHANGE_USER 0x11
#define COM_STMT_PREPARE 0x16
#define COM_STMT_EXECUTE 0x17
#define COM_STMT_SEND_LONG_DATA 0x18
#define COM_STMT_CLOSE 0x19
#define COM_STMT_RESET 0x1a
#define COM_SET_OPTION 0x1b
#define COM_STMT_FETCH 0x1c
#define COM_RESET_CONNECTION 0x1f

enum phase { PH_GREETING, PH_LOGIN, PH_AUTH, PH_IDLE, PH_REPLY, PH_QUIT, PH_DEAD };
/* What a command is owed, and where in it the server is. */
enum step {
	S_ONE,                      /* one packet: OK, ERR, EOF or a string */
	S_FIRST,                    /* OK, ERR, LOCAL INFILE or a column count */
	S_COLS, S_COLS_EOF, S_ROWS, /* a result set */
	S_PREPARE,                  /* a prepare's OK or ERR */
	S_PARAMS, S_PARAMS_EOF, S_PCOLS, S_PCOLS_EOF,
	S_FIELDS,                   /* definitions until EOF (COM_FIELD_LIST) */
};

struct side {
	uint8_t hdr[4];
	uint8_t nhdr; /* header bytes so far; 4 while in the payload */
	uint8_t cont; /* the packet continues a 16 MB one */
	uint16_t nhead;
	uint32_t left; /* payload bytes still to come */
	uint64_t len;  /* the logical packet's length so far */
	uint8_t head[HEAD];
};

/* One logical packet, its first bytes kept. */
struct pkt {
	const uint8_t *p;
	size_t n;   /* bytes of p kept */
	uint64_t len;
};

struct twp_my {
	struct side c, s;
	uint8_t phase, step, why; /* why: the reason once PH_DEAD */
	uint32_t server_caps, caps;
	uint64_t count;  /* definitions left */
	uint32_t pcols;  /* a prepare's columns, after its parameters */
	uint8_t query;   /* the client's packet is a query's text (scanned) */
	uint8_t nword;   /* the scan: length of the word so far (5: longer) */
	char word[4];    /* its first letters, lower case */
	uint8_t use;     /* the database may have been changed */
	uint8_t role;    /* the active role may have been changed */
};

static void die(struct twp_my *m, enum twp_reason why)
{
	if (m->phase != PH_DEAD)
		m->why = (uint8_t)why;
	m->phase = PH_DEAD;
}

/* A length-encoded integer at *at of k; -1 when it is not all kept. */
static int lenenc(const struct pkt *k, size_t *at, uint64_t *v)
{
	if (*at >= k->n)
		return -1;
	uint8_t b = k->p[*at];
	size_t w = b < 0xfb ? 0 : b == 0xfc ? 2 : b == 0xfd ? 3 : b == 0xfe ? 8 : 0;
	if (b == 0xfb || b == 0xff || *at + 1 + w > k->n)
		return -1;
	*v = w ? 0 : b;
	for (size_t i = 0; i < w; i++)
		*v |= (uint64_t)k->p[*at + 1 + i] << (8 * i);
	*at += 1 + w;
	return 0;
}

static int is_err(const struct pkt *k) { return k->n && k->p[0] == 0xff; }

/* EOF, or the OK that stands for it under CLIENT_DEPRECATE_EOF: a 0xFE
 * header on a packet too short to be a row's 8-byte length. */
static int is_eof(const struct pkt *k) { return k->n && k->p[0] == 0xfe && k->len < 9; }

/* The status flags of an OK (0x00 or, as an EOF, 0xFE) or EOF packet;
 * -1 when they are not there. */
static long status(const struct twp_my *m, const struct pkt *k)
{
	size_t at = 1;
	uint64_t v;
	if (k->p[0] == 0xfe && !(m->caps & CLIENT_DEPRECATE_EOF))
		return k->n >= 5 ? (long)(k->p[3] | k->p[4] << 8) : -1;
	if (lenenc(k, &at, &v) < 0 || lenenc(k, &at, &v) < 0 || at + 2 > k->n)
		return -1;
	return (long)(k->p[at] | k->p[at + 1] << 8);
}

/* A result's last packet: the next result of a multi-result, or done. */
static void result_end(struct twp_my *m, const struct pkt *k)
{
	long st = status(m, k);
	if (st < 0)
		die(m, TWP_MY_R_CONFUSED);
	else if (st & SERVER_MORE_RESULTS_EXISTS)
		m->step = S_FIRST;
	else
		m->phase = PH_IDLE;
}

static void reply_first(struct twp_my *m, const struct pkt *k)
{
	size_t at = 0;
	if (is_err(k))
		m->phase = PH_IDLE;
	else if (k->p[0] == 0x00)
		result_end(m, k);
	else if (k->p[0] == 0xfb)
		die(m, TWP_MY_R_STATE); /* LOAD DATA LOCAL: the server wants a file */
	else if (lenenc(k, &at, &m->count) < 0 || !m->count)
		die(m, TWP_MY_R_CONFUSED);
	else
		m->step = S_COLS;
}

/* The definitions of a prepared statement's columns, or done. */
static void prepare_cols(struct twp_my *m)
{
	m->count = m->pcols;
	if (m->count)
		m->step = S_PCOLS;
	else
		m->phase = PH_IDLE;
}

static void prepare_ok(struct twp_my *m, const struct pkt *k)
{
	if (is_err(k)) {
		m->phase = PH_IDLE;
		return;
	}
	if (k->p[0] != 0x00 || k->n < 9) {
		die(m, TWP_MY_R_CONFUSED);
		return;
	}
	m->pcols = (uint32_t)(k->p[5] | k->p[6] << 8);
	m->count = (uint32_t)(k->p[7] | k->p[8] << 8);
	if (m->count)
		m->step = S_PARAMS;
	else
		prepare_cols(m);
}

/* One definition of a run; 1 when it was the run's last. */
static int definition(struct twp_my *m)
{
	return --m->count == 0;
}

/* The end of a result's columns; a cursor's rows come only when fetched
 * (COM_STMT_FETCH), so its reply ends here. */
static void cols_eof(struct twp_my *m, const struct pkt *k)
{
	long st = is_eof(k) ? status(m, k) : -1;
	if (st < 0)
		die(m, TWP_MY_R_CONFUSED);
	else if (st & SERVER_STATUS_CURSOR_EXISTS)
		m->phase = PH_IDLE;
	else
		m->step = S_ROWS;
}

/* After a run of definitions: its EOF, unless the client has none
 * (CLIENT_DEPRECATE_EOF). 1 when the run is over here. */
static int run_over(struct twp_my *m, enum step eof_step)
{
	if (m->caps & CLIENT_DEPRECATE_EOF)
		return 1;
	m->step = (uint8_t)eof_step;
	return 0;
}

static void rows(struct twp_my *m, const struct pkt *k)
{
	if (is_err(k))
		m->phase = PH_IDLE;
	else if (is_eof(k))
		result_end(m, k);
}

static void reply(struct twp_my *m, const struct pkt *k)
{
	switch (m->step) {
	case S_ONE: m->phase = PH_IDLE; break;
	case S_FIRST: reply_first(m, k); break;
	case S_COLS:
		if (definition(m) && run_over(m, S_COLS_EOF))
			m->step = S_ROWS;
		break;
	case S_COLS_EOF: cols_eof(m, k); break;
	case S_ROWS: rows(m, k); break;
	case S_PREPARE: prepare_ok(m, k); break;
	case S_PARAMS:
		if (definition(m) && run_over(m, S_PARAMS_EOF))
			prepare_cols(m);
		break;
	case S_PARAMS_EOF:
		if (is_eof(k))
			prepare_cols(m);
		else
			die(m, TWP_MY_R_CONFUSED);
		break;
	case S_PCOLS:
		if (definition(m) && run_over(m, S_PCOLS_EOF))
			m->phase = PH_IDLE;
		break;
	case S_PCOLS_EOF:
		if (is_eof(k))
			m->phase = PH_IDLE;
		else
			die(m, TWP_MY_R_CONFUSED);
		break;
	case S_FIELDS:
		if (is_err(k) || is_eof(k))
			m->phase = PH_IDLE;
		break;
	}
}

/* The greeting (protocol 10): the server's capabilities sit after its
 * NUL-terminated version, a thread id, 8 scramble bytes and a filler. */
static void greeting(struct twp_my *m, const struct pkt *k)
{
	const uint8_t *nul = k->n > 1 ? memchr(k->p + 1, 0, k->n - 1) : NULL;
	size_t at = nul ? (size_t)(nul - k->p) + 1 + 4 + 8 + 1 : 0;
	if (is_err(k))
		die(m, TWP_MY_R_LOGIN); /* too many connections, host blocked */
	else if (k->p[0] != 10 || !nul || at + 8 > k->n)
		die(m, TWP_MY_R_CONFUSED);
	else {
		m->server_caps = (uint32_t)(k->p[at] | k->p[at + 1] << 8 | k->p[at + 5] << 16 |
					    (uint32_t)k->p[at + 6] << 24);
		m->phase = PH_LOGIN;
	}
}

static void from_server(struct twp_my *m, const struct pkt *k)
{
	if (!k->n && m->phase != PH_REPLY) {
		die(m, TWP_MY_R_CONFUSED);
		return;
	}
	switch (m->phase) {
	case PH_GREETING: greeting(m, k); break;
	case PH_AUTH:
		if (k->p[0] == 0x00)
			m->phase = PH_IDLE;
		else if (is_err(k))
			die(m, TWP_MY_R_LOGIN);
		break; /* auth switch, more data: the exchange goes on */
	case PH_REPLY:
		if (!k->n)
			die(m, TWP_MY_R_CONFUSED);
		else
			reply(m, k);
		break;
	case PH_DEAD: break;
	default: die(m, TWP_MY_R_CONFUSED); /* nothing was asked */
	}
}

/* HandshakeResponse41, or the 32-byte SSLRequest that starts TLS. */
static void login(struct twp_my *m, const struct pkt *k)
{
	if (k->n < 4) {
		die(m, TWP_MY_R_CONFUSED);
		return;
	}
	uint32_t caps = (uint32_t)(k->p[0] | k->p[1] << 8 | k->p[2] << 16 | (uint32_t)k->p[3] << 24);
	m->caps = caps & m->server_caps;
	if (caps & (CLIENT_SSL | CLIENT_COMPRESS)) /* asked for: never followed */
		die(m, TWP_MY_R_TLS);
	else if (!(m->caps & CLIENT_PROTOCOL_41))
		die(m, TWP_MY_R_CONFUSED);
	else
		m->phase = PH_AUTH;
}

/* The step a command's reply starts at; -1: none owed; -2: never pooled. */
static int command_step(uint8_t cmd)
{
	switch (cmd) {
	case COM_QUERY: case COM_STMT_EXECUTE: return S_FIRST;
	case COM_STMT_PREPARE: return S_PREPARE;
	case COM_FIELD_LIST: case COM_STMT_FETCH: return S_FIELDS;
	case COM_INIT_DB: case COM_PING: case COM_STMT_RESET: case COM_RESET_CONNECTION:
	case COM_SET_OPTION: case COM_PROCESS_KILL: case COM_REFRESH: case COM_DEBUG:
	case COM_STATISTICS: return S_ONE;
	case COM_STMT_CLOSE: case COM_STMT_SEND_LONG_DATA: case COM_QUIT: return -1;
	default: return -2; /* COM_CHANGE_USER, replication, unknown */
	}
}

/* A word of a query ends: USE and (SET) ROLE change what
 * COM_RESET_CONNECTION keeps. MariaDB's COM_CHANGE_USER keeps the role
 * too, so a session that may have one is never parked. */
static void word_end(struct twp_my *m)
{
	if (m->nword == 3 && !memcmp(m->word, "use", 3))
		m->use = 1;
	if (m->nword == 4 && !memcmp(m->word, "role", 4))
		m->role = 1;
	m->nword = 0;
}

/* A query's text, byte by byte: does it hold the word USE or ROLE (in any
 * case, anywhere: a false alarm costs only a full re-login). */
static void scan(struct twp_my *m, uint8_t b)
{
	uint8_t c = b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
	int in_word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
		      c >= 0x80;
	if (!in_word)
		word_end(m);
	else if (m->nword < 4)
		m->word[m->nword++] = (char)c;
	else
		m->nword = 5;
}

/* The client's payload bytes p[0..k), the first at offset at of its
 * packet: a command's first byte says whether its text is scanned. */
static void client_text(struct twp_my *m, const uint8_t *p, size_t k, uint64_t at)
{
	for (size_t i = 0; i < k; i++) {
		if (at + i == 0) {
			m->query = p[i] == COM_QUERY || p[i] == COM_STMT_PREPARE;
			m->nword = 0;
		} else if (m->query) {
			scan(m, p[i]);
		}
	}
}

static void command(struct twp_my *m, const struct pkt *k)
{
	if (k->n && k->p[0] == COM_INIT_DB)
		m->use = 1;
	int step = k->n ? command_step(k->p[0]) : -2;
	if (step == -2)
		die(m, k->n && k->p[0] == COM_CHANGE_USER ? TWP_MY_R_STATE : TWP_MY_R_CONFUSED);
	else if (k->p[0] == COM_QUIT)
		m->phase = PH_QUIT;
	else if (step >= 0) {
		m->phase = PH_REPLY;
		m->step = (uint8_t)step;
	}
}

static void from_client(struct twp_my *m, const struct pkt *k)
{
	if (m->query)
		word_end(m);
	m->query = 0;
	switch (m->phase) {
	case PH_LOGIN: login(m, k); break;
	case PH_AUTH: break; /* an auth switch's answer */
	case PH_IDLE: command(m, k); break;
	case PH_DEAD: break;
	default: die(m, TWP_MY_R_CONFUSED); /* before the greeting, or pipelined */
	}
}

/* Feeds n bytes of one direction; whole packets go to on_packet. */
static void feed(struct twp_my *m, struct side *s, const uint8_t *p, size_t n,
		 void (*on_packet)(struct twp_my *, const struct pkt *))
{
	while (n && m->phase != PH_DEAD) {
		if (s->nhdr < 4) {
			s->hdr[s->nhdr++] = *p++;
			n--;
			if (s->nhdr < 4)
				continue;
			s->left = s->hdr[0] | s->hdr[1] << 8 | (uint32_t)s->hdr[2] << 16;
			if (!s->cont)
				s->nhead = 0, s->len = 0;
			s->len += s->left;
		} else {
			size_t k = n < s->left ? n : s->left, room = HEAD - s->nhead;
			if (s == &m->c && m->phase == PH_IDLE)
				client_text(m, p, k, s->len - s->left);
			memcpy(s->head + s->nhead, p, k < room ? k : room);
			s->nhead = (uint16_t)(s->nhead + (k < room ? k : room));
			s->left -= (uint32_t)k;
			p += k;
			n -= k;
		}
		if (s->left)
			continue;
		uint32_t plen = s->hdr[0] | s->hdr[1] << 8 | (uint32_t)s->hdr[2] << 16;
		s->nhdr = 0;
		s->cont = plen == LEN_CONTINUED;
		if (!s->cont)
			on_packet(m, &(struct pkt){ .p = s->head, .n = s->nhead, .len = s->len });
	}
}

static void my_bytes(void *state, int out, const struct iovec *iov, int cnt, size_t n)
{
	struct twp_my *m = state;
	for (int i = 0; i < cnt && n; i++) {
		size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (out)
			feed(m, &m->c, iov[i].iov_base, len, from_client);
		else
			feed(m, &m->s, iov[i].iov_base, len, from_server);
		n -= len;
	}
}

/* Every reply read, nothing written since: between commands. */
static int between(const struct twp_my *m)
{
	return m->phase == PH_IDLE && !m->c.nhdr && !m->c.cont && !m->s.nhdr && !m->s.cont;
}

/* A logged-in session always carries state (a database, variables,
 * perhaps a transaction or a lock): parked only with the reset. After a
 * COM_QUIT that went to the server, never: the server is closing it. */
static enum twp_reason my_verdict(const void *state)
{
	const struct twp_my *m = state;
	if (m->phase == PH_DEAD)
		return (enum twp_reason)m->why;
	if (m->c.nhdr || m->c.cont)
		return TWP_MY_R_PARTIAL;
	if (m->phase == PH_QUIT)
		return TWP_MY_R_STATE;
	if (m->phase != PH_IDLE)
		return TWP_MY_R_DUE;
	return m->s.nhdr || m->s.cont ? TWP_MY_R_CONFUSED : TWP_MY_R_STATE;
}

static int my_needs_reset(const void *state)
{
	return between(state) && !((const struct twp_my *)state)->role;
}

int twp_mysql_between(const void *state)
{
	return between(state);
}

int twp_mysql_db_changed(const void *state)
{
	return ((const struct twp_my *)state)->use;
}

static int my_replayable(const void *state)
{
	(void)state;
	return 0;
}

int twp_mysql_quit(const void *state)
{
	return ((const struct twp_my *)state)->phase == PH_QUIT;
}

/* A NUL-terminated string at *at of p[0..n): its start and length. */
static int cstr(const uint8_t *p, size_t n, size_t *at, const uint8_t **s, size_t *len)
{
	const uint8_t *nul = *at < n ? memchr(p + *at, 0, n - *at) : NULL;
	if (!nul)
		return -1;
	*s = p + *at;
	*len = (size_t)(nul - *s);
	*at += *len + 1;
	return 0;
}

/* Bytes of p[0..n) at *at counted by a length-encoded integer, that
 * integer included (with_len) or not. */
static int counted(const uint8_t *p, size_t n, size_t *at, int with_len, const uint8_t **s,
		   size_t *len)
{
	struct pkt k = { .p = p, .n = n, .len = n };
	size_t from = *at;
	uint64_t v;
	if (lenenc(&k, at, &v) < 0 || v > n - *at)
		return -1;
	*s = p + (with_len ? from : *at);
	*at += (size_t)v;
	*len = (size_t)(p + *at - *s);
	return 0;
}

static int login_auth(const uint8_t *p, size_t n, size_t *at, struct twp_my_login *l)
{
	if (l->caps & CLIENT_PLUGIN_AUTH_LENENC)
		return counted(p, n, at, 0, &l->auth, &l->auth_len);
	if (!(l->caps & CLIENT_SECURE_CONNECTION))
		return cstr(p, n, at, &l->auth, &l->auth_len);
	if (*at >= n || p[*at] > n - *at - 1)
		return -1;
	l->auth = p + *at + 1;
	l->auth_len = p[*at];
	*at += 1 + l->auth_len;
	return 0;
}

int twp_mysql_login_parse(const uint8_t *p, size_t n, struct twp_my_login *l)
{
	size_t at = 32; /* capabilities, max packet, charset, filler */
	memset(l, 0, sizeof(*l));
	if (n < at)
		return -1;
	l->caps = (uint32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
	l->charset = p[8];
	if (!(l->caps & CLIENT_PROTOCOL_41) || cstr(p, n, &at, &l->user, &l->user_len) < 0 ||
	    login_auth(p, n, &at, l) < 0)
		return -1;
	if ((l->caps & CLIENT_CONNECT_WITH_DB) && cstr(p, n, &at, &l->db, &l->db_len) < 0)
		return -1;
	if ((l->caps & CLIENT_PLUGIN_AUTH) && cstr(p, n, &at, &l->plugin, &l->plugin_len) < 0)
		return -1;
	if ((l->caps & CLIENT_CONNECT_ATTRS) && counted(p, n, &at, 1, &l->attrs, &l->attrs_len) < 0)
		return -1;
	return at == n ? 0 : -1;
}

static uint8_t *put(uint8_t *w, const void *s, size_t len)
{
	memcpy(w, s, len);
	return w + len;
}

size_t twp_mysql_change_user(const struct twp_my_login *l, uint8_t *buf, size_t cap)
{
	size_t need = 1 + l->user_len + 1 + 1 + l->auth_len + l->db_len + 1 + 2 + l->plugin_len + 1 +
		      l->attrs_len;
	if (need > cap || l->auth_len > 255 || !(l->caps & CLIENT_SECURE_CONNECTION))
		return 0;
	uint8_t *w = buf;
	*w++ = COM_CHANGE_USER;
	w = put(w, l->user, l->user_len);
	*w++ = 0;
	*w++ = (uint8_t)l->auth_len;
	w = put(w, l->auth, l->auth_len);
	w = put(w, l->db ? l->db : (const uint8_t *)"", l->db_len);
	*w++ = 0;
	*w++ = l->charset;
	*w++ = 0;
	if (l->caps & CLIENT_PLUGIN_AUTH) {
		w = put(w, l->plugin, l->plugin_len);
		*w++ = 0;
	}
	if (l->caps & CLIENT_CONNECT_ATTRS)
		w = put(w, l->attrs, l->attrs_len);
	return (size_t)(w - buf);
}

size_t twp_mysql_login_unanswered(const struct twp_my_login *l, const uint8_t *head,
				  uint8_t *buf, size_t cap)
{
	static const char plugin[] = "twpool_auth_switch";
	size_t need = 32 + l->user_len + 1 + 1 + l->db_len + 1 + sizeof(plugin) + l->attrs_len;
	if (need > cap || !(l->caps & CLIENT_PLUGIN_AUTH) ||
	    !(l->caps & (CLIENT_PLUGIN_AUTH_LENENC | CLIENT_SECURE_CONNECTION)))
		return 0;
	uint8_t *w = put(buf, head, 32);
	w = put(w, l->user, l->user_len);
	*w++ = 0;
	*w++ = 0; /* no auth data, as a one-byte length or a length-encoded one */
	if (l->caps & CLIENT_CONNECT_WITH_DB) {
		w = put(w, l->db ? l->db : (const uint8_t *)"", l->db_len);
		*w++ = 0;
	}
	w = put(w, plugin, sizeof(plugin));
	if (l->caps & CLIENT_CONNECT_ATTRS)
		w = put(w, l->attrs, l->attrs_len);
	return (size_t)(w - buf);
}

/* The greeting's scramble: 8 bytes after the thread id, and the rest
 * after the reserved bytes (its last, a NUL, left out). */
size_t twp_mysql_scramble(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
	size_t at = 1;
	const uint8_t *version;
	size_t vlen;
	if (n < 1 || p[0] != 10 || cstr(p, n, &at, &version, &vlen) < 0 || at + 4 + 8 + 1 + 2 > n ||
	    cap < 8)
		return 0;
	at += 4;
	memcpy(out, p + at, 8);
	at += 8 + 1;
	uint32_t caps = p[at] | p[at + 1] << 8;
	at += 2;
	if (at + 1 + 2 + 2 + 1 + 10 > n)
		return 8;
	caps |= (uint32_t)(p[at + 3] | p[at + 4] << 8) << 16;
	size_t alen = p[at + 5];
	at += 1 + 2 + 2 + 1 + 10;
	if (!(caps & CLIENT_SECURE_CONNECTION))
		return 8;
	size_t rest = alen > 8 + 13 ? alen - 8 : 13;
	if (at + rest > n)
		return 0;
	while (rest && p[at + rest - 1] == 0)
		rest--;
	if (8 + rest > cap)
		return 0;
	memcpy(out + 8, p + at, rest);
	return 8 + rest;
}

int twp_mysql_switch_parse(const uint8_t *p, size_t n, const uint8_t **plugin, size_t *plugin_len,
			   const uint8_t **data, size_t *data_len)
{
	size_t at = 1;
	if (n < 1 || p[0] != 0xfe || cstr(p, n, &at, plugin, plugin_len) < 0)
		return -1;
	*data = p + at;
	*data_len = n - at;
	while (*data_len && (*data)[*data_len - 1] == 0)
		(*data_len)--;
	return 0;
}

/* COM_RESET_CONNECTION, then SET ROLE NONE (MariaDB keeps an active role
 * across the reset, and a role set in a way no scan of the query text sees
 * would reach the next user), and the two OKs they are answered with (no
 * rows, no id, autocommit on, no warnings) when the client asked for no
 * session tracking. Any other answer: the connection is not used again. */
static const char reset_request[] = "\x01\x00\x00\x00\x1f"
				    "\x0e\x00\x00\x00\x03SET ROLE NONE";
static const char reset_ok[] = "\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"
			       "\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00";

const struct twp_codec twp_codec_mysql = {
	.name = "mysql",
	.state_size = sizeof(struct twp_my),
	.bytes = my_bytes,
	.verdict = my_verdict,
	.replayable = my_replayable,
	.needs_reset = my_needs_reset,
	.reset = reset_request,
	.reset_len = sizeof(reset_request) - 1,
	.reset_reply = reset_ok,
	.reset_reply_len = sizeof(reset_ok) - 1,
};
