/* lines.c - source lines of return addresses, at a bounded cost to the host.
 *
 * libdw's usual way in (dwarf_begin on the debug file, then a CU by address)
 * decompresses every debug section of the file up front and parses the CU
 * tree: for libc6-dbg's libc that is 14 MB at once, and the 20-35 MB a
 * server's RSS grew by at its first export. Only .debug_line is needed for
 * file:line, so this file reads nothing else:
 *
 * - The index. The first time a module is asked for a line, its .debug_line
 *   is decompressed (zlib, straight into an anonymous mapping) and every line
 *   program's rows are walked once for their addresses only. The result is a
 *   sorted array of runs (start, length, the program's offset): a sequence's
 *   rows, split where the next row is more than SPLIT bytes away (glibc puts
 *   a function's cold part and its __libc_freeres_fn part megabytes away
 *   from the rest, in the same sequence). 2,066 runs, 33 KB, for libc.
 *   It is kept for the module's life.
 * - The tables. For the rows themselves the decompressed .debug_line and
 *   .debug_line_str are put in a small ELF image in memory that holds those
 *   sections only, and libdw parses, through dwarf_next_lines, just the line
 *   programs that the addresses asked about fall in (DWARF 5 tables are self
 *   contained; DWARF 4 ones name files relative to a compilation directory
 *   that is then not known). The image and libdw's state stay open for the
 *   rest of the export pass and are dropped by ots_lines_release_all: the
 *   image is unmapped (back to the kernel, not to an allocator), libdw's
 *   parse freed to the host's allocator for its own use.
 *
 * The caps are in sym.h: OTS_LINES_MAX_BYTES of open tables (of a module, and
 * of all at once), OTS_LINES_MAX_ROWS rows of libdw's parse.
 */
#include "exp.h"
#include "sym.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#define SPLIT 4096u /* rows farther apart than this end a run */
#define TAIL 256u   /* what the last row of a run is taken to cover */
#define UNITS_MAX 64 /* line programs parsed by one libdw session */

typedef struct run {
	uint64_t lo;
	uint32_t len;
	uint32_t unit; /* offset of its line program in .debug_line */
} run_t;

struct ots_lines {
	int state; /* 0 not indexed yet, 1 indexed, -1 no lines */
	int need_str; /* some program names files through .debug_str */
	run_t *runs;
	size_t nruns;
	/* this pass only */
	char *img;
	size_t img_len;
	Elf *elf;
	Dwarf *dw;
	size_t rows;
	uint32_t units[UNITS_MAX];
	int nunits;
	struct ots_lines *next_open; /* the list of open ones */
};

static ots_lines_t *open_list;
static size_t open_bytes, index_bytes;

/* ------------------------------------------------------------------------ */
/* The image: an ELF object of the line sections only. */

typedef struct src_sect {
	const char *name; /* as libdw knows it */
	Elf_Scn *scn;
	GElf_Shdr sh;
	int gnu; /* .zdebug_*: "ZLIB", 8-byte big-endian size, zlib stream */
	size_t size; /* decompressed */
} src_sect_t;

static int find_sect(Elf *e, int fd, src_sect_t *s)
{
	char z[64];
	s->gnu = 0;
	s->scn = ots_elf_section(e, s->name, &s->sh);
	if (!s->scn) {
		snprintf(z, sizeof z, ".z%s", s->name + 1);
		s->scn = ots_elf_section(e, z, &s->sh);
		s->gnu = s->scn != NULL;
	}
	if (!s->scn)
		return 0;
	if (s->sh.sh_flags & SHF_COMPRESSED) {
		GElf_Chdr ch;
		if (!gelf_getchdr(s->scn, &ch) || ch.ch_type != ELFCOMPRESS_ZLIB)
			return -1;
		s->size = ch.ch_size;
	} else if (s->gnu) {
		unsigned char h[12];
		if (s->sh.sh_size < 12 || pread(fd, h, 12, (off_t)s->sh.sh_offset) != 12 ||
		    memcmp(h, "ZLIB", 4))
			return -1;
		s->size = 0;
		for (int i = 4; i < 12; i++)
			s->size = s->size << 8 | h[i];
	} else {
		s->size = s->sh.sh_size;
	}
	return 1;
}

