/* life.c - the program's threads, and the ways the process ends.
 *
 * Lifetime. glibc ends a process when its last thread ends: the thread that
 * takes glibc's thread count to zero (main returning through pthread_exit,
 * or the last detached worker) calls exit(0), which runs the atexit handlers.
 * Our exporter thread is a thread too, and would hold that count above zero
 * for ever: a daemon that ends main with pthread_exit would never exit, and
 * with every signal blocked on the exporter it would not even die of SIGTERM.
 * So the shim keeps its own count of the program's threads (the main thread,
 * and every thread started through the pthread_create hook), and the thread
 * that takes it to zero first stops the exporter and waits until that thread
 * is gone (a timed join, at most OTCSHIM_SHUTDOWN_TIMEOUT). glibc then counts
 * the program's last thread out exactly as it would natively, with its cleanup
 * handlers and thread-specific destructors run first, and the exit path does
 * the final flush on a new exporter thread (ots_exporter_stop). A thread the
 * program creates meanwhile (from a destructor, say) counts again and starts
 * a new exporter when it records.
 *
 * Only threads the shim can see end are counted: a thread created while the
 * shim was not ready, or by the shim itself (the exporter, libcurl's
 * resolver), is not. Counting too few can only stop the exporter early (its
 * records wait in the rings for the next thread or the exit); counting one
 * that never ends would keep the process alive, which is why the count is
 * taken only where the end is certain to be seen: the trampoline's return and
 * cleanup handler, or pthread_exit in a thread without a trampoline.
 *
 * Exit. Two threads that call exit() at once each run the exit handlers, and
 * the first to finish calls _exit while the other may still be flushing. The
 * exit() hook lets the first caller through and makes a later one wait for
 * the first one's flush (bounded), and ots_shutdown's own loser waits the same
 * way; so every exit path ends in one completed, bounded flush.
 *
 * exec. The new image starts a trace of its own; what this one recorded is
 * flushed first (bounded), with its root span ending at the exec. If the exec
 * fails, the process goes on under a new root span in the same trace, linked
 * to the one already sent, so no span id is sent twice.
 */
#include "ots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int live;     /* program threads alive */
static _Atomic int exit_tid; /* the first thread in exit() */

void ots_life_reset(int counted)
{
	ots_tls.life = counted ? (ots_tls.life ? ots_tls.life : OTS_LIFE_MAIN) : 0;
	atomic_store(&live, counted ? 1 : 0);
	atomic_store(&exit_tid, 0);
}

void ots_life_created(void)
{
	atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
}

void ots_life_create_failed(void)
{
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
}

void ots_life_thread_end(void)
{
	if (!ots_tls.life)
		return;
	ots_tls.life = 0;
	if (atomic_fetch_sub_explicit(&live, 1, memory_order_acq_rel) != 1)
		return;
	/* the program's last thread: the exporter must be gone before glibc
	 * counts this thread out */
	int saved = errno;
	ots_reentry_enter();
	if (ots_exporter_quit(ots_cfg.shutdown_timeout_ns) < 0) {
		/* it is stuck in a sink: end the process the way glibc would have */
		OTS_WARN("the exporter thread did not stop within the shutdown timeout; "
			 "exiting as the program's last thread ends");
		ots_reentry_leave();
		exit(0);
	}
	ots_reentry_leave();
	errno = saved;
}

void ots_life_exit_begin(void)
{
	if (atomic_load_explicit(&ots_g.state, memory_order_acquire) != 2 || !ots_g.enabled)
		return;
	int me = ots_tid(), first = 0;
	if (atomic_compare_exchange_strong(&exit_tid, &first, me) || first == me)
		return;
	/* another thread is exiting: let its flush complete before this one's
	 * exit can race it to _exit */
	ots_shutdown_wait(ots_cfg.shutdown_timeout_ns);
}

void ots_life_exec_begin(void)
{
	if (atomic_load_explicit(&ots_g.state, memory_order_acquire) != 2 || !ots_g.enabled ||
	    atomic_load(&ots_g.exiting))
		return;
	/* a vfork child shares the parent's memory and TLS: nothing here is its own */
	if (getpid() != ots_g.pid)
		return;
	int saved = errno;
	ots_reentry_enter();
	ots_root_record(OTS_RF_EXEC);
	ots_exporter_sync(ots_cfg.shutdown_timeout_ns);
	ots_reentry_leave();
	errno = saved;
}

void ots_life_exec_failed(void)
{
	if (atomic_load_explicit(&ots_g.state, memory_order_acquire) != 2 || !ots_g.enabled ||
	    getpid() != ots_g.pid)
		return;
	int saved = errno;
	ots_reentry_enter();
	ots_segment_reroot();
	ots_reentry_leave();
	errno = saved;
}
