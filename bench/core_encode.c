/* core_encode: OTLP encoding throughput of the exporter, on one core.
 *
 * Builds a batch of 512 realistic wait spans (the attributes span.c gives a
 * contended pthread_mutex_lock, with a 16-frame code.stacktrace) and encodes
 * it again and again for about a second each way: protobuf (the default),
 * protobuf + gzip, http/json. Prints spans per second and MB per second.
 * Target (issue 3): >= 1 million spans/s for protobuf on one core.
 */
#include "exporter/exp.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define BATCH 512

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ots_span_t spans[BATCH];
static ots_resource_t res;
static char stacks[BATCH][1024];

static void make_batch(void)
{
	static const char *frames[] = {
		"cache_lookup+0x4c (libapp.so) cache.c:212", "handle_request+0x1a0 (app) server.c:88",
		"worker_main+0x61 (app) server.c:140",       "start_thread+0xd7 (libc.so.6)",
	};
	res.attrs[0] = (ots_attr_t){ .key = "service.name", .type = OTS_AV_STR, .s = "bench" };
	res.attrs[1] = (ots_attr_t){ .key = "process.pid", .type = OTS_AV_INT, .i = 4242 };
	res.attrs[2] = (ots_attr_t){ .key = "host.name", .type = OTS_AV_STR, .s = "bench-host" };
	res.nattrs = 3;
	for (int i = 0; i < BATCH; i++) {
		ots_span_t *s = &spans[i];
		memset(s, 0, sizeof *s);
		for (int k = 0; k < 16; k++)
			s->trace_id[k] = (uint8_t)(k * 7 + 1);
		s->span_id = 0x1000 + (uint64_t)i;
		s->parent_span_id = 0x77;
		s->name = "pthread_mutex_lock";
		s->kind = 1;
		s->flags = 0x101;
		s->start_ns = 1700000000000000000ull + (uint64_t)i * 1000;
		s->end_ns = s->start_ns + 250000;
		size_t o = 0;
		for (int f = 0; f < 16; f++)
			o += (size_t)snprintf(stacks[i] + o, sizeof stacks[i] - o, "%s%s",
					      f ? "\n" : "", frames[f % 4]);
		ots_span_attr_int(s, "thread.id", 1000 + i % 8);
		ots_span_attr_str(s, "otcshim.lock.addr", "0x55d0c0a04040");
		ots_span_attr_str(s, "otcshim.lock.name", "cache_lock");
		ots_span_attr_int(s, "otcshim.holder.thread.id", 1001);
		ots_span_attr_str(s, "code.function.name", "cache_lookup");
		ots_span_attr_str(s, "code.stacktrace", stacks[i]);
		s->links[0].span_id = 0x99;
		s->links[0].trace_id[0] = 1;
		s->links[0].attrs[0] =
			(ots_attr_t){ .key = "otcshim.link", .type = OTS_AV_STR, .s = "holder" };
		s->links[0].nattrs = 1;
		s->nlinks = 1;
	}
}

static void run(const char *what, int mode)
{
	ots_buf_t out = { 0 }, z = { 0 };
	size_t spans_done = 0, bytes = 0;
	double t0 = now_s(), t;
	do {
		for (int rep = 0; rep < 20; rep++) {
			ots_buf_reset(&out);
			if (mode == 2)
				ots_json_encode(&out, &res, spans, BATCH);
			else
				ots_otlp_encode(&out, &res, spans, BATCH, 0);
			if (mode == 1) {
				ots_buf_reset(&z);
				ots_http_gzip(&z, out.data, out.len);
			}
			spans_done += BATCH;
			bytes += out.len;
		}
		t = now_s() - t0;
	} while (t < 1.0);
	printf("%-46s %12.0f spans/s %8.1f MB/s (%zu bytes/span)\n", what,
	       (double)spans_done / t, (double)bytes / t / 1e6, out.len / BATCH);
	ots_buf_free(&out);
	ots_buf_free(&z);
}

int main(int argc, char **argv)
{
	int only = argc > 1 ? argv[1][0] - '0' : -1; /* 0, 1 or 2: one mode (profiling) */
	make_batch();
	if (only < 0 || only == 0)
		run("otlp encode: protobuf, one core", 0);
	if (only < 0 || only == 1)
		run("otlp encode: protobuf + gzip, one core", 1);
	if (only < 0 || only == 2)
		run("otlp encode: http/json, one core", 2);
	return 0;
}
