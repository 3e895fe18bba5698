/* Integration tests of the thread lifecycle hooks (issue 4): cancellation
 * (also while blocked in a hooked call), pthread_exit, detach, setname. */
#include "h4_util.h"

Test(lifecycle, cancelled_while_blocked_leaves_state_consistent)
{
	trun_t n, s;
	const char *argv[] = { "progs/cancel_blocked", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	assert_same_output(&n, &s);
	static const char *what[] = { "cond_wait: ", "sem_wait: ", "join: ", "cond_timedwait: ",
				      "sem_timedwait: ", "clockjoin: " };
	for (int i = 0; i < 6; i++) {
		const char *line = strstr(s.out, what[i]);
		cr_assert_not_null(line);
		cr_assert(!strncmp(line + strlen(what[i]), "join 0, cancelled", 17), "%s", line);
		long tid = num_after(line, "tid ");
		const tspan_t *ts = thread_span_of(&s, tid);
		cr_assert_not_null(ts, "%s thread span", what[i]);
		cr_assert_eq(ts->status_code, 2, "%s died by cancellation", what[i]);
		cr_assert_str_eq(ts->status_msg, "cancelled");
		cr_assert_str_eq(tspan_attr_str(ts, "otcshim.thread.end"), "cancelled");
		cr_assert(has_event(ts, "pthread_cancel"), "%s: the request is an event", what[i]);
		/* its cleanup handler waited ~20 ms for a mutex after the unwinding
		 * went through the hook: recorded, so the thread's shim state (the
		 * reentrancy flag) came through intact */
		const tspan_t *w = span_of(&s, "pthread_mutex_lock", tid, 0);
		cr_assert_not_null(w, "%s: the cleanup handler's wait is recorded", what[i]);
		cr_assert_geq(tspan_ms(w), 10.0);
		assert_parent(&s, w, tid, 0);
	}
	/* no wait span of the interrupted calls pretends they completed */
	for (int i = 0; i < s.nspans; i++) {
		const tspan_t *t = &s.spans[i];
		if (!strcmp(t->name, "pthread_cond_wait") || !strcmp(t->name, "sem_wait"))
			cr_assert_lt(tspan_ms(t), 500.0);
	}
	trun_free(&n);
	trun_free(&s);
}

Test(lifecycle, names_detach_exit_and_cancel_requests)
{
	trun_t n, s;
	const char *argv[] = { "progs/cancel_lifecycle", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	assert_same_output(&n, &s);
	cr_assert(strstr(s.out, "too long ERANGE"));
	cr_assert(strstr(s.out, "detach 0"));
	const char *tids = strstr(s.out, "tids self ");
	cr_assert_not_null(tids);
	const tspan_t *self = thread_span_of(&s, num_after(tids, "tids self "));
	const tspan_t *other = thread_span_of(&s, num_after(tids, " other "));
	const tspan_t *immune = thread_span_of(&s, num_after(tids, " immune "));
	const tspan_t *victim = thread_span_of(&s, num_after(tids, " victim "));
	const tspan_t *exiter = thread_span_of(&s, num_after(tids, " exiter "));
	const tspan_t *early = thread_span_of(&s, num_after(tids, " early "));
	cr_assert(self && other && immune && victim && exiter && early, "a span for each thread");
	cr_assert_str_eq(tspan_attr_str(self, "thread.name"), "ingest-0",
			 "the name the thread gave itself");
	cr_assert_str_eq(tspan_attr_str(other, "thread.name"), "flusher",
			 "the name another thread gave it");
	cr_assert(has_event(immune, "pthread_cancel"), "the request is noted");
	cr_assert_eq(immune->status_code, 0, "but it did not die of it");
	cr_assert_str_eq(tspan_attr_str(immune, "otcshim.thread.end"), "return");
	cr_assert(has_event(victim, "pthread_cancel"));
	cr_assert_eq(victim->status_code, 2);
	cr_assert_str_eq(tspan_attr_str(victim, "otcshim.thread.end"), "cancelled");
	cr_assert_str_eq(tspan_attr_str(exiter, "otcshim.thread.end"), "pthread_exit");
	/* the creator registers a new thread itself, so a cancel that comes
	 * before the thread ran is noted too */
	cr_assert(strstr(s.out, "early cancelled"));
	cr_assert(has_event(early, "pthread_cancel"), "cancel right after create is noted");
	cr_assert_eq(early->status_code, 2);
	cr_assert_not(has_event(exiter, "pthread_cancel"),
		      "cancelling a thread that already ended marks nothing");
	cr_assert_not_null(thread_span_of(&s, num_after(tids, " detached ")),
			   "a detached thread still has its span");
	trun_free(&n);
	trun_free(&s);
}

Test(lifecycle, threads_still_running_at_exit_get_their_spans)
{
	trun_t r;
	const char *argv[] = { "progs/mixed_exit_live", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	const tspan_t *root = root_span(&r);
	cr_assert_not_null(root);
	long sleeper = num_after(r.out, "sleeper "), blocked = num_after(r.out, "blocked ");
	const tspan_t *a = thread_span_of(&r, sleeper), *b = thread_span_of(&r, blocked);
	cr_assert(a && b, "threads alive at exit have spans");
	cr_assert_str_eq(a->parent_id, root->span_id);
	cr_assert_str_eq(b->parent_id, root->span_id);
	cr_assert_leq(a->end_ns, root->end_ns);
	cr_assert_str_eq(tspan_attr_str(b, "thread.name"), "blocked-one");
	/* the wait the blocked thread made before has its parent in the run */
	const tspan_t *w = span_of(&r, "pthread_mutex_lock", blocked, 0);
	cr_assert_not_null(w);
	cr_assert_str_eq(w->parent_id, b->span_id);
	for (int i = 0; i < r.nspans; i++)
		if (strcmp(r.spans[i].parent_id, ""))
			cr_assert_not_null(tspan_by_id(&r, r.spans[i].parent_id), "%s: parent exported",
					   r.spans[i].name);
	trun_free(&r);
}

Test(lifecycle, thread_family_disabled_leaves_waits_under_the_root)
{
	trun_t r;
	const char *argv[] = { "progs/mixed_families", "8", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,rwlock,cond,sem,once,join,barrier,spin", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	const tspan_t *root = root_span(&r);
	cr_assert_not_null(root);
	int waits = 0;
	for (int i = 0; i < r.nspans; i++) {
		cr_assert(strncmp(r.spans[i].name, "thread ", 7), "no thread spans");
		if (&r.spans[i] != root) {
			cr_assert_str_eq(r.spans[i].parent_id, root->span_id);
			waits++;
		}
	}
	cr_assert_geq(waits, 8);
	trun_free(&r);
}

/* Forced unwinding (pthread_exit, cancellation) through glibc's own cleanup
 * frames, with libgcc_s loaded late (a C program). This crashed (SIGSEGV) while
 * the shim linked libunwind.so.8, which exports the _Unwind_* ABI: libgcc_s,
 * dlopen'ed by glibc at the first unwind, bound its own PLT calls to
 * libunwind's. The shim now opens libunwind with RTLD_LOCAL. */
Test(lifecycle, unwind_through_glibc_cleanups)
{
	static const char *hooks[] = { "OTCSHIM_HOOKS=all", "OTCSHIM_HOOKS=none",
				       "OTCSHIM_HOOKS=mutex,thread" };
	for (int i = 0; i < 3; i++) {
		trun_t n, s;
		const char *argv[] = { "progs/cancel_unwind", NULL };
		const char *env[] = { hooks[i], NULL };
		run_both(&n, &s, argv, env);
		cr_assert_eq(s.exit_code, 0, "%s: exit %d", hooks[i], s.exit_code);
		cr_assert_str_eq(s.out, n.out);
		trun_free(&n);
		trun_free(&s);
	}
}
