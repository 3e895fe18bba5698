/* symtab.c - a module's symbol table, read once into 16 bytes a symbol.
 *
 * Function and object names come from ELF symbol tables, read with libelf:
 * the file's .symtab, else its separate debug file's (Debian's -dbgsym
 * packages and libc6-dbg), else .dynsym. The file is mapped while it is read
 * (ELF_C_READ_MMAP: its pages count in the host's RSS only for that moment)
 * and closed before ots_symtab_load returns; what stays is one array sorted
 * by address and one blob of the names kept (265 KB for the 8,114 symbols
 * kept of the 10,000 in libc6-dbg's .symtab for libc). No DWARF is read
 * here: debug files are opened for their symbol table and their section
 * headers only.
 *
 * Separate debug files are found on this machine only (never through
 * debuginfod, which would ask a server from inside the host): by build id
 * under /usr/lib/debug/.build-id, else by .gnu_debuglink next to the file,
 * in its .debug directory and under /usr/lib/debug (gdb's order), checked
 * against the build id when the module has one.
 */
#include "exp.h"
#include "sym.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Elf *ots_elf_open(const char *path, int *fd)
{
	static int version_set;
	if (!version_set) {
		elf_version(EV_CURRENT);
		version_set = 1;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	Elf *e = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		if (e)
			elf_end(e);
		ots_fd_close(*fd);
		*fd = -1;
		return NULL;
	}
	return e;
}

void ots_elf_close(Elf *e, int fd)
{
	if (e)
		elf_end(e);
	if (fd >= 0)
		ots_fd_close(fd);
}

Elf_Scn *ots_elf_section(Elf *e, const char *name, GElf_Shdr *sh)
{
	size_t shstr;
	if (elf_getshdrstrndx(e, &shstr) < 0)
		return NULL;
	for (Elf_Scn *s = NULL; (s = elf_nextscn(e, s));) {
		if (!gelf_getshdr(s, sh) || sh->sh_type == SHT_NOBITS)
			continue;
		const char *n = elf_strptr(e, shstr, sh->sh_name);
		if (n && !strcmp(n, name))
			return s;
	}
	return NULL;
}

/* The first section of type type, or NULL. */
static Elf_Scn *section_of_type(Elf *e, unsigned type, GElf_Shdr *sh)
{
	for (Elf_Scn *s = NULL; (s = elf_nextscn(e, s));)
		if (gelf_getshdr(s, sh) && sh->sh_type == type && sh->sh_entsize &&
		    sh->sh_size >= 2 * sh->sh_entsize)
			return s;
	return NULL;
}

/* The GNU build id of e (its length, 0 if none; at most max bytes copied). */
static size_t build_id(Elf *e, unsigned char *out, size_t max)
{
	for (Elf_Scn *s = NULL; (s = elf_nextscn(e, s));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(s, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		Elf_Data *d = elf_getdata(s, NULL);
		if (!d)
			continue;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;
		while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + name_off, "GNU", 4) || !nh.n_descsz ||
			    nh.n_descsz > max)
				continue;
			memcpy(out, (const char *)d->d_buf + desc_off, nh.n_descsz);
			return nh.n_descsz;
		}
	}
	return 0;
}

/* The file name .gnu_debuglink gives, or NULL. */
static const char *debuglink(Elf *e)
{
	GElf_Shdr sh;
	Elf_Scn *s = ots_elf_section(e, ".gnu_debuglink", &sh);
	Elf_Data *d = s ? elf_getdata(s, NULL) : NULL;
	if (!d || !d->d_size || !memchr(d->d_buf, '\0', d->d_size))
		return NULL;
	const char *n = d->d_buf;
	return *n && !strchr(n, '/') ? n : NULL;
}

/* The separate debug file of the module file at path (open as e): its path
 * in out and the file open, or NULL. */
