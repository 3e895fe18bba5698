/* Integration tests of the pthread_join hooks (issue 4). */
#include "h4_util.h"

Test(join, wait_names_the_joined_thread)
{
	trun_t r;
	const char *argv[] = { "progs/join_wait", "50", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
	long worker = num_after(r.out, "worker "), main_tid = num_after(r.out, "main ");
	cr_assert(worker > 0 && main_tid > 0);
	const tspan_t *w = span_of(&r, "pthread_join", main_tid, 0);
	cr_assert_not_null(w);
	cr_assert(tspan_ms(w) >= 40 && tspan_ms(w) <= 250, "join %.2f ms", tspan_ms(w));
	assert_parent(&r, w, main_tid, 1);
	cr_assert_eq(tspan_attr_int(w, "otcshim.holder.thread.id", -1), worker,
		     "the joined thread's tid");
	const tspan_t *ws = thread_span_of(&r, worker);
	cr_assert_not_null(ws);
	cr_assert_not_null(link_span(w, 0));
	cr_assert_str_eq(link_span(w, 0), ws->span_id, "a link to the joined thread's span");
	cr_assert_eq(w->status_code, 0);
	trun_free(&r);
}

Test(join, errors_identical_to_native)
{
	trun_t n, s;
	const char *argv[] = { "progs/join_wait", "10", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	assert_same_output(&n, &s);
	cr_assert(strstr(s.out, "tryjoin running: EBUSY"));
	cr_assert(strstr(s.out, "timedjoin 30ms: ETIMEDOUT"));
	cr_assert(strstr(s.out, "join self: EDEADLK"));
	cr_assert(strstr(s.out, "join detached: EINVAL"));
	cr_assert(strstr(s.out, "clockjoin bad clock: EINVAL"));
	long main_tid = num_after(s.out, "main ");
	const tspan_t *t = span_of(&s, "pthread_timedjoin_np", main_tid, 0);
	cr_assert_not_null(t);
	cr_assert(tspan_ms(t) >= 25 && tspan_ms(t) <= 200, "%.2f ms", tspan_ms(t));
	cr_assert_eq(t->status_code, 2);
	cr_assert_str_eq(t->status_msg, "ETIMEDOUT");
	const tspan_t *c = span_of(&s, "pthread_clockjoin_np", main_tid, 0);
	cr_assert_not_null(c);
	cr_assert_str_eq(c->status_msg, "ETIMEDOUT");
	cr_assert_gt(tspan_attr_int(c, "otcshim.holder.thread.id", -1), 0);
	trun_free(&n);
	trun_free(&s);
}

Test(join, disabled_family_records_nothing)
{
	trun_t r;
	const char *argv[] = { "progs/join_wait", "20", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,rwlock,cond,sem,once,barrier,spin,thread", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	for (int i = 0; i < r.nspans; i++)
		cr_assert(strncmp(r.spans[i].name, "pthread_join", 12) &&
				  strncmp(r.spans[i].name, "pthread_timedjoin", 17) &&
				  strncmp(r.spans[i].name, "pthread_clockjoin", 17),
			  "%s", r.spans[i].name);
	cr_assert_not_null(thread_span_of(&r, num_after(r.out, "worker ")));
	trun_free(&r);
}
