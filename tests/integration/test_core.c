/* Integration tests for the foundation (issue 2): real programs under the
 * shim, the JSON-lines file they write, and results identical to native. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"

static const tspan_t *thread_span_of(const trun_t *r, long tid)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strncmp(r->spans[i].name, "thread ", 7) &&
		    tspan_attr_int(&r->spans[i], "thread.id", -1) == tid)
			return &r->spans[i];
	return NULL;
}

static const tspan_t *process_span(const trun_t *r, int nth)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strncmp(r->spans[i].name, "process ", 8) && nth-- == 0)
			return &r->spans[i];
	return NULL;
}

static long tid_after(const char *out, const char *word)
{
	const char *p = strstr(out, word);
	return p ? strtol(p + strlen(word), NULL, 10) : -1;
}

Test(core, mutex_wait_span_of_known_length)
{
	trun_t r;
	const char *argv[] = { "progs/mutex_wait", "50", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "exit %d stderr: %s", r.exit_code, r.err);
	long waiter = tid_after(r.out, "waiter ");
	cr_assert_gt(waiter, 0);
	cr_assert_eq(tspan_count(&r, "pthread_mutex_lock"), 1, "exactly one wait recorded");
	const tspan_t *w = tspan_find(&r, "pthread_mutex_lock", 0);
	cr_assert_geq(tspan_ms(w), 40.0, "waited %.2f ms", tspan_ms(w));
	cr_assert_leq(tspan_ms(w), 250.0, "waited %.2f ms", tspan_ms(w));
	cr_assert_eq(tspan_attr_int(w, "thread.id", -1), waiter);
	cr_assert_not_null(tspan_attr_str(w, "otcshim.lock.addr"));
	const tspan_t *ts = thread_span_of(&r, waiter);
	cr_assert_not_null(ts, "the waiter has a thread span");
	cr_assert_str_eq(w->parent_id, ts->span_id, "the wait is a child of the waiter's span");
	cr_assert_str_eq(w->trace_id, ts->trace_id);
	long holder = tspan_attr_int(w, "otcshim.holder.thread.id", -1);
	cr_assert_gt(holder, 0);
	cr_assert_neq(holder, waiter);
	const tspan_t *hs = thread_span_of(&r, holder);
	cr_assert_not_null(hs);
	cJSON *link = cJSON_GetArrayItem(cJSON_GetObjectItem(w->json, "links"), 0);
	cr_assert_not_null(link, "a link to the holder's span");
	cr_assert_str_eq(cJSON_GetObjectItem(link, "spanId")->valuestring, hs->span_id);
	/* the wait lies inside the waiter's thread span */
	cr_assert_geq(w->start_ns, ts->start_ns);
	cr_assert_leq(w->end_ns, ts->end_ns);
	trun_free(&r);
}

Test(core, thread_tree_and_root)
{
	trun_t r;
	const char *argv[] = { "progs/tree", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "exit %d stderr: %s", r.exit_code, r.err);
	cr_assert(strstr(r.out, "b returned 7"), "pthread_exit value passes through");
	const tspan_t *root = process_span(&r, 0);
	cr_assert_not_null(root);
	cr_assert_str_eq(root->name, "process tree");
	cr_assert_str_eq(root->parent_id, "", "the process span is the root");
	cr_assert_null(process_span(&r, 1), "one root");
	const tspan_t *a = thread_span_of(&r, tid_after(r.out, "\na "));
	const tspan_t *b = thread_span_of(&r, tid_after(r.out, "\nb "));
	const tspan_t *g = thread_span_of(&r, tid_after(r.out, "grandchild "));
	cr_assert(a && b && g, "a span for every created thread");
	cr_assert_str_eq(a->parent_id, root->span_id);
	cr_assert_str_eq(b->parent_id, root->span_id);
	cr_assert_str_eq(g->parent_id, a->span_id, "parented to the creating thread");
	for (int i = 0; i < r.nspans; i++)
		cr_assert_str_eq(r.spans[i].trace_id, root->trace_id, "one trace");
	cr_assert_str_eq(tspan_attr_str(b, "otcshim.thread.end"), "pthread_exit");
	cr_assert_str_eq(tspan_attr_str(a, "otcshim.thread.end"), "return");
	cr_assert_eq(tspan_attr_int(g, "otcshim.parent.thread.id", -1), tid_after(r.out, "\na "));
	cr_assert_geq(g->start_ns, a->start_ns);
	cr_assert_leq(g->end_ns, a->end_ns);
	cr_assert_leq(a->end_ns, root->end_ns);
	trun_free(&r);
}

