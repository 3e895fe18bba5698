/* thread.c - thread lifecycle hooks: pthread_create, pthread_exit,
 * pthread_cancel, pthread_detach and pthread_setname_np.
 *
 * pthread_create starts the new thread in a trampoline that opens the
 * `thread <start routine>` span (parent: the span current in the creator) and
 * closes it however the thread ends: return from the routine, pthread_exit, or
 * cancellation. The last two unwind the stack and run cleanup handlers, which
 * is where the span is closed for them; a flag set by our pthread_exit tells
 * the two apart.
 *
 * The small block that carries the routine to the trampoline comes from a
 * fixed table claimed with a CAS (no malloc in the creator, and above all no
 * free in the new thread, which would make glibc set up and tear down a
 * malloc cache for a thread that never mallocs); when the table is full it is
 * malloc'd, and if that fails the thread starts untraced, never not at all.
 *
 * Registration: the new thread enters the thread registry (tid -> span, used
 * for holder links, pthread_join naming, cancel marks) from both sides. The
 * creator registers it as soon as the real pthread_create returns, with the
 * span id it chose for it, its tid read through pthread_getcpuclockid (the
 * clock id encodes the tid, a kernel ABI): a join or a cancel that follows at
 * once then finds it even if the thread has not run yet. The thread registers
 * itself too, in case it ran first. The one race, the thread ending before its
 * creator registers it, would leave a stale entry; a flag in the block (the
 * thread sets `ended` before it unregisters, the creator reads it after it
 * registers) makes sure that one of the two removes it; read-modify-writes
 * of the flag order the two sides (no fences, which ThreadSanitizer cannot
 * model). The block has two owners and the last one frees it. A thread
 * created detached is registered only by itself: its descriptor may be
 * reused as soon as it ends.
 *
 * pthread_cancel marks its target in the thread registry (the time of the
 * request) before the real call: the target's span gets a `pthread_cancel`
 * event, and an error status if it then dies by cancellation. The mark is
 * made first because an asynchronous cancel may end the target before the
 * real call returns. pthread_detach and pthread_setname_np pass through: the
 * thread span's thread.name is the thread's name when its span ends (read
 * from the kernel then), so a name set later, by the thread itself or by
 * another thread, is the one the span shows.
 */
#include "../shim/ots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct tramp {
	void *(*fn)(void *);
	void *arg;
	uint64_t parent_span_id;
	uint64_t span_id; /* the new thread's span, chosen by the creator */
	uint8_t trace_id[16];
	int ptid;
	uint32_t seg;	  /* the creator's segment generation when it read its span */
	_Atomic int refs; /* creator and thread: the last to let go frees it */
	_Atomic int ended;
	_Atomic int busy; /* table slot in use (heap blocks: -1) */
	int traced;       /* the thread family is traced: a span for this thread */
	uintptr_t stack_top; /* the stack the creator's attr gives (shim/stack.c) */
	size_t stack_size;
} tramp_t;

#define TRAMP_SLOTS 256

static tramp_t tramps[TRAMP_SLOTS];
static _Atomic unsigned tramp_next;
static OTS_TLS tramp_t *my_tramp;

