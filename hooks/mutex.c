/* mutex.c - pthread_mutex_* hooks.
 *
 * Fast path: one relaxed load of the lock word (glibc's public layout,
 * __data.__lock, which is non-zero whenever the mutex is held, for every kind:
 * normal, recursive, error-checking, robust, PI, process-shared), and when it
 * reads zero a tail call to the real function. No clock, no store, no TLS.
 * Measured on the uncontended pair: calling the real trylock first costs about
 * 1.35x native, this check about 1.15x (see README, make bench).
 *
 * Slow path (out of line): the lock looked held. A recursive or error-checking
 * mutex held by the caller itself is not contention (the real call returns at
 * once, with the count bumped or EDEADLK): pass through. Otherwise note the
 * holder (__data.__owner; not for process-shared mutexes, whose owner is a tid
 * in another process), time the real call and record the wait. A lock released
 * between our load and the real call is a wait of a few ns: it counts in the
 * statistics but stays below OTCSHIM_MIN_WAIT. An acquisition that races past
 * the check (the lock taken by someone else right after we read zero) goes
 * unrecorded; the README says so.
 */
#include "../shim/ots.h"

#define PSHARED_BIT 128 /* glibc's PTHREAD_MUTEX_PSHARED_BIT in __kind */

static inline int lock_word(const pthread_mutex_t *m)
{
	return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
}

static int holder_of(const pthread_mutex_t *m)
{
	if (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & PSHARED_BIT)
		return 0;
	return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
}

/* Returns the holder tid (>0), 0 when unknown, or -1 when the caller itself
 * owns the mutex and the real call returns at once (a recursive one counts
 * up, an error-checking one says EDEADLK: no contention). A normal or
 * adaptive mutex relocked by its owner never returns: that is a wait on
 * itself, and its holder is the caller (a deadlock of one thread). */
static int contention_holder(const pthread_mutex_t *m)
{
	int owner = holder_of(m);
	if (owner && owner == ots_tid()) {
		int kind = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & 0x7f & ~PSHARED_BIT;
		int type = kind & 3; /* NORMAL 0, RECURSIVE 1, ERRORCHECK 2, ADAPTIVE 3 */
		int robust_or_pi = kind & (16 | 32 | 64); /* robust, PI, PP: left alone */
		return (type == 0 || type == 3) && !robust_or_pi ? owner : -1;
	}
	return owner;
}

static OTS_NOINLINE int lock_slow(pthread_mutex_t *m)
{
	if (ots_unlikely(!ots_real.mutex_lock))
		ots_real_resolve();
	ots_ensure_init();
	if (!ots_should_trace(OTS_FAM_MUTEX))
		return ots_real.mutex_lock(m);
	int holder = contention_holder(m);
	if (holder < 0)
		return ots_real.mutex_lock(m);
	ots_wait_t w;
	ots_wait_begin(&w, OTS_OP_MUTEX_LOCK, m, NULL, holder);
	int ret = ots_real.mutex_lock(m);
	ots_wait_end(&w, ret);
	return ret;
}

OTS_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	int (*real)(pthread_mutex_t *) = ots_real.mutex_lock;
	if (ots_likely(ots_real_mutex_ready(real)) && ots_likely(lock_word(m) == 0))
		return real(m);
	return lock_slow(m);
}

OTS_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (ots_unlikely(!ots_real_mutex_ready(ots_real.mutex_trylock)))
		ots_real_resolve();
	return ots_real.mutex_trylock(m);
}

/* Unlock: the real function, unless this thread holds a lock it acquired
 * after contention (hold time for the statistics): then out of line. */
static OTS_NOINLINE int unlock_slow(pthread_mutex_t *m)
{
	if (ots_unlikely(!ots_real.mutex_unlock))
		ots_real_resolve();
	ots_hold_check(m);
	return ots_real.mutex_unlock(m);
}

OTS_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	int (*real)(pthread_mutex_t *) = ots_real.mutex_unlock;
	if (ots_likely(ots_real_mutex_ready(real)) && ots_likely(ots_tls.nheld == 0))
		return real(m);
	return unlock_slow(m);
}

static OTS_NOINLINE int timedlock_slow(pthread_mutex_t *m, clockid_t clk,
				       const struct timespec *abs, int clocked)
{
	ots_ensure_init();
	int (*timed)(pthread_mutex_t *, const struct timespec *) = ots_real.mutex_timedlock;
	int (*clock)(pthread_mutex_t *, clockid_t, const struct timespec *) =
		ots_real.mutex_clocklock;
	int holder = -1;
	if (ots_should_trace(OTS_FAM_MUTEX) && lock_word(m) != 0)
		holder = contention_holder(m);
	if (holder < 0)
		return clocked ? clock(m, clk, abs) : timed(m, abs);
	ots_wait_t w;
	ots_wait_begin(&w, clocked ? OTS_OP_MUTEX_CLOCKLOCK : OTS_OP_MUTEX_TIMEDLOCK, m, NULL,
		       holder);
	int ret = clocked ? clock(m, clk, abs) : timed(m, abs);
	ots_wait_end(&w, ret);
	return ret;
}

OTS_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	if (ots_unlikely(!ots_real.mutex_timedlock))
		ots_real_resolve();
	if (ots_likely(lock_word(m) == 0))
		return ots_real.mutex_timedlock(m, abs);
	return timedlock_slow(m, CLOCK_REALTIME, abs, 0);
}

OTS_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk,
				       const struct timespec *abs)
{
	if (ots_unlikely(!ots_real.mutex_clocklock))
		ots_real_resolve();
	if (ots_likely(lock_word(m) == 0))
		return ots_real.mutex_clocklock(m, clk, abs);
	return timedlock_slow(m, clk, abs, 1);
}
