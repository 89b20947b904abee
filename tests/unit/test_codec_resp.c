/* test_codec_resp.c - the RESP codec: reply boundaries, session state,
 * replayability, each conversation fed in every chunking. */
#include <criterion/criterion.h>

#include "codec_resp.h"
#include "codec_util.h"
#include "redis_replies.h"
#include "resp_readonly.h"

#define GET "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
#define SET "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
#define OK "+OK\r\n"

struct resp_case {
	struct codec_script s;
	enum twp_reason verdict;
	int reset, replay;
	long long due;
};

static const struct resp_case framing[] = {
	{ { "get answered", { ">" GET, "<$1\r\nv\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "set unanswered", { ">" SET } }, TWP_RESP_R_DUE, 0, 0, 1 },
	{ { "set answered", { ">" SET, "<" OK } }, TWP_R_NONE, 0, 1, 0 },
	{ { "get half read", { ">" GET, "<$5\r\nva" } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "request half written", { ">*2\r\n$3\r\nGET\r\n$1\r" } }, TWP_RESP_R_DUE, 0, 0, 0 },
	{ { "pipeline of 3, 2 read", { ">" GET GET GET, "<$1\r\na\r\n$-1\r\n" } },
	  TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "pipeline of 3, all read", { ">" GET GET GET, "<$1\r\na\r\n$-1\r\n$0\r\n\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "get then set pipelined, nothing read", { ">" GET SET } }, TWP_RESP_R_DUE, 0, 0, 2 },
	{ { "set then get, set's reply read", { ">" SET GET, "<" OK } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "inline ping", { ">PING\r\n", "<+PONG\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "inline get, LF only", { ">get k\n", "<$1\r\nv\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "inline get unanswered", { ">  get   k  \r\n" } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "empty inline lines, *0, *-1: no command", { "> \r\n\r\n*0\r\n*-1\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "empty bulk argument", { ">*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", "<$0\r\n\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "bulk data holding CRLF", { ">" GET, "<$4\r\na\r\nb\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "simple string with CR and LF inside", { ">" GET, "<+a\rb\nc\r\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "error reply is a reply", { ">" SET, "<-ERR wrong\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "nested arrays", { ">" GET, "<*3\r\n*2\r\n:1\r\n:2\r\n*0\r\n*1\r\n*-1\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "nested array one short", { ">" GET, "<*2\r\n*2\r\n:1\r\n:2\r\n" } },
	  TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "resp3 scalars", { ">" GET GET GET GET GET GET GET,
			       "<_\r\n#t\r\n,1.5\r\n(12345678901234567890\r\n"
			       "=15\r\ntxt:Some string\r\n!9\r\nERR x y z\r\n$-1\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "resp3 map and set",
	    { ">" GET GET, "<%2\r\n+a\r\n:1\r\n+b\r\n~1\r\n+c\r\n~2\r\n+d\r\n+e\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "map one value short", { ">" GET, "<%2\r\n+a\r\n:1\r\n+b\r\n" } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "push is no reply", { ">" GET, "<>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" } },
	  TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "push then reply", { ">" GET, "<>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nv\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "push without request", { "<>1\r\n+x\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "top attribute then reply", { ">" GET, "<|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "top attribute alone", { ">" GET, "<|1\r\n+ttl\r\n:3\r\n" } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "attribute inside array", { ">" GET, "<*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "empty attribute", { ">" GET, "<|0\r\n:1\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "reply nobody asked for", { ">" GET, "<:1\r\n:2\r\n" } }, TWP_RESP_R_CONFUSED, 0, 0, -1 },
	{ { "unknown type byte", { ">" GET, "<?1\r\n" } }, TWP_RESP_R_CONFUSED, 0, 0, 1 },
	{ { "bulk without its CRLF", { ">" GET, "<$1\r\nvXY" } }, TWP_RESP_R_CONFUSED, 0, 0, 1 },
	{ { "bad length", { ">" GET, "<$1x\r\n" } }, TWP_RESP_R_CONFUSED, 0, 0, 1 },
	{ { "length -2", { ">" GET, "<*-2\r\n" } }, TWP_RESP_R_CONFUSED, 0, 0, 1 },
	{ { "request arg without $", { ">*1\r\n+PING\r\n" } }, TWP_RESP_R_CONFUSED, 0, 0, 0 },
	{ { "17 levels deep", { ">" GET, "<*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
			    "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n" } },
	  TWP_RESP_R_CONFUSED, 0, 0, 1 },
	{ { "16 levels deep", { ">" GET, "<*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
			    "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
};

static const struct resp_case session[] = {
	{ { "select", { ">*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n", "<" OK } }, TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "select lowercase inline", { ">select 1\r\n", "<" OK } }, TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "select unanswered: no reset yet", { ">select 1\r\n" } }, TWP_RESP_R_DUE, 0, 0, 1 },
	{ { "quoted inline name", { ">\"select\" 1\r\n", "<" OK } }, TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "quoted inline subcommand", { ">client 'setname' x\r\n", "<" OK } },
	  TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "quoted inline key", { ">get \"k\"\r\n", "<$-1\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "auth", { ">AUTH u p\r\n", "<" OK } }, TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "hello 3", { ">HELLO 3\r\n", "<%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n" } },
	  TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "hello 3 then reset", { ">HELLO 3\r\n", "<%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n",
				    ">RESET\r\n", "<+RESET\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "client setname", { ">*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$1\r\nx\r\n", "<" OK } },
	  TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "client tracking", { ">CLIENT TRACKING on\r\n", "<" OK } }, TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "client no-evict", { ">CLIENT NO-EVICT on\r\n", "<" OK } }, TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "client list is harmless", { ">CLIENT LIST\r\n", "<$2\r\nid\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "client reply off: replies uncountable", { ">CLIENT REPLY OFF\r\n", ">" SET } },
	  TWP_RESP_R_SESSION, 1, 0, 2 },
	{ { "readonly, readwrite, asking", { ">READONLY\r\nREADWRITE\r\nASKING\r\n", "<" OK OK OK } },
	  TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "multi without exec", { ">MULTI\r\n" SET, "<" OK "+QUEUED\r\n" } },
	  TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "multi exec", { ">MULTI\r\n" SET "EXEC\r\n", "<" OK "+QUEUED\r\n*1\r\n" OK } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "multi discard", { ">MULTI\r\n" SET "DISCARD\r\n", "<" OK "+QUEUED\r\n" OK } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "watch", { ">WATCH k\r\n", "<" OK } }, TWP_RESP_R_SESSION, 1, 0, 0 },
	{ { "watch unwatch", { ">WATCH k\r\nUNWATCH\r\n", "<" OK OK } }, TWP_R_NONE, 0, 1, 0 },
	{ { "watch then exec", { ">WATCH k\r\nMULTI\r\nEXEC\r\n", "<" OK OK "*0\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "watch then discard", { ">WATCH k\r\nMULTI\r\nDISCARD\r\n", "<" OK OK OK } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "subscribe, confirmation unread", { ">SUBSCRIBE ch\r\n" } }, TWP_RESP_R_SESSION, 1, 0, 1 },
	{ { "subscribe then messages", { ">SUBSCRIBE ch\r\n",
					 "<*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
					 "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n" } },
	  TWP_RESP_R_SESSION, 1, 0, -1 },
	{ { "psubscribe", { ">PSUBSCRIBE c*\r\n" } }, TWP_RESP_R_SESSION, 1, 0, 1 },
	{ { "ssubscribe", { ">SSUBSCRIBE c\r\n" } }, TWP_RESP_R_SESSION, 1, 0, 1 },
	{ { "monitor", { ">MONITOR\r\n", "<" OK "+1 [0 1.2.3.4:5] \"GET\"\r\n" } },
	  TWP_RESP_R_SESSION, 1, 0, -1 },
	{ { "monitor, request half written", { ">MONITOR\r\nGE" } }, TWP_RESP_R_SESSION, 0, 0, 1 },
	{ { "blpop still waiting", { ">BLPOP q 0\r\n" } }, TWP_RESP_R_DUE, 0, 0, 1 },
	{ { "blpop answered", { ">BLPOP q 1\r\n", "<*-1\r\n" } }, TWP_R_NONE, 0, 1, 0 },
	{ { "quit", { ">QUIT\r\n", "<" OK } }, TWP_RESP_R_QUIT, 0, 0, 0 },
	{ { "psync", { ">PSYNC ? -1\r\n" } }, TWP_RESP_R_QUIT, 0, 0, 1 },
	{ { "reset clears select", { ">SELECT 2\r\nRESET\r\n", "<" OK "+RESET\r\n" } },
	  TWP_R_NONE, 0, 1, 0 },
	{ { "name longer than any command", { ">ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n", "<-ERR\r\n" } },
	  TWP_RESP_R_SESSION, 1, 0, 0 },
};

static const struct resp_case replay[] = {
	{ { "get unanswered", { ">" GET } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "mget and zrange", { ">MGET a b\r\nZRANGE z 0 -1\r\n" } }, TWP_RESP_R_DUE, 0, 1, 2 },
	{ { "object encoding", { ">OBJECT ENCODING k\r\n" } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "object freq lowercase", { ">*3\r\n$6\r\nobject\r\n$4\r\nfreq\r\n$1\r\nk\r\n" } },
	  TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "incr", { ">INCR n\r\n" } }, TWP_RESP_R_DUE, 0, 0, 1 },
	{ { "get then incr", { ">GET k\r\nINCR n\r\n" } }, TWP_RESP_R_DUE, 0, 0, 2 },
	{ { "get after answered incr", { ">INCR n\r\n", "<:1\r\n", ">GET k\r\n" } },
	  TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "ping is not flagged readonly", { ">PING\r\n" } }, TWP_RESP_R_DUE, 0, 0, 1 },
	{ { "eval_ro", { ">EVAL_RO \"return 1\" 0\r\n" } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "eval", { ">EVAL \"return 1\" 0\r\n" } }, TWP_RESP_R_DUE, 0, 0, 1 },
	{ { "object with a long second argument", { ">*3\r\n$6\r\nOBJECT\r\n$30\r\n"
			    "ENCODINGXXXXXXXXXXXXXXXXXXXXXX\r\n$1\r\nk\r\n" } }, TWP_RESP_R_DUE, 0, 0, 1 },
	{ { "get with a long key", { ">*2\r\n$3\r\nGET\r\n$30\r\n"
			    "012345678901234567890123456789\r\n" } }, TWP_RESP_R_DUE, 0, 1, 1 },
	{ { "get with a key that looks like a subcommand", { ">GET |x\r\n" } },
	  TWP_RESP_R_DUE, 0, 1, 1 },
};

static void check(const void *st, const void *arg, const char *how)
{
	const struct resp_case *c = arg;
	const struct codec_script *s = &c->s;
	cr_expect_eq(twp_codec_resp.verdict(st), c->verdict, "%s (%s): verdict %s, want %s", s->name,
		     how, twp_reason_name(twp_codec_resp.verdict(st)), twp_reason_name(c->verdict));
	cr_expect_eq(twp_resp_needs_reset(st), c->reset, "%s (%s): needs_reset %d, want %d", s->name,
		     how, twp_resp_needs_reset(st), c->reset);
	cr_expect_eq(twp_codec_resp.replayable(st), c->replay, "%s (%s): replayable %d, want %d",
		     s->name, how, twp_codec_resp.replayable(st), c->replay);
	if (c->verdict != TWP_RESP_R_CONFUSED)
		cr_expect_eq(twp_resp_due(st), c->due, "%s (%s): due %lld, want %lld", s->name, how,
			     twp_resp_due(st), c->due);
}

static void run_table(const struct resp_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		codec_run(&twp_codec_resp, &t[i].s, check);
}

Test(codec_resp, framing)
{
	run_table(framing, sizeof(framing) / sizeof(*framing));
}

Test(codec_resp, session_state)
{
	run_table(session, sizeof(session) / sizeof(*session));
}

Test(codec_resp, replayable_only_readonly)
{
	run_table(replay, sizeof(replay) / sizeof(*replay));
}

Test(codec_resp, nul_type_byte)
{
	char st[twp_codec_resp.state_size];
	struct iovec out = { GET, sizeof(GET) - 1 }, in = { "\0", 1 };
	memset(st, 0, sizeof(st));
	twp_codec_resp.bytes(st, 1, &out, 1, out.iov_len);
	twp_codec_resp.bytes(st, 0, &in, 1, 1);
	cr_expect_eq(twp_codec_resp.verdict(st), TWP_RESP_R_CONFUSED, "a NUL is no type byte");
}

Test(codec_resp, readonly_table_sorted_and_sourced)
{
	size_t n = sizeof(twp_resp_readonly) / sizeof(*twp_resp_readonly);
	cr_assert_gt(n, 50, "the generated table has %zu commands: regenerate it", n);
	for (size_t i = 1; i < n; i++)
		cr_expect_lt(strcmp(twp_resp_readonly[i - 1], twp_resp_readonly[i]), 0,
			     "table sorted for bsearch: %s before %s", twp_resp_readonly[i - 1],
			     twp_resp_readonly[i]);
}

static void check_capture(const void *st, const void *arg, const char *how)
{
	const struct redis_capture *c = arg;
	static const enum twp_reason want[] = { [RC_NONE] = TWP_R_NONE,
						[RC_SESSION] = TWP_RESP_R_SESSION,
						[RC_QUIT] = TWP_RESP_R_QUIT };
	enum twp_reason v = twp_codec_resp.verdict(st);
	cr_expect_eq(v, want[c->verdict], "%s (%s): verdict %s, want %s", c->name, how,
		     twp_reason_name(v), twp_reason_name(want[c->verdict]));
	if (c->verdict != RC_QUIT && strncmp(c->name, "subscribe", 9))
		cr_expect_eq(twp_resp_due(st), 0, "%s (%s): due %lld after every reply", c->name,
			     how, twp_resp_due(st));
}

static void check_short(const void *st, const void *arg, const char *how)
{
	const struct redis_capture *c = arg;
	cr_expect_neq(twp_codec_resp.verdict(st), TWP_R_NONE, "%s (%s): parked a reply short",
		      c->name, how);
	cr_expect(!twp_resp_needs_reset(st) || !strncmp(c->name, "subscribe", 9),
		  "%s (%s): RESET offered with a reply half read", c->name, how);
}

Test(codec_resp, replies_captured_from_redis_server)
{
	size_t n = sizeof(redis_captures) / sizeof(*redis_captures);
	cr_assert_gt(n, 20, "the captured table has %zu rows: regenerate it", n);
	for (size_t i = 0; i < n; i++) {
		const struct redis_capture *c = &redis_captures[i];
		struct codec_event ev[2] = { { 1, c->req, strlen(c->req) },
					     { 0, c->rep, strlen(c->rep) } };
		cr_assert_gt(ev[1].n, 0, "%s: the server answered", c->name);
		codec_run_events(&twp_codec_resp, ev, 2, check_capture, c);
		ev[1].n--;
		if (c->verdict != RC_QUIT)
			codec_run_events(&twp_codec_resp, ev, 2, check_short, c);
	}
}
