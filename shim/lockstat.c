/* lockstat.c - the per-lock registry behind the exit report.
 *
 * Writers are the threads that just waited for a lock (ots_wait_end, every
 * contended wait, also those below OTCSHIM_MIN_WAIT) and the threads that
 * release a lock they acquired after contention (ots_hold_release). Nothing
 * here is reached from an uncontended lock or unlock.
 *
 * Four fixed, open-addressed tables in .bss, no allocation, no locks: an entry
 * is claimed with a CAS on its key and then only ever gets relaxed atomic
 * adds (and CAS loops for maxima). A table that is full stops growing: the
 * waits it could not place are counted as lost and the report says so.
 *
 *   locks    lock address -> counts, total/max wait, histogram, hold time,
 *            the tids involved, the first waiter's top frames
 *   stacks   hash of a waiter stack -> the frames (written once by the thread
 *            that claimed the entry, published with a release store)
 *   pairs    (lock, stack) -> count, total, max: the report picks the top few
 *            stacks of a lock from here, so "top" is by real totals rather
 *            than by who came first
 *   threads  tid -> time blocked, split between locks and other waits
 *
 * The histogram is log-linear: four buckets per power of two (about 19%
 * wide), so p50/p99 are good to a few percent after interpolation inside
 * the bucket, for 640 bytes a lock.
 *
 * Readers (the report at exit, the symbol fallback in the exporter) take
 * relaxed snapshots while writers may still run; a count and its total may be
 * one wait apart, which is harmless for a report.
 */
#include "ots.h"
#include "../exporter/exp.h" /* ots_sym_after_fork */

#include <errno.h>
#include <string.h>

#define LS_LOCKS 2048   /* power of two */
#define LS_STACKS 4096  /* power of two */
#define LS_PAIRS 8192   /* power of two */
#define LS_THREADS 1024 /* power of two */
#define LS_PROBES 64
/* The last bucket, [1.75 * 2^40 ns, inf) (about 32 min and up), is open-ended. */
#define LS_MAX_MSB (OTS_LS_BUCKETS / 4 + 1)

typedef struct ls_lock {
	_Atomic uintptr_t key;
	_Atomic uint32_t ops;
	_Atomic uint32_t nfirst; /* set once, with release, by the claiming thread */
	_Atomic uint64_t count, total_ns, max_ns, below_min, rd_count, errors;
	_Atomic uint64_t min_ns1; /* shortest wait + 1; 0 = none yet */
	_Atomic uint64_t hold_count, hold_total_ns, hold_max_ns;
	_Atomic int32_t waiters[OTS_LS_TIDS], holders[OTS_LS_TIDS];
	_Atomic uint32_t waiters_more, holders_more;
	uint64_t first[OTS_LS_FIRST];
	_Atomic uint32_t hist[OTS_LS_BUCKETS];
} ls_lock_t;

typedef struct ls_stack {
	_Atomic uint64_t hash; /* 0 = free */
	_Atomic uint32_t ready;
	uint32_t nframes;
	uint64_t frames[OTS_LS_FRAMES];
} ls_stack_t;

typedef struct ls_pair {
	_Atomic uint64_t key; /* (lock index + 1) << 32 | (stack index + 1); 0 = free */
	_Atomic uint64_t count, total_ns, max_ns;
} ls_pair_t;

typedef struct ls_thread {
	_Atomic int32_t tid;
	_Atomic uint64_t routine;
	_Atomic uint64_t name[2]; /* the thread's name when it ended (comm, 16 bytes) */
	_Atomic uint64_t lock_ns, lock_waits, other_ns, other_waits, max_ns;
} ls_thread_t;

static ls_lock_t locks[LS_LOCKS];
static ls_stack_t stacks[LS_STACKS];
static ls_pair_t pairs[LS_PAIRS];
static ls_thread_t threads[LS_THREADS];
static _Atomic uint64_t lost_locks, lost_stacks, lost_threads;
static _Atomic uint32_t dirty; /* anything written since start or the last reset */

