/* log.c - the shim's own diagnostics. Writes with the real write(), never
 * through stdio: the shim may be called from inside stdio. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "real.h"

enum twp_loglevel twp_log_level = TWP_LOG_WARN;
static int log_fd = 2;

/* Why path could not be opened as the log file, for the warning. */
static const char *refusal(const char *path, int err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return strerror(err);
	if (S_ISLNK(st.st_mode))
		return "it is a symbolic link";
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
		return "it is not a regular file";
	return strerror(err);
}

/* The log file is appended to by programs that may run as root, in a
 * directory other users may write to: never through a symlink, and only
 * if it is a regular file or a character device (/dev/null, a terminal:
 * only root can make one). A FIFO anyone can make, and opening it would
 * block the program: O_NONBLOCK keeps the open itself from blocking.
 * Returns the fd, or -1 with *why set. */
static int open_log_file(const char *path, const char **why)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
			    O_NOCTTY | O_NONBLOCK, 0644);
	struct stat st;
	if (fd < 0) {
		*why = refusal(path, errno);
		return -1;
	}
	if (TWP_NEXT(fstat)(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))) {
		twp_real.close(fd);
		*why = "it is not a regular file";
		return -1;
	}
	twp_real.fcntl(fd, F_SETFL, O_APPEND);
	return fd;
}

void twp_log_open(const struct twp_config *c)
{
	const char *why = NULL;
	twp_log_level = c->log_level;
	if (!c->log_file[0])
		return;
	int fd = open_log_file(c->log_file, &why);
	if (fd >= 0)
		log_fd = fd;
	else
		twp_log(TWP_LOG_WARN, "TWPOOL_LOG_FILE: cannot use '%s': %s; logging to stderr",
			c->log_file, why);
}

int twp_write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = twp_real.write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
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
	twp_write_all(log_fd, line, len);
	errno = saved;
}

void twp_log_config_error(const char *msg)
{
	int saved = errno;
	char line[640];
	int n = snprintf(line, sizeof(line), "twpool: %s; passing everything through\n", msg);
	twp_write_all(2, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
	errno = saved;
}