/* The section's bytes, decompressed into out (s->size bytes). Read from
 * the file in small pieces (pread), not through the mapping, so that the
 * compressed bytes never count in the host's RSS. */
static int fill_sect(const src_sect_t *s, char *out, int fd, int elfclass)
{
	off_t at = (off_t)s->sh.sh_offset;
	size_t left = s->sh.sh_size;
	if (!(s->sh.sh_flags & SHF_COMPRESSED) && !s->gnu) {
		while (left) {
			ssize_t n = pread(fd, out, left, at);
			if (n <= 0)
				return -1;
			out += n;
			at += n;
			left -= (size_t)n;
		}
		return 0;
	}
	size_t chdr = elfclass == ELFCLASS64 ? sizeof(Elf64_Chdr) : sizeof(Elf32_Chdr);
	size_t skip = s->gnu ? 12 : chdr;
	if (left < skip)
		return -1;
	at += (off_t)skip;
	left -= skip;
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit(&z) != Z_OK)
		return -1;
	unsigned char in[16384];
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)s->size;
	int rc = Z_OK;
	while (rc == Z_OK && left) {
		ssize_t n = pread(fd, in, left < sizeof in ? left : sizeof in, at);
		if (n <= 0)
			break;
		at += n;
		left -= (size_t)n;
		z.next_in = in;
		z.avail_in = (uInt)n;
		rc = inflate(&z, Z_NO_FLUSH);
	}
	size_t got = s->size - z.avail_out;
	inflateEnd(&z);
	return rc == Z_STREAM_END && got == s->size ? 0 : -1;
}

static void close_tables(ots_lines_t *l)
{
	if (!l->img)
		return;
	if (l->dw)
		dwarf_end(l->dw);
	if (l->elf)
		elf_end(l->elf);
	munmap(l->img, l->img_len);
	open_bytes -= l->img_len;
	l->img = NULL;
	l->img_len = 0;
	l->elf = NULL;
	l->dw = NULL;
	l->rows = 0;
	l->nunits = 0;
	for (ots_lines_t **pp = &open_list; *pp; pp = &(*pp)->next_open)
		if (*pp == l) {
			*pp = l->next_open;
			break;
		}
	l->next_open = NULL;
}

/* Open the module's tables for this pass: .debug_line, .debug_line_str and,
 * when a program needs it, .debug_str, decompressed into one image. */