#define RELAXED memory_order_relaxed

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static inline void max_update(_Atomic uint64_t *m, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(m, RELAXED);
	while (v > cur && !atomic_compare_exchange_weak_explicit(m, &cur, v, RELAXED, RELAXED))
		;
}

static inline void min1_update(_Atomic uint64_t *m, uint64_t v)
{
	uint64_t v1 = v + 1, cur = atomic_load_explicit(m, RELAXED);
	while ((cur == 0 || v1 < cur) &&
	       !atomic_compare_exchange_weak_explicit(m, &cur, v1, RELAXED, RELAXED))
		;
}

static inline void add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Histogram geometry. Values 0..3 have a bucket each; from 4 on, a power of
 * two [2^m, 2^(m+1)) is cut in four equal buckets: index 4(m-1) + the two bits
 * below the leading one. */

unsigned ots_lockstat_bucket(uint64_t ns)
{
	if (ns < 4)
		return (unsigned)ns;
	unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
	if (msb >= LS_MAX_MSB)
		return OTS_LS_BUCKETS - 1;
	_Static_assert(OTS_LS_BUCKETS % 4 == 0, "four buckets per power of two");
	return 4u * (msb - 1u) + (unsigned)((ns >> (msb - 2u)) & 3u);
}

uint64_t ots_lockstat_bucket_lo(unsigned b)
{
	if (b < 4)
		return b;
	unsigned msb = b / 4u + 1u;
	return (1ull << msb) + ((uint64_t)(b % 4u) << (msb - 2u));
}

static uint64_t bucket_width(unsigned b)
{
	if (b < 4)
		return 1;
	return 1ull << (b / 4u + 1u - 2u);
}

uint64_t ots_lockstat_quantile(const uint32_t *hist, double q, uint64_t min_ns, uint64_t max_ns)
{
	uint64_t n = 0;
	for (unsigned b = 0; b < OTS_LS_BUCKETS; b++)
		n += hist[b];
	if (!n)
		return 0;
	if (q > 1)
		q = 1;
	/* rank of the wanted sample, 1-based, nearest-rank definition */
	uint64_t rank = (uint64_t)(q * (double)n);
	if ((double)rank < q * (double)n)
		rank++;
	if (rank < 1)
		rank = 1;
	/* the extremes are known exactly */
	if (rank == n && max_ns)
		return max_ns;
	if (rank == 1 && min_ns)
		return min_ns;
	uint64_t cum = 0;
	for (unsigned b = 0; b < OTS_LS_BUCKETS; b++) {
		if (!hist[b])
			continue;
		if (cum + hist[b] >= rank) {
			/* the bucket's range, narrowed to what was observed */
			uint64_t lo = ots_lockstat_bucket_lo(b);
			uint64_t hi = b == OTS_LS_BUCKETS - 1 ? UINT64_MAX : lo + bucket_width(b);
			if (min_ns > lo && min_ns < hi)
				lo = min_ns;
			if (max_ns && max_ns + 1 < hi && max_ns >= lo)
				hi = max_ns + 1;
			/* samples spread evenly over it: the k-th of m sits at
			 * (k - 1/2) / m of the way */
			double pos = ((double)(rank - cum) - 0.5) / (double)hist[b];
			uint64_t v = lo + (uint64_t)(pos * (double)(hi - lo));
			return max_ns && v > max_ns ? max_ns : v;
		}
		cum += hist[b];
	}
	return max_ns;
}

/* ------------------------------------------------------------------------ */
/* Table lookups. Each returns the entry or NULL when its probe window is full
 * (the caller counts the loss). */

