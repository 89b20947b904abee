/* log.c - the shim's own diagnostics. Writes with the real write(), never
 * through stdio: the shim may be called from inside stdio. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "real.h"

enum twp_loglevel twp_log_level = TWP_LOG_WARN;
static int log_fd = 2;

void twp_log_open(const struct twp_config *c)
{
	twp_log_level = c->log_level;
	if (c->log_file[0]) {
		int fd = open(c->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0)
			log_fd = fd;
		else
			twp_log(TWP_LOG_WARN, "TWPOOL_LOG_FILE: cannot open '%s': %s; logging to stderr",
				c->log_file, strerror(errno));
	}
}

static void write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = twp_real.write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

void twp_log(enum twp_loglevel level, const char *fmt, ...)
{
	if (level > twp_log_level)
		return;
	int saved = errno;
	char line[512];
	int n = snprintf(line, sizeof(line), "twpool[%d]: %s: ", (int)getpid(), twp_loglevel_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	write_all(log_fd, line, len);
	errno = saved;
}

void twp_log_config_error(const char *msg)
{
	int saved = errno;
	char line[640];
	int n = snprintf(line, sizeof(line), "twpool: %s; passing everything through\n", msg);
	write_all(2, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
	errno = saved;
}
