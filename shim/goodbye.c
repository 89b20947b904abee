/* goodbye.c - requests made keep-alive, and the stand-in at their end. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "close.h"
#include "codec_http.h"
#include "conn.h"
#include "goodbye.h"
#include "real.h"

/* iovecs of an edited write: the program's, split around the edit. A
 * write with more than half of them (none seen) is sent unedited. */
#define TWP_GB_IOV 64

/* A request head split across a writev's buffers is looked for in its
 * first this many bytes (heads of programs that ask for the close are a
 * few hundred bytes). */
#define TWP_GB_HEAD 2048

struct edited {
	struct iovec v[TWP_GB_IOV];
	int n;
	size_t pre;  /* the program's bytes before the inserted ones */
	size_t ins;  /* inserted bytes in v (0: a same-length edit) */
};

/* Appends the program's bytes [from, to) of in[] to e. */
static void slice(struct edited *e, const struct iovec *in, int cnt, size_t from, size_t to)
{
	size_t off = 0;
	for (int i = 0; i < cnt && off < to; off += in[i].iov_len, i++) {
		size_t b = from > off ? from - off : 0;
		size_t end = to - off < in[i].iov_len ? to - off : in[i].iov_len;
		if (b < end)
			e->v[e->n++] = (struct iovec){ (char *)in[i].iov_base + b, end - b };
	}
}

static void add(struct edited *e, const char *p, size_t n)
{
	e->v[e->n++] = (struct iovec){ (void *)p, n };
}

/* The edit's part in the program's bytes [w, w + len): 1 with e built,
 * 0 when the edit lies beyond them. */
static int build(const struct twp_http *h, uint64_t w, const struct iovec *iov, int cnt,
		 size_t len, struct edited *e)
{
	static const char rename[] = TWP_HTTP_RENAME_TO, insert[] = TWP_HTTP_INSERT_TEXT;
	uint64_t a = h->edit_at;
	e->n = 0;
	if (h->edit == TWP_HTTP_EDIT_NONE)
		return 0;
	if (h->edit == TWP_HTTP_INSERT) {
		if (a >= w + len)
			return 0;
		e->pre = (size_t)(a - w);
		e->ins = sizeof(insert) - 1 - h->edit_done;
		slice(e, iov, cnt, 0, e->pre);
		add(e, insert + h->edit_done, e->ins);
		slice(e, iov, cnt, e->pre, len);
		return 1;
	}
	uint64_t b = a > w ? a : w, end = a + sizeof(rename) - 1;
	if (end > w + len)
		end = w + len;
	if (b >= end)
		return 0;
	e->pre = len;
	e->ins = 0;
	slice(e, iov, cnt, 0, (size_t)(b - w));
	add(e, rename + (b - a), (size_t)(end - b));
	slice(e, iov, cnt, (size_t)(end - w), len);
	return 1;
}

/* Of k bytes sent of e, the program's: an insertion counts as sent only
 * whole, and the program's bytes after it wait until it is. */
static size_t consumed(struct twp_http *h, const struct edited *e, uint64_t w, size_t k)
{
	if (!e->ins) {
		if (w + k >= h->edit_at + sizeof(TWP_HTTP_RENAME_TO) - 1)
			h->edit = TWP_HTTP_EDIT_NONE;
		return k;
	}
	if (k <= e->pre)
		return k;
	if (k < e->pre + e->ins) {
		h->edit_done += (uint8_t)(k - e->pre);
		return e->pre;
	}
	h->edit = TWP_HTTP_EDIT_NONE;
	return k - e->ins;
}