static Elf *find_debug_file(Elf *e, const char *path, char *out, size_t outlen, int *fd)
{
	unsigned char id[64];
	size_t idlen = build_id(e, id, sizeof id);
	if (idlen > 1) {
		int k = snprintf(out, outlen, "/usr/lib/debug/.build-id/%02x/", id[0]);
		for (size_t i = 1; i < idlen && k > 0 && (size_t)k < outlen - 8; i++)
			k += snprintf(out + k, outlen - (size_t)k, "%02x", id[i]);
		if (k > 0 && (size_t)k < outlen - 8) {
			snprintf(out + k, outlen - (size_t)k, ".debug");
			Elf *d = ots_elf_open(out, fd);
			if (d)
				return d;
		}
	}
	const char *link = debuglink(e);
	if (!link)
		return NULL;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	static const char *const forms[] = { "%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s" };
	for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
		if (snprintf(out, outlen, forms[f], dir, link) >= (int)outlen)
			continue;
		if (!strcmp(out, path))
			continue; /* the stripped file itself */
		Elf *d = ots_elf_open(out, fd);
		if (!d)
			continue;
		unsigned char did[64];
		if (idlen > 1 &&
		    (build_id(d, did, sizeof did) != idlen || memcmp(did, id, idlen))) {
			ots_elf_close(d, *fd);
			continue;
		}
		return d;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The table */

static int keep(const GElf_Sym *s, const char *name)
{
	int type = GELF_ST_TYPE(s->st_info);
	if (!name || !*name || !s->st_value || s->st_shndx == SHN_UNDEF ||
	    s->st_shndx == SHN_ABS || s->st_shndx == SHN_COMMON)
		return 0;
	return type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_OBJECT ||
	       (type == STT_NOTYPE && s->st_size);
}

static int ent_cmp(const void *a, const void *b)
{
	const ots_symtab_ent_t *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The kept symbols of section scn (a SYMTAB or DYNSYM) into t. */
static int read_table(ots_symtab_t *t, Elf *e, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	if (!d)
		return -EINVAL;
	size_t n = sh->sh_size / sh->sh_entsize, kept = 0, bytes = 0;
	uint64_t base = UINT64_MAX;
	for (size_t i = 1; i < n; i++) {
		GElf_Sym s;
		if (!gelf_getsym(d, (int)i, &s))
			continue;
		const char *name = elf_strptr(e, sh->sh_link, s.st_name);
		if (!keep(&s, name))
			continue;
		kept++;
		bytes += strlen(name) + 1;
		if (s.st_value < base)
			base = s.st_value;
	}
	if (!kept)
		return 0;
	t->v = malloc(kept * sizeof *t->v);
	t->names = malloc(bytes);
	if (!t->v || !t->names) {
		free(t->v);
		free(t->names);
		t->v = NULL;
		t->names = NULL;
		return -ENOMEM;
	}
	t->base = base;
	size_t k = 0, at = 0;
	for (size_t i = 1; i < n && k < kept; i++) {
		GElf_Sym s;
		if (!gelf_getsym(d, (int)i, &s))
			continue;
		const char *name = elf_strptr(e, sh->sh_link, s.st_name);
		if (!keep(&s, name) || s.st_value - base > UINT32_MAX)
			continue;
		size_t len = strlen(name) + 1;
		memcpy(t->names + at, name, len);
		t->v[k++] = (ots_symtab_ent_t){
			.lo = (uint32_t)(s.st_value - base),
			.size = s.st_size > UINT32_MAX ? UINT32_MAX : (uint32_t)s.st_size,
			.name = (uint32_t)at,
			.type = (uint8_t)GELF_ST_TYPE(s.st_info),
			.bind = (uint8_t)GELF_ST_BIND(s.st_info),
		};
		at += len;
	}
	t->n = k;
	t->names_len = at;
	qsort(t->v, k, sizeof *t->v, ent_cmp);
	return 0;
}

int ots_symtab_load(ots_symtab_t *t, const char *path)
{
	memset(t, 0, sizeof *t);
	int fd, dfd = -1;
	Elf *e = ots_elf_open(path, &fd);
	if (!e)
		return -ENOENT;
	GElf_Shdr sh, dsh;
	Elf_Scn *symtab = section_of_type(e, SHT_SYMTAB, &sh);
	int lines = ots_elf_section(e, ".debug_line", &dsh) ||
		    ots_elf_section(e, ".zdebug_line", &dsh);
	Elf *d = NULL;
	char dpath[PATH_MAX];
	if (!symtab || !lines)
		d = find_debug_file(e, path, dpath, sizeof dpath, &dfd);
	int rc;
	Elf_Scn *dsym = d && !symtab ? section_of_type(d, SHT_SYMTAB, &dsh) : NULL;
	if (symtab)
		rc = read_table(t, e, symtab, &sh);
	else if (dsym)
		rc = read_table(t, d, dsym, &dsh);
	else if ((symtab = section_of_type(e, SHT_DYNSYM, &sh)))
		rc = read_table(t, e, symtab, &sh);
	else
		rc = 0;
	if (lines)
		t->dwarf_path = strdup(path);
	else if (d && (ots_elf_section(d, ".debug_line", &dsh) ||
		       ots_elf_section(d, ".zdebug_line", &dsh)))
		t->dwarf_path = strdup(dpath);
	ots_elf_close(d, dfd);
	ots_elf_close(e, fd);
	return rc;
}

void ots_symtab_free(ots_symtab_t *t)
{
	free(t->v);
	free(t->names);
	free(t->dwarf_path);
	memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------ */
/* Lookup */

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

/* Is a better than b as the name of an address both contain? (sym.h) The
 * name decides last, deterministic among aliases. */
static int better(const ots_symtab_t *t, const ots_symtab_ent_t *a, const ots_symtab_ent_t *b)
{
	if (!b)
		return 1;
	if (a->lo != b->lo)
		return a->lo > b->lo;
	if (bind_rank(a->bind) != bind_rank(b->bind))
		return bind_rank(a->bind) > bind_rank(b->bind);
	const char *na = ots_symtab_name(t, a), *nb = ots_symtab_name(t, b);
	int ua = underscores(na), ub = underscores(nb);
	if (ua != ub)
		return ua < ub;
	size_t la = strlen(na), lb = strlen(nb);
	if (la != lb)
		return la < lb;
	return strcmp(na, nb) < 0;
}

const ots_symtab_ent_t *ots_symtab_find(const ots_symtab_t *t, uint64_t vaddr, int code)
{
	if (!t->n || vaddr < t->base || vaddr - t->base > UINT32_MAX)
		return NULL;
	uint32_t a = (uint32_t)(vaddr - t->base);
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->v[mid].lo <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	const ots_symtab_ent_t *best = NULL;
	/* lo is the first symbol past the address; look back over the candidates */
	for (size_t j = lo, seen = 0; j-- > 0 && seen < 64; seen++) {
		const ots_symtab_ent_t *c = &t->v[j];
		int is_code = c->type == STT_FUNC || c->type == STT_GNU_IFUNC;
		int is_data = c->type == STT_OBJECT || c->type == STT_NOTYPE;
		if (code ? !is_code : !is_data)
			continue;
		if ((uint64_t)a >= (uint64_t)c->lo + (c->size ? c->size : 1))
			continue;
		if (better(t, c, best))
			best = c;
	}
	return best;
}
