/* Unit tests for shim/lockstat.c: the histogram, the per-lock counters, the
 * top stacks, the thread table, overflow, fork reset, and concurrent writers.
 * Criterion runs each test in its own process, so the tables start empty. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../../shim/ots.h"

#define MS 1000000ull

static ots_rec_t rec(uintptr_t obj, unsigned op, int tid, uint64_t f0, uint64_t f1)
{
	ots_rec_t r;
	memset(&r, 0, sizeof r);
	r.kind = OTS_REC_WAIT;
	r.op = (uint16_t)op;
	r.tid = tid;
	r.obj = obj;
	r.frames[0] = f0;
	r.frames[1] = f1;
	r.nframes = f0 ? (f1 ? 2 : 1) : 0;
	return r;
}

static const ots_lockstat_info_t *find(const ots_lockstat_info_t *v, size_t n, uintptr_t obj)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].obj == obj)
			return &v[i];
	return NULL;
}

static ots_lockstat_info_t infos[4096];

Test(lockstat, buckets_are_contiguous_and_narrow)
{
	cr_assert_eq(ots_lockstat_bucket(0), 0);
	cr_assert_eq(ots_lockstat_bucket(3), 3);
	unsigned prev = 0;
	for (uint64_t v = 1; v < (1ull << 40); v = v * 5 / 4 + 1) {
		unsigned b = ots_lockstat_bucket(v);
		cr_assert_geq(b, prev, "monotone at %llu", (unsigned long long)v);
		prev = b;
		uint64_t lo = ots_lockstat_bucket_lo(b);
		cr_assert_leq(lo, v, "bucket %u starts at %llu > %llu", b, (unsigned long long)lo,
			      (unsigned long long)v);
		if (b + 1 < OTS_LS_BUCKETS) {
			uint64_t hi = ots_lockstat_bucket_lo(b + 1);
			cr_assert_gt(hi, v, "value %llu beyond its bucket", (unsigned long long)v);
			/* four buckets per power of two: at most 25% wide */
			if (v >= 4)
				cr_assert_leq((double)(hi - lo), 0.25 * (double)lo + 1);
		}
	}
	cr_assert_eq(ots_lockstat_bucket(UINT64_MAX), OTS_LS_BUCKETS - 1);
}

Test(lockstat, quantiles_of_a_known_distribution)
{
	uint32_t hist[OTS_LS_BUCKETS] = { 0 };
	for (uint64_t ms = 1; ms <= 100; ms++)
		hist[ots_lockstat_bucket(ms * MS)]++;
	uint64_t p50 = ots_lockstat_quantile(hist, 0.5, 1 * MS, 100 * MS);
	uint64_t p99 = ots_lockstat_quantile(hist, 0.99, 1 * MS, 100 * MS);
	cr_assert(p50 > 45 * MS && p50 < 55 * MS, "p50 %llu", (unsigned long long)p50);
	cr_assert(p99 > 93 * MS && p99 <= 100 * MS, "p99 %llu", (unsigned long long)p99);
	/* the extremes are exact */
	cr_assert_eq(ots_lockstat_quantile(hist, 1.0, 1 * MS, 100 * MS), 100 * MS);
	cr_assert_eq(ots_lockstat_quantile(hist, 0.001, 1 * MS, 100 * MS), 1 * MS);
	uint32_t empty[OTS_LS_BUCKETS] = { 0 };
	cr_assert_eq(ots_lockstat_quantile(empty, 0.5, 0, 0), 0);
}

