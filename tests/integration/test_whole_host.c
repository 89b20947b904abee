/* Whole-host use: programs pooled by the configuration file alone, by the
 * environment of the shipped systemd drop-in, and by /etc/ld.so.preload
 * with /etc/twpool.conf (written on an overlay of /etc in a private mount
 * namespace: the real files are never touched). Judged by the connections
 * the bundled server accepted. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define CYCLES 200

static struct h_server srv;

static void tw_up(void) { h_twserver_start(&srv, NULL); }
static void tw_6379(void) { h_twserver_start(&srv, "-p 6379"); }
static void down(void) { h_server_stop(&srv); }

#define fmt h_fmt

static char *client_path(void) { return fmt("%s/twpool-client", h_build()); }

/* The words of the preload value that name (or do not name) the shim:
 * the library under test, and the sanitizer runtimes ("" for a plain
 * build) that whatever preloads the shim must load first. */
static char *preload_words(int shim)
{
	char *all = strdup(h_preload()), *save = NULL, *out = "";
	for (char *w = strtok_r(all, " :", &save); w; w = strtok_r(NULL, " :", &save))
		if (!strstr(w, "libtwpool") == !shim)
			out = fmt("%s%s%s", out, w, shim ? "" : " ");
	return out;
}

static char *san_runtimes(void) { return preload_words(0); }
static char *lib_under_test(void) { return preload_words(1); }

/* A configuration file with text and mode; returns its path. */
static char *conf_file(const char *name, const char *text, mode_t mode)
{
	char *path = h_tmp(name);
	FILE *f = fopen(path, "w");
	cr_assert(f, "cannot create %s", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0, "chmod %s", path);
	return path;
}

/* Runs CYCLES cycles of twpool-client against srv with env (preloaded);
 * returns the connections the server accepted meanwhile. */
static long client_connections(struct h_run *r, char *const env[], int preload)
{
	long before = h_twserver_accepted(&srv);
	char *argv[] = { client_path(), "-p", fmt("%d", srv.port), "-n", fmt("%d", CYCLES), NULL };
	h_run(r, argv, env, preload, 60);
	cr_assert_not(r->timed_out, "client timed out; stderr:\n%s", r->err);
	long req = -1, err = -1, crossed = -1;
	cr_assert_eq(h_client_line(r->out, &req, &err, &crossed), 0, "no result line; stderr:\n%s", r->err);
	cr_expect(req == 2 * CYCLES && err == 0 && crossed == 0 && r->status == 0,
		  "the client must run whole whatever the configuration: %s (stderr:\n%s)", r->out, r->err);
	return h_twserver_accepted(&srv) - before;
}

Test(whole_host, configuration_file_alone_pools, .init = tw_up, .fini = down, .timeout = 60)
{
	char *conf = conf_file("a.conf", fmt("# only the file\nTWPOOL_TARGETS=127.0.0.1:%d\n", srv.port), 0644);
	char *env[] = { fmt("TWPOOL_CONFIG=%s", conf), NULL };
	struct h_run r;
	long n = client_connections(&r, env, 1);
	cr_expect_leq(n, 1, "server accepted %ld connections for %d cycles with targets from %s", n, CYCLES, conf);
	cr_expect_str_empty(r.err, "a valid file: nothing on stderr");
	h_run_free(&r);
}

/* The file pools srv, but env_var in the environment must keep every
 * cycle on its own connection. */
static void expect_environment_wins(const char *file_extra, char *env_var, const char *why)
{
	char *conf = conf_file("a.conf", fmt("TWPOOL_TARGETS=127.0.0.1:%d\n%s", srv.port, file_extra), 0644);
	char *env[] = { fmt("TWPOOL_CONFIG=%s", conf), env_var, NULL };
	struct h_run r;
	long n = client_connections(&r, env, 1);
	cr_expect_eq(n, CYCLES, "%s: %ld connections for %d cycles", why, n, CYCLES);
	h_run_free(&r);
}

