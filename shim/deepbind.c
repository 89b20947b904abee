/* deepbind.c - pointing RTLD_DEEPBIND libraries' socket calls at the hooks.
 *
 * Which symbols: every function the shim itself exports (its hooks), found
 * in its own GNU hash table, so the list cannot drift from hooks.c.
 * Which objects: the library and the objects loaded after it, i.e. the
 * dependencies it pulled in (libc, ld.so and the shim were loaded long
 * before). Which entries: JUMP_SLOT and GLOB_DAT relocations of a hooked
 * name that DEEPBIND resolves to the very function the hook would call
 * (dlsym(handle) == dlsym(RTLD_NEXT)), and whose GOT entry still holds that
 * function or an address inside the object (a lazy PLT stub). A name the
 * library or a dependency defines itself keeps DEEPBIND's binding. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "deepbind.h"
#include "fdtab.h"
#include "guard.h"
#include "log.h"
#include "stats.h"

#if defined(__x86_64__) && defined(__LP64__)
#define R_SLOT R_X86_64_JUMP_SLOT
#define R_GDAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define R_SLOT R_AARCH64_JUMP_SLOT
#define R_GDAT R_AARCH64_GLOB_DAT
#elif defined(__i386__)
#define R_SLOT R_386_JMP_SLOT
#define R_GDAT R_386_GLOB_DAT
#endif

#if __ELF_NATIVE_CLASS == 64
#define R_SYM(i) ELF64_R_SYM(i)
#define R_TYPE(i) ELF64_R_TYPE(i)
#else
#define R_SYM(i) ELF32_R_SYM(i)
#define R_TYPE(i) ELF32_R_TYPE(i)
#endif

/* Objects one DEEPBIND load may bring in; past it, the load is bypassed.
 * libcurl with every dependency is about 40. */
#define MAX_NEW 256

/* What one loaded object's dynamic section and program headers say. */
struct obj {
	ElfW(Addr) base, lo, hi;     /* load bias; mapped range */
	ElfW(Addr) relro_lo, relro_hi; /* pages ld.so made read-only */
	const ElfW(Sym) *sym;
	const char *str;
	const uint32_t *gnu;         /* DT_GNU_HASH */
	const char *tab[2];          /* DT_JMPREL, DT_RELA or DT_REL */
	size_t size[2], ent[2];
};

/* One DEEPBIND load being redirected. */
struct load {
	void *handle;
	int redirected, kept, failed;
};

static twp_dlopen_fn real_dlopen;
/* One redirection at a time: two loads may share new dependencies. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

twp_dlopen_fn twp_deepbind_real(void)
{
	twp_dlopen_fn f = __atomic_load_n(&real_dlopen, __ATOMIC_ACQUIRE);
	if (!f) {
		f = (twp_dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
		__atomic_store_n(&real_dlopen, f, __ATOMIC_RELEASE);
	}
	return f;
}

void twp_deepbind_atfork_child(void)
{
	pthread_mutex_init(&mu, NULL);
}

static void counted(int redirected)
{
	twp_stats_deepbind(redirected);
}

int twp_deepbind_wanted(const char *file, int mode)
{
	if (!(mode & RTLD_DEEPBIND) || !file || !twp_fdtab_size || twp_busy)
		return 0;
	if (strchr(file, '/') && !strchr(file, '$'))
		return 1;
	counted(0);
	twp_log(TWP_LOG_WARN, "%s loaded with RTLD_DEEPBIND by bare name: its socket calls bypass the shim",
		file);
	return 0;
}

/* ld.so relocates d_ptr values in place on most targets, not on those
 * whose .dynamic is read-only: an address below the bias is unrelocated. */
static const void *dptr(ElfW(Addr) base, ElfW(Addr) v)
{
	return (const void *)(v < base ? v + base : v);
}

