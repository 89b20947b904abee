/* preflight.c - what keeps the shim out of a program, found before it runs.
 *
 * The loader ignores LD_PRELOAD in secure mode (AT_SECURE), which the
 * kernel sets when an exec changes credentials (security/commoncap.c): the
 * new effective uid differs from the caller's real or effective uid, the new
 * effective gid from its real gid or its groups, or, for a caller whose real
 * uid is not 0, the file has capabilities. So a setuid program run by its
 * owner, or a program with capabilities run by root, is pooled. On a nosuid
 * mount the set-id bits and capabilities have no effect. */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmd.h"
#include "elf.h"
#include "preflight.h"

#define DEFAULT_PATH "/bin:/usr/bin" /* execvp's, when PATH is unset */
#define MAX_DEPTH 4                  /* #! interpreters, as the kernel allows */
#define SHEBANG_MAX 256              /* bytes of a #! line the kernel reads */

static void add(struct twp_preflight *p, int blocks, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add(struct twp_preflight *p, int blocks, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = twp_xvasprintf(fmt, ap);
	va_end(ap);
	p->findings = twp_xrealloc(p->findings, (p->n + 1) * sizeof(*p->findings));
	p->findings[p->n++] = (struct twp_finding){ .blocks = blocks, .text = text };
}

/* 0 when path is an executable file; else what a shell says about it. */
static const char *unusable(const char *path, int *exists)
{
	struct stat st;
	*exists = stat(path, &st) == 0;
	if (!*exists)
		return "no such file or directory";
	if (S_ISDIR(st.st_mode))
		return "is a directory";
	return access(path, X_OK) ? "permission denied" : NULL;
}

/* The first executable file named name in search, or NULL; *why says why
 * the first existing candidate was not one. */
static char *search_path(const char *name, const char *search, char **why)
{
	char *dirs = twp_xstrdup(search), *next = dirs;
	*why = NULL;
	for (char *d = strsep(&next, ":"); d; d = strsep(&next, ":")) {
		char *cand = twp_xasprintf("%s%s%s", *d ? d : ".",
					   *d && d[strlen(d) - 1] == '/' ? "" : "/", name);
		int exists;
		const char *bad = unusable(cand, &exists);
		if (!bad)
			return cand;
		if (exists && !*why)
			*why = twp_xasprintf("%s: %s", cand, bad);
		free(cand);
	}
	free(dirs);
	return NULL;
}

char *twp_find_command(const char *name, const char *path)
{
	int exists;
	char *why;
	if (strchr(name, '/')) {
		const char *bad = unusable(name, &exists);
		if (bad)
			twp_die(exists ? TWP_EXIT_CANNOT_EXEC : TWP_EXIT_NOT_FOUND, "%s: %s", name,
				bad);
		return twp_xstrdup(name);
	}
	char *found = search_path(name, path ? path : DEFAULT_PATH, &why);
	if (found)
		return found;
	if (why)
		twp_die(TWP_EXIT_CANNOT_EXEC, "%s", why);
	twp_die(TWP_EXIT_NOT_FOUND, "%s: command not found", name);
}

static int in_groups(gid_t gid)
{
	gid_t groups[1024];
	int n = getgroups(1024, groups);
	if (gid == getegid())
		return 1;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

static void check_uid(const char *path, const struct stat *st, struct twp_preflight *p)
{
	uid_t ruid = getuid(), euid = geteuid();
	if (!(st->st_mode & S_ISUID)) {
		if (euid != ruid)
			add(p, 1,
			    "%s would start in secure mode: twpool runs with effective uid %u, "
			    "real uid %u, and the dynamic loader ignores LD_PRELOAD then",
			    path, (unsigned)euid, (unsigned)ruid);
		return;
	}
	if (st->st_uid != ruid || st->st_uid != euid)
		add(p, 1,
		    "%s is setuid (to uid %u; you are uid %u): the dynamic loader ignores "
		    "LD_PRELOAD for such programs",
		    path, (unsigned)st->st_uid, (unsigned)ruid);
	else
		add(p, 0,
		    "%s is setuid, to its caller's own uid %u: no privilege is gained, and "
		    "the dynamic loader honours LD_PRELOAD",
		    path, (unsigned)ruid);
}

static void check_gid(const char *path, const struct stat *st, struct twp_preflight *p)
{
	gid_t rgid = getgid();
	int setgid = (st->st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
	gid_t egid = setgid ? st->st_gid : getegid();
	if (egid == rgid && in_groups(egid)) {
		if (setgid)
			add(p, 0,
			    "%s is setgid, to its caller's own gid %u: no privilege is gained, "
			    "and the dynamic loader honours LD_PRELOAD",
			    path, (unsigned)rgid);
		return;
	}
	if (setgid)
		add(p, 1,
		    "%s is setgid (to gid %u; you are gid %u): the dynamic loader ignores "
		    "LD_PRELOAD for such programs",
		    path, (unsigned)egid, (unsigned)rgid);
	else
		add(p, 1,
		    "%s would start in secure mode: twpool runs with effective gid %u, real "
		    "gid %u, and the dynamic loader ignores LD_PRELOAD then",
		    path, (unsigned)egid, (unsigned)rgid);
}

static void check_caps(const char *path, struct twp_preflight *p)
{
	if (getxattr(path, "security.capability", NULL, 0) <= 0)
		return;
	if (getuid() != 0)
		add(p, 1,
		    "%s has file capabilities: the dynamic loader ignores LD_PRELOAD for such "
		    "programs unless root runs them",
		    path);
	else
		add(p, 0,
		    "%s has file capabilities, and root runs it: the dynamic loader honours "
		    "LD_PRELOAD",
		    path);
}

static void check_privileges(const char *path, struct twp_preflight *p)
{
	struct stat st;
	struct statvfs vfs;
	if (stat(path, &st))
		return;
	if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_NOSUID)) {
		if (st.st_mode & (S_ISUID | S_ISGID))
			add(p, 0, "%s has set-id bits on a nosuid mount: they have no effect",
			    path);
		st.st_mode &= ~(mode_t)(S_ISUID | S_ISGID);
	} else {
		check_caps(path, p);
	}
	check_uid(path, &st, p);
	check_gid(path, &st, p);
}

static void check_elf(const char *path, const struct twp_elf *e, const char *lib,
		      struct twp_preflight *p)
{
	struct twp_elf shim;
	char what[64], shim_what[64];
	twp_elf_describe(e, what, sizeof(what));
	if (e->go)
		add(p, 1,
		    "%s is a Go program: Go makes its system calls itself, not through libc, "
		    "so the shim would see none of its connections",
		    path);
	if (twp_elf_is_static(e))
		add(p, 1, "%s is statically linked: there is no dynamic loader to preload the shim",
		    path);
	else if (e->interp[0] && access(e->interp, F_OK)) {
		add(p, 1, "%s: its ELF interpreter %s was not found", path, e->interp);
		p->status = TWP_EXIT_NOT_FOUND;
	}
	if (twp_elf_read(lib, &shim) == 0 && (shim.bits != e->bits || shim.machine != e->machine)) {
		twp_elf_describe(&shim, shim_what, sizeof(shim_what));
		add(p, 1, "%s is a %s program but %s is built for %s: the loader would skip it",
		    path, what, lib, shim_what);
	}
	if (!twp_elf_is_static(e) && !e->go)
		add(p, 0, "%s is a dynamically linked %s program", path, what);
}

static void inspect(const char *path, const char *lib, const char *search, int depth,
		    struct twp_preflight *p);

/* "#!/usr/bin/env NAME": the program that matters is NAME. */
static void inspect_env_target(const char *path, const char *name, const char *lib,
			       const char *search, int depth, struct twp_preflight *p)
{
	char *why, *found = search_path(name, search, &why);
	if (!found) {
		add(p, 1, "%s: env would not find %s", path, why ? why : name);
		p->status = why ? TWP_EXIT_CANNOT_EXEC : TWP_EXIT_NOT_FOUND;
		return;
	}
	add(p, 0, "%s is a script run by %s, through env", path, found);
	inspect(found, lib, search, depth + 1, p);
}

static void inspect_script(const char *path, char *line, const char *lib, const char *search,
			   int depth, struct twp_preflight *p)
{
	char *save = NULL, *interp = strtok_r(line + 2, " \t", &save);
	char *arg = interp ? strtok_r(NULL, " \t", &save) : NULL;
	int exists;
	if (!interp) {
		add(p, 1, "%s: its #! line names no interpreter", path);
		p->status = TWP_EXIT_CANNOT_EXEC;
		return;
	}
	const char *bad = unusable(interp, &exists);
	if (bad) {
		add(p, 1, "%s: its interpreter %s: %s", path, interp, bad);
		p->status = exists ? TWP_EXIT_CANNOT_EXEC : TWP_EXIT_NOT_FOUND;
		return;
	}
	const char *base = strrchr(interp, '/') ? strrchr(interp, '/') + 1 : interp;
	if (!strcmp(base, "env") && arg && *arg != '-' && !strchr(arg, '='))
		return inspect_env_target(path, arg, lib, search, depth, p);
	add(p, 0, "%s is a script run by %s", path, interp);
	inspect(interp, lib, search, depth + 1, p);
}

static void inspect(const char *path, const char *lib, const char *search, int depth,
		    struct twp_preflight *p)
{
	char head[SHEBANG_MAX + 1] = "";
	struct twp_elf e;
	FILE *f = fopen(path, "re");
	if (depth > MAX_DEPTH) {
		add(p, 1, "%s: too many levels of #! interpreters", path);
		p->status = TWP_EXIT_CANNOT_EXEC;
		return;
	}
	if (f) {
		if (!fgets(head, sizeof(head), f))
			head[0] = '\0';
		fclose(f);
	}
	head[strcspn(head, "\n")] = '\0';
	if (!strncmp(head, "#!", 2))
		return inspect_script(path, head, lib, search, depth, p); /* set-id bits ignored */
	check_privileges(path, p);
	if (twp_elf_read(path, &e) == 0)
		check_elf(path, &e, lib, p);
	else if (f)
		add(p, 0,
		    "%s is neither ELF nor a #! script: the kernel runs it if it knows the "
		    "format, else /bin/sh does",
		    path);
}

void twp_preflight(const char *path, const char *lib, const char *search, struct twp_preflight *p)
{
	memset(p, 0, sizeof(*p));
	inspect(path, lib, search ? search : DEFAULT_PATH, 0, p);
}

const struct twp_finding *twp_preflight_blocker(const struct twp_preflight *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->findings[i].blocks)
			return &p->findings[i];
	return NULL;
}