static ls_lock_t *lock_find(uintptr_t obj, int create, int *created)
{
	if (!obj)
		return NULL; /* 0 marks a free entry */
	unsigned h = (unsigned)mix64(obj);
	for (unsigned i = 0; i < LS_PROBES; i++) {
		ls_lock_t *e = &locks[(h + i) & (LS_LOCKS - 1)];
		uintptr_t k = atomic_load_explicit(&e->key, memory_order_acquire);
		if (k == obj)
			return e;
		if (k != 0)
			continue;
		if (!create)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(&e->key, &k, obj, memory_order_acq_rel,
							    memory_order_acquire)) {
			*created = 1;
			return e;
		}
		if (k == obj) /* another thread claimed it for the same lock */
			return e;
	}
	return NULL;
}

static uint64_t stack_hash(const uint64_t *frames, unsigned n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	for (unsigned i = 0; i < n; i++)
		h = mix64(h ^ frames[i]) + i;
	return h ? h : 1;
}

static int stack_find(const uint64_t *frames, unsigned n)
{
	uint64_t h = stack_hash(frames, n);
	for (unsigned i = 0; i < LS_PROBES; i++) {
		unsigned idx = (unsigned)(h + i) & (LS_STACKS - 1);
		ls_stack_t *e = &stacks[idx];
		uint64_t k = atomic_load_explicit(&e->hash, memory_order_acquire);
		if (k == h)
			return (int)idx;
		if (k != 0)
			continue;
		if (atomic_compare_exchange_strong_explicit(&e->hash, &k, h, memory_order_acq_rel,
							    memory_order_acquire)) {
			memcpy(e->frames, frames, n * sizeof frames[0]);
			e->nframes = n;
			atomic_store_explicit(&e->ready, 1, memory_order_release);
			return (int)idx;
		}
		if (k == h)
			return (int)idx;
	}
	return -1;
}

static ls_pair_t *pair_find(uint32_t lock_idx, uint32_t stack_idx, int create)
{
	uint64_t key = ((uint64_t)(lock_idx + 1) << 32) | (stack_idx + 1);
	unsigned h = (unsigned)mix64(key);
	for (unsigned i = 0; i < LS_PROBES; i++) {
		ls_pair_t *e = &pairs[(h + i) & (LS_PAIRS - 1)];
		uint64_t k = atomic_load_explicit(&e->key, memory_order_acquire);
		if (k == key)
			return e;
		if (k != 0)
			continue;
		if (!create)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(&e->key, &k, key, memory_order_acq_rel,
							    memory_order_acquire))
			return e;
		if (k == key)
			return e;
	}
	return NULL;
}

/* tid's entry; a new one when insert is set and there is room */
static ls_thread_t *thread_find(int32_t tid, int insert)
{
	if (tid <= 0)
		return NULL; /* 0 marks a free entry */
	unsigned h = (unsigned)mix64((uint64_t)(uint32_t)tid);
	for (unsigned i = 0; i < LS_PROBES; i++) {
		ls_thread_t *e = &threads[(h + i) & (LS_THREADS - 1)];
		int32_t k = atomic_load_explicit(&e->tid, memory_order_acquire);
		if (k == tid)
			return e;
		if (k != 0)
			continue;
		if (!insert)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(&e->tid, &k, tid, memory_order_acq_rel,
							    memory_order_acquire)) {
			/* the routine of the thread itself: only its own thread inserts */
			atomic_store_explicit(&e->routine, ots_tls.routine, RELAXED);
			return e;
		}
		if (k == tid)
			return e;
	}
	return NULL;
}

/* Add tid to a small set; sets *more when the set is full and tid is new. */
static void tid_set_add(_Atomic int32_t *set, _Atomic uint32_t *more, int32_t tid)
{
	if (tid <= 0)
		return;
	for (int i = 0; i < OTS_LS_TIDS; i++) {
		int32_t t = atomic_load_explicit(&set[i], RELAXED);
		if (t == tid)
			return;
		if (t == 0) {
			if (atomic_compare_exchange_strong_explicit(&set[i], &t, tid, RELAXED, RELAXED))
				return;
			if (t == tid)
				return;
		}
	}
	if (!atomic_load_explicit(more, RELAXED))
		atomic_store_explicit(more, 1, RELAXED);
}

