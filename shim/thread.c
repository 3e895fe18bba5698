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

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

OTS_TLS ots_tls_t ots_tls;

int ots_thread_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

/* With segments (shim/segment.c) the root changes over time: a thread reads
 * the root of the generation its own state belongs to (ots_tls.seg), which
 * only the thread itself moves forward, in ots_segment_poll. So the span and
 * the trace a caller reads in a row always belong together. */
uint64_t ots_thread_current_span(void)
{
	if (ots_unlikely(ots_cfg.segment_ns != 0))
		ots_segment_poll();
	return ots_tls.span_id ? ots_tls.span_id : ots_segment_root(ots_tls.seg, NULL);
}

void ots_thread_current_trace(uint8_t out[16])
{
	if (ots_tls.span_id)
		memcpy(out, ots_tls.trace_id, 16);
	else
		ots_segment_root(ots_tls.seg, out);
}

#define REG_SIZE 8192 /* power of two */
#define REG_PROBE 32
#define REG_TOMB (-1)

typedef struct reg_entry {
	_Atomic int tid;
	_Atomic uint64_t span;
	_Atomic uint64_t cancel_ns;
	_Atomic uintptr_t self;
	_Atomic uint64_t trace[2]; /* 16 bytes as two words: written by the creator
				    * and the thread itself (same value), read by anyone */
	/* what ots_threads_end_live needs to close the span of a thread still
	 * running at exit (ots_threads_describe; start 0 = not described) */
	_Atomic uint64_t start_ns, parent, routine, link_span;
	_Atomic int ptid;
	_Atomic uint64_t link_trace[2];
	/* the wait in progress: written by the thread itself, wseq odd while
	 * it writes; wt0 0 = none; wreported: the wt0 reported as a stall */
	_Atomic uint32_t wseq, wop;
	_Atomic int wholder;
	_Atomic uint64_t wt0, wobj, wobj2, wsite, wreported;
} reg_entry_t;

static reg_entry_t reg[REG_SIZE];
/* set by the first description (a thread started through the trampoline):
 * a process that never started one (most short-lived ones) has nothing to
 * scan at exit, and the table's pages are never touched */
static _Atomic int reg_used;

/* A second index, pthread_t -> tid, so pthread_join can name the thread it
 * waits for without walking the table. Same scheme: a CAS claims a key, a
 * removed key becomes a tombstone, readers never lock. */
typedef struct self_entry {
	_Atomic uintptr_t self;
	_Atomic int tid;
} self_entry_t;

#define SELF_TOMB ((uintptr_t)1)

static self_entry_t by_self[REG_SIZE];

static unsigned self_hash(uintptr_t s)
{
	return (unsigned)((s * 0x9e3779b97f4a7c15ull) >> 40);
}

static void self_insert(uintptr_t self, int tid)
{
	unsigned h = self_hash(self);
	for (unsigned i = 0; i < REG_PROBE; i++) {
		self_entry_t *e = &by_self[(h + i) & (REG_SIZE - 1)];
		uintptr_t k = atomic_load_explicit(&e->self, memory_order_acquire);
		if (k == self) {
			atomic_store_explicit(&e->tid, tid, memory_order_release);
			return;
		}
		if ((k == 0 || k == SELF_TOMB) &&
		    atomic_compare_exchange_strong_explicit(&e->self, &k, self, memory_order_acq_rel,
							    memory_order_relaxed)) {
			atomic_store_explicit(&e->tid, tid, memory_order_release);
			return;
		}
	}
}

static void self_remove(uintptr_t self, int tid)
{
	unsigned h = self_hash(self);
	for (unsigned i = 0; i < REG_PROBE; i++) {
		self_entry_t *e = &by_self[(h + i) & (REG_SIZE - 1)];
		uintptr_t k = atomic_load_explicit(&e->self, memory_order_acquire);
		if (k == 0)
			return;
		if (k == self && atomic_load_explicit(&e->tid, memory_order_relaxed) == tid) {
			atomic_store_explicit(&e->tid, 0, memory_order_relaxed);
			atomic_store_explicit(&e->self, SELF_TOMB, memory_order_release);
			return;
		}
	}
}

