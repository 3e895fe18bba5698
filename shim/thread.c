/* thread.c - per-thread state and the thread registry.
 *
 * ots_tls is initial-exec TLS: one %fs-relative load on the hot path, no
 * __tls_get_addr call and no allocation (the library is preloaded, so its TLS
 * block is part of the static TLS of every thread).
 *
 * The registry maps a live thread's tid to its span, so a wait span can link
 * to the span of the thread holding the lock, and pthread_cancel can mark its
 * target. It is a fixed open-addressed table: writers claim an entry with a CAS
 * on the tid, readers never lock; a reader racing with a thread's exit may see
 * the span of a thread that just ended, which is harmless for a link.
 */
#include "ots.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

OTS_TLS ots_tls_t ots_tls;

int ots_thread_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

uint64_t ots_thread_current_span(void)
{
	return ots_tls.span_id ? ots_tls.span_id : ots_g.root_span_id;
}

void ots_thread_current_trace(uint8_t out[16])
{
	if (ots_tls.span_id)
		memcpy(out, ots_tls.trace_id, 16);
	else
		memcpy(out, ots_g.trace_id, 16);
}

#define REG_SIZE 8192 /* power of two */
#define REG_PROBE 32
#define REG_TOMB (-1)

typedef struct reg_entry {
	_Atomic int tid;
	_Atomic uint64_t span;
	_Atomic uint64_t cancel_ns;
	_Atomic uintptr_t self;
	uint8_t trace[16];
} reg_entry_t;

static reg_entry_t reg[REG_SIZE];

static reg_entry_t *reg_find(int tid)
{
	for (unsigned i = 0; i < REG_PROBE; i++) {
		reg_entry_t *e = &reg[((unsigned)tid + i) & (REG_SIZE - 1)];
		int t = atomic_load_explicit(&e->tid, memory_order_acquire);
		if (t == tid)
			return e;
		if (t == 0)
			return NULL;
	}
	return NULL;
}

void ots_threads_register(int tid, pthread_t self, uint64_t span_id, const uint8_t trace_id[16])
{
	if (tid <= 0)
		return;
	reg_entry_t *e = reg_find(tid);
	for (unsigned i = 0; !e && i < REG_PROBE; i++) {
		reg_entry_t *c = &reg[((unsigned)tid + i) & (REG_SIZE - 1)];
		int t = atomic_load_explicit(&c->tid, memory_order_relaxed);
		if ((t == 0 || t == REG_TOMB) &&
		    atomic_compare_exchange_strong_explicit(&c->tid, &t, tid, memory_order_acq_rel,
							    memory_order_relaxed))
			e = c;
	}
	if (!e)
		return; /* table crowded: this thread gets no holder links */
	memcpy(e->trace, trace_id, 16);
	atomic_store_explicit(&e->self, (uintptr_t)self, memory_order_relaxed);
	atomic_store_explicit(&e->cancel_ns, 0, memory_order_relaxed);
	atomic_store_explicit(&e->span, span_id, memory_order_release);
}

void ots_threads_unregister(int tid)
{
	reg_entry_t *e = reg_find(tid);
	if (!e)
		return;
	atomic_store_explicit(&e->span, 0, memory_order_relaxed);
	atomic_store_explicit(&e->self, 0, memory_order_relaxed);
	atomic_store_explicit(&e->tid, REG_TOMB, memory_order_release);
}

uint64_t ots_threads_span_of(int tid, uint8_t trace_out[16])
{
	reg_entry_t *e = tid > 0 ? reg_find(tid) : NULL;
	if (!e)
		return 0;
	uint64_t s = atomic_load_explicit(&e->span, memory_order_acquire);
	if (s && trace_out)
		memcpy(trace_out, e->trace, 16);
	return s;
}

int ots_threads_mark_cancel(pthread_t t, uint64_t when_ns)
{
	for (unsigned i = 0; i < REG_SIZE; i++) {
		reg_entry_t *e = &reg[i];
		int tid = atomic_load_explicit(&e->tid, memory_order_acquire);
		if (tid > 0 && atomic_load_explicit(&e->self, memory_order_relaxed) == (uintptr_t)t) {
			uint64_t zero = 0;
			atomic_compare_exchange_strong(&e->cancel_ns, &zero, when_ns);
			return 1;
		}
	}
	return 0;
}

uint64_t ots_threads_cancel_time(int tid)
{
	reg_entry_t *e = reg_find(tid);
	return e ? atomic_load_explicit(&e->cancel_ns, memory_order_relaxed) : 0;
}

/* The child has one thread: forget every other entry. */
void ots_threads_reset_after_fork(void)
{
	memset(reg, 0, sizeof reg);
}
