/* Integration tests of the pthread_once hook (issue 4). */
#include "h4_util.h"

Test(once, init_span_in_runner_and_wait_span_in_waiter)
{
	trun_t r;
	const char *argv[] = { "progs/once_init", "50", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
	char once[64];
	addr_after(r.out, "once ", once, sizeof once);
	long runner = num_after(r.out, "runner "), waiter = num_after(r.out, "waiter ");
	cr_assert(runner > 0 && waiter > 0);
	cr_assert(strstr(r.out, "runs 1 nested 1"));

	const tspan_t *init = NULL, *nested = NULL, *t;
	for (int i = 0; (t = span_of(&r, "pthread_once init", runner, i)); i++) {
		if (!strcmp(tspan_attr_str(t, "otcshim.lock.addr"), once))
			init = t;
		else
			nested = t;
	}
	cr_assert_not_null(init, "the init routine's span, in the thread that ran it");
	cr_assert(tspan_ms(init) >= 45 && tspan_ms(init) <= 250, "init %.2f ms", tspan_ms(init));
	assert_parent(&r, init, runner, 0);
	cr_assert_not_null(nested, "the nested pthread_once's routine");
	cr_assert_geq(nested->start_ns, init->start_ns, "nested inside the outer routine");
	cr_assert_leq(nested->end_ns, init->end_ns);

	cr_assert_eq(count_of(&r, "pthread_once", waiter), 1);
	const tspan_t *w = span_of(&r, "pthread_once", waiter, 0);
	cr_assert(tspan_ms(w) >= 30 && tspan_ms(w) <= 250, "once wait %.2f ms", tspan_ms(w));
	assert_parent(&r, w, waiter, 0);
	cr_assert_str_eq(tspan_attr_str(w, "otcshim.lock.addr"), once);
	cr_assert_eq(count_of(&r, "pthread_once init", waiter), 0, "the waiter did not run it");
	cr_assert_eq(count_of(&r, "pthread_once", runner), 0, "the runner did not wait");
	/* the 1000 calls after init record nothing */
	int on_once = 0;
	for (int i = 0; i < r.nspans; i++)
		on_once += tspan_attr_str(&r.spans[i], "otcshim.lock.addr") &&
			   !strcmp(tspan_attr_str(&r.spans[i], "otcshim.lock.addr"), once);
	cr_assert_eq(on_once, 2);
	trun_free(&r);
}

Test(once, cancelled_routine_runs_again_as_natively)
{
	trun_t n, s;
	const char *argv[] = { "progs/once_init", "5", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	assert_same_output(&n, &s);
	cr_assert(strstr(s.out, "flaky 1: cancelled, runs 1"));
	cr_assert(strstr(s.out, "flaky 2: returned, runs 2"));
	cr_assert(strstr(s.out, "flaky 3: ret 0 runs 2"));
	/* the cancelled thread's span says so; the second run has its init span */
	const tspan_t *f1 = thread_span_of(&s, num_after(strstr(s.out, "flaky 1"), "tid "));
	const tspan_t *f2 = thread_span_of(&s, num_after(strstr(s.out, "flaky 2"), "tid "));
	cr_assert(f1 && f2);
	cr_assert_eq(f1->status_code, 2, "died by cancellation in the init routine");
	cr_assert_eq(f2->status_code, 0);
	long t1 = num_after(strstr(s.out, "flaky 1"), "tid "), t2 = num_after(strstr(s.out, "flaky 2"), "tid ");
	const tspan_t *init2 = span_of(&s, "pthread_once init", t2, 0);
	cr_assert_not_null(init2, "the routine that completed has its span");
	const char *ctl = tspan_attr_str(init2, "otcshim.lock.addr");
	const tspan_t *t;
	/* (the cancelled thread may show libgcc's own pthread_once, run while
	 * glibc loaded it for the unwinding: another control) */
	for (int i = 0; (t = span_of(&s, "pthread_once init", t1, i)); i++)
		cr_assert_neq(strcmp(tspan_attr_str(t, "otcshim.lock.addr"), ctl), 0,
			      "no init span for the routine that was cancelled");
	trun_free(&n);
	trun_free(&s);
}

Test(once, disabled_family_records_nothing)
{
	trun_t r;
	/* without the cancelled routine: see lifecycle/unwind_through_glibc_cleanups */
	const char *argv[] = { "progs/once_init", "20", "nocancel", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,rwlock,cond,sem,join,barrier,spin,thread", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "runs 1 nested 1"));
	cr_assert_eq(count_of(&r, "pthread_once", -1), 0);
	cr_assert_eq(count_of(&r, "pthread_once init", -1), 0);
	trun_free(&r);
}
