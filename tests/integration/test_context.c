/* Integration tests of trace context (issue 4): TRACEPARENT / TRACESTATE,
 * segments of a long-running process (OTCSHIM_SEGMENT), and OTCSHIM_HOOKS
 * turning each family on and off. */
#include "h4_util.h"

#define TP_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_SPAN "00f067aa0ba902b7"

static int nroots(const trun_t *r)
{
	int n = 0;
	for (int i = 0; i < r->nspans; i++)
		n += !strncmp(r->spans[i].name, "process ", 8);
	return n;
}

static const tspan_t *nth_root(const trun_t *r, int nth)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strncmp(r->spans[i].name, "process ", 8) && nth-- == 0)
			return &r->spans[i];
	return NULL;
}

static const char *trace_state(const tspan_t *s)
{
	cJSON *v = cJSON_GetObjectItem(s->json, "traceState");
	return v ? v->valuestring : NULL;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(context, traceparent_makes_the_root_its_child)
{
	trun_t r;
	const char *argv[] = { "progs/mutex_wait", "20", NULL };
	const char *env[] = { "TRACEPARENT=00-" TP_TRACE "-" TP_SPAN "-01", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert_eq(nroots(&r), 1);
	const tspan_t *root = root_span(&r);
	cr_assert_str_eq(root->parent_id, TP_SPAN, "the root is the given span's child");
	cr_assert_str_eq(root->trace_id, TP_TRACE);
	cr_assert_neq(strcmp(root->span_id, TP_SPAN), 0, "a span id of its own");
	cJSON *fl = cJSON_GetObjectItem(root->json, "flags");
	cr_assert(fl && ((int)fl->valuedouble & 0x300) == 0x300, "the parent is remote");
	cr_assert_geq(r.nspans, 4, "threads and a wait");
	for (int i = 0; i < r.nspans; i++) {
		cr_assert_str_eq(r.spans[i].trace_id, TP_TRACE, "%s is in the trace", r.spans[i].name);
		cr_assert_neq(strcmp(r.spans[i].parent_id, ""), 0, "nothing else is a root");
	}
	cr_assert_null(strstr(r.err, "TRACEPARENT"), "no warning: %s", r.err);
	trun_free(&r);
}

Test(context, tracestate_is_carried_on_the_root)
{
	trun_t r;
	const char *argv[] = { "progs/mutex_wait", "5", NULL };
	const char *env[] = { "TRACEPARENT=00-" TP_TRACE "-" TP_SPAN "-01",
			      "TRACESTATE=vendor=abc,other=x1", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	const tspan_t *root = root_span(&r);
	cr_assert_not_null(root);
	cr_assert_not_null(trace_state(root));
	cr_assert_str_eq(trace_state(root), "vendor=abc,other=x1");
	trun_free(&r);
}

Test(context, bad_traceparent_warns_once_and_starts_a_new_trace)
{
	static const char *bad[] = {
		"TRACEPARENT=garbage",
		"TRACEPARENT=00-" TP_TRACE "-" TP_SPAN "-01-extra", /* version 00 is exact */
		"TRACEPARENT=ff-" TP_TRACE "-" TP_SPAN "-01",	     /* version ff */
		"TRACEPARENT=00-00000000000000000000000000000000-" TP_SPAN "-01",
		"TRACEPARENT=00-" TP_TRACE "-0000000000000000-01",
		"TRACEPARENT=00-4BF92F3577B34DA6A3CE929D0E0E4736-" TP_SPAN "-01", /* uppercase */
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		trun_t r;
		const char *argv[] = { "progs/mutex_wait", "5", NULL };
		const char *env[] = { bad[k], NULL };
		cr_assert_eq(trun(&r, argv, env, 1), 0);
		cr_assert_eq(r.exit_code, 0);
		cr_assert_eq(count_lines(r.err, "TRACEPARENT"), 1, "%s: one warning, got: %s", bad[k],
			     r.err);
		const tspan_t *root = root_span(&r);
		cr_assert_not_null(root);
		cr_assert_str_eq(root->parent_id, "", "%s: a root of a new trace", bad[k]);
		cr_assert_neq(strcmp(root->trace_id, TP_TRACE), 0);
		cr_assert_neq(strcmp(root->trace_id, "00000000000000000000000000000000"), 0);
		cr_assert_null(trace_state(root));
		for (int i = 0; i < r.nspans; i++)
			cr_assert_str_eq(r.spans[i].trace_id, root->trace_id);
		trun_free(&r);
	}
}

/* Every span's parent is in the run and in the same trace; returns the
 * number of distinct traces. */
static int check_tree(const trun_t *r)
{
	int traces = 0;
	for (int i = 0; i < r->nspans; i++) {
		const tspan_t *s = &r->spans[i];
		if (!strncmp(s->name, "process ", 8)) {
			traces++;
			continue;
		}
		const tspan_t *p = tspan_by_id(r, s->parent_id);
		cr_assert_not_null(p, "%s: its parent is in the run", s->name);
		cr_assert_str_eq(p->trace_id, s->trace_id, "%s: in its parent's trace", s->name);
	}
	return traces;
}

Test(context, long_run_is_cut_into_linked_segments)
{
	trun_t r;
	const char *argv[] = { "progs/segment_long", "450", NULL };
	const char *env[] = { "OTCSHIM_SEGMENT=100ms", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "stderr %s", r.err);
	int n = check_tree(&r);
	cr_assert(n >= 3 && n <= 6, "%d segments for 450 ms cut every 100 ms", n);
	/* roots: distinct traces, each one (but the first) a root of its own
	 * linked to the one before */
	const tspan_t *first = NULL;
	for (int k = 0; k < n; k++) {
		const tspan_t *a = nth_root(&r, k);
		cr_assert_str_eq(a->parent_id, "");
		cr_assert_str_eq(a->name, "process segment_long");
		if (!link_span(a, 0)) {
			cr_assert_null(first, "only the first segment has no predecessor");
			first = a;
			continue;
		}
		const tspan_t *prev = tspan_by_id(&r, link_span(a, 0));
		cr_assert_not_null(prev, "linked to the previous segment's root");
		cr_assert_neq(strcmp(prev->trace_id, a->trace_id), 0);
		cr_assert_leq(prev->end_ns, a->start_ns + 1000000, "the segments follow each other");
	}
	cr_assert_not_null(first);
	/* the ticker lives through every segment: one span per segment it was
	 * active in, each linked to its previous one */
	long ticker = num_after(r.out, "ticker ");
	int pieces = 0, linked = 0, cut = 0;
	for (int i = 0; i < r.nspans; i++) {
		const tspan_t *s = &r.spans[i];
		if (strncmp(s->name, "thread ", 7) || tspan_attr_int(s, "thread.id", -1) != ticker)
			continue;
		pieces++;
		const char *end = tspan_attr_str(s, "otcshim.thread.end");
		cut += end && !strcmp(end, "segment_cut");
		cr_assert_not_null(tspan_by_id(&r, s->parent_id));
		cr_assert_str_eq(tspan_by_id(&r, s->parent_id)->name, "process segment_long",
				 "a continued thread span hangs under its segment's root");
		if (link_span(s, 0)) {
			const tspan_t *prev = tspan_by_id(&r, link_span(s, 0));
			cr_assert_not_null(prev);
			cr_assert_eq(tspan_attr_int(prev, "thread.id", -1), ticker);
			cr_assert_neq(strcmp(prev->trace_id, s->trace_id), 0);
			cr_assert_leq(prev->end_ns, s->start_ns);
			linked++;
		}
	}
	cr_assert_geq(pieces, 3, "the ticker's span continues across the cuts");
	cr_assert_eq(linked, pieces - 1, "each piece but the first links to the one before");
	cr_assert_eq(cut, pieces - 1, "every piece but the last ends at a cut (otcshim.thread.end=segment_cut)");
	/* the thread created half way lives in a later trace */
	const tspan_t *late = thread_span_of(&r, num_after(r.out, "late "));
	cr_assert_not_null(late);
	cr_assert_neq(strcmp(late->trace_id, first->trace_id), 0);
	trun_free(&r);
}

Test(context, short_programs_stay_one_trace)
{
	static const char *envs[] = { NULL, "OTCSHIM_SEGMENT=0", "OTCSHIM_SEGMENT=10s" };
	for (int k = 0; k < 3; k++) {
		trun_t r;
		const char *argv[] = { "progs/segment_long", "200", NULL };
		const char *env[] = { envs[k], NULL };
		cr_assert_eq(trun(&r, argv, env, 1), 0);
		cr_assert_eq(r.exit_code, 0);
		cr_assert_eq(check_tree(&r), 1, "%s: one trace", envs[k] ? envs[k] : "default");
		const tspan_t *root = root_span(&r);
		for (int i = 0; i < r.nspans; i++)
			cr_assert_str_eq(r.spans[i].trace_id, root->trace_id);
		cr_assert_null(link_span(root, 0));
		trun_free(&r);
	}
}

Test(context, segments_after_a_traceparent_are_traces_of_their_own)
{
	trun_t r;
	const char *argv[] = { "progs/segment_long", "250", NULL };
	const char *env[] = { "OTCSHIM_SEGMENT=100ms", "TRACEPARENT=00-" TP_TRACE "-" TP_SPAN "-01",
			      "TRACESTATE=k=v", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	int n = check_tree(&r);
	cr_assert_geq(n, 2);
	int children = 0;
	for (int k = 0; k < n; k++) {
		const tspan_t *a = nth_root(&r, k);
		if (!strcmp(a->parent_id, TP_SPAN)) {
			children++;
			cr_assert_str_eq(a->trace_id, TP_TRACE);
			cr_assert_str_eq(trace_state(a), "k=v");
		} else {
			cr_assert_str_eq(a->parent_id, "");
			cr_assert_neq(strcmp(a->trace_id, TP_TRACE), 0);
			cr_assert_not_null(link_span(a, 0));
		}
	}
	cr_assert_eq(children, 1, "only the first segment is the caller's child");
	trun_free(&r);
}

/* spans named name, or starting with it when it ends with a space */
static int count_named(const trun_t *r, const char *name)
{
	size_t n = strlen(name);
	if (!n || name[n - 1] != ' ')
		return tspan_count(r, name);
	int c = 0;
	for (int i = 0; i < r->nspans; i++)
		c += !strncmp(r->spans[i].name, name, n);
	return c;
}

/* OTCSHIM_HOOKS: each family off in turn; its spans go, the others stay. */
Test(hooks, each_family_can_be_disabled)
{
	static const struct {
		const char *family;
		const char *spans[3];
	} fam[] = {
		{ "mutex", { "pthread_mutex_lock" } },
		{ "rwlock", { "pthread_rwlock_rdlock", "pthread_rwlock_wrlock" } },
		{ "cond", { "pthread_cond_wait" } },
		{ "sem", { "sem_wait" } },
		{ "once", { "pthread_once", "pthread_once init" } },
		{ "join", { "pthread_join" } },
		{ "barrier", { "pthread_barrier_wait" } },
		{ "spin", { "pthread_spin_lock" } },
		{ "thread", { "thread " } }, /* any thread span (under ASan the routine is ASan's) */
	};
	const size_t nf = sizeof fam / sizeof fam[0];
	trun_t n, all;
	const char *argv[] = { "progs/mixed_families", "8", NULL };
	const char *env_all[] = { "OTCSHIM_HOOKS=all", NULL };
	cr_assert_eq(trun(&n, argv, NULL, 0), 0);
	cr_assert_eq(trun(&all, argv, env_all, 1), 0);
	cr_assert_str_eq(all.out, n.out);
	for (size_t f = 0; f < nf; f++)
		for (int k = 0; k < 3 && fam[f].spans[k]; k++)
			cr_assert_geq(count_named(&all, fam[f].spans[k]), 1, "all: a %s span",
				      fam[f].spans[k]);
	for (size_t off = 0; off < nf; off++) {
		char hooks[256] = "OTCSHIM_HOOKS=";
		for (size_t f = 0; f < nf; f++)
			if (f != off) {
				strcat(hooks, fam[f].family);
				strcat(hooks, ",");
			}
		trun_t r;
		const char *env[] = { hooks, NULL };
		cr_assert_eq(trun(&r, argv, env, 1), 0);
		cr_assert_str_eq(r.out, n.out, "%s: same results", hooks);
		for (size_t f = 0; f < nf; f++)
			for (int k = 0; k < 3 && fam[f].spans[k]; k++) {
				int c = count_named(&r, fam[f].spans[k]);
				if (f == off)
					cr_assert_eq(c, 0, "%s off: no %s span", fam[off].family,
						     fam[f].spans[k]);
				else
					cr_assert_geq(c, 1, "%s off: %s still recorded", fam[off].family,
						      fam[f].spans[k]);
			}
		trun_free(&r);
	}
	trun_free(&n);
	trun_free(&all);
}
