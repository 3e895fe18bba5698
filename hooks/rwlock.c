/* rwlock.c - pthread_rwlock_* hooks.
 *
 * Fast path: one relaxed load of __data.__readers, glibc's public rwlock
 * state word (since 2.25): bit 0 WRPHASE (a write phase), bit 1 WRLOCKED (a
 * primary writer holds or is acquiring the lock), bits 3.. the number of
 * readers that hold or are acquiring it. A read lock cannot block when no
 * primary writer exists (WRLOCKED clear: in a read phase a reader just joins,
 * in an idle write phase it starts a read phase), nor, with a primary writer
 * waiting, in a read phase of a lock that does not prefer writers (glibc's
 * default kind lets readers in then; __flags says which kind, one more load
 * of the same line, made only when WRLOCKED is set). A write lock cannot block
 * when there is neither a reader nor a primary writer. In those states the
 * hook tail-calls the real function: no clock, no store, no TLS.
 *
 * Slow path (out of line): the lock looked busy. The real try-variant runs
 * first; success means there was no wait after all (a state the check above
 * does not decide, such as readers joining a read phase while a writer
 * waits under the default reader preference). On EBUSY the wait is timed
 * around the real blocking call. The holder is known for write locks
 * (__cur_writer, a tid; not for process-shared locks, whose tid belongs to
 * another process); when it is the caller itself the real call returns
 * EDEADLK at once, so that is passed through as no wait at all.
 *
 * The timed and clock variants check their timeout before anything else
 * (EINVAL for an unsupported clock or tv_nsec out of range, even when the lock
 * is free), so the try-first shortcut is taken only with a timeout glibc
 * would accept; otherwise the real call decides alone.
 *
 * Read and write waits are distinct operations (and span names).
 */
#include "../shim/ots.h"

#include <errno.h>

#define RW_WRPHASE 1u
#define RW_WRLOCKED 2u

static inline unsigned readers_word(const pthread_rwlock_t *rw)
{
	return __atomic_load_n(&rw->__data.__readers, __ATOMIC_RELAXED);
}

static inline int rd_free(const pthread_rwlock_t *rw)
{
	unsigned r = readers_word(rw);
	if (ots_likely(!(r & RW_WRLOCKED)))
		return 1;
	/* A primary writer exists. In a read phase readers still join, unless
	 * the lock prefers writers and forbids recursive readers (only then
	 * does glibc make a new reader wait for the writer). Same cache line. */
	return !(r & RW_WRPHASE) && __atomic_load_n(&rw->__data.__flags, __ATOMIC_RELAXED) !=
					    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

static inline int wr_free(const pthread_rwlock_t *rw)
{
	return (readers_word(rw) & ~RW_WRPHASE) == 0;
}

/* The writer's tid, 0 if unknown, -1 if it is the caller. */
static int holder_of(const pthread_rwlock_t *rw)
{
	if (__atomic_load_n(&rw->__data.__shared, __ATOMIC_RELAXED))
		return 0;
	int w = __atomic_load_n(&rw->__data.__cur_writer, __ATOMIC_RELAXED);
	if (w && w == ots_tid())
		return -1;
	return w;
}

/* glibc's own validity test of a timeout (futex_abstimed_supported_clockid and
 * valid_nanoseconds); NULL means no timeout. */
static int timeout_ok(clockid_t clk, const struct timespec *abs)
{
	if (!abs)
		return 1;
	return (clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC) && abs->tv_nsec >= 0 &&
	       abs->tv_nsec < 1000000000L;
}

enum { RD = 0, WR = 1 };
enum { PLAIN = 0, TIMED = 1, CLOCKED = 2 };

static int call_real(int mode, int kind, pthread_rwlock_t *rw, clockid_t clk,
		     const struct timespec *abs)
{
	if (mode == RD) {
		if (kind == PLAIN)
			return ots_real.rwlock_rdlock(rw);
		if (kind == TIMED)
			return ots_real.rwlock_timedrdlock(rw, abs);
		return ots_real.rwlock_clockrdlock(rw, clk, abs);
	}
	if (kind == PLAIN)
		return ots_real.rwlock_wrlock(rw);
	if (kind == TIMED)
		return ots_real.rwlock_timedwrlock(rw, abs);
	return ots_real.rwlock_clockwrlock(rw, clk, abs);
}

static const uint16_t ops[2][3] = {
	{ OTS_OP_RWLOCK_RDLOCK, OTS_OP_RWLOCK_TIMEDRDLOCK, OTS_OP_RWLOCK_CLOCKRDLOCK },
	{ OTS_OP_RWLOCK_WRLOCK, OTS_OP_RWLOCK_TIMEDWRLOCK, OTS_OP_RWLOCK_CLOCKWRLOCK },
};

static OTS_NOINLINE int lock_slow(int mode, int kind, pthread_rwlock_t *rw, clockid_t clk,
				  const struct timespec *abs)
{
	if (ots_unlikely(!ots_real.rwlock_rdlock))
		ots_real_resolve();
	ots_ensure_init();
	if (!ots_should_trace(OTS_FAM_RWLOCK) || !timeout_ok(kind == TIMED ? CLOCK_REALTIME : clk, abs))
		return call_real(mode, kind, rw, clk, abs);
	int ret = mode == RD ? ots_real.rwlock_tryrdlock(rw) : ots_real.rwlock_trywrlock(rw);
	if (ret == 0)
		return 0;
	if (ret != EBUSY) /* EAGAIN: too many readers; let the real call say so */
		return call_real(mode, kind, rw, clk, abs);
	int holder = holder_of(rw);
	if (holder < 0) /* the caller holds it for writing: EDEADLK, no wait */
		return call_real(mode, kind, rw, clk, abs);
	ots_wait_t w;
	ots_wait_begin(&w, (ots_op_t)ops[mode][kind], rw, NULL, holder);
	if (mode == WR)
		w.flags |= OTS_RF_WRITE;
	ret = call_real(mode, kind, rw, clk, abs);
	ots_wait_end(&w, ret);
	return ret;
}

OTS_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *rw)
{
	int (*real)(pthread_rwlock_t *) = ots_real.rwlock_rdlock;
	if (ots_likely(real != NULL) && ots_likely(rd_free(rw)))
		return real(rw);
	return lock_slow(RD, PLAIN, rw, CLOCK_REALTIME, NULL);
}