static void read_dynamic(struct obj *o, const ElfW(Dyn) *d)
{
	int pltrel = DT_RELA;
	for (; d->d_tag != DT_NULL; d++) {
		ElfW(Addr) v = d->d_un.d_ptr;
		switch (d->d_tag) {
		case DT_SYMTAB: o->sym = dptr(o->base, v); break;
		case DT_STRTAB: o->str = dptr(o->base, v); break;
		case DT_GNU_HASH: o->gnu = dptr(o->base, v); break;
		case DT_JMPREL: o->tab[0] = dptr(o->base, v); break;
		case DT_PLTRELSZ: o->size[0] = d->d_un.d_val; break;
		case DT_PLTREL: pltrel = (int)d->d_un.d_val; break;
		case DT_RELA: case DT_REL: o->tab[1] = dptr(o->base, v); break;
		case DT_RELASZ: case DT_RELSZ: o->size[1] = d->d_un.d_val; break;
		case DT_RELAENT: case DT_RELENT: o->ent[1] = d->d_un.d_val; break;
		}
	}
	o->ent[0] = pltrel == DT_RELA ? sizeof(ElfW(Rela)) : sizeof(ElfW(Rel));
}

/* Fills o from a loaded object's program headers; -1 without .dynamic. */
static int read_obj(struct obj *o, ElfW(Addr) base, const ElfW(Phdr) *ph, int n)
{
	const ElfW(Dyn) *dyn = NULL;
	ElfW(Addr) page = (ElfW(Addr))sysconf(_SC_PAGESIZE);
	memset(o, 0, sizeof(*o));
	o->base = base;
	o->lo = ~(ElfW(Addr))0;
	for (int i = 0; i < n; i++) {
		ElfW(Addr) a = base + ph[i].p_vaddr, e = a + ph[i].p_memsz;
		if (ph[i].p_type == PT_LOAD) {
			o->lo = a < o->lo ? a : o->lo;
			o->hi = e > o->hi ? e : o->hi;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const ElfW(Dyn) *)a;
		} else if (ph[i].p_type == PT_GNU_RELRO) {
			/* ld.so protects whole pages only: start and end rounded down. */
			o->relro_lo = a & ~(page - 1);
			o->relro_hi = e & ~(page - 1);
		}
	}
	if (!dyn)
		return -1;
	read_dynamic(o, dyn);
	return o->sym && o->str ? 0 : -1;
}

static uint32_t gnu_hash(const char *s)
{
	uint32_t h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

/* The symbol o defines under name, by its GNU hash table, or NULL. */
static const ElfW(Sym) *gnu_lookup(const struct obj *o, const char *name)
{
	const uint32_t *g = o->gnu, nbuckets = g[0], symoff = g[1];
	const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(g + 4) + g[2]);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t h = gnu_hash(name), i = nbuckets ? buckets[h % nbuckets] : 0;
	if (i < symoff)
		return NULL;
	for (;; i++) {
		uint32_t c = chain[i - symoff];
		if ((c | 1) == (h | 1) && !strcmp(name, o->str + o->sym[i].st_name))
			return &o->sym[i];
		if (c & 1)
			return NULL;
	}
}

