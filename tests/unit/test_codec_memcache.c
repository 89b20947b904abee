/* test_codec_memcache.c - the memcached codec against replies captured from
 * a real memcached (memcache_replies.h), and hand-made conversations for
 * what a server does not show on demand. Every case in every chunking. */
#include <arpa/inet.h>
#include <criterion/criterion.h>

#include "codec_memcache.h"
#include "codec_util.h"
#include "memcache_replies.h"

struct mc_expect {
	const char *name;
	enum twp_reason verdict;
	int replay; /* -1: not checked */
};

static void check(const void *st, const void *arg, const char *how)
{
	const struct mc_expect *x = arg;
	enum twp_reason v = twp_codec_memcache.verdict(st);
	cr_expect_eq(v, x->verdict, "%s (%s): verdict %s, want %s", x->name, how,
		     twp_reason_name(v), twp_reason_name(x->verdict));
	if (x->replay >= 0)
		cr_expect_eq(twp_codec_memcache.replayable(st), x->replay,
			     "%s (%s): replayable %d, want %d", x->name, how,
			     twp_codec_memcache.replayable(st), x->replay);
}

/* The captured request, then its reply cut short by cut bytes. */
static void run_capture(const struct mc_capture *c, size_t cut, const struct mc_expect *x)
{
	struct codec_event ev[2] = { { 1, c->req, c->req_len }, { 0, c->rep, c->rep_len - cut } };
	codec_run_events(&twp_codec_memcache, ev, c->rep_len - cut ? 2 : 1, check, x);
}

Test(codec_memcache, captured_replies_end_exactly)
{
	size_t n = sizeof(mc_captures) / sizeof(*mc_captures);
	cr_assert_gt(n, 40, "the captured table has %zu rows: regenerate it", n);
	for (size_t i = 0; i < n; i++) {
		const struct mc_capture *c = &mc_captures[i];
		char name[128];
		snprintf(name, sizeof(name), "%s, whole reply", c->name);
		/* Once all is answered, only an unanswered noreply is unsafe. */
		struct mc_expect whole = { name, c->confused ? TWP_MC_R_CONFUSED : TWP_R_NONE,
					   c->confused ? 0 : c->rep_len ? 1 : c->replay };
		run_capture(c, 0, &whole);
		if (c->confused)
			continue;
		struct mc_expect alone = { c->name, c->rep_len ? TWP_MC_R_DUE : TWP_R_NONE, c->replay };
		run_capture(c, c->rep_len, &alone);
		if (c->rep_len) {
			snprintf(name, sizeof(name), "%s, reply one byte short", c->name);
			struct mc_expect shortx = { name, TWP_MC_R_DUE, -1 };
			run_capture(c, 1, &shortx);
		}
	}
}

struct mc_case {
	struct mc_expect x;
	struct codec_script s;
};

static const struct mc_case text[] = {
	{ { "quiet mg without mn", TWP_MC_R_DUE, 1 }, { NULL, { ">mg k v q\r\n", "<VA 1\r\nx\r\n" } } },
	{ { "quiet mg, mn unanswered", TWP_MC_R_DUE, 1 },
	  { NULL, { ">mg k v q\r\nmg j v q\r\nmn\r\n", "<VA 1\r\nx\r\n" } } },
	{ { "two mn, one MN read", TWP_MC_R_DUE, 1 },
	  { NULL, { ">mg k v q\r\nmn\r\nmg j v q\r\nmn\r\n", "<MN\r\n" } } },
	{ { "two mn, both read", TWP_R_NONE, 1 },
	  { NULL, { ">mg k v q\r\nmn\r\nmg j v q\r\nmn\r\n", "<MN\r\nVA 1\r\ny\r\nMN\r\n" } } },
	{ { "quiet pipeline, then a get", TWP_MC_R_DUE, 1 },
	  { NULL, { ">mg k v q\r\nmn\r\nget x\r\n", "<MN\r\n" } } },
	{ { "quiet pipeline, then a get answered", TWP_R_NONE, 1 },
	  { NULL, { ">mg k v q\r\nmn\r\nget x\r\n", "<MN\r\nEND\r\n" } } },
	{ { "MN nobody asked for", TWP_MC_R_CONFUSED, 0 }, { NULL, { ">get k\r\n", "<END\r\nMN\r\n" } } },
	{ { "extra reply", TWP_MC_R_CONFUSED, 0 }, { NULL, { ">get k\r\n", "<END\r\nEND\r\n" } } },
	{ { "reply before any request", TWP_MC_R_CONFUSED, 0 }, { NULL, { "<END\r\n" } } },
	{ { "noreply then an error line", TWP_MC_R_CONFUSED, 0 },
	  { NULL, { ">set k 0 0 1 noreply\r\nx\r\nget k\r\n", "<CLIENT_ERROR x\r\n" } } },
	{ { "VALUE without END", TWP_MC_R_DUE, 1 }, { NULL, { ">get k\r\n", "<VALUE k 0 1\r\nx\r\n" } } },
	{ { "VALUE data holding END", TWP_MC_R_DUE, 1 },
	  { NULL, { ">get k\r\n", "<VALUE k 0 5\r\nEND\r\n\r\n" } } },
	{ { "STAT without END", TWP_MC_R_DUE, 0 }, { NULL, { ">stats\r\n", "<STAT pid 1\r\n" } } },
	{ { "data block without its CRLF", TWP_MC_R_CONFUSED, 0 },
	  { NULL, { ">set k 0 0 1\r\nxy\r\n" } } },
	{ { "data block half written", TWP_MC_R_DUE, 0 }, { NULL, { ">set k 0 0 10\r\nxy" } } },
	{ { "line half written", TWP_MC_R_DUE, 0 }, { NULL, { ">get k" } } },
	{ { "get of a key named noreply", TWP_MC_R_DUE, 1 }, { NULL, { ">get noreply\r\n" } } },
	{ { "get then set: not replayable", TWP_MC_R_DUE, 0 },
	  { NULL, { ">get k\r\nset k 0 0 1\r\nx\r\n" } } },
	{ { "mg that touches", TWP_MC_R_DUE, 0 }, { NULL, { ">mg k v T30\r\n" } } },
	{ { "mg that recaches", TWP_MC_R_DUE, 0 }, { NULL, { ">mg k v R30\r\n" } } },
	{ { "mg of a key named T1", TWP_MC_R_DUE, 1 }, { NULL, { ">mg T1 v\r\n" } } },
	{ { "gat is not replayable", TWP_MC_R_DUE, 0 }, { NULL, { ">gat 10 k\r\n" } } },
	{ { "quit", TWP_MC_R_QUIT, 0 }, { NULL, { ">quit\r\n" } } },
	{ { "watch", TWP_MC_R_QUIT, 0 }, { NULL, { ">watch\r\n", "<OK\r\n" } } },
	{ { "ms of a key named q is not quiet", TWP_MC_R_DUE, 0 }, { NULL, { ">ms q 1\r\nx\r\n" } } },
	{ { "ms quiet, settled", TWP_R_NONE, 1 }, { NULL, { ">ms k 1 q\r\nx\r\nmn\r\n", "<MN\r\n" } } },
};

