/* codec.c - the protocols TWPOOL_TARGETS names, and their codecs. */
#include <string.h>

#include "codec.h"
#include "codec_http.h"

/* redis, memcache and mysql are accepted so that allow-lists can name
 * them now; until their codecs come they follow the call-shape rules. */
static const struct {
	const char *name;
	const struct twp_codec *codec;
} protocols[] = {
	{ "raw", NULL }, { "http", &twp_codec_http }, { "redis", NULL },
	{ "memcache", NULL }, { "mysql", NULL },
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
