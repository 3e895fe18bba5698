/* exporter.c - the background exporter thread: batching, the queue, the
 * final flush and the loss counters.
 *
 * One thread, started the first time the host creates a thread (never from
 * the constructor: a single-threaded program gets none, and its records are
 * sent at exit by the exiting thread). It marks itself reentrant for life, so
 * nothing it (or libcurl, OpenSSL, libc) does is traced, and it is created
 * with every signal blocked, so the host's handlers never run on it and a
 * SIGPIPE raised by a write of ours stays pending on it, unseen.
 *
 * Batching (the OpenTelemetry batch span processor, over per-thread rings)
 *   Records wait in the recording threads' rings (shim/pool.c). The thread
 *   wakes when a ring reaches its high-water mark (ots_exporter_kick writes
 *   an eventfd), when OTEL_BSP_SCHEDULE_DELAY has passed, or when the OTLP
 *   sink's transfers need it; it then moves records from the rings into the
 *   queue (at most OTEL_BSP_MAX_QUEUE_SIZE records) and, whenever the queue
 *   holds OTEL_BSP_MAX_EXPORT_BATCH_SIZE records or the delay has passed,
 *   turns a batch into spans and hands it to every sink. When the queue is
 *   full, records stay in the rings, and a full ring drops its newest record
 *   (counted as "pool full"). Handing a batch to the OTLP sink never waits
 *   for the network: that sink keeps a bounded backlog per endpoint (see
 *   http.c, drop-oldest), so draining goes on while a collector is slow.
 *
 * Shutdown
 *   ots_exporter_stop(timeout) gives the whole final flush, retries
 *   included, at most OTCSHIM_SHUTDOWN_TIMEOUT. With the thread running, the
 *   exiting thread asks it to drain everything and waits on a futex until
 *   it is done or the deadline passes (the thread itself aims a little
 *   earlier, so its counts are final when the summary is printed). Without
 *   it, the exiting thread does the same work itself, with SIGPIPE blocked
 *   around it. Either way there is one consumer of the rings at a time.
 *
 *   When OTLP export is on, the flush runs from an atexit handler registered
 *   when the exporter thread is created, not from the library destructor:
 *   destructors run after every atexit handler, and an OpenSSL that the host
 *   initialised itself cleans up in one (ours is told not to: see
 *   ots_tls_preinit). The price: spans recorded after exit() started, in
 *   atexit handlers registered before our exporter started (C++ destructors
 *   of static objects built before the first thread, for instance), are not
 *   sent. A single-threaded program never starts the exporter: its flush
 *   runs from the destructor, in the exiting thread, and its OTLP sink is the
 *   relay (relay.c): the spans go to otcshim-send, a helper process with its
 *   own libcurl and OpenSSL, so nothing of the transport is ever set up in a
 *   process at its exit, after its own handlers may have torn its OpenSSL
 *   down.
 *
 * Counters (ots_counters: spans sent over OTLP, per endpoint, and losses by
 * reason, a failed OTCSHIM_OUTPUT write included) are printed at exit when
 * anything was lost, and always with OTCSHIM_DEBUG.
 */
#include "exp.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

ots_counters_t ots_counters;

#define MAX_SINKS 4
#define BATCHES_PER_ROUND 16 /* then let the transfers breathe */

static ots_sink_t *sinks[MAX_SINKS];
static int nsinks;
static ots_sink_t *waiter; /* the asynchronous sink the thread sleeps in */
static int set_up;
static int atexit_done;
static int relay_at_exit; /* the final flush's OTLP goes through otcshim-send */
static uint64_t stop_deadline; /* the final flush's deadline */

/* the queue: a ring of records drained from the pool, not yet batched */
static ots_rec_t *queue;
static size_t qcap, qhead, qlen;
static ots_span_t *spans;
static size_t batch_max;
static ots_arena_t arena;
static ots_resource_t resource;

static _Atomic int running;       /* 0 no thread, 1 starting/running */
static _Atomic int wake_fd = -1;  /* eventfd the thread sleeps on */
static _Atomic int kicked;        /* a wake-up is already pending */
static _Atomic uint32_t finished; /* futex word: 1 when the final flush is done */
static _Atomic int at_rest;     /* it ran the final flush and waits for the exit */
static _Atomic int stop_req;
static _Atomic uint32_t fork_hold; /* futex word: forks under way in other threads */
static _Atomic uint32_t parked;   /* futex word: 1 while the thread waits out a fork */

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)uaddr, op, val, ts, NULL, 0);
}