static tramp_t *tramp_get(void)
{
	unsigned start = atomic_fetch_add_explicit(&tramp_next, 1, memory_order_relaxed);
	for (unsigned i = 0; i < 8; i++) {
		tramp_t *t = &tramps[(start + i) % TRAMP_SLOTS];
		int z = 0;
		if (atomic_load_explicit(&t->busy, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong_explicit(&t->busy, &z, 1, memory_order_acquire,
							    memory_order_relaxed))
			return t;
	}
	ots_reentry_enter();
	tramp_t *t = malloc(sizeof *t);
	ots_reentry_leave();
	if (t)
		atomic_init(&t->busy, -1);
	return t;
}

static void tramp_put(tramp_t *t)
{
	if (atomic_load_explicit(&t->busy, memory_order_relaxed) < 0) {
		ots_reentry_enter();
		free(t);
		ots_reentry_leave();
	} else {
		atomic_store_explicit(&t->busy, 0, memory_order_release);
	}
}

static void tramp_release(tramp_t *t)
{
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		tramp_put(t);
}

/* The tid of a thread this process created and has not joined, from the
 * clock id the kernel defines for it: ((~tid) << 3) | CPUCLOCK_PERTHREAD (4)
 * | CPUCLOCK_SCHED (2). 0 when it has ended (glibc's tid is then 0). */
static int tid_of(pthread_t t)
{
	clockid_t c;
	if (pthread_getcpuclockid(t, &c) || (c & 7) != 6)
		return 0;
	int tid = (int)~(c >> 3);
	return tid > 0 ? tid : 0;
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

/* ASan builds only: cancellation and pthread_exit unwind with glibc's
 * internal longjmp, which ASan does not see, so the redzones of the frames it
 * skipped (below this one) stay poisoned and our next stack writes would be
 * reported. Unpoison the thread's stack below the current frame. Not
 * __asan_handle_no_return: GCC 12's version calls the intercepted sigaltstack
 * on that very stack and reports its own write. */
static void unpoison_below(void)
{
	pthread_attr_t a;
	void *lo;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a))
		return;
	char *hi = __builtin_frame_address(0);
	if (pthread_attr_getstack(&a, &lo, &size) == 0 && hi > (char *)lo &&
	    hi <= (char *)lo + size)
		__asan_unpoison_memory_region(lo, (size_t)(hi - (char *)lo));
	pthread_attr_destroy(&a);
}
#endif

static OTS_UNWOUND void thread_end(uint16_t flags)
{
	if (!ots_tls.in_trampoline)
		return;
	ots_tls.in_trampoline = 0;
#if defined(__SANITIZE_ADDRESS__)
	if (flags)
		unpoison_below();
#endif
	ots_thread_record_end(flags);
	tramp_t *t = my_tramp;
	my_tramp = NULL;
	if (t) /* an RMW: see register_child */
		atomic_exchange_explicit(&t->ended, 1, memory_order_seq_cst);
	ots_threads_unregister(ots_tid());
	ots_pool_thread_exit();
	if (t)
		tramp_release(t);
}

static OTS_UNWOUND void tramp_cleanup(void *unused)
{
	(void)unused;
	thread_end(ots_tls.exit_called ? OTS_RF_EXITED : OTS_RF_CANCELLED);
	ots_life_thread_end();
}

static OTS_UNWOUND void life_cleanup(void *unused)
{
	(void)unused;
	ots_life_thread_end();
}

/* A thread of an untraced family still has its end seen (shim/life.c). */
static OTS_UNWOUND void *trampoline_untraced(void *(*fn)(void *), void *arg)
{
	void *ret;
	pthread_cleanup_push(life_cleanup, NULL);
	ret = fn(arg);
	pthread_cleanup_pop(0);
	ots_life_thread_end();
	return ret;
}

static OTS_UNWOUND void *trampoline(void *p)
{
	tramp_t *tp = p;
	void *(*fn)(void *) = tp->fn;
	void *arg = tp->arg;
	ots_tls.life = OTS_LIFE_TRAMP;
	ots_reentry_enter();
	ots_stack_thread_start(tp->stack_top, tp->stack_size);
	if (!tp->traced) {
		ots_reentry_leave();
		tramp_release(tp);
		return trampoline_untraced(fn, arg);
	}
	my_tramp = tp;
	ots_tls.span_id = tp->span_id;
	ots_tls.parent_span_id = tp->parent_span_id;
	memcpy(ots_tls.trace_id, tp->trace_id, 16);
	ots_tls.start_ns = ots_unix_ns(ots_mono_ns());
	ots_tls.routine = (uintptr_t)fn;
	ots_tls.ptid = tp->ptid;
	ots_tls.seg = tp->seg;
	ots_tls.in_trampoline = 1;
	int tid = ots_tid();
	/* registered by the creator already: keep its entry (and any cancel
	 * mark made meanwhile), only add what the thread knows */
	if (ots_threads_span_of(tid, NULL) != ots_tls.span_id)
		ots_threads_register(tid, pthread_self(), ots_tls.span_id, ots_tls.trace_id);
	ots_threads_describe(tid, ots_tls.start_ns, ots_tls.parent_span_id, ots_tls.routine,
			     ots_tls.ptid, 0, ots_tls.trace_id);
	ots_reentry_leave();

	void *ret;
	pthread_cleanup_push(tramp_cleanup, NULL);
	ret = fn(arg);
	pthread_cleanup_pop(0);
	thread_end(0);
	ots_life_thread_end();
	return ret;
}

