/* test_hoststats.c - the host-wide stats segment: counters added from
 * several processes, slots of dead processes, files that are refused. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoststats.h"
#include "pool.h"
#include "stats.h"
#include "twpool.h"
#include "util.h"

static char dir[] = "/tmp/twp-hs-XXXXXX", path[64];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir), "temporary directory");
	snprintf(path, sizeof(path), "%s/h.shm", dir);
	setenv(TWPOOL_ENV_HOST_STATS, path, 1);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0, "cleanup of %s", dir);
}

static struct twp_hs *open_rw(void)
{
	char err[256] = "";
	struct twp_hs *h = twp_hs_open(path, 1, err, sizeof(err));
	cr_assert_not_null(h, "segment %s opened: %s", path, err);
	return h;
}

static void wait_ok(pid_t pid)
{
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid, "waitpid");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d exited 0 (status %#x)", (int)pid, st);
}

/* Counts n fresh connects to 10.0.0.1:6379 through the shim's own path. */
static void count_fresh(int n)
{
	struct twp_key k = test_key("10.0.0.1", 6379);
	struct twp_target *t = twp_stats_bind(twp_pool_target(&k));
	cr_assert_not_null(t, "target");
	for (int i = 0; i < n; i++)
		twp_count(&t->n.fresh);
}

Test(hoststats, adds_across_processes, .init = setup, .fini = teardown)
{
	pid_t pid = fork();
	if (pid == 0) {
		count_fresh(2);
		_exit(0);
	}
	wait_ok(pid);
	count_fresh(3);
	struct twp_hs *h = open_rw();
	int i = twp_hs_target(h, "10.0.0.1:6379");
	cr_assert_geq(i, 0, "the target has an entry");
	cr_assert_eq(twp_hs_target(h, "10.0.0.1:6379"), i, "one label, one entry");
	cr_assert_eq(atomic_load(&h->t[i].c[TWP_C_FRESH]), 5, "2 from the child + 3 from us, got %llu",
		     (unsigned long long)atomic_load(&h->t[i].c[TWP_C_FRESH]));
	cr_assert_eq(twp_hs_target(h, "10.0.0.2:6379"), i + 1, "another label, the next entry");
	char *text = twp_hs_render(h, 0);
	cr_assert(strstr(text, "twpool_connects_total{target=\"10.0.0.1:6379\",result=\"fresh\"} 5\n"),
		  "host text shows the sum:\n%s", text);
	free(text);
	twp_hs_close(h);
}

/* A child that takes a slot, sets a gauge of entry 0 and dies without
 * releasing it (SIGKILL-like: _exit, no destructor). */
static void dead_owner(struct twp_hs *h)
{
	pid_t pid = fork();
	if (pid == 0) {
		int s = twp_hs_slot_claim(h);
		if (s != 0)
			_exit(3);
		atomic_store(&h->s[s].idle[0], 7);
		_exit(0);
	}
	wait_ok(pid);
}

/* A live process that is not us, and its owner word. */
static pid_t live_other(uint64_t *owner)
{
	int p[2];
	cr_assert_eq(pipe(p), 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		uint64_t me = twp_hs_self();
		if (write(p[1], &me, sizeof(me)) != sizeof(me))
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(p[0], owner, sizeof(*owner)), (ssize_t)sizeof(*owner), "owner word of the sleeper");
	close(p[0]);
	close(p[1]);
	cr_assert(twp_hs_alive(*owner), "the sleeper is alive");
	return pid;
}

Test(hoststats, dead_slot_ignored_then_reclaimed, .init = setup, .fini = teardown)
{
	struct twp_hs *h = open_rw();
	cr_assert_eq(twp_hs_target(h, "10.0.0.1:6379"), 0, "first entry");
	dead_owner(h);
	uint64_t dead = atomic_load(&h->s[0].owner);
	cr_assert_neq(dead, 0, "the dead child's slot is still taken");
	cr_assert(!twp_hs_alive(dead), "a dead owner is not alive");
	char *text = twp_hs_render(h, 0);
	cr_assert(strstr(text, "twpool_idle_connections{target=\"10.0.0.1:6379\"} 0\n"),
		  "a dead process's gauge is not summed:\n%s", text);
	free(text);
	/* Every other slot taken by a live process: only the dead one is left. */
	uint64_t live;
	pid_t sleeper = live_other(&live);
	for (int i = 1; i < TWP_HS_SLOTS; i++)
		atomic_store(&h->s[i].owner, live);
	int s = twp_hs_slot_claim(h);
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	cr_assert_eq(s, 0, "the dead owner's slot is reclaimed (got %d)", s);
	cr_assert_eq(atomic_load(&h->s[0].owner), twp_hs_self(), "now ours");
	cr_assert_eq(atomic_load(&h->s[0].idle[0]), 0, "the dead owner's gauge was cleared");
	for (int i = 1; i < TWP_HS_SLOTS; i++)
		atomic_store(&h->s[i].owner, 0);
	twp_hs_slot_release(h, s);
	cr_assert_eq(atomic_load(&h->s[0].owner), 0, "released");
	twp_hs_close(h);
}

/* Writes a file of the segment's size at path whose header says version 0. */
static void plant_bad_header(void)
{
	struct twp_hs *h = open_rw();
	h->version = 0;
	twp_hs_close(h);
}

static void expect_refused(const char *what)
{
	char err[256] = "";
	struct twp_hs *h = twp_hs_open(path, 1, err, sizeof(err));
	cr_assert_null(h, "%s: refused", what);
	cr_assert(strstr(err, what), "the message says '%s': %s", what, err);
}

Test(hoststats, corrupt_header_refused, .init = setup, .fini = teardown)
{
	plant_bad_header();
	expect_refused("not a twpool host stats file");
	/* The shim counts on, for this process only. */
	count_fresh(1);
	char *text = malloc(1 << 16);
	twp_stats_render(text, 1 << 16);
	cr_assert(strstr(text, "result=\"fresh\"} 1\n"), "local count kept:\n%s", text);
	free(text);
}

Test(hoststats, wrong_size_refused, .init = setup, .fini = teardown)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0, "create");
	cr_assert_eq(write(fd, "twpoolhs", 8), 8, "write");
	close(fd);
	expect_refused("not of the size of this version");
}

Test(hoststats, symlink_refused, .init = setup, .fini = teardown)
{
	char target[80];
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	cr_assert_eq(symlink(target, path), 0, "symlink");
	expect_refused("a symbolic link");
	cr_assert_neq(access(target, F_OK), 0, "nothing created through the link");
}

Test(hoststats, other_users_file_refused, .init = setup, .fini = teardown)
{
	cr_assert_eq(geteuid(), 0, "the suite runs as root (to chown)");
	open_rw();
	cr_assert_eq(chown(path, 65534, 65534), 0, "chown");
	expect_refused("owned by another user");
}

Test(hoststats, group_writable_refused, .init = setup, .fini = teardown)
{
	open_rw();
	cr_assert_eq(chmod(path, 0620), 0, "chmod");
	expect_refused("writable by others");
}

Test(hoststats, off_maps_nothing)
{
	char p[64];
	setenv(TWPOOL_ENV_HOST_STATS, "off", 1);
	cr_assert_eq(twp_hs_path(p, sizeof(p)), 1, "off");
}
