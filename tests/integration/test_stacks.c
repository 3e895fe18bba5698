/* The contended path and the host (issue 8, "Reentrancy and the host's
 * allocator", "Stacks"): a host allocator that aborts when it is entered
 * again on a thread that is inside it (the shim's slow path runs while the
 * allocator's lock is held, and glibc allocates libunwind's dynamic TLS with
 * malloc on a thread's first walk), and contended locks taken with 1 KB and
 * 512 bytes of stack left on a PTHREAD_STACK_MIN thread, which natively work.
 * Every run is bounded; a hang is reported as one. */
#include "h4_util.h"

#define LIMIT 10.0

static void run_pair(trun_t *n, trun_t *s, const char *what, const char *const *argv,
		     const char *const *env)
{
	cr_assert_eq(trun_bounded(n, argv, env, 0, LIMIT), 0, "%s: could not run", what);
	cr_assert(!n->timed_out && n->exit_code == 0, "%s natively: %s\n%s", what,
		  trun_status(n), n->err);
	cr_assert_eq(trun_bounded(s, argv, env, 1, LIMIT), 0, "%s: could not run", what);
	cr_assert(!s->timed_out && s->exit_code == 0 && s->term_signal == 0,
		  "%s under the shim: %s (natively: %s)\n--- shim stdout\n%s--- shim stderr\n%s",
		  what, trun_status(s), trun_status(n), s->out, s->err);
	cr_assert_str_eq(s->out, n->out, "%s: stdout differs\n--- native\n%s--- shim\n%s", what,
			 n->out, s->out);
}

Test(stacks, host_allocator_never_reentered, .timeout = 120)
{
	if (under_sanitizer())
		cr_skip_test("the host brings its own malloc, which a sanitizer runtime owns");
	const char *argv[] = { "progs/host_alloc", NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=0", "OTCSHIM_REPORT=stderr", NULL };
	int waits = 0;
	for (int i = 1; i <= 5; i++) {
		char what[64];
		snprintf(what, sizeof what, "host_alloc run %d of 5", i);
		trun_t n, s;
		run_pair(&n, &s, what, argv, env);
		cr_assert_null(strstr(s.err, "re-entered"), "%s: %s", what, s.err);
		cr_assert_null(strstr(s.err, "loader's lock"), "%s: %s", what, s.err);
		const char *c = strstr(s.err, "contended wait");
		if (c) {
			const char *p = c;
			while (p > s.err && p[-1] == ' ')
				p--;
			while (p > s.err && p[-1] >= '0' && p[-1] <= '9')
				p--;
			waits += atoi(p);
		}
		trun_free(&n);
		trun_free(&s);
	}
	/* the test means something only if the allocator's lock was contended */
	cr_assert_gt(waits, 20, "only %d contended waits in 5 runs: the lock was not contended",
		     waits);
}

static void small_stack(const char *left)
{
	/* a sanitizer's own interceptors (clock_gettime's, ASan's redzones) need
	 * more stack than this leaves, in the shim's hooks as in any function */
	if (under_sanitizer())
		cr_skip_test("a sanitizer's runtime needs more than %s bytes of stack", left);
	const char *argv[] = { "progs/small_stack", left, NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=0", "OTCSHIM_REPORT=stderr", NULL };
	trun_t n, s;
	run_pair(&n, &s, "small_stack", argv, env);
	/* the wait is there, without its stack, and the report says why */
	cr_assert_geq(tspan_count(&s, "pthread_mutex_lock"), 1, "no mutex wait span\n%s", s.err);
	cr_assert_not_null(strstr(s.err, "recorded without their stack"),
			   "the report does not count the waits without a stack:\n%s", s.err);
	trun_free(&n);
	trun_free(&s);
}

Test(stacks, contended_lock_with_1k_of_stack_left)
{
	small_stack("1024");
}

Test(stacks, contended_lock_with_512_bytes_of_stack_left)
{
	small_stack("512");
}

/* With room to spare the same wait keeps its stack: the skip is not a blanket
 * one for small threads. 256 KB stack, 64 KB left. */
Test(stacks, roomy_thread_keeps_its_stack)
{
	const char *argv[] = { "progs/small_stack", "65536", "262144", NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=0", "OTCSHIM_REPORT=stderr", NULL };
	trun_t n, s;
	run_pair(&n, &s, "small_stack 64K left", argv, env);
	const tspan_t *w = tspan_find(&s, "pthread_mutex_lock", 0);
	cr_assert_not_null(w, "no mutex wait span\n%s", s.err);
	cr_assert_null(strstr(s.err, "recorded without their stack"), "%s", s.err);
	const char *st = tspan_attr_str(w, "code.stacktrace");
	cr_assert(st && strstr(st, "dive"), "the wait's stack does not show dive(): %s",
		  st ? st : "(none)");
	trun_free(&n);
	trun_free(&s);
}