static size_t total(const struct iovec *iov, int cnt)
{
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* The edit is planned when a write starts a request: from its first
 * buffer, or from the first TWP_GB_HEAD bytes of its buffers. */
static void plan(struct twp_conn *c, const struct iovec *iov, int cnt)
{
	struct twp_http *h = c->codec_state;
	if (h->edit || cnt <= 0 || !twp_http_idle(&h->req) ||
	    twp_http_plan_keepalive(h, iov[0].iov_base, iov[0].iov_len, c->written) || cnt == 1)
		return;
	char head[TWP_GB_HEAD];
	twp_http_plan_keepalive(h, head, twp_iov_copy(head, sizeof(head), iov, cnt), c->written);
}

/* Sends e until a byte of the program's went out, or the call failed. */
static ssize_t send_edited(struct twp_slot *s, const struct twp_io *io, twp_issue_fn issue,
			   const struct iovec *iov, int cnt)
{
	struct twp_conn *c = s->conn;
	struct twp_http *h = c->codec_state;
	size_t len = total(iov, cnt);
	struct edited e;
	struct msghdr m;
	memset(&m, 0, sizeof(m));
	struct twp_io alt = { .kind = TWP_K_SENDMSG, .fd = io->fd, .msg = &m };
	alt.flags = io->kind >= TWP_K_SEND ? io->flags : 0;
	for (;;) {
		/* The insertion ended at the last call's last byte: the rest
		 * goes as the program wrote it. */
		if (!build(h, c->written, iov, cnt, len, &e)) {
			ssize_t k = issue(s, io);
			if (k > 0)
				c->codec->bytes(h, 1, iov, cnt, (size_t)k);
			return k;
		}
		m.msg_iov = e.v;
		m.msg_iovlen = (size_t)e.n;
		ssize_t k = issue(s, &alt);
		if (k <= 0)
			return k;
		c->codec->bytes(h, 1, e.v, e.n, (size_t)k);
		size_t mine = consumed(h, &e, c->written, (size_t)k);
		if (mine)
			return (ssize_t)mine;
	}
}

int twp_goodbye_write(struct twp_slot *s, const struct twp_io *io, twp_issue_fn issue,
		      ssize_t *r)
{
	struct twp_conn *c = s->conn;
	const struct iovec *iov;
	int cnt;
	if (c->codec != &twp_codec_http ||
	    (io->kind == TWP_K_SENDMSG && io->msg->msg_controllen))
		return 0;
	twp_io_buffers(io, &iov, &cnt);
	plan(c, iov, cnt);
	struct twp_http *h = c->codec_state;
	struct edited probe;
	if (!h->edit || cnt > TWP_GB_IOV / 2 - 1 ||
	    !build(h, c->written, iov, cnt, total(iov, cnt), &probe))
		return 0;
	*r = send_edited(s, io, issue, iov, cnt);
	return 1;
}

/* One end of a socketpair whose other end is closed, or -1. */
static int standin(int nonblock)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0, sv) < 0)
		return -1;
	twp_real.close(sv[1]);
	return sv[0];
}

int twp_goodbye_hand_over(int fd, struct twp_slot *s, int must)
{
	/* Made with the program's O_NONBLOCK when the slot knows it (no
	 * fcntl in the swap). */
	uint32_t st = atomic_load(&s->st);
	int nb = (st & (TWP_S_FLAGS | TWP_S_NONBLOCK)) == (TWP_S_FLAGS | TWP_S_NONBLOCK);
	int saved = errno, r = -1, sd = standin(nb);
	if (sd >= 0) {
		r = twp_close_handover(fd, s, sd, nb, must);
		twp_real.close(sd);
	}
	errno = saved;
	return r;
}

void twp_goodbye_after_read(int fd, struct twp_slot *s)
{
	uint32_t st = atomic_load(&s->st);
	if (twp_kind(st) != TWP_FD_TRACKED || st & TWP_S_CLOSING)
		return;
	struct twp_conn *c = s->conn;
	const struct twp_http *h = c->codec_state;
	if (c->codec != &twp_codec_http || !h->longed || c->codec->verdict(h) != TWP_R_NONE)
		return;
	twp_goodbye_hand_over(fd, s, 1);
}

/* 1 when bytes wait to be read on fd: the raw rules took a reply read in
 * part for a whole one, and the program means to read the rest after its
 * goodbye. */
static int unread(int fd)
{
	char b;
	int saved = errno;
	ssize_t r = twp_real.recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	errno = saved;
	return r > 0;
}

int twp_goodbye_shutdown(int fd, int how)
{
	struct twp_slot *s = twp_slot(fd);
	uint32_t st = atomic_load(&s->st);
	/* SHUT_RD alone tells the server nothing: made for real, and never
	 * pooled (what it does to later reads is the kernel's to say). */
	if (how == SHUT_RD || twp_kind(st) != TWP_FD_TRACKED || st & TWP_S_CLOSING)
		return -1;
	return unread(fd) ? -1 : twp_goodbye_hand_over(fd, s, 0);
}