static int open_tables(ots_lines_t *l, const char *path)
{
	int fd;
	Elf *e = ots_elf_open(path, &fd);
	if (!e)
		return -ENOENT;
	GElf_Ehdr eh;
	src_sect_t s[3] = { { .name = ".debug_line" }, { .name = ".debug_line_str" },
			    { .name = ".debug_str" } };
	int ns = l->need_str ? 3 : 2;
	int rc = gelf_getehdr(e, &eh) ? 0 : -EINVAL;
	if (!rc && find_sect(e, fd, &s[0]) != 1)
		rc = -ENOENT;
	for (int i = 1; !rc && i < ns; i++)
		if (find_sect(e, fd, &s[i]) < 0)
			rc = -EINVAL;
	static const char shstr[] = "\0.shstrtab\0.debug_line\0.debug_line_str\0.debug_str";
	static const unsigned name_at[3] = { 11, 23, 39 };
	size_t at = sizeof(ElfW(Ehdr)), data_at[3] = { 0, 0, 0 };
	for (int i = 0; !rc && i < ns; i++) {
		if (!s[i].scn)
			continue;
		data_at[i] = at;
		at += s[i].size;
	}
	size_t shstr_at = at, sh_at = (shstr_at + sizeof shstr + 7) & ~(size_t)7;
	size_t len = sh_at + 5 * sizeof(ElfW(Shdr));
	if (!rc && (len > OTS_LINES_MAX_BYTES))
		rc = -EFBIG;
	if (rc) {
		ots_elf_close(e, fd);
		return rc;
	}
	/* stay under the cap with every module's open tables together */
	while (open_list && open_bytes + len > OTS_LINES_MAX_BYTES)
		close_tables(open_list);
	char *img = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (img == MAP_FAILED) {
		ots_elf_close(e, fd);
		return -ENOMEM;
	}
	for (int i = 0; !rc && i < ns; i++)
		if (s[i].scn && fill_sect(&s[i], img + data_at[i], fd, eh.e_ident[EI_CLASS]) < 0)
			rc = -EINVAL;
	ots_elf_close(e, fd);
	if (rc) {
		munmap(img, len);
		return rc;
	}
	memcpy(img + shstr_at, shstr, sizeof shstr);
	ElfW(Ehdr) *h = (ElfW(Ehdr) *)img;
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
	h->e_ident[EI_DATA] = eh.e_ident[EI_DATA];
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_REL;
	h->e_machine = eh.e_machine;
	h->e_version = EV_CURRENT;
	h->e_ehsize = sizeof *h;
	h->e_shoff = sh_at;
	h->e_shentsize = sizeof(ElfW(Shdr));
	ElfW(Shdr) *sh = (ElfW(Shdr) *)(img + sh_at);
	int n = 1;
	for (int i = 0; i < ns; i++) {
		if (!s[i].scn)
			continue;
		sh[n].sh_name = name_at[i];
		sh[n].sh_type = SHT_PROGBITS;
		sh[n].sh_flags = i ? SHF_MERGE | SHF_STRINGS : 0;
		sh[n].sh_entsize = i ? 1 : 0;
		sh[n].sh_offset = data_at[i];
		sh[n].sh_size = s[i].size;
		sh[n].sh_addralign = 1;
		n++;
	}
	sh[n].sh_name = 1;
	sh[n].sh_type = SHT_STRTAB;
	sh[n].sh_offset = shstr_at;
	sh[n].sh_size = sizeof shstr;
	sh[n].sh_addralign = 1;
	h->e_shstrndx = (uint16_t)n;
	h->e_shnum = (uint16_t)(n + 1);
	l->img = img;
	l->img_len = len;
	open_bytes += len;
	l->next_open = open_list;
	open_list = l;
	return 0;
}

/* libdw over the image (again, when the last session parsed too much). */
static Dwarf *session(ots_lines_t *l)
{
	if (l->dw && (l->rows < OTS_LINES_MAX_ROWS && l->nunits < UNITS_MAX))
		return l->dw;
	if (l->dw)
		dwarf_end(l->dw);
	l->dw = NULL;
	l->rows = 0;
	l->nunits = 0;
	if (!l->elf)
		l->elf = elf_memory(l->img, l->img_len);
	if (l->elf)
		l->dw = dwarf_begin_elf(l->elf, DWARF_C_READ, NULL);
	return l->dw;
}

/* ------------------------------------------------------------------------ */
/* The index: every line program walked for its row addresses only. */

typedef struct rd {
	const unsigned char *p, *end;
	int bad;
} rd_t;

static uint64_t rd_fixed(rd_t *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		r->p = r->end;
		return 0;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) /* little-endian: the hosts this runs on */
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

static uint64_t rd_uleb(rd_t *r)
{
	uint64_t v = 0;
	for (int shift = 0; r->p < r->end; shift += 7) {
		unsigned char b = *r->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return v;
}

typedef struct build {
	run_t *v;
	size_t n, cap;
	int oom;
} build_t;

static void add_run(build_t *b, uint64_t lo, uint64_t hi, uint64_t unit)
{
	if (!lo || hi <= lo || unit > UINT32_MAX)
		return; /* address 0: a discarded function's rows */
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 256;
		run_t *nv = realloc(b->v, ncap * sizeof *nv);
		if (!nv) {
			b->oom = 1;
			return;
		}
		b->v = nv;
		b->cap = ncap;
	}
	uint64_t len = hi - lo;
	b->v[b->n++] = (run_t){ lo, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, (uint32_t)unit };
}