Test(lockstat, counts_totals_and_extremes_per_lock)
{
	static pthread_mutex_t a, b;
	ots_rec_t r = rec((uintptr_t)&a, OTS_OP_MUTEX_LOCK, 101, 0x1000, 0x2000);
	ots_lockstat_add(&r, 40 * MS);
	ots_lockstat_add(&r, 42 * MS);
	ots_lockstat_add(&r, 38 * MS);
	ots_rec_t s = rec((uintptr_t)&b, OTS_OP_MUTEX_LOCK, 102, 0x1000, 0x2000);
	ots_lockstat_add(&s, 10 * MS);
	size_t n = ots_lockstat_snapshot(infos, 4096);
	cr_assert_eq(n, 2);
	const ots_lockstat_info_t *ia = find(infos, n, (uintptr_t)&a);
	cr_assert_not_null(ia);
	cr_assert_eq(ia->count, 3);
	cr_assert_eq(ia->total_ns, 120 * MS);
	cr_assert_eq(ia->max_ns, 42 * MS);
	cr_assert_eq(ia->min_ns, 38 * MS);
	cr_assert_eq(ia->p99_ns, 42 * MS, "p99 of three is the max");
	cr_assert(ia->p50_ns >= 38 * MS && ia->p50_ns <= 42 * MS);
	cr_assert_eq(ia->ops, 1u << OTS_OP_MUTEX_LOCK);
	cr_assert_eq(ia->nwaiters, 1);
	cr_assert_eq(ia->waiters[0], 101);
	const ots_lockstat_info_t *ib = find(infos, n, (uintptr_t)&b);
	cr_assert_eq(ib->count, 1);
	cr_assert_eq(ib->total_ns, 10 * MS);
}

Test(lockstat, flags_kinds_holders_and_errors)
{
	static pthread_rwlock_t rw;
	ots_rec_t r = rec((uintptr_t)&rw, OTS_OP_RWLOCK_RDLOCK, 7, 0, 0);
	r.flags = OTS_RF_HOLDER | OTS_RF_STATS_ONLY;
	r.holder_tid = 9;
	ots_lockstat_add(&r, 5000);
	r = rec((uintptr_t)&rw, OTS_OP_RWLOCK_TIMEDWRLOCK, 8, 0, 0);
	r.ret = ETIMEDOUT;
	ots_lockstat_add(&r, 20 * MS);
	r = rec((uintptr_t)&rw, OTS_OP_RWLOCK_WRLOCK, 7, 0, 0);
	r.ret = EOWNERDEAD; /* acquired: not an error */
	ots_lockstat_add(&r, 1 * MS);
	size_t n = ots_lockstat_snapshot(infos, 4096);
	cr_assert_eq(n, 1);
	cr_assert_eq(infos[0].count, 3);
	cr_assert_eq(infos[0].below_min, 1);
	cr_assert_eq(infos[0].rd_count, 1);
	cr_assert_eq(infos[0].errors, 1);
	cr_assert_eq(infos[0].ops, (1u << OTS_OP_RWLOCK_RDLOCK) | (1u << OTS_OP_RWLOCK_TIMEDWRLOCK) |
					   (1u << OTS_OP_RWLOCK_WRLOCK));
	cr_assert_eq(infos[0].nwaiters, 2, "tids 7 and 8, 7 counted once");
	cr_assert_eq(infos[0].nholders, 1);
	cr_assert_eq(infos[0].holders[0], 9);
}

Test(lockstat, distinct_stacks_ranked_by_total)
{
	static pthread_mutex_t m;
	ots_rec_t x = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 1, 0x1111, 0x2222);
	ots_rec_t y = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 2, 0x3333, 0x2222);
	ots_rec_t z = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 3, 0x4444, 0);
	ots_lockstat_add(&x, 5 * MS);
	ots_lockstat_add(&x, 5 * MS); /* same frames: same stack */
	ots_lockstat_add(&y, 30 * MS);
	ots_lockstat_add(&z, 1 * MS);
	ots_lockstat_stack_t st[8];
	size_t n = ots_lockstat_stacks((uintptr_t)&m, st, 8);
	cr_assert_eq(n, 3);
	cr_assert_eq(st[0].frames[0], 0x3333, "largest total first");
	cr_assert_eq(st[0].total_ns, 30 * MS);
	cr_assert_eq(st[1].frames[0], 0x1111);
	cr_assert_eq(st[1].count, 2);
	cr_assert_eq(st[1].total_ns, 10 * MS);
	cr_assert_eq(st[1].nframes, 2);
	cr_assert_eq(st[2].frames[0], 0x4444);
	cr_assert_eq(st[2].nframes, 1);
	/* asking for fewer keeps the best */
	n = ots_lockstat_stacks((uintptr_t)&m, st, 1);
	cr_assert_eq(n, 1);
	cr_assert_eq(st[0].frames[0], 0x3333);
	/* stacks are per lock */
	static pthread_mutex_t other;
	cr_assert_eq(ots_lockstat_stacks((uintptr_t)&other, st, 8), 0);
}