static int is_lock_kind(unsigned op)
{
	return (op >= OTS_OP_MUTEX_LOCK && op <= OTS_OP_RWLOCK_CLOCKWRLOCK) ||
	       op == OTS_OP_SPIN_LOCK;
}

static int is_read_op(unsigned op)
{
	return op == OTS_OP_RWLOCK_RDLOCK || op == OTS_OP_RWLOCK_TIMEDRDLOCK ||
	       op == OTS_OP_RWLOCK_CLOCKRDLOCK;
}

/* ------------------------------------------------------------------------ */
/* Writers (contended paths only). */

void ots_lockstat_add(const ots_rec_t *r, uint64_t wait_ns)
{
	if (!atomic_load_explicit(&dirty, RELAXED))
		atomic_store_explicit(&dirty, 1, RELAXED);

	ls_thread_t *t = thread_find(r->tid, 1);
	if (t) {
		if (is_lock_kind(r->op)) {
			add(&t->lock_ns, wait_ns);
			add(&t->lock_waits, 1);
		} else {
			add(&t->other_ns, wait_ns);
			add(&t->other_waits, 1);
		}
		max_update(&t->max_ns, wait_ns);
	} else {
		add(&lost_threads, 1);
	}

	int created = 0;
	ls_lock_t *e = lock_find((uintptr_t)r->obj, 1, &created);
	if (!e) {
		add(&lost_locks, 1);
		return;
	}
	if (created) {
		unsigned n = r->nframes < OTS_LS_FIRST ? r->nframes : OTS_LS_FIRST;
		memcpy(e->first, r->frames, n * sizeof r->frames[0]);
		atomic_store_explicit(&e->nfirst, n, memory_order_release);
	}
	uint32_t bit = 1u << (r->op & 31);
	if (!(atomic_load_explicit(&e->ops, RELAXED) & bit))
		atomic_fetch_or_explicit(&e->ops, bit, RELAXED);
	add(&e->count, 1);
	add(&e->total_ns, wait_ns);
	max_update(&e->max_ns, wait_ns);
	min1_update(&e->min_ns1, wait_ns);
	atomic_fetch_add_explicit(&e->hist[ots_lockstat_bucket(wait_ns)], 1, RELAXED);
	if (r->flags & OTS_RF_STATS_ONLY)
		add(&e->below_min, 1);
	if (is_read_op(r->op))
		add(&e->rd_count, 1);
	if (r->ret != 0 && r->ret != EOWNERDEAD)
		add(&e->errors, 1);
	tid_set_add(e->waiters, &e->waiters_more, r->tid);
	if (r->flags & OTS_RF_HOLDER)
		tid_set_add(e->holders, &e->holders_more, r->holder_tid);

	if (!r->nframes)
		return;
	unsigned nf = r->nframes < OTS_LS_FRAMES ? r->nframes : OTS_LS_FRAMES;
	int s = stack_find(r->frames, nf);
	ls_pair_t *p = s < 0 ? NULL : pair_find((uint32_t)(e - locks), (uint32_t)s, 1);
	if (!p) {
		add(&lost_stacks, 1);
		return;
	}
	add(&p->count, 1);
	add(&p->total_ns, wait_ns);
	max_update(&p->max_ns, wait_ns);
}

void ots_lockstat_hold(uintptr_t obj, uint64_t hold_ns)
{
	int created = 0;
	ls_lock_t *e = lock_find(obj, 0, &created);
	if (!e)
		return;
	add(&e->hold_count, 1);
	add(&e->hold_total_ns, hold_ns);
	max_update(&e->hold_max_ns, hold_ns);
}

/* In the child after fork, alone: nothing races with the memsets. Pages are
 * only touched (and copied) when the parent had written anything at all. */
