/* symbols.c - addresses to names, off the hot path.
 *
 * Hooks only store raw addresses (stack frames, lock addresses). They are
 * turned into names here, in the exporter thread while it converts records
 * and in the exiting thread for the report; never in a hook.
 *
 * Each address is resolved once and kept in a cache shared by every span and
 * the report. The module of an address comes from the loader's list
 * (dl_iterate_phdr, with each object's exact load bias). Its function, or
 * the global or static object a lock lives in, comes from the module's
 * symbol table, read once into a compact sorted table (symtab.c: .symtab,
 * the separate debug file's, or .dynsym; about 33 bytes a symbol with its
 * name, nothing of libdw's). A frame's source line comes from the line tables (lines.c),
 * which are opened only for frames, only for the export pass that asks, and
 * dropped by ots_sym_release at its end, within the caps of sym.h. When a
 * module has no table (a deleted file, the vdso), dladdr still gives a
 * dynamic symbol or at least the module and offset.
 *
 * What a process pays (measured, README "Stacks, symbols and the report"):
 * the compact tables of the modules its stacks and locks are in, the line
 * indexes, the cache of the addresses seen; during a pass, the open line
 * tables on top.
 *
 * dlopen/dlclose: dl_iterate_phdr's dlpi_adds/dlpi_subs counters tell when the
 * set of loaded objects changed. They are read on every call (one callback,
 * cheap). After loads only, the objects already known keep their tables;
 * after an unload every module starts afresh (the loader may have mapped
 * another object at the same place). Either way the whole address cache is
 * dropped, so an entry made for an object that has since been unloaded is
 * never handed out again. Strings of the cache live in one arena per
 * generation; the previous generation is kept alive one more round, so a
 * string a caller got just before a change stays valid.
 *
 * Concurrency: the exporter thread is the usual caller; the exiting thread
 * calls in for the report, possibly while an exporter that missed the
 * shutdown deadline is still at work. A small spin lock (sleeping, never a
 * pthread mutex) serialises them; the report side only waits until its
 * deadline and then degrades to dladdr, which needs no shared state.
 */
#include "exp.h"
#include "sym.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct mod {
	uintptr_t lo, hi;  /* extent of its PT_LOAD segments, in memory */
	uintptr_t bias;    /* dlpi_addr */
	char *path;        /* file to open, or NULL (vdso) */
	char *name;        /* basename of the file (or the loader's name) */
	int internal;      /* the shim or libc */
	int syms_loaded;
	ots_symtab_t syms; /* on first use */
	ots_lines_t *lines; /* on the first frame that wants a line */
} mod_t;

enum { HAVE_FRAME = 1u << 0, HAVE_OBJ = 1u << 1 };

typedef struct ent {
	uint64_t addr; /* 0 = free slot */
	uint32_t have;
	int line;
	bool internal;
	const char *fn;  /* function containing addr, or NULL */
	uint64_t fn_off;
	const char *mod; /* module basename, or NULL */
	uint64_t mod_off;
	const char *file; /* lazily, with the frame */
	const char *frame;
	const char *obj;
} ent_t;

#define CACHE_MIN 1024u
#define CACHE_MAX 65536u /* entries; a full cache is dropped and refilled */

static struct {
	mod_t *mods; /* sorted by lo */
	size_t nmods;
	unsigned long long adds, subs;
	int have_mods;
	ent_t *tab;
	size_t cap, used;
	ots_arena_t arena[2];
	int cur; /* arena of the current generation */
	char *(*demangle)(const char *, char *, size_t *, int *);
	int demangle_looked;
} S;

static _Atomic int busy;
static _Atomic uint64_t deadline_ns;

/* ------------------------------------------------------------------------ */
/* The lock. Callers with a deadline give up at it and degrade. */

