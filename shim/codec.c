/* codec.c - the protocols TWPOOL_TARGETS names, their codecs, and the
 * first-bytes classifier of the codec auto. */
#include <string.h>

#include "codec.h"
#include "codec_http.h"
#include "codec_memcache.h"
#include "codec_resp.h"

/* mysql is accepted so that allow-lists can name it now; until its codec
 * comes it follows the call-shape rules. */
static const struct {
	const char *name;
	const struct twp_codec *codec;
} protocols[] = {
	{ "auto", &twp_codec_auto }, { "raw", NULL }, { "http", &twp_codec_http },
	{ "redis", &twp_codec_resp }, { "memcache", &twp_codec_memcache }, { "mysql", NULL },
};

int twp_codec_by_name(const char *name, const struct twp_codec **out)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
		if (!strcmp(name, protocols[i].name)) {
			*out = protocols[i].codec;
			return 0;
		}
	return -1;
}

/* Longest decimal count of a RESP array header worth waiting for. */
#define RESP_DIGITS_MAX 10

/* "*N\r\n$": an array whose first element is a bulk string. */
static enum twp_auto_kind resp_array(const unsigned char *p, size_t n)
{
	size_t i = 1;
	while (i < n && i <= RESP_DIGITS_MAX && p[i] >= '0' && p[i] <= '9')
		i++;
	if (i == n)
		return TWP_AUTO_MORE;
	if (i == 1 || i > RESP_DIGITS_MAX || p[i] != '\r')
		return TWP_AUTO_RAW;
	static const char tail[] = "\r\n$";
	for (size_t k = 0; k < 3; k++, i++)
		if (i == n)
			return TWP_AUTO_MORE;
		else if (p[i] != (unsigned char)tail[k])
			return TWP_AUTO_RAW;
	return TWP_AUTO_REDIS;
}

/* Record type handshake (22), version 3.0-3.4 as ClientHellos carry it. */
static enum twp_auto_kind tls_record(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[1] != 0x03)
		return TWP_AUTO_RAW;
	if (n < 3)
		return TWP_AUTO_MORE;
	return p[2] <= 0x04 ? TWP_AUTO_TLS : TWP_AUTO_RAW;
}

/* Length of the run of bytes of p[0..n) that are in set. */
static size_t span(const char *p, size_t n, const char *set)
{
	size_t i = 0;
	while (i < n && p[i] && strchr(set, p[i]))
		i++;
	return i;
}

#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"

/* METHOD SP TARGET SP HTTP/1.D (the line without its CR LF). */
static int http_line(const char *p, size_t n)
{
	size_t m = span(p, n, UPPER "-_");
	if (!m || m == n || p[m] != ' ')
		return 0;
	const char *t = p + m + 1, *end = p + n;
	const char *sp = memchr(t, ' ', (size_t)(end - t));
	if (!sp || sp == t || end - sp != 9 || memcmp(sp + 1, "HTTP/1.", 7) || sp[8] < '0' ||
	    sp[8] > '9')
		return 0;
	for (const char *q = t; q < sp; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return 0;
	return 1;
}

/* The next space-separated word of p[*at..n): its length, *at moved past it. */
static size_t word(const char *p, size_t n, size_t *at, const char **w)
{
	while (*at < n && p[*at] == ' ')
		(*at)++;
	*w = p + *at;
	size_t len = 0;
	while (*at < n && p[*at] != ' ')
		(*at)++, len++;
	return len;
}

static int word_is(const char *w, size_t len, const char *s)
{
	return strlen(s) == len && !memcmp(w, s, len);
}

static int all_digits(const char *w, size_t len)
{
	return len && span(w, len, DIGITS) == len;
}

/* Commands of memcached that Redis has none of (memcached's are lower
 * case; Redis reads any case, so GETS would be none of its either). */
static const char *const mc_only[] = {
	"gets", "gat", "gats", "cas", "add", "replace", "prepend", "delete", "flush_all",
	"version", "verbosity", "stats", "mg", "ms", "md", "ma", "mn", "me",
};

/* set|append KEY FLAGS EXPTIME BYTES [noreply]: Redis's SET and APPEND
 * refuse three numbers after the key, so only memcached reads it so. */
static int mc_storage(const char *p, size_t n, const char *w, size_t len)
{
	if (!word_is(w, len, "set") && !word_is(w, len, "append"))
		return 0;
	size_t at = len, words = 1;
	const char *x;
	for (size_t l; (l = word(p, n, &at, &x)) > 0; words++)
		if ((words >= 2 && words <= 4 && !all_digits(x, l)) ||
		    (words == 5 && !word_is(x, l, "noreply")) || words > 5)
			return 0;
	return words == 5 || words == 6;
}

static int mc_text_line(const char *p, size_t n)
{
	size_t at = 0;
	const char *w;
	size_t len = word(p, n, &at, &w);
	for (size_t i = 0; i < sizeof(mc_only) / sizeof(mc_only[0]); i++)
		if (word_is(w, len, mc_only[i]))
			return 1;
	return mc_storage(p, n, w, len);
}

/* A first line: HTTP, memcached text, or nothing known. */
static enum twp_auto_kind first_line(const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	if (!lf)
		return TWP_AUTO_MORE;
	size_t len = (size_t)(lf - p);
	if (len && p[len - 1] == '\r')
		len--;
	if (http_line(p, len))
		return TWP_AUTO_HTTP;
	return mc_text_line(p, len) ? TWP_AUTO_MEMCACHE : TWP_AUTO_RAW;
}

enum twp_auto_kind twp_auto_classify(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	if (!n)
		return TWP_AUTO_MORE;
	if (p[0] == 0x16)
		return tls_record(p, n);
	if (p[0] == 0x80)
		return TWP_AUTO_MEMCACHE;
	if (p[0] == '*')
		return resp_array(p, n);
	if ((p[0] | 0x20) < 'a' || (p[0] | 0x20) > 'z')
		return TWP_AUTO_RAW; /* no method, no command word */
	return first_line(buf, n);
}
