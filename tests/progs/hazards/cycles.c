/* cycles.c - connect/request/close cycles of each kind, counted in a tally. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

void tally_add(struct tally *t, int r, const char *why)
{
	if (r == 0) {
		t->ok++;
		return;
	}
	if (r > 0)
		t->crossed++;
	else
		t->errors++;
	if (!t->first[0])
		snprintf(t->first, sizeof(t->first), "%s", why);
}

int tally_report(const char *label, const struct tally *t, long want)
{
	return check(t->errors == 0 && t->crossed == 0 && t->ok == want,
		     "%s: %ld of %ld cycles right, %ld errors, %ld crossed%s%s", label, t->ok, want,
		     t->errors, t->crossed, t->first[0] ? "; first: " : "", t->first);
}

void tally_merge(struct tally *to, const struct tally *from, const char *prefix)
{
	to->ok += from->ok;
	to->errors += from->errors;
	to->crossed += from->crossed;
	if (!to->first[0] && from->first[0])
		snprintf(to->first, sizeof(to->first), "%s%s", prefix, from->first);
}

static int kv_on(int fd, const char *tag, char *why, size_t wn)
{
	char key[96], req[256], want[160];
	unsigned long k = atomic_fetch_add(&seq, 1);
	snprintf(key, sizeof(key), "%s-%d-%lu", tag, (int)getpid(), k);
	snprintf(req, sizeof(req), "SET %s v%lu-%s", key, k, tag);
	int r = exchange(fd, req, "OK", why, wn);
	if (r)
		return r;
	snprintf(req, sizeof(req), "GET %s", key);
	snprintf(want, sizeof(want), "VALUE v%lu-%s", k, tag);
	return exchange(fd, req, want, why, wn);
}

/* stdio on the socket, as old programs do: fdopen, fprintf, fgets, fclose. */
static int stdio_cycle(const char *tag, char *why, size_t wn)
{
	char req[128], want[128], line[LINE_CAP];
	unique_echo(tag, req, want, sizeof(want));
	int fd = tw_connect();
	FILE *f = fd >= 0 ? fdopen(fd, "r+") : NULL;
	if (!f) {
		snprintf(why, wn, "connect/fdopen: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int r = -1;
	if (fprintf(f, "%s\n", req) < 0 || fflush(f) != 0)
		snprintf(why, wn, "fprintf/fflush: %s", strerror(errno));
	else if (!fgets(line, sizeof(line), f))
		snprintf(why, wn, "fgets: %s", feof(f) ? "EOF" : strerror(errno));
	else {
		line[strcspn(line, "\n")] = '\0';
		r = strcmp(line, want) != 0;
		if (r)
			snprintf(why, wn, "%s: got '%.80s'", req, line);
	}
	if (fclose(f) != 0 && r == 0) {
		snprintf(why, wn, "fclose: %s", strerror(errno));
		r = -1;
	}
	return r;
}

/* One connect / request(s) / close cycle. */
int cycle(enum mode m, const char *tag, char *why, size_t wn)
{
	if (m == M_STDIO)
		return stdio_cycle(tag, why, wn);
	int fd = tw_connect();
	if (fd < 0) {
		snprintf(why, wn, "connect: %s", strerror(errno));
		return -1;
	}
	int r = m == M_KV ? kv_on(fd, tag, why, wn) : echo_on(fd, tag, why, wn);
	int c = m == M_SYSCALL ? (int)syscall(SYS_close, fd) : close(fd);
	if (c != 0 && r == 0) {
		snprintf(why, wn, "close: %s", strerror(errno));
		r = -1;
	}
	return r;
}

int gave_up(const struct tally *t)
{
	return t->errors + t->crossed >= MAX_FAILURES;
}

void run_into(struct tally *t, enum mode m, const char *tag, long n)
{
	for (long i = 0; i < n && !gave_up(t); i++) {
		char why[300] = "";
		tally_add(t, cycle(m, tag, why, sizeof(why)), why);
	}
}

int run_cycles(const char *label, enum mode m, long n)
{
	struct tally t = { 0 };
	run_into(&t, m, label, n);
	return tally_report(label, &t, n);
}

void warm(const char *label)
{
	char l[128];
	snprintf(l, sizeof(l), "%s: warm-up", label);
	run_cycles(l, M_ECHO, 3);
}

/* Leaves n idle connections in the pool: n used at once, then closed. */
void warm_idle(const char *label, int n)
{
	int fds[8], got = 0;
	char l[128];
	snprintf(l, sizeof(l), "%s: warm-up", label);
	for (; got < n && got < 8; got++)
		if ((fds[got] = conn_used(l)) < 0)
			break;
	while (got > 0)
		close(fds[--got]);
}
