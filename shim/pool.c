/* pool.c - per-thread rings of span records, and the registry of rings.
 *
 * Each recording thread owns one single-producer/single-consumer ring: the
 * thread writes records at head, the exporter thread reads them at tail. The
 * producer never waits and never takes a lock: a full ring drops the record and
 * counts it. A thread that never records never gets a ring.
 *
 * Rings live in a fixed table of slots. A slot is EMPTY (no ring yet), LIVE (a
 * thread writes to it), DEAD (its thread ended; records may remain) or FREE (a
 * drained ring waiting for a new thread). Threads claim slots with a CAS, the
 * exporter alone moves DEAD to FREE once the ring is empty, so a ring outlives
 * its thread until every record in it has been read, and memory stays bounded
 * by the peak number of recording threads, not by run time.
 *
 * Memory ordering: the producer publishes a record by a release store of head;
 * the consumer reads head with acquire before copying records out, and
 * publishes the room it freed by a release store of tail. Slot state changes
 * are release/acquire so a ring's contents are visible to whoever claims it.
 */
#include "ots.h"

#include <string.h>
#include <sys/mman.h>

#define OTS_MAX_RINGS 4096

enum { SLOT_EMPTY = 0, SLOT_LIVE, SLOT_DEAD, SLOT_FREE };

struct ots_ring {
	_Atomic uint32_t head;
	char pad1[60];
	_Atomic uint32_t tail;
	char pad2[60];
	uint32_t mask;
	uint32_t slot;
	size_t map_size;
	ots_rec_t recs[];
};

static _Atomic int slot_state[OTS_MAX_RINGS];
static ots_ring_t *_Atomic slot_ring[OTS_MAX_RINGS];
static _Atomic uint32_t slots_used; /* high-water mark of slots ever claimed */
static _Atomic uint64_t dropped;
static _Atomic uint32_t dead_rings; /* DEAD slots not yet recycled */

/* FREE slots, as a lock-free stack of slot indices, so a new thread finds a
 * drained ring in O(1) instead of scanning the table. The top word packs the
 * index + 1 (0 = empty) with a tag bumped on every change: a pop that read a
 * stale top (the ABA case: the slot popped and pushed back meanwhile) fails
 * its CAS. Pushed by the exporter (and the fork child), popped by claimers. */
static _Atomic uint64_t free_top;
static _Atomic uint32_t free_next[OTS_MAX_RINGS];

static void free_push(uint32_t i)
{
	uint64_t old = atomic_load_explicit(&free_top, memory_order_relaxed), nw;
	do {
		atomic_store_explicit(&free_next[i], (uint32_t)old, memory_order_relaxed);
		nw = (((old >> 32) + 1) << 32) | (uint64_t)(i + 1);
	} while (!atomic_compare_exchange_weak_explicit(&free_top, &old, nw, memory_order_release,
							memory_order_relaxed));
}

/* Index of a FREE slot taken off the stack, or -1. */
static int64_t free_pop(void)
{
	uint64_t old = atomic_load_explicit(&free_top, memory_order_acquire), nw;
	do {
		uint32_t idx = (uint32_t)old;
		if (!idx)
			return -1;
		uint32_t next = atomic_load_explicit(&free_next[idx - 1], memory_order_relaxed);
		nw = (((old >> 32) + 1) << 32) | next;
	} while (!atomic_compare_exchange_weak_explicit(&free_top, &old, nw, memory_order_acquire,
							memory_order_acquire));
	return (int64_t)(uint32_t)old - 1;
}
#define DEAD_KICK 16

/* Thread ends. Most short-lived threads record nothing but their own end; a
 * ring each (claimed, filled with one record, handed back to the exporter to
 * recycle) made a program that starts tens of thousands of threads a second
 * run out of rings faster than the exporter could recycle them. A thread that
 * has no ring puts its end record in one shared multi-producer queue instead
 * (bounded, lock-free, in .bss: pages are touched only as it fills). The
 * classic sequence-numbered cells, stored relative to the cell's index so a
 * zeroed table is an empty queue: cell i holds seq - i. */
#define ENDS 8192 /* power of two */
#define ENDS_KICK 512

typedef struct end_cell {
	_Atomic uint32_t seq; /* minus the cell's index */
	ots_rec_t rec;        /* header only: a thread end has no frames */
} end_cell_t;

static end_cell_t ends[ENDS];
static _Atomic uint32_t ends_in;
static uint32_t ends_out; /* the consumer's */

