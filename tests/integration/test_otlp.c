/* test_otlp.c - the OTLP/HTTP exporter end to end: programs from tests/progs
 * run under the shim against the test receiver (tests/receiver), which
 * decodes, fails and delays on demand. Exit-time bounds are in
 * test_otlp_exit.c, the independent decoder in test_otlp_conformance.c. */
#include "../harness.h"
#include "../receiver/recv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* printf into a rotating static buffer (for env entries) */
static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
	static char bufs[16][256];
	static int i;
	char *b = bufs[i++ & 15];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, 256, f, ap);
	va_end(ap);
	return b;
}

/* Run argv under the shim with OTLP export on: the endpoint variable
 * (a "NAME=value" string), quick batches (50 ms), plus extra entries. */
static void run(trun_t *t, const char *const *argv, const char *endpoint_var,
		const char *const *extra)
{
	const char *env[32];
	int n = 0;
	env[n++] = "OTEL_TRACES_EXPORTER=otlp";
	env[n++] = "OTEL_BSP_SCHEDULE_DELAY=50";
	if (endpoint_var)
		env[n++] = endpoint_var;
	for (const char *const *e = extra; e && *e && n < 31; e++)
		env[n++] = *e;
	env[n] = NULL;
	cr_assert_eq(trun(t, argv, env, 1), 0);
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static double req_time(const trecv_t *r, int seq)
{
	cJSON *m = trecv_meta(r, seq);
	double t = m ? cJSON_GetObjectItem(m, "time")->valuedouble : 0;
	cJSON_Delete(m);
	return t;
}

static int req_status(const trecv_t *r, int seq)
{
	cJSON *m = trecv_meta(r, seq);
	int s = m ? cJSON_GetObjectItem(m, "status")->valueint : -1;
	cJSON_Delete(m);
	return s;
}

/* Total spans over all requests, counting repeats (a retried body twice). */
static int spans_with_repeats(const trecv_t *r)
{
	int total = 0, n = trecv_count(r);
	for (int i = 0; i < n; i++) {
		treq_t *q = trecv_request(r, i);
		if (q)
			total += (int)treq_span_count(q);
		treq_free(q);
	}
	return total;
}

#define TRACES_URL(r) fmt("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", (r).url)

static const char *waits4[] = { "progs/otlp_waits", "4", NULL };
/* about 8 batches: 2 spans each, spread over 300 ms */
static const char *waits_spread[] = { "progs/otlp_waits", "8", "0", "300", NULL };

Test(otlp, sends_protobuf_to_the_traces_endpoint)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	trun_t t;
	run(&t, waits4, TRACES_URL(r), NULL);
	cr_assert_eq(t.exit_code, 0, "stderr: %s", t.err);
	cr_assert_gt(trecv_count(&r), 0, "no request; stderr: %s", t.err);
	cJSON *m = trecv_meta(&r, 0);
	cr_expect_str_eq(cJSON_GetObjectItem(m, "path")->valuestring, "/v1/traces");
	cr_expect_str_eq(trecv_header(m, "Content-Type"), "application/x-protobuf");
	cr_expect_str_eq(trecv_header(m, "User-Agent"), "otcshim/0.1.0");
	cr_expect_null(trecv_header(m, "Content-Encoding"));
	cr_expect_null(trecv_header(m, "Expect"));
	cJSON_Delete(m);
	/* every span of the JSON file output arrived over OTLP, each once */
	cr_expect_eq(trecv_unique_spans(&r), t.nspans, "otlp %d spans, file %d",
		     trecv_unique_spans(&r), t.nspans);
	cr_expect_eq(spans_with_repeats(&r), t.nspans);
	cr_expect(trecv_has_span(&r, "pthread_mutex_lock"));
	cr_expect(trecv_has_span(&r, "process otlp_waits"));
	cr_expect_null(strstr(t.err, "spans:"), "nothing lost, nothing said: %s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, decoded_spans_match_the_file_output)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	trun_t t;
	run(&t, waits4, TRACES_URL(r), NULL);
	const tspan_t *w = tspan_find(&t, "pthread_mutex_lock", 0);
	cr_assert(w, "no wait span in the file");
	int found = 0, n = trecv_count(&r);
	for (int i = 0; i < n && !found; i++) {
		treq_t *q = trecv_request(&r, i);
		cr_assert(q, "request %d does not decode", i);
		Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = q->resource_spans[0];
		int has_service = 0;
		for (size_t a = 0; a < rs->resource->n_attributes; a++)
			has_service |= !strcmp(rs->resource->attributes[a]->key, "service.name") &&
				       !strcmp(rs->resource->attributes[a]->value->string_value,
					       "unknown_service:otlp_waits");
		cr_expect(has_service);
		cr_expect_str_eq(rs->scope_spans[0]->scope->name, "otcshim");
		cr_expect_str_eq(rs->scope_spans[0]->scope->version, "0.1.0");
		for (size_t s = 0; s < rs->scope_spans[0]->n_spans; s++) {
			Opentelemetry__Proto__Trace__V1__Span *sp = rs->scope_spans[0]->spans[s];
			char id[17], tid[33];
			for (int k = 0; k < 8; k++)
				snprintf(id + 2 * k, 3, "%02x", sp->span_id.data[k]);
			if (strcmp(id, w->span_id))
				continue;
			found = 1;
			for (int k = 0; k < 16; k++)
				snprintf(tid + 2 * k, 3, "%02x", sp->trace_id.data[k]);
			cr_expect_str_eq(tid, w->trace_id);
			cr_expect_str_eq(sp->name, "pthread_mutex_lock");
			cr_expect_eq(sp->start_time_unix_nano, w->start_ns);
			cr_expect_eq(sp->end_time_unix_nano, w->end_ns);
			cr_expect_eq(sp->kind, 1);
			cr_expect_eq(sp->parent_span_id.len, 8);
			long long tidv = -1;
			for (size_t a = 0; a < sp->n_attributes; a++)
				if (!strcmp(sp->attributes[a]->key, "thread.id"))
					tidv = sp->attributes[a]->value->int_value;
			cr_expect_eq(tidv, tspan_attr_int(w, "thread.id", -2));
		}
		treq_free(q);
	}
	cr_expect(found, "the wait span was not sent over OTLP");
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, general_endpoint_gets_v1_traces_with_one_slash)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *bases[] = { "%s", "%s/", "%s/otlp", "%s/otlp/" };
	const char *want[] = { "/v1/traces", "/v1/traces", "/otlp/v1/traces", "/otlp/v1/traces" };
	const char *argv[] = { "progs/otlp_single", NULL };
	for (int i = 0; i < 4; i++) {
		trun_t t;
		char var[256];
		snprintf(var, sizeof var, "OTEL_EXPORTER_OTLP_ENDPOINT=");
		snprintf(var + strlen(var), sizeof var - strlen(var), bases[i], r.base);
		run(&t, argv, var, NULL);
		cr_assert_eq(trecv_wait(&r, i + 1, 2000), i + 1, "%s: %s", var, t.err);
		cJSON *m = trecv_meta(&r, i);
		cr_expect_str_eq(cJSON_GetObjectItem(m, "path")->valuestring, want[i], "%s", var);
		cJSON_Delete(m);
		trun_free(&t);
	}
	trecv_stop(&r);
}