extern const char *ots_plugins_dir(void) __attribute__((weak));

static void at_exit_flush(void)
{
	ots_shutdown(); /* idempotent: the destructor's later call does nothing */
}

static void setup(void)
{
	if (set_up)
		return;
	set_up = 1;
	ots_resource_build(&resource);
	if (ots_cfg.output_path) {
		ots_sink_t *s = ots_file_sink_open(ots_cfg.output_path);
		if (s && nsinks < MAX_SINKS)
			sinks[nsinks++] = s;
	}
	if (ots_cfg.traces_exporter_otlp) {
		/* at exit with no transport set up: a helper process sends (relay.c) */
		ots_sink_t *s = relay_at_exit ? ots_relay_sink_open(stop_deadline) :
						ots_http_sink_open();
		if (s && nsinks < MAX_SINKS) {
			sinks[nsinks++] = s;
			if (s->wait && !waiter)
				waiter = s;
		}
	}
	batch_max = ots_cfg.bsp_max_batch ? ots_cfg.bsp_max_batch : 512;
	qcap = ots_cfg.bsp_max_queue > batch_max ? ots_cfg.bsp_max_queue : batch_max;
	queue = malloc(qcap * sizeof *queue);
	spans = malloc(batch_max * sizeof *spans);
	if (!queue || !spans) {
		free(queue);
		free(spans);
		queue = NULL;
		spans = NULL;
		OTS_WARN("out of memory for the export queue; spans are dropped");
	}
}

/* Move records from the rings into the queue while it has room. Returns the
 * number of records read from the rings. */
/* The process root span, handed over at exit outside the rings: the exiting
 * thread's ring may be full, and the root is the one span a trace cannot do
 * without. Taken by whichever consumer fills the queue next. */
static ots_rec_t final_rec;
static _Atomic int final_rec_set;

void ots_exporter_final_record(const ots_rec_t *r)
{
	final_rec = *r;
	atomic_store_explicit(&final_rec_set, 1, memory_order_release);
}

static size_t fill_queue(void)
{
	size_t got = 0;
	if (!queue)
		return 0;
	/* The root goes in after what the rings hold, so it is the newest record
	 * queued: a full backlog drops its oldest batches, and the root (which
	 * the exiting thread recorded last) must not be among them. One place is
	 * kept for it, so a ring that never empties cannot keep it out. */
	size_t keep = atomic_load_explicit(&final_rec_set, memory_order_acquire) ? 1 : 0;
	while (qlen + keep < qcap) {
		size_t tail = (qhead + qlen) % qcap;
		size_t free_places = qcap - keep - qlen;
		size_t room = qcap - tail < free_places ? qcap - tail : free_places;
		size_t n = ots_pool_drain(&queue[tail], room);
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (queue[tail + i].flags & OTS_RF_STATS_ONLY)
				continue; /* counted in the lock statistics, no span */
			if (k != i)
				queue[tail + k] = queue[tail + i];
			k++;
		}
		qlen += k;
		got += n;
		if (n < room)
			break; /* the rings are empty */
	}
	if (keep && qlen < qcap && atomic_exchange(&final_rec_set, 0)) {
		queue[(qhead + qlen) % qcap] = final_rec;
		qlen++;
		got++;
	}
	return got;
}

/* The oldest n queued records as one batch, to every sink. */
static void export_batch(size_t n)
{
	if (!nsinks) { /* nowhere to send: do not even resolve symbols */
		qhead = (qhead + n) % qcap;
		qlen -= n;
		return;
	}
	ots_arena_reset(&arena);
	for (size_t i = 0; i < n; i++)
		ots_span_from_rec(&queue[(qhead + i) % qcap], &spans[i], &arena);
	ots_sym_release(); /* the batch is named: its line tables can go */
	qhead = (qhead + n) % qcap;
	qlen -= n;
	for (int i = 0; i < nsinks; i++) {
		int rc = sinks[i]->export(sinks[i], &resource, spans, n, 0);
		/* the OTLP sink counts its own outcomes; the file sink's successes
		 * are not "sent", its failures are */
		if (!sinks[i]->wait && rc != 0)
			atomic_fetch_add(&ots_counters.spans_dropped_status, n);
	}
}

/* Fill and export full batches (and, with force, the partial rest). Returns
 * 1 if it stopped with work left (round limit). */
