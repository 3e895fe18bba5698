/* json.c - the OTLP JSON encoding (file output and the http/json protocol).
 *
 * Follows the OTLP/JSON mapping of the protobuf messages: lowerCamelCase field
 * names, trace and span ids as hex strings (not base64), 64-bit integers as
 * decimal strings, enums as integers, default values left out.
 */
#include "exp.h"

#include <stdio.h>
#include <string.h>

/* Append s[0..n), escaped: quote, backslash and the control characters. */
static void escape(ots_buf_t *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	const unsigned char *run = p;
	for (; p < end; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		ots_buf_append(out, run, (size_t)(p - run));
		char esc[7];
		switch (*p) {
		case '"':
			ots_buf_append(out, "\\\"", 2);
			break;
		case '\\':
			ots_buf_append(out, "\\\\", 2);
			break;
		case '\n':
			ots_buf_append(out, "\\n", 2);
			break;
		case '\t':
			ots_buf_append(out, "\\t", 2);
			break;
		case '\r':
			ots_buf_append(out, "\\r", 2);
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			ots_buf_append(out, esc, 6);
		}
		run = p + 1;
	}
	ots_buf_append(out, run, (size_t)(p - run));
}

/* JSON text must be UTF-8 (RFC 8259): each well-formed run is escaped as it
 * is, each ill-formed subpart between them becomes U+FFFD (shim/utf8.c). */
void ots_json_string(ots_buf_t *out, const char *s)
{
	size_t n = strlen(s), ok, bad = 0;
	ots_buf_reserve(out, n + 2);
	ots_buf_append(out, "\"", 1);
	while ((ok = ots_utf8_prefix(s, n, &bad)) < n) {
		escape(out, s, ok);
		ots_buf_append(out, OTS_UTF8_REPLACEMENT, 3);
		s += ok + bad;
		n -= ok + bad;
	}
	escape(out, s, n);
	ots_buf_append(out, "\"", 1);
}

static void hex_bytes(ots_buf_t *out, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char s[40];
	s[0] = '"';
	for (size_t i = 0; i < n; i++) {
		s[1 + 2 * i] = hex[b[i] >> 4];
		s[2 + 2 * i] = hex[b[i] & 15];
	}
	s[1 + 2 * n] = '"';
	ots_buf_append(out, s, 2 * n + 2);
}

static void span_id_hex(ots_buf_t *out, uint64_t id)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(id >> (56 - 8 * i));
	hex_bytes(out, b, 8);
}

static void u64_str(ots_buf_t *out, uint64_t v)
{
	ots_buf_printf(out, "\"%llu\"", (unsigned long long)v);
}

static void attrs(ots_buf_t *out, const ots_attr_t *a, int n)
{
	ots_buf_puts(out, "[");
	for (int i = 0; i < n; i++) {
		if (i)
			ots_buf_puts(out, ",");
		ots_buf_puts(out, "{\"key\":");
		ots_json_string(out, a[i].key);
		ots_buf_puts(out, ",\"value\":{");
		switch (a[i].type) {
		case OTS_AV_STR:
			ots_buf_puts(out, "\"stringValue\":");
			ots_json_string(out, a[i].s ? a[i].s : "");
			break;
		case OTS_AV_INT:
			ots_buf_printf(out, "\"intValue\":\"%lld\"", (long long)a[i].i);
			break;
		case OTS_AV_BOOL:
			ots_buf_puts(out, a[i].i ? "\"boolValue\":true" : "\"boolValue\":false");
			break;
		case OTS_AV_DOUBLE:
			ots_buf_printf(out, "\"doubleValue\":%.17g", a[i].d);
			break;
		}
		ots_buf_puts(out, "}}");
	}
	ots_buf_puts(out, "]");
}

static void span(ots_buf_t *out, const ots_span_t *s)
{
	ots_buf_puts(out, "{\"traceId\":");
	hex_bytes(out, s->trace_id, 16);
	ots_buf_puts(out, ",\"spanId\":");
	span_id_hex(out, s->span_id);
	if (s->trace_state && *s->trace_state) {
		ots_buf_puts(out, ",\"traceState\":");
		ots_json_string(out, s->trace_state);
	}
	if (s->parent_span_id) {
		ots_buf_puts(out, ",\"parentSpanId\":");
		span_id_hex(out, s->parent_span_id);
	}
	if (s->flags)
		ots_buf_printf(out, ",\"flags\":%u", s->flags);
	ots_buf_puts(out, ",\"name\":");
	ots_json_string(out, s->name ? s->name : "");
	ots_buf_printf(out, ",\"kind\":%d,\"startTimeUnixNano\":", s->kind);
	u64_str(out, s->start_ns);
	ots_buf_puts(out, ",\"endTimeUnixNano\":");
	u64_str(out, s->end_ns);
	if (s->nattrs) {
		ots_buf_puts(out, ",\"attributes\":");
		attrs(out, s->attrs, s->nattrs);
	}
	if (s->nevents) {
		ots_buf_puts(out, ",\"events\":[");
		for (int i = 0; i < s->nevents; i++) {
			const ots_event_t *e = &s->events[i];
			ots_buf_puts(out, i ? ",{\"timeUnixNano\":" : "{\"timeUnixNano\":");
			u64_str(out, e->time_ns);
			ots_buf_puts(out, ",\"name\":");
			ots_json_string(out, e->name);
			if (e->nattrs) {
				ots_buf_puts(out, ",\"attributes\":");
				attrs(out, e->attrs, e->nattrs);
			}
			ots_buf_puts(out, "}");
		}
		ots_buf_puts(out, "]");
	}
	if (s->nlinks) {
		ots_buf_puts(out, ",\"links\":[");
		for (int i = 0; i < s->nlinks; i++) {
			const ots_link_t *l = &s->links[i];
			ots_buf_puts(out, i ? ",{\"traceId\":" : "{\"traceId\":");
			hex_bytes(out, l->trace_id, 16);
			ots_buf_puts(out, ",\"spanId\":");
			span_id_hex(out, l->span_id);
			if (l->nattrs) {
				ots_buf_puts(out, ",\"attributes\":");
				attrs(out, l->attrs, l->nattrs);
			}
			ots_buf_puts(out, "}");
		}
		ots_buf_puts(out, "]");
	}
	if (s->status_code) {
		ots_buf_puts(out, ",\"status\":{");
		if (s->status_msg && *s->status_msg) {
			ots_buf_puts(out, "\"message\":");
			ots_json_string(out, s->status_msg);
			ots_buf_puts(out, ",");
		}
		ots_buf_printf(out, "\"code\":%d}", s->status_code);
	}
	ots_buf_puts(out, "}");
}

void ots_json_encode(ots_buf_t *out, const ots_resource_t *res, const ots_span_t *spans, size_t n)
{
	ots_buf_puts(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":");
	attrs(out, res->attrs, res->nattrs);
	ots_buf_puts(out, "},\"scopeSpans\":[{\"scope\":{\"name\":\"otcshim\",\"version\":\"" OTS_VERSION
			  "\"},\"spans\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			ots_buf_puts(out, ",");
		span(out, &spans[i]);
	}
	ots_buf_puts(out, "]}]}]}");
}
