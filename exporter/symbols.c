/* symbols.c - addresses to names, in the exporter thread only.
 *
 * First version: dladdr() on the dynamic symbol table. Static functions and
 * file:line need the ELF and DWARF tables (issue 5 brings libdw).
 */
#include "exp.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static char scratch[512];

const char *ots_sym_function(uint64_t addr)
{
	Dl_info info;
	if (!dladdr((void *)(uintptr_t)addr, &info) || !info.dli_sname)
		return NULL;
	return info.dli_sname;
}

const char *ots_sym_frame(uint64_t addr)
{
	Dl_info info;
	if (!dladdr((void *)(uintptr_t)addr, &info)) {
		snprintf(scratch, sizeof scratch, "0x%llx", (unsigned long long)addr);
		return scratch;
	}
	const char *mod = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
	mod = mod ? mod + 1 : (info.dli_fname ? info.dli_fname : "?");
	if (info.dli_sname)
		snprintf(scratch, sizeof scratch, "%s+0x%llx (%s)", info.dli_sname,
			 (unsigned long long)(addr - (uintptr_t)info.dli_saddr), mod);
	else
		snprintf(scratch, sizeof scratch, "0x%llx (%s+0x%llx)", (unsigned long long)addr, mod,
			 (unsigned long long)(addr - (uintptr_t)info.dli_fbase));
	return scratch;
}

const char *ots_sym_object(uint64_t addr)
{
	Dl_info info;
	if (!dladdr((void *)(uintptr_t)addr, &info) || !info.dli_sname || !info.dli_saddr)
		return NULL;
	return info.dli_sname;
}

bool ots_sym_is_internal(uint64_t addr)
{
	Dl_info info;
	if (!dladdr((void *)(uintptr_t)addr, &info) || !info.dli_fname)
		return false;
	return strstr(info.dli_fname, "libc.so") || strstr(info.dli_fname, "libotcshim");
}

void ots_sym_reset(void)
{
}
