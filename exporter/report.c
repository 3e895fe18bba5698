/* report.c - the contention report printed at exit.
 *
 * Built from the lock registry (shim/lockstat.c), which counts every
 * contended wait, also those below OTCSHIM_MIN_WAIT that never became spans.
 * It answers, in order: which locks cost the most waiting (sorted by total
 * wait, with count, avg, p99, max and how long the lock was then held), from
 * where (the top waiter stacks, symbolised), which threads lost the most time,
 * and what the shim itself dropped.
 *
 * Runs in the exiting thread, after the exporter stopped or missed its
 * deadline: the time spent resolving symbols is capped (REPORT_SYM_BUDGET,
 * then dladdr only), all of it goes to stderr or to OTCSHIM_REPORT's file in
 * one write, never to stdout, and nothing here can change the exit code.
 *
 * Ordering is deterministic: by total wait, then count, then name, then
 * address. Text lines stay within 100 columns.
 */
#include "exp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WIDTH 100
#define TOP_LOCKS 10        /* locks in the text report */
#define TOP_OTHER 5         /* other wait objects in the text report */
#define TOP_STACKS 3        /* waiter stacks per lock */
#define STACK_LINES 6       /* frames printed per stack */
#define TOP_THREADS 10
#define MAX_OBJS 4096       /* objects read from the registry */
#define MAX_THREADS 1024
#define JSON_STACKS 5
#define REPORT_SYM_BUDGET 1000000000ull /* ns of symbol resolution at exit */

typedef struct obj {
	ots_lockstat_info_t i;
	const char *name; /* lock name (symbol, @function or the address) */
	const char *kind;
	int lock;         /* a lock (mutex, rwlock, spin), not another wait */
} obj_t;

typedef struct thr {
	ots_lockstat_thread_t t;
	const char *name;
} thr_t;

/* ------------------------------------------------------------------------ */
/* Formatting helpers. */

static const char *kind_of(uint32_t ops, int *is_lock)
{
	static const struct {
		unsigned lo, hi;
		const char *name;
		int lock;
	} k[] = {
		{ OTS_OP_MUTEX_LOCK, OTS_OP_MUTEX_CLOCKLOCK, "mutex", 1 },
		{ OTS_OP_RWLOCK_RDLOCK, OTS_OP_RWLOCK_CLOCKWRLOCK, "rwlock", 1 },
		{ OTS_OP_SPIN_LOCK, OTS_OP_SPIN_LOCK, "spin", 1 },
		{ OTS_OP_COND_WAIT, OTS_OP_COND_CLOCKWAIT, "cond", 0 },
		{ OTS_OP_SEM_WAIT, OTS_OP_SEM_CLOCKWAIT, "sem", 0 },
		{ OTS_OP_ONCE, OTS_OP_ONCE_INIT, "once", 0 },
		{ OTS_OP_JOIN, OTS_OP_CLOCKJOIN, "join", 0 },
		{ OTS_OP_BARRIER_WAIT, OTS_OP_BARRIER_WAIT, "barrier", 0 },
	};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
		for (unsigned op = k[i].lo; op <= k[i].hi; op++)
			if (ops & (1u << op)) {
				*is_lock = k[i].lock;
				return k[i].name;
			}
	*is_lock = 0;
	return "other";
}

