/* test_goodbye.c - the request edits of goodbye.c, through a wire that
 * takes a few bytes per call (or none: EAGAIN), as a full socket buffer
 * does: the server must get the edited request byte for byte, and the
 * program must be told exactly its own bytes consumed, never the inserted
 * ones, whatever the cuts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec_http.h"
#include "conn.h"
#include "fdtab.h"
#include "goodbye.h"

#define WIRE 4096

static char wire[WIRE];
static size_t wired;
static size_t cap;      /* bytes the wire takes per call; 0: EAGAIN */
static int stall_every; /* every stall_every-th call takes nothing */
static int calls;

static ssize_t fake_issue(struct twp_slot *s, const struct twp_io *io)
{
	const struct iovec *iov;
	int cnt;
	size_t took = 0;
	(void)s;
	twp_io_buffers(io, &iov, &cnt);
	if (cap == 0 || (stall_every && ++calls % stall_every == 0)) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < cnt && took < cap; i++) {
		size_t n = iov[i].iov_len < cap - took ? iov[i].iov_len : cap - took;
		memcpy(wire + wired, iov[i].iov_base, n);
		wired += n;
		took += n;
	}
	return (ssize_t)took;
}

struct prog {
	struct twp_slot s;
	struct twp_conn c;
	struct twp_http h;
};

static void setup(struct prog *p)
{
	memset(p, 0, sizeof(*p));
	p->c.codec = &twp_codec_http;
	p->c.codec_state = &p->h;
	p->s.conn = &p->c;
	wired = 0;
	calls = 0;
}

/* The program writes req (cut into pieces of its own: writev of parts
 * iovecs), as track.c would, until all of it is consumed. */
static void program_writes(struct prog *p, const char *req, int parts)
{
	size_t len = strlen(req), off = 0;
	while (off < len) {
		struct iovec v[4];
		size_t rest = len - off, step = (rest + (size_t)parts - 1) / (size_t)parts;
		int n = 0;
		for (size_t o = off; o < len; o += step)
			v[n++] = (struct iovec){ (char *)req + o, o + step < len ? step : len - o };
		struct twp_io io = { .kind = TWP_K_WRITEV, .fd = -1, .iov = v, .iovcnt = n };
		ssize_t r;
		if (!twp_goodbye_write(&p->s, &io, fake_issue, &r)) {
			r = fake_issue(&p->s, &io);
			if (r > 0)
				p->c.codec->bytes(&p->h, 1, v, n, (size_t)r);
		}
		cr_assert(r != 0, "a write of %zu bytes returned 0", rest);
		if (r < 0) {
			cr_assert_eq(errno, EAGAIN);
			continue;
		}
		cr_assert_leq((size_t)r, rest, "told %zd of %zu bytes", r, rest);
		off += (size_t)r;
		p->c.written += (uint64_t)r;
	}
}

static void through_every_cut(const char *req, const char *want, int longed)
{
	for (int parts = 1; parts <= 3; parts++)
		for (cap = 1; cap <= strlen(want) + 1; cap++)
			for (stall_every = 0; stall_every <= 3; stall_every += 3) {
				struct prog p;
				setup(&p);
				program_writes(&p, req, parts);
				cr_assert_eq(wired, strlen(want), "cap %zu parts %d: %zu bytes on the wire",
					     cap, parts, wired);
				cr_assert(!memcmp(wire, want, wired), "cap %zu parts %d: %.*s", cap, parts,
					  (int)wired, wire);
				cr_assert_eq(p.h.longed, longed);
				cr_assert_eq(p.h.sent, 1);
				cr_assert_eq(p.h.never, 0, "cap %zu parts %d: never %d", cap, parts, p.h.never);
			}
}

Test(goodbye, http10_gets_keepalive_after_its_request_line)
{
	through_every_cut("GET /small HTTP/1.0\r\nHost: a\r\nAccept: */*\r\n\r\n",
			  "GET /small HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\nAccept: */*\r\n\r\n", 1);
}

Test(goodbye, http11_connection_close_is_renamed)
{
	through_every_cut("GET / HTTP/1.1\r\nHost: a\r\nconnection:  Close \r\n\r\n",
			  "GET / HTTP/1.1\r\nHost: a\r\nX-Twpool-C:  Close \r\n\r\n", 1);
}

Test(goodbye, a_post_body_is_never_edited)
{
	const char *req = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 19\r\n\r\nConnection: close\r\n";
	through_every_cut(req, req, 0);
}

Test(goodbye, requests_that_need_no_edit_or_cannot_have_one)
{
	static const char *const same[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: close, TE\r\nTE: trailers\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: close\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: close\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		struct prog p;
		setup(&p);
		cap = 1000;
		stall_every = 0;
		program_writes(&p, same[i], 1);
		cr_assert(wired == strlen(same[i]) && !memcmp(wire, same[i], wired), "%s", same[i]);
		cr_assert_eq(p.h.longed, 0, "%s", same[i]);
	}
}

/* A request head cut by the program itself is not edited: the edit needs
 * the whole head in one buffer to know there is one Connection header. */
Test(goodbye, a_head_split_across_writes_is_left_alone)
{
	struct prog p;
	setup(&p);
	cap = 1000;
	stall_every = 0;
	program_writes(&p, "GET / HTTP/1.1\r\nConnection: close\r\n", 1);
	program_writes(&p, "\r\n", 1);
	cr_assert_eq(wired, strlen("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
	cr_assert_eq(p.h.longed, 0);
	cr_assert_eq(p.h.never, TWP_R_SERVER_CLOSE);
}