static int export_ready(int force)
{
	for (int round = 0; round < BATCHES_PER_ROUND; round++) {
		fill_queue();
		if (qlen >= batch_max)
			export_batch(batch_max);
		else if (force && qlen)
			export_batch(qlen);
		else
			return 0;
	}
	return 1;
}

/* Sleep until until_mono, a kick, or the OTLP sink's own business. */
static void sleep_until(uint64_t until)
{
	int fd = atomic_load(&wake_fd);
	if (waiter) {
		waiter->wait(waiter, fd, until);
	} else {
		uint64_t now = ots_mono_ns();
		uint64_t ms = until > now ? (until - now + 999999) / 1000000 : 0;
		struct pollfd p = { fd, POLLIN, 0 };
		poll(&p, fd >= 0, ms > 60000 ? 60000 : (int)ms);
	}
	atomic_store(&kicked, 0);
	uint64_t v;
	if (fd >= 0 && read(fd, &v, sizeof v) < 0)
		(void)0; /* EAGAIN: nothing was written */
}

/* fork() from another thread: the child gets a copy of every lock this
 * thread held at that instant. glibc's malloc copes; libcurl, OpenSSL and
 * sanitizer allocators do not, and a child that then needs one of them (our
 * restarted exporter, or the host itself under ASan) would wait forever. So
 * the forking thread asks us to park at a point where we hold nothing, and
 * waits for that a bounded time (FORK_PARK_NS): usually we are asleep in
 * poll and park within microseconds. */
#define FORK_PARK_NS 50000000ull

static void park_for_fork(void)
{
	atomic_store(&parked, 1);
	futex(&parked, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	uint32_t h;
	uint64_t until = ots_mono_ns() + 2 * FORK_PARK_NS;
	while ((h = atomic_load(&fork_hold)) != 0) {
		uint64_t now = ots_mono_ns();
		if (now >= until)
			break; /* the forking thread gave up on us long ago */
		struct timespec ts = { 0, (long)(until - now) };
		futex(&fork_hold, FUTEX_WAIT_PRIVATE, h, &ts);
	}
	atomic_store(&parked, 0);
}

static pthread_t exporter_thr; /* joinable: ots_exporter_quit waits for it to be gone */
static OTS_TLS int holding_fork; /* this thread's fork asked us to park */

static void fork_prepare(void)
{
	if (!atomic_load(&running) || pthread_equal(pthread_self(), exporter_thr))
		return;
	holding_fork = 1;
	atomic_fetch_add(&fork_hold, 1);
	int fd = atomic_load(&wake_fd);
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof one) < 0)
		(void)0;
	uint64_t until = ots_mono_ns() + FORK_PARK_NS;
	while (!atomic_load(&parked) && atomic_load(&running)) {
		uint64_t now = ots_mono_ns();
		if (now >= until)
			break;
		struct timespec ts = { 0, (long)(until - now) };
		futex(&parked, FUTEX_WAIT_PRIVATE, 0, &ts);
	}
}

