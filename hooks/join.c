/* join.c - pthread_join and its try/timed/clock variants.
 *
 * A join has no public state to read cheaply (struct pthread is private), and
 * it costs tens of microseconds with the thread's creation anyway, so the hook
 * always times the real call when the family is traced. It does not call
 * pthread_tryjoin_np first: the variants differ from tryjoin in ways that vary
 * between glibc versions (timeout validation, a cancellation point at entry),
 * and the host must get exactly what the real call gives. A join of a thread
 * that has already ended is a wait of a few microseconds: below
 * OTCSHIM_MIN_WAIT, and such a short join is left out of the per-lock
 * statistics as well (a join is not a lock; its stack would cost more than
 * the join).
 *
 * The wait names the joined thread: its tid, looked up in the registry by
 * pthread_t before the wait (the thread unregisters when it ends), goes in as
 * the "holder" (otcshim.holder.thread.id, with a link to its thread span,
 * also taken before the wait) and the pthread_t as obj2.
 *
 * pthread_tryjoin_np never waits: pass-through. A join cancelled while it
 * waits unwinds through this frame with nothing written and no flag raised.
 */
#include "../shim/ots.h"

enum { PLAIN = 0, TIMED = 1, CLOCKED = 2 };

static int call_real(int kind, pthread_t t, void **rv, clockid_t clk, const struct timespec *abs)
{
	if (kind == PLAIN)
		return ots_real.join(t, rv);
	if (kind == TIMED)
		return ots_real.timedjoin(t, rv, abs);
	return ots_real.clockjoin(t, rv, clk, abs);
}

static OTS_NOINLINE OTS_UNWOUND int join_traced(int kind, pthread_t t, void **rv, clockid_t clk,
				    const struct timespec *abs)
{
	static const uint16_t ops[3] = { OTS_OP_JOIN, OTS_OP_TIMEDJOIN, OTS_OP_CLOCKJOIN };
	int tid = ots_threads_tid_of(t);
	ots_wait_t w;
	ots_wait_begin(&w, (ots_op_t)ops[kind], (const void *)t, (const void *)t,
		       tid == ots_tid() ? 0 : tid);
	int ret = call_real(kind, t, rv, clk, abs);
	/* a join is not a lock: one shorter than OTCSHIM_MIN_WAIT (the thread
	 * had ended, or nearly) is neither a span nor worth a stack for the
	 * statistics, and skipping it keeps create+join close to native */
	if (ots_mono_ns() - w.t0 >= ots_g.min_wait_ns)
		ots_wait_end(&w, ret);
	return ret;
}

static OTS_COLD void resolve(void)
{
	ots_real_resolve();
	ots_ensure_init();
}

OTS_EXPORT int pthread_join(pthread_t t, void **rv)
{
	if (ots_unlikely(!ots_real.join))
		resolve();
	if (!ots_should_trace(OTS_FAM_JOIN))
		return ots_real.join(t, rv);
	return join_traced(PLAIN, t, rv, CLOCK_REALTIME, NULL);
}

OTS_EXPORT int pthread_timedjoin_np(pthread_t t, void **rv, const struct timespec *abs)
{
	if (ots_unlikely(!ots_real.timedjoin))
		resolve();
	if (!ots_should_trace(OTS_FAM_JOIN))
		return ots_real.timedjoin(t, rv, abs);
	return join_traced(TIMED, t, rv, CLOCK_REALTIME, abs);
}

OTS_EXPORT int pthread_clockjoin_np(pthread_t t, void **rv, clockid_t clk,
				    const struct timespec *abs)
{
	if (ots_unlikely(!ots_real.clockjoin))
		resolve();
	if (!ots_should_trace(OTS_FAM_JOIN))
		return ots_real.clockjoin(t, rv, clk, abs);
	return join_traced(CLOCKED, t, rv, clk, abs);
}

static OTS_COLD int tryjoin_cold(pthread_t t, void **rv)
{
	ots_real_resolve();
	return ots_real.tryjoin(t, rv);
}

OTS_EXPORT int pthread_tryjoin_np(pthread_t t, void **rv)
{
	int (*real)(pthread_t, void **) = ots_real.tryjoin;
	if (ots_likely(real != NULL))
		return real(t, rv);
	return tryjoin_cold(t, rv);
}
