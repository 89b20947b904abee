/* codec.c - the protocols TWPOOL_TARGETS names, and their codecs. */
#include <string.h>

#include "codec.h"
#include "codec_auto.h"
#include "codec_http.h"
#include "codec_memcache.h"
#include "codec_mysql.h"
#include "codec_resp.h"

static const struct {
	const char *name;
	const struct twp_codec *codec;
} protocols[] = {
	{ "auto", &twp_codec_auto }, { "raw", NULL }, { "http", &twp_codec_http },
	{ "redis", &twp_codec_resp }, { "memcache", &twp_codec_memcache }, { "mysql", &twp_codec_mysql },
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
