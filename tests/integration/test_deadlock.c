/* Integration tests of deadlock detection (issue 10): a cycle of waits on
 * mutexes (AB-BA), a thread relocking a normal mutex it holds, and two
 * threads joining each other are named while the process still hangs, with
 * the threads, the locks by symbol and the holders, once; a span per wait of
 * the cycle, ERROR "deadlock", linked to its holder. OTCSHIM_ON_DEADLOCK=abort
 * raises SIGABRT after the report. Natively the program just hangs until its
 * main exits. */
#include "h4_util.h"

#include <signal.h>
#include <unistd.h>

static void run_mode(trun_t *r, const char *mode, const char *on_deadlock)
{
	const char *argv[] = { "progs/deadlock", mode, NULL };
	const char *env[] = { "OTCSHIM_STALL=500ms", on_deadlock, NULL };
	cr_assert_eq(trun_bounded(r, argv, env, 1, 20.0), 0);
	cr_assert(!r->timed_out, "%s: %s", mode, trun_status(r));
}

static int lines_with(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

Test(deadlock, ab_ba_is_named_once)
{
	trun_t r;
	run_mode(&r, "abba", "OTCSHIM_ON_DEADLOCK=report");
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_eq(lines_with(r.err, "otcshim: deadlock: 2 threads wait for each other"), 1,
		     "%s", r.err);
	cr_assert(strstr(r.err, " in pthread_mutex_lock for lock_a (0x"), "%s", r.err);
	cr_assert(strstr(r.err, " in pthread_mutex_lock for lock_b (0x"), "%s", r.err);
	/* the call sites: where each thread waits, with its line */
	cr_assert(strstr(r.err, " waits at a_then_b+0x") && strstr(r.err, " waits at b_then_a+0x"),
		  "%s", r.err);
	cr_assert(strstr(r.err, "(deadlock.c:"), "no line: %s", r.err);
	cr_assert_eq(tspan_count(&r, "deadlock pthread_mutex_lock"), 2);
	const tspan_t *d = tspan_find(&r, "deadlock pthread_mutex_lock", 0);
	cr_assert_eq(d->status_code, 2);
	cr_assert_str_eq(d->status_msg, "deadlock");
	cr_assert_gt(tspan_attr_int(d, "otcshim.holder.thread.id", 0), 0);
	cJSON *links = cJSON_GetObjectItem(d->json, "links");
	cr_assert(cJSON_GetArraySize(links) == 1, "no link to the holder's thread span");
	unlink(r.outfile);
	trun_free(&r);
}

Test(deadlock, self_relock_of_a_normal_mutex)
{
	trun_t r;
	run_mode(&r, "self", "OTCSHIM_ON_DEADLOCK=report");
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert(strstr(r.err, "a thread waits for ever for a lock it holds itself"), "%s", r.err);
	cr_assert(strstr(r.err, "for lock_a (0x") && strstr(r.err, "itself (for"), "%s", r.err);
	unlink(r.outfile);
	trun_free(&r);
}

Test(deadlock, threads_joining_each_other)
{
	trun_t r;
	run_mode(&r, "join", "OTCSHIM_ON_DEADLOCK=report");
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_eq(lines_with(r.err, " in pthread_join for thread "), 2, "%s", r.err);
	unlink(r.outfile);
	trun_free(&r);
}

Test(deadlock, abort_raises_sigabrt_after_the_report)
{
	trun_t r;
	run_mode(&r, "abba", "OTCSHIM_ON_DEADLOCK=abort");
	cr_assert_eq(r.term_signal, SIGABRT, "%s\n%s", trun_status(&r), r.err);
	cr_assert(strstr(r.err, "otcshim: deadlock: 2 threads"), "%s", r.err);
	cr_assert_null(strstr(r.out, "main exits"), "it went on: %s", r.out);
	unlink(r.outfile);
	trun_free(&r);
}

/* contention that resolves is never a deadlock, and errorcheck or recursive
 * relocks are not waits */
Test(deadlock, none_in_brief_contention)
{
	trun_t r;
	const char *argv[] = { "progs/stall", "brief", NULL };
	const char *env[] = { "OTCSHIM_STALL=500ms", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert_null(strstr(r.err, "deadlock"), "%s", r.err);
	trun_free(&r);
}
