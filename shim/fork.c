/* fork.c - the child of a fork is a new process for tracing.
 *
 * Only the forking thread exists in the child. The handler runs there before
 * fork() returns and may do no I/O and take no lock: it forgets the parent's
 * pending records (the parent sends them), its rings and thread registry,
 * reseeds the id generator (or both processes would mint the same ids), and
 * opens a new root span in a new trace, linked to the span that forked. The
 * exporter thread did not survive the fork; it restarts on demand.
 */
#include "ots.h"

#include <string.h>

static void child(void)
{
	if (atomic_load_explicit(&ots_g.state, memory_order_acquire) != 2)
		return;
	ots_tls.reentrant++; /* cancellation: the forking thread's, untouched */
	/* the span that forked, for the link */
	ots_thread_current_trace(ots_g.link_trace_id);
	ots_g.link_span_id = ots_thread_current_span();
	ots_tls.tid = 0;
	ots_tls.span_id = 0;
	ots_tls.in_trampoline = 0; /* the child's one thread is its main thread now */
	ots_ids_reseed();
	ots_pool_reset_after_fork();
	ots_threads_reset_after_fork();
	ots_lockstat_reset_after_fork();
	ots_tls.nheld = 0;
	ots_g.parent_span_id = 0; /* a new trace, not a child of TRACEPARENT */
	atomic_store(&ots_g.exiting, 0);
	ots_g.link_kind = 0;
	ots_root_begin();
	ots_life_reset(ots_tls.life != 0);
	ots_exporter_reset_after_fork(); /* after root_begin: the resource needs the new pid */
	ots_tls.reentrant--;
}

void ots_fork_install(void)
{
	pthread_atfork(NULL, NULL, child);
}
