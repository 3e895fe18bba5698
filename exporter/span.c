/* span.c - turning a record into a span: names, attributes, status, links.
 *
 * This is where the trace model of DESIGN.md is written down. Symbols (thread
 * start routines, lock names, stacks) come from exporter/symbols.c, resolved
 * here in the exporter thread and never in the hooks.
 */
#include "exp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *ots_errno_name(int e)
{
	switch (e) {
	case ETIMEDOUT: return "ETIMEDOUT";
	case EDEADLK: return "EDEADLK";
	case EOWNERDEAD: return "EOWNERDEAD";
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case EAGAIN: return "EAGAIN";
	case EPERM: return "EPERM";
	case EINTR: return "EINTR";
	case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
	case ESRCH: return "ESRCH";
	case ENOMEM: return "ENOMEM";
	default: return NULL;
	}
}

static ots_attr_t *attr_slot(ots_span_t *s, const char *key)
{
	for (int i = 0; i < s->nattrs; i++)
		if (!strcmp(s->attrs[i].key, key))
			return &s->attrs[i];
	if (s->nattrs >= OTS_SPAN_MAX_ATTRS)
		return NULL;
	ots_attr_t *a = &s->attrs[s->nattrs++];
	memset(a, 0, sizeof *a);
	a->key = key;
	return a;
}

void ots_span_attr_str(ots_span_t *s, const char *key, const char *v)
{
	ots_attr_t *a = attr_slot(s, key);
	if (a) {
		a->type = OTS_AV_STR;
		a->s = v;
	}
}

void ots_span_attr_int(ots_span_t *s, const char *key, int64_t v)
{
	ots_attr_t *a = attr_slot(s, key);
	if (a) {
		a->type = OTS_AV_INT;
		a->i = v;
	}
}

void ots_span_attr_bool(ots_span_t *s, const char *key, bool v)
{
	ots_attr_t *a = attr_slot(s, key);
	if (a) {
		a->type = OTS_AV_BOOL;
		a->i = v;
	}
}

/* code.stacktrace: one frame a line; code.function.name: the first frame that
 * is neither the shim nor libc, i.e. the host code that waited. */
static void stack_attrs(const ots_rec_t *r, ots_span_t *s, ots_arena_t *arena)
{
	if (!r->nframes)
		return;
	ots_buf_t b = { 0 };
	const char *fn = NULL;
	for (int i = 0; i < r->nframes; i++) {
		const char *f = ots_sym_frame(r->frames[i]);
		ots_buf_puts(&b, f);
		ots_buf_puts(&b, "\n");
		if (!fn && !ots_sym_is_internal(r->frames[i]))
			fn = ots_sym_function(r->frames[i]);
	}
	if (b.len && !b.oom) {
		b.data[--b.len] = '\0';
		ots_span_attr_str(s, "code.stacktrace", ots_arena_strdup(arena, b.data));
	}
	ots_buf_free(&b);
	if (fn)
		ots_span_attr_str(s, "code.function.name", ots_arena_strdup(arena, fn));
}

static int is_error(int e)
{
	return e == ETIMEDOUT || e == EDEADLK || e == EOWNERDEAD || e == EINVAL ||
	       e == ENOTRECOVERABLE || e == EPERM;
}