Test(otlp, traces_endpoint_is_used_as_is_and_wins)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *argv[] = { "progs/otlp_single", NULL };
	const char *extra[] = { "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1/", NULL };
	trun_t t;
	run(&t, argv, fmt("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s/custom/path", r.base), extra);
	cr_assert_eq(trecv_count(&r), 1, "%s", t.err);
	cJSON *m = trecv_meta(&r, 0);
	cr_expect_str_eq(cJSON_GetObjectItem(m, "path")->valuestring, "/custom/path");
	cJSON_Delete(m);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, headers_are_percent_decoded_and_crlf_refused)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *argv[] = { "progs/otlp_single", NULL };
	const char *extra[] = {
		"OTEL_EXPORTER_OTLP_HEADERS=x-api-key=se%20cret%3D%3D , x-tenant=blue,"
		"x-evil=a%0D%0AInjected: 1,x-empty=",
		NULL
	};
	trun_t t;
	run(&t, argv, TRACES_URL(r), extra);
	cr_assert_eq(trecv_count(&r), 1, "%s", t.err);
	cJSON *m = trecv_meta(&r, 0);
	cr_expect_str_eq(trecv_header(m, "x-api-key"), "se cret==");
	cr_expect_str_eq(trecv_header(m, "x-tenant"), "blue");
	cr_expect_null(trecv_header(m, "x-evil"));
	cr_expect_null(trecv_header(m, "Injected"));
	cr_expect_str_eq(trecv_header(m, "x-empty"), "");
	cr_expect(strstr(t.err, "x-evil") && strstr(t.err, "CR or LF"), "%s", t.err);
	cJSON_Delete(m);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, traces_headers_replace_the_general_ones)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *argv[] = { "progs/otlp_single", NULL };
	const char *extra[] = { "OTEL_EXPORTER_OTLP_HEADERS=general=1",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS=traces=2", NULL };
	trun_t t;
	run(&t, argv, TRACES_URL(r), extra);
	cr_assert_eq(trecv_count(&r), 1, "%s", t.err);
	cJSON *m = trecv_meta(&r, 0);
	cr_expect_str_eq(trecv_header(m, "traces"), "2");
	cr_expect_null(trecv_header(m, "general"));
	cJSON_Delete(m);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, gzip_compression)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *extra[] = { "OTEL_EXPORTER_OTLP_COMPRESSION=gzip", NULL };
	trun_t t;
	run(&t, waits4, TRACES_URL(r), extra);
	int n = trecv_count(&r);
	cr_assert_gt(n, 0, "%s", t.err);
	for (int i = 0; i < n; i++) {
		cJSON *m = trecv_meta(&r, i);
		cr_expect_str_eq(trecv_header(m, "Content-Encoding"), "gzip");
		cr_expect_null(cJSON_GetObjectItem(m, "gzip_error"));
		cJSON_Delete(m);
		size_t zlen, plen;
		char *z = trecv_body(&r, i, &zlen, 0), *p = trecv_body(&r, i, &plen, 1);
		cr_expect(z && p && zlen >= 2 && (unsigned char)z[0] == 0x1f &&
			  (unsigned char)z[1] == 0x8b && plen > zlen);
		free(z);
		free(p);
	}
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, http_json_protocol)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *extra[] = { "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json", NULL };
	trun_t t;
	run(&t, waits4, TRACES_URL(r), extra);
	cr_assert_gt(trecv_count(&r), 0, "%s", t.err);
	cJSON *m = trecv_meta(&r, 0);
	cr_expect_str_eq(trecv_header(m, "Content-Type"), "application/json");
	cJSON_Delete(m);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	cr_expect_null(strstr(t.err, "otcshim:"), "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, grpc_protocol_warns_and_uses_http_protobuf)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *argv[] = { "progs/otlp_single", NULL };
	const char *extra[] = { "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", NULL };
	trun_t t;
	run(&t, argv, TRACES_URL(r), extra);
	cr_expect(strstr(t.err, "grpc is not supported"), "%s", t.err);
	cr_assert_eq(trecv_count(&r), 1);
	cJSON *m = trecv_meta(&r, 0);
	cr_expect_str_eq(trecv_header(m, "Content-Type"), "application/x-protobuf");
	cJSON_Delete(m);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, batches_respect_max_export_batch_size)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *argv[] = { "progs/otlp_waits", "10", NULL };
	const char *extra[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=3", NULL };
	trun_t t;
	run(&t, argv, TRACES_URL(r), extra);
	int n = trecv_count(&r);
	cr_assert_geq(n, 4, "%d requests; %s", n, t.err);
	for (int i = 0; i < n; i++) {
		treq_t *q = trecv_request(&r, i);
		cr_assert(q);
		cr_expect_leq(treq_span_count(q), 3);
		treq_free(q);
	}
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, one_keep_alive_connection_for_all_batches)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *extra[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2", NULL };
	trun_t t;
	run(&t, waits_spread, TRACES_URL(r), extra);
	int n = trecv_count(&r);
	cr_assert_geq(n, 3, "%d requests; %s", n, t.err);
	cJSON *first = trecv_meta(&r, 0);
	const char *peer = cJSON_GetObjectItem(first, "peer")->valuestring;
	for (int i = 1; i < n; i++) {
		cJSON *m = trecv_meta(&r, i);
		cr_expect_str_eq(cJSON_GetObjectItem(m, "peer")->valuestring, peer, "request %d", i);
		cJSON_Delete(m);
	}
	cJSON_Delete(first);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, server_closing_kept_alive_connections_loses_no_batch)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "closeidle", NULL), 0);
	const char *extra[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2", NULL };
	trun_t t;
	run(&t, waits_spread, TRACES_URL(r), extra);
	cr_assert_geq(trecv_count(&r), 3, "%s", t.err);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans, "otlp %d file %d: %s",
		     trecv_unique_spans(&r), t.nspans, t.err);
	cr_expect_null(strstr(t.err, "spans:"), "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, retry_after_seconds_is_honoured)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, "retry:503:1", NULL, NULL), 0);
	trun_t t;
	run(&t, waits4, TRACES_URL(r), NULL);
	cr_assert_eq(trecv_count(&r), 2, "%s", t.err);
	double gap = req_time(&r, 1) - req_time(&r, 0);
	cr_expect_geq(gap, 0.95, "retried after %.3f s", gap);
	cr_expect_lt(gap, 1.6, "retried after %.3f s", gap);
	cr_expect_eq(req_status(&r, 1), 200);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	cr_expect_eq(t.exit_code, 0);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, retry_after_http_date_is_honoured)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, "retrydate:503:2", NULL, NULL), 0);
	const char *extra[] = { "OTCSHIM_SHUTDOWN_TIMEOUT=4s", NULL };
	trun_t t;
	run(&t, waits4, TRACES_URL(r), extra);
	cr_assert_eq(trecv_count(&r), 2, "%s", t.err);
	/* the date has whole seconds: now+2 s truncated is 1 to 2 s away */
	double gap = req_time(&r, 1) - req_time(&r, 0);
	cr_expect_geq(gap, 0.9, "retried after %.3f s", gap);
	cr_expect_lt(gap, 2.6, "retried after %.3f s", gap);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, retries_429_502_504_with_growing_backoff)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, "status:429,status:502,status:504", NULL, NULL), 0);
	trun_t t;
	run(&t, waits4, TRACES_URL(r), NULL);
	cr_assert_eq(trecv_count(&r), 4, "%s", t.err);
	double g1 = req_time(&r, 1) - req_time(&r, 0);
	double g2 = req_time(&r, 2) - req_time(&r, 1);
	double g3 = req_time(&r, 3) - req_time(&r, 2);
	/* jittered within [d/2, d]: d = 200, 400, 800 ms */
	cr_expect(g1 >= 0.09 && g1 < 0.5, "%.3f", g1);
	cr_expect(g2 >= 0.19 && g2 < 0.7, "%.3f", g2);
	cr_expect(g3 >= 0.39 && g3 < 1.1, "%.3f", g3);
	cr_expect_eq(req_status(&r, 3), 200);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	cr_expect_null(strstr(t.err, "spans:"), "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, status_400_drops_at_once_with_one_warning)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "status:400", NULL), 0);
	const char *extra[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2", NULL };
	trun_t t;
	run(&t, waits_spread, TRACES_URL(r), extra);
	int n = trecv_count(&r);
	cr_assert_geq(n, 3, "%s", t.err);
	/* never retried: no body twice */
	cr_expect_eq(spans_with_repeats(&r), t.nspans);
	cr_expect_eq(count_str(t.err, "HTTP 400"), 1, "%s", t.err);
	cr_expect(strstr(t.err, fmt("%d failed", t.nspans)), "%s", t.err);
	cr_expect_eq(t.exit_code, 0);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, partial_success_is_counted_and_logged_once)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "partial:1:span too old", NULL), 0);
	const char *extra[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2", NULL };
	trun_t t;
	run(&t, waits_spread, TRACES_URL(r), extra);
	int n = trecv_count(&r);
	cr_assert_geq(n, 3, "%s", t.err);
	cr_expect_eq(spans_with_repeats(&r), t.nspans, "never retried");
	cr_expect_eq(count_str(t.err, "span too old"), 1, "%s", t.err);
	cr_expect(strstr(t.err, fmt("%d rejected by the backend", n)), "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, partial_success_in_json)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "partial:2:bad attribute", NULL), 0);
	const char *extra[] = { "OTEL_EXPORTER_OTLP_PROTOCOL=http/json", NULL };
	trun_t t;
	run(&t, waits4, TRACES_URL(r), extra);
	cr_expect(strstr(t.err, "bad attribute"), "%s", t.err);
	cr_expect(strstr(t.err, fmt("%d rejected by the backend", 2 * trecv_count(&r))), "%s",
		  t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, connection_closed_mid_request_is_retried)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, "close", NULL, NULL), 0);
	trun_t t;
	run(&t, waits4, TRACES_URL(r), NULL);
	cr_assert_eq(trecv_count(&r), 2, "%s", t.err);
	cr_expect_eq(req_status(&r, 1), 200);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans);
	cr_expect_null(strstr(t.err, "spans:"), "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, timeout_aborts_a_slow_answer_and_retries)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, "slow:1500", NULL, NULL), 0);
	const char *extra[] = { "OTEL_EXPORTER_OTLP_TIMEOUT=200", NULL };
	trun_t t;
	run(&t, waits4, TRACES_URL(r), extra);
	cr_expect_lt(t.seconds, 1.2, "waited for the slow answer: %.3f s", t.seconds);
	cr_assert_eq(trecv_wait(&r, 2, 3000), 2, "%s", t.err);
	/* request 0 is saved when its slow answer ends: request 1 is the retry */
	cr_expect_eq(req_status(&r, 1), 200);
	cr_expect(trecv_has_span(&r, "process otlp_waits"));
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, retry_budget_exhausted_drops_and_counts)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "status:503", NULL), 0);
	const char *argv[] = { "progs/otlp_waits", "4", "0", "700", NULL };
	const char *extra[] = { "OTEL_BSP_EXPORT_TIMEOUT=250", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2",
				"OTCSHIM_SHUTDOWN_TIMEOUT=300ms", NULL };
	trun_t t;
	run(&t, argv, TRACES_URL(r), extra);
	cr_expect(strstr(t.err, "retry budget (OTEL_BSP_EXPORT_TIMEOUT) exhausted"), "%s", t.err);
	cr_expect_null(strstr(t.err, " 0 dropped (retry budget)"), "%s", t.err);
	cr_expect_geq(trecv_count(&r), 4, "retried before giving up");
	cr_expect_eq(t.exit_code, 0);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, full_backlog_drops_the_oldest_batches)
{
	/* the first request hangs until its 400 ms timeout; meanwhile batches
	 * pile up past OTEL_BSP_MAX_QUEUE_SIZE and the oldest waiting ones go */
	trecv_t r;
	cr_assert_eq(trecv_start(&r, "hang", NULL, NULL), 0);
	const char *argv[] = { "progs/otlp_waits", "12", "0", "300", NULL };
	const char *extra[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2", "OTEL_BSP_MAX_QUEUE_SIZE=6",
				"OTEL_EXPORTER_OTLP_TIMEOUT=400", NULL };
	trun_t t;
	run(&t, argv, TRACES_URL(r), extra);
	cr_expect(strstr(t.err, "backlog full, oldest batch dropped"), "%s", t.err);
	cr_expect_null(strstr(t.err, " 0 dropped (queue full)"), "%s", t.err);
	cr_expect_lt(trecv_unique_spans(&r), t.nspans);
	/* the newest spans survive: the process span and the newest other one */
	const tspan_t *newest = NULL;
	for (int i = 0; i < t.nspans; i++)
		if (strncmp(t.spans[i].name, "process ", 8) &&
		    (!newest || t.spans[i].end_ns > newest->end_ns))
			newest = &t.spans[i];
	cr_assert(newest);
	cr_expect(trecv_has_span(&r, "process otlp_waits"), "%s", t.err);
	int got = 0, n = trecv_count(&r);
	for (int i = 1; i < n; i++) {
		treq_t *q = trecv_request(&r, i);
		for (size_t s = 0; q && s < q->resource_spans[0]->scope_spans[0]->n_spans; s++) {
			Opentelemetry__Proto__Trace__V1__Span *sp =
				q->resource_spans[0]->scope_spans[0]->spans[s];
			got |= sp->end_time_unix_nano == newest->end_ns && !strcmp(sp->name, newest->name);
		}
		treq_free(q);
	}
	cr_expect(got, "the newest span (%s) was dropped", newest->name);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, several_endpoints_a_dead_one_delays_nothing)
{
	trecv_t good, hung;
	cr_assert_eq(trecv_start(&good, NULL, NULL, NULL), 0);
	cr_assert_eq(trecv_start(&hung, NULL, "hang", NULL), 0);
	int dead = trecv_dead_port();
	const char *argv[] = { "progs/otlp_waits", "8", "0", "400", NULL };
	const char *extra[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2", "OTCSHIM_SHUTDOWN_TIMEOUT=500ms",
				NULL };
	trun_t t;
	run(&t, argv,
	    fmt("OTCSHIM_ENDPOINTS=%s,http://127.0.0.1:%d/v1/traces,%s", hung.url, dead,
		good.url),
	    extra);
	cr_expect_eq(t.exit_code, 0);
	/* the good endpoint got everything, and got it during the run */
	cr_expect_eq(trecv_unique_spans(&good), t.nspans, "good %d file %d: %s",
		     trecv_unique_spans(&good), t.nspans, t.err);
	int n = trecv_count(&good);
	cr_expect_geq(n, 4, "%d requests", n);
	cr_expect_geq(trecv_count(&hung), 1);
	/* spans to the hung one are lost and said so, per endpoint */
	cr_expect(strstr(t.err, hung.url), "%s", t.err);
	cr_expect_lt(t.seconds, 1.9, "%.3f s", t.seconds);
	trun_free(&t);
	trecv_stop(&good);
	trecv_stop(&hung);
}

