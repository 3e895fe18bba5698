/* symbols.c - addresses to names, off the hot path.
 *
 * Hooks only store raw addresses (stack frames, lock addresses). They are
 * turned into names here, in the exporter thread while it converts records
 * and in the exiting thread for the report; never in a hook.
 *
 * Each address is resolved once and kept in a cache shared by every span and
 * the report. Resolution goes through elfutils' libdwfl: one session for the
 * process, one module per loaded object (reported from dl_iterate_phdr with
 * its exact load bias), each keeping its ELF and DWARF open and reading them
 * lazily; separate debug files are found by build-id or .gnu_debuglink under
 * /usr/lib/debug, on this machine only (never through debuginfod). A module's symbol table (.symtab when there is one, so
 * static functions and static variables resolve) is copied once into an
 * array sorted by address, because libdwfl's own address lookup walks the
 * whole table on every call. Source lines come from the DWARF line tables.
 * When libdw has nothing (a deleted file, the vdso), dladdr still gives a
 * dynamic symbol or at least the module and offset.
 *
 * dlopen/dlclose: dl_iterate_phdr's dlpi_adds/dlpi_subs counters tell when the
 * set of loaded objects changed. They are read on every call (one callback,
 * cheap). After loads only, the new objects join the session and the others
 * keep their open handles; after an unload a new session starts (libdwfl
 * refuses a module that overlaps one it has, and the loader reuses ranges).
 * Either way the whole address cache is dropped, so an entry made for an
 * object that has since been unloaded is never handed out again. Strings of
 * the cache live in one arena per generation; the previous generation is kept
 * alive one more round, so a string a caller got just before a change stays
 * valid.
 *
 * Concurrency: the exporter thread is the usual caller; the exiting thread
 * calls in for the report, possibly while an exporter that missed the
 * shutdown deadline is still at work. A small spin lock (sleeping, never a
 * pthread mutex) serialises them; the report side only waits until its
 * deadline and then degrades to dladdr, which needs no shared state.
 */
#include "exp.h"

#include <dlfcn.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <limits.h>
#include <gelf.h>
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
	Dwfl_Module *dw;   /* NULL when libdwfl could not take it */
	struct sym *syms;  /* its symbol table sorted by address, on first use */
	size_t nsyms;
	int syms_loaded;
} mod_t;

/* One symbol of a module. name points into libdwfl's copy of the string
 * table, valid as long as the session that loaded it. */
typedef struct sym {
	uintptr_t lo, size;
	const char *name;
	uint8_t type, bind;
} sym_t;

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
	Dwfl *dwfl;
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
/* libdwfl's own finders are not used: dwfl_standard_find_debuginfo and
 * dwfl_build_id_find_elf end, for a file they cannot find on disk, in
 * libdebuginfod, which dlopens libcurl (and its TLS stack) into the host and
 * asks a server, from inside the host, at exit (node crashed in it; with a
 * silent server a process took more than a minute to exit). These look on
 * this machine only, open every file close-on-exec, and never load anything.
 */
static int open_ro(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The build id of the ELF file open on fd equals want (len bytes). */
static int build_id_matches(int fd, const unsigned char *want, int len)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e)
		return 0;
	const void *id = NULL;
	ssize_t n = dwelf_elf_gnu_build_id(e, &id);
	int ok = n == len && !memcmp(id, want, (size_t)len);
	elf_end(e);
	return ok;
}

static int find_elf_local(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  char **file_name, Elf **elfp)
{
	/* every module is reported with its file: nothing to look for */
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name, (void)elfp;
	return -1;
}

/* The separate debug file of a module: by build id under /usr/lib/debug,
 * else by .gnu_debuglink next to the file, in its .debug directory and under
 * /usr/lib/debug (gdb's order), checked against the build id when the module
 * has one. */
static int find_debuginfo_local(Dwfl_Module *mod, void **userdata, const char *modname,
				Dwarf_Addr base, const char *file_name, const char *debuglink_file,
				GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	(void)userdata, (void)modname, (void)base, (void)debuglink_crc;
	char path[PATH_MAX];
	const unsigned char *id = NULL;
	GElf_Addr id_vaddr;
	int idlen = dwfl_module_build_id(mod, &id, &id_vaddr);
	if (idlen > 1) {
		int k = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", id[0]);
		for (int i = 1; i < idlen && k < (int)sizeof path - 8; i++)
			k += snprintf(path + k, sizeof path - (size_t)k, "%02x", id[i]);
		snprintf(path + k, sizeof path - (size_t)k, ".debug");
		int fd = open_ro(path);
		if (fd >= 0) {
			*debuginfo_file_name = strdup(path);
			return fd;
		}
	}
	if (!debuglink_file || !*debuglink_file || !file_name || strchr(debuglink_file, '/'))
		return -1;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", file_name);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	static const char *const forms[] = { "%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s" };
	for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
		if (snprintf(path, sizeof path, forms[f], dir, debuglink_file) >= (int)sizeof path)
			continue;
		if (!strcmp(path, file_name))
			continue; /* the stripped file itself */
		int fd = open_ro(path);
		if (fd < 0)
			continue;
		if (idlen > 1 && !build_id_matches(fd, id, idlen)) {
			close(fd);
			continue;
		}
		*debuginfo_file_name = strdup(path);
		return fd;
	}
	return -1;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = find_elf_local,
	.find_debuginfo = find_debuginfo_local,
	.section_address = dwfl_offline_section_address,
};

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
		free(v[i].syms);
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