Test(core, results_identical_for_every_mutex_kind)
{
	trun_t n, s;
	const char *argv[] = { "progs/mutex_kinds", NULL };
	cr_assert_eq(trun(&n, argv, NULL, 0), 0);
	cr_assert_eq(trun(&s, argv, NULL, 1), 0);
	cr_assert_eq(n.exit_code, 3);
	cr_assert_eq(s.exit_code, 3, "exit code passes through");
	cr_assert_str_eq(s.out, n.out, "every return value and errno identical");
	cr_assert(strstr(s.out, "EOWNERDEAD") && strstr(s.out, "ENOTRECOVERABLE") &&
		  strstr(s.out, "EDEADLK") && strstr(s.out, "EPERM") && strstr(s.out, "EBUSY"));
	/* timed waits that time out are error spans */
	int timeouts = 0, deadlk = 0, pshared = 0;
	for (int i = 0; i < s.nspans; i++) {
		const tspan_t *t = &s.spans[i];
		if (t->status_msg && !strcmp(t->status_msg, "ETIMEDOUT")) {
			cr_assert_eq(t->status_code, 2);
			timeouts++;
		}
		if (t->status_msg && !strcmp(t->status_msg, "EDEADLK"))
			deadlk++;
		if (!strcmp(t->name, "pthread_mutex_lock") && tspan_ms(t) > 20 &&
		    !tspan_has_attr(t, "otcshim.holder.thread.id"))
			pshared++;
	}
	/* 30 ms timedlock + 20 ms clocklock, for each of normal, recursive,
	 * errorcheck and PI */
	cr_assert_geq(timeouts, 8, "%d ETIMEDOUT spans", timeouts);
	cr_assert_eq(deadlk, 0, "a self-owned error-checking mutex is not contention");
	cr_assert_geq(pshared, 1, "process-shared wait recorded, without a foreign holder");
	trun_free(&n);
	trun_free(&s);
}

Test(core, fork_child_is_a_new_process)
{
	trun_t r;
	const char *argv[] = { "progs/fork_child", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "exit %d stderr: %s", r.exit_code, r.err);
	cr_assert(strstr(r.out, "child-status 0"));
	long parent_pid = tid_after(r.out, "parent ");
	long child_pid = tid_after(r.out, "child ");
	const tspan_t *p0 = process_span(&r, 0), *p1 = process_span(&r, 1);
	cr_assert(p0 && p1, "a root span in each process");
	cr_assert_null(process_span(&r, 2));
	const tspan_t *pp = tspan_attr_int(p0, "process.pid", 0) == parent_pid ? p0 : p1;
	const tspan_t *cp = pp == p0 ? p1 : p0;
	cr_assert_eq(tspan_attr_int(pp, "process.pid", 0), parent_pid);
	cr_assert_eq(tspan_attr_int(cp, "process.pid", 0), child_pid);
	cr_assert_str_neq(pp->trace_id, cp->trace_id, "the child has its own trace");
	cJSON *link = cJSON_GetArrayItem(cJSON_GetObjectItem(cp->json, "links"), 0);
	cr_assert_not_null(link, "the child's root links to the forking span");
	cr_assert_str_eq(cJSON_GetObjectItem(link, "traceId")->valuestring, pp->trace_id);
	char pidstr[32];
	snprintf(pidstr, sizeof pidstr, "%ld", child_pid);
	int child_waits = 0;
	for (int i = 0; i < r.nspans; i++) {
		const tspan_t *t = &r.spans[i];
		for (int j = i + 1; j < r.nspans; j++)
			cr_assert_str_neq(t->span_id, r.spans[j].span_id, "no span sent twice");
		if (!strcmp(t->trace_id, cp->trace_id)) {
			cr_assert_str_eq(tspan_res_str(t, "process.pid"), pidstr);
			if (!strcmp(t->name, "pthread_mutex_lock") && tspan_ms(t) > 30)
				child_waits++;
		}
	}
	cr_assert_eq(child_waits, 1, "the child's own wait, once; none of the parent's");
	trun_free(&r);
}

Test(core, exit_from_another_thread)
{
	trun_t r;
	const char *argv[] = { "progs/exit_thread", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 5);
	cr_assert_lt(r.seconds, 1.5, "exit is not held up (%.2f s)", r.seconds);
	const tspan_t *w = tspan_find(&r, "pthread_mutex_lock", 0);
	cr_assert_not_null(w, "the wait before exit was written");
	cr_assert_geq(tspan_ms(w), 20.0);
	cr_assert_not_null(process_span(&r, 0));
	trun_free(&r);
}

