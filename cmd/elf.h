/* elf.h - what the pre-flight needs from an ELF file's headers. */
#ifndef TWP_CMD_ELF_H
#define TWP_CMD_ELF_H

#include <stddef.h>

struct twp_elf {
	int bits;         /* 32 or 64 */
	unsigned type;    /* ET_EXEC, ET_DYN ... */
	unsigned machine; /* EM_X86_64 ... */
	int has_dynamic;  /* a PT_DYNAMIC segment */
	int pie;          /* DF_1_PIE in DT_FLAGS_1 */
	int go;           /* a Go build id note or a .go.buildinfo section */
	char interp[256]; /* PT_INTERP, "" when none */
};

/* Fills *e from path. Returns 0, or -1 when path is not ELF or cannot be
 * read (the kernel may still run it: exec will tell). */
int twp_elf_read(const char *path, struct twp_elf *e);

/* No dynamic loader will run: no PT_INTERP, and not ld.so itself (a shared
 * object without PT_INTERP that honours LD_PRELOAD when run directly). */
int twp_elf_is_static(const struct twp_elf *e);

/* "64-bit x86-64" */
void twp_elf_describe(const struct twp_elf *e, char *buf, size_t size);

#endif