static void fork_parent(void)
{
	if (!holding_fork)
		return;
	holding_fork = 0;
	atomic_fetch_sub(&fork_hold, 1);
	futex(&fork_hold, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

/* Everything recorded so far, then the sinks' final flush, by deadline. */
static void final_flush(uint64_t deadline)
{
	while (queue && ots_mono_ns() < deadline) {
		export_ready(1);
		if (!qlen && !ots_pool_pending())
			break;
	}
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->shutdown)
			sinks[i]->shutdown(sinks[i], deadline);
}

/* What the thread is asked to do besides its loop (stop_req). */
enum { STOP_NONE, STOP_QUIT, STOP_FLUSH };

/* ots_exporter_sync: a request number and the number of the last one done */
static _Atomic uint32_t sync_req, sync_done;
static uint64_t sync_deadline;

/* The final flush (and, for a thread started by the exit path, the set-up
 * of the sinks) in a containment window (shim/contain.c): a fault in libcurl
 * or its TLS library, which the host's own exit handlers may have torn down
 * already, abandons the flush instead of killing the host. Returns 0, or the
 * signal that ended it. */
static int contained_final(int with_setup)
{
	sigjmp_buf jb;
	int sig;
	ots_contain_open();
	ots_contain_unblock();
	if ((sig = sigsetjmp(jb, 1)) == 0) {
		ots_tls.crash_jmp = &jb;
		if (with_setup)
			setup();
		final_flush(stop_deadline);
	}
	ots_tls.crash_jmp = NULL;
	ots_contain_close();
	if (sig)
		OTS_WARN("the final export crashed (signal %d) and was abandoned; the program's "
			 "exit is not affected, the spans of its end are lost", sig);
	return sig;
}

/* Stalls (issue 10): a wait in progress longer than OTCSHIM_STALL is said
 * once, as it crosses the threshold, while the process still waits. */
#define STALL_SCAN_MAX 256

static uint64_t stall_cadence(void)
{
	uint64_t c = ots_cfg.stall_ns / 4;
	return c < 20000000ull ? 20000000ull : c > 250000000ull ? 250000000ull : c;
}

/* Deadlocks (issue 10): a wait's holder that is itself waiting gives an edge
 * of the waits-for graph (mutex owner, rwlock writer, joined thread); a walk
 * along holders that comes back to its start is a cycle. The owner words read
 * from glibc's layout can be stale, so a cycle is a deadlock only when the
 * next scan finds it again with the same waits (same threads, same starts). */
#define CYCLE_MAX 16

/* " at worker+0x2a (app.c:41)": where the program waits, or "" */
static const char *site_text(uint64_t site, char *buf, size_t n)
{
	buf[0] = '\0';
	if (!site)
		return buf;
	ots_sym_info_t si;
	ots_sym_info(site, &si);
	int k = 0;
	if (si.function)
		k = snprintf(buf, n, " at %s+0x%llx", si.function, (unsigned long long)si.offset);
	else if (si.module)
		k = snprintf(buf, n, " at %s+0x%llx", si.module,
			     (unsigned long long)si.module_offset);
	else
		k = snprintf(buf, n, " at 0x%llx", (unsigned long long)site);
	if (si.file && k > 0 && (size_t)k < n) {
		const char *base = strrchr(si.file, '/');
		snprintf(buf + k, n - (size_t)k, " (%s:%d)", base ? base + 1 : si.file, si.line);
	}
	return buf;
}

/* "lock_b (0x55...)", or "0x55..." when the object has no name */
static const char *obj_text(const ots_wait_info_t *w, char *buf, size_t n)
{
	const char *name = ots_wait_object_name(w->op, w->obj);
	if (name)
		snprintf(buf, n, "%s (0x%llx)", name, (unsigned long long)w->obj);
	else
		snprintf(buf, n, "0x%llx", (unsigned long long)w->obj);
	return buf;
}

static int holder_edge(unsigned op)
{
	return (op >= OTS_OP_MUTEX_LOCK && op <= OTS_OP_RWLOCK_CLOCKWRLOCK) || ots_op_is_join(op);
}

static size_t index_of(const ots_wait_info_t *w, size_t n, int tid)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].tid == tid && holder_edge(w[i].op))
			return i;
	return n;
}

/* A cycle's signature: the sum of its waits' (tid, start) mixes, the same
 * whichever thread the walk started from. */
static uint64_t cycle_sig(const ots_wait_info_t *w, const size_t *c, size_t len)
{
	uint64_t sig = 0;
	for (size_t i = 0; i < len; i++)
		sig += (w[c[i]].t0 ^ ((uint64_t)(uint32_t)w[c[i]].tid << 40)) * 0x9e3779b97f4a7c15ull;
	return sig;
}

