/* Integration tests of stacks and names on spans: depth, the shim's frames
 * left out, file:line, static symbols, lock names, and code loaded and
 * unloaded with dlopen/dlclose. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"

static int count_lines(const char *s)
{
	int n = 1;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const tspan_t *deep_span(trun_t *r, const char *depth_env, int depth)
{
	char d[16];
	snprintf(d, sizeof d, "%d", depth);
	const char *argv[] = { "progs/stack_deep", d, NULL };
	const char *env[] = { depth_env, NULL };
	cr_assert_eq(trun(r, argv, depth_env ? env : NULL, 1), 0);
	cr_assert_eq(r->exit_code, 0, "stderr: %s", r->err);
	const tspan_t *s = tspan_find(r, "pthread_mutex_lock", 0);
	cr_assert_not_null(s, "the wait has a span");
	return s;
}

Test(stacks, default_depth_first_frame_is_the_waiter)
{
	trun_t r;
	const tspan_t *s = deep_span(&r, NULL, 20);
	const char *st = tspan_attr_str(s, "code.stacktrace");
	cr_assert_not_null(st);
	cr_assert_eq(count_lines(st), 16, "OTCSHIM_STACK_DEPTH defaults to 16:\n%s", st);
	cr_assert(!strncmp(st, "deep_wait+0x", 12), "first frame is the caller of the lock:\n%s",
		  st);
	cr_assert_null(strstr(st, "libotcshim"), "no frame of the shim:\n%s", st);
	cr_assert_null(strstr(st, "ots_"), "no frame of the shim:\n%s", st);
	/* file:line of the pthread_mutex_lock call, as the program printed it */
	const char *ll = strstr(r.out, "lock-line ");
	cr_assert_not_null(ll);
	char want[64];
	snprintf(want, sizeof want, "stack_deep.c:%d\n", atoi(ll + 10));
	cr_assert(strstr(st, want), "%s in\n%s", want, st);
	/* the static function below it, by .symtab */
	const char *second = strchr(st, '\n') + 1;
	cr_assert(!strncmp(second, "recurse+0x", 10), "%s", st);
	cr_assert(strstr(st, "(stack_deep)"), "module named");
	cr_assert_str_eq(tspan_attr_str(s, "code.function.name"), "deep_wait");
	cr_assert_str_eq(tspan_attr_str(s, "otcshim.lock.name"), "deep_lock");
	trun_free(&r);
}

Test(stacks, depth_is_honoured)
{
	trun_t r;
	const tspan_t *s = deep_span(&r, "OTCSHIM_STACK_DEPTH=4", 20);
	const char *st = tspan_attr_str(s, "code.stacktrace");
	cr_assert_not_null(st);
	cr_assert_eq(count_lines(st), 4, "%s", st);
	cr_assert(!strncmp(st, "deep_wait+0x", 12), "%s", st);
	trun_free(&r);
	/* a shallow stack is taken whole, down to the thread's start routine */
	s = deep_span(&r, "OTCSHIM_STACK_DEPTH=32", 2);
	st = tspan_attr_str(s, "code.stacktrace");
	cr_assert(strstr(st, "lookup_thread+0x"), "%s", st);
	cr_assert_null(strstr(st, "libotcshim"), "the trampoline is left out too:\n%s", st);
	trun_free(&r);
}

Test(stacks, depth_zero_means_no_stack_but_still_a_name)
{
	trun_t r;
	const tspan_t *s = deep_span(&r, "OTCSHIM_STACK_DEPTH=0", 5);
	cr_assert_not(tspan_has_attr(s, "code.stacktrace"));
	cr_assert_not(tspan_has_attr(s, "code.function.name"));
	cr_assert_str_eq(tspan_attr_str(s, "otcshim.lock.name"), "deep_lock",
			 "a global lock is named without a stack");
	trun_free(&r);
}

static const tspan_t *span_with_function(const trun_t *r, const char *fn)
{
	for (int i = 0; i < r->nspans; i++) {
		const char *f = tspan_attr_str(&r->spans[i], "code.function.name");
		if (!strcmp(r->spans[i].name, "pthread_mutex_lock") && f && !strcmp(f, fn))
			return &r->spans[i];
	}
	return NULL;
}

Test(stacks, dlopen_and_dlclose_resolve_each_object)
{
	trun_t r;
	const char *argv[] = { "progs/dlopen_churn", "150", NULL };
	/* a short schedule delay, so each wait is symbolised while its object
	 * is loaded */
	const char *env[] = { "OTEL_BSP_SCHEDULE_DELAY=20", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
	cr_assert_eq(tspan_count(&r, "pthread_mutex_lock"), 2, "%s", r.err);
	const tspan_t *a = span_with_function(&r, "mod_a_work");
	const tspan_t *b = span_with_function(&r, "mod_b_work");
	cr_assert_not_null(a, "the wait in a.so names its function");
	cr_assert_not_null(b, "the wait in b.so names its function, not a stale one of a.so");
	cr_assert_str_eq(tspan_attr_str(a, "otcshim.lock.name"), "lock_a");
	cr_assert_str_eq(tspan_attr_str(b, "otcshim.lock.name"), "lock_b");
	cr_assert(strstr(tspan_attr_str(a, "code.stacktrace"), "(dlopen_a.so)"));
	cr_assert(strstr(tspan_attr_str(b, "code.stacktrace"), "(dlopen_b.so)"));
	cr_assert_null(strstr(tspan_attr_str(b, "code.stacktrace"), "dlopen_a.so"));
	/* the program's own frames resolve before and after the change */
	cr_assert(strstr(tspan_attr_str(b, "code.stacktrace"), "\nrun+0x"), "%s",
		  tspan_attr_str(b, "code.stacktrace"));
	trun_free(&r);
}

Test(stacks, thread_span_names_its_routine)
{
	const char *first = getenv("OTS_PRELOAD_FIRST");
	if (first && strstr(first, "asan"))
		cr_skip_test("under ASan every thread starts in asan_thread_start");
	trun_t r;
	const char *argv[] = { "progs/report_lock", "1", "10", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_not_null(tspan_find(&r, "thread lookup_worker", 0));
	cr_assert_not_null(tspan_find(&r, "thread holder_main", 0));
	trun_free(&r);
}