/* A duration in at most 9 characters: 812ns, 12.3us, 40.14ms, 1.523s, 1234.5s */
static const char *dur(char *b, size_t n, uint64_t ns)
{
	if (ns < 1000)
		snprintf(b, n, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(b, n, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(b, n, "%.2fms", (double)ns / 1e6);
	else if (ns < 1000000000000ull)
		snprintf(b, n, "%.3fs", (double)ns / 1e9);
	else
		snprintf(b, n, "%.1fs", (double)ns / 1e9);
	return b;
}

#define D(ns) dur((char[16]){ 0 }, 16, (ns))

/* Columns s takes on a terminal: its characters (bytes that do not continue
 * a UTF-8 sequence; wide and combining characters are not told apart). */
static int columns(const char *s, size_t n)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* The bytes of s that fit in w columns, cut between characters. */
static size_t fit(const char *s, size_t n, int w)
{
	size_t i = 0;
	for (int c = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && c++ == w)
			break;
	return i;
}

/* Append s clipped to width w (with a trailing '~' when clipped), padded. */
static void col(ots_buf_t *b, const char *s, int w, int left)
{
	size_t n = strlen(s);
	int len = columns(s, n);
	if (len > w) {
		ots_buf_append(b, s, fit(s, n, w - 1));
		ots_buf_puts(b, "~");
		return;
	}
	if (left)
		ots_buf_printf(b, "%s%*s", s, w - len, "");
	else
		ots_buf_printf(b, "%*s%s", w - len, "", s);
}

/* Append a line clipped to WIDTH columns, with its newline. */
static void line(ots_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(ots_buf_t *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (columns(tmp, strlen(tmp)) > WIDTH) {
		size_t cut = fit(tmp, strlen(tmp), WIDTH - 1);
		tmp[cut] = '~';
		tmp[cut + 1] = '\0';
	}
	ots_buf_puts(b, tmp);
	ots_buf_puts(b, "\n");
}

static void rule(ots_buf_t *b, const char *title)
{
	char tmp[4 * WIDTH + 1];
	int n = snprintf(tmp, sizeof tmp, "== %s ", title);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof tmp - 1)
		n = (int)sizeof tmp - 1;
	for (int c = columns(tmp, (size_t)n); c < WIDTH && n < (int)sizeof tmp - 1; c++)
		tmp[n++] = '=';
	tmp[n] = '\0';
	line(b, "%s", tmp);
}

static const char *basename_of(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;
	return s ? s + 1 : p;
}

/* "fn+0x1c (module) file.c:42" with the file's basename, for the text form. */
static void frame_text(char *out, size_t n, uint64_t pc)
{
	ots_sym_info_t si;
	ots_sym_info(pc, &si);
	char fl[160] = "";
	if (si.file)
		snprintf(fl, sizeof fl, " %s:%d", basename_of(si.file), si.line);
	if (si.function)
		snprintf(out, n, "%s+0x%llx (%s)%s", si.function, (unsigned long long)si.offset,
			 si.module ? si.module : "?", fl);
	else if (si.module)
		snprintf(out, n, "0x%llx (%s+0x%llx)", (unsigned long long)pc, si.module,
			 (unsigned long long)si.module_offset);
	else
		snprintf(out, n, "0x%llx (no object mapped there at exit)", (unsigned long long)pc);
}

/* How many frames to show: drop the trailing run of libc frames (start_thread,
 * clone3, __libc_start_main) and the program's _start, which every stack
 * shares. Never drops the first frame. */
static int useful_frames(const ots_lockstat_stack_t *s)
{
	int n = s->nframes;
	while (n > 1) {
		ots_sym_info_t si;
		ots_sym_info(s->frames[n - 1], &si);
		if (si.internal || (si.function && !strcmp(si.function, "_start")))
			n--;
		else
			break;
	}
	return n;
}

/* The first frame outside the shim and libc: the code that waited. */
static const char *waiter_function(const ots_lockstat_stack_t *s)
{
	for (int i = 0; i < s->nframes; i++)
		if (!ots_sym_is_internal(s->frames[i]))
			return ots_sym_function(s->frames[i]);
	return NULL;
}

/* "3 (101 102 103)", at most TIDS_SHOWN tids, then "..."; "7+" when the
 * registry saw more than it keeps. */
#define TIDS_SHOWN 4
static void tid_list(char *out, size_t n, const int32_t *tids, int cnt, int more)
{
	size_t len = (size_t)snprintf(out, n, "%d%s", cnt, more ? "+" : "");
	for (int i = 0; i < cnt && i < TIDS_SHOWN && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%d", i ? " " : " (", tids[i]);
	if ((cnt > TIDS_SHOWN || more) && cnt && len < n)
		len += (size_t)snprintf(out + len, n - len, " ...");
	if (cnt && len < n)
		snprintf(out + len, n - len, ")");
}

/* ------------------------------------------------------------------------ */
/* Collecting and ordering. */

static int obj_cmp(const void *a, const void *b)
{
	const obj_t *x = a, *y = b;
	if (x->i.total_ns != y->i.total_ns)
		return x->i.total_ns > y->i.total_ns ? -1 : 1;
	if (x->i.count != y->i.count)
		return x->i.count > y->i.count ? -1 : 1;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->i.obj < y->i.obj ? -1 : x->i.obj > y->i.obj;
}

/* Threads by time lost to locks first, then to other waits: a main thread
 * that sat in pthread_join all along is not where contention hurt. */
static int thr_cmp(const void *a, const void *b)
{
	const thr_t *x = a, *y = b;
	if (x->t.lock_ns != y->t.lock_ns)
		return x->t.lock_ns > y->t.lock_ns ? -1 : 1;
	if (x->t.other_ns != y->t.other_ns)
		return x->t.other_ns > y->t.other_ns ? -1 : 1;
	return x->t.tid - y->t.tid;
}

/* A thread's name: its start routine ("worker_main"), else in a stripped
 * program the name it gave itself ("pool-7") or "pigz+0x7000", "main", or
 * the kernel's name of a thread still alive. */
static const char *thread_name(ots_arena_t *a, const ots_lockstat_thread_t *t)
{
	if (t->routine) {
		ots_sym_info_t si;
		ots_sym_info(t->routine, &si);
		if (si.function)
			return ots_arena_strdup(a, si.function);
		const char *own = ots_thread_own_name(t->name);
		if (own)
			return ots_arena_strdup(a, own);
		if (si.module)
			return ots_arena_printf(a, "%s+0x%llx", si.module,
						(unsigned long long)si.module_offset);
	}
	if (t->tid == ots_g.main_tid || t->tid == getpid())
		return "main";
	char path[64], comm[32];
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", t->tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, comm, sizeof comm - 1);
		close(fd);
		if (n > 0) {
			comm[n] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
			return ots_arena_printf(a, "[%s]", comm);
		}
	}
	return "?";
}

/* A wait still going on when the report is made: it never reached the
 * statistics (they count a wait when it ends). */
#define MAX_LIVE 256
typedef struct live {
	ots_wait_info_t w;
	const char *name; /* the object's, or "0x..." */
} live_t;

static int live_cmp(const void *a, const void *b)
{
	const live_t *x = a, *y = b;
	return x->w.t0 == y->w.t0 ? x->w.tid - y->w.tid : x->w.t0 < y->w.t0 ? -1 : 1;
}

typedef struct snap {
	obj_t *objs;
	size_t nobjs, nlocks, nother; /* locks first, then other waits, each sorted */
	thr_t *thrs;
	size_t nthrs;
	uint64_t waits, below_min;
	live_t *live; /* waits still in progress (issue 10), longest first */
	size_t nlive;
	uint64_t now;
	ots_arena_t arena;
} snap_t;

static void snap_take(snap_t *s)
{
	memset(s, 0, sizeof *s);
	ots_lockstat_info_t *infos = calloc(MAX_OBJS, sizeof *infos);
	s->objs = calloc(MAX_OBJS, sizeof *s->objs);
	ots_lockstat_thread_t *ts = calloc(MAX_THREADS, sizeof *ts);
	s->thrs = calloc(MAX_THREADS, sizeof *s->thrs);
	if (!infos || !s->objs || !ts || !s->thrs) {
		free(infos);
		free(ts);
		return;
	}
	size_t n = ots_lockstat_snapshot(infos, MAX_OBJS);
	/* locks first, then the other waits; each group sorted on its own */
	for (int pass = 1; pass >= 0; pass--) {
		size_t first = s->nobjs;
		for (size_t i = 0; i < n; i++) {
			int is_lock;
			const char *kind = kind_of(infos[i].ops, &is_lock);
			if (is_lock != pass)
				continue;
			obj_t *o = &s->objs[s->nobjs++];
			o->i = infos[i];
			o->kind = kind;
			o->lock = is_lock;
			/* a join waits on a thread, not a lock: name it by that
			 * thread when it is known */
			const char *nm = NULL;
			if (!strcmp(kind, "join") && o->i.nholders == 1 && !o->i.holders_more)
				nm = ots_arena_printf(&s->arena, "thread %d", o->i.holders[0]);
			else
				nm = ots_sym_object(o->i.obj);
			o->name = nm ? ots_arena_strdup(&s->arena, nm) :
				       ots_arena_printf(&s->arena, "0x%llx",
							(unsigned long long)o->i.obj);
			s->waits += o->i.count;
			s->below_min += o->i.below_min;
		}
		qsort(s->objs + first, s->nobjs - first, sizeof *s->objs, obj_cmp);
		if (pass)
			s->nlocks = s->nobjs;
		else
			s->nother = s->nobjs - s->nlocks;
	}
	size_t nt = ots_lockstat_threads(ts, MAX_THREADS);
	for (size_t i = 0; i < nt; i++) {
		s->thrs[i].t = ts[i];
		s->thrs[i].name = thread_name(&s->arena, &ts[i]);
	}
	s->nthrs = nt;
	qsort(s->thrs, nt, sizeof *s->thrs, thr_cmp);
	free(infos);
	free(ts);
	ots_wait_info_t *w = calloc(MAX_LIVE, sizeof *w);
	s->live = calloc(MAX_LIVE, sizeof *s->live);
	s->now = ots_mono_ns();
	if (w && s->live) {
		s->nlive = ots_threads_waits(w, MAX_LIVE);
		for (size_t i = 0; i < s->nlive; i++) {
			live_t *l = &s->live[i];
			l->w = w[i];
			const char *nm = ots_wait_object_name(w[i].op, w[i].obj);
			l->name = nm ? ots_arena_strdup(&s->arena, nm) :
				       ots_arena_printf(&s->arena, "0x%llx",
							(unsigned long long)w[i].obj);
		}
		qsort(s->live, s->nlive, sizeof *s->live, live_cmp);
	}
	free(w);
}

static void snap_free(snap_t *s)
{
	free(s->objs);
	free(s->thrs);
	free(s->live);
	ots_arena_free(&s->arena);
}

typedef struct lost {
	uint64_t pool, export_failed, queue, rejected, pending;
	uint64_t stacks_short; /* waits recorded without a stack: too little stack left */
	uint64_t stacks_unloaded; /* ... before libunwind was open (or without it) */
	ots_lockstat_lost_t ls;
} lost_t;

static void lost_take(lost_t *l)
{
	l->pool = ots_pool_dropped();
	l->export_failed = atomic_load(&ots_counters.spans_dropped_export);
	l->queue = atomic_load(&ots_counters.spans_dropped_queue);
	l->rejected = atomic_load(&ots_counters.spans_rejected);
	l->pending = ots_pool_pending();
	l->stacks_short = atomic_load(&ots_stack_skipped);
	l->stacks_unloaded = atomic_load(&ots_stack_unloaded);
	ots_lockstat_lost(&l->ls);
}

/* ------------------------------------------------------------------------ */
/* Text. */

static void text_table_head(ots_buf_t *b)
{
	ots_buf_puts(b, "  #  ");
	col(b, "lock", 28, 1);
	ots_buf_puts(b, " ");
	col(b, "kind", 7, 1);
	col(b, "waits", 8, 0);
	col(b, "total", 10, 0);
	col(b, "avg", 10, 0);
	col(b, "p99", 10, 0);
	col(b, "max", 10, 0);
	col(b, "hold avg", 10, 0);
	ots_buf_puts(b, "\n");
}

static void text_obj(ots_buf_t *b, int rank, const obj_t *o)
{
	const ots_lockstat_info_t *i = &o->i;
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%3d  ", rank);
	ots_buf_puts(b, tmp);
	col(b, o->name, 28, 1);
	ots_buf_puts(b, " ");
	col(b, o->kind, 7, 1);
	snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)i->count);
	col(b, tmp, 8, 0);
	col(b, D(i->total_ns), 10, 0);
	col(b, D(i->count ? i->total_ns / i->count : 0), 10, 0);
	col(b, D(i->p99_ns), 10, 0);
	col(b, D(i->max_ns), 10, 0);
	col(b, o->lock && i->hold_count ? D(i->hold_total_ns / i->hold_count) : "-", 10, 0);
	ots_buf_puts(b, "\n");

	/* details: where it lives and how it was held; who waited and who held
	 * it; then the waiter stacks */
	char head[200];
	size_t hl = (size_t)snprintf(head, sizeof head, "     0x%llx  p50 %s",
				     (unsigned long long)i->obj, D(i->p50_ns));
	if (o->lock && i->hold_count && hl < sizeof head)
		hl += (size_t)snprintf(head + hl, sizeof head - hl, "  held at most %s (%llu time%s)",
				       D(i->hold_max_ns), (unsigned long long)i->hold_count,
				       i->hold_count == 1 ? "" : "s");
	if (i->below_min && hl < sizeof head)
		hl += (size_t)snprintf(head + hl, sizeof head - hl, "  %llu under min-wait",
				       (unsigned long long)i->below_min);
	if (!strcmp(o->kind, "rwlock") && hl < sizeof head)
		hl += (size_t)snprintf(head + hl, sizeof head - hl, "  %llu read / %llu write",
				       (unsigned long long)i->rd_count,
				       (unsigned long long)(i->count - i->rd_count));
	if (i->errors && hl < sizeof head)
		snprintf(head + hl, sizeof head - hl, "  %llu failed (timeout or error)",
			 (unsigned long long)i->errors);
	line(b, "%s", head);
	char w[96], h[96];
	tid_list(w, sizeof w, i->waiters, i->nwaiters, i->waiters_more);
	tid_list(h, sizeof h, i->holders, i->nholders, i->holders_more);
	if (i->nholders || i->holders_more)
		line(b, "     waiters %s  holders %s", w, h);
	else
		line(b, "     waiters %s", w);

	ots_lockstat_stack_t st[TOP_STACKS];
	size_t ns = ots_lockstat_stacks(i->obj, st, TOP_STACKS);
	for (size_t k = 0; k < ns; k++) {
		line(b, "     stack %zu: %llu wait%s, %s total, %s max", k + 1,
		     (unsigned long long)st[k].count, st[k].count == 1 ? "" : "s", D(st[k].total_ns),
		     D(st[k].max_ns));
		int nf = useful_frames(&st[k]);
		for (int f = 0; f < nf && f < STACK_LINES; f++) {
			char fr[512];
			frame_text(fr, sizeof fr, st[k].frames[f]);
			line(b, "       %s %s", f ? "<-" : "at", fr);
		}
		if (nf > STACK_LINES)
			line(b, "       ... %d more", nf - STACK_LINES);
	}
}

static void text_report(ots_buf_t *b, const snap_t *s, const lost_t *l, uint64_t run_ns)
{
	uint64_t any_lost = l->pool + l->export_failed + l->queue + l->rejected + l->pending +
			    l->stacks_short + l->stacks_unloaded + l->ls.locks + l->ls.stacks + l->ls.threads;
	const char *exe = ots_command_name();
	if (!s->nobjs && !any_lost && !s->nlive) {
		/* nothing to show: one line, so that the many short-lived processes
		 * of a script run under the shim stay quiet */
		line(b, "otcshim: %s (pid %d): no contended waits in %s", exe, (int)getpid(),
		     D(run_ns));
		return;
	}
	char title[160];
	snprintf(title, sizeof title, "otcshim report: %s (pid %d)", exe, (int)getpid());
	ots_buf_puts(b, "\n");
	rule(b, title);
	line(b, "run %s; %llu contended wait%s on %zu object%s (%llu under min-wait %s: counted, no span)",
	     D(run_ns), (unsigned long long)s->waits, s->waits == 1 ? "" : "s", s->nobjs,
	     s->nobjs == 1 ? "" : "s", (unsigned long long)s->below_min, D(ots_cfg.min_wait_ns));
	if (!s->nobjs)
		line(b, "no contended waits were recorded");

	if (s->nlocks) {
		ots_buf_puts(b, "\n");
		line(b, "Locks by total wait (hold avg: how long a lock was held after a contended "
			"acquisition)");
		text_table_head(b);
		for (size_t i = 0; i < s->nlocks && i < TOP_LOCKS; i++)
			text_obj(b, (int)i + 1, &s->objs[i]);
		if (s->nlocks > TOP_LOCKS)
			line(b, "  ... %zu more locks (OTCSHIM_REPORT_FORMAT=json lists them all)",
			     s->nlocks - TOP_LOCKS);
	}
	if (s->nother) {
		ots_buf_puts(b, "\n");
		line(b, "Other waits by total wait (condition variables, semaphores, joins, barriers, "
			"once)");
		text_table_head(b);
		for (size_t i = 0; i < s->nother && i < TOP_OTHER; i++)
			text_obj(b, (int)i + 1, &s->objs[s->nlocks + i]);
		if (s->nother > TOP_OTHER)
			line(b, "  ... %zu more", s->nother - TOP_OTHER);
	}
	if (s->nthrs) {
		ots_buf_puts(b, "\n");
		line(b, "Threads by time blocked on locks (other: cond, sem, join, barrier, once)");
		ots_buf_puts(b, "  ");
		col(b, "tid", 8, 1);
		col(b, "thread", 30, 1);
		col(b, "on locks", 11, 0);
		col(b, "waits", 8, 0);
		col(b, "other", 11, 0);
		col(b, "waits", 8, 0);
		col(b, "longest", 11, 0);
		ots_buf_puts(b, "\n");
		for (size_t i = 0; i < s->nthrs && i < TOP_THREADS; i++) {
			const ots_lockstat_thread_t *t = &s->thrs[i].t;
			char tmp[32];
			ots_buf_puts(b, "  ");
			snprintf(tmp, sizeof tmp, "%d", t->tid);
			col(b, tmp, 8, 1);
			col(b, s->thrs[i].name, 30, 1);
			col(b, D(t->lock_ns), 11, 0);
			snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)t->lock_waits);
			col(b, tmp, 8, 0);
			col(b, D(t->other_ns), 11, 0);
			snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)t->other_waits);
			col(b, tmp, 8, 0);
			col(b, D(t->max_ns), 11, 0);
			ots_buf_puts(b, "\n");
		}
		if (s->nthrs > TOP_THREADS)
			line(b, "  ... %zu more threads", s->nthrs - TOP_THREADS);
	}

	if (s->nlive) {
		ots_buf_puts(b, "\n");
		line(b, "Waits still in progress at exit (not in the tables above: a wait is "
			"counted when it ends)");
		ots_buf_puts(b, "  ");
		col(b, "tid", 8, 1);
		col(b, "waiting in", 26, 1);
		col(b, "on", 30, 1);
		col(b, "held by", 9, 1);
		col(b, "for", 11, 0);
		ots_buf_puts(b, "\n");
		for (size_t i = 0; i < s->nlive; i++) {
			const live_t *lv = &s->live[i];
			char tmp[32];
			ots_buf_puts(b, "  ");
			snprintf(tmp, sizeof tmp, "%d", lv->w.tid);
			col(b, tmp, 8, 1);
			col(b, ots_op_name(lv->w.op), 26, 1);
			col(b, lv->name, 30, 1);
			if (lv->w.holder > 0)
				snprintf(tmp, sizeof tmp, "%d", lv->w.holder);
			else
				snprintf(tmp, sizeof tmp, "?");
			col(b, tmp, 9, 1);
			col(b, D(s->now - lv->w.t0), 11, 0);
			ots_buf_puts(b, "\n");
		}
	}

	ots_buf_puts(b, "\n");
	if (!any_lost) {
		line(b, "Dropped: nothing");
	} else {
		line(b, "Dropped");
		line(b, "  spans: %llu lost to full rings (OTCSHIM_POOL_SIZE), %llu failed to export, "
			"%llu queue, %llu rejected",
		     (unsigned long long)l->pool, (unsigned long long)l->export_failed,
		     (unsigned long long)l->queue, (unsigned long long)l->rejected);
		if (l->pending)
			line(b, "  spans: about %llu still unsent at exit (shutdown timeout)",
			     (unsigned long long)l->pending);
		if (l->stacks_short)
			line(b, "  stacks: %llu waits recorded without their stack (the thread had "
				"less than 12 KB of stack left)",
			     (unsigned long long)l->stacks_short);
		if (l->stacks_unloaded)
			line(b, "  stacks: %llu waits recorded without their stack (before the exporter "
				"thread had opened libunwind, or without it)",
			     (unsigned long long)l->stacks_unloaded);
		if (l->ls.locks + l->ls.stacks + l->ls.threads)
			line(b, "  statistics: waits not counted for a lock %llu, for a stack %llu, "
				"for a thread %llu (tables full)",
			     (unsigned long long)l->ls.locks, (unsigned long long)l->ls.stacks,
			     (unsigned long long)l->ls.threads);
	}
	rule(b, "end of otcshim report");
}