Test(otlp, debug_prints_the_counters)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *extra[] = { "OTCSHIM_DEBUG=true", NULL };
	trun_t t;
	run(&t, waits4, TRACES_URL(r), extra);
	cr_expect(strstr(t.err, fmt("spans: %d sent, 0 dropped (pool full)", t.nspans)), "%s", t.err);
	cr_expect(strstr(t.err, fmt("%s: %d sent, 0 dropped (queue full)", r.url, t.nspans)), "%s",
		  t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp, forked_child_exports_its_own_spans)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	const char *argv[] = { "progs/otlp_fork", NULL };
	trun_t t;
	run(&t, argv, TRACES_URL(r), NULL);
	cr_expect_eq(t.exit_code, 7, "%s", t.err);
	int ppid = 0, cpid = 0;
	const char *p = strstr(t.out, "parent "), *c = strstr(t.out, "child ");
	cr_assert(p && c, "%s", t.out);
	ppid = atoi(p + 7);
	cpid = atoi(c + 6);
	int seen_parent = 0, seen_child = 0, n = trecv_count(&r);
	for (int i = 0; i < n; i++) {
		treq_t *q = trecv_request(&r, i);
		cr_assert(q, "request %d does not decode", i);
		Opentelemetry__Proto__Resource__V1__Resource *res = q->resource_spans[0]->resource;
		for (size_t a = 0; a < res->n_attributes; a++)
			if (!strcmp(res->attributes[a]->key, "process.pid")) {
				seen_parent |= res->attributes[a]->value->int_value == ppid;
				seen_child |= res->attributes[a]->value->int_value == cpid;
			}
		treq_free(q);
	}
	cr_expect(seen_parent && seen_child, "parent %d child %d", seen_parent, seen_child);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans, "otlp %d file %d",
		     trecv_unique_spans(&r), t.nspans);
	trun_free(&t);
	trecv_stop(&r);
}