Test(lockstat, same_stack_on_two_locks_counts_apart)
{
	static pthread_mutex_t a, b;
	ots_rec_t x = rec((uintptr_t)&a, OTS_OP_MUTEX_LOCK, 1, 0x1111, 0x2222);
	ots_rec_t y = rec((uintptr_t)&b, OTS_OP_MUTEX_LOCK, 1, 0x1111, 0x2222);
	ots_lockstat_add(&x, 5 * MS);
	ots_lockstat_add(&y, 7 * MS);
	ots_lockstat_stack_t st[2];
	cr_assert_eq(ots_lockstat_stacks((uintptr_t)&a, st, 2), 1);
	cr_assert_eq(st[0].total_ns, 5 * MS);
	cr_assert_eq(ots_lockstat_stacks((uintptr_t)&b, st, 2), 1);
	cr_assert_eq(st[0].total_ns, 7 * MS);
}

Test(lockstat, hold_time_only_for_known_locks)
{
	static pthread_mutex_t m, unknown;
	ots_rec_t r = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 1, 0, 0);
	ots_lockstat_add(&r, 1 * MS);
	ots_lockstat_hold((uintptr_t)&m, 5 * MS);
	ots_lockstat_hold((uintptr_t)&m, 7 * MS);
	ots_lockstat_hold((uintptr_t)&unknown, 9 * MS);
	size_t n = ots_lockstat_snapshot(infos, 4096);
	cr_assert_eq(n, 1, "a hold alone does not make a lock appear");
	cr_assert_eq(infos[0].hold_count, 2);
	cr_assert_eq(infos[0].hold_total_ns, 12 * MS);
	cr_assert_eq(infos[0].hold_max_ns, 7 * MS);
}

Test(lockstat, threads_split_lock_and_other_waits)
{
	static pthread_mutex_t m;
	static pthread_cond_t c;
	ots_rec_t r = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 55, 0, 0);
	ots_lockstat_add(&r, 3 * MS);
	r = rec((uintptr_t)&c, OTS_OP_COND_WAIT, 55, 0, 0);
	ots_lockstat_add(&r, 50 * MS);
	r = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 56, 0, 0);
	ots_lockstat_add(&r, 4 * MS);
	ots_lockstat_thread_t t[8];
	size_t n = ots_lockstat_threads(t, 8);
	cr_assert_eq(n, 2);
	const ots_lockstat_thread_t *t55 = t[0].tid == 55 ? &t[0] : &t[1];
	cr_assert_eq(t55->tid, 55);
	cr_assert_eq(t55->lock_ns, 3 * MS);
	cr_assert_eq(t55->lock_waits, 1);
	cr_assert_eq(t55->other_ns, 50 * MS);
	cr_assert_eq(t55->other_waits, 1);
	cr_assert_eq(t55->max_ns, 50 * MS);
}

Test(lockstat, tid_sets_cap_and_say_so)
{
	static pthread_mutex_t m;
	for (int tid = 1; tid <= 10; tid++) {
		ots_rec_t r = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, tid, 0, 0);
		ots_lockstat_add(&r, 1000);
	}
	size_t n = ots_lockstat_snapshot(infos, 4096);
	cr_assert_eq(n, 1);
	cr_assert_eq(infos[0].nwaiters, OTS_LS_TIDS);
	cr_assert_eq(infos[0].waiters_more, 1);
	cr_assert_eq(infos[0].nholders, 0);
	cr_assert_eq(infos[0].holders_more, 0);
}

