/* segment.c - cutting a long-running process into bounded traces.
 *
 * With OTCSHIM_SEGMENT=d (default 60s, 0 = never) the process is one trace
 * while it is younger than d; after that every d it starts a new segment:
 * a new trace with its own root span `process <exe>`, linked to the root of
 * the segment before. A program shorter than d stays one trace.
 *
 * Nothing runs on a timer. The check happens on slow paths only, where the
 * shim writes a record anyway (ots_thread_current_span, a thread's end): the
 * first thread that sees the current segment older than d switches. A switch
 * closes the old root (a PROCESS record, in the switching thread's ring),
 * fills the next descriptor of a small ring (trace, root span, start) and
 * then publishes its generation number with a release store. A descriptor is
 * never written while its generation is current, so readers need no lock:
 * they read the descriptor of the generation they hold. A process idle for a
 * long time simply has a long segment; traces stay bounded by activity.
 *
 * Each thread moves itself forward, lazily, the next time it records
 * (ots_segment_poll from its own context, so its ring stays single-producer):
 * a thread with a span of its own ends that span at the cut (a THREAD record
 * with the cut as end time) and continues in a new span under the new root,
 * linked to the old one; the main thread, whose waits hang under the root,
 * just moves to the new root. A thread span that began after the cut has not
 * been written yet: it simply moves into the new trace. A thread idle across
 * several segments appears in none of the ones in between.
 */
#include "ots.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#define SEG_RING 64 /* power of two; a reader would have to sleep 63 cuts to see a reuse */

typedef struct seg {
	uint8_t trace_id[16];
	uint64_t root_span_id;
	uint64_t start_unix;
	uint64_t start_mono;
} seg_t;

static seg_t segs[SEG_RING];
static _Atomic int switching; /* 1 while a switch is under way, 2 frozen at exit */

void ots_segment_reset(void)
{
	seg_t *s = &segs[0];
	memcpy(s->trace_id, ots_g.trace_id, 16);
	s->root_span_id = ots_g.root_span_id;
	s->start_unix = ots_g.root_start_ns;
	s->start_mono = ots_g.root_start_ns - ots_mono_to_unix;
	ots_tls.seg = 0;
	ots_tls.link_span_id = 0;
	atomic_store_explicit(&switching, 0, memory_order_relaxed);
	atomic_store_explicit(&ots_g.segment, 0, memory_order_release);
}

uint64_t ots_segment_root(uint32_t gen, uint8_t trace_out[16])
{
	const seg_t *s = &segs[gen & (SEG_RING - 1)];
	if (trace_out)
		memcpy(trace_out, s->trace_id, 16);
	return s->root_span_id;
}