static void register_child(tramp_t *t, pthread_t th, const pthread_attr_t *attr)
{
	int detached = 0;
	if (attr && pthread_attr_getdetachstate(attr, &detached) == 0 &&
	    detached == PTHREAD_CREATE_DETACHED)
		return;
	if (atomic_load_explicit(&t->ended, memory_order_seq_cst))
		return;
	int tid = tid_of(th);
	if (!tid)
		return;
	if (ots_threads_span_of(tid, NULL) != t->span_id)
		ots_threads_register(tid, th, t->span_id, t->trace_id);
	/* Read-modify-writes of one word are totally ordered: either this one
	 * comes after the thread's exchange and sees it ended, or the exchange
	 * reads from this one, so the registration above happens before the
	 * thread's unregistration, which then removes it. */
	if (atomic_fetch_or_explicit(&t->ended, 0, memory_order_seq_cst))
		ots_threads_unregister(tid); /* it ended meanwhile: do not leave it behind */
}

OTS_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*start)(void *), void *arg)
{
	if (ots_unlikely(!ots_real.create))
		ots_real_resolve();
	ots_ensure_init();
	/* the exporter starts with the first thread even when the thread family
	 * is not traced: the other families' records need it */
	int ready = atomic_load_explicit(&ots_g.state, memory_order_relaxed) == 2 &&
		    ots_g.enabled && ots_tls.reentrant == 0;
	if (!ready)
		return ots_real.create(thread, attr, start, arg);
	ots_exporter_start();
	/* every thread starts in the trampoline, traced or not: its end must be
	 * seen for the process to end when the program's last thread does */
	tramp_t *t = tramp_get();
	if (!t)
		return ots_real.create(thread, attr, start, arg);
	t->fn = start;
	t->arg = arg;
	t->traced = (ots_g.hooks & OTS_FAM_THREAD) != 0;
	if (t->traced) {
		t->parent_span_id = ots_thread_current_span();
		ots_thread_current_trace(t->trace_id);
		t->seg = ots_tls.seg;
		t->ptid = ots_tid();
		t->span_id = ots_ids_span();
	}
	atomic_init(&t->refs, 2);
	atomic_init(&t->ended, 0);
	ots_stack_attr(attr, &t->stack_top, &t->stack_size);
	ots_life_created();
	int ret = ots_real.create(thread, attr, trampoline, t);
	if (ret) {
		ots_life_create_failed();
		tramp_put(t);
		return ret;
	}
	if (t->traced) {
		int saved = errno;
		ots_reentry_enter();
		register_child(t, *thread, attr);
		ots_reentry_leave();
		errno = saved;
	}
	tramp_release(t);
	return 0;
}

OTS_EXPORT void pthread_exit(void *retval)
{
	if (ots_unlikely(!ots_real.exit))
		ots_real_resolve();
	ots_tls.exit_called = 1;
	/* a thread with a trampoline is counted out by its cleanup handler */
	if (ots_tls.life == OTS_LIFE_MAIN)
		ots_life_thread_end();
	ots_real.exit(retval);
}

OTS_EXPORT int pthread_cancel(pthread_t t)
{
	if (ots_unlikely(!ots_real.cancel))
		ots_real_resolve();
	if (ots_should_trace(OTS_FAM_THREAD)) {
		ots_reentry_enter();
		ots_threads_mark_cancel(t, ots_unix_ns(ots_mono_ns()));
		ots_reentry_leave();
	}
	return ots_real.cancel(t);
}

OTS_EXPORT int pthread_detach(pthread_t t)
{
	if (ots_unlikely(!ots_real.detach))
		ots_real_resolve();
	return ots_real.detach(t);
}

OTS_EXPORT int pthread_setname_np(pthread_t t, const char *name)
{
	if (ots_unlikely(!ots_real.setname))
		ots_real_resolve();
	return ots_real.setname(t, name);
}
