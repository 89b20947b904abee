/* The files the shim writes: the stats file (TWPOOL_STATS) and the log file
 * (TWPOOL_LOG_FILE). A program run as root under the shim must not let a
 * name planted by another user redirect either of them (issue 10 item 8);
 * a process that pooled nothing must not replace the stats file of one
 * that did (issue 10 item 9); a stats file that cannot be written is said
 * once at start (issue 15 item 5).
 *
 * The symlink tests plant their links in a 0777 directory that is not
 * sticky: fs.protected_symlinks only guards sticky world-writable
 * directories, so there the kernel follows another user's link for root,
 * whatever the sysctl says. The planted links belong to nobody. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define fmt h_fmt
#define VICTIM_TEXT "root's secret: do not overwrite\n"
#define N_CYCLES 50

static struct h_server srv;

static void tw_up(void) { h_twserver_start(&srv, NULL); }
static void down(void) { h_server_stop(&srv); }

static char *client(void) { return fmt("%s/twpool-client", h_build()); }

/* A root-owned 0600 file holding VICTIM_TEXT. */
static char *victim(const char *name)
{
	char *path = h_tmp(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0, "create victim %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, VICTIM_TEXT, strlen(VICTIM_TEXT)), (ssize_t)strlen(VICTIM_TEXT),
		     "write victim %s", path);
	close(fd);
	return path;
}

static void expect_victim_untouched(const char *path)
{
	struct stat st;
	cr_assert_eq(lstat(path, &st), 0, "victim %s is gone: %s", path, strerror(errno));
	char *text = h_slurp(path);
	cr_expect_str_eq(text ? text : "(unreadable)", VICTIM_TEXT,
			 "the victim %s was written through the planted link", path);
	cr_expect_eq(st.st_mode & 07777, 0600, "victim mode is now %o", st.st_mode & 07777);
	cr_expect_eq(st.st_uid, 0, "victim owner is now uid %d", (int)st.st_uid);
	free(text);
}

/* A world-writable directory without the sticky bit: no symlink
 * protection applies in it. */
static char *open_dir(const char *name)
{
	char *dir = h_tmp(name);
	cr_assert_eq(mkdir(dir, 0777), 0, "mkdir %s: %s", dir, strerror(errno));
	cr_assert_eq(chmod(dir, 0777), 0, "chmod %s", dir);
	return dir;
}

/* link -> target, owned by nobody as if that user had planted it. */
static void plant(const char *target, const char *link)
{
	struct passwd *pw = getpwnam("nobody");
	cr_assert_not_null(pw, "no user 'nobody' to own the planted link");
	cr_assert_eq(symlink(target, link), 0, "symlink %s: %s", link, strerror(errno));
	cr_assert_eq(lchown(link, pw->pw_uid, pw->pw_gid), 0, "lchown %s: %s", link, strerror(errno));
}

static void expect_still_link_to(const char *link, const char *target)
{
	char got[4096];
	ssize_t n = readlink(link, got, sizeof(got) - 1);
	cr_assert_gt(n, 0, "the planted link %s was replaced or removed: %s", link, strerror(errno));
	got[n] = '\0';
	cr_expect_str_eq(got, target, "the planted link %s now points elsewhere", link);
}

/* Lines of text that contain needle. */
static int count_lines(const char *text, const char *needle)
{
	int n = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
		const char *hit = strstr(l, needle), *end = strchr(l, '\n');
		if (hit && (!end || hit < end))
			n++;
	}
	return n;
}

/* The stats file holds the client's run: its N_CYCLES connects, all but
 * the first reused. */
static void expect_client_counters(const char *stats_path, int port)
{
	char *text = h_slurp(stats_path);
	cr_assert_not_null(text, "no stats file %s", stats_path);
	double reused = h_prom(text, "twpool_connects_total",
			       fmt("target=\"127.0.0.1:%d\",result=\"reused\"", port));
	cr_expect_geq(reused, N_CYCLES - 1, "the stats file %s lacks the client's counters (%.0f reused):\n%s",
		      stats_path, reused, text);
	free(text);
}

static void expect_pooled_run(struct h_run *r, long accepted)
{
	long req = -1, err = -1, crossed = -1;
	cr_assert_eq(h_client_line(r->out, &req, &err, &crossed), 0,
		     "client printed no result line; status %d; stderr:\n%s", r->status, r->err);
	cr_expect_eq(err, 0, "client saw %ld errors; stderr:\n%s", err, r->err);
	cr_expect_eq(req, 2 * N_CYCLES, "client completed %ld requests", req);
	cr_expect_leq(accepted, 1, "server accepted %ld connections: the client was not pooled", accepted);
}

/* Item 8: the temporary the stats file is written through. The shell
 * plants <stats>.tmp.<its pid> and execs the client, which keeps the pid:
 * the name the shim used to open with O_CREAT|O_TRUNC. */