Test(lockstat, full_table_counts_losses)
{
	static char objs[5000];
	for (int i = 0; i < 5000; i++) {
		ots_rec_t r = rec((uintptr_t)&objs[i], OTS_OP_MUTEX_LOCK, 1, 0, 0);
		ots_lockstat_add(&r, 1000);
	}
	size_t n = ots_lockstat_snapshot(infos, 4096);
	ots_lockstat_lost_t lost;
	ots_lockstat_lost(&lost);
	cr_assert_lt(n, 5000);
	cr_assert_eq(n + lost.locks, 5000, "every wait is either in the table or counted lost");
}

Test(lockstat, first_contender_frames_kept)
{
	static pthread_mutex_t m;
	ots_rec_t r = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 1, 0xaaaa, 0xbbbb);
	ots_lockstat_add(&r, 1000);
	r = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 2, 0xcccc, 0);
	ots_lockstat_add(&r, 1000);
	uint64_t f[OTS_LS_FIRST];
	cr_assert_eq(ots_lockstat_first_frames((uintptr_t)&m, f, OTS_LS_FIRST), 2);
	cr_assert_eq(f[0], 0xaaaa);
	cr_assert_eq(f[1], 0xbbbb);
	static pthread_mutex_t unknown;
	cr_assert_eq(ots_lockstat_first_frames((uintptr_t)&unknown, f, OTS_LS_FIRST), 0);
}

Test(lockstat, reset_after_fork_forgets_everything)
{
	static pthread_mutex_t m;
	ots_rec_t r = rec((uintptr_t)&m, OTS_OP_MUTEX_LOCK, 1, 0x1234, 0);
	ots_lockstat_add(&r, 1000);
	cr_assert_eq(ots_lockstat_snapshot(infos, 4096), 1);
	ots_lockstat_reset_after_fork();
	cr_assert_eq(ots_lockstat_snapshot(infos, 4096), 0);
	ots_lockstat_thread_t t[4];
	cr_assert_eq(ots_lockstat_threads(t, 4), 0);
	ots_lockstat_stack_t st[2];
	cr_assert_eq(ots_lockstat_stacks((uintptr_t)&m, st, 2), 0);
	/* and it works again afterwards */
	ots_lockstat_add(&r, 2000);
	cr_assert_eq(ots_lockstat_snapshot(infos, 4096), 1);
	cr_assert_eq(infos[0].total_ns, 2000);
}

#define NT 4
#define PER 20000
static pthread_mutex_t shared_lock;

static void *hammer(void *arg)
{
	int tid = (int)(intptr_t)arg;
	for (int i = 0; i < PER; i++) {
		ots_rec_t r = rec((uintptr_t)&shared_lock, OTS_OP_MUTEX_LOCK, tid,
				  0x1000 + (uint64_t)(i % 3), 0);
		ots_lockstat_add(&r, (uint64_t)(i % 1000) + 1);
		ots_lockstat_hold((uintptr_t)&shared_lock, 10);
	}
	return NULL;
}

Test(lockstat, concurrent_writers_lose_nothing)
{
	pthread_t t[NT];
	for (int i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, hammer, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	size_t n = ots_lockstat_snapshot(infos, 4096);
	cr_assert_eq(n, 1);
	uint64_t per_thread_total = 0;
	for (int i = 0; i < PER; i++)
		per_thread_total += (uint64_t)(i % 1000) + 1;
	cr_assert_eq(infos[0].count, (uint64_t)NT * PER);
	cr_assert_eq(infos[0].total_ns, NT * per_thread_total);
	cr_assert_eq(infos[0].max_ns, 1000);
	cr_assert_eq(infos[0].min_ns, 1);
	cr_assert_eq(infos[0].hold_count, (uint64_t)NT * PER);
	cr_assert_eq(infos[0].nwaiters, NT);
	ots_lockstat_stack_t st[8];
	size_t ns = ots_lockstat_stacks((uintptr_t)&shared_lock, st, 8);
	cr_assert_eq(ns, 3, "three distinct stacks");
	uint64_t c = 0;
	for (size_t i = 0; i < ns; i++)
		c += st[i].count;
	cr_assert_eq(c, (uint64_t)NT * PER);
}