static int lock_until(uint64_t until)
{
	for (;;) {
		int z = 0;
		if (atomic_compare_exchange_weak_explicit(&busy, &z, 1, memory_order_acquire,
							  memory_order_relaxed))
			return 1;
		if (until && ots_mono_ns() >= until)
			return 0;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
}

static int lock_sym(void)
{
	uint64_t d = atomic_load_explicit(&deadline_ns, memory_order_relaxed);
	return lock_until(d);
}

static void unlock_sym(void)
{
	atomic_store_explicit(&busy, 0, memory_order_release);
}

static bool past_deadline(void)
{
	uint64_t d = atomic_load_explicit(&deadline_ns, memory_order_relaxed);
	return d && ots_mono_ns() >= d;
}

void ots_sym_set_deadline(uint64_t deadline_mono_ns)
{
	atomic_store(&deadline_ns, deadline_mono_ns);
}

/* ------------------------------------------------------------------------ */
/* The module list. */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int self_marker; /* its address tells which module is the shim */

static int is_internal_name(const char *name)
{
	return !strncmp(name, "libc.so", 7) || !strncmp(name, "libc-", 5) ||
	       !strncmp(name, "libpthread.so", 13) || !strncmp(name, "libpthread-", 11) ||
	       !strncmp(name, "libotcshim", 10);
}

/* What the loader says about one object, copied inside dl_iterate_phdr's
 * callback. The callback runs under the loader's lock, which a waiter being
 * unwound on the contended path may be asking for while it holds one of the
 * host's locks (its allocator's, say): so the callback only copies, into
 * memory allocated before the walk, and everything that may allocate or do
 * I/O (strdup, access, readlink) happens after it. */
typedef struct raw_mod {
	uintptr_t lo, hi, bias;
	size_t name_off; /* into the name pool */
	int main_prog;
} raw_mod_t;

typedef struct collect {
	raw_mod_t *v;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	unsigned long long adds, subs;
	int overflow;
} collect_t;

static int extent_of(const struct dl_phdr_info *info, uintptr_t *lo_out, uintptr_t *hi_out)
{
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	*lo_out = lo;
	*hi_out = hi;
	return hi > lo;
}

/* first pass: how much room the second needs */
static int size_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	collect_t *c = arg;
	c->cap++;
	c->names_cap += (info->dlpi_name ? strlen(info->dlpi_name) : 0) + 1;
	return 0;
}

static int collect_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	collect_t *c = arg;
	if (c->n == 0 && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		c->adds = info->dlpi_adds;
		c->subs = info->dlpi_subs;
	}
	uintptr_t lo, hi;
	if (!extent_of(info, &lo, &hi))
		return 0;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	size_t len = strlen(name);
	if (c->n == c->cap || c->names_len + len + 1 > c->names_cap) {
		c->overflow = 1; /* loaded between the passes: walk again */
		return 1;
	}
	raw_mod_t *r = &c->v[c->n++];
	r->lo = lo;
	r->hi = hi;
	r->bias = info->dlpi_addr;
	r->main_prog = !*name;
	r->name_off = c->names_len;
	memcpy(c->names + c->names_len, name, len + 1);
	c->names_len += len + 1;
	return 0;
}

/* The loaded objects, in the loader's order; 0 on success. */
static int collect_objects(collect_t *c)
{
	for (int tries = 0; tries < 4; tries++) {
		memset(c, 0, sizeof *c);
		dl_iterate_phdr(size_cb, c);
		c->cap += 8;
		c->names_cap += 8 * 256;
		c->v = malloc(c->cap * sizeof *c->v);
		c->names = malloc(c->names_cap);
		if (!c->v || !c->names) {
			free(c->v);
			free(c->names);
			return -1;
		}
		dl_iterate_phdr(collect_cb, c);
		if (!c->overflow)
			return 0;
		free(c->v);
		free(c->names);
	}
	return -1;
}

/* The module of one object, with its file. */
static int mod_make(mod_t *m, const raw_mod_t *r, const char *loader_name)
{
	memset(m, 0, sizeof *m);
	m->lo = r->lo;
	m->hi = r->hi;
	m->bias = r->bias;
	const char *name = loader_name;
	char exe[512];
	if (r->main_prog) {
		if (ots_g.exe_path[0]) {
			name = ots_g.exe_path;
		} else {
			ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
			exe[n > 0 ? n : 0] = '\0';
			name = exe;
		}
	}
	if (access(name, R_OK) == 0)
		m->path = strdup(name);
	else if (r->main_prog)
		m->path = strdup("/proc/self/exe"); /* deleted or replaced since exec */
	else
		m->path = NULL; /* linux-vdso.so.1 and such: no file */
	m->name = strdup(base_name(name));
	if (!m->name) {
		free(m->path);
		return -1;
	}
	/* the object that holds this code, unless it is the main program (the
	 * core linked statically into a test program; "ots_" names cover it) */
	uintptr_t self = (uintptr_t)&self_marker;
	m->internal = is_internal_name(m->name) || (self >= r->lo && self < r->hi && !r->main_prog);
	return 0;
}