/* ------------------------------------------------------------------------ */
/* JSON. Numbers are plain JSON numbers (ns fit a double exactly below 2^53,
 * 104 days). */

static void json_key(ots_buf_t *b, const char *k, int *first)
{
	if (!*first)
		ots_buf_puts(b, ",");
	*first = 0;
	ots_json_string(b, k);
	ots_buf_puts(b, ":");
}

static void json_u64(ots_buf_t *b, const char *k, uint64_t v, int *first)
{
	json_key(b, k, first);
	ots_buf_printf(b, "%llu", (unsigned long long)v);
}

static void json_str(ots_buf_t *b, const char *k, const char *v, int *first)
{
	json_key(b, k, first);
	if (v)
		ots_json_string(b, v);
	else
		ots_buf_puts(b, "null");
}

static void json_tids(ots_buf_t *b, const char *k, const int32_t *t, int n, int *first)
{
	json_key(b, k, first);
	ots_buf_puts(b, "[");
	for (int i = 0; i < n; i++)
		ots_buf_printf(b, "%s%d", i ? "," : "", t[i]);
	ots_buf_puts(b, "]");
}

static void json_obj(ots_buf_t *b, int rank, const obj_t *o)
{
	const ots_lockstat_info_t *i = &o->i;
	int f = 1;
	char addr[32];
	snprintf(addr, sizeof addr, "0x%llx", (unsigned long long)i->obj);
	ots_buf_puts(b, "{");
	json_u64(b, "rank", (uint64_t)rank, &f);
	json_str(b, "addr", addr, &f);
	json_str(b, "name", o->name, &f);
	json_str(b, "kind", o->kind, &f);
	json_u64(b, "waits", i->count, &f);
	json_u64(b, "total_ns", i->total_ns, &f);
	json_u64(b, "avg_ns", i->count ? i->total_ns / i->count : 0, &f);
	json_u64(b, "min_ns", i->min_ns, &f);
	json_u64(b, "p50_ns", i->p50_ns, &f);
	json_u64(b, "p99_ns", i->p99_ns, &f);
	json_u64(b, "max_ns", i->max_ns, &f);
	json_u64(b, "below_min_wait", i->below_min, &f);
	json_u64(b, "read_waits", i->rd_count, &f);
	json_u64(b, "errors", i->errors, &f);
	json_key(b, "hold", &f);
	{
		int g = 1;
		ots_buf_puts(b, "{");
		json_u64(b, "count", i->hold_count, &g);
		json_u64(b, "total_ns", i->hold_total_ns, &g);
		json_u64(b, "avg_ns", i->hold_count ? i->hold_total_ns / i->hold_count : 0, &g);
		json_u64(b, "max_ns", i->hold_max_ns, &g);
		ots_buf_puts(b, "}");
	}
	json_tids(b, "waiters", i->waiters, i->nwaiters, &f);
	json_key(b, "waiters_more", &f);
	ots_buf_puts(b, i->waiters_more ? "true" : "false");
	json_tids(b, "holders", i->holders, i->nholders, &f);
	json_key(b, "holders_more", &f);
	ots_buf_puts(b, i->holders_more ? "true" : "false");
	json_key(b, "stacks", &f);
	ots_buf_puts(b, "[");
	ots_lockstat_stack_t st[JSON_STACKS];
	size_t ns = ots_lockstat_stacks(i->obj, st, JSON_STACKS);
	for (size_t k = 0; k < ns; k++) {
		int g = 1;
		ots_buf_puts(b, k ? ",{" : "{");
		json_u64(b, "waits", st[k].count, &g);
		json_u64(b, "total_ns", st[k].total_ns, &g);
		json_u64(b, "max_ns", st[k].max_ns, &g);
		json_str(b, "function", waiter_function(&st[k]), &g);
		json_key(b, "frames", &g);
		ots_buf_puts(b, "[");
		for (int j = 0; j < st[k].nframes; j++) {
			if (j)
				ots_buf_puts(b, ",");
			ots_json_string(b, ots_sym_frame(st[k].frames[j]));
		}
		ots_buf_puts(b, "]}");
	}
	ots_buf_puts(b, "]}");
}