void ots_segment_freeze(void)
{
	for (;;) {
		int v = 0;
		if (atomic_compare_exchange_weak_explicit(&switching, &v, 2, memory_order_acquire,
							  memory_order_relaxed) ||
		    v == 2)
			return;
		/* a switch in another thread is a few stores long: wait it out */
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

/* The PROCESS record of generation g, ending at end_unix. ots_g.link_* holds
 * g's own link: the fork parent for generation 0 of a child, else the root of
 * generation g-1. */
static void write_root(uint32_t g, const seg_t *s, uint64_t end_unix)
{
	ots_rec_t *r = ots_pool_reserve();
	if (!r)
		return;
	r->kind = OTS_REC_PROCESS;
	r->tid = ots_g.main_tid;
	r->span_id = s->root_span_id;
	r->parent_span_id = g ? 0 : ots_g.parent_span_id;
	memcpy(r->trace_id, s->trace_id, 16);
	r->start_ns = s->start_unix;
	r->end_ns = end_unix;
	r->obj = (uint64_t)ots_g.pid;
	r->aux = g != 0;
	if (ots_g.link_kind)
		r->aux = (uint64_t)ots_g.link_kind;
	if (ots_g.link_span_id) {
		r->flags |= OTS_RF_HAS_LINK;
		r->link_span_id = ots_g.link_span_id;
		memcpy(r->link_trace_id, ots_g.link_trace_id, 16);
	}
	ots_pool_commit();
}

void ots_segment_reroot(void)
{
	int v = 0;
	while (!atomic_compare_exchange_weak_explicit(&switching, &v, 1, memory_order_acquire,
						      memory_order_relaxed)) {
		if (v == 2)
			return; /* exiting */
		v = 0;
	}
	uint32_t g = atomic_load_explicit(&ots_g.segment, memory_order_relaxed);
	seg_t *s = &segs[g & (SEG_RING - 1)];
	uint64_t now = ots_mono_ns();
	memcpy(ots_g.link_trace_id, s->trace_id, 16);
	ots_g.link_span_id = s->root_span_id;
	ots_g.link_kind = 2;
	s->root_span_id = ots_ids_span();
	s->start_unix = ots_unix_ns(now);
	s->start_mono = now;
	ots_g.root_span_id = s->root_span_id;
	ots_g.root_start_ns = s->start_unix;
	atomic_store_explicit(&switching, 0, memory_order_release);
}

static void segment_switch(uint32_t g, uint64_t now)
{
	int v = 0;
	if (!atomic_compare_exchange_strong_explicit(&switching, &v, 1, memory_order_acquire,
						     memory_order_relaxed))
		return; /* another thread switches (or exit froze us): catch up later */
	if (atomic_load_explicit(&ots_g.segment, memory_order_relaxed) != g ||
	    atomic_load_explicit(&ots_g.exiting, memory_order_relaxed)) {
		atomic_store_explicit(&switching, 0, memory_order_release);
		return;
	}
	const seg_t *old = &segs[g & (SEG_RING - 1)];
	seg_t *nw = &segs[(g + 1) & (SEG_RING - 1)];
	uint64_t now_unix = ots_unix_ns(now);
	write_root(g, old, now_unix);
	ots_ids_trace(nw->trace_id);
	nw->root_span_id = ots_ids_span();
	nw->start_unix = now_unix;
	nw->start_mono = now;
	/* ots_g mirrors the current segment for the last root record at exit */
	memcpy(ots_g.link_trace_id, old->trace_id, 16);
	ots_g.link_span_id = old->root_span_id;
	ots_g.link_kind = 0;
	memcpy(ots_g.trace_id, nw->trace_id, 16);
	ots_g.root_span_id = nw->root_span_id;
	ots_g.root_start_ns = now_unix;
	atomic_store_explicit(&ots_g.segment, g + 1, memory_order_release);
	atomic_store_explicit(&switching, 0, memory_order_release);
	OTS_DEBUG("segment %u begins", g + 1);
}

/* The THREAD record of the calling thread's span as it stands, ending at the
 * cut (end_unix). Same fields as ots_thread_record_end, minus the end cause. */
static void write_thread_cut(uint64_t end_unix)
{
	ots_rec_t *r = ots_pool_reserve();
	if (!r)
		return;
	r->kind = OTS_REC_THREAD;
	r->tid = ots_tid();
	r->ptid = ots_tls.ptid;
	r->span_id = ots_tls.span_id;
	r->parent_span_id = ots_tls.parent_span_id;
	memcpy(r->trace_id, ots_tls.trace_id, 16);
	r->start_ns = ots_tls.start_ns;
	r->end_ns = end_unix;
	r->obj = ots_tls.routine;
	r->flags = OTS_RF_SEGMENT_CUT;
	if (ots_tls.link_span_id) {
		r->flags |= OTS_RF_HAS_LINK;
		r->link_span_id = ots_tls.link_span_id;
		memcpy(r->link_trace_id, ots_tls.link_trace_id, 16);
	}
	prctl(PR_GET_NAME, r->name, 0, 0, 0);
	r->name[sizeof r->name - 1] = '\0';
	ots_pool_commit();
}

static void thread_roll(uint32_t G)
{
	uint32_t g = ots_tls.seg;
	const seg_t *cur = &segs[G & (SEG_RING - 1)];
	uint8_t trace[16];
	memcpy(trace, cur->trace_id, 16);
	uint64_t root = cur->root_span_id, cur_start = cur->start_unix;
	/* the cut right after the thread's segment, if that descriptor still lives */
	uint64_t cut = G - g < SEG_RING ? segs[(g + 1) & (SEG_RING - 1)].start_unix : cur_start;
	ots_tls.seg = G;
	int tid = ots_tid();
	if (!ots_tls.in_trampoline || !ots_tls.span_id) {
		if (tid == ots_g.main_tid)
			ots_threads_register(tid, pthread_self(), root, trace);
		return;
	}
	if (ots_tls.start_ns >= cut) {
		/* not written yet and entirely after the cut: it belongs to the new trace */
		memcpy(ots_tls.trace_id, trace, 16);
		ots_tls.parent_span_id = root;
	} else {
		if (ots_threads_claim_end(tid, ots_tls.span_id))
			write_thread_cut(cut);
		ots_tls.link_span_id = ots_tls.span_id;
		memcpy(ots_tls.link_trace_id, ots_tls.trace_id, 16);
		ots_tls.span_id = ots_ids_span();
		ots_tls.parent_span_id = root;
		memcpy(ots_tls.trace_id, trace, 16);
		ots_tls.start_ns = cur_start;
	}
	uint64_t cancel = ots_threads_cancel_time(tid);
	ots_threads_register(tid, pthread_self(), ots_tls.span_id, ots_tls.trace_id);
	ots_threads_describe(tid, ots_tls.start_ns, ots_tls.parent_span_id, ots_tls.routine,
			     ots_tls.ptid, ots_tls.link_span_id, ots_tls.link_trace_id);
	if (cancel) /* registering afresh cleared it */
		ots_threads_mark_cancel(pthread_self(), cancel);
}

void ots_segment_poll(void)
{
	if (!ots_cfg.segment_ns ||
	    atomic_load_explicit(&ots_g.state, memory_order_acquire) != 2)
		return;
	int saved = errno;
	ots_reentry_enter();
	uint32_t g = atomic_load_explicit(&ots_g.segment, memory_order_acquire);
	uint64_t now = ots_mono_ns();
	if (now - segs[g & (SEG_RING - 1)].start_mono >= ots_cfg.segment_ns &&
	    !atomic_load_explicit(&ots_g.exiting, memory_order_relaxed))
		segment_switch(g, now);
	g = atomic_load_explicit(&ots_g.segment, memory_order_acquire);
	if (ots_tls.seg != g)
		thread_roll(g);
	ots_reentry_leave();
	errno = saved;
}
