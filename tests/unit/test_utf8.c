/* Unit tests for shim/utf8.c (U+FFFD for each maximal subpart of an
 * ill-formed sequence, valid text byte for byte) and for its use by the two
 * encoders, on every kind of string they write. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "../../exporter/exp.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#define FFFD "\xef\xbf\xbd"

/* s mended, as a NUL-terminated string in a static buffer */
static const char *fix(const char *s)
{
	static char out[256];
	size_t n = strlen(s), len = ots_utf8_fixed_len(s, n);
	cr_assert_lt(len, sizeof out);
	char *end = ots_utf8_fix(out, s, n);
	cr_assert_eq((size_t)(end - out), len, "fixed_len agrees with fix");
	*end = '\0';
	return out;
}

static void same(const char *in, const char *want)
{
	const char *got = fix(in);
	cr_assert_str_eq(got, want, "in %zu bytes, got %zu bytes", strlen(in), strlen(got));
}

Test(utf8, valid_text_passes_byte_for_byte)
{
	static const char *ok[] = {
		"",
		"plain ascii, longer than eight bytes",
		"caf\xc3\xa9",				/* U+00E9 */
		"\xe2\x82\xac 20",			/* U+20AC */
		"\xf0\x9d\x84\x9e",			/* U+1D11E */
		"\xed\x9f\xbf",				/* U+D7FF, below the surrogates */
		"\xee\x80\x80",				/* U+E000, above them */
		"\xf4\x8f\xbf\xbf",			/* U+10FFFF */
		"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xf0\x90\x80\x80", /* smallest of each length */
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		size_t n = strlen(ok[i]);
		cr_assert_eq(ots_utf8_prefix(ok[i], n, NULL), n, "case %zu", i);
		same(ok[i], ok[i]);
	}
}

