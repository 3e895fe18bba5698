/* thread.c - thread lifecycle hooks: pthread_create and pthread_exit.
 *
 * pthread_create starts the new thread in a trampoline that opens the
 * `thread <start routine>` span (parent: the span current in the creator) and
 * closes it however the thread ends: return from the routine, pthread_exit, or
 * cancellation. The last two unwind the stack and run cleanup handlers, which
 * is where the span is closed for them; a flag set by our pthread_exit tells
 * the two apart.
 *
 * The small block that carries the routine to the trampoline is malloc'd in
 * the creator (pthread_create allocates a stack anyway); if malloc fails the
 * thread starts untraced, never not at all.
 */
#include "../shim/ots.h"

#include <stdlib.h>
#include <string.h>

typedef struct tramp {
	void *(*fn)(void *);
	void *arg;
	uint64_t parent_span_id;
	uint8_t trace_id[16];
	int ptid;
} tramp_t;

static void thread_end(uint16_t flags)
{
	if (!ots_tls.in_trampoline)
		return;
	ots_tls.in_trampoline = 0;
	ots_thread_record_end(flags);
	ots_threads_unregister(ots_tid());
	ots_pool_thread_exit();
}

static void tramp_cleanup(void *unused)
{
	(void)unused;
	thread_end(ots_tls.exit_called ? OTS_RF_EXITED : OTS_RF_CANCELLED);
}

static void *trampoline(void *p)
{
	tramp_t t = *(tramp_t *)p;
	ots_reentry_enter();
	free(p);
	ots_tls.span_id = ots_ids_span();
	ots_tls.parent_span_id = t.parent_span_id;
	memcpy(ots_tls.trace_id, t.trace_id, 16);
	ots_tls.start_ns = ots_unix_ns(ots_mono_ns());
	ots_tls.routine = (uintptr_t)t.fn;
	ots_tls.ptid = t.ptid;
	ots_tls.in_trampoline = 1;
	ots_threads_register(ots_tid(), pthread_self(), ots_tls.span_id, ots_tls.trace_id);
	ots_reentry_leave();

	void *ret;
	pthread_cleanup_push(tramp_cleanup, NULL);
	ret = t.fn(t.arg);
	pthread_cleanup_pop(0);
	thread_end(0);
	return ret;
}

OTS_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*start)(void *), void *arg)
{
	if (ots_unlikely(!ots_real.create))
		ots_real_resolve();
	ots_ensure_init();
	if (!ots_should_trace(OTS_FAM_THREAD)) {
		if (ots_g.enabled && ots_tls.reentrant == 0 &&
		    atomic_load_explicit(&ots_g.state, memory_order_relaxed) == 2)
			ots_exporter_start();
		return ots_real.create(thread, attr, start, arg);
	}
	ots_exporter_start();
	ots_reentry_enter();
	tramp_t *t = malloc(sizeof *t);
	ots_reentry_leave();
	if (!t)
		return ots_real.create(thread, attr, start, arg);
	t->fn = start;
	t->arg = arg;
	t->parent_span_id = ots_thread_current_span();
	ots_thread_current_trace(t->trace_id);
	t->ptid = ots_tid();
	int ret = ots_real.create(thread, attr, trampoline, t);
	if (ret)
		free(t);
	return ret;
}

OTS_EXPORT void pthread_exit(void *retval)
{
	if (ots_unlikely(!ots_real.exit))
		ots_real_resolve();
	ots_tls.exit_called = 1;
	ots_real.exit(retval);
}
