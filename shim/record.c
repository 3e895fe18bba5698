/* record.c - the contended path shared by every hook family.
 *
 * A hook that found its lock busy calls ots_wait_begin (one clock read), the
 * real blocking function, then ots_wait_end. Everything costly lives here, out
 * of line: the second clock read, the minimum-wait filter, per-lock statistics,
 * the stack (libunwind, only for waits that will be recorded or counted), the
 * holder's span for a link, and the record itself.
 *
 * The calling thread is marked reentrant while we work, so any lock libunwind
 * or libc takes underneath passes straight through the hooks. errno is saved
 * and restored: the host must see exactly what the real call left.
 */
#include "ots.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

static void fill_common(ots_rec_t *r, uint16_t kind, uint16_t op)
{
	r->kind = kind;
	r->op = op;
	r->tid = ots_tid();
	r->span_id = ots_ids_span();
	r->parent_span_id = ots_thread_current_span();
	ots_thread_current_trace(r->trace_id);
}

/* The record being built. Per thread, not on the stack: the contended path
 * must fit in the little stack a thread may have left (shim/stack.c), and it
 * never nests (hooks pass straight through while the thread is reentrant). */
static OTS_TLS ots_rec_t scratch;

static ots_rec_t *scratch_get(void)
{
	memset(&scratch, 0, offsetof(ots_rec_t, frames));
	return &scratch;
}

static void commit_copy(const ots_rec_t *r)
{
	ots_rec_t *slot = ots_pool_reserve();
	if (!slot)
		return;
	memcpy(slot, r, offsetof(ots_rec_t, frames) + (size_t)r->nframes * sizeof(uint64_t));
	ots_pool_commit();
}

static int is_lock_op(unsigned op)
{
	return (op >= OTS_OP_MUTEX_LOCK && op <= OTS_OP_RWLOCK_CLOCKWRLOCK) ||
	       op == OTS_OP_SPIN_LOCK;
}

/* A lock acquired after contention: remember when, to measure the hold. */
static void hold_push(uintptr_t obj, uint64_t t)
{
	uint32_t n = ots_tls.nheld;
	if (n >= sizeof ots_tls.held / sizeof ots_tls.held[0])
		return; /* nested deeper than we track: no hold time for this one */
	ots_tls.held[n].obj = obj;
	ots_tls.held[n].t = t;
	ots_tls.nheld = n + 1;
}

void ots_hold_release(const void *obj, int record)
{
	uint32_t n = ots_tls.nheld;
	for (uint32_t i = n; i-- > 0;) {
		if (ots_tls.held[i].obj != (uintptr_t)obj)
			continue;
		if (record) {
			int saved = errno;
			ots_reentry_enter();
			ots_lockstat_hold((uintptr_t)obj, ots_mono_ns() - ots_tls.held[i].t);
			ots_reentry_leave();
			errno = saved;
		}
		ots_tls.held[i] = ots_tls.held[n - 1];
		ots_tls.nheld = n - 1;
		return;
	}
}

void ots_wait_stack(ots_wait_t *w)
{
	w->nframes = 0;
	w->site = 0;
	/* not loaded yet (the exporter thread is opening it): the end of the
	 * wait takes the stack instead, as it may be loaded by then */
	w->stacked = ots_stack_ready();
	if (!w->stacked)
		return;
	int saved = errno;
	ots_reentry_enter();
	w->nframes = (uint8_t)ots_stack_capture(scratch.frames, (int)ots_g.stack_depth);
	w->site = w->nframes ? scratch.frames[0] : 0;
	ots_reentry_leave();
	errno = saved;
}

void ots_wait_end(ots_wait_t *w, int ret)
{
	int saved = errno;
	ots_threads_wait_clear();
	uint64_t t1 = ots_mono_ns();
	uint64_t d = t1 - w->t0;
	ots_reentry_enter();

	ots_rec_t *r = scratch_get();
	fill_common(r, OTS_REC_WAIT, w->op);
	r->flags = w->flags;
	r->ret = ret;
	r->start_ns = ots_unix_ns(w->t0);
	r->end_ns = ots_unix_ns(t1);
	r->obj = w->obj;
	r->obj2 = w->obj2;
	if (w->holder_tid > 0) {
		r->holder_tid = w->holder_tid;
		r->flags |= OTS_RF_HOLDER;
		r->link_span_id = w->link_span_id;
		memcpy(r->link_trace_id, w->link_trace_id, 16);
		if (r->link_span_id)
			r->flags |= OTS_RF_HAS_LINK;
	}
	int record = d >= ots_g.min_wait_ns;
	if (!record)
		r->flags |= OTS_RF_STATS_ONLY;
	/* taken as the wait began, already in r->frames; else now */
	r->nframes = w->stacked ? w->nframes :
				  (uint8_t)ots_stack_capture(r->frames, (int)ots_g.stack_depth);
	ots_lockstat_add(r, d);
	if (record)
		commit_copy(r);
	if ((ret == 0 || ret == EOWNERDEAD) && is_lock_op(w->op))
		hold_push(w->obj, t1);

	ots_reentry_leave();
	errno = saved;
}

