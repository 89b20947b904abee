/* conffile.c - reading the whole-host configuration file. Under
 * /etc/ld.so.preload the shim runs in every program on the host, setuid
 * ones too: the file is trusted only if no one but root or the program's
 * own user can have written it, and a bad file turns the shim off, never
 * the program. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conffile.h"
#include "real.h"

/* Why the open file must not be used, or NULL. */
static const char *distrust(int fd, char *why, size_t len)
{
	struct stat st;
	if (TWP_NEXT(fstat)(fd, &st) < 0)
		snprintf(why, len, "cannot stat it: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, len, "not a regular file");
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		snprintf(why, len, "owned by uid %u, neither root nor this program's user",
			 (unsigned)st.st_uid);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, len, "writable by group or others (mode %04o)",
			 (unsigned)(st.st_mode & 07777));
	else
		return NULL;
	return why;
}

/* Up to cap bytes of the file; more is an error. */
static ssize_t read_all(int fd, char *buf, size_t cap, char *why, size_t len)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = twp_real.read(fd, buf + n, cap + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, len, "cannot read it: %s", strerror(errno));
			return -1;
		}
		if (r == 0)
			return (ssize_t)n;
		n += (size_t)r;
		if (n > cap) {
			snprintf(why, len, "larger than %zu bytes", cap);
			return -1;
		}
	}
}

/* The file's text in buf (room for cap + 1 bytes), its length, or -ENOENT
 * when there is no file, or -EINVAL with err saying why it is not used.
 * O_NOFOLLOW: a symbolic link could point anywhere; O_NONBLOCK: a FIFO
 * must not block the program (it is refused as not a regular file). */
static ssize_t read_conf(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
	char why[160];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	ssize_t n = -1;
	if (fd < 0 && errno == ELOOP)
		snprintf(why, sizeof(why), "a symbolic link (not followed)");
	else if (fd < 0)
		snprintf(why, sizeof(why), "cannot open it: %s", strerror(errno));
	else if (!distrust(fd, why, sizeof(why)))
		n = read_all(fd, buf, cap, why, sizeof(why));
	if (fd >= 0)
		twp_real.close(fd);
	if (n < 0)
		snprintf(err, errlen, "%.200s: %s", path, why);
	return n < 0 ? -EINVAL : n;
}

int twp_config_load(struct twp_config *c, char *const *envp, int secure, char *err, size_t errlen)
{
	static char buf[TWPOOL_CONFIG_MAX_BYTES + 1]; /* static: not on a small stack */
	static struct twp_conf f;
	if (secure) /* the environment is the caller's, not the program's owner's */
		envp = NULL;
	const char *path = twp_env_get(envp, TWPOOL_ENV_CONFIG);
	if (!path)
		path = TWPOOL_DEFAULT_CONFIG;
	if (!*path || twp_env_get(envp, TWPOOL_ENV_TARGETS))
		return twp_config_parse(c, envp, err, errlen);
	char msg[TWP_CONF_WHERE + 256];
	ssize_t n = read_conf(path, buf, sizeof(buf) - 1, msg, sizeof(msg));
	if (n == -ENOENT)
		return twp_config_parse(c, envp, err, errlen);
	f.path = path;
	if (n >= 0 && twp_conf_parse(&f, buf, (size_t)n, msg, sizeof(msg)) == 0)
		return twp_config_parse_with(c, envp, &f, err, errlen);
	/* Settings from the environment (log level, log file) still apply. */
	twp_config_parse(c, envp, err, errlen);
	c->enabled = 0;
	c->nspecs = 0;
	snprintf(err, errlen, "%s", msg);
	return -EINVAL;
}