static void deadlock_check(const ots_wait_info_t *w, size_t n, uint64_t now)
{
	static uint64_t seen[8], said[8]; /* signatures: last scan's, and reported */
	uint64_t this_scan[8];
	size_t nthis = 0;
	for (size_t i = 0; i < n; i++) {
		if (!holder_edge(w[i].op) || w[i].holder <= 0)
			continue;
		size_t c[CYCLE_MAX], len = 0, cur = i;
		int cycle = 0;
		while (len < CYCLE_MAX) {
			c[len++] = cur;
			if (w[cur].holder == w[i].tid) {
				cycle = 1;
				break;
			}
			size_t next = index_of(w, n, w[cur].holder);
			if (next == n || w[next].holder <= 0)
				break;
			cur = next;
		}
		if (!cycle)
			continue;
		/* report each cycle from its lowest tid only */
		int lowest = 1;
		for (size_t k = 1; k < len; k++)
			lowest &= w[c[k]].tid > w[i].tid;
		if (!lowest)
			continue;
		uint64_t sig = cycle_sig(w, c, len);
		if (nthis < 8)
			this_scan[nthis++] = sig;
		int confirmed = 0, reported = 0;
		for (size_t k = 0; k < 8; k++) {
			confirmed |= seen[k] == sig;
			reported |= said[k] == sig;
		}
		if (!confirmed || reported)
			continue;
		for (size_t k = 0; k < 8; k++)
			if (!said[k] || k == 7) {
				said[k] = sig;
				break;
			}
		if (len == 1)
			OTS_WARN("deadlock: a thread waits for ever for a lock it holds itself:");
		else
			OTS_WARN("deadlock: %zu threads wait for each other, for ever:", len);
		for (size_t k = 0; k < len; k++) {
			const ots_wait_info_t *x = &w[c[k]];
			char at[192], obj[192];
			site_text(x->site, at, sizeof at);
			if (ots_op_is_join(x->op))
				OTS_WARN("  thread %d waits%s in %s for thread %d (for %llu ms)",
					 x->tid, at, ots_op_name(x->op), x->holder,
					 (unsigned long long)((now - x->t0) / 1000000));
			else
				OTS_WARN("  thread %d waits%s in %s for %s, held by thread %d%s "
					 "(for %llu ms)",
					 x->tid, at, ots_op_name(x->op), obj_text(x, obj, sizeof obj),
					 x->holder, x->holder == x->tid ? " itself" : "",
					 (unsigned long long)((now - x->t0) / 1000000));
			ots_stall_record(x, now, OTS_WAIT_DEADLOCK);
		}
		export_ready(1); /* every sink, at once */
		if (ots_cfg.on_deadlock_abort) {
			OTS_WARN("deadlock: OTCSHIM_ON_DEADLOCK=abort: raising SIGABRT");
			abort();
		}
	}
	memset(seen, 0, sizeof seen);
	memcpy(seen, this_scan, nthis * sizeof *this_scan);
}

static int stall_scan(void)
{
	static ots_wait_info_t w[STALL_SCAN_MAX];
	static unsigned char fresh[STALL_SCAN_MAX];
	size_t n = ots_threads_waits(w, STALL_SCAN_MAX);
	uint64_t now = ots_mono_ns();
	int found = 0;
	deadlock_check(w, n, now);
	for (size_t i = 0; i < n; i++) {
		fresh[i] = now - w[i].t0 >= ots_cfg.stall_ns &&
			   ots_threads_stall_claim(w[i].tid, w[i].t0);
		if (fresh[i]) {
			ots_stall_record(&w[i], now, OTS_WAIT_STALL); /* to every sink, at the next export */
			found++;
		}
	}
	if (!found || !ots_cfg.report || !*ots_cfg.report)
		return found; /* the lines go with the report */
	/* one line per object (at most one per OTCSHIM_STALL): an idle pool of
	 * workers on one condition variable is one line, not one per worker */
	static struct {
		uint64_t obj, at;
	} said[64];
	for (size_t i = 0; i < n; i++) {
		if (!fresh[i])
			continue;
		size_t slot = 0, oldest = 0;
		for (; slot < 64 && said[slot].obj != w[i].obj; slot++)
			if (said[slot].at < said[oldest].at)
				oldest = slot;
		if (slot < 64 && now - said[slot].at < ots_cfg.stall_ns) {
			for (size_t k = i; k < n; k++)
				if (w[k].obj == w[i].obj)
					fresh[k] = 0; /* said already: its spans are enough */
			continue;
		}
		if (slot == 64)
			slot = oldest;
		said[slot].obj = w[i].obj;
		said[slot].at = now;
		char tids[96];
		int nw = 0;
		size_t used = 0;
		uint64_t longest = 0;
		for (size_t k = i; k < n; k++) {
			if (!fresh[k] || w[k].obj != w[i].obj || w[k].op != w[i].op)
				continue;
			fresh[k] = 0;
			if (now - w[k].t0 > longest)
				longest = now - w[k].t0;
			if (used < sizeof tids - 12)
				used += (size_t)snprintf(tids + used, sizeof tids - used, "%s%d",
							 nw ? ", " : "", w[k].tid);
			nw++;
		}
		char holder[48] = "";
		if (w[i].holder > 0 && nw == 1)
			snprintf(holder, sizeof holder, ", held by thread %d", w[i].holder);
		char at[192], obj[192];
		site_text(w[i].site, at, sizeof at);
		OTS_WARN("stall: %s %s ha%s waited %llu ms%s in %s on %s%s",
			 nw == 1 ? "thread" : "threads", tids, nw == 1 ? "s" : "ve",
			 (unsigned long long)(longest / 1000000), at, ots_op_name(w[i].op),
			 obj_text(&w[i], obj, sizeof obj), holder);
	}
	return found;
}

