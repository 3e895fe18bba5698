/* Integration tests of the pthread_spin_lock hook (issue 4). */
#include "h4_util.h"

Test(spin, spin_above_threshold_is_a_span)
{
	trun_t n, s;
	const char *argv[] = { "progs/spin_wait", "30", NULL };
	run_both(&n, &s, argv, NULL);
	cr_assert_eq(n.exit_code, 0);
	assert_same_output(&n, &s);
	cr_assert(strstr(s.out, "trylock held: EBUSY"));
	char spin[64];
	addr_after(s.out, "spin ", spin, sizeof spin);
	long spinner = num_after(s.out, "spinner ");
	cr_assert_eq(count_of(&s, "pthread_spin_lock", -1), 1,
		      "one contended spin; the 1000 free locks are not waits");
	const tspan_t *w = span_of(&s, "pthread_spin_lock", spinner, 0);
	cr_assert_not_null(w);
	cr_assert(tspan_ms(w) >= 25 && tspan_ms(w) <= 250, "spin %.2f ms", tspan_ms(w));
	assert_parent(&s, w, spinner, 0);
	cr_assert_str_eq(tspan_attr_str(w, "otcshim.lock.addr"), spin);
	trun_free(&n);
	trun_free(&s);
}

Test(spin, short_spins_below_threshold_are_not_spans)
{
	trun_t r;
	const char *argv[] = { "progs/spin_wait", "30", NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=200ms", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(count_of(&r, "pthread_spin_lock", -1), 0);
	trun_free(&r);
}

Test(spin, disabled_family_records_nothing)
{
	trun_t r;
	const char *argv[] = { "progs/spin_wait", "30", NULL };
	const char *env[] = { "OTCSHIM_HOOKS=mutex,rwlock,cond,sem,once,join,barrier,thread", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert(strstr(r.out, "trylock free: 0"));
	cr_assert_eq(count_of(&r, "pthread_spin_lock", -1), 0);
	trun_free(&r);
}