static void wait_span(const ots_rec_t *r, ots_span_t *s, ots_arena_t *arena)
{
	s->name = ots_op_name(r->op);
	if (r->flags & OTS_RF_DEADLOCK) {
		/* one span per wait of a proven cycle, each linked to its holder */
		s->name = ots_arena_printf(arena, "deadlock %s", ots_op_name(r->op));
		ots_span_attr_str(s, "otcshim.wait.state", "deadlocked");
		s->status_code = 2;
		s->status_msg = "deadlock";
	} else if (r->flags & OTS_RF_LIVE_AT_EXIT) {
		/* still waiting when the process exited: it never completed */
		ots_span_attr_str(s, "otcshim.wait.state", "unfinished_at_exit");
	} else if (r->flags & OTS_RF_IN_PROGRESS) {
		/* a stall: sent while the wait goes on; its own span follows if it ends */
		s->name = ots_arena_printf(arena, "stall %s", ots_op_name(r->op));
		ots_span_attr_str(s, "otcshim.wait.state", "in_progress");
	}
	ots_span_attr_int(s, "thread.id", r->tid);
	ots_span_attr_str(s, "otcshim.lock.addr", ots_arena_printf(arena, "0x%llx",
								    (unsigned long long)r->obj));
	const char *lname = ots_wait_object_name(r->op, r->obj);
	if (lname)
		ots_span_attr_str(s, "otcshim.lock.name", ots_arena_strdup(arena, lname));
	switch (r->op) {
	case OTS_OP_COND_WAIT:
	case OTS_OP_COND_TIMEDWAIT:
	case OTS_OP_COND_CLOCKWAIT:
		ots_span_attr_str(s, "otcshim.mutex.addr",
				  ots_arena_printf(arena, "0x%llx", (unsigned long long)r->obj2));
		ots_span_attr_bool(s, "otcshim.includes_reacquire", true);
		break;
	case OTS_OP_JOIN:
	case OTS_OP_TIMEDJOIN:
	case OTS_OP_CLOCKJOIN:
		ots_span_attr_str(s, "otcshim.lock.kind", "thread");
		break;
	default:
		break;
	}
	if (r->op == OTS_OP_RWLOCK_RDLOCK || r->op == OTS_OP_RWLOCK_TIMEDRDLOCK ||
	    r->op == OTS_OP_RWLOCK_CLOCKRDLOCK)
		ots_span_attr_str(s, "otcshim.rwlock.mode", "read");
	else if (r->op == OTS_OP_RWLOCK_WRLOCK || r->op == OTS_OP_RWLOCK_TIMEDWRLOCK ||
		 r->op == OTS_OP_RWLOCK_CLOCKWRLOCK)
		ots_span_attr_str(s, "otcshim.rwlock.mode", "write");
	if (r->flags & OTS_RF_HOLDER)
		ots_span_attr_int(s, "otcshim.holder.thread.id", r->holder_tid);
	if (r->ret) {
		const char *en = ots_errno_name(r->ret);
		ots_span_attr_str(s, "otcshim.result", en ? en : ots_arena_printf(arena, "%d", r->ret));
		if (is_error(r->ret)) {
			s->status_code = 2;
			s->status_msg = en;
		}
	}
	if (r->flags & OTS_RF_HAS_LINK && s->nlinks < OTS_SPAN_MAX_LINKS) {
		ots_link_t *l = &s->links[s->nlinks++];
		memcpy(l->trace_id, r->link_trace_id, 16);
		l->span_id = r->link_span_id;
		l->attrs[0] = (ots_attr_t){ .key = "otcshim.link", .type = OTS_AV_STR, .s = "holder" };
		l->nattrs = 1;
	}
	stack_attrs(r, s, arena);
}

