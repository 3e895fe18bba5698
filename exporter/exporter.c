/* exporter.c - the background exporter thread.
 *
 * One thread, started the first time the host creates a thread (never from
 * the constructor: a single-threaded program gets none, and its records are
 * written at exit). It sleeps on a futex until the schedule delay
 * (OTEL_BSP_SCHEDULE_DELAY) passes or a ring reaches its high-water mark, then
 * drains every ring, turns records into spans and hands each batch to every
 * sink (file, OTLP/HTTP). It marks itself reentrant for life, so nothing it
 * (or libcurl, or libc) does is traced, and it blocks all signals, so the
 * host's signal handlers never run on it.
 *
 * Shutdown: the exiting thread asks the exporter to flush and waits for it on
 * a futex, at most OTCSHIM_SHUTDOWN_TIMEOUT; past that, exit goes on and
 * whatever was unsent is lost (and said so). When no exporter thread runs the
 * exiting thread drains the rings itself, under the same bound. Either way
 * there is exactly one consumer of the rings at a time.
 */
#include "exp.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

ots_counters_t ots_counters;

#define MAX_SINKS 4

static ots_sink_t *sinks[MAX_SINKS];
static int nsinks;
static int set_up;
static ots_rec_t *recs;
static ots_span_t *spans;
static size_t batch_max;
static ots_arena_t arena;
static ots_resource_t resource;

static _Atomic int running;     /* 0 no thread, 1 starting/running */
static _Atomic uint32_t wake;   /* futex word: bumped by kick */
static _Atomic uint32_t finished; /* futex word: 1 when the final flush is done */
static _Atomic int stop_req;
static uint64_t stop_deadline;

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)uaddr, op, val, ts, NULL, 0);
}

static void futex_wait_ns(_Atomic uint32_t *w, uint32_t seen, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	futex(w, FUTEX_WAIT_PRIVATE, seen, &ts);
}

static void setup(void)
{
	if (set_up)
		return;
	set_up = 1;
	ots_resource_build(&resource);
	if (ots_cfg.output_path) {
		ots_sink_t *s = ots_file_sink_open(ots_cfg.output_path);
		if (s)
			sinks[nsinks++] = s;
	}
	if (ots_cfg.traces_exporter_otlp) {
		ots_sink_t *s = ots_http_sink_open();
		if (s)
			sinks[nsinks++] = s;
	}
	batch_max = ots_cfg.bsp_max_batch ? ots_cfg.bsp_max_batch : 512;
	recs = malloc(batch_max * sizeof *recs);
	spans = malloc(batch_max * sizeof *spans);
	if (!recs || !spans) {
		free(recs);
		free(spans);
		recs = NULL;
		spans = NULL;
		OTS_WARN("out of memory for the export batch; spans are dropped");
	}
}

/* Drain one batch and send it everywhere; returns the number of records read. */
static size_t export_once(uint64_t deadline)
{
	if (!recs)
		return 0;
	size_t n = ots_pool_drain(recs, batch_max);
	if (!n)
		return 0;
	ots_arena_reset(&arena);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].flags & OTS_RF_STATS_ONLY)
			continue;
		ots_span_from_rec(&recs[i], &spans[k++], &arena);
	}
	if (!k)
		return n;
	int ok = 0;
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->export(sinks[i], &resource, spans, k, deadline) == 0)
			ok = 1;
	if (ok || !nsinks)
		atomic_fetch_add(&ots_counters.spans_exported, k);
	else
		atomic_fetch_add(&ots_counters.spans_dropped_export, k);
	atomic_fetch_add(&ots_counters.batches_sent, 1);
	return n;
}

static void export_all(uint64_t deadline)
{
	while (export_once(deadline) > 0 && ots_mono_ns() < deadline)
		;
}

static void *exporter_main(void *arg)
{
	(void)arg;
	ots_tls.reentrant = 1; /* for life: nothing here is traced */
	prctl(PR_SET_NAME, "otcshim-export", 0, 0, 0);
	setup();
	for (;;) {
		uint32_t seen = atomic_load(&wake);
		if (atomic_load(&stop_req))
			break;
		futex_wait_ns(&wake, seen, ots_cfg.bsp_schedule_delay_ns);
		if (atomic_load(&stop_req))
			break;
		export_all(ots_mono_ns() + ots_cfg.bsp_export_timeout_ns);
	}
	export_all(stop_deadline);
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->shutdown)
			sinks[i]->shutdown(sinks[i], stop_deadline);
	atomic_store(&finished, 1);
	futex(&finished, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	return NULL;
}

void ots_exporter_start(void)
{
	if (atomic_load_explicit(&running, memory_order_relaxed))
		return;
	int expected = 0;
	if (!atomic_compare_exchange_strong(&running, &expected, 1))
		return;
	ots_reentry_enter();
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = ots_real.create ? ots_real.create(&t, &attr, exporter_main, NULL) : ENOSYS;
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		atomic_store(&running, 0);
		OTS_DEBUG("cannot start the exporter thread (error %d); spans are written at exit",
			  rc);
	}
	ots_reentry_leave();
}

void ots_exporter_kick(void)
{
	if (!atomic_load_explicit(&running, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&wake, 1, memory_order_release);
	futex(&wake, FUTEX_WAKE_PRIVATE, 1, NULL);
}

static void summary(void)
{
	uint64_t dropped = ots_pool_dropped();
	uint64_t lost = atomic_load(&ots_counters.spans_dropped_export) +
			atomic_load(&ots_counters.spans_dropped_queue);
	uint64_t rejected = atomic_load(&ots_counters.spans_rejected);
	if (dropped || lost || rejected || ots_cfg.debug)
		ots_log_write(1,
			      "%llu spans exported, %llu dropped (pool full), %llu lost in export, "
			      "%llu rejected by the backend, %llu retries",
			      (unsigned long long)atomic_load(&ots_counters.spans_exported),
			      (unsigned long long)dropped, (unsigned long long)lost,
			      (unsigned long long)rejected,
			      (unsigned long long)atomic_load(&ots_counters.retries));
}

void ots_exporter_stop(uint64_t timeout_ns)
{
	uint64_t start = ots_mono_ns();
	uint64_t deadline = start + timeout_ns;
	if (atomic_load(&running)) {
		stop_deadline = deadline;
		atomic_store(&stop_req, 1);
		atomic_fetch_add(&wake, 1);
		futex(&wake, FUTEX_WAKE_PRIVATE, 1, NULL);
		for (;;) {
			if (atomic_load(&finished))
				break;
			uint64_t now = ots_mono_ns();
			if (now >= deadline) {
				OTS_WARN("shutdown timeout (%llu ms) reached; about %llu spans unsent",
					 (unsigned long long)(timeout_ns / 1000000),
					 (unsigned long long)ots_pool_pending());
				break;
			}
			futex_wait_ns(&finished, 0, deadline - now);
		}
	} else {
		setup();
		export_all(deadline);
		for (int i = 0; i < nsinks; i++)
			if (sinks[i]->shutdown)
				sinks[i]->shutdown(sinks[i], deadline);
	}
	summary();
}

void ots_exporter_reset_after_fork(void)
{
	atomic_store(&running, 0);
	atomic_store(&stop_req, 0);
	atomic_store(&finished, 0);
	atomic_store(&wake, 0);
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->after_fork)
			sinks[i]->after_fork(sinks[i]);
	if (set_up)
		ots_resource_build(&resource); /* new process.pid */
	memset(&ots_counters, 0, sizeof ots_counters);
}