Test(utf8, overlong_forms)
{
	same("\xc0\x80", FFFD FFFD);		/* C0 starts nothing: each byte alone */
	same("\xc1\xbf", FFFD FFFD);
	same("\xe0\x80\x80", FFFD FFFD FFFD);	/* E0 wants A0-BF next */
	same("\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD);
}

Test(utf8, surrogates)
{
	same("\xed\xa0\x80", FFFD FFFD FFFD);	/* U+D800 */
	same("\xed\xbf\xbf", FFFD FFFD FFFD);	/* U+DFFF */
}

Test(utf8, past_u10ffff_and_bytes_that_start_nothing)
{
	same("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
	same("\xf5\x80", FFFD FFFD);
	same("\xff\xfe", FFFD FFFD);
	same("\x80x\xbf", FFFD "x" FFFD);
}

Test(utf8, truncated_sequences_are_one_replacement_each)
{
	same("\xe2\x82", FFFD);			/* the end of the string */
	same("\xe2\x82x", FFFD "x");
	same("\xf0\x9d\x84", FFFD);
	same("\xf0\x9d\x84\xe2\x82\xac", FFFD "\xe2\x82\xac");
	same("a\xc3", "a" FFFD);
	/* the maximal subpart ends at the first byte that cannot follow */
	same("\xe1\x80\xe2\x82\xac", FFFD "\xe2\x82\xac");
}

Test(utf8, prefix_reports_where_and_how_long)
{
	size_t bad = 0;
	cr_assert_eq(ots_utf8_prefix("abcdefghij\xe2\x82", 12, &bad), 10);
	cr_assert_eq(bad, 2);
	cr_assert_eq(ots_utf8_prefix("\xc3\xa9\xed\xa0\x80", 5, &bad), 2);
	cr_assert_eq(bad, 1);
	/* a length stops it, not a NUL */
	cr_assert_eq(ots_utf8_prefix("\xe2\x82\xac", 2, &bad), 0);
	cr_assert_eq(bad, 2);
}

/* Every length and every position of one bad byte, through each of the
 * fast path's block sizes (64, 16, 8, 1) */
Test(utf8, bad_byte_found_at_every_position)
{
	char s[200];
	for (size_t n = 1; n <= sizeof s; n++) {
		memset(s, 'a', n);
		cr_assert_eq(ots_utf8_prefix(s, n, NULL), n, "all ASCII, %zu", n);
		for (size_t at = 0; at < n; at++) {
			size_t bad = 0;
			s[at] = (char)0xff;
			cr_assert_eq(ots_utf8_prefix(s, n, &bad), at, "n %zu at %zu", n, at);
			cr_assert_eq(bad, 1);
			s[at] = 'a';
		}
	}
}

Test(utf8, clip_never_splits_a_character)
{
	const char *s = "ab\xe2\x82\xac" "cd";
	cr_assert_eq(ots_utf8_clip(s, 2), 2);
	cr_assert_eq(ots_utf8_clip(s, 3), 2);
	cr_assert_eq(ots_utf8_clip(s, 4), 2);
	cr_assert_eq(ots_utf8_clip(s, 5), 5);
}

Test(utf8, buffer_append)
{
	ots_buf_t b = { 0 };
	ots_buf_put_utf8(&b, "x\xe9y", 3);
	ots_buf_put_utf8(&b, "\xe2\x82\xac", 3);
	cr_assert_str_eq(b.data, "x" FFFD "y\xe2\x82\xac");
	ots_buf_free(&b);
}

/* ------------------------------------------------------------------------ */
/* The encoders: every string field they write. */

#define BAD "w\xe2\x82"	/* a name cut inside a '€' */
#define GOOD "w" FFFD

static ots_resource_t res;

static void bad_span(ots_span_t *s)
{
	memset(s, 0, sizeof *s);
	memset(s->trace_id, 1, 16);
	s->span_id = 2;
	s->parent_span_id = 3;
	s->trace_state = "k=" BAD;
	s->name = "thread " BAD;
	s->kind = 1;
	s->start_ns = 1;
	s->end_ns = 2;
	ots_span_attr_str(s, "thread.name", BAD);
	ots_span_attr_str(s, "k" BAD, "v");
	s->events[0].name = "e" BAD;
	s->events[0].time_ns = 1;
	s->nevents = 1;
	s->status_code = 2;
	s->status_msg = "m" BAD;
	memset(&res, 0, sizeof res);
	res.attrs[0] = (ots_attr_t){ .key = "service.name", .type = OTS_AV_STR, .s = "caf\xe9" };
	res.nattrs = 1;
}

Test(utf8, json_encoder_mends_every_string)
{
	ots_span_t s;
	bad_span(&s);
	ots_buf_t b = { 0 };
	ots_json_encode(&b, &res, &s, 1);
	cr_assert_eq(ots_utf8_prefix(b.data, b.len, NULL), b.len, "%s", b.data);
	cr_assert(strstr(b.data, "\"name\":\"thread " GOOD "\""), "%s", b.data);
	cr_assert(strstr(b.data, "\"traceState\":\"k=" GOOD "\""), "%s", b.data);
	cr_assert(strstr(b.data, "{\"key\":\"k" GOOD "\""), "%s", b.data);
	cr_assert(strstr(b.data, "\"stringValue\":\"caf" FFFD "\""), "%s", b.data);
	cr_assert(strstr(b.data, "\"message\":\"m" GOOD "\""), "%s", b.data);
	cr_assert(strstr(b.data, "\"name\":\"e" GOOD "\""), "%s", b.data);
	/* escaping still applies around a replacement */
	ots_buf_reset(&b);
	ots_json_string(&b, "\"\xff\n");
	cr_assert_str_eq(b.data, "\"\\\"" FFFD "\\n\"");
	ots_buf_free(&b);
}

Test(utf8, protobuf_encoder_mends_every_string)
{
	ots_span_t s;
	bad_span(&s);
	ots_buf_t b = { 0 };
	cr_assert_eq(ots_otlp_encode(&b, &res, &s, 1, 0), 1, "sized and written alike");
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *q =
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, b.len, (const uint8_t *)b.data);
	cr_assert_not_null(q);
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = q->resource_spans[0];
	cr_assert_str_eq(rs->resource->attributes[0]->value->string_value, "caf" FFFD);
	Opentelemetry__Proto__Trace__V1__Span *p = rs->scope_spans[0]->spans[0];
	cr_assert_str_eq(p->name, "thread " GOOD);
	cr_assert_str_eq(p->trace_state, "k=" GOOD);
	cr_assert_str_eq(p->attributes[0]->value->string_value, GOOD);
	cr_assert_str_eq(p->attributes[1]->key, "k" GOOD);
	cr_assert_str_eq(p->events[0]->name, "e" GOOD);
	cr_assert_str_eq(p->status->message, "m" GOOD);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		q, NULL);
	ots_buf_free(&b);
	ots_otlp_free();
}