static void thread_span(const ots_rec_t *r, ots_span_t *s, ots_arena_t *arena)
{
	const char *fn = r->obj ? ots_sym_function(r->obj) : NULL;
	/* With no symbol (a stripped program), the thread's own name says more
	 * than an address; a name it merely inherited from the process is not
	 * its own. */
	const char *own = ots_thread_own_name(r->name);
	if (fn)
		s->name = ots_arena_printf(arena, "thread %s", fn);
	else if (own)
		s->name = ots_arena_printf(arena, "thread %s", own);
	else
		s->name = ots_arena_printf(arena, "thread 0x%llx", (unsigned long long)r->obj);
	ots_span_attr_int(s, "thread.id", r->tid);
	if (r->name[0])
		ots_span_attr_str(s, "thread.name", ots_arena_strdup(arena, r->name));
	if (r->ptid)
		ots_span_attr_int(s, "otcshim.parent.thread.id", r->ptid);
	if (fn)
		ots_span_attr_str(s, "code.function.name", ots_arena_strdup(arena, fn));
	if (r->flags & OTS_RF_CANCEL_REQ && s->nevents < OTS_SPAN_MAX_EVENTS) {
		ots_event_t *e = &s->events[s->nevents++];
		e->name = "pthread_cancel";
		e->time_ns = r->aux;
		e->nattrs = 0;
	}
	if (r->flags & OTS_RF_CANCELLED) {
		s->status_code = 2;
		s->status_msg = "cancelled";
		ots_span_attr_str(s, "otcshim.thread.end", "cancelled");
	} else if (r->flags & OTS_RF_EXITED) {
		ots_span_attr_str(s, "otcshim.thread.end", "pthread_exit");
	} else if (r->flags & OTS_RF_SEGMENT_CUT) {
		ots_span_attr_str(s, "otcshim.thread.end", "segment_cut"); /* lives on */
	} else if (r->flags & OTS_RF_LIVE_AT_EXIT) {
		ots_span_attr_str(s, "otcshim.thread.end", "process_exit"); /* still running */
	} else {
		ots_span_attr_str(s, "otcshim.thread.end", "return");
	}
	if (r->flags & OTS_RF_HAS_LINK && s->nlinks < OTS_SPAN_MAX_LINKS) {
		ots_link_t *l = &s->links[s->nlinks++];
		memcpy(l->trace_id, r->link_trace_id, 16);
		l->span_id = r->link_span_id;
		l->attrs[0] = (ots_attr_t){ .key = "otcshim.link", .type = OTS_AV_STR,
					    .s = "previous_segment" };
		l->nattrs = 1;
	}
}

static void process_span(const ots_rec_t *r, ots_span_t *s, ots_arena_t *arena)
{
	s->name = ots_arena_printf(arena, "process %s", ots_command_name());
	ots_span_attr_int(s, "process.pid", (int64_t)r->obj);
	ots_span_attr_int(s, "thread.id", r->tid);
	if (ots_cfg.tracestate && r->parent_span_id)
		s->trace_state = ots_cfg.tracestate;
	if (r->flags & OTS_RF_HAS_LINK && s->nlinks < OTS_SPAN_MAX_LINKS) {
		ots_link_t *l = &s->links[s->nlinks++];
		memcpy(l->trace_id, r->link_trace_id, 16);
		l->span_id = r->link_span_id;
		l->attrs[0] = (ots_attr_t){ .key = "otcshim.link",
					    .type = OTS_AV_STR,
					    .s = r->aux == 2 ? "before_failed_exec" :
						 r->aux ? "previous_segment" : "fork_parent" };
		l->nattrs = 1;
	}
	if (r->flags & OTS_RF_EXEC)
		ots_span_attr_str(s, "otcshim.process.end", "exec");
}

static void other_span(const ots_rec_t *r, ots_span_t *s, ots_arena_t *arena)
{
	s->name = ots_op_name(r->op);
	ots_span_attr_int(s, "thread.id", r->tid);
	ots_span_attr_str(s, "otcshim.lock.addr", ots_arena_printf(arena, "0x%llx",
								    (unsigned long long)r->obj));
	stack_attrs(r, s, arena);
}

void ots_span_from_rec(const ots_rec_t *r, ots_span_t *s, ots_arena_t *arena)
{
	memset(s, 0, offsetof(ots_span_t, attrs));
	s->nattrs = s->nevents = s->nlinks = 0;
	s->status_code = 0;
	s->status_msg = NULL;
	memcpy(s->trace_id, r->trace_id, 16);
	s->span_id = r->span_id;
	s->parent_span_id = r->parent_span_id;
	s->kind = 1; /* SPAN_KIND_INTERNAL */
	s->flags = 0x100 | 0x01; /* HAS_IS_REMOTE known, sampled */
	if (r->kind == OTS_REC_PROCESS && ots_g.parent_span_id && r->parent_span_id)
		s->flags |= 0x200; /* parent is remote (TRACEPARENT) */
	s->start_ns = r->start_ns;
	s->end_ns = r->end_ns;
	switch (r->kind) {
	case OTS_REC_WAIT:
		wait_span(r, s, arena);
		break;
	case OTS_REC_THREAD:
		thread_span(r, s, arena);
		break;
	case OTS_REC_PROCESS:
		process_span(r, s, arena);
		break;
	default:
		other_span(r, s, arena);
		break;
	}
}
