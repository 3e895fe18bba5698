/* Integration tests of the condition variable hooks (issue 4). */
#include "h4_util.h"

Test(cond, wait_span_carries_cond_mutex_and_reacquisition)
{
	trun_t r;
	const char *argv[] = { "progs/cond_wait", "50", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
	char cond[64], mutex[64];
	addr_after(r.out, "cond ", cond, sizeof cond);
	addr_after(r.out, "mutex ", mutex, sizeof mutex);
	long consumer = num_after(r.out, "consumer ");
	cr_assert_gt(consumer, 0);
	cr_assert_eq(count_of(&r, "pthread_cond_wait", consumer), 1);
	const tspan_t *w = span_of(&r, "pthread_cond_wait", consumer, 0);
	/* 50 ms until the signal, then 30 ms more until the producer lets go of
	 * the mutex: the re-acquisition is part of the wait */
	cr_assert(tspan_ms(w) >= 75 && tspan_ms(w) <= 300, "cond wait %.2f ms", tspan_ms(w));
	assert_parent(&r, w, consumer, 0);
	cr_assert_str_eq(tspan_attr_str(w, "otcshim.lock.addr"), cond);
	cr_assert_str_eq(tspan_attr_str(w, "otcshim.mutex.addr"), mutex);
	cr_assert(attr_bool(w, "otcshim.includes_reacquire"));
	cr_assert_eq(w->status_code, 0);
	trun_free(&r);
}

Test(cond, timeouts_and_errors_identical_to_native)
{
	trun_t n, s;
	const char *argv[] = { "progs/cond_wait", "20", NULL };
	run_both(&n, &s, argv, NULL);
	assert_same_output(&n, &s);
	cr_assert(strstr(s.out, "timedwait 30ms: ETIMEDOUT"));
	cr_assert(strstr(s.out, "clockwait bad clock: EINVAL"));
	cr_assert(strstr(s.out, "timedwait bad nsec: EINVAL"));
	long main_tid = num_after(s.out, "main ");
	const tspan_t *t = span_of(&s, "pthread_cond_timedwait", main_tid, 0);
	cr_assert_not_null(t, "the timed wait that timed out");
	cr_assert(tspan_ms(t) >= 25 && tspan_ms(t) <= 200, "%.2f ms", tspan_ms(t));
	cr_assert_eq(t->status_code, 2);
	cr_assert_str_eq(t->status_msg, "ETIMEDOUT");
	assert_parent(&s, t, main_tid, 1);
	const tspan_t *c = span_of(&s, "pthread_cond_clockwait", main_tid, 0);
	cr_assert_not_null(c);
	cr_assert(tspan_ms(c) >= 15 && tspan_ms(c) <= 200, "%.2f ms", tspan_ms(c));
	cr_assert_str_eq(c->status_msg, "ETIMEDOUT");
	/* the calls that fail at once (bad clock, bad timeout, past) wait for nothing */
	cr_assert_eq(count_of(&s, "pthread_cond_timedwait", main_tid), 1);
	cr_assert_eq(count_of(&s, "pthread_cond_clockwait", main_tid), 1);
	trun_free(&n);
	trun_free(&s);
}

Test(cond, waits_below_min_wait_are_not_spans)
{
	trun_t r;
	const char *argv[] = { "progs/cond_wait", "20", NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=500ms", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert_eq(count_of(&r, "pthread_cond_wait", -1), 0);
	cr_assert_eq(count_of(&r, "pthread_cond_timedwait", -1), 0);
	cr_assert_not_null(root_span(&r));
	trun_free(&r);
}

Test(cond, disabled_family_records_nothing)
{
	trun_t r;
	const char *argv[] = { "progs/cond_wait", "20", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,rwlock,sem,once,join,barrier,spin,thread", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	for (int i = 0; i < r.nspans; i++)
		cr_assert(strncmp(r.spans[i].name, "pthread_cond_", 13), "%s", r.spans[i].name);
	cr_assert_not_null(thread_span_of(&r, num_after(r.out, "consumer ")));
	trun_free(&r);
}