Test(whole_host, environment_wins_over_the_file, .init = tw_up, .fini = down, .timeout = 60)
{
	expect_environment_wins("TWPOOL_MAX_IDLE=8\n", "TWPOOL_MAX_IDLE=0",
				"TWPOOL_MAX_IDLE=0 in the environment (no parking) beats the file's 8");
}

Test(whole_host, environment_targets_mean_the_file_is_not_read, .init = tw_up, .fini = down, .timeout = 60)
{
	expect_environment_wins("", "TWPOOL_TARGETS=127.0.0.1:1",
				"targets in the environment: the file's are not used");
}

/* A file that cannot be used: the program runs whole and unpooled, with one
 * "twpool:" line naming the file on stderr. */
static void expect_refused(const char *text, mode_t mode, const char *want_err)
{
	char *conf = conf_file("bad.conf", fmt(text, srv.port), mode);
	char *env[] = { fmt("TWPOOL_CONFIG=%s", conf), NULL };
	struct h_run r;
	long n = client_connections(&r, env, 1);
	cr_expect_eq(n, CYCLES, "a refused file pools nothing: %ld connections", n);
	char *want = fmt("twpool: %s%s; passing everything through\n", conf, want_err);
	cr_expect_str_eq(r.err, want, "stderr is one line naming the file");
	h_run_free(&r);
}

Test(whole_host, writable_file_is_refused_and_the_program_runs, .init = tw_up, .fini = down, .timeout = 60)
{
	expect_refused("TWPOOL_TARGETS=127.0.0.1:%d\n", 0666, ": writable by group or others (mode 0666)");
}

Test(whole_host, malformed_file_is_refused_and_the_program_runs, .init = tw_up, .fini = down, .timeout = 60)
{
	expect_refused("TWPOOL_TARGETS=127.0.0.1:%d\njunk\n", 0644, ":2: expected NAME=VALUE, got 'junk'");
}

/* The Environment= lines of the shipped drop-in, "%%" unescaped as systemd
 * does; n set to their count. */
static char **dropin_env(int *n)
{
	char *path = fmt("%s/cmd/examples/twpool-dropin.conf", h_src());
	char *text = h_slurp(path), *save = NULL;
	cr_assert(text, "cannot read %s", path);
	static char *env[32];
	*n = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "Environment=", 12))
			continue;
		cr_assert_lt(*n, 30, "too many Environment= lines");
		char *v = strdup(l + 12), *p;
		while ((p = strstr(v, "%%")))
			memmove(p, p + 1, strlen(p));
		env[(*n)++] = v;
	}
	env[*n] = NULL;
	return env;
}

Test(whole_host, shipped_dropin_environment_pools, .init = tw_6379, .fini = down, .timeout = 60)
{
	int n;
	char **env = dropin_env(&n);
	cr_assert_geq(n, 2, "the drop-in sets LD_PRELOAD and TWPOOL_TARGETS");
	int has_preload = 0;
	for (int i = 0; i < n; i++)
		if (!strncmp(env[i], "LD_PRELOAD=", 11)) {
			has_preload = 1;
			cr_assert_str_eq(env[i], "LD_PRELOAD=libtwpool.so.0", "the drop-in preloads by SONAME");
			env[i] = fmt("LD_PRELOAD=%slibtwpool.so.0", san_runtimes());
		}
	cr_assert(has_preload, "the drop-in sets LD_PRELOAD");
	/* The package puts libtwpool.so.0 in the loader's cache; here a
	 * library path stands in for it. */
	char *dir = h_tmp("libdir");
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s", dir);
	cr_assert_eq(symlink(lib_under_test(), fmt("%s/libtwpool.so.0", dir)), 0, "symlink");
	env[n++] = fmt("LD_LIBRARY_PATH=%s", dir);
	env[n] = NULL;
	struct h_run r;
	long c = client_connections(&r, env, 0);
	cr_expect_leq(c, 1, "the drop-in's environment: %ld connections for %d cycles to port 6379", c, CYCLES);
	h_run_free(&r);
}

/* Runs "exec run CLIENT -p PORT -n CYCLES" in a private mount namespace
 * whose /etc is an overlay, after etc_setup (shell commands) and with
 * /etc/ld.so.preload naming the library under test; no LD_PRELOAD and no
 * TWPOOL_ variables otherwise. Returns the connections srv accepted. */