static void json_report(ots_buf_t *b, const snap_t *s, const lost_t *l, uint64_t run_ns)
{
	int f = 1;
	ots_buf_puts(b, "{");
	json_str(b, "report", "otcshim", &f);
	json_str(b, "version", OTS_VERSION, &f);
	json_key(b, "process", &f);
	{
		int g = 1;
		ots_buf_puts(b, "{");
		json_u64(b, "pid", (uint64_t)getpid(), &g);
		json_str(b, "command", ots_command_name(), &g);
		json_str(b, "executable", ots_g.exe_name, &g);
		json_str(b, "path", ots_g.exe_path, &g);
		json_u64(b, "duration_ns", run_ns, &g);
		ots_buf_puts(b, "}");
	}
	json_u64(b, "min_wait_ns", ots_cfg.min_wait_ns, &f);
	json_u64(b, "stack_depth", ots_cfg.stack_depth, &f);
	json_u64(b, "waits", s->waits, &f);
	json_u64(b, "below_min_wait", s->below_min, &f);
	for (int grp = 0; grp < 2; grp++) {
		json_key(b, grp ? "other_waits" : "locks", &f);
		ots_buf_puts(b, "[");
		size_t from = grp ? s->nlocks : 0, n = grp ? s->nother : s->nlocks;
		for (size_t i = 0; i < n; i++) {
			if (i)
				ots_buf_puts(b, ",");
			json_obj(b, (int)i + 1, &s->objs[from + i]);
		}
		ots_buf_puts(b, "]");
	}
	json_key(b, "threads", &f);
	ots_buf_puts(b, "[");
	for (size_t i = 0; i < s->nthrs; i++) {
		const ots_lockstat_thread_t *t = &s->thrs[i].t;
		int g = 1;
		ots_buf_puts(b, i ? ",{" : "{");
		json_u64(b, "tid", (uint64_t)t->tid, &g);
		json_str(b, "name", s->thrs[i].name, &g);
		json_u64(b, "lock_wait_ns", t->lock_ns, &g);
		json_u64(b, "lock_waits", t->lock_waits, &g);
		json_u64(b, "other_wait_ns", t->other_ns, &g);
		json_u64(b, "other_waits", t->other_waits, &g);
		json_u64(b, "max_ns", t->max_ns, &g);
		ots_buf_puts(b, "}");
	}
	ots_buf_puts(b, "]");
	json_key(b, "in_progress", &f);
	ots_buf_puts(b, "[");
	for (size_t i = 0; i < s->nlive; i++) {
		const live_t *lv = &s->live[i];
		int g = 1;
		ots_buf_puts(b, i ? ",{" : "{");
		json_u64(b, "tid", (uint64_t)lv->w.tid, &g);
		json_str(b, "op", ots_op_name(lv->w.op), &g);
		json_str(b, "name", lv->name, &g);
		if (lv->w.holder > 0)
			json_u64(b, "holder", (uint64_t)lv->w.holder, &g);
		json_u64(b, "wait_ns", s->now - lv->w.t0, &g);
		ots_buf_puts(b, "}");
	}
	ots_buf_puts(b, "]");
	json_key(b, "dropped", &f);
	{
		int g = 1;
		ots_buf_puts(b, "{");
		json_u64(b, "spans_pool_full", l->pool, &g);
		json_u64(b, "spans_export_failed", l->export_failed, &g);
		json_u64(b, "spans_queue", l->queue, &g);
		json_u64(b, "spans_rejected", l->rejected, &g);
		json_u64(b, "spans_unsent_at_exit", l->pending, &g);
		json_u64(b, "stacks_short_of_stack", l->stacks_short, &g);
		json_u64(b, "stacks_before_libunwind", l->stacks_unloaded, &g);
		json_u64(b, "waits_without_lock_entry", l->ls.locks, &g);
		json_u64(b, "waits_without_stack_entry", l->ls.stacks, &g);
		json_u64(b, "waits_without_thread_entry", l->ls.threads, &g);
		ots_buf_puts(b, "}");
	}
	ots_buf_puts(b, "}\n");
}