static void *exporter_main(void *arg)
{
	(void)arg;
	ots_tls.reentrant = 1; /* for life: nothing here is traced */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	prctl(PR_SET_NAME, "otcshim-export", 0, 0, 0);
	if (atomic_load(&stop_req) == STOP_FLUSH && !set_up) {
		/* started by the exit path, for the final flush only */
		if (contained_final(1))
			goto abandoned;
		goto done;
	}
	ots_stack_load(); /* libunwind: here, never on a hook's path */
	setup();
	uint64_t delay = ots_cfg.bsp_schedule_delay_ns ? ots_cfg.bsp_schedule_delay_ns : 1000000;
	uint64_t next_flush = ots_mono_ns() + delay;
	uint64_t next_stall = ots_mono_ns() + stall_cadence();
	for (;;) {
		if (atomic_load(&stop_req))
			break;
		if (atomic_load(&fork_hold))
			park_for_fork();
		uint32_t want = atomic_load(&sync_req);
		if (want != atomic_load(&sync_done)) {
			final_flush(sync_deadline);
			atomic_store(&sync_done, want);
			futex(&sync_done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
		}
		uint64_t now = ots_mono_ns();
		int force = now >= next_flush;
		int more = export_ready(force);
		if (force)
			next_flush = now + delay;
		if (ots_cfg.stall_ns && now >= next_stall) {
			if (stall_scan())
				export_ready(1); /* a collector sees it while the process waits */
			next_stall = now + stall_cadence();
		}
		if (atomic_load(&stop_req) || atomic_load(&sync_req) != atomic_load(&sync_done))
			continue;
		uint64_t until = next_flush;
		if (ots_cfg.stall_ns && next_stall < until)
			until = next_stall;
		sleep_until(more ? now : until);
	}
	if (atomic_load(&stop_req) == STOP_FLUSH && contained_final(0))
		goto abandoned;
done:
	if (atomic_load(&stop_req) != STOP_FLUSH) {
		atomic_store(&finished, 1);
		futex(&finished, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
		return NULL; /* stopped, to be joined (ots_exporter_quit) */
	}
	/* The final flush of a process that is exiting: this thread never ends.
	 * Ending would count it out of glibc's threads, and when the exit is
	 * glibc's own (the program's last thread ended, so the count was zero
	 * until the flush started this thread) the count would reach zero again
	 * and this thread would call exit(0) too, running its stdio cleanup
	 * while the first exit still runs the host's handlers: their output
	 * written twice. It waits here, like an abandoned one, for the exit. */
abandoned:
	/* and after a fault, whatever it left behind (a held lock, a broken heap
	 * object) stays untouched: no return through thread-exit destructors */
	atomic_store(&at_rest, 1);
	atomic_store(&finished, 1);
	futex(&finished, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	{
		sigset_t all;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, NULL);
		for (;;)
			pause();
	}
}


/* Create the thread. at_exit: started by the exit path itself, for the final
 * flush (stop_req is set already): no atexit registration then. */
static int start_thread(int at_exit)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&running, &expected, 1))
		return -EALREADY;
	ots_reentry_enter();
	static int atfork_done; /* handlers survive fork: install them once */
	if (!atfork_done++)
		pthread_atfork(fork_prepare, fork_parent, NULL);
	if (ots_cfg.traces_exporter_otlp && !atexit_done && !at_exit) {
		/* here, in the creating thread, not in the new one: before pthread_create
		 * returns, so before the host can initialise OpenSSL or exit */
		atexit_done = 1;
		ots_tls_preinit();
		atexit(at_exit_flush);
	}
	if (atomic_load(&wake_fd) < 0)
		atomic_store(&wake_fd, ots_fd_own(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)));
	atomic_store(&finished, 0);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (!at_exit)
		ots_stack_load_pending(1);
	int rc = ots_real.create ? ots_real.create(&exporter_thr, NULL, exporter_main, NULL) : ENOSYS;
	if (rc && !at_exit)
		ots_stack_load_pending(0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		atomic_store(&running, 0);
		OTS_DEBUG("cannot start the exporter thread (error %d)", rc);
	}
	ots_reentry_leave();
	return -rc;
}