void ots_lockstat_reset_after_fork(void)
{
	if (atomic_load_explicit(&dirty, RELAXED)) {
		ots_zero_table(locks, sizeof locks);
		ots_zero_table(stacks, sizeof stacks);
		ots_zero_table(pairs, sizeof pairs);
		ots_zero_table(threads, sizeof threads);
		atomic_store(&dirty, 0);
	}
	atomic_store(&lost_locks, 0);
	atomic_store(&lost_stacks, 0);
	atomic_store(&lost_threads, 0);
	/* The symbol cache names what this registry holds; a parent's exporter
	 * may have been mid-update in it when the fork happened. */
	ots_sym_after_fork();
}

/* ------------------------------------------------------------------------ */
/* Readers. */

static int tids_copy(_Atomic int32_t *set, int32_t *out)
{
	int n = 0;
	for (int i = 0; i < OTS_LS_TIDS; i++) {
		int32_t t = atomic_load_explicit(&set[i], RELAXED);
		if (t > 0)
			out[n++] = t;
	}
	return n;
}

size_t ots_lockstat_snapshot(ots_lockstat_info_t *out, size_t max)
{
	size_t n = 0;
	if (!atomic_load_explicit(&dirty, RELAXED))
		return 0;
	for (unsigned i = 0; i < LS_LOCKS && n < max; i++) {
		ls_lock_t *e = &locks[i];
		uintptr_t k = atomic_load_explicit(&e->key, memory_order_acquire);
		if (!k || !atomic_load_explicit(&e->count, RELAXED))
			continue;
		ots_lockstat_info_t *o = &out[n++];
		memset(o, 0, sizeof *o);
		o->obj = k;
		o->ops = atomic_load_explicit(&e->ops, RELAXED);
		o->count = atomic_load_explicit(&e->count, RELAXED);
		o->total_ns = atomic_load_explicit(&e->total_ns, RELAXED);
		o->max_ns = atomic_load_explicit(&e->max_ns, RELAXED);
		o->below_min = atomic_load_explicit(&e->below_min, RELAXED);
		o->rd_count = atomic_load_explicit(&e->rd_count, RELAXED);
		o->errors = atomic_load_explicit(&e->errors, RELAXED);
		o->hold_count = atomic_load_explicit(&e->hold_count, RELAXED);
		o->hold_total_ns = atomic_load_explicit(&e->hold_total_ns, RELAXED);
		o->hold_max_ns = atomic_load_explicit(&e->hold_max_ns, RELAXED);
		uint32_t hist[OTS_LS_BUCKETS];
		for (unsigned b = 0; b < OTS_LS_BUCKETS; b++)
			hist[b] = atomic_load_explicit(&e->hist[b], RELAXED);
		uint64_t m1 = atomic_load_explicit(&e->min_ns1, RELAXED);
		o->min_ns = m1 ? m1 - 1 : 0;
		o->p50_ns = ots_lockstat_quantile(hist, 0.50, o->min_ns, o->max_ns);
		o->p99_ns = ots_lockstat_quantile(hist, 0.99, o->min_ns, o->max_ns);
		o->nwaiters = tids_copy(e->waiters, o->waiters);
		o->nholders = tids_copy(e->holders, o->holders);
		o->waiters_more = (int)atomic_load_explicit(&e->waiters_more, RELAXED);
		o->holders_more = (int)atomic_load_explicit(&e->holders_more, RELAXED);
		o->nfirst = (int)atomic_load_explicit(&e->nfirst, memory_order_acquire);
		memcpy(o->first, e->first, (size_t)o->nfirst * sizeof o->first[0]);
	}
	return n;
}

static int stack_cmp(const ots_lockstat_stack_t *a, const ots_lockstat_stack_t *b)
{
	if (a->total_ns != b->total_ns)
		return a->total_ns > b->total_ns ? -1 : 1;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	for (int i = 0; i < a->nframes && i < b->nframes; i++)
		if (a->frames[i] != b->frames[i])
			return a->frames[i] < b->frames[i] ? -1 : 1;
	return a->nframes - b->nframes;
}

