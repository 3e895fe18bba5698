/* once.c - pthread_once hook.
 *
 * Fast path: after the first call the once control word has glibc's DONE bit
 * (2) set for good. glibc's own pthread_once starts with exactly this test (an
 * acquire load, a plain load on x86) and returns 0; the hook makes the test
 * itself and returns 0, so a call after init costs what it costs natively
 * (a tail call into glibc to repeat the test would add a third to it). No
 * clock, no store.
 *
 * Slow path: the routine has not completed. The real pthread_once still does
 * all the work (it decides who runs the routine, makes the others wait, and
 * resets the control word when the routine is cancelled), but it is handed a
 * static trampoline in place of the routine. The real routine travels to the
 * trampoline through two TLS slots set just before the call: pthread_once
 * calls its routine synchronously in the calling thread, so the trampoline
 * reads the slots on entry, before the routine could make a nested
 * pthread_once call that sets them again. Nesting therefore needs no stack.
 *
 * The thread that runs the routine gets an OTS_OP_ONCE_INIT span for it (a
 * timed span of its own, not a wait). A thread that did not run it waited
 * for another (or found it done meanwhile): that is an OTS_OP_ONCE wait,
 * recorded when it reached OTCSHIM_MIN_WAIT. A per-thread count of
 * trampoline entries tells the two apart.
 *
 * Cancellation of the routine: the unwind passes through the trampoline and
 * this hook, which hold no state by then (the slots were consumed on entry),
 * and on into glibc's cleanup, which resets the control word as natively.
 */
#include "../shim/ots.h"

#define ONCE_DONE 2 /* glibc's __PTHREAD_ONCE_DONE */

static OTS_TLS void (*once_fn)(void);
static OTS_TLS unsigned once_runs;
static OTS_TLS uint64_t once_t0, once_t1; /* the routine's run, for the caller */

/* The init span is recorded by the caller after the real pthread_once has
 * returned, never in here: until then the control word says "in progress",
 * and a record captures a stack, and the unwinder may itself call
 * pthread_once on this very word (libunwind's first unw_backtrace in a host
 * that uses libunwind: its init routine is what runs here), which would wait
 * for ever. A nested pthread_once inside fn records its own span before fn
 * returns, so the two TLS words are free again when they are written. */
static OTS_UNWOUND void once_trampoline(void)
{
	void (*fn)(void) = once_fn;
	once_fn = NULL;
	once_runs++;
	uint64_t t0 = ots_mono_ns();
	fn();
	once_t1 = ots_mono_ns();
	once_t0 = t0;
}

static OTS_NOINLINE OTS_UNWOUND int once_slow(pthread_once_t *o, void (*fn)(void))
{
	if (ots_unlikely(!ots_real.once))
		ots_real_resolve();
	ots_ensure_init();
	if (!ots_should_trace(OTS_FAM_ONCE) || !fn)
		return ots_real.once(o, fn);
	unsigned runs = once_runs;
	once_fn = fn;
	ots_wait_t w;
	ots_wait_begin(&w, OTS_OP_ONCE, o, NULL, 0);
	int ret = ots_real.once(o, once_trampoline);
	if (once_runs == runs) { /* another thread ran it: this one waited */
		once_fn = NULL;
		ots_wait_end(&w, ret);
	} else {
		ots_span_record_at(OTS_OP_ONCE_INIT, once_t0, once_t1, o, 0);
	}
	return ret;
}

OTS_EXPORT int pthread_once(pthread_once_t *o, void (*fn)(void))
{
	if (ots_likely(__atomic_load_n(o, __ATOMIC_ACQUIRE) & ONCE_DONE))
		return 0;
	return once_slow(o, fn);
}