Test(files, stats_temp_symlink_leaves_victim_untouched, .init = tw_up, .fini = down, .timeout = 60)
{
	char *target = victim("victim"), *dir = open_dir("open"), *stats = fmt("%s/s.prom", dir);
	struct passwd *pw = getpwnam("nobody");
	cr_assert_not_null(pw, "no user 'nobody' to own the planted link");
	char *script = fmt("ln -s %s %s.tmp.$$ && chown -h %d %s.tmp.$$ && exec %s -p %d -n %d",
			   target, stats, (int)pw->pw_uid, stats, client(), srv.port, N_CYCLES);
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats), NULL };
	long before = h_twserver_accepted(&srv);
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	expect_pooled_run(&r, h_twserver_accepted(&srv) - before);
	expect_victim_untouched(target);
	struct stat st;
	cr_assert_eq(lstat(stats, &st), 0, "no stats file %s", stats);
	cr_expect(S_ISREG(st.st_mode), "the stats file %s is not a regular file (mode %o)", stats, st.st_mode);
	expect_client_counters(stats, srv.port);
	cr_expect_eq(count_lines(r.err, "twpool["), 0, "the shim said something:\n%s", r.err);
	h_run_free(&r);
}

/* Runs /bin/true under the shim at info level (it logs a line at start)
 * with the log file at log. */
static void run_logging(struct h_run *r, const char *log)
{
	char *argv[] = { "/bin/true", NULL };
	char *env[] = { "TWPOOL_TARGETS=127.0.0.1:9", "TWPOOL_LOG=info", fmt("TWPOOL_LOG_FILE=%s", log), NULL };
	h_run(r, argv, env, 1, 10);
	cr_assert_not(r->timed_out, "the program hung opening the log file %s", log);
	cr_expect_eq(r->status, 0, "/bin/true exited %d; stderr:\n%s", r->status, r->err);
}

/* One line on stderr says the log file was refused, and why. */
static void expect_refusal(struct h_run *r, const char *why)
{
	cr_expect_eq(count_lines(r->err, "TWPOOL_LOG_FILE"), 1, "want one line about the log file:\n%s", r->err);
	cr_expect_eq(count_lines(r->err, why), 1, "want the reason '%s':\n%s", why, r->err);
	cr_expect_eq(count_lines(r->err, "pooling 1 target"), 1, "the log went to stderr instead:\n%s", r->err);
}

/* Item 8: the log file, planted as a link to a root file. */
Test(files, log_file_symlink_leaves_victim_untouched, .timeout = 30)
{
	char *target = victim("victim"), *log = fmt("%s/twpool.log", open_dir("open"));
	plant(target, log);
	struct h_run r;
	run_logging(&r, log);
	expect_victim_untouched(target);
	expect_still_link_to(log, target);
	expect_refusal(&r, "symbolic link");
	h_run_free(&r);
}

/* Item 8: a link to a file that does not exist yet: following it would
 * create a root-owned file wherever the planter chose. */
Test(files, log_file_dangling_symlink_creates_nothing, .timeout = 30)
{
	char *target = h_tmp("created-by-root"), *log = fmt("%s/twpool.log", open_dir("open"));
	plant(target, log);
	struct h_run r;
	run_logging(&r, log);
	cr_expect_neq(access(target, F_OK), 0, "the shim created %s through the planted link", target);
	expect_refusal(&r, "symbolic link");
	h_run_free(&r);
}

/* Item 8: a log file that is not a regular file (a FIFO: opening it for
 * writing blocks until someone reads) is refused, and the program runs. */
Test(files, log_file_fifo_is_refused, .timeout = 30)
{
	char *log = fmt("%s/twpool.log", open_dir("open"));
	cr_assert_eq(mkfifo(log, 0666), 0, "mkfifo %s: %s", log, strerror(errno));
	struct h_run r;
	run_logging(&r, log);
	expect_refusal(&r, "not a regular file");
	h_run_free(&r);
}

/* Item 9: one stats path for a parent that pooled nothing and the client
 * it runs (argv, ending with the client's arguments). At its exit the
 * parent must leave the client's file alone. */
static void expect_parent_keeps_the_childs_stats(char **argv, const char *stats)
{
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s", stats), NULL };
	long before = h_twserver_accepted(&srv);
	struct h_run r;
	h_run(&r, argv, env, 1, 30);
	expect_pooled_run(&r, h_twserver_accepted(&srv) - before);
	expect_client_counters(stats, srv.port);
	h_run_free(&r);
}

Test(files, wrapper_shell_keeps_the_childs_stats, .init = tw_up, .fini = down, .timeout = 60)
{
	char *script = fmt("%s -p %d -n %d; true", client(), srv.port, N_CYCLES);
	char *argv[] = { "/bin/bash", "-c", script, NULL };
	expect_parent_keeps_the_childs_stats(argv, h_tmp("s.prom"));
}

Test(files, wrapper_timeout_keeps_the_childs_stats, .init = tw_up, .fini = down, .timeout = 60)
{
	char *argv[] = { "timeout", "30", client(), "-p", fmt("%d", srv.port), "-n", fmt("%d", N_CYCLES), NULL };
	expect_parent_keeps_the_childs_stats(argv, h_tmp("s.prom"));
}