static int is_str_form(uint64_t form)
{
	return form == DW_FORM_strp || form == DW_FORM_strx || form == DW_FORM_strx1 ||
	       form == DW_FORM_strx2 || form == DW_FORM_strx3 || form == DW_FORM_strx4;
}

/* Past one attribute value of form; 0 if the form is not one line tables use. */
static int skip_form(rd_t *r, uint64_t form, int off8)
{
	switch (form) {
	case DW_FORM_string:
		while (r->p < r->end && *r->p)
			r->p++;
		(void)rd_fixed(r, 1);
		return 1;
	case DW_FORM_line_strp:
	case DW_FORM_strp:
	case DW_FORM_sec_offset:
		(void)rd_fixed(r, off8 ? 8 : 4);
		return 1;
	case DW_FORM_udata:
	case DW_FORM_strx:
		(void)rd_uleb(r);
		return 1;
	case DW_FORM_data1:
	case DW_FORM_strx1:
		(void)rd_fixed(r, 1);
		return 1;
	case DW_FORM_data2:
	case DW_FORM_strx2:
		(void)rd_fixed(r, 2);
		return 1;
	case DW_FORM_strx3:
		(void)rd_fixed(r, 3);
		return 1;
	case DW_FORM_data4:
	case DW_FORM_strx4:
		(void)rd_fixed(r, 4);
		return 1;
	case DW_FORM_data8:
		(void)rd_fixed(r, 8);
		return 1;
	case DW_FORM_data16:
		(void)rd_fixed(r, 16);
		return 1;
	case DW_FORM_block: {
		uint64_t n = rd_uleb(r);
		if (n > (uint64_t)(r->end - r->p))
			r->bad = 1;
		else
			r->p += n;
		return 1;
	}
	default:
		return 0;
	}
}

/* Do a DWARF 5 header's directory or file entries (at r->p: the format
 * list, then the entries) name anything through .debug_str? 1 also when in
 * doubt (a form this walk does not know). */
static int entries_use_str(rd_t *r, int off8)
{
	uint64_t forms[32];
	unsigned nfmt = (unsigned)rd_fixed(r, 1);
	if (nfmt > 32)
		return 1;
	int uses = 0;
	for (unsigned i = 0; i < nfmt; i++) {
		(void)rd_uleb(r); /* content type */
		forms[i] = rd_uleb(r);
		uses |= is_str_form(forms[i]);
	}
	uint64_t count = rd_uleb(r);
	for (uint64_t k = 0; k < count && !r->bad; k++)
		for (unsigned i = 0; i < nfmt; i++)
			if (!skip_form(r, forms[i], off8))
				return 1;
	return uses || r->bad;
}

