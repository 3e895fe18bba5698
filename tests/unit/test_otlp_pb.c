/* Unit tests for exporter/otlp_pb.c: the protobuf request, checked by
 * decoding it with the generated code and by re-packing the decoded tree
 * (the framing done by hand must equal protobuf-c's own). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../exporter/exp.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req_t;
typedef Opentelemetry__Proto__Trace__V1__Span pspan_t;

static ots_resource_t res;

static void fill_resource(void)
{
	memset(&res, 0, sizeof res);
	res.attrs[0] = (ots_attr_t){ .key = "service.name", .type = OTS_AV_STR, .s = "svc" };
	res.attrs[1] = (ots_attr_t){ .key = "process.pid", .type = OTS_AV_INT, .i = 4242 };
	res.nattrs = 2;
}

/* A span using every feature the encoder knows. */
static void full_span(ots_span_t *s, uint64_t id)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(i + 1);
	s->span_id = id;
	s->parent_span_id = 0x0102030405060708ull;
	s->trace_state = "vendor=x";
	s->name = "pthread_mutex_lock";
	s->kind = 1;
	s->flags = 0x301;
	s->start_ns = 1700000000000000000ull;
	s->end_ns = 1700000000000500000ull;
	ots_span_attr_str(s, "otcshim.lock.addr", "0x1234");
	ots_span_attr_int(s, "thread.id", -77);
	ots_span_attr_bool(s, "otcshim.includes_reacquire", true);
	ots_span_attr_str(s, "empty", "");
	s->attrs[s->nattrs++] = (ots_attr_t){ .key = "ratio", .type = OTS_AV_DOUBLE, .d = 0.25 };
	s->events[0].name = "pthread_cancel";
	s->events[0].time_ns = 1700000000000100000ull;
	s->events[0].attrs[0] = (ots_attr_t){ .key = "k", .type = OTS_AV_STR, .s = "v" };
	s->events[0].nattrs = 1;
	s->nevents = 1;
	memset(s->links[0].trace_id, 0xab, 16);
	s->links[0].span_id = 0xfedcba9876543210ull;
	s->links[0].attrs[0] = (ots_attr_t){ .key = "otcshim.link", .type = OTS_AV_STR, .s = "holder" };
	s->links[0].nattrs = 1;
	s->nlinks = 1;
	s->status_code = 2;
	s->status_msg = "ETIMEDOUT";
}

static req_t *decode(const ots_buf_t *b)
{
	return opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, b->len, (const uint8_t *)b->data);
}

static void req_free(req_t *q)
{
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(q,
											       NULL);
}

TestSuite(otlp_pb, .init = fill_resource);

