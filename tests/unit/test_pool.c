/* Unit tests for shim/pool.c: ordering, drops, ring reuse, concurrency. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/ots.h"

#define KIND_TEST 77

static void small_pool(void)
{
	ots_cfg.pool_size = 16;
	ots_pool_init();
}

static int put(uint64_t seq, int tid)
{
	ots_rec_t *r = ots_pool_reserve();
	if (!r)
		return 0;
	r->kind = KIND_TEST;
	r->aux = seq;
	r->tid = tid;
	ots_pool_commit();
	return 1;
}

/* Drain everything, keep only our test records. */
static size_t drain_test(ots_rec_t *out, size_t max)
{
	ots_rec_t buf[256];
	size_t n, k = 0;
	while ((n = ots_pool_drain(buf, 256)) > 0)
		for (size_t i = 0; i < n; i++)
			if (buf[i].kind == KIND_TEST && k < max)
				out[k++] = buf[i];
	return k;
}

Test(pool, records_come_out_in_order, .init = small_pool)
{
	for (uint64_t i = 0; i < 10; i++)
		cr_assert(put(i, 1));
	ots_rec_t out[32];
	size_t n = drain_test(out, 32);
	cr_assert_eq(n, 10);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(out[i].aux, i);
	cr_assert_eq(drain_test(out, 32), 0, "drained records are gone");
}

Test(pool, full_ring_drops_and_counts, .init = small_pool)
{
	uint64_t before = ots_pool_dropped();
	for (uint64_t i = 0; i < 16; i++)
		cr_assert(put(i, 1), "slot %d", (int)i);
	cr_assert_not(put(16, 1), "17th record in a 16-slot ring is dropped");
	cr_assert_not(put(17, 1));
	cr_assert_eq(ots_pool_dropped() - before, 2);
	ots_rec_t out[32];
	cr_assert_eq(drain_test(out, 32), 16);
	cr_assert(put(18, 1), "room again after a drain");
}

static void *record_and_exit(void *arg)
{
	(void)arg;
	put(1, 2);
	put(2, 2);
	put(3, 2);
	void *ring = ots_tls.ring;
	ots_pool_thread_exit();
	cr_assert_null(ots_tls.ring);
	cr_assert_not(put(4, 2), "nothing is recorded after the thread's span closed");
	return ring;
}

static void *record_once(void *arg)
{
	(void)arg;
	put(9, 3);
	return ots_tls.ring;
}

Test(pool, ring_outlives_thread_then_is_reused, .init = small_pool)
{
	pthread_t t;
	void *ring_a, *ring_b;
	pthread_create(&t, NULL, record_and_exit, NULL);
	pthread_join(t, &ring_a);
	ots_rec_t out[32];
	size_t n = drain_test(out, 32);
	cr_assert_eq(n, 3, "records of an ended thread are still delivered");
	cr_assert_eq(out[2].aux, 3);
	pthread_create(&t, NULL, record_once, NULL);
	pthread_join(t, &ring_b);
	cr_assert_eq(ring_a, ring_b, "a drained ring is reused: memory does not grow");
	cr_assert_eq(drain_test(out, 32), 1);
}

enum { PRODUCERS = 4, PER = 20000 };
static _Atomic int producing;

static void *producer(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t sent = 0;
	for (uint64_t i = 0; i < PER; i++)
		sent += put(i, id);
	atomic_fetch_sub(&producing, 1);
	return (void *)(uintptr_t)sent;
}

Test(pool, concurrent_producers_one_consumer)
{
	ots_cfg.pool_size = 1024;
	ots_pool_init();
	uint64_t before = ots_pool_dropped();
	pthread_t t[PRODUCERS];
	atomic_store(&producing, PRODUCERS);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&t[i], NULL, producer, (void *)(intptr_t)(100 + i));
	uint64_t last[PRODUCERS], got = 0;
	int seen[PRODUCERS] = { 0 };
	ots_rec_t buf[512];
	for (;;) {
		int done = atomic_load(&producing) == 0;
		size_t n = ots_pool_drain(buf, 512);
		for (size_t i = 0; i < n; i++) {
			if (buf[i].kind != KIND_TEST)
				continue;
			int p = buf[i].tid - 100;
			cr_assert(p >= 0 && p < PRODUCERS);
			if (seen[p])
				cr_assert_gt(buf[i].aux, last[p], "per-thread order kept");
			seen[p] = 1;
			last[p] = buf[i].aux;
			got++;
		}
		if (done && n == 0)
			break;
	}
	uint64_t sent = 0;
	for (int i = 0; i < PRODUCERS; i++) {
		void *s;
		pthread_join(t[i], &s);
		sent += (uintptr_t)s;
	}
	cr_assert_eq(got, sent, "every committed record is delivered once");
	cr_assert_eq(sent + (ots_pool_dropped() - before), (uint64_t)PRODUCERS * PER,
		     "what was not delivered was counted as dropped");
}
