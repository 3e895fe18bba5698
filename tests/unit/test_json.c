/* Unit tests for exporter/json.c: the OTLP JSON mapping, checked by parsing
 * the output with an independent JSON parser (cJSON). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <string.h>

#include "../../exporter/exp.h"

static cJSON *encode(const ots_span_t *spans, size_t n, ots_resource_t *res)
{
	ots_buf_t b = { 0 };
	ots_json_encode(&b, res, spans, n);
	cr_assert_not(b.oom);
	cr_assert_null(memchr(b.data, '\n', b.len), "one line per batch");
	cJSON *doc = cJSON_Parse(b.data);
	cr_assert_not_null(doc, "valid JSON: %s", b.data);
	ots_buf_free(&b);
	return doc;
}

static cJSON *first_span(cJSON *doc)
{
	cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "resourceSpans"), 0);
	cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
	cJSON *scope = cJSON_GetObjectItem(ss, "scope");
	cr_assert_str_eq(cJSON_GetObjectItem(scope, "name")->valuestring, "otcshim");
	return cJSON_GetArrayItem(cJSON_GetObjectItem(ss, "spans"), 0);
}

static ots_span_t sample(void)
{
	ots_span_t s;
	memset(&s, 0, sizeof s);
	for (int i = 0; i < 16; i++)
		s.trace_id[i] = (uint8_t)(0xa0 + i);
	s.span_id = 0x0102030405060708ull;
	s.parent_span_id = 0xf0e0d0c0b0a09080ull;
	s.name = "pthread_mutex_lock";
	s.kind = 1;
	s.start_ns = 1700000000123456789ull;
	s.end_ns = 1700000000223456789ull;
	return s;
}

Test(json, ids_hex_times_as_strings_kind_int)
{
	ots_resource_t res = { 0 };
	ots_span_t s = sample();
	cJSON *doc = encode(&s, 1, &res);
	cJSON *sp = first_span(doc);
	cr_assert_str_eq(cJSON_GetObjectItem(sp, "traceId")->valuestring,
			 "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	cr_assert_str_eq(cJSON_GetObjectItem(sp, "spanId")->valuestring, "0102030405060708");
	cr_assert_str_eq(cJSON_GetObjectItem(sp, "parentSpanId")->valuestring, "f0e0d0c0b0a09080");
	cJSON *st = cJSON_GetObjectItem(sp, "startTimeUnixNano");
	cr_assert(cJSON_IsString(st), "int64 is a string in OTLP JSON");
	cr_assert_str_eq(st->valuestring, "1700000000123456789");
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(sp, "kind")));
	cr_assert_eq(cJSON_GetObjectItem(sp, "kind")->valueint, 1);
	cr_assert_null(cJSON_GetObjectItem(sp, "status"), "unset status left out");
	cJSON_Delete(doc);
}

Test(json, root_span_has_no_parent_field)
{
	ots_resource_t res = { 0 };
	ots_span_t s = sample();
	s.parent_span_id = 0;
	cJSON *doc = encode(&s, 1, &res);
	cr_assert_null(cJSON_GetObjectItem(first_span(doc), "parentSpanId"));
	cJSON_Delete(doc);
}

Test(json, attributes_of_each_type_and_escaping)
{
	ots_resource_t res = { 0 };
	ots_span_t s = sample();
	ots_span_attr_str(&s, "code.stacktrace", "a \"quoted\"\nline\\2\t\x01");
	ots_span_attr_int(&s, "thread.id", -42);
	ots_span_attr_bool(&s, "flag", true);
	ots_span_attr_int(&s, "thread.id", 4242); /* replaces: keys stay unique */
	cr_assert_eq(s.nattrs, 3);
	cJSON *doc = encode(&s, 1, &res);
	cJSON *attrs = cJSON_GetObjectItem(first_span(doc), "attributes");
	cr_assert_eq(cJSON_GetArraySize(attrs), 3);
	cJSON *a0 = cJSON_GetArrayItem(attrs, 0);
	cr_assert_str_eq(cJSON_GetObjectItem(a0, "key")->valuestring, "code.stacktrace");
	cr_assert_str_eq(
		cJSON_GetObjectItem(cJSON_GetObjectItem(a0, "value"), "stringValue")->valuestring,
		"a \"quoted\"\nline\\2\t\x01");
	cJSON *a1 = cJSON_GetObjectItem(cJSON_GetArrayItem(attrs, 1), "value");
	cr_assert_str_eq(cJSON_GetObjectItem(a1, "intValue")->valuestring, "4242");
	cJSON *a2 = cJSON_GetObjectItem(cJSON_GetArrayItem(attrs, 2), "value");
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a2, "boolValue")));
	cJSON_Delete(doc);
}

Test(json, status_events_links)
{
	ots_resource_t res = { 0 };
	ots_span_t s = sample();
	s.status_code = 2;
	s.status_msg = "ETIMEDOUT";
	s.nevents = 1;
	s.events[0].name = "pthread_cancel";
	s.events[0].time_ns = 5;
	s.nlinks = 1;
	memset(s.links[0].trace_id, 0x11, 16);
	s.links[0].span_id = 0x22;
	cJSON *doc = encode(&s, 1, &res);
	cJSON *sp = first_span(doc);
	cJSON *st = cJSON_GetObjectItem(sp, "status");
	cr_assert_eq(cJSON_GetObjectItem(st, "code")->valueint, 2);
	cr_assert_str_eq(cJSON_GetObjectItem(st, "message")->valuestring, "ETIMEDOUT");
	cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(sp, "events"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(ev, "name")->valuestring, "pthread_cancel");
	cr_assert_str_eq(cJSON_GetObjectItem(ev, "timeUnixNano")->valuestring, "5");
	cJSON *ln = cJSON_GetArrayItem(cJSON_GetObjectItem(sp, "links"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(ln, "spanId")->valuestring, "0000000000000022");
	cr_assert_str_eq(cJSON_GetObjectItem(ln, "traceId")->valuestring,
			 "11111111111111111111111111111111");
	cJSON_Delete(doc);
}

Test(json, resource_and_many_spans)
{
	ots_resource_t res = { 0 };
	ots_config_load(NULL);
	ots_resource_build(&res);
	ots_span_t s[3] = { sample(), sample(), sample() };
	s[1].name = "b";
	s[2].name = "c";
	cJSON *doc = encode(s, 3, &res);
	cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "resourceSpans"), 0);
	cJSON *attrs = cJSON_GetObjectItem(cJSON_GetObjectItem(rs, "resource"), "attributes");
	int has_sdk = 0, has_service = 0;
	cJSON *a;
	cJSON_ArrayForEach(a, attrs)
	{
		const char *k = cJSON_GetObjectItem(a, "key")->valuestring;
		has_sdk |= !strcmp(k, "telemetry.sdk.name");
		has_service |= !strcmp(k, "service.name");
	}
	cr_assert(has_sdk && has_service);
	cJSON *spans = cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0), "spans");
	cr_assert_eq(cJSON_GetArraySize(spans), 3);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(spans, 2), "name")->valuestring,
			 "c");
	cJSON_Delete(doc);
	ots_resource_free(&res);
}
