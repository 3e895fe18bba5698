/* cond.c - pthread_cond_* hooks.
 *
 * A condition wait blocks by nature, so there is no fast path to protect: the
 * hook checks that the family is traced, notes that the mutex is released
 * (it ends any hold-time measurement of it), and times the real call. The
 * real call re-acquires the mutex before it returns; that time is part of the
 * wait, and the record says so (OTS_RF_REACQUIRE). The span carries the cond
 * (otcshim.lock.addr) and the mutex (record obj2). Waits shorter than
 * OTCSHIM_MIN_WAIT are only counted (ots_wait_end filters).
 *
 * A timeout returns ETIMEDOUT to the host unchanged; the span gets that
 * status. A cancelled wait unwinds through this frame: nothing has been
 * written and no flag raised by then, so the shim's state stays consistent
 * (the span of a cancelled wait is simply not recorded).
 *
 * The real functions are the GLIBC_2.3.2 versions (shim/real.c resolves them
 * with dlvsym): our unversioned definitions take every call, so a binary
 * built against the old GLIBC_2.2.5 layout would be handed to the new one;
 * x86_64 binaries of that age are not expected.
 *
 * signal and broadcast record nothing. Their first step in glibc is one
 * relaxed load of the public __data.__wrefs (waiter references, counted from
 * bit 3): no waiter, nothing to do, return 0. The hook makes that same test
 * and returns 0 itself, which costs less than even the native call; with a
 * waiter it tail-calls the real function.
 */
#include "../shim/ots.h"

enum { PLAIN = 0, TIMED = 1, CLOCKED = 2 };

static int call_real(int kind, pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
		     const struct timespec *abs)
{
	if (kind == PLAIN)
		return ots_real.cond_wait(c, m);
	if (kind == TIMED)
		return ots_real.cond_timedwait(c, m, abs);
	return ots_real.cond_clockwait(c, m, clk, abs);
}

static OTS_NOINLINE OTS_UNWOUND int wait_traced(int kind, pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
				    const struct timespec *abs)
{
	static const uint16_t ops[3] = { OTS_OP_COND_WAIT, OTS_OP_COND_TIMEDWAIT,
					 OTS_OP_COND_CLOCKWAIT };
	ots_hold_check(m); /* the wait releases the mutex */
	ots_wait_t w;
	ots_wait_begin(&w, (ots_op_t)ops[kind], c, m, 0);
	w.flags |= OTS_RF_REACQUIRE;
	int ret = call_real(kind, c, m, clk, abs);
	ots_wait_end(&w, ret);
	return ret;
}

static OTS_COLD void resolve(void)
{
	ots_real_resolve();
	ots_ensure_init();
}

OTS_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (ots_unlikely(!ots_real.cond_wait))
		resolve();
	if (!ots_should_trace(OTS_FAM_COND))
		return ots_real.cond_wait(c, m);
	return wait_traced(PLAIN, c, m, CLOCK_REALTIME, NULL);
}

OTS_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				      const struct timespec *abs)
{
	if (ots_unlikely(!ots_real.cond_timedwait))
		resolve();
	if (!ots_should_trace(OTS_FAM_COND))
		return ots_real.cond_timedwait(c, m, abs);
	return wait_traced(TIMED, c, m, CLOCK_REALTIME, abs);
}

OTS_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
				      const struct timespec *abs)
{
	if (ots_unlikely(!ots_real.cond_clockwait))
		resolve();
	if (!ots_should_trace(OTS_FAM_COND))
		return ots_real.cond_clockwait(c, m, clk, abs);
	return wait_traced(CLOCKED, c, m, clk, abs);
}

static inline int no_waiter(const pthread_cond_t *c)
{
	return (__atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED) >> 3) == 0;
}

static OTS_COLD int wake_cold(pthread_cond_t *c, int all)
{
	ots_real_resolve();
	return all ? ots_real.cond_broadcast(c) : ots_real.cond_signal(c);
}

OTS_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	if (ots_likely(no_waiter(c)))
		return 0;
	int (*real)(pthread_cond_t *) = ots_real.cond_signal;
	if (ots_likely(real != NULL))
		return real(c);
	return wake_cold(c, 0);
}

OTS_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	if (ots_likely(no_waiter(c)))
		return 0;
	int (*real)(pthread_cond_t *) = ots_real.cond_broadcast;
	if (ots_likely(real != NULL))
		return real(c);
	return wake_cold(c, 1);
}