int ots_threads_tid_of(pthread_t t)
{
	uintptr_t self = (uintptr_t)t;
	if (self <= SELF_TOMB)
		return 0;
	unsigned h = self_hash(self);
	for (unsigned i = 0; i < REG_PROBE; i++) {
		self_entry_t *e = &by_self[(h + i) & (REG_SIZE - 1)];
		uintptr_t k = atomic_load_explicit(&e->self, memory_order_acquire);
		if (k == self)
			return atomic_load_explicit(&e->tid, memory_order_acquire);
		if (k == 0)
			return 0;
	}
	return 0;
}

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
	ots_words_store(e->trace, trace_id);
	atomic_store_explicit(&e->self, (uintptr_t)self, memory_order_relaxed);
	atomic_store_explicit(&e->cancel_ns, 0, memory_order_relaxed);
	atomic_store_explicit(&e->start_ns, 0, memory_order_relaxed);
	atomic_store_explicit(&e->span, span_id, memory_order_release);
	self_insert((uintptr_t)self, tid);
}

void ots_threads_unregister(int tid)
{
	reg_entry_t *e = reg_find(tid);
	if (tid == ots_tid())
		ots_tls.wslot = NULL;
	if (!e)
		return;
	atomic_store_explicit(&e->wt0, 0, memory_order_relaxed);
	self_remove(atomic_load_explicit(&e->self, memory_order_relaxed), tid);
	atomic_store_explicit(&e->span, 0, memory_order_relaxed);
	atomic_store_explicit(&e->self, 0, memory_order_relaxed);
	atomic_store_explicit(&e->tid, REG_TOMB, memory_order_release);
}

static reg_entry_t *own_entry(void)
{
	reg_entry_t *e = ots_tls.wslot;
	if (ots_unlikely(!e)) {
		e = reg_find(ots_tid());
		ots_tls.wslot = e;
	}
	return e;
}

void ots_threads_wait_publish(uint32_t op, uintptr_t obj, uintptr_t obj2, int holder, uint64_t t0,
			      uint64_t site)
{
	reg_entry_t *e = own_entry();
	if (!e)
		return; /* not registered (the table was crowded): no stall report */
	uint32_t q = atomic_load_explicit(&e->wseq, memory_order_relaxed);
	atomic_store_explicit(&e->wseq, q + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->wop, op, memory_order_relaxed);
	atomic_store_explicit(&e->wholder, holder, memory_order_relaxed);
	atomic_store_explicit(&e->wobj, obj, memory_order_relaxed);
	atomic_store_explicit(&e->wobj2, obj2, memory_order_relaxed);
	atomic_store_explicit(&e->wsite, site, memory_order_relaxed);
	atomic_store_explicit(&e->wt0, t0, memory_order_relaxed);
	atomic_store_explicit(&e->wseq, q + 2, memory_order_release);
}

void ots_threads_wait_clear(void)
{
	reg_entry_t *e = ots_tls.wslot;
	if (e)
		atomic_store_explicit(&e->wt0, 0, memory_order_release);
}

size_t ots_threads_waits(ots_wait_info_t *out, size_t max)
{
	size_t n = 0;
	for (unsigned i = 0; i < REG_SIZE && n < max; i++) {
		reg_entry_t *e = &reg[i];
		int tid = atomic_load_explicit(&e->tid, memory_order_acquire);
		if (tid <= 0 || !atomic_load_explicit(&e->wt0, memory_order_relaxed))
			continue;
		uint32_t q = atomic_load_explicit(&e->wseq, memory_order_acquire);
		if (q & 1)
			continue; /* being written: next scan */
		ots_wait_info_t *o = &out[n];
		o->tid = tid;
		o->op = atomic_load_explicit(&e->wop, memory_order_relaxed);
		o->holder = atomic_load_explicit(&e->wholder, memory_order_relaxed);
		o->obj = atomic_load_explicit(&e->wobj, memory_order_relaxed);
		o->obj2 = atomic_load_explicit(&e->wobj2, memory_order_relaxed);
		o->site = atomic_load_explicit(&e->wsite, memory_order_relaxed);
		o->t0 = atomic_load_explicit(&e->wt0, memory_order_relaxed);
		o->span = atomic_load_explicit(&e->span, memory_order_relaxed);
		ots_words_load(e->trace, o->trace);
		atomic_thread_fence(memory_order_acquire);
		if (o->t0 && atomic_load_explicit(&e->wseq, memory_order_relaxed) == q)
			n++;
	}
	return n;
}

int ots_threads_stall_claim(int tid, uint64_t t0)
{
	reg_entry_t *e = reg_find(tid);
	if (!e)
		return 0;
	uint64_t was = atomic_load_explicit(&e->wreported, memory_order_relaxed);
	return was != t0 && atomic_compare_exchange_strong(&e->wreported, &was, t0);
}