/* 1 if r went into the shared queue, 0 if it is full */
static int ends_put(const ots_rec_t *r)
{
	uint32_t pos = atomic_load_explicit(&ends_in, memory_order_relaxed);
	for (;;) {
		uint32_t i = pos & (ENDS - 1);
		end_cell_t *c = &ends[i];
		uint32_t seq = atomic_load_explicit(&c->seq, memory_order_acquire) + i;
		int32_t dif = (int32_t)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&ends_in, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				memcpy(&c->rec, r, offsetof(ots_rec_t, frames));
				c->rec.nframes = 0;
				atomic_store_explicit(&c->seq, pos + 1 - i, memory_order_release);
				if (((pos + 1) & (ENDS_KICK - 1)) == 0)
					ots_exporter_kick();
				return 1;
			}
		} else if (dif < 0) {
			ots_exporter_kick();
			return 0; /* full */
		} else {
			pos = atomic_load_explicit(&ends_in, memory_order_relaxed);
		}
	}
}

static size_t ends_drain(ots_rec_t *out, size_t max)
{
	size_t n = 0;
	while (n < max) {
		uint32_t i = ends_out & (ENDS - 1);
		end_cell_t *c = &ends[i];
		uint32_t seq = atomic_load_explicit(&c->seq, memory_order_acquire) + i;
		if (seq != ends_out + 1)
			break; /* empty, or its producer is still writing it */
		memcpy(&out[n], &c->rec, offsetof(ots_rec_t, frames));
		out[n].nframes = 0;
		n++;
		atomic_store_explicit(&c->seq, ends_out + ENDS - i, memory_order_release);
		ends_out++;
	}
	return n;
}

int ots_pool_put_end(const ots_rec_t *r)
{
	if (ots_tls.ring || r->nframes)
		return 0; /* its own ring keeps its records in order */
	if (ends_put(r))
		return 1;
	return 0;
}
static uint32_t ring_size;
static OTS_TLS int ring_closed; /* this thread ended its span: record nothing more */

void ots_pool_init(void)
{
	uint32_t n = 16;
	while (n < ots_cfg.pool_size && n < (1u << 20))
		n <<= 1;
	ring_size = n;
}

static OTS_COLD ots_ring_t *ring_new(uint32_t slot)
{
	size_t size = sizeof(ots_ring_t) + (size_t)ring_size * sizeof(ots_rec_t);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	ots_ring_t *r = p;
	r->mask = ring_size - 1;
	r->slot = slot;
	r->map_size = size;
	return r;
}

static OTS_COLD ots_ring_t *ring_claim(void)
{
	if (ring_closed || !ring_size)
		return NULL;
	/* reuse a drained ring first */
	int64_t f;
	while ((f = free_pop()) >= 0) {
		int s = SLOT_FREE;
		if (atomic_compare_exchange_strong_explicit(&slot_state[f], &s, SLOT_LIVE,
							    memory_order_acquire,
							    memory_order_relaxed))
			return atomic_load_explicit(&slot_ring[f], memory_order_relaxed);
	}
	/* else a new slot; rings of ended threads waiting to be recycled mean the
	 * exporter is behind: wake it, so the next claim finds them free */
	if (atomic_load_explicit(&dead_rings, memory_order_relaxed))
		ots_exporter_kick();
	for (;;) {
		uint32_t i = atomic_fetch_add_explicit(&slots_used, 1, memory_order_acq_rel);
		if (i >= OTS_MAX_RINGS) {
			atomic_store_explicit(&slots_used, OTS_MAX_RINGS, memory_order_relaxed);
			return NULL;
		}
		int s = SLOT_EMPTY;
		if (!atomic_compare_exchange_strong_explicit(&slot_state[i], &s, SLOT_LIVE,
							     memory_order_acquire,
							     memory_order_relaxed))
			continue;
		ots_ring_t *r = ring_new(i);
		if (!r) {
			atomic_store_explicit(&slot_state[i], SLOT_EMPTY, memory_order_release);
			return NULL;
		}
		atomic_store_explicit(&slot_ring[i], r, memory_order_release);
		return r;
	}
}

ots_rec_t *ots_pool_reserve(void)
{
	ots_ring_t *r = ots_tls.ring;
	if (ots_unlikely(!r)) {
		r = ots_tls.ring = ring_claim();
		if (!r) {
			atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
			return NULL;
		}
	}
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (ots_unlikely(h - t > r->mask)) {
		atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
		ots_exporter_kick();
		return NULL;
	}
	ots_rec_t *rec = &r->recs[h & r->mask];
	memset(rec, 0, offsetof(ots_rec_t, frames));
	return rec;
}

