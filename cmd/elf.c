/* elf.c - reading the headers of an ELF file of either class and byte
 * order, with pread and bounded sizes: never the whole file. */
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "elf.h"

#define TABLE_MAX (1u << 20) /* bytes of a header table or segment read */
#define GO_NOTE_BUILDID 4    /* the type of Go's "Go" ELF note */

struct reader {
	int fd;
	int big; /* big-endian file */
	int bits;
};

static uint64_t get(const struct reader *r, const unsigned char *p, int size)
{
	uint64_t v = 0;
	for (int i = 0; i < size; i++)
		v |= (uint64_t)p[r->big ? size - 1 - i : i] << (8 * i);
	return v;
}

/* A word: 4 bytes in a 32-bit file, 8 in a 64-bit one. */
static uint64_t word(const struct reader *r, const unsigned char *p)
{
	return get(r, p, r->bits / 8);
}

/* size bytes at off, or NULL when the file is shorter. */
static unsigned char *load(const struct reader *r, uint64_t off, uint64_t size)
{
	if (size == 0 || size > TABLE_MAX)
		return NULL;
	unsigned char *buf = twp_xmalloc(size);
	if (pread(r->fd, buf, size, (off_t)off) != (ssize_t)size) {
		free(buf);
		return NULL;
	}
	return buf;
}

struct table {
	unsigned char *data;
	size_t entsize, n;
};

static void load_table(const struct reader *r, uint64_t off, size_t entsize, size_t n,
		       struct table *t)
{
	t->entsize = entsize;
	t->data = entsize ? load(r, off, (uint64_t)entsize * n) : NULL;
	t->n = t->data ? n : 0;
}

/* p_type, p_offset, p_filesz of program header i. */
static void segment(const struct reader *r, const struct table *ph, size_t i, unsigned *type,
		    uint64_t *off, uint64_t *size)
{
	const unsigned char *p = ph->data + i * ph->entsize;
	*type = (unsigned)get(r, p, 4);
	*off = word(r, p + (r->bits == 32 ? 4 : 8));
	*size = word(r, p + (r->bits == 32 ? 16 : 32));
}

static int flags_1_pie(const struct reader *r, uint64_t off, uint64_t size)
{
	unsigned char *dyn = load(r, off, size);
	size_t step = 2 * (size_t)(r->bits / 8);
	int pie = 0;
	for (size_t i = 0; dyn && i + step <= size; i += step) {
		uint64_t tag = word(r, dyn + i);
		if (tag == DT_NULL)
			break;
		if (tag == DT_FLAGS_1)
			pie = (word(r, dyn + i + step / 2) & DF_1_PIE) != 0;
	}
	free(dyn);
	return pie;
}

static int has_go_note(const struct reader *r, uint64_t off, uint64_t size)
{
	unsigned char *n = load(r, off, size);
	int go = 0;
	for (uint64_t i = 0; n && !go && i + 12 <= size;) {
		uint64_t namesz = get(r, n + i, 4), descsz = get(r, n + i + 4, 4);
		go = namesz == 3 && i + 15 <= size && !memcmp(n + i + 12, "Go", 3) &&
		     get(r, n + i + 8, 4) == GO_NOTE_BUILDID;
		i += 12 + ((namesz + 3) & ~3ull) + ((descsz + 3) & ~3ull);
	}
	free(n);
	return go;
}

static void read_interp(const struct reader *r, uint64_t off, uint64_t size, struct twp_elf *e)
{
	if (size >= sizeof(e->interp))
		size = sizeof(e->interp) - 1;
	unsigned char *p = load(r, off, size);
	if (p)
		memcpy(e->interp, p, size);
	e->interp[p ? size : 0] = '\0';
	free(p);
}

static void read_segments(const struct reader *r, const struct table *ph, struct twp_elf *e)
{
	for (size_t i = 0; i < ph->n; i++) {
		unsigned type;
		uint64_t off, size;
		segment(r, ph, i, &type, &off, &size);
		if (type == PT_INTERP && !e->interp[0])
			read_interp(r, off, size, e);
		if (type == PT_DYNAMIC && !e->has_dynamic) {
			e->has_dynamic = 1;
			e->pie = flags_1_pie(r, off, size);
		}
		if (type == PT_NOTE && !e->go)
			e->go = has_go_note(r, off, size);
	}
}

