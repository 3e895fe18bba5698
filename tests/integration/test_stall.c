/* Integration tests of waits in progress (issue 10, first part): a wait
 * longer than OTCSHIM_STALL is said once while it still goes on, naming the
 * waiter, the operation, the object and the holder where known; brief
 * contention never is. */
#include "h4_util.h"

#include <unistd.h>

static const char *const stall_env[] = { "OTCSHIM_STALL=500ms", "OTCSHIM_REPORT=stderr",
					  NULL };

static int stall_lines(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

Test(stall, cond_wait_nobody_signals)
{
	trun_t r;
	const char *argv[] = { "progs/stall", "cond", NULL };
	cr_assert_eq(trun(&r, argv, stall_env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_eq(stall_lines(r.err, "otcshim: stall:"), 1, "%s", r.err);
	cr_assert(strstr(r.err, "in pthread_cond_wait on stall_cond (0x"), "%s", r.err);
	trun_free(&r);
}

Test(stall, lock_held_by_a_sleeping_thread)
{
	trun_t r;
	const char *argv[] = { "progs/stall", "hold", NULL };
	cr_assert_eq(trun(&r, argv, stall_env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_eq(stall_lines(r.err, "otcshim: stall:"), 1, "%s", r.err);
	const char *l = strstr(r.err, "in pthread_mutex_lock on stall_lock (0x");
	cr_assert_not_null(l, "%s", r.err);
	cr_assert(strstr(l, ", held by thread "), "no holder: %s", r.err);
	/* the stall's span, sent while the wait went on; the wait's own follows */
	const tspan_t *st = tspan_find(&r, "stall pthread_mutex_lock", 0);
	const tspan_t *w = tspan_find(&r, "pthread_mutex_lock", 0);
	cr_assert_not_null(st, "no stall span");
	cr_assert_not_null(w, "no wait span");
	cr_assert_str_eq(tspan_attr_str(st, "otcshim.wait.state"), "in_progress");
	cr_assert_str_eq(tspan_attr_str(st, "otcshim.lock.name"), "stall_lock");
	cr_assert_gt(tspan_attr_int(st, "otcshim.holder.thread.id", 0), 0);
	cr_assert_eq(tspan_attr_int(st, "thread.id", -1), tspan_attr_int(w, "thread.id", -2));
	cr_assert_str_eq(st->parent_id, w->parent_id, "not under the waiter's span");
	cr_assert_lt(st->end_ns, w->end_ns, "the stall span should end before the wait did");
	cr_assert_geq(tspan_ms(st), 450.0, "%.1f ms", tspan_ms(st));
	unlink(r.outfile);
	trun_free(&r);
}

Test(stall, brief_contention_is_never_a_stall)
{
	trun_t r;
	const char *argv[] = { "progs/stall", "brief", NULL };
	cr_assert_eq(trun(&r, argv, stall_env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_null(strstr(r.err, "stall:"), "%s", r.err);
	cr_assert(strstr(r.err, "stall_lock"), "the report names the lock: %s", r.err);
	trun_free(&r);
}

/* a wait still going on at exit: in the report, and a span that says so */
Test(stall, waits_in_progress_at_exit)
{
	trun_t r;
	const char *argv[] = { "progs/stall", "exit", NULL };
	cr_assert_eq(trun(&r, argv, stall_env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	const char *sec = strstr(r.err, "Waits still in progress at exit");
	cr_assert_not_null(sec, "%s", r.err);
	cr_assert(strstr(sec, "pthread_cond_wait") && strstr(sec, "stall_cond"), "%s", sec);
	const tspan_t *w = tspan_find(&r, "pthread_cond_wait", 0);
	cr_assert_not_null(w, "no span for the unfinished wait");
	cr_assert_str_eq(tspan_attr_str(w, "otcshim.wait.state"), "unfinished_at_exit");
	cr_assert_geq(tspan_ms(w), 150.0, "%.1f ms", tspan_ms(w));
	cr_assert_null(tspan_find(&r, "stall pthread_cond_wait", 0), "200 ms is no stall");
	unlink(r.outfile);
	trun_free(&r);
}

/* an idle pool on one condition variable is one line, and a span per thread */
Test(stall, a_pool_on_one_object_is_one_line)
{
	trun_t r;
	const char *argv[] = { "progs/stall", "pool", NULL };
	cr_assert_eq(trun(&r, argv, stall_env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_eq(stall_lines(r.err, "otcshim: stall:"), 1, "%s", r.err);
	/* the three usually cross the threshold at the same scan ("threads a, b,
	 * c have waited"); those that cross it later on the same object within
	 * OTCSHIM_STALL add a span each, and no line */
	cr_assert(strstr(r.err, "on stall_cond (0x"), "%s", r.err);
	cr_assert_eq(tspan_count(&r, "stall pthread_cond_wait"), 3);
	unlink(r.outfile);
	trun_free(&r);
}
