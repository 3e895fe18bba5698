/* Integration tests of the rwlock hooks (issue 4): read and write waits of
 * known length, their holder, and every error path identical to native. */
#include "h4_util.h"

Test(rwlock, read_and_write_waits_are_distinct_spans)
{
	trun_t r;
	const char *argv[] = { "progs/rwlock_wait", "50", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
	char lock[64];
	addr_after(r.out, "lock ", lock, sizeof lock);
	long writer = num_after(r.out, "writer-holder "), reader = num_after(r.out, "reader-waiter ");
	long rholder = num_after(r.out, "reader-holder "), wwaiter = num_after(r.out, "writer-waiter ");
	cr_assert(writer > 0 && reader > 0 && rholder > 0 && wwaiter > 0, "%s", r.out);

	cr_assert_eq(count_of(&r, "pthread_rwlock_rdlock", -1), 1);
	const tspan_t *rd = span_of(&r, "pthread_rwlock_rdlock", reader, 0);
	cr_assert_not_null(rd, "the reader's wait");
	cr_assert(tspan_ms(rd) >= 40 && tspan_ms(rd) <= 250, "read wait %.2f ms", tspan_ms(rd));
	assert_parent(&r, rd, reader, 0);
	cr_assert_str_eq(tspan_attr_str(rd, "otcshim.lock.addr"), lock);
	cr_assert_str_eq(tspan_attr_str(rd, "otcshim.rwlock.mode"), "read");
	cr_assert_eq(tspan_attr_int(rd, "otcshim.holder.thread.id", -1), writer,
		     "the writer holding the lock is named (__cur_writer)");
	const tspan_t *ws = thread_span_of(&r, writer);
	cr_assert_not_null(ws);
	cr_assert_not_null(link_span(rd, 0));
	cr_assert_str_eq(link_span(rd, 0), ws->span_id, "a link to the writer's span");
	cr_assert_eq(rd->status_code, 0);

	cr_assert_eq(count_of(&r, "pthread_rwlock_wrlock", -1), 1);
	const tspan_t *wr = span_of(&r, "pthread_rwlock_wrlock", wwaiter, 0);
	cr_assert_not_null(wr, "the writer's wait");
	cr_assert(tspan_ms(wr) >= 40 && tspan_ms(wr) <= 250, "write wait %.2f ms", tspan_ms(wr));
	assert_parent(&r, wr, wwaiter, 0);
	cr_assert_str_eq(tspan_attr_str(wr, "otcshim.rwlock.mode"), "write");
	cr_assert_not(tspan_has_attr(wr, "otcshim.holder.thread.id"),
		      "readers holding a lock are not known");
	/* the holders' own (uncontended) acquisitions are not waits */
	cr_assert_eq(count_of(&r, "pthread_rwlock_rdlock", rholder), 0);
	cr_assert_eq(count_of(&r, "pthread_rwlock_wrlock", writer), 0);
	trun_free(&r);
}

Test(rwlock, every_error_path_identical_to_native)
{
	trun_t n, s;
	const char *argv[] = { "progs/rwlock_errors", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	assert_same_output(&n, &s);
	cr_assert(strstr(s.out, "EDEADLK") && strstr(s.out, "EBUSY") && strstr(s.out, "EINVAL") &&
		  strstr(s.out, "ETIMEDOUT"));
	/* per lock kind: 2 timed write waits on a read-held lock, 3 timed waits
	 * on a write-held one, all timing out: 15 error spans */
	int timeouts = 0, named = 0;
	for (int i = 0; i < s.nspans; i++) {
		const tspan_t *t = &s.spans[i];
		if (strncmp(t->name, "pthread_rwlock_", 15))
			continue;
		cr_assert_eq(t->status_code, 2, "%s: status %d", t->name, t->status_code);
		cr_assert_str_eq(t->status_msg, "ETIMEDOUT");
		cr_assert_geq(tspan_ms(t), 15.0);
		timeouts++;
		named += tspan_has_attr(t, "otcshim.holder.thread.id");
	}
	cr_assert_eq(timeouts, 15, "%d rwlock wait spans", timeouts);
	cr_assert_eq(count_of(&s, "pthread_rwlock_timedrdlock", -1), 3);
	cr_assert_eq(count_of(&s, "pthread_rwlock_clockrdlock", -1), 3);
	cr_assert_eq(count_of(&s, "pthread_rwlock_timedwrlock", -1), 6);
	cr_assert_eq(count_of(&s, "pthread_rwlock_clockwrlock", -1), 3);
	/* the writer is named for the default and writer-preferring locks, not
	 * for the process-shared one */
	cr_assert_eq(named, 6, "%d waits name the writer", named);
	trun_free(&n);
	trun_free(&s);
}

Test(rwlock, disabled_family_records_nothing)
{
	trun_t r;
	const char *argv[] = { "progs/rwlock_wait", "30", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,cond,sem,once,join,barrier,spin,thread",
			      "OTCSHIM_MIN_WAIT=0" /* every join recorded, however short */, NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert(strstr(r.out, "reader-waiter") && strstr(r.out, "writer-waiter"));
	cr_assert_eq(count_of(&r, "pthread_rwlock_rdlock", -1), 0);
	cr_assert_eq(count_of(&r, "pthread_rwlock_wrlock", -1), 0);
	cr_assert_not_null(root_span(&r), "the rest still works");
	cr_assert_geq(count_of(&r, "pthread_join", -1), 1);
	trun_free(&r);
}
