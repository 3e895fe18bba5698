/* Integration tests of the semaphore hooks (issue 4). */
#include "h4_util.h"

Test(sem, wait_of_known_length)
{
	trun_t r;
	const char *argv[] = { "progs/sem_wait", "50", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
	char sem[64];
	addr_after(r.out, "sem ", sem, sizeof sem);
	long worker = num_after(r.out, "worker ");
	cr_assert_gt(worker, 0);
	cr_assert_eq(count_of(&r, "sem_wait", worker), 1);
	const tspan_t *w = span_of(&r, "sem_wait", worker, 0);
	cr_assert(tspan_ms(w) >= 40 && tspan_ms(w) <= 250, "sem wait %.2f ms", tspan_ms(w));
	assert_parent(&r, w, worker, 0);
	cr_assert_str_eq(tspan_attr_str(w, "otcshim.lock.addr"), sem);
	cr_assert_eq(w->status_code, 0);
	trun_free(&r);
}

Test(sem, errno_paths_identical_to_native)
{
	trun_t n, s;
	const char *argv[] = { "progs/sem_wait", "20", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	assert_same_output(&n, &s);
	cr_assert(strstr(s.out, "timedwait 30ms: -1/ETIMEDOUT"));
	cr_assert(strstr(s.out, "trywait zero: -1/EAGAIN"));
	cr_assert(strstr(s.out, "timedwait bad nsec: -1/EINVAL"));
	cr_assert(strstr(s.out, "wait interrupted: -1/EINTR"));
	cr_assert(strstr(s.out, "wait posted by a handler: 0/-"),
		  "sem_post from a signal handler works under the shim");
	long main_tid = num_after(s.out, "main ");
	const tspan_t *t = span_of(&s, "sem_timedwait", main_tid, 0);
	cr_assert_not_null(t);
	cr_assert(tspan_ms(t) >= 25 && tspan_ms(t) <= 200, "%.2f ms", tspan_ms(t));
	cr_assert_eq(t->status_code, 2);
	cr_assert_str_eq(t->status_msg, "ETIMEDOUT");
	assert_parent(&s, t, main_tid, 1);
	const tspan_t *c = span_of(&s, "sem_clockwait", main_tid, 0);
	cr_assert_not_null(c);
	cr_assert_str_eq(c->status_msg, "ETIMEDOUT");
	/* the wait a signal interrupted: its errno is kept, it is not an error */
	const tspan_t *intr = NULL;
	for (int i = 0; (t = span_of(&s, "sem_wait", main_tid, i)); i++)
		if (tspan_attr_str(t, "otcshim.result") &&
		    !strcmp(tspan_attr_str(t, "otcshim.result"), "EINTR"))
			intr = t;
	cr_assert_not_null(intr, "a sem_wait span ended by EINTR");
	cr_assert(tspan_ms(intr) >= 20, "%.2f ms", tspan_ms(intr));
	cr_assert_eq(intr->status_code, 0);
	trun_free(&n);
	trun_free(&s);
}

Test(sem, disabled_family_records_nothing)
{
	trun_t r;
	const char *argv[] = { "progs/sem_wait", "20", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,rwlock,cond,once,join,barrier,spin,thread",
			      "OTCSHIM_MIN_WAIT=0" /* every join recorded, however short */, NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	for (int i = 0; i < r.nspans; i++)
		cr_assert(strncmp(r.spans[i].name, "sem_", 4), "%s", r.spans[i].name);
	cr_assert_geq(count_of(&r, "pthread_join", -1), 1);
	trun_free(&r);
}