static int mod_cmp(const void *a, const void *b)
{
	const mod_t *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void mods_free(mod_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ots_symtab_free(&v[i].syms);
		ots_lines_free(v[i].lines);
		free(v[i].path);
		free(v[i].name);
	}
	free(v);
}

static int counters_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	unsigned long long *ab = arg;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		ab[0] = info->dlpi_adds;
		ab[1] = info->dlpi_subs;
	}
	return 1;
}

static mod_t *mod_of(uintptr_t addr)
{
	size_t lo = 0, hi = S.nmods;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (addr < S.mods[mid].lo)
			hi = mid;
		else if (addr >= S.mods[mid].hi)
			lo = mid + 1;
		else
			return &S.mods[mid];
	}
	return NULL;
}

static void cache_flush(void);

/* Bring the module list up to date with the loader. */
static void refresh(void)
{
	unsigned long long ab[2] = { 0, 0 };
	dl_iterate_phdr(counters_cb, ab);
	if (S.have_mods && ab[0] == S.adds && ab[1] == S.subs)
		return;
	collect_t raw;
	if (collect_objects(&raw))
		return; /* keep what we had; try again next call */
	struct {
		mod_t *v;
		size_t n;
		unsigned long long subs;
	} c = { calloc(raw.n ? raw.n : 1, sizeof(mod_t)), 0, raw.subs };
	int oom = !c.v;
	for (size_t i = 0; !oom && i < raw.n; i++) {
		if (mod_make(&c.v[c.n], &raw.v[i], raw.names + raw.v[i].name_off))
			oom = 1;
		else
			c.n++;
	}
	unsigned long long raw_adds = raw.adds;
	free(raw.v);
	free(raw.names);
	if (oom) {
		mods_free(c.v, c.n);
		return;
	}
	qsort(c.v, c.n, sizeof c.v[0], mod_cmp);
	/* after loads only, an object already known keeps its tables; after an
	 * unload (the loader may reuse the range) every module starts afresh */
	int fresh = !S.have_mods || c.subs != S.subs;
	for (size_t i = 0; !fresh && i < c.n; i++) {
		mod_t *m = &c.v[i];
		mod_t *old = mod_of(m->lo);
		if (old && old->lo == m->lo && old->hi == m->hi && old->path && m->path &&
		    !strcmp(old->path, m->path)) {
			m->syms_loaded = old->syms_loaded;
			m->syms = old->syms;
			m->lines = old->lines;
			memset(&old->syms, 0, sizeof old->syms);
			old->lines = NULL;
		}
	}
	if (S.have_mods)
		cache_flush();
	mods_free(S.mods, S.nmods);
	S.mods = c.v;
	S.nmods = c.n;
	S.adds = raw_adds;
	S.subs = c.subs;
	S.have_mods = 1;
}

/* ------------------------------------------------------------------------ */
/* The cache: open addressing on the address, rebuilt from empty on flush. */

static ots_arena_t *arena(void)
{
	return &S.arena[S.cur];
}

static void cache_flush(void)
{
	if (S.tab)
		memset(S.tab, 0, S.cap * sizeof *S.tab);
	S.used = 0;
	/* the generation before last can go; the last one stays readable */
	S.cur ^= 1;
	ots_arena_free(&S.arena[S.cur]);
}

static size_t slot_of(uint64_t addr, size_t cap)
{
	uint64_t h = addr * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 20) & (cap - 1);
}

static int cache_grow(void)
{
	size_t ncap = S.cap ? S.cap * 2 : CACHE_MIN;
	ent_t *nt = calloc(ncap, sizeof *nt);
	if (!nt)
		return -1;
	for (size_t i = 0; i < S.cap; i++) {
		if (!S.tab[i].addr)
			continue;
		size_t j = slot_of(S.tab[i].addr, ncap);
		while (nt[j].addr)
			j = (j + 1) & (ncap - 1);
		nt[j] = S.tab[i];
	}
	free(S.tab);
	S.tab = nt;
	S.cap = ncap;
	return 0;
}

