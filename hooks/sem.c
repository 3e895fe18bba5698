/* sem.c - sem_* hooks.
 *
 * Fast path: one relaxed load of the semaphore's value. On x86_64 glibc's
 * sem_t starts with a 64-bit word whose low 32 bits are the value (the high
 * half counts waiters). A positive value means the real sem_wait takes a
 * token with one CAS and does not block: tail call. The real function still
 * does everything it does natively, including its cancellation check.
 *
 * Slow path (out of line): the value read zero. The real call is timed and
 * recorded; a token posted in between makes a wait of a few ns, which is
 * counted but stays below OTCSHIM_MIN_WAIT. The sem functions report errors
 * the POSIX way, -1 and errno: the record keeps the errno value (EINTR,
 * ETIMEDOUT, EINVAL) and errno reaches the host as the real call left it
 * (ots_wait_end preserves it).
 *
 * sem_post and sem_trywait are pure pass-through: sem_post is
 * async-signal-safe and a handler may call it, so its hook touches nothing
 * but the table of real functions. That table is filled by the constructor;
 * only a call that came before it (no program installs a signal handler that
 * early) would take the resolver, which is not signal-safe.
 */
#include "../shim/ots.h"

#include <errno.h>

static inline unsigned sem_value(const sem_t *s)
{
	return __atomic_load_n((const unsigned *)(const void *)s, __ATOMIC_RELAXED);
}

enum { PLAIN = 0, TIMED = 1, CLOCKED = 2 };

static int call_real(int kind, sem_t *s, clockid_t clk, const struct timespec *abs)
{
	if (kind == PLAIN)
		return ots_real.sem_wait(s);
	if (kind == TIMED)
		return ots_real.sem_timedwait(s, abs);
	return ots_real.sem_clockwait(s, clk, abs);
}

static OTS_NOINLINE OTS_UNWOUND int wait_slow(int kind, sem_t *s, clockid_t clk, const struct timespec *abs)
{
	static const uint16_t ops[3] = { OTS_OP_SEM_WAIT, OTS_OP_SEM_TIMEDWAIT,
					 OTS_OP_SEM_CLOCKWAIT };
	if (ots_unlikely(!ots_real.sem_wait))
		ots_real_resolve();
	ots_ensure_init();
	if (!ots_should_trace(OTS_FAM_SEM))
		return call_real(kind, s, clk, abs);
	ots_wait_t w;
	ots_wait_begin(&w, (ots_op_t)ops[kind], s, NULL, 0);
	int ret = call_real(kind, s, clk, abs);
	ots_wait_end(&w, ret ? errno : 0);
	return ret;
}

OTS_EXPORT int sem_wait(sem_t *s)
{
	int (*real)(sem_t *) = ots_real.sem_wait;
	if (ots_likely(real != NULL) && ots_likely(sem_value(s) != 0))
		return real(s);
	return wait_slow(PLAIN, s, CLOCK_REALTIME, NULL);
}

OTS_EXPORT int sem_timedwait(sem_t *s, const struct timespec *abs)
{
	int (*real)(sem_t *, const struct timespec *) = ots_real.sem_timedwait;
	if (ots_likely(real != NULL) && ots_likely(sem_value(s) != 0))
		return real(s, abs);
	return wait_slow(TIMED, s, CLOCK_REALTIME, abs);
}

OTS_EXPORT int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abs)
{
	int (*real)(sem_t *, clockid_t, const struct timespec *) = ots_real.sem_clockwait;
	if (ots_likely(real != NULL) && ots_likely(sem_value(s) != 0))
		return real(s, clk, abs);
	return wait_slow(CLOCKED, s, clk, abs);
}

static OTS_COLD int trywait_cold(sem_t *s)
{
	ots_real_resolve();
	return ots_real.sem_trywait(s);
}

static OTS_COLD int post_cold(sem_t *s)
{
	ots_real_resolve();
	return ots_real.sem_post(s);
}

OTS_EXPORT int sem_trywait(sem_t *s)
{
	int (*real)(sem_t *) = ots_real.sem_trywait;
	if (ots_likely(real != NULL))
		return real(s);
	return trywait_cold(s);
}

OTS_EXPORT int sem_post(sem_t *s)
{
	int (*real)(sem_t *) = ots_real.sem_post;
	if (ots_likely(real != NULL))
		return real(s);
	return post_cold(s);
}
