/* hoststats.h - host-wide counters: one shared file per user and network
 * namespace, mapped by every process under the shim and read by twpool
 * stat; and the Prometheus text of a table of targets, for it and for the
 * per-process stats file.
 *
 * Layout: a versioned header, a fixed table of targets (claimed once,
 * never freed; their counters only grow, by relaxed atomic adds from any
 * process) and a fixed table of process slots (the gauges of one live
 * process each). A slot's owner word is pid << 32 | the low 32 bits of
 * the process's start time: a dead owner (or a new process under a
 * recycled pid) is told apart, and its slot is ignored by readers and
 * reclaimed by the next process that finds no free one.
 *
 * Trust: the file is opened without following a symlink and used only if
 * it is a regular file of the effective user, writable by no one else, of
 * the expected size, with the expected header. Anything else is refused
 * with a message; nothing read from it is used as an index unchecked. */
#ifndef TWP_HOSTSTATS_H
#define TWP_HOSTSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "key.h"

#define TWP_HS_MAGIC "twpoolhs" /* 8 bytes, no NUL kept */
#define TWP_HS_VERSION 1
/* Targets the host table holds; a process's further targets are counted
 * in its own file only (and in twpool_host_targets_dropped_total). */
#define TWP_HS_TARGETS 256
/* Live processes with gauges; further processes count but show no
 * gauges (twpool_host_slots_full_total). */
#define TWP_HS_SLOTS 256

/* Host-wide counters without a target. */
enum twp_hg {
	TWP_HG_PASSTHROUGH, TWP_HG_CONFIG_ERRORS, TWP_HG_DEEPBIND_BYPASSED,
	TWP_HG_DEEPBIND_REDIRECTED, TWP_HG_TARGETS_DROPPED, TWP_HG_SLOTS_FULL,
	TWP_HG_COUNT
};

/* state of a target entry: claimed in index order, so that two processes
 * adding the same label meet at the same entry. */
enum { TWP_HS_FREE, TWP_HS_FILLING, TWP_HS_READY };

struct twp_hs_target {
	_Atomic uint32_t state;
	uint32_t pad;
	char label[TWP_LABEL_MAX];
	_Atomic uint64_t c[TWP_C_COUNT];
};

struct twp_hs_slot {
	_Atomic uint64_t owner; /* 0: free; TWP_HS_CLAIMING: being cleared */
	_Atomic uint32_t idle[TWP_HS_TARGETS], inuse[TWP_HS_TARGETS];
};
#define TWP_HS_CLAIMING 1

struct twp_hs {
	char magic[8];
	uint32_t version, size, ntargets, nslots, ncounters, label_max;
	_Atomic uint64_t g[TWP_HG_COUNT];
	struct twp_hs_target t[TWP_HS_TARGETS];
	struct twp_hs_slot s[TWP_HS_SLOTS];
};

/* The file to use, from TWPOOL_HOST_STATS (include/twpool.h): 0 with the
 * path, 1 when host stats are off, or a negative errno when no private
 * directory could be had. */
int twp_hs_path(char *out, size_t size);

/* Maps path. create: make it if missing (a complete file published with
 * link(), never a half-written one), read-write; else read-only. NULL
 * with errno ENOENT if missing and !create, else NULL with why in err. */
struct twp_hs *twp_hs_open(const char *path, int create, char *err, size_t errlen);
void twp_hs_close(struct twp_hs *h);

/* The index of label's entry, claimed if new; -1 when the table is full. */
int twp_hs_target(struct twp_hs *h, const char *label);

/* This process's owner word, and whether an owner word is a live process. */
uint64_t twp_hs_self(void);
int twp_hs_alive(uint64_t owner);

/* A slot for this process (a free one, else a dead owner's, cleared); -1
 * when every slot has a live owner. Release clears its gauges first. */
int twp_hs_slot_claim(struct twp_hs *h);
void twp_hs_slot_release(struct twp_hs *h, int slot);

/* One target of a stats text. */
struct twp_row {
	char label[TWP_LABEL_MAX];
	uint64_t v[TWP_C_COUNT];
	uint64_t idle, inuse;
};

/* What a text says beside its targets: the host-wide counters (NULL in
 * a per-process file, which has only deepbind's), and pid (0 for the
 * host). */
struct twp_text_info {
	const uint64_t *g;
	uint64_t deepbind[2]; /* [0] bypassed, [1] redirected */
	uint64_t processes, passthrough;
	int pid;
};

/* The Prometheus text of rows (one family after another, a sample per
 * target and label value), NUL-terminated in buf, cut at size; returns
 * the length it needed. */
size_t twp_rows_render(char *buf, size_t size, const struct twp_row *rows, size_t n,
		       const struct twp_text_info *info);

/* The host's text: targets with the same label summed, gauges of the
 * live slots summed; per_process adds twpool_process_* gauges with a pid
 * label. Returns a malloc'd string or NULL. */
char *twp_hs_render(const struct twp_hs *h, int per_process);

/* Label value of a connect failure class. */
const char *twp_cf_name(enum twp_cf f);
/* The class of a connect() errno. */
enum twp_cf twp_cf_of(int err);

#endif
