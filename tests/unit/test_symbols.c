/* Unit tests for exporter/symbols.c, resolving addresses of this very test
 * program (built with -g, not stripped), of libc, and of shared objects it
 * dlopens and dlcloses. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../exporter/exp.h"
#include "../harness.h"

static pthread_mutex_t sym_static_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t sym_global_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sym_table[4];

__attribute__((noinline, noipa)) static uintptr_t return_address(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

static int ra_line;

/* A return address inside a function with a known name and line. */
__attribute__((noinline, noipa)) static uintptr_t sym_probe_site(void)
{
	ra_line = __LINE__ + 1;
	uintptr_t ra = return_address();
	__asm__ volatile("" ::: "memory");
	return ra;
}

__attribute__((noinline, noipa)) static int sym_static_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

Test(symbols, names_static_and_global_objects)
{
	cr_assert_str_eq(ots_sym_object((uintptr_t)&sym_static_lock), "sym_static_lock");
	cr_assert_str_eq(ots_sym_object((uintptr_t)&sym_global_lock), "sym_global_lock");
	/* an element of an array: the symbol and the offset */
	const char *t = ots_sym_object((uintptr_t)&sym_table[1]);
	char want[64];
	snprintf(want, sizeof want, "sym_table+0x%zx", sizeof(pthread_mutex_t));
	cr_assert_str_eq(t, want);
	/* inside the lock, not at its start, still names it */
	cr_assert_str_eq(ots_sym_object((uintptr_t)&sym_static_lock + 8), "sym_static_lock+0x8");
}

Test(symbols, functions_are_not_lock_objects)
{
	/* code is not an object: a lock name never comes out as a function */
	cr_assert_null(ots_sym_object((uintptr_t)&sym_static_function));
}

Test(symbols, heap_lock_is_named_after_its_first_waiter)
{
	pthread_mutex_t *heap = malloc(sizeof *heap);
	cr_assert_null(ots_sym_object((uintptr_t)heap), "nothing known about it yet");
	ots_rec_t r;
	memset(&r, 0, sizeof r);
	r.kind = OTS_REC_WAIT;
	r.op = OTS_OP_MUTEX_LOCK;
	r.tid = 1;
	r.obj = (uintptr_t)heap;
	/* a libc frame first: skipped, the waiter is the first frame outside */
	r.frames[0] = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid") + 1;
	r.frames[1] = sym_probe_site();
	r.nframes = 2;
	ots_lockstat_add(&r, 1000);
	cr_assert_str_eq(ots_sym_object((uintptr_t)heap), "@sym_probe_site");
	free(heap);
}

Test(symbols, static_functions_and_frames_with_lines)
{
	cr_assert_str_eq(ots_sym_function((uintptr_t)&sym_static_function), "sym_static_function");
	uintptr_t ra = sym_probe_site();
	cr_assert_str_eq(ots_sym_function(ra), "sym_probe_site");
	const char *f = ots_sym_frame(ra);
	char want[64];
	snprintf(want, sizeof want, "test_symbols.c:%d", ra_line);
	cr_assert(strstr(f, "sym_probe_site+0x"), "frame: %s", f);
	cr_assert(strstr(f, "(otcshim_tests)"), "module in the frame: %s", f);
	cr_assert(strstr(f, want), "file:line %s in the frame: %s", want, f);
	ots_sym_info_t si;
	ots_sym_info(ra, &si);
	cr_assert_str_eq(si.function, "sym_probe_site");
	cr_assert_eq(si.line, ra_line);
	cr_assert_str_eq(si.module, "otcshim_tests");
	cr_assert_not(si.internal);
	/* cached: the same string comes back */
	cr_assert_eq(ots_sym_frame(ra), f);
}

Test(symbols, internal_means_shim_or_libc)
{
	uintptr_t getpid_addr = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	cr_assert(ots_sym_is_internal(getpid_addr), "libc is internal");
	cr_assert(ots_sym_is_internal((uintptr_t)&ots_lockstat_add), "the shim's core is internal");
	cr_assert_not(ots_sym_is_internal((uintptr_t)&sym_static_function));
	ots_sym_info_t si;
	ots_sym_info(getpid_addr, &si);
	cr_assert(si.module && !strncmp(si.module, "libc.so", 7), "module %s", si.module);
}

Test(symbols, unmapped_addresses_degrade_to_hex)
{
	cr_assert_str_eq(ots_sym_frame(0x10), "0x10");
	cr_assert_null(ots_sym_function(0x10));
	cr_assert_null(ots_sym_object(0x10));
	cr_assert_not(ots_sym_is_internal(0x10));
	cr_assert_null(ots_sym_object(0));
}