/* A symbol name for people: without its version ("memcpy@@GLIBC_2.14", as
 * .symtab of a debug file has them) and demangled when the process carries a
 * C++ runtime. Returns an arena copy. */
static const char *clean_name(const char *name)
{
	char tmp[512];
	const char *at = strchr(name, '@');
	if (at && at != name) {
		size_t n = (size_t)(at - name) < sizeof tmp - 1 ? (size_t)(at - name) : sizeof tmp - 1;
		memcpy(tmp, name, n);
		tmp[n] = '\0';
		name = tmp;
	}
	if (strncmp(name, "_Z", 2))
		return ots_arena_strdup(arena(), name);
	if (!S.demangle_looked) {
		/* only a process that carries a C++ runtime has C++ names to show */
		S.demangle_looked = 1;
		*(void **)&S.demangle = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	}
	int st = -1;
	char *d = S.demangle ? S.demangle(name, NULL, NULL, &st) : NULL;
	const char *r = ots_arena_strdup(arena(), d && st == 0 ? d : name);
	free(d);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Symbol tables (symtab.c), read on a module's first use. */

static void load_syms(mod_t *m)
{
	m->syms_loaded = 1;
	if (m->path)
		(void)ots_symtab_load(&m->syms, m->path);
}

/* The symbol of module m that contains addr: code (functions) or data
 * (objects). */
static const ots_symtab_ent_t *sym_find(mod_t *m, uintptr_t addr, int code)
{
	if (!m->syms_loaded)
		load_syms(m);
	return addr >= m->bias ? ots_symtab_find(&m->syms, addr - m->bias, code) : NULL;
}

/* The function containing addr and the module: from the module's symbol
 * table, else from dladdr (the dynamic symbols the loader knows). */
static void resolve_base(ent_t *e)
{
	uintptr_t addr = (uintptr_t)e->addr;
	mod_t *m = mod_of(addr);
	if (m) {
		e->mod = ots_arena_strdup(arena(), m->name);
		e->mod_off = addr - m->bias;
		e->internal = m->internal;
	}
	const char *fn = NULL;
	if (m) {
		const ots_symtab_ent_t *sy = sym_find(m, addr, 1);
		if (sy) {
			fn = ots_symtab_name(&m->syms, sy);
			e->fn_off = addr - (ots_symtab_addr(&m->syms, sy) + m->bias);
		}
	}
	if (!fn) {
		Dl_info info;
		if (dladdr((void *)addr, &info) && info.dli_sname && info.dli_saddr) {
			fn = info.dli_sname;
			e->fn_off = addr - (uintptr_t)info.dli_saddr;
			if (!e->mod && info.dli_fname) {
				e->mod = ots_arena_strdup(arena(), base_name(info.dli_fname));
				e->mod_off = addr - (uintptr_t)info.dli_fbase;
			}
		}
	}
	if (fn) {
		e->fn = clean_name(fn);
		/* the core linked into a test program is still the shim */
		if (!strncmp(fn, "ots_", 4))
			e->internal = true;
	}
}

/* The entry for addr, resolved to its function; NULL if out of memory or past
 * the deadline for a new address. Called with the lock held. */
static ent_t *lookup(uint64_t addr)
{
	refresh();
	if (S.cap) {
		for (size_t i = slot_of(addr, S.cap);; i = (i + 1) & (S.cap - 1)) {
			if (S.tab[i].addr == addr)
				return &S.tab[i];
			if (!S.tab[i].addr)
				break;
		}
	}
	if (past_deadline())
		return NULL;
	if ((S.used + 1) * 4 > S.cap * 3) {
		if (S.cap >= CACHE_MAX)
			cache_flush();
		else if (cache_grow() < 0)
			return NULL;
	}
	size_t i = slot_of(addr, S.cap);
	while (S.tab[i].addr)
		i = (i + 1) & (S.cap - 1);
	ent_t *e = &S.tab[i];
	memset(e, 0, sizeof *e);
	e->addr = addr;
	S.used++;
	resolve_base(e);
	return e;
}

/* Source line of a return address: the call instruction is just before it. */
static void resolve_line(ent_t *e)
{
	mod_t *m = mod_of((uintptr_t)e->addr);
	if (!m || !e->addr || past_deadline())
		return;
	if (!m->syms_loaded)
		load_syms(m);
	if (!m->syms.dwarf_path)
		return;
	int line = 0;
	uint64_t vaddr = e->addr - 1 - m->bias; /* the call, at link-time address */
	const char *file = ots_lines_find(&m->lines, m->syms.dwarf_path, vaddr, &line);
	if (file && *file && line > 0) {
		e->file = ots_arena_strdup(arena(), file);
		e->line = line;
	}
}

static const char *format_frame(ots_arena_t *a, const ent_t *e)
{
	char fl[320] = "";
	if (e->file)
		snprintf(fl, sizeof fl, " %s:%d", e->file, e->line);
	if (e->fn && e->mod)
		return ots_arena_printf(a, "%s+0x%llx (%s)%s", e->fn, (unsigned long long)e->fn_off,
					e->mod, fl);
	if (e->fn)
		return ots_arena_printf(a, "%s+0x%llx%s", e->fn, (unsigned long long)e->fn_off, fl);
	if (e->mod)
		return ots_arena_printf(a, "0x%llx (%s+0x%llx)", (unsigned long long)e->addr, e->mod,
					(unsigned long long)e->mod_off);
	return ots_arena_printf(a, "0x%llx", (unsigned long long)e->addr);
}

/* ------------------------------------------------------------------------ */
/* Degraded answers: no lock, no cache, dladdr only. Strings live in a
 * per-thread scratch buffer (valid until the thread's next degraded call). */

static __thread char scratch[640];

static void degraded(uint64_t addr, ent_t *e)
{
	memset(e, 0, sizeof *e);
	e->addr = addr;
	Dl_info info;
	if (dladdr((void *)(uintptr_t)addr, &info)) {
		if (info.dli_fname) {
			e->mod = base_name(info.dli_fname);
			e->mod_off = addr - (uintptr_t)info.dli_fbase;
			e->internal = is_internal_name(e->mod);
		}
		if (info.dli_sname && info.dli_saddr) {
			e->fn = info.dli_sname;
			e->fn_off = addr - (uintptr_t)info.dli_saddr;
			if (!strncmp(e->fn, "ots_", 4))
				e->internal = true;
		}
	}
}

static const char *degraded_frame(uint64_t addr)
{
	ent_t e;
	degraded(addr, &e);
	if (e.fn && e.mod)
		snprintf(scratch, sizeof scratch, "%s+0x%llx (%s)", e.fn,
			 (unsigned long long)e.fn_off, e.mod);
	else if (e.mod)
		snprintf(scratch, sizeof scratch, "0x%llx (%s+0x%llx)", (unsigned long long)addr,
			 e.mod, (unsigned long long)e.mod_off);
	else
		snprintf(scratch, sizeof scratch, "0x%llx", (unsigned long long)addr);
	return scratch;
}

/* ------------------------------------------------------------------------ */
/* The interface. */

const char *ots_sym_frame(uint64_t addr)
{
	if (!lock_sym())
		return degraded_frame(addr);
	const char *r = NULL;
	ent_t *e = lookup(addr);
	if (e) {
		if (!(e->have & HAVE_FRAME)) {
			resolve_line(e);
			e->frame = format_frame(arena(), e);
			e->have |= HAVE_FRAME;
		}
		r = e->frame;
	}
	unlock_sym();
	return r ? r : degraded_frame(addr);
}

const char *ots_sym_function(uint64_t addr)
{
	if (!lock_sym()) {
		ent_t e;
		degraded(addr, &e);
		return e.fn;
	}
	ent_t *e = lookup(addr);
	const char *r = NULL;
	int miss = !e;
	if (e)
		r = e->fn;
	unlock_sym();
	if (miss) {
		ent_t d;
		degraded(addr, &d);
		r = d.fn;
	}
	return r;
}

bool ots_sym_is_internal(uint64_t addr)
{
	if (!lock_sym()) {
		ent_t e;
		degraded(addr, &e);
		return e.internal;
	}
	ent_t *e = lookup(addr);
	int miss = !e;
	bool r = e ? e->internal : false;
	unlock_sym();
	if (miss) {
		ent_t d;
		degraded(addr, &d);
		r = d.internal;
	}
	return r;
}

void ots_sym_info(uint64_t addr, ots_sym_info_t *out)
{
	memset(out, 0, sizeof *out);
	ent_t d, *e = NULL;
	int locked = lock_sym();
	if (locked) {
		e = lookup(addr);
		if (e && !(e->have & HAVE_FRAME)) {
			resolve_line(e);
			e->frame = format_frame(arena(), e);
			e->have |= HAVE_FRAME;
		}
	}
	if (!e) {
		degraded(addr, &d);
		e = &d;
	}
	out->function = e->fn;
	out->offset = e->fn_off;
	out->module = e->mod;
	out->module_offset = e->mod_off;
	out->file = e->file;
	out->line = e->line;
	out->internal = e->internal;
	if (locked)
		unlock_sym();
}

/* A data symbol containing addr, from the module's table (.symtab included)
 * or dladdr1 (.dynsym). Returns an arena string or NULL. */
static const char *object_symbol(uint64_t addr)
{
	mod_t *m = mod_of((uintptr_t)addr);
	if (!m)
		return NULL; /* heap, stack, anonymous mappings */
	const char *name = NULL;
	uint64_t off = 0, size = 0;
	int type = STT_NOTYPE;
	const ots_symtab_ent_t *sy = sym_find(m, (uintptr_t)addr, 0);
	if (sy) {
		name = ots_symtab_name(&m->syms, sy);
		off = addr - (ots_symtab_addr(&m->syms, sy) + m->bias);
		size = sy->size;
		type = sy->type;
	}
	if (!name) {
		Dl_info info;
		const ElfW(Sym) *sym = NULL;
		if (dladdr1((void *)(uintptr_t)addr, &info, (void **)&sym, RTLD_DL_SYMENT) &&
		    info.dli_sname && info.dli_saddr && sym) {
			name = info.dli_sname;
			off = addr - (uintptr_t)info.dli_saddr;
			size = sym->st_size;
			type = ELF64_ST_TYPE(sym->st_info);
		}
	}
	if (!name || (type != STT_OBJECT && type != STT_NOTYPE) || (size && off >= size) ||
	    (!size && off))
		return NULL;
	const char *clean = clean_name(name);
	if (!off)
		return clean;
	return ots_arena_printf(arena(), "%s+0x%llx", clean, (unsigned long long)off);
}

const char *ots_sym_object(uint64_t addr)
{
	if (!addr || !lock_sym())
		return NULL;
	const char *r = NULL;
	ent_t *e = lookup(addr);
	if (e && (e->have & HAVE_OBJ)) {
		r = e->obj;
	} else if (e) {
		r = object_symbol(addr);
		if (!r) {
			/* not a named object: the first function outside the shim and
			 * libc that waited on it */
			uint64_t frames[OTS_LS_FIRST];
			int n = ots_lockstat_first_frames((uintptr_t)addr, frames, OTS_LS_FIRST);
			for (int i = 0; i < n && !r; i++) {
				ent_t *f = lookup(frames[i]);
				/* lookup may have moved the table: find ours again */
				if (f && !f->internal && f->fn)
					r = ots_arena_printf(arena(), "@%s", f->fn);
			}
			e = lookup(addr);
		}
		if (e && r) {
			e->obj = r;
			e->have |= HAVE_OBJ;
		}
	}
	unlock_sym();
	return r;
}

void ots_sym_reset(void)
{
	if (!lock_until(0))
		return;
	ots_lines_release_all();
	mods_free(S.mods, S.nmods);
	free(S.tab);
	ots_arena_free(&S.arena[0]);
	ots_arena_free(&S.arena[1]);
	memset(&S, 0, sizeof S);
	atomic_store(&deadline_ns, 0);
	unlock_sym();
}

void ots_sym_after_fork(void)
{
	if (atomic_load(&busy)) {
		/* held by a thread that does not exist here, mid-update */
		memset(&S, 0, sizeof S);
		ots_lines_forget();
		atomic_store(&busy, 0);
	}
}

void ots_sym_release(void)
{
	if (!lock_sym())
		return;
	ots_lines_release_all();
	unlock_sym();
}