size_t ots_lockstat_stacks(uintptr_t obj, ots_lockstat_stack_t *out, size_t max)
{
	int created = 0;
	ls_lock_t *e = obj ? lock_find(obj, 0, &created) : NULL;
	if (!e || !max)
		return 0;
	uint64_t lock_tag = (uint64_t)((uint32_t)(e - locks) + 1) << 32;
	size_t n = 0;
	for (unsigned i = 0; i < LS_PAIRS; i++) {
		ls_pair_t *p = &pairs[i];
		uint64_t k = atomic_load_explicit(&p->key, memory_order_acquire);
		if ((k & 0xffffffff00000000ull) != lock_tag)
			continue;
		ls_stack_t *s = &stacks[(uint32_t)k - 1];
		if (!atomic_load_explicit(&s->ready, memory_order_acquire))
			continue;
		ots_lockstat_stack_t c;
		c.count = atomic_load_explicit(&p->count, RELAXED);
		c.total_ns = atomic_load_explicit(&p->total_ns, RELAXED);
		c.max_ns = atomic_load_explicit(&p->max_ns, RELAXED);
		c.nframes = (int)s->nframes;
		memcpy(c.frames, s->frames, (size_t)c.nframes * sizeof c.frames[0]);
		if (!c.count)
			continue;
		/* keep the best max entries, by insertion into a sorted array */
		size_t pos = n;
		while (pos > 0 && stack_cmp(&c, &out[pos - 1]) < 0)
			pos--;
		if (pos >= max)
			continue;
		size_t last = n < max ? n : max - 1;
		memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof out[0]);
		out[pos] = c;
		if (n < max)
			n++;
	}
	return n;
}

void ots_lockstat_thread_named(int32_t tid, const char name[16])
{
	ls_thread_t *e = thread_find(tid, 0);
	if (!e)
		return; /* it never waited: the report does not list it */
	ots_words_store(e->name, name);
}

size_t ots_lockstat_threads(ots_lockstat_thread_t *out, size_t max)
{
	size_t n = 0;
	for (unsigned i = 0; i < LS_THREADS && n < max; i++) {
		ls_thread_t *e = &threads[i];
		int32_t tid = atomic_load_explicit(&e->tid, memory_order_acquire);
		if (tid <= 0)
			continue;
		ots_lockstat_thread_t *o = &out[n++];
		o->tid = tid;
		o->routine = atomic_load_explicit(&e->routine, RELAXED);
		ots_words_load(e->name, o->name);
		o->name[sizeof o->name - 1] = '\0';
		o->lock_ns = atomic_load_explicit(&e->lock_ns, RELAXED);
		o->lock_waits = atomic_load_explicit(&e->lock_waits, RELAXED);
		o->other_ns = atomic_load_explicit(&e->other_ns, RELAXED);
		o->other_waits = atomic_load_explicit(&e->other_waits, RELAXED);
		o->max_ns = atomic_load_explicit(&e->max_ns, RELAXED);
	}
	return n;
}

void ots_lockstat_lost(ots_lockstat_lost_t *out)
{
	out->locks = atomic_load(&lost_locks);
	out->stacks = atomic_load(&lost_stacks);
	out->threads = atomic_load(&lost_threads);
}

int ots_lockstat_first_frames(uintptr_t obj, uint64_t *frames, int max)
{
	int created = 0;
	ls_lock_t *e = obj ? lock_find(obj, 0, &created) : NULL;
	if (!e)
		return 0;
	int n = (int)atomic_load_explicit(&e->nfirst, memory_order_acquire);
	if (n > max)
		n = max;
	memcpy(frames, e->first, (size_t)n * sizeof frames[0]);
	return n;
}