/* A stripped Go binary may lack the note but keeps its sections. */
static int has_go_section(const struct reader *r, const struct table *sh, unsigned strndx)
{
	if (strndx >= sh->n)
		return 0;
	const unsigned char *s = sh->data + (size_t)strndx * sh->entsize;
	uint64_t off = word(r, s + (r->bits == 32 ? 16 : 24));
	uint64_t size = word(r, s + (r->bits == 32 ? 20 : 32));
	char *names = (char *)load(r, off, size);
	int go = 0;
	if (names)
		names[size - 1] = '\0'; /* the table ends with one already */
	for (size_t i = 0; names && !go && i < sh->n; i++) {
		uint64_t name = get(r, sh->data + i * sh->entsize, 4);
		go = name < size && (!strcmp(names + name, ".go.buildinfo") ||
				     !strcmp(names + name, ".note.go.buildid"));
	}
	free(names);
	return go;
}

/* e_phoff, e_shoff and the sizes and counts after them. */
static void read_tables(const struct reader *r, const unsigned char *h, struct twp_elf *e)
{
	int w = r->bits / 8;
	uint64_t phoff = word(r, h + 24 + w), shoff = word(r, h + 24 + 2 * w);
	const unsigned char *sizes = h + 24 + 3 * w + 4 + 2; /* after e_flags, e_ehsize */
	size_t phentsize = get(r, sizes, 2), phnum = get(r, sizes + 2, 2);
	size_t shentsize = get(r, sizes + 4, 2), shnum = get(r, sizes + 6, 2);
	unsigned shstrndx = (unsigned)get(r, sizes + 8, 2);
	struct table ph, sh;
	load_table(r, shoff,
		   shoff && shentsize >= (size_t)(r->bits == 32 ? 40 : 64) ? shentsize : 0,
		   shnum ? shnum : 1, &sh);
	if (phnum == PN_XNUM && sh.n) /* the real count is in section 0's sh_info */
		phnum = get(r, sh.data + (r->bits == 32 ? 28 : 44), 4);
	load_table(r, phoff, phentsize >= (size_t)(r->bits == 32 ? 32 : 56) ? phentsize : 0, phnum,
		   &ph);
	read_segments(r, &ph, e);
	if (!e->go && shnum)
		e->go = has_go_section(r, &sh, shstrndx);
	free(ph.data);
	free(sh.data);
}

int twp_elf_read(const char *path, struct twp_elf *e)
{
	unsigned char h[64];
	struct reader r = { .fd = open(path, O_RDONLY | O_CLOEXEC) };
	memset(e, 0, sizeof(*e));
	if (r.fd < 0)
		return -1;
	ssize_t n = pread(r.fd, h, sizeof(h), 0);
	int ok = n >= 52 && !memcmp(h, ELFMAG, SELFMAG) &&
		 (h[EI_CLASS] == ELFCLASS32 || (h[EI_CLASS] == ELFCLASS64 && n == 64)) &&
		 (h[EI_DATA] == ELFDATA2LSB || h[EI_DATA] == ELFDATA2MSB);
	if (ok) {
		r.bits = h[EI_CLASS] == ELFCLASS32 ? 32 : 64;
		r.big = h[EI_DATA] == ELFDATA2MSB;
		e->bits = r.bits;
		e->type = (unsigned)get(&r, h + 16, 2);
		e->machine = (unsigned)get(&r, h + 18, 2);
		read_tables(&r, h, e);
	}
	close(r.fd);
	return ok ? 0 : -1;
}

int twp_elf_is_static(const struct twp_elf *e)
{
	if (e->interp[0])
		return 0;
	return e->type == ET_EXEC || !e->has_dynamic || e->pie;
}

static const struct {
	unsigned machine;
	const char *name;
} machines[] = {
	{ EM_386, "i386" },        { EM_MIPS, "MIPS" },       { EM_PPC, "PowerPC" },
	{ EM_PPC64, "PowerPC64" }, { EM_S390, "s390" },       { EM_ARM, "ARM" },
	{ EM_X86_64, "x86-64" },   { EM_AARCH64, "AArch64" }, { EM_RISCV, "RISC-V" },
	{ 258, "LoongArch" },
};

void twp_elf_describe(const struct twp_elf *e, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(machines) / sizeof(machines[0]); i++)
		if (machines[i].machine == e->machine) {
			snprintf(buf, size, "%d-bit %s", e->bits, machines[i].name);
			return;
		}
	snprintf(buf, size, "%d-bit machine %u", e->bits, e->machine);
}