/* ------------------------------------------------------------------------ */

void ots_report_build(ots_buf_t *out, int json)
{
	snap_t s;
	lost_t l;
	snap_take(&s);
	lost_take(&l);
	uint64_t now = ots_unix_ns(ots_mono_ns());
	uint64_t run = ots_g.root_start_ns && now > ots_g.root_start_ns ? now - ots_g.root_start_ns :
									  0;
	if (json) {
		json_report(out, &s, &l, run); /* UTF-8 by ots_json_string */
	} else {
		/* names and frames come from the program: one pass over the
		 * whole text makes it UTF-8 */
		ots_buf_t t = { 0 };
		text_report(&t, &s, &l, run);
		if (t.oom)
			out->oom = 1;
		else if (t.len)
			ots_buf_put_utf8(out, t.data, t.len);
		ots_buf_free(&t);
	}
	snap_free(&s);
	ots_sym_release();
}

/* OTCSHIM_REPORT's path, with %p replaced by the pid (one file per process
 * when a program forks or execs others under the shim). */
static void write_all(int fd, const char *p, size_t n)
{
	(void)ots_write_all(fd, p, n); /* counted; the report never costs the host a signal */
}

void ots_report_at_exit(void)
{
	const char *dest = ots_cfg.report;
	if (!dest || !*dest)
		return;
	int saved = errno;
	ots_sym_set_deadline(ots_mono_ns() + REPORT_SYM_BUDGET);
	ots_buf_t b = { 0 };
	ots_report_build(&b, ots_cfg.report_json);
	if (b.oom || !b.len) {
		ots_buf_free(&b);
		errno = saved;
		return;
	}
	int opened = 0, fd;
	if (strcmp(dest, "stderr") == 0) {
		fd = ots_stderr_open(&opened);
		if (fd < 0)
			atomic_fetch_add_explicit(&ots_write_failures, 1, memory_order_relaxed);
	} else {
		char path[1024];
		ots_expand_path(path, sizeof path, dest);
		fd = ots_open_output(path, O_TRUNC);
		opened = 1;
		if (fd < 0)
			OTS_WARN("OTCSHIM_REPORT: cannot open %s (%s); no report written", path,
				 ots_open_why(errno));
	}
	if (fd >= 0)
		write_all(fd, b.data, b.len);
	ots_stderr_done(fd, opened);
	ots_buf_free(&b);
	errno = saved;
}