void ots_pool_commit(void)
{
	ots_ring_t *r = ots_tls.ring;
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed) + 1;
	atomic_store_explicit(&r->head, h, memory_order_release);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* high water: three quarters full */
	if (ots_unlikely(h - t == (r->mask + 1) - ((r->mask + 1) >> 2)))
		ots_exporter_kick();
}

void ots_pool_thread_exit(void)
{
	ring_closed = 1;
	ots_ring_t *r = ots_tls.ring;
	if (!r)
		return;
	ots_tls.ring = NULL;
	atomic_store_explicit(&slot_state[r->slot], SLOT_DEAD, memory_order_release);
	/* Wake the exporter to recycle rings only once several wait: a wake per
	 * thread exit costs a context switch per thread, which a program that
	 * creates many short threads pays in full (make bench: create+join). */
	if (atomic_fetch_add_explicit(&dead_rings, 1, memory_order_relaxed) + 1 >= DEAD_KICK)
		ots_exporter_kick();
}

size_t ots_pool_drain(ots_rec_t *out, size_t max)
{
	size_t n = ends_drain(out, max);
	uint32_t used = atomic_load_explicit(&slots_used, memory_order_acquire);
	if (used > OTS_MAX_RINGS)
		used = OTS_MAX_RINGS;
	for (uint32_t i = 0; i < used && n < max; i++) {
		int st = atomic_load_explicit(&slot_state[i], memory_order_acquire);
		if (st != SLOT_LIVE && st != SLOT_DEAD)
			continue;
		ots_ring_t *r = atomic_load_explicit(&slot_ring[i], memory_order_acquire);
		if (!r)
			continue;
		uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
		while (t != h && n < max)
			out[n++] = r->recs[t++ & r->mask];
		atomic_store_explicit(&r->tail, t, memory_order_release);
		if (st == SLOT_DEAD && t == h) {
			atomic_store_explicit(&r->head, 0, memory_order_relaxed);
			atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
			atomic_store_explicit(&slot_state[i], SLOT_FREE, memory_order_release);
			free_push(i);
			atomic_fetch_sub_explicit(&dead_rings, 1, memory_order_relaxed);
		}
	}
	return n;
}

size_t ots_pool_pending(void)
{
	size_t n = atomic_load_explicit(&ends_in, memory_order_acquire) - ends_out;
	uint32_t used = atomic_load_explicit(&slots_used, memory_order_acquire);
	if (used > OTS_MAX_RINGS)
		used = OTS_MAX_RINGS;
	for (uint32_t i = 0; i < used; i++) {
		ots_ring_t *r = atomic_load_explicit(&slot_ring[i], memory_order_acquire);
		int st = atomic_load_explicit(&slot_state[i], memory_order_acquire);
		if (r && (st == SLOT_LIVE || st == SLOT_DEAD))
			n += atomic_load_explicit(&r->head, memory_order_acquire) -
			     atomic_load_explicit(&r->tail, memory_order_acquire);
	}
	return n;
}

uint64_t ots_pool_dropped(void)
{
	return atomic_load_explicit(&dropped, memory_order_relaxed);
}

/* In the child only one thread exists: the one that called fork. Its ring is
 * kept but emptied (the parent sends those records); every other ring becomes
 * free for the child's new threads. */
void ots_pool_reset_after_fork(void)
{
	uint32_t used = atomic_load_explicit(&slots_used, memory_order_relaxed);
	if (used > OTS_MAX_RINGS)
		used = OTS_MAX_RINGS;
	ots_ring_t *mine = ots_tls.ring;
	atomic_store_explicit(&free_top, 0, memory_order_relaxed);
	for (uint32_t i = 0; i < used; i++) {
		ots_ring_t *r = atomic_load_explicit(&slot_ring[i], memory_order_relaxed);
		if (r) {
			atomic_store_explicit(&r->head, 0, memory_order_relaxed);
			atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
		}
		int st = r == mine && r ? SLOT_LIVE : r ? SLOT_FREE : SLOT_EMPTY;
		atomic_store_explicit(&slot_state[i], st, memory_order_release);
		if (st == SLOT_FREE)
			free_push(i);
	}
	atomic_store_explicit(&dropped, 0, memory_order_relaxed);
	atomic_store_explicit(&dead_rings, 0, memory_order_relaxed);
	/* the queue of thread ends: the parent sends what it holds */
	ots_zero_table(ends, sizeof ends);
	atomic_store_explicit(&ends_in, 0, memory_order_relaxed);
	ends_out = 0;
}