/* One line program at unit (its header is at r->p); its runs into b. */
static void walk_program(rd_t *r, uint64_t unit, build_t *b, int *need_str)
{
	uint64_t ulen = rd_fixed(r, 4);
	int off8 = 0;
	if (ulen == 0xffffffffu) {
		ulen = rd_fixed(r, 8);
		off8 = 1;
	}
	if (r->bad || ulen > (uint64_t)(r->end - r->p)) {
		r->bad = 1;
		return;
	}
	rd_t u = { r->p, r->p + ulen, 0 };
	r->p += ulen;
	unsigned version = (unsigned)rd_fixed(&u, 2);
	if (version < 2 || version > 5)
		return;
	if (version >= 5)
		(void)rd_fixed(&u, 2); /* address_size, segment_selector_size */
	uint64_t hlen = rd_fixed(&u, off8 ? 8 : 4);
	if (u.bad || hlen > (uint64_t)(u.end - u.p))
		return;
	const unsigned char *prog = u.p + hlen;
	unsigned min_inst = (unsigned)rd_fixed(&u, 1);
	if (version >= 4)
		(void)rd_fixed(&u, 1); /* maximum_operations_per_instruction */
	(void)rd_fixed(&u, 1);         /* default_is_stmt */
	(void)rd_fixed(&u, 1);         /* line_base */
	unsigned line_range = (unsigned)rd_fixed(&u, 1);
	unsigned opcode_base = (unsigned)rd_fixed(&u, 1);
	if (u.bad || !line_range || !opcode_base)
		return;
	unsigned char std_len[256] = { 0 };
	for (unsigned i = 1; i < opcode_base; i++)
		std_len[i] = (unsigned char)rd_fixed(&u, 1);
	if (version >= 5 && !*need_str) {
		/* gcc and clang name directories and files by DW_FORM_line_strp;
		 * another producer may use .debug_str, which is then opened too */
		rd_t hd = { u.p, prog, 0 };
		*need_str = entries_use_str(&hd, off8) || entries_use_str(&hd, off8);
	}
	rd_t pr = { prog, u.end, 0 };
	uint64_t addr = 0, run_lo = 0, prev = 0;
	int in_seq = 0;
#define ROW()                                                                   \
	do {                                                                    \
		if (!in_seq) {                                                  \
			in_seq = 1;                                             \
			run_lo = addr;                                          \
		} else if (addr < prev || addr - prev > SPLIT) {                \
			add_run(b, run_lo, prev + TAIL, unit);                  \
			run_lo = addr;                                          \
		}                                                               \
		prev = addr;                                                    \
	} while (0)
	while (pr.p < pr.end && !pr.bad) {
		unsigned op = *pr.p++;
		if (op >= opcode_base) {
			addr += (uint64_t)((op - opcode_base) / line_range) * min_inst;
			ROW();
			continue;
		}
		switch (op) {
		case 0: { /* extended */
			uint64_t len = rd_uleb(&pr);
			if (!len || len > (uint64_t)(pr.end - pr.p)) {
				pr.bad = 1;
				break;
			}
			const unsigned char *next = pr.p + len;
			unsigned sub = *pr.p++;
			if (sub == DW_LNE_end_sequence) {
				if (in_seq)
					add_run(b, run_lo, addr - prev > SPLIT ? prev + TAIL : addr,
						unit);
				in_seq = 0;
				addr = 0;
			} else if (sub == DW_LNE_set_address) {
				addr = rd_fixed(&pr, (size_t)(len - 1) > 8 ? 8 : (size_t)(len - 1));
			}
			pr.p = next;
			break;
		}
		case DW_LNS_copy:
			ROW();
			break;
		case DW_LNS_advance_pc:
			addr += rd_uleb(&pr) * min_inst;
			break;
		case DW_LNS_const_add_pc:
			addr += (uint64_t)((255 - opcode_base) / line_range) * min_inst;
			break;
		case DW_LNS_fixed_advance_pc:
			addr += rd_fixed(&pr, 2);
			break;
		default:
			for (unsigned i = 0; i < std_len[op]; i++)
				(void)rd_uleb(&pr);
		}
	}
#undef ROW
}