Test(core, sdk_disabled_records_nothing)
{
	trun_t n, s;
	const char *argv[] = { "progs/mutex_wait", "30", NULL };
	const char *env[] = { "OTEL_SDK_DISABLED=true", NULL };
	cr_assert_eq(trun(&n, argv, NULL, 0), 0);
	cr_assert_eq(trun(&s, argv, env, 1), 0);
	cr_assert_eq(s.exit_code, 0);
	cr_assert_eq(s.nspans, 0);
	cr_assert_eq(strncmp(s.out, "holder-start\nwaiter ", 20), 0);
	trun_free(&n);
	trun_free(&s);
}

Test(core, min_wait_filters_short_waits)
{
	trun_t r;
	const char *argv[] = { "progs/many_waits", "40", NULL };
	const char *high[] = { "OTCSHIM_MIN_WAIT=1s", NULL };
	cr_assert_eq(trun(&r, argv, high, 1), 0);
	cr_assert_eq(tspan_count(&r, "pthread_mutex_lock"), 0);
	cr_assert_gt(r.nspans, 0, "thread and process spans are still there");
	trun_free(&r);
	const char *low[] = { "OTCSHIM_MIN_WAIT=50us", NULL };
	cr_assert_eq(trun(&r, argv, low, 1), 0);
	cr_assert_geq(tspan_count(&r, "pthread_mutex_lock"), 10, "%d waits",
		      tspan_count(&r, "pthread_mutex_lock"));
	trun_free(&r);
}

Test(core, full_pool_drops_and_says_so)
{
	trun_t r;
	const char *argv[] = { "progs/pshared_many", "60", NULL };
	const char *env[] = { "OTCSHIM_POOL_SIZE=16", "OTCSHIM_MIN_WAIT=0", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert_str_eq(r.out, "done\n");
	cr_assert(strstr(r.err, "dropped (pool full)"), "stderr: %s", r.err);
	int waits = tspan_count(&r, "pthread_mutex_lock");
	cr_assert_leq(waits, 2 * 16, "never more than the two rings hold");
	cr_assert_gt(waits, 0);
	/* the parent's ring is full at exit; the child leaves with _exit and
	 * writes nothing */
	cr_assert_not_null(process_span(&r, 0), "the root span survives a full ring");
	trun_free(&r);
}

Test(core, resource_attributes)
{
	trun_t r;
	const char *argv[] = { "progs/mutex_wait", "5", NULL };
	const char *env[] = { "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=staging,team=a%20b",
			      NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_gt(r.nspans, 0);
	const tspan_t *s = &r.spans[0];
	cr_assert_str_eq(tspan_res_str(s, "service.name"), "unknown_service:mutex_wait");
	cr_assert_str_eq(tspan_res_str(s, "deployment.environment"), "staging");
	cr_assert_str_eq(tspan_res_str(s, "team"), "a b");
	cr_assert_str_eq(tspan_res_str(s, "telemetry.sdk.name"), "otcshim");
	cr_assert_str_eq(tspan_res_str(s, "process.executable.name"), "mutex_wait");
	trun_free(&r);
	const char *env2[] = { "OTEL_SERVICE_NAME=cache-svc",
			       "OTEL_RESOURCE_ATTRIBUTES=service.name=ignored", NULL };
	cr_assert_eq(trun(&r, argv, env2, 1), 0);
	cr_assert_str_eq(tspan_res_str(&r.spans[0], "service.name"), "cache-svc",
			 "OTEL_SERVICE_NAME wins");
	trun_free(&r);
}

Test(core, bad_environment_warns_and_runs)
{
	trun_t r;
	const char *argv[] = { "progs/mutex_wait", "5", NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=soon", "OTCSHIM_POOL_SIZE=-3",
			      "OTEL_SDK_DISABLED=maybe", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert(strstr(r.err, "OTCSHIM_MIN_WAIT=\"soon\""));
	cr_assert(strstr(r.err, "OTCSHIM_POOL_SIZE=\"-3\""));
	cr_assert(strstr(r.err, "OTEL_SDK_DISABLED=\"maybe\""));
	cr_assert_gt(r.nspans, 0, "defaults kept: still tracing");
	trun_free(&r);
}
