/* Integration tests of waits in progress (issue 10, first part): a wait
 * longer than OTCSHIM_STALL is said once while it still goes on, naming the
 * waiter, the operation, the object and the holder where known; brief
 * contention never is. */
#include "h4_util.h"

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
