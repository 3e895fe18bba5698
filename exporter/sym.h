/* sym.h - the pieces of the symboliser (libotcshim-sym.so) and what they
 * cost. symbols.c keeps the address cache, the module list and the interface
 * of exp.h; symtab.c reads a module's symbol table, once, into a compact
 * sorted table; lines.c finds source lines, holding the decompressed line
 * tables only for one export pass. Every call is made with symbols.c's lock
 * held; nothing here is reached from a hook.
 */
#ifndef OTS_SYM_H
#define OTS_SYM_H

#include <gelf.h>
#include <stddef.h>
#include <stdint.h>

/* ---- symtab.c ----------------------------------------------------------- */

/* One symbol: 16 bytes. lo is relative to the table's base (a module's
 * symbols span far less than 4 GB), name an offset into the table's names. */
typedef struct ots_symtab_ent {
	uint32_t lo, size, name;
	uint8_t type, bind;
	uint16_t pad;
} ots_symtab_ent_t;

typedef struct ots_symtab {
	uint64_t base;         /* link-time address lo counts from */
	ots_symtab_ent_t *v;   /* sorted by lo */
	size_t n;
	char *names;           /* the kept names, NUL-terminated, one blob */
	size_t names_len;
	char *dwarf_path;      /* the file with the module's .debug_line, or NULL */
} ots_symtab_t;

/* Reads the function and object symbols of the ELF file at path: its own
 * .symtab, else that of its separate debug file (by build id under
 * /usr/lib/debug/.build-id, else by .gnu_debuglink: next to the file, in its
 * .debug directory, under /usr/lib/debug; on this machine only), else its
 * .dynsym. The files are mapped while they are read and closed before it
 * returns. Notes in dwarf_path which file has the line tables. 0 or -errno;
 * t is usable (perhaps empty) either way. */
int ots_symtab_load(ots_symtab_t *t, const char *path);
void ots_symtab_free(ots_symtab_t *t);
/* The best function (code != 0) or object symbol that contains the
 * link-time address vaddr, or NULL. A sizeless symbol covers its own
 * address only. Among several: the innermost, then global before weak before
 * local, then the fewest leading underscores, then the shortest name. */
const ots_symtab_ent_t *ots_symtab_find(const ots_symtab_t *t, uint64_t vaddr, int code);
static inline uint64_t ots_symtab_addr(const ots_symtab_t *t, const ots_symtab_ent_t *e)
{
	return t->base + e->lo;
}
static inline const char *ots_symtab_name(const ots_symtab_t *t, const ots_symtab_ent_t *e)
{
	return t->names + e->name;
}

/* The ELF file at path, mapped read-only (ELF_C_READ_MMAP), with *fd its
 * descriptor; NULL if it cannot be read as ELF. ots_elf_close undoes it. */
Elf *ots_elf_open(const char *path, int *fd);
void ots_elf_close(Elf *e, int fd);
/* The section of e called name (a NOBITS one counts as absent), or NULL. */
Elf_Scn *ots_elf_section(Elf *e, const char *name, GElf_Shdr *sh);

/* ---- lines.c ------------------------------------------------------------ */

/* A module's line tables: an index kept for the module's life (16 bytes per
 * run of rows of one line program, 33 KB for libc), and, during one
 * export pass only, the decompressed .debug_line (and .debug_line_str) with
 * libdw's parse of the line programs actually asked about. */
typedef struct ots_lines ots_lines_t;

/* The caps. A module whose line sections exceed OTS_LINES_MAX_BYTES once
 * decompressed has no source lines (its functions are still named). Open
 * line tables of all modules together stay under it: opening one more
 * closes the others first. libdw's parse is dropped and started again past
 * OTS_LINES_MAX_ROWS rows (about 35 bytes each). */
#define OTS_LINES_MAX_BYTES (16u << 20)
#define OTS_LINES_MAX_ROWS 65536u

/* The source file and line of link-time address vaddr in the module whose
 * line tables are in the file at path; *lp is the module's state (NULL at
 * first, made here). Returns the file name (valid until the next
 * ots_lines_release_all) and sets *line, or returns NULL. */
const char *ots_lines_find(ots_lines_t **lp, const char *path, uint64_t vaddr, int *line);
/* The end of a pass: every module's decompressed tables and libdw state go
 * (unmapped, freed); the indexes stay. */
void ots_lines_release_all(void);
/* A module leaves: its state and index go. */
void ots_lines_free(ots_lines_t *l);
/* After fork, when the parent was inside the symboliser: forget (leak) the
 * list of open tables, which may be half-updated. */
void ots_lines_forget(void);
/* Bytes held now: open tables (the pass) and indexes (for good). */
void ots_lines_usage(size_t *open_bytes, size_t *index_bytes);

#endif