/* Bring the module list and the libdwfl session up to date with the loader. */
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
	/* libdwfl refuses a module that overlaps one it has: after an unload
	 * (the loader may reuse the range) start a new session; after loads
	 * only, keep the session, with its open files and parsed DWARF, and add
	 * the new objects. */
	int fresh = !S.dwfl || c.subs != S.subs;
	if (fresh && S.dwfl) {
		dwfl_end(S.dwfl);
		S.dwfl = NULL;
	}
	if (!S.dwfl)
		S.dwfl = dwfl_begin(&callbacks);
	if (S.dwfl) {
		dwfl_report_begin_add(S.dwfl);
		for (size_t i = 0; i < c.n; i++) {
			mod_t *m = &c.v[i];
			mod_t *old = fresh ? NULL : mod_of(m->lo);
			int same = old && old->lo == m->lo && old->hi == m->hi && old->path &&
				   m->path && !strcmp(old->path, m->path);
			if (same) {
				/* already reported: keep its handle and symbol index */
				m->dw = old->dw;
				m->syms = old->syms;
				m->nsyms = old->nsyms;
				m->syms_loaded = old->syms_loaded;
				old->syms = NULL;
			} else if (m->path) {
				m->dw = dwfl_report_elf(S.dwfl, m->name, m->path, -1, m->bias, false);
			}
		}
		dwfl_report_end(S.dwfl, NULL, NULL);
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
/* Symbol tables. libdwfl's own address-to-symbol search walks the whole
 * table on every call (a third of a millisecond in libc's full .symtab), so
 * each module's table is read once into an array sorted by address and
 * searched by bisection. */

static int sym_cmp(const void *a, const void *b)
{
	const sym_t *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

static void load_syms(mod_t *m)
{
	m->syms_loaded = 1;
	int n = m->dw ? dwfl_module_getsymtab(m->dw) : -1;
	if (n <= 1)
		return;
	sym_t *v = malloc((size_t)n * sizeof *v);
	if (!v)
		return;
	size_t k = 0;
	for (int i = 1; i < n; i++) {
		GElf_Sym es;
		GElf_Addr addr = 0;
		GElf_Word shndx = 0;
		const char *name = dwfl_module_getsym_info(m->dw, i, &es, &addr, &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(es.st_info);
		if (!name || !*name || es.st_shndx == SHN_UNDEF || !addr)
			continue;
		if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT &&
		    !(type == STT_NOTYPE && es.st_size))
			continue;
		v[k++] = (sym_t){ (uintptr_t)addr, (uintptr_t)es.st_size, name, (uint8_t)type,
				  (uint8_t)GELF_ST_BIND(es.st_info) };
	}
	qsort(v, k, sizeof *v, sym_cmp);
	m->syms = v;
	m->nsyms = k;
}

static int bind_rank(int bind)
{
	return bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0;
}

static int underscores(const char *n)
{
	int k = 0;
	while (n[k] == '_')
		k++;
	return k;
}

/* Is a better than b as the name of an address both contain? The innermost
 * (highest start), then global before weak before local, then the fewest
 * leading underscores (pthread_mutex_lock, not __pthread_mutex_lock), then
 * the shortest name, then by name: deterministic among aliases. */
static int sym_better(const sym_t *a, const sym_t *b)
{
	if (!b)
		return 1;
	if (a->lo != b->lo)
		return a->lo > b->lo;
	if (bind_rank(a->bind) != bind_rank(b->bind))
		return bind_rank(a->bind) > bind_rank(b->bind);
	int ua = underscores(a->name), ub = underscores(b->name);
	if (ua != ub)
		return ua < ub;
	size_t la = strlen(a->name), lb = strlen(b->name);
	if (la != lb)
		return la < lb;
	return strcmp(a->name, b->name) < 0;
}

/* The symbol of module m that contains addr: code (functions) or data
 * (objects). A sizeless function symbol covers only its own address. */
static const sym_t *sym_find(mod_t *m, uintptr_t addr, int code)
{
	if (!m->syms_loaded)
		load_syms(m);
	size_t lo = 0, hi = m->nsyms;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->syms[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	const sym_t *best = NULL;
	/* lo is the first symbol past addr; look back over the candidates */
	for (size_t j = lo, seen = 0; j-- > 0 && seen < 64; seen++) {
		const sym_t *c = &m->syms[j];
		int is_code = c->type == STT_FUNC || c->type == STT_GNU_IFUNC;
		int is_data = c->type == STT_OBJECT || c->type == STT_NOTYPE;
		if (code ? !is_code : !is_data)
			continue;
		if (addr >= c->lo + (c->size ? c->size : 1))
			continue;
		if (sym_better(c, best))
			best = c;
	}
	return best;
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
	if (m && m->dw) {
		const sym_t *sy = sym_find(m, addr, 1);
		if (sy) {
			fn = sy->name;
			e->fn_off = addr - sy->lo;
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
	if (!m || !m->dw || !e->addr)
		return;
	Dwfl_Line *l = dwfl_module_getsrc(m->dw, e->addr - 1);
	if (!l)
		return;
	int line = 0;
	const char *file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
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

/* A data symbol containing addr, by libdwfl (.symtab included) or dladdr1
 * (.dynsym). Returns an arena string or NULL. */
static const char *object_symbol(uint64_t addr)
{
	mod_t *m = mod_of((uintptr_t)addr);
	if (!m)
		return NULL; /* heap, stack, anonymous mappings */
	const char *name = NULL;
	uint64_t off = 0, size = 0;
	int type = STT_NOTYPE;
	if (m->dw) {
		const sym_t *sy = sym_find(m, (uintptr_t)addr, 0);
		if (sy) {
			name = sy->name;
			off = addr - sy->lo;
			size = sy->size;
			type = sy->type;
		}
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
	if (S.dwfl)
		dwfl_end(S.dwfl);
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
		atomic_store(&busy, 0);
	}
}