static void run_text(const struct mc_case *c)
{
	struct codec_event ev[CODEC_MAX_EVENTS];
	int n = 0;
	for (; n < CODEC_MAX_EVENTS && c->s.ev[n]; n++)
		ev[n] = (struct codec_event){ c->s.ev[n][0] == '>', c->s.ev[n] + 1,
					      strlen(c->s.ev[n] + 1) };
	codec_run_events(&twp_codec_memcache, ev, n, check, &c->x);
}

Test(codec_memcache, text_and_meta)
{
	for (size_t i = 0; i < sizeof(text) / sizeof(*text); i++)
		run_text(&text[i]);
}

/* A binary header: magic, opcode, key length, body length. */
static void bin_hdr(char *h, unsigned magic, unsigned op, unsigned keylen, unsigned body)
{
	uint16_t k = htons((uint16_t)keylen);
	uint32_t b = htonl(body);
	memset(h, 0, 24);
	h[0] = (char)magic;
	h[1] = (char)op;
	memcpy(h + 2, &k, 2);
	memcpy(h + 8, &b, 4);
}

Test(codec_memcache, binary_quiet_settled_only_by_a_later_response)
{
	char getq[2][24], noop[24], hit[24 + 5], noop_rep[24], bad[24];
	bin_hdr(getq[0], 0x80, 0x09, 0, 0); /* keyless: framing needs no key */
	bin_hdr(getq[1], 0x80, 0x09, 0, 0);
	bin_hdr(noop, 0x80, 0x0a, 0, 0);
	bin_hdr(hit, 0x81, 0x09, 0, 5);
	memcpy(hit + 24, "\0\0\0\0v", 5);
	bin_hdr(noop_rep, 0x81, 0x0a, 0, 0);
	bin_hdr(bad, 0x81, 0x0a, 0, 0);
	bad[0] = 0x42;
	struct codec_event q[4] = { { 1, getq[0], 24 }, { 1, getq[1], 24 }, { 0, hit, 29 },
				    { 1, noop, 24 } };
	struct mc_expect unsettled = { "two getq, one hit, no noop", TWP_MC_R_DUE, 1 };
	codec_run_events(&twp_codec_memcache, q, 3, check, &unsettled);
	struct mc_expect noop_due = { "two getq, one hit, noop unanswered", TWP_MC_R_DUE, 1 };
	codec_run_events(&twp_codec_memcache, q, 4, check, &noop_due);
	struct codec_event done[5] = { q[0], q[1], q[2], q[3], { 0, noop_rep, 24 } };
	struct mc_expect settled = { "two getq, one hit, noop answered", TWP_R_NONE, 1 };
	codec_run_events(&twp_codec_memcache, done, 5, check, &settled);
	struct codec_event extra[6] = { q[0], q[1], q[2], q[3], done[4], { 0, noop_rep, 24 } };
	struct mc_expect confused = { "a second noop response", TWP_MC_R_CONFUSED, 0 };
	codec_run_events(&twp_codec_memcache, extra, 6, check, &confused);
	struct codec_event magic[2] = { q[3], { 0, bad, 24 } };
	struct mc_expect badmagic = { "response with a bad magic", TWP_MC_R_CONFUSED, 0 };
	codec_run_events(&twp_codec_memcache, magic, 2, check, &badmagic);
}

Test(codec_memcache, binary_sasl_login_never_parked)
{
	char auth[24 + 5], ok[24];
	bin_hdr(auth, 0x80, 0x21, 5, 5);
	memcpy(auth + 24, "PLAIN", 5);
	bin_hdr(ok, 0x81, 0x21, 0, 0);
	struct codec_event ev[2] = { { 1, auth, 29 }, { 0, ok, 24 } };
	struct mc_expect x = { "SASL auth answered", TWP_MC_R_QUIT, 0 };
	codec_run_events(&twp_codec_memcache, ev, 2, check, &x);
}
