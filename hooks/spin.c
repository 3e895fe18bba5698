/* spin.c - pthread_spin_lock hook.
 *
 * Fast path: a glibc spinlock is an int. On x86 glibc's assembly lock counts
 * down: 1 is free (pthread_spin_init and unlock store 1), a lock decrements
 * it to 0, and a waiter spins while it is not positive. Elsewhere glibc's
 * generic lock uses 0 for free. One relaxed load tells which, and a free lock
 * is a tail call to the real function. Otherwise the spin is timed
 * around the real call and recorded when it reached OTCSHIM_MIN_WAIT (shorter
 * spins are counted in the statistics only). The holder is not known.
 *
 * pthread_spin_trylock and pthread_spin_unlock stay unhooked: a trylock never
 * waits, and an unlock hook would cost every critical section a call for the
 * hold time of the few that were contended. So a spinlock gets no hold-time
 * statistics: the entry ots_wait_end opens for it is forgotten at once.
 */
#include "../shim/ots.h"

static inline int spin_free(pthread_spinlock_t *l)
{
	int v = __atomic_load_n(l, __ATOMIC_RELAXED);
#if defined(__x86_64__) || defined(__i386__)
	return v > 0;
#else
	return v == 0;
#endif
}

static OTS_NOINLINE int lock_slow(pthread_spinlock_t *l)
{
	if (ots_unlikely(!ots_real.spin_lock))
		ots_real_resolve();
	ots_ensure_init();
	if (!ots_should_trace(OTS_FAM_SPIN))
		return ots_real.spin_lock(l);
	ots_wait_t w;
	ots_wait_begin(&w, OTS_OP_SPIN_LOCK, (const void *)l, NULL, 0);
	int ret = ots_real.spin_lock(l);
	ots_wait_end(&w, ret);
	if (ots_tls.nheld)
		ots_hold_release((const void *)l, 0);
	return ret;
}

OTS_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	int (*real)(pthread_spinlock_t *) = ots_real.spin_lock;
	if (ots_likely(real != NULL) && ots_likely(spin_free(l)))
		return real(l);
	return lock_slow(l);
}