Test(otlp_pb, every_field_decodes_back)
{
	ots_span_t s;
	full_span(&s, 0x1122334455667788ull);
	ots_buf_t b = { 0 };
	cr_assert_eq(ots_otlp_encode(&b, &res, &s, 1, 0), 1);
	req_t *q = decode(&b);
	cr_assert(q);
	cr_assert_eq(q->n_resource_spans, 1);
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = q->resource_spans[0];
	cr_assert_eq(rs->resource->n_attributes, 2);
	cr_expect_str_eq(rs->resource->attributes[0]->value->string_value, "svc");
	cr_expect_eq(rs->resource->attributes[1]->value->int_value, 4242);
	cr_assert_eq(rs->n_scope_spans, 1);
	cr_expect_str_eq(rs->scope_spans[0]->scope->name, "otcshim");
	cr_expect_str_eq(rs->scope_spans[0]->scope->version, OTS_VERSION);
	cr_assert_eq(rs->scope_spans[0]->n_spans, 1);
	pspan_t *p = rs->scope_spans[0]->spans[0];
	cr_assert_eq(p->trace_id.len, 16);
	cr_expect_eq(memcmp(p->trace_id.data, s.trace_id, 16), 0);
	const uint8_t sid[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	cr_assert_eq(p->span_id.len, 8);
	cr_expect_eq(memcmp(p->span_id.data, sid, 8), 0, "span id is big-endian");
	cr_assert_eq(p->parent_span_id.len, 8);
	cr_expect_eq(p->parent_span_id.data[0], 1);
	cr_expect_eq(p->parent_span_id.data[7], 8);
	cr_expect_str_eq(p->trace_state, "vendor=x");
	cr_expect_str_eq(p->name, "pthread_mutex_lock");
	cr_expect_eq(p->kind, 1);
	cr_expect_eq(p->flags, 0x301);
	cr_expect_eq(p->start_time_unix_nano, s.start_ns);
	cr_expect_eq(p->end_time_unix_nano, s.end_ns);
	cr_assert_eq(p->n_attributes, 5);
	cr_expect_str_eq(p->attributes[0]->key, "otcshim.lock.addr");
	cr_expect_str_eq(p->attributes[0]->value->string_value, "0x1234");
	cr_expect_eq(p->attributes[1]->value->int_value, -77);
	cr_expect_eq(p->attributes[2]->value->value_case,
		     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE);
	cr_expect_eq(p->attributes[2]->value->bool_value, 1);
	cr_expect_eq(p->attributes[3]->value->value_case,
		     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE,
		     "an empty string value is still a string value");
	cr_expect_eq(p->attributes[4]->value->double_value, 0.25);
	cr_assert_eq(p->n_events, 1);
	cr_expect_str_eq(p->events[0]->name, "pthread_cancel");
	cr_expect_eq(p->events[0]->time_unix_nano, s.events[0].time_ns);
	cr_expect_str_eq(p->events[0]->attributes[0]->value->string_value, "v");
	cr_assert_eq(p->n_links, 1);
	cr_expect_eq(p->links[0]->trace_id.data[15], 0xab);
	cr_expect_eq(p->links[0]->span_id.data[0], 0xfe);
	cr_expect_str_eq(p->links[0]->attributes[0]->key, "otcshim.link");
	cr_assert(p->status);
	cr_expect_eq(p->status->code, 2);
	cr_expect_str_eq(p->status->message, "ETIMEDOUT");
	req_free(q);
	ots_buf_free(&b);
}

Test(otlp_pb, root_span_has_no_parent_and_defaults_are_left_out)
{
	ots_span_t s;
	memset(&s, 0, sizeof s);
	s.trace_id[0] = 1;
	s.span_id = 5;
	s.name = "process x";
	s.kind = 1;
	s.start_ns = 1;
	s.end_ns = 2;
	ots_buf_t b = { 0 };
	cr_assert_eq(ots_otlp_encode(&b, &res, &s, 1, 0), 1);
	req_t *q = decode(&b);
	cr_assert(q);
	pspan_t *p = q->resource_spans[0]->scope_spans[0]->spans[0];
	cr_expect_eq(p->parent_span_id.len, 0);
	cr_expect_null(p->status);
	cr_expect_eq(p->n_links, 0);
	cr_expect_eq(p->flags, 0);
	req_free(q);
	ots_buf_free(&b);
}

Test(otlp_pb, framing_equals_the_generated_packer)
{
	enum { N = 50 };
	static ots_span_t s[N];
	for (int i = 0; i < N; i++) {
		full_span(&s[i], 1000 + (uint64_t)i);
		if (i % 3 == 0)
			s[i].nlinks = 0;
	}
	ots_buf_t b = { 0 };
	cr_assert_eq(ots_otlp_encode(&b, &res, s, N, 0), N);
	req_t *q = decode(&b);
	cr_assert(q);
	size_t len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(q);
	cr_assert_eq(len, b.len);
	uint8_t *again = malloc(len);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(q, again);
	cr_expect_eq(memcmp(again, b.data, len), 0, "bytes differ from protobuf-c's own packing");
	free(again);
	req_free(q);
	ots_buf_free(&b);
}

Test(otlp_pb, appends_and_reuses_the_buffer)
{
	ots_span_t s;
	full_span(&s, 9);
	ots_buf_t b = { 0 };
	ots_otlp_encode(&b, &res, &s, 1, 0);
	size_t one = b.len;
	char *data = b.data;
	ots_buf_reset(&b);
	for (int i = 0; i < 20; i++) {
		ots_buf_reset(&b);
		cr_assert_eq(ots_otlp_encode(&b, &res, &s, 1, 0), 1);
	}
	cr_expect_eq(b.len, one);
	cr_expect_eq(b.data, data, "the buffer keeps its memory across batches");
	ots_buf_free(&b);
}

Test(otlp_pb, max_request_size_splits_the_batch)
{
	enum { N = 100 };
	static ots_span_t s[N];
	for (int i = 0; i < N; i++)
		full_span(&s[i], 1 + (uint64_t)i);
	ots_buf_t b = { 0 };
	size_t done = 0, requests = 0;
	uint64_t next = 1;
	while (done < N) {
		ots_buf_reset(&b);
		size_t k = ots_otlp_encode(&b, &res, s + done, N - done, 2000);
		cr_assert_gt(k, 0);
		cr_expect_leq(b.len, 2000, "request of %zu bytes", b.len);
		req_t *q = decode(&b);
		cr_assert(q);
		Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = q->resource_spans[0]->scope_spans[0];
		cr_assert_eq(ss->n_spans, k);
		for (size_t i = 0; i < k; i++, next++)
			cr_expect_eq(ss->spans[i]->span_id.data[7], (uint8_t)next, "order kept");
		req_free(q);
		done += k;
		requests++;
	}
	cr_expect_gt(requests, 5);
	/* one span larger than the limit still goes, alone */
	ots_buf_reset(&b);
	cr_expect_eq(ots_otlp_encode(&b, &res, s, N, 10), 1);
	ots_buf_free(&b);
}

Test(otlp_pb, response_partial_success)
{
	/* ExportTraceServiceResponse{partial_success{rejected_spans 3, error_message "too old"}} */
	const uint8_t r[] = { 0x0a, 0x0b, 0x08, 0x03, 0x12, 0x07, 't', 'o', 'o', ' ', 'o', 'l', 'd' };
	int64_t rej = -1;
	char msg[64];
	cr_assert_eq(ots_otlp_parse_response(r, sizeof r, &rej, msg, sizeof msg), 0);
	cr_expect_eq(rej, 3);
	cr_expect_str_eq(msg, "too old");
	cr_assert_eq(ots_otlp_parse_response("", 0, &rej, msg, sizeof msg), 0);
	cr_expect_eq(rej, 0);
	cr_expect_str_eq(msg, "");
	const uint8_t bad[] = { 0x0a, 0x20, 0x08 };
	cr_expect_eq(ots_otlp_parse_response(bad, sizeof bad, &rej, msg, sizeof msg), -EINVAL);
	char small[4];
	cr_assert_eq(ots_otlp_parse_response(r, sizeof r, &rej, small, sizeof small), 0);
	cr_expect_str_eq(small, "too", "message truncated to the buffer");
}