uint64_t ots_threads_span_of(int tid, uint8_t trace_out[16])
{
	reg_entry_t *e = tid > 0 ? reg_find(tid) : NULL;
	if (!e)
		return 0;
	uint64_t s = atomic_load_explicit(&e->span, memory_order_acquire);
	if (s && trace_out)
		ots_words_load(e->trace, trace_out);
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

void ots_threads_describe(int tid, uint64_t start_ns, uint64_t parent_span_id, uint64_t routine,
			  int ptid, uint64_t link_span_id, const uint8_t link_trace_id[16])
{
	reg_entry_t *e = reg_find(tid);
	if (!e)
		return;
	if (!atomic_load_explicit(&reg_used, memory_order_relaxed))
		atomic_store_explicit(&reg_used, 1, memory_order_release);
	atomic_store_explicit(&e->parent, parent_span_id, memory_order_relaxed);
	atomic_store_explicit(&e->routine, routine, memory_order_relaxed);
	atomic_store_explicit(&e->ptid, ptid, memory_order_relaxed);
	ots_words_store(e->link_trace, link_trace_id);
	atomic_store_explicit(&e->link_span, link_span_id, memory_order_relaxed);
	atomic_store_explicit(&e->start_ns, start_ns, memory_order_release);
}

int ots_threads_claim_end(int tid, uint64_t span_id)
{
	reg_entry_t *e = reg_find(tid);
	if (!e)
		return 1;
	uint64_t s = span_id;
	if (atomic_compare_exchange_strong_explicit(&e->span, &s, 0, memory_order_acq_rel,
						    memory_order_relaxed))
		return 1;
	return s != 0; /* another span registered for it: not ours to settle */
}

static void task_name(int tid, char out[16])
{
	char path[48], buf[32];
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
		n--;
	if (n > 15)
		n = 15;
	memcpy(out, buf, (size_t)n);
	out[n] = '\0';
}

void ots_threads_end_live(uint64_t end_unix)
{
	if (!atomic_load_explicit(&reg_used, memory_order_acquire))
		return;
	for (unsigned i = 0; i < REG_SIZE; i++) {
		reg_entry_t *e = &reg[i];
		int tid = atomic_load_explicit(&e->tid, memory_order_acquire);
		if (tid <= 0)
			continue;
		uint64_t start = atomic_load_explicit(&e->start_ns, memory_order_acquire);
		uint64_t span = atomic_load_explicit(&e->span, memory_order_acquire);
		if (!start || !span || !ots_threads_claim_end(tid, span))
			continue;
		ots_rec_t *r = ots_pool_reserve();
		if (!r)
			return;
		r->kind = OTS_REC_THREAD;
		r->flags = OTS_RF_LIVE_AT_EXIT;
		r->tid = tid;
		r->ptid = atomic_load_explicit(&e->ptid, memory_order_relaxed);
		r->span_id = span;
		r->parent_span_id = atomic_load_explicit(&e->parent, memory_order_relaxed);
		ots_words_load(e->trace, r->trace_id);
		r->start_ns = start;
		r->end_ns = end_unix;
		r->obj = atomic_load_explicit(&e->routine, memory_order_relaxed);
		r->aux = atomic_load_explicit(&e->cancel_ns, memory_order_relaxed);
		if (r->aux)
			r->flags |= OTS_RF_CANCEL_REQ;
		r->link_span_id = atomic_load_explicit(&e->link_span, memory_order_relaxed);
		if (r->link_span_id) {
			r->flags |= OTS_RF_HAS_LINK;
			ots_words_load(e->link_trace, r->link_trace_id);
		}
		task_name(tid, r->name);
		ots_pool_commit();
	}
}

/* The child has one thread: forget every other entry. */
void ots_threads_reset_after_fork(void)
{
	ots_tls.wslot = NULL; /* its entry was the parent's tid's */
	ots_zero_table(reg, sizeof reg);
	ots_zero_table(by_self, sizeof by_self);
}

void ots_zero_table(void *p, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)p, hi = lo + n;
	uintptr_t alo = (lo + page - 1) & ~(page - 1), ahi = hi & ~(page - 1);
	if (ahi <= alo || madvise((void *)alo, ahi - alo, MADV_DONTNEED) != 0) {
		memset(p, 0, n);
		return;
	}
	memset(p, 0, alo - lo);
	memset((void *)ahi, 0, hi - ahi);
}
