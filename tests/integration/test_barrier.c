/* Integration tests of the pthread_barrier_wait hook (issue 4). */
#include "h4_util.h"

Test(barrier, early_arrivals_wait_for_the_late_one)
{
	trun_t n, s;
	const char *argv[] = { "progs/barrier_wait", "50", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	cr_assert(strstr(s.out, "serial 2 zero 4 other 0"),
		  "PTHREAD_BARRIER_SERIAL_THREAD once per round: %s", s.out);
	cr_assert(strstr(n.out, "serial 2 zero 4 other 0"));
	char bar[64];
	addr_after(s.out, "barrier ", bar, sizeof bar);
	int early = 0;
	for (int k = 0; k < 2; k++) {
		long tid = num_after(k ? strstr(s.out, "early ") + 6 : s.out, "early ");
		cr_assert_gt(tid, 0);
		const tspan_t *w = NULL, *t;
		for (int i = 0; (t = span_of(&s, "pthread_barrier_wait", tid, i)); i++)
			if (tspan_ms(t) >= 40)
				w = t;
		cr_assert_not_null(w, "early thread %ld waited for the late one", tid);
		cr_assert_leq(tspan_ms(w), 250.0);
		assert_parent(&s, w, tid, 0);
		cr_assert_str_eq(tspan_attr_str(w, "otcshim.lock.addr"), bar);
		cr_assert_eq(w->status_code, 0, "the serial thread's return is not an error");
		early++;
	}
	cr_assert_eq(early, 2);
	long late = num_after(s.out, "late ");
	const tspan_t *t;
	for (int i = 0; (t = span_of(&s, "pthread_barrier_wait", late, i)); i++)
		cr_assert_lt(tspan_ms(t), 40.0, "the last to arrive does not wait");
	trun_free(&n);
	trun_free(&s);
}

Test(barrier, disabled_family_records_nothing)
{
	trun_t r;
	const char *argv[] = { "progs/barrier_wait", "20", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,rwlock,cond,sem,once,join,spin,thread", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert(strstr(r.out, "serial 2 zero 4 other 0"));
	cr_assert_eq(count_of(&r, "pthread_barrier_wait", -1), 0);
	trun_free(&r);
}