static long overlay_connections(struct h_run *r, const char *etc_setup, const char *run,
				const char *client)
{
	static int runs;
	runs++;
	char *up = h_tmp(fmt("upper%d", runs)), *work = h_tmp(fmt("work%d", runs));
	cr_assert_eq(mkdir(up, 0755) | mkdir(work, 0755), 0, "mkdir overlay dirs");
	char *script = fmt("mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,workdir=%s /etc && "
			   "%s && echo '%s%s' > /etc/ld.so.preload && exec %s '%s' -p %d -n %d",
			   up, work, etc_setup, san_runtimes(), lib_under_test(), run, client, srv.port, CYCLES);
	char *argv[] = { "/usr/bin/unshare", "-m", "/bin/sh", "-c", script, NULL };
	long before = h_twserver_accepted(&srv);
	h_run(r, argv, NULL, 0, 60);
	cr_assert_not(r->timed_out, "timed out; stderr:\n%s", r->err);
	cr_assert_eq(r->status, 0, "the client in the overlay namespace failed (%d):\n%s%s", r->status, r->out, r->err);
	return h_twserver_accepted(&srv) - before;
}

/* Shell commands writing /etc/twpool.conf with the targets srv. */
static char *etc_conf(void)
{
	return fmt("printf 'TWPOOL_TARGETS=127.0.0.1:%d\\n' > /etc/twpool.conf && chmod 0644 /etc/twpool.conf",
		   srv.port);
}

Test(whole_host, ld_so_preload_and_etc_twpool_conf_alone_pool, .init = tw_up, .fini = down, .timeout = 60)
{
	struct h_run r;
	long n = overlay_connections(&r, etc_conf(), "env", client_path());
	cr_expect_leq(n, 1, "/etc/ld.so.preload + /etc/twpool.conf: %ld connections for %d cycles", n, CYCLES);
	cr_expect_str_empty(r.err, "nothing on stderr");
	h_run_free(&r);
	n = overlay_connections(&r, etc_conf(), "env TWPOOL_TARGETS=", client_path());
	cr_expect_eq(n, CYCLES, "TWPOOL_TARGETS= (empty) keeps a program out: %ld connections", n);
	h_run_free(&r);
}

/* A setuid-root copy of the client, in a directory others may enter. */
static char *setuid_client(void)
{
	char *dir = h_tmp("");
	cr_assert_eq(chmod(dir, 0755), 0, "chmod %s", dir);
	char *copy = h_tmp("suid-client");
	cr_assert_eq(system(fmt("cp '%s' '%s' && chown 0:0 '%s' && chmod 4755 '%s'", client_path(), copy,
				copy, copy)), 0, "making %s", copy);
	return copy;
}

/* Under /etc/ld.so.preload the shim runs in setuid programs, whose
 * environment is the caller's: it must not be able to turn pooling on or
 * make the program (root) create files where the caller chooses. */
Test(whole_host, setuid_program_ignores_the_callers_environment, .init = tw_up, .fini = down, .timeout = 60)
{
	char *suid = setuid_client(), *owned = h_tmp("owned-by-the-caller.log");
	const char *as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups env";
	struct h_run r;
	/* Control: /etc/twpool.conf does reach the setuid program. */
	long n = overlay_connections(&r, etc_conf(), as_nobody, suid);
	cr_assert_leq(n, 1, "setuid client with /etc/twpool.conf: %ld connections (is the shim loaded?)", n);
	h_run_free(&r);
	char *run = fmt("%s TWPOOL_TARGETS=127.0.0.1:%d TWPOOL_LOG=debug TWPOOL_LOG_FILE=%s", as_nobody,
			srv.port, owned);
	n = overlay_connections(&r, "rm -f /etc/twpool.conf", run, suid);
	cr_expect_eq(n, CYCLES, "the caller's TWPOOL_TARGETS pooled a setuid program: %ld connections", n);
	cr_expect_neq(access(owned, F_OK), 0, "the caller's TWPOOL_LOG_FILE was created by a setuid program");
	h_run_free(&r);
}