/* Item 9: processes that never matched a target write no stats file,
 * not even at exit. */
Test(files, process_that_pooled_nothing_writes_no_stats, .timeout = 30)
{
	char *stats = h_tmp("s.prom");
	char *argv[] = { "/bin/sh", "-c", "/bin/true; /bin/true", NULL };
	char *env[] = { "TWPOOL_TARGETS=127.0.0.1:9", fmt("TWPOOL_STATS=%s", stats), NULL };
	struct h_run r;
	h_run(&r, argv, env, 1, 10);
	cr_expect_eq(r.status, 0, "the shell exited %d; stderr:\n%s", r.status, r.err);
	cr_expect_neq(access(stats, F_OK), 0, "a stats file %s was written by processes that pooled nothing", stats);
	h_run_free(&r);
}

/* Issue 15 item 5: one "twpool[pid]: warn:" line naming the stats path's
 * directory, at the default log level, and nothing more at exit although
 * the client pooled and tried to write. */
static void expect_one_stats_warning(struct h_run *r, const char *dir)
{
	cr_expect_eq(count_lines(r->err, dir), 1, "want one line about %s on stderr:\n%s", dir, r->err);
	const char *line = strstr(r->err, dir);
	while (line && line > r->err && line[-1] != '\n')
		line--;
	cr_expect(line && !strncmp(line, "twpool[", 7) && strstr(line, "]: warn: ") &&
		  strstr(line, "]: warn: ") < strchr(line, '\n'),
		  "the line is not a 'twpool[pid]: warn:' line:\n%s", r->err);
}

/* Runs argv (the client, perhaps through a command) with env, and wants
 * it pooled and one warning about the stats file in dir. */
static void expect_run_warns_once(char **argv, char **env, int preload, const char *dir)
{
	long before = h_twserver_accepted(&srv);
	struct h_run r;
	h_run(&r, argv, env, preload, 30);
	expect_pooled_run(&r, h_twserver_accepted(&srv) - before);
	expect_one_stats_warning(&r, dir);
	h_run_free(&r);
}

/* The client, raw LD_PRELOAD form, with its stats file in dir. */
static void expect_raw_run_warns_once(const char *dir)
{
	char *argv[] = { client(), "-p", fmt("%d", srv.port), "-n", fmt("%d", N_CYCLES), NULL };
	char *env[] = { fmt("TWPOOL_TARGETS=127.0.0.1:%d", srv.port), fmt("TWPOOL_STATS=%s/s.prom", dir), NULL };
	expect_run_warns_once(argv, env, 1, dir);
}

Test(files, missing_stats_directory_warns_once_raw, .init = tw_up, .fini = down, .timeout = 60)
{
	expect_raw_run_warns_once(h_tmp("missing"));
}

/* A "directory" that is a regular file: nobody, root included, can
 * create anything in it. */
Test(files, unwritable_stats_directory_warns_once_raw, .init = tw_up, .fini = down, .timeout = 60)
{
	expect_raw_run_warns_once(victim("a-file"));
}

/* The twpool command: the C one once built, else the script. */
static char *wrapper(void)
{
	char *built = fmt("%s/twpool", h_build());
	return access(built, X_OK) == 0 ? built : fmt("%s/scripts/twpool", h_src());
}

/* The runner's preload value without the shim (the sanitizer runtime, if
 * any): the command puts the shim after it. */
static char *runtime_preload(void)
{
	char *p = strdup(h_preload()), *lib = strstr(p, "libtwpool");
	if (lib) {
		while (lib > p && lib[-1] != ' ' && lib[-1] != ':')
			lib--;
		*lib = '\0';
	}
	return p;
}

Test(files, missing_stats_directory_warns_once_wrapper, .init = tw_up, .fini = down, .timeout = 60)
{
	char *dir = h_tmp("missing");
	char *argv[] = { wrapper(), "-t", fmt("127.0.0.1:%d", srv.port), "-s", fmt("%s/s.prom", dir), "--",
			 client(), "-p", fmt("%d", srv.port), "-n", fmt("%d", N_CYCLES), NULL };
	const char *lib = getenv("TWPOOL_TEST_LIB");
	char *env[] = { fmt("TWPOOL_LIB=%s", lib ? lib : fmt("%s/libtwpool.so", h_build())),
			fmt("LD_PRELOAD=%s", runtime_preload()), NULL };
	expect_run_warns_once(argv, env, 0, dir);
}

/* The usual way to silence the log: a character device only root can
 * make, accepted without a word. */
Test(files, log_file_dev_null_is_accepted, .timeout = 30)
{
	struct h_run r;
	run_logging(&r, "/dev/null");
	cr_expect_str_empty(r.err, "the shim wrote to stderr with its log file at /dev/null:\n%s", r.err);
	h_run_free(&r);
}