void ots_exporter_start(void)
{
	if (atomic_load_explicit(&running, memory_order_relaxed))
		return;
	if (atomic_load(&ots_g.exiting))
		return; /* the final flush is done or under way */
	start_thread(0);
}

int ots_exporter_quit(uint64_t timeout_ns)
{
	if (!atomic_load(&running) || pthread_equal(pthread_self(), exporter_thr) ||
	    atomic_load(&at_rest))
		return 0; /* none, this one, or one parked until the exit ends */
	ots_reentry_enter();
	atomic_store(&stop_req, STOP_QUIT);
	int fd = atomic_load(&wake_fd);
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof one) < 0)
		(void)0;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ns / 1000000000ull);
	until.tv_nsec += (long)(timeout_ns % 1000000000ull);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int rc = ots_real.timedjoin ? ots_real.timedjoin(exporter_thr, NULL, &until) : ENOSYS;
	if (rc == 0) {
		atomic_store(&stop_req, STOP_NONE);
		atomic_store(&running, 0);
	}
	ots_reentry_leave();
	return -rc;
}

/* No sink at all (OTEL_TRACES_EXPORTER=none, no OTCSHIM_OUTPUT: the report
 * alone, or nothing) and no exporter thread: the records have nowhere to go,
 * so an exit or an exec sets nothing up, starts no thread and flushes
 * nothing (a forked shell child that execs paid for a thread before). */
static int no_sink(void)
{
	return !ots_cfg.traces_exporter_otlp && !ots_cfg.output_path && !atomic_load(&running) &&
	       !set_up;
}

void ots_exporter_sync(uint64_t timeout_ns)
{
	if (no_sink())
		return;
	if (!atomic_load(&running) && start_thread(0) < 0 && !atomic_load(&running))
		return;
	if (pthread_equal(pthread_self(), exporter_thr))
		return;
	uint64_t deadline = ots_mono_ns() + timeout_ns;
	uint64_t margin = timeout_ns / 8 < 20000000 ? timeout_ns / 8 : 20000000;
	sync_deadline = deadline - margin;
	uint32_t want = atomic_fetch_add(&sync_req, 1) + 1;
	int fd = atomic_load(&wake_fd);
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof one) < 0)
		(void)0;
	for (;;) {
		uint32_t done = atomic_load(&sync_done);
		if ((int32_t)(done - want) >= 0)
			break;
		uint64_t now = ots_mono_ns();
		if (now >= deadline)
			break;
		uint64_t ns = deadline - now;
		struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
		futex(&sync_done, FUTEX_WAIT_PRIVATE, done, &ts);
	}
}

/* Async-signal-safe: one atomic exchange, at most one write(2). */
void ots_exporter_kick(void)
{
	if (!atomic_load_explicit(&running, memory_order_relaxed))
		return;
	if (atomic_exchange_explicit(&kicked, 1, memory_order_acq_rel))
		return; /* a wake-up is pending already */
	int fd = atomic_load_explicit(&wake_fd, memory_order_relaxed);
	if (fd >= 0) {
		int saved = errno;
		uint64_t one = 1;
		if (write(fd, &one, sizeof one) < 0)
			(void)0;
		errno = saved;
	}
}

static void summary(void)
{
	uint64_t pool = ots_pool_dropped();
	uint64_t queue_full = atomic_load(&ots_counters.spans_dropped_queue);
	uint64_t budget = atomic_load(&ots_counters.spans_dropped_export);
	uint64_t failed = atomic_load(&ots_counters.spans_dropped_status);
	uint64_t at_exit = atomic_load(&ots_counters.spans_dropped_shutdown);
	uint64_t rejected = atomic_load(&ots_counters.spans_rejected);
	uint64_t writes = atomic_load(&ots_write_failures);
	if (writes)
		ots_log_write(1, "%llu writes of the shim failed (output, report or messages)",
			      (unsigned long long)writes);
	if (pool || queue_full || budget || failed || at_exit || rejected || ots_cfg.debug)
		ots_log_write(1,
			      "spans: %llu sent, %llu dropped (pool full), %llu dropped (queue full), "
			      "%llu dropped (retry budget), %llu failed, %llu unsent at shutdown, "
			      "%llu rejected by the backend; %llu retries",
			      (unsigned long long)atomic_load(&ots_counters.spans_exported),
			      (unsigned long long)pool, (unsigned long long)queue_full,
			      (unsigned long long)budget, (unsigned long long)failed,
			      (unsigned long long)at_exit, (unsigned long long)rejected,
			      (unsigned long long)atomic_load(&ots_counters.retries));
}