void ots_stall_record(const ots_wait_info_t *w, uint64_t now, int state)
{
	ots_rec_t *r = scratch_get();
	r->kind = OTS_REC_WAIT;
	r->op = (uint16_t)w->op;
	r->tid = w->tid;
	r->span_id = ots_ids_span();
	r->parent_span_id = w->span ? w->span : ots_segment_root(ots_tls.seg, NULL);
	if (w->span)
		memcpy(r->trace_id, w->trace, 16);
	else
		ots_segment_root(ots_tls.seg, r->trace_id);
	r->flags = OTS_RF_IN_PROGRESS | (state == OTS_WAIT_AT_EXIT ? OTS_RF_LIVE_AT_EXIT : 0) |
		   (state == OTS_WAIT_DEADLOCK ? OTS_RF_DEADLOCK : 0);
	r->start_ns = ots_unix_ns(w->t0);
	r->end_ns = ots_unix_ns(now);
	r->obj = w->obj;
	r->obj2 = w->obj2;
	if (w->holder > 0) {
		r->holder_tid = w->holder;
		r->flags |= OTS_RF_HOLDER;
		if (state == OTS_WAIT_DEADLOCK) { /* the link: to the holder's thread */
			r->link_span_id = ots_threads_span_of(w->holder, r->link_trace_id);
			if (r->link_span_id)
				r->flags |= OTS_RF_HAS_LINK;
		}
	}
	commit_copy(r);
}

void ots_span_record(ots_op_t op, uint64_t t0_mono, const void *obj, int ret)
{
	ots_span_record_at(op, t0_mono, ots_mono_ns(), obj, ret);
}

void ots_span_record_at(ots_op_t op, uint64_t t0_mono, uint64_t t1, const void *obj, int ret)
{
	int saved = errno;
	ots_reentry_enter();
	ots_rec_t *r = scratch_get();
	fill_common(r, OTS_REC_SPAN, (uint16_t)op);
	r->ret = ret;
	r->start_ns = ots_unix_ns(t0_mono);
	r->end_ns = ots_unix_ns(t1);
	r->obj = (uintptr_t)obj;
	r->nframes = (uint8_t)ots_stack_capture(r->frames, (int)ots_g.stack_depth);
	commit_copy(r);
	ots_reentry_leave();
	errno = saved;
}

void ots_thread_record_end(uint16_t flags)
{
	int saved = errno;
	ots_reentry_enter();
	if (ots_cfg.segment_ns)
		ots_segment_poll(); /* a span that crossed a segment cut ends at the cut */
	if (!ots_threads_claim_end(ots_tid(), ots_tls.span_id)) {
		/* the process is exiting and ots_threads_end_live closed it already */
		ots_reentry_leave();
		errno = saved;
		return;
	}
	ots_rec_t *r = scratch_get();
	r->kind = OTS_REC_THREAD;
	r->tid = ots_tid();
	r->ptid = ots_tls.ptid;
	r->span_id = ots_tls.span_id;
	r->parent_span_id = ots_tls.parent_span_id;
	memcpy(r->trace_id, ots_tls.trace_id, 16);
	r->start_ns = ots_tls.start_ns;
	r->end_ns = ots_unix_ns(ots_mono_ns());
	r->obj = ots_tls.routine;
	r->flags = flags;
	r->aux = ots_threads_cancel_time(r->tid);
	if (r->aux)
		r->flags |= OTS_RF_CANCEL_REQ;
	if (ots_tls.link_span_id) { /* continues a span of an earlier segment */
		r->flags |= OTS_RF_HAS_LINK;
		r->link_span_id = ots_tls.link_span_id;
		memcpy(r->link_trace_id, ots_tls.link_trace_id, 16);
	}
	prctl(PR_GET_NAME, r->name, 0, 0, 0);
	r->name[sizeof r->name - 1] = '\0';
	ots_lockstat_thread_named(r->tid, r->name);
	if (!ots_pool_put_end(r))
		commit_copy(r);
	ots_reentry_leave();
	errno = saved;
}
