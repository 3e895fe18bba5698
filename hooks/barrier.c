/* barrier.c - pthread_barrier_wait hook.
 *
 * Every thread but the last to arrive blocks, and the barrier's state is not
 * public (pthread_barrier_t is an opaque array), so there is no fast path to
 * keep: when the family is traced the real call is timed and recorded. The
 * last arrival's wait is a few ns and stays below OTCSHIM_MIN_WAIT.
 * PTHREAD_BARRIER_SERIAL_THREAD reaches the host unchanged; the record keeps
 * 0 for it (it is not an error). pthread_barrier_wait is not a cancellation
 * point in glibc.
 */
#include "../shim/ots.h"

static OTS_NOINLINE int wait_traced(pthread_barrier_t *b)
{
	ots_wait_t w;
	ots_wait_begin(&w, OTS_OP_BARRIER_WAIT, b, NULL, 0);
	int ret = ots_real.barrier_wait(b);
	ots_wait_end(&w, ret == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : ret);
	return ret;
}

static OTS_COLD void resolve(void)
{
	ots_real_resolve();
	ots_ensure_init();
}

OTS_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
	if (ots_unlikely(!ots_real.barrier_wait))
		resolve();
	if (!ots_should_trace(OTS_FAM_BARRIER))
		return ots_real.barrier_wait(b);
	return wait_traced(b);
}