/* The shim's own description, read once. */
static const struct obj *self(void)
{
	static struct obj me;
	static int state; /* 0 unread, 1 usable, -1 not */
	Dl_info info;
	struct link_map *lm;
	if (state)
		return state > 0 ? &me : NULL;
	state = -1;
	if (!dladdr1((void *)twp_deepbind_dlopen, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return NULL;
	memset(&me, 0, sizeof(me));
	me.base = lm->l_addr;
	read_dynamic(&me, lm->l_ld);
	if (me.gnu && me.sym && me.str)
		state = 1;
	return state > 0 ? &me : NULL;
}

/* The shim's hook named name, or NULL if the shim does not export one. */
static void *hook_for(const char *name)
{
	const struct obj *me = self();
	const ElfW(Sym) *s = me ? gnu_lookup(me, name) : NULL;
	if (!s || s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
	    ELF64_ST_VISIBILITY(s->st_other) != STV_DEFAULT)
		return NULL;
	return (void *)(me->base + s->st_value);
}

/* A single aligned pointer store: a thread calling through the entry sees
 * the old function or the hook, never a torn value. */
static int store(const struct obj *o, void **slot, void *hook)
{
	ElfW(Addr) page = (ElfW(Addr))sysconf(_SC_PAGESIZE);
	ElfW(Addr) pg = (ElfW(Addr))slot & ~(page - 1);
	int relro = pg >= o->relro_lo && pg < o->relro_hi;
	if (relro && mprotect((void *)pg, page, PROT_READ | PROT_WRITE) < 0)
		return -1;
	__atomic_store_n(slot, hook, __ATOMIC_RELEASE);
	if (relro)
		mprotect((void *)pg, page, PROT_READ);
	return 0;
}

static void fix_reloc(struct load *l, const struct obj *o, ElfW(Addr) off, ElfW(Addr) info)
{
	if (R_TYPE(info) != R_SLOT && R_TYPE(info) != R_GDAT)
		return;
	const char *name = o->str + o->sym[R_SYM(info)].st_name;
	void *hook = hook_for(name);
	if (!hook)
		return;
	void **slot = (void **)(o->base + off);
	void *cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
	void *real = dlsym(RTLD_NEXT, name);
	ElfW(Addr) c = (ElfW(Addr))cur;
	if (cur == hook)
		return;
	if (!real || dlsym(l->handle, name) != real || (cur != real && (c < o->lo || c >= o->hi))) {
		l->kept++;
		twp_debug("DEEPBIND: %s keeps its own binding", name);
	} else if (store(o, slot, hook) < 0) {
		l->failed++;
	} else {
		l->redirected++;
	}
}

static void fix_obj(struct load *l, const struct obj *o)
{
	for (int t = 0; t < 2; t++) {
		size_t ent = o->ent[t] ? o->ent[t] : sizeof(ElfW(Rela));
		for (size_t off = 0; o->tab[t] && off + ent <= o->size[t]; off += ent) {
			const ElfW(Rel) *r = (const ElfW(Rel) *)(o->tab[t] + off);
			fix_reloc(l, o, r->r_offset, r->r_info);
		}
	}
}

/* Objects from the new library's link map on: dl_iterate_phdr walks them
 * in load order under the loader's lock; nothing else is done under it
 * (dlsym takes the other loader lock). */
struct walk {
	ElfW(Addr) first;
	int started, n, overflow;
	struct { ElfW(Addr) base; const ElfW(Phdr) *ph; int phnum; } o[MAX_NEW];
};

static int walk_one(struct dl_phdr_info *i, size_t size, void *arg)
{
	struct walk *w = arg;
	(void)size;
	if (!w->started && i->dlpi_addr != w->first)
		return 0;
	w->started = 1;
	if (w->n == MAX_NEW) {
		w->overflow = 1;
		return 1;
	}
	w->o[w->n].base = i->dlpi_addr;
	w->o[w->n].ph = i->dlpi_phdr;
	w->o[w->n++].phnum = i->dlpi_phnum;
	return 0;
}

/* Redirects what handle brought in; 0, or -1 if some entry may bypass. */
static int redirect(struct load *l)
{
#ifndef R_SLOT
	return -1;
#else
	static struct walk w; /* large; under mu */
	struct link_map *lm;
	struct obj o;
	if (!self() || dlinfo(l->handle, RTLD_DI_LINKMAP, &lm) < 0)
		return -1;
	memset(&w, 0, sizeof(w));
	w.first = lm->l_addr;
	dl_iterate_phdr(walk_one, &w);
	for (int i = 0; i < w.n; i++)
		if (read_obj(&o, w.o[i].base, w.o[i].ph, w.o[i].phnum) == 0)
			fix_obj(l, &o);
	return w.started && !w.overflow && !l->failed ? 0 : -1;
#endif
}

void *twp_deepbind_dlopen(const char *file, int mode)
{
	twp_dlopen_fn real = twp_deepbind_real();
	void *old = real(file, RTLD_LAZY | RTLD_NOLOAD);
	void *h = real(file, mode);
	if (old)
		dlclose(old);
	if (!h || old)
		return h; /* failed, or loaded before: redirected then if need be */
	int saved = errno;
	struct load l = { .handle = h };
	pthread_mutex_lock(&mu);
	int r = redirect(&l);
	pthread_mutex_unlock(&mu);
	counted(r == 0);
	if (r == 0)
		twp_log(TWP_LOG_INFO, "%s loaded with RTLD_DEEPBIND: %d socket calls redirected",
			file, l.redirected);
	else
		twp_log(TWP_LOG_WARN, "%s loaded with RTLD_DEEPBIND: %d socket calls redirected, "
			"%d could not be: those bypass the shim", file, l.redirected, l.failed);
	dlerror(); /* the lookups above leave nothing for the caller to see */
	errno = saved;
	return h;
}