/* The exiting thread does the flush itself: keep SIGPIPE (a peer that closed
 * the connection) away from the host. A SIGPIPE raised here is consumed, one
 * that was pending before is left for the host. */
static void flush_inline(uint64_t deadline)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE);
	setup();
	final_flush(deadline);
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE)) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Spans the sinks hold and have not written yet (the OTLP backlog). */
static size_t sinks_pending(void)
{
	size_t n = 0;
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->pending)
			n += sinks[i]->pending(sinks[i]);
	return n;
}

void ots_exporter_stop(uint64_t timeout_ns)
{
	if (no_sink()) {
		summary();
		return;
	}
	uint64_t start = ots_mono_ns();
	uint64_t deadline = start + timeout_ns;
	/* the thread aims a little earlier, so its counts are final here */
	uint64_t margin = timeout_ns / 8 < 20000000 ? timeout_ns / 8 : 20000000;
	stop_deadline = deadline - margin;
	atomic_store(&stop_req, STOP_FLUSH);
	int have = atomic_load(&running) && !pthread_equal(pthread_self(), exporter_thr);
	/* OTLP with nothing set up yet (no exporter thread ever ran): the relay,
	 * otcshim-send, whose pipe is polled by deadline (relay.c). Set up once
	 * (a forked child of a threaded parent, or the static core without the
	 * helper): a thread for it, so a collector that does not answer (or a
	 * name that does not resolve) cannot hold exit up. A file never blocks
	 * (it is opened O_NONBLOCK): no thread is started just to write it. */
	if (!have && !atomic_load(&running) && ots_cfg.traces_exporter_otlp) {
		if (!set_up && ots_plugins_dir)
			relay_at_exit = 1; /* nothing is set up in the host: see relay.c */
		else
			have = start_thread(1) == 0;
	}
	if (have) {
		int fd = atomic_load(&wake_fd);
		uint64_t one = 1;
		if (fd >= 0 && write(fd, &one, sizeof one) < 0)
			(void)0;
		for (;;) {
			if (atomic_load(&finished))
				break;
			uint64_t now = ots_mono_ns();
			if (now >= deadline) {
				OTS_WARN("shutdown timeout (%llu ms) reached; about %llu spans unsent",
					 (unsigned long long)(timeout_ns / 1000000),
					 (unsigned long long)(ots_pool_pending() + qlen +
							      sinks_pending()));
				break;
			}
			uint64_t ns = deadline - now;
			struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
			futex(&finished, FUTEX_WAIT_PRIVATE, 0, &ts);
		}
	} else {
		sigjmp_buf jb;
		ots_contain_open();
		if (sigsetjmp(jb, 1) == 0) {
			ots_tls.crash_jmp = &jb;
			flush_inline(deadline);
		} else {
			OTS_WARN("the final export crashed and was abandoned; the program's exit is "
				 "not affected");
		}
		ots_tls.crash_jmp = NULL;
		ots_contain_close();
	}
	summary();
}

/* Child after fork (atfork handler: no I/O, no locks). The exporter thread
 * did not survive; whatever it was doing is abandoned, not undone: the queue
 * and batch arena are forgotten (the parent sends those records), the sinks
 * drop their inherited connections, and the next pthread_create starts a new
 * thread on a new eventfd. */
void ots_exporter_reset_after_fork(void)
{
	atomic_store(&running, 0);
	atomic_store(&at_rest, 0);
	atomic_store(&stop_req, STOP_NONE);
	atomic_store(&finished, 0);
	atomic_store(&sync_done, atomic_load(&sync_req));
	atomic_store(&kicked, 0);
	atomic_store(&fork_hold, 0);
	atomic_store(&parked, 0);
	atomic_store(&final_rec_set, 0);
	holding_fork = 0;
	int fd = atomic_exchange(&wake_fd, -1);
	if (fd >= 0)
		ots_fd_close(fd); /* our copy only; the parent's stays open */
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->after_fork)
			sinks[i]->after_fork(sinks[i]);
	qhead = qlen = 0;
	memset(&arena, 0, sizeof arena); /* leaked: it may have been mid-update */
	if (set_up)
		ots_resource_build(&resource); /* new process.pid */
	memset(&ots_counters, 0, sizeof ots_counters);
}