static int run_cmp(const void *a, const void *b)
{
	const run_t *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void build_index(ots_lines_t *l)
{
	/* the first section of the image is .debug_line */
	const ElfW(Ehdr) *h = (const ElfW(Ehdr) *)l->img;
	const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(l->img + h->e_shoff);
	rd_t r = { (const unsigned char *)l->img + sh[1].sh_offset,
		   (const unsigned char *)l->img + sh[1].sh_offset + sh[1].sh_size, 0 };
	const unsigned char *start = r.p;
	build_t b = { 0 };
	int need_str = 0;
	while (r.p < r.end && !r.bad && !b.oom)
		walk_program(&r, (uint64_t)(r.p - start), &b, &need_str);
	if (b.oom || !b.n) {
		free(b.v);
		l->state = -1;
		return;
	}
	qsort(b.v, b.n, sizeof *b.v, run_cmp);
	run_t *fit = realloc(b.v, b.n * sizeof *b.v);
	l->runs = fit ? fit : b.v;
	l->nruns = b.n;
	l->need_str = need_str;
	l->state = 1;
	index_bytes += b.n * sizeof *b.v;
}

/* The line program of vaddr: of the runs that contain it, the one that
 * starts last. */
static int unit_of(const ots_lines_t *l, uint64_t vaddr, uint32_t *unit)
{
	size_t lo = 0, hi = l->nruns;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->runs[mid].lo <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t j = lo, seen = 0; j-- > 0 && seen < 32; seen++)
		if (vaddr - l->runs[j].lo < l->runs[j].len) {
			*unit = l->runs[j].unit;
			return 1;
		}
	return 0;
}

/* ------------------------------------------------------------------------ */

const char *ots_lines_find(ots_lines_t **lp, const char *path, uint64_t vaddr, int *line)
{
	ots_lines_t *l = *lp;
	if (!l) {
		l = calloc(1, sizeof *l);
		if (!l)
			return NULL;
		*lp = l;
	}
	if (l->state < 0)
		return NULL;
	if (!l->img) {
		int rc = open_tables(l, path);
		if (rc) {
			if (rc != -ENOMEM)
				l->state = -1; /* too big, unreadable, compressed otherwise */
			return NULL;
		}
	}
	if (l->state == 0) {
		build_index(l);
		if (l->state < 0) {
			close_tables(l);
			return NULL;
		}
		if (l->need_str) {
			/* open again with .debug_str */
			close_tables(l);
			if (open_tables(l, path)) {
				l->need_str = 0;
				return NULL;
			}
		}
	}
	uint32_t unit;
	if (!unit_of(l, vaddr, &unit))
		return NULL;
	int parsed = 0;
	for (int i = 0; i < l->nunits && !parsed; i++)
		parsed = l->units[i] == unit;
	Dwarf *dw = parsed ? l->dw : session(l);
	if (!dw)
		return NULL;
	Dwarf_Off next;
	Dwarf_CU *cu = NULL;
	Dwarf_Lines *lines;
	size_t nlines;
	if (dwarf_next_lines(dw, unit, &next, &cu, NULL, NULL, &lines, &nlines) != 0 || !nlines)
		return NULL;
	if (!parsed) {
		l->units[l->nunits++] = unit;
		l->rows += nlines;
	}
	/* the last row at or below vaddr, unless it ends a sequence */
	size_t lo = 0, hi = nlines;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		Dwarf_Addr a;
		if (dwarf_lineaddr(dwarf_onesrcline(lines, mid), &a) == 0 && a <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	Dwarf_Line *row = dwarf_onesrcline(lines, lo - 1);
	bool end = false;
	int n = 0;
	if (!row || dwarf_lineendsequence(row, &end) || end || dwarf_lineno(row, &n) || n <= 0)
		return NULL;
	const char *file = dwarf_linesrc(row, NULL, NULL);
	if (!file || !*file)
		return NULL;
	*line = n;
	return file;
}

void ots_lines_release_all(void)
{
	while (open_list)
		close_tables(open_list);
}

void ots_lines_free(ots_lines_t *l)
{
	if (!l)
		return;
	close_tables(l);
	if (l->state > 0)
		index_bytes -= l->nruns * sizeof *l->runs;
	free(l->runs);
	free(l);
}

void ots_lines_forget(void)
{
	open_list = NULL;
	open_bytes = 0;
	index_bytes = 0;
}

void ots_lines_usage(size_t *open_out, size_t *index_out)
{
	*open_out = open_bytes;
	*index_out = index_bytes;
}