OTS_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *rw)
{
	int (*real)(pthread_rwlock_t *) = ots_real.rwlock_wrlock;
	if (ots_likely(real != NULL) && ots_likely(wr_free(rw)))
		return real(rw);
	return lock_slow(WR, PLAIN, rw, CLOCK_REALTIME, NULL);
}

OTS_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *abs)
{
	int (*real)(pthread_rwlock_t *, const struct timespec *) = ots_real.rwlock_timedrdlock;
	if (ots_likely(real != NULL) && ots_likely(rd_free(rw)))
		return real(rw, abs);
	return lock_slow(RD, TIMED, rw, CLOCK_REALTIME, abs);
}

OTS_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *abs)
{
	int (*real)(pthread_rwlock_t *, const struct timespec *) = ots_real.rwlock_timedwrlock;
	if (ots_likely(real != NULL) && ots_likely(wr_free(rw)))
		return real(rw, abs);
	return lock_slow(WR, TIMED, rw, CLOCK_REALTIME, abs);
}

OTS_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *rw, clockid_t clk,
					  const struct timespec *abs)
{
	int (*real)(pthread_rwlock_t *, clockid_t, const struct timespec *) =
		ots_real.rwlock_clockrdlock;
	if (ots_likely(real != NULL) && ots_likely(rd_free(rw)))
		return real(rw, clk, abs);
	return lock_slow(RD, CLOCKED, rw, clk, abs);
}

OTS_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *rw, clockid_t clk,
					  const struct timespec *abs)
{
	int (*real)(pthread_rwlock_t *, clockid_t, const struct timespec *) =
		ots_real.rwlock_clockwrlock;
	if (ots_likely(real != NULL) && ots_likely(wr_free(rw)))
		return real(rw, clk, abs);
	return lock_slow(WR, CLOCKED, rw, clk, abs);
}

static OTS_COLD int try_cold(pthread_rwlock_t *rw, int write)
{
	ots_real_resolve();
	return write ? ots_real.rwlock_trywrlock(rw) : ots_real.rwlock_tryrdlock(rw);
}

OTS_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t *rw)
{
	int (*real)(pthread_rwlock_t *) = ots_real.rwlock_tryrdlock;
	if (ots_likely(real != NULL))
		return real(rw);
	return try_cold(rw, 0);
}

OTS_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t *rw)
{
	int (*real)(pthread_rwlock_t *) = ots_real.rwlock_trywrlock;
	if (ots_likely(real != NULL))
		return real(rw);
	return try_cold(rw, 1);
}

/* Out of line: the table is not filled yet, or this thread holds a lock it
 * acquired after contention (the hold time of rw may end here). */
static OTS_NOINLINE int unlock_slow(pthread_rwlock_t *rw)
{
	if (ots_unlikely(!ots_real.rwlock_unlock))
		ots_real_resolve();
	ots_hold_check(rw);
	return ots_real.rwlock_unlock(rw);
}

OTS_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *rw)
{
	int (*real)(pthread_rwlock_t *) = ots_real.rwlock_unlock;
	if (ots_likely(real != NULL) && ots_likely(ots_tls.nheld == 0))
		return real(rw);
	return unlock_slow(rw);
}