Test(symbols, versioned_and_mangled_names_are_cleaned)
{
	/* libstdc++ carries both a C++ runtime (for demangling) and mangled names */
	void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL);
	if (!h)
		cr_skip_test("no libstdc++.so.6 here");
	void *fn = dlsym(h, "_ZNSt6thread20hardware_concurrencyEv");
	cr_assert_not_null(fn);
	const char *name = ots_sym_function((uintptr_t)fn);
	cr_assert_not_null(name);
	cr_assert_str_eq(name, "std::thread::hardware_concurrency()");
	/* no "@@GLIBC_..." version suffix, whatever table the name came from */
	const char *m = ots_sym_function((uintptr_t)dlsym(RTLD_DEFAULT, "memcpy"));
	cr_assert(m && !strchr(m, '@'), "memcpy resolves to %s", m ? m : "(null)");
}

/* dlopen, resolve, dlclose, dlopen another object (the loader tends to map it
 * at the same place): the cache must not hand out the first object's names. */
Test(symbols, dlclose_never_leaves_stale_names)
{
	char pa[1024], pb[1024];
	snprintf(pa, sizeof pa, "%s", ots_path("progs/dlopen_a.so"));
	snprintf(pb, sizeof pb, "%s", ots_path("progs/dlopen_b.so"));
	void *a = dlopen(pa, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(a, "%s", dlerror());
	uintptr_t fa = (uintptr_t)dlsym(a, "mod_a_work");
	cr_assert_str_eq(ots_sym_function(fa), "mod_a_work");
	cr_assert(strstr(ots_sym_frame(fa + 4), "(dlopen_a.so)"), "%s", ots_sym_frame(fa + 4));
	cr_assert_eq(dlclose(a), 0);

	void *b = dlopen(pb, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(b, "%s", dlerror());
	uintptr_t fb = (uintptr_t)dlsym(b, "mod_b_work");
	cr_assert_str_eq(ots_sym_function(fb), "mod_b_work");
	const char *old = ots_sym_function(fa);
	cr_assert(!old || strcmp(old, "mod_a_work"), "a stale name for an unloaded object");
	if (fa == fb)
		cr_assert_str_eq(old, "mod_b_work", "same address, new object, new name");
	cr_assert_null(strstr(ots_sym_frame(fa + 4), "dlopen_a.so"));
	dlclose(b);
	/* names of the program itself survive the module changes */
	cr_assert_str_eq(ots_sym_function((uintptr_t)&sym_static_function), "sym_static_function");
}

Test(symbols, deadline_falls_back_to_dladdr)
{
	uintptr_t cached = (uintptr_t)&sym_static_function;
	cr_assert_str_eq(ots_sym_function(cached), "sym_static_function");
	ots_sym_set_deadline(1); /* long past */
	/* cached answers stay; new ones come from the dynamic symbol table only,
	 * where a static function is not: no name, and above all no hang */
	cr_assert_str_eq(ots_sym_function(cached), "sym_static_function");
	uintptr_t ra = sym_probe_site();
	const char *f = ots_sym_frame(ra);
	cr_assert_not_null(f);
	cr_assert_null(strstr(f, "test_symbols.c"), "no DWARF past the deadline: %s", f);
	uintptr_t getpid_addr = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	const char *g = ots_sym_function(getpid_addr);
	cr_assert(g && strstr(g, "getpid"), "dladdr still names exports: %s", g ? g : "(null)");
	ots_sym_set_deadline(0);
}

Test(symbols, reset_then_resolve_again)
{
	const char *f1 = ots_sym_function((uintptr_t)&sym_static_function);
	cr_assert_str_eq(f1, "sym_static_function");
	ots_sym_reset();
	cr_assert_str_eq(ots_sym_function((uintptr_t)&sym_static_function), "sym_static_function");
	cr_assert_str_eq(ots_sym_object((uintptr_t)&sym_global_lock), "sym_global_lock");
}

static void *resolve_many(void *arg)
{
	(void)arg;
	uintptr_t base = (uintptr_t)&sym_static_function;
	for (int round = 0; round < 3; round++)
		for (uintptr_t i = 0; i < 200; i++) {
			const char *f = ots_sym_frame(base + i);
			if (!f || !*f)
				return (void *)1;
		}
	return NULL;
}

Test(symbols, callers_in_two_threads)
{
	pthread_t t1, t2;
	pthread_create(&t1, NULL, resolve_many, NULL);
	pthread_create(&t2, NULL, resolve_many, NULL);
	void *r1, *r2;
	pthread_join(t1, &r1);
	pthread_join(t2, &r2);
	cr_assert_null(r1);
	cr_assert_null(r2);
	cr_assert_str_eq(ots_sym_function((uintptr_t)&sym_static_function + 1), "sym_static_function");
}
