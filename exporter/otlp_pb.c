/* otlp_pb.c - OTLP protobuf encoding of a batch of spans, and decoding of the
 * server's answer (partial success).
 *
 * The messages are the protoc-c code generated from proto/ (the project's own
 * copy of the OTLP trace subset, same names and field numbers as
 * opentelemetry-proto): a batch becomes a tree of generated message structs,
 * which is then serialised by walking the generated descriptors.
 *
 * Why not protobuf_c_message_pack() itself: it sizes every nested message
 * again at each enclosing level before writing its length (an attribute
 * value, six levels down, is sized five times), which made encoding a
 * realistic wait span cost 2 us. The packer here does the same walk over
 * the same descriptors in two passes, sizing each message (and measuring
 * each string) once and remembering the results in traversal order, then
 * writing. Its output is byte for byte protobuf-c's (the unit tests pack the
 * decoded request again with protobuf-c and compare), and it handles every
 * field type and label the generated code can describe, proto3 implicit
 * presence and oneofs included.
 *
 * The three wrapping levels of the request (ExportTraceServiceRequest >
 * ResourceSpans > ScopeSpans) are framed here directly, so that every span
 * is sized first and the batch can be cut where a request would exceed the
 * maximum request size.
 *
 * No malloc per span: message structs, pointer arrays and id bytes come from
 * an arena that is reset, not freed, between batches; strings are not copied
 * (the span's own strings are referenced); the size cache and the output
 * buffer keep their memory across batches. Runs in the exporter thread only
 * (or in the exiting thread during the final flush): the state is static
 * and not locked.
 */
#include "exp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_av_t;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Event pb_event_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Link pb_link_t;
typedef Opentelemetry__Proto__Trace__V1__Status pb_status_t;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope_t;

static ots_arena_t arena;
/* per span of the current batch: its message and packed size */
static pb_span_t **msgs;
static size_t *sizes;
static size_t msgs_cap;

static const pb_kv_t kv_init = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
static const pb_av_t av_init = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
static const pb_span_t span_init = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
static const pb_event_t event_init = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
static const pb_link_t link_init = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__LINK__INIT;
static const pb_status_t status_init = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;

/* Wire helpers for the three framing levels. */
static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* A length-delimited field of number 1 or 2 (all we frame) takes one tag byte. */
static size_t field_len(size_t body)
{
	return 1 + varint_len(body) + body;
}

static uint8_t *put_header(uint8_t *p, unsigned field, size_t body)
{
	*p++ = (uint8_t)(field << 3 | 2); /* wire type 2: length-delimited */
	return p + varint_put(p, body);
}

/* ------------------------------------------------------------------------ */
/* The packer: sizes (and string lengths) in pass 1, in traversal order, in
 * the cache; pass 2 writes, reading them back in the same order. */

static size_t *cache;
static size_t cache_len, cache_cap, cache_pos;
static int cache_oom;

static OTS_COLD size_t cache_grow(size_t v);

static inline size_t cache_push(size_t v)
{
	if (ots_likely(cache_len < cache_cap)) {
		cache[cache_len] = v;
		return cache_len++;
	}
	return cache_grow(v);
}

static size_t cache_grow(size_t v)
{
	if (cache_len == cache_cap) {
		size_t cap = cache_cap ? cache_cap * 2 : 4096;
		size_t *c = realloc(cache, cap * sizeof *c);
		if (!c) {
			cache_oom = 1;
			return cache_len;
		}
		cache = c;
		cache_cap = cap;
	}
	cache[cache_len] = v;
	return cache_len++;
}

static size_t tag_len(uint32_t id)
{
	return varint_len((uint64_t)id << 3);
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	return p + varint_put(p, v);
}

static uint8_t *put_tag(uint8_t *p, uint32_t id, unsigned wire)
{
	return put_varint(p, (uint64_t)id << 3 | wire);
}

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + n;
}

/* Strings. Protobuf strings must be UTF-8 (a receiver may reject the whole
 * request otherwise), so each is measured as it will be written: with U+FFFD
 * for what is ill-formed (shim/utf8.c). Its cache entry is that length, with
 * STR_FIXED set in the rare case where the bytes differ from the string's
 * own and pass 2 must write them through ots_utf8_fix. */
#define STR_FIXED ((size_t)1 << (sizeof(size_t) * 8 - 1))

static inline __attribute__((always_inline)) size_t str_push(const char *str)
{
	size_t n = strlen(str);
	if (ots_likely(ots_utf8_prefix(str, n, NULL) == n)) {
		cache_push(n);
		return n;
	}
	size_t len = ots_utf8_fixed_len(str, n);
	cache_push(len | STR_FIXED);
	return len;
}

/* Length prefix and bytes of a string measured by str_push. */
static inline __attribute__((always_inline)) uint8_t *str_write(uint8_t *p, const char *str)
{
	size_t v = cache[cache_pos++], len = v & ~STR_FIXED;
	p = put_varint(p, len);
	if (ots_unlikely(v & STR_FIXED))
		return (uint8_t *)ots_utf8_fix((char *)p, str, strlen(str));
	memcpy(p, str, len);
	return p + len;
}

static uint64_t zigzag32(int32_t v)
{
	return (uint32_t)((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static uint64_t zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static size_t elem_size(const ProtobufCFieldDescriptor *f, const void *m);
static uint8_t *elem_pack(const ProtobufCFieldDescriptor *f, const void *m, uint8_t *p);
static size_t msg_size(const ProtobufCMessage *msg);
static uint8_t *msg_pack(const ProtobufCMessage *msg, uint8_t *p);

/* Proto3 implicit presence: a field at its zero value is not written. */
static inline __attribute__((always_inline)) int is_zero(const ProtobufCFieldDescriptor *f,
						       const void *m)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)m == 0;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return *(const uint32_t *)m == 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)m == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)m == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)m == 0;
	case PROTOBUF_C_TYPE_STRING:
		return !*(char *const *)m || !**(char *const *)m;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)m)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)m == NULL;
	}
	return 1;
}

/* Is the (non-repeated) field written at all? */
static inline __attribute__((always_inline)) int present(const ProtobufCMessage *msg,
						       const ProtobufCFieldDescriptor *f,
						       const void *member)
{
	const char *base = (const char *)msg;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
			return 0;
		return !((f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) &&
			 *(void *const *)member == NULL);
	}
	switch (f->label) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return 1;
	case PROTOBUF_C_LABEL_OPTIONAL:
		if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
			return *(void *const *)member != NULL;
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
	default: /* PROTOBUF_C_LABEL_NONE: proto3 */
		return !is_zero(f, member);
	}
}

static unsigned wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

/* The members of a oneof sit next to each other in the descriptor (they share
 * the case word). Given the first member of such a run at index i, return
 * the one that is set (or NULL) and store the index past the run in *next:
 * one check of the case word instead of one per member. */
static inline const ProtobufCFieldDescriptor *oneof_run(const ProtobufCMessageDescriptor *d,
							 const ProtobufCMessage *msg, unsigned i,
							 unsigned *next)
{
	const ProtobufCFieldDescriptor *f = &d->fields[i], *hit = NULL;
	uint32_t c = *(const uint32_t *)((const char *)msg + f->quantifier_offset);
	unsigned j = i;
	for (; j < d->n_fields && (d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	       d->fields[j].quantifier_offset == f->quantifier_offset;
	     j++)
		if (d->fields[j].id == c)
			hit = &d->fields[j];
	*next = j;
	return hit;
}

/* Size of one element of a repeated field's C array (pointers for messages
 * and strings, the C type's size otherwise). */
static size_t repeated_elem_size(const ProtobufCFieldDescriptor *f)
{
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
		return sizeof(void *);
	if (f->type == PROTOBUF_C_TYPE_BYTES)
		return sizeof(ProtobufCBinaryData);
	if (wire_type(f->type) == 1 || f->type == PROTOBUF_C_TYPE_INT64 ||
	    f->type == PROTOBUF_C_TYPE_SINT64 || f->type == PROTOBUF_C_TYPE_UINT64)
		return 8;
	if (f->type == PROTOBUF_C_TYPE_BOOL)
		return sizeof(protobuf_c_boolean);
	return 4;
}

static size_t msg_size_generic(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	size_t slot = cache_push(0), sz = 0;
	for (unsigned i = 0, next; i < d->n_fields; i = next) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		next = i + 1;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF && !(f = oneof_run(d, msg, i, &next)))
			continue;
		const char *member = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
			if (!n)
				continue;
			const char *arr = *(char *const *)member;
			size_t esz = repeated_elem_size(f);
			if (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) {
				size_t body = 0;
				for (size_t k = 0; k < n; k++)
					body += elem_size(f, arr + k * esz);
				cache_push(body);
				sz += tag_len(f->id) + varint_len(body) + body;
			} else {
				for (size_t k = 0; k < n; k++)
					sz += tag_len(f->id) + elem_size(f, arr + k * esz);
			}
			continue;
		}
		if (!present(msg, f, member))
			continue;
		sz += tag_len(f->id) + elem_size(f, member);
	}
	if (slot < cache_len)
		cache[slot] = sz;
	return sz;
}

/* Size of one value without its tag (length prefix included). */
static size_t elem_size(const ProtobufCFieldDescriptor *f, const void *m)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return 1;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t v = *(const int32_t *)m;
		return v < 0 ? 10 : varint_len((uint32_t)v);
	}
	case PROTOBUF_C_TYPE_SINT32:
		return varint_len(zigzag32(*(const int32_t *)m));
	case PROTOBUF_C_TYPE_UINT32:
		return varint_len(*(const uint32_t *)m);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
		return varint_len(*(const uint64_t *)m);
	case PROTOBUF_C_TYPE_SINT64:
		return varint_len(zigzag64(*(const int64_t *)m));
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 4;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING: {
		const char *str = *(char *const *)m;
		size_t len = str_push(str ? str : "");
		return varint_len(len) + len;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		size_t len = ((const ProtobufCBinaryData *)m)->len;
		return varint_len(len) + len;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)m;
		size_t len = sub ? msg_size(sub) : 0;
		if (!sub)
			cache_push(0);
		return varint_len(len) + len;
	}
	}
	return 0;
}

static uint8_t *msg_pack_generic(const ProtobufCMessage *msg, uint8_t *p)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	cache_pos++; /* our own size, already written by the caller */
	for (unsigned i = 0, next; i < d->n_fields; i = next) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		next = i + 1;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF && !(f = oneof_run(d, msg, i, &next)))
			continue;
		const char *member = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
			if (!n)
				continue;
			const char *arr = *(char *const *)member;
			size_t esz = repeated_elem_size(f);
			if (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) {
				p = put_tag(p, f->id, 2);
				p = put_varint(p, cache[cache_pos++]);
				for (size_t k = 0; k < n; k++)
					p = elem_pack(f, arr + k * esz, p);
			} else {
				for (size_t k = 0; k < n; k++) {
					p = put_tag(p, f->id, wire_type(f->type));
					p = elem_pack(f, arr + k * esz, p);
				}
			}
			continue;
		}
		if (!present(msg, f, member))
			continue;
		p = put_tag(p, f->id, wire_type(f->type));
		p = elem_pack(f, member, p);
	}
	return p;
}

static uint8_t *elem_pack(const ProtobufCFieldDescriptor *f, const void *m, uint8_t *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		*p++ = *(const protobuf_c_boolean *)m ? 1 : 0;
		return p;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		return put_varint(p, (uint64_t)(int64_t) * (const int32_t *)m);
	case PROTOBUF_C_TYPE_SINT32:
		return put_varint(p, zigzag32(*(const int32_t *)m));
	case PROTOBUF_C_TYPE_UINT32:
		return put_varint(p, *(const uint32_t *)m);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
		return put_varint(p, *(const uint64_t *)m);
	case PROTOBUF_C_TYPE_SINT64:
		return put_varint(p, zigzag64(*(const int64_t *)m));
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT: {
		uint32_t v;
		memcpy(&v, m, 4);
		return put_le(p, v, 4);
	}
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE: {
		uint64_t v;
		memcpy(&v, m, 8);
		return put_le(p, v, 8);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *str = *(char *const *)m;
		return str_write(p, str ? str : "");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = m;
		p = put_varint(p, b->len);
		if (b->len)
			memcpy(p, b->data, b->len);
		return p + b->len;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)m;
		p = put_varint(p, cache[cache_pos]);
		if (!sub) {
			cache_pos++;
			return p;
		}
		return msg_pack(sub, p);
	}
	}
	return p;
}

/* KeyValue with a scalar AnyValue is most of what we send (7 of every 10
 * messages), and every span a Span: for these two the same walk is unrolled. It pushes and pops exactly what
 * the generic walk would, so the two mix freely; other values (arrays, maps,
 * bytes) go the generic way. */
#define AV_(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x
static size_t msg_size_generic(const ProtobufCMessage *msg);
static uint8_t *msg_pack_generic(const ProtobufCMessage *msg, uint8_t *p);

static size_t av_size(const pb_av_t *av)
{
	switch (av->value_case) {
	case AV_(STRING_VALUE): {
		size_t slot = cache_push(0);
		if (!av->string_value)
			return 0;
		size_t len = str_push(av->string_value);
		size_t sz = 1 + varint_len(len) + len;
		if (slot < cache_len)
			cache[slot] = sz;
		return sz;
	}
	case AV_(INT_VALUE): {
		size_t sz = 1 + varint_len((uint64_t)av->int_value);
		cache_push(sz);
		return sz;
	}
	case AV_(BOOL_VALUE):
		cache_push(2);
		return 2;
	case AV_(DOUBLE_VALUE):
		cache_push(9);
		return 9;
	default:
		return msg_size_generic(&av->base);
	}
}

static size_t kv_size(const pb_kv_t *kv)
{
	size_t slot = cache_push(0), sz = 0;
	if (kv->key && *kv->key) {
		size_t len = str_push(kv->key);
		sz += 1 + varint_len(len) + len;
	}
	if (kv->value) {
		size_t v = av_size(kv->value);
		sz += 1 + varint_len(v) + v;
	}
	if (slot < cache_len)
		cache[slot] = sz;
	return sz;
}

static uint8_t *av_pack(const pb_av_t *av, uint8_t *p)
{
	switch (av->value_case) {
	case AV_(STRING_VALUE): {
		cache_pos++;
		if (!av->string_value)
			return p;
		*p++ = 0x0a;
		return str_write(p, av->string_value);
	}
	case AV_(INT_VALUE):
		cache_pos++;
		*p++ = 0x18;
		return put_varint(p, (uint64_t)av->int_value);
	case AV_(BOOL_VALUE):
		cache_pos++;
		*p++ = 0x10;
		*p++ = av->bool_value ? 1 : 0;
		return p;
	case AV_(DOUBLE_VALUE): {
		cache_pos++;
		uint64_t v;
		memcpy(&v, &av->double_value, 8);
		*p++ = 0x21;
		return put_le(p, v, 8);
	}
	default:
		return msg_pack_generic(&av->base, p);
	}
}

static uint8_t *kv_pack(const pb_kv_t *kv, uint8_t *p)
{
	cache_pos++;
	if (kv->key && *kv->key) {
		*p++ = 0x0a;
		p = str_write(p, kv->key);
	}
	if (kv->value) {
		*p++ = 0x12;
		p = put_varint(p, cache[cache_pos]);
		p = av_pack(kv->value, p);
	}
	return p;
}

/* Span: the same walk unrolled, in field-number order (flags, 16, last);
 * events, links and status go the generic way. */
static size_t str_size(const char *str)
{
	if (!str || !*str)
		return 0;
	size_t len = str_push(str);
	return 1 + varint_len(len) + len;
}

static size_t bytes_size(const ProtobufCBinaryData *b)
{
	return b->len ? 1 + varint_len(b->len) + b->len : 0;
}

static size_t span_size(const pb_span_t *m)
{
	size_t slot = cache_push(0), sz = 0;
	sz += bytes_size(&m->trace_id) + bytes_size(&m->span_id);
	sz += str_size(m->trace_state);
	sz += bytes_size(&m->parent_span_id);
	sz += str_size(m->name);
	if (m->kind)
		sz += 1 + ((int32_t)m->kind < 0 ? 10 : varint_len((uint32_t)m->kind));
	if (m->start_time_unix_nano)
		sz += 9;
	if (m->end_time_unix_nano)
		sz += 9;
	for (size_t i = 0; i < m->n_attributes; i++) {
		size_t v = kv_size(m->attributes[i]);
		sz += 1 + varint_len(v) + v;
	}
	if (m->dropped_attributes_count)
		sz += 1 + varint_len(m->dropped_attributes_count);
	for (size_t i = 0; i < m->n_events; i++) {
		size_t v = msg_size_generic(&m->events[i]->base);
		sz += 1 + varint_len(v) + v;
	}
	if (m->dropped_events_count)
		sz += 1 + varint_len(m->dropped_events_count);
	for (size_t i = 0; i < m->n_links; i++) {
		size_t v = msg_size_generic(&m->links[i]->base);
		sz += 1 + varint_len(v) + v;
	}
	if (m->dropped_links_count)
		sz += 1 + varint_len(m->dropped_links_count);
	if (m->status) {
		size_t v = msg_size_generic(&m->status->base);
		sz += 1 + varint_len(v) + v;
	}
	if (m->flags)
		sz += 2 + 4; /* tag of field 16 takes two bytes */
	if (slot < cache_len)
		cache[slot] = sz;
	return sz;
}

static uint8_t *put_bytes(uint8_t *p, uint8_t tag, const ProtobufCBinaryData *b)
{
	if (!b->len)
		return p;
	*p++ = tag;
	p = put_varint(p, b->len);
	memcpy(p, b->data, b->len);
	return p + b->len;
}

static uint8_t *put_str(uint8_t *p, uint8_t tag, const char *str)
{
	if (!str || !*str)
		return p;
	*p++ = tag;
	return str_write(p, str);
}

static uint8_t *put_sub(uint8_t *p, uint8_t tag, const ProtobufCMessage *sub, int kv)
{
	*p++ = tag;
	p = put_varint(p, cache[cache_pos]);
	return kv ? kv_pack((const pb_kv_t *)sub, p) : msg_pack_generic(sub, p);
}

static uint8_t *span_pack(const pb_span_t *m, uint8_t *p)
{
	cache_pos++;
	p = put_bytes(p, 0x0a, &m->trace_id);
	p = put_bytes(p, 0x12, &m->span_id);
	p = put_str(p, 0x1a, m->trace_state);
	p = put_bytes(p, 0x22, &m->parent_span_id);
	p = put_str(p, 0x2a, m->name);
	if (m->kind) {
		*p++ = 0x30;
		p = put_varint(p, (uint64_t)(int64_t)(int32_t)m->kind);
	}
	if (m->start_time_unix_nano) {
		*p++ = 0x39;
		p = put_le(p, m->start_time_unix_nano, 8);
	}
	if (m->end_time_unix_nano) {
		*p++ = 0x41;
		p = put_le(p, m->end_time_unix_nano, 8);
	}
	for (size_t i = 0; i < m->n_attributes; i++)
		p = put_sub(p, 0x4a, &m->attributes[i]->base, 1);
	if (m->dropped_attributes_count) {
		*p++ = 0x50;
		p = put_varint(p, m->dropped_attributes_count);
	}
	for (size_t i = 0; i < m->n_events; i++)
		p = put_sub(p, 0x5a, &m->events[i]->base, 0);
	if (m->dropped_events_count) {
		*p++ = 0x60;
		p = put_varint(p, m->dropped_events_count);
	}
	for (size_t i = 0; i < m->n_links; i++)
		p = put_sub(p, 0x6a, &m->links[i]->base, 0);
	if (m->dropped_links_count) {
		*p++ = 0x70;
		p = put_varint(p, m->dropped_links_count);
	}
	if (m->status)
		p = put_sub(p, 0x7a, &m->status->base, 0);
	if (m->flags) {
		*p++ = 0x85; /* field 16, wire type 5: (16 << 3 | 5) as a varint */
		*p++ = 0x01;
		p = put_le(p, m->flags, 4);
	}
	return p;
}

static size_t msg_size(const ProtobufCMessage *msg)
{
	if (msg->descriptor == &opentelemetry__proto__common__v1__key_value__descriptor)
		return kv_size((const pb_kv_t *)msg);
	if (msg->descriptor == &opentelemetry__proto__trace__v1__span__descriptor)
		return span_size((const pb_span_t *)msg);
	return msg_size_generic(msg);
}

static uint8_t *msg_pack(const ProtobufCMessage *msg, uint8_t *p)
{
	if (msg->descriptor == &opentelemetry__proto__common__v1__key_value__descriptor)
		return kv_pack((const pb_kv_t *)msg, p);
	if (msg->descriptor == &opentelemetry__proto__trace__v1__span__descriptor)
		return span_pack((const pb_span_t *)msg, p);
	return msg_pack_generic(msg, p);
}

/* Pack a message whose size (pass 1) is next in the cache. */
static uint8_t *pack_sized(const ProtobufCMessage *msg, uint8_t *p)
{
	return msg_pack(msg, p);
}

static void id_bytes(uint8_t out[8], uint64_t id)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(id >> (56 - 8 * i));
}

/* Attributes: one arena block holding the pointer array, the KeyValues and
 * the AnyValues. Returns NULL when out of memory. */
static pb_kv_t **build_attrs(const ots_attr_t *a, int n)
{
	if (n <= 0)
		return NULL;
	char *blk = ots_arena_alloc(&arena, (size_t)n * (sizeof(pb_kv_t *) + sizeof(pb_kv_t) +
							 sizeof(pb_av_t)));
	if (!blk)
		return NULL;
	pb_kv_t **ptrs = (pb_kv_t **)blk;
	pb_kv_t *kvs = (pb_kv_t *)(blk + (size_t)n * sizeof(pb_kv_t *));
	pb_av_t *avs = (pb_av_t *)(kvs + n);
	for (int i = 0; i < n; i++) {
		pb_kv_t *kv = &kvs[i];
		pb_av_t *av = &avs[i];
		*kv = kv_init;
		*av = av_init;
		kv->key = (char *)a[i].key;
		kv->value = av;
		switch (a[i].type) {
		case OTS_AV_STR:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			av->string_value = (char *)(a[i].s ? a[i].s : "");
			break;
		case OTS_AV_INT:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			av->int_value = a[i].i;
			break;
		case OTS_AV_BOOL:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
			av->bool_value = a[i].i != 0;
			break;
		case OTS_AV_DOUBLE:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
			av->double_value = a[i].d;
			break;
		default: /* unknown type: an empty string rather than an invalid oneof */
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			av->string_value = (char *)"";
			break;
		}
		ptrs[i] = kv;
	}
	return ptrs;
}

static pb_span_t *build_span(const ots_span_t *s)
{
	pb_span_t *m = ots_arena_alloc(&arena, sizeof *m + 24);
	if (!m)
		return NULL;
	*m = span_init;
	uint8_t *ids = (uint8_t *)(m + 1); /* 8 span id + 8 parent id (+8 spare) */
	m->trace_id.data = (uint8_t *)s->trace_id;
	m->trace_id.len = 16;
	id_bytes(ids, s->span_id);
	m->span_id.data = ids;
	m->span_id.len = 8;
	if (s->parent_span_id) {
		id_bytes(ids + 8, s->parent_span_id);
		m->parent_span_id.data = ids + 8;
		m->parent_span_id.len = 8;
	}
	if (s->trace_state && *s->trace_state)
		m->trace_state = (char *)s->trace_state;
	m->flags = s->flags;
	m->name = (char *)(s->name ? s->name : "");
	m->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
	m->start_time_unix_nano = s->start_ns;
	m->end_time_unix_nano = s->end_ns;
	if (s->nattrs > 0) {
		if (!(m->attributes = build_attrs(s->attrs, s->nattrs)))
			return NULL;
		m->n_attributes = (size_t)s->nattrs;
	}
	if (s->nevents > 0) {
		int n = s->nevents;
		char *blk = ots_arena_alloc(&arena, (size_t)n * (sizeof(pb_event_t *) +
								  sizeof(pb_event_t)));
		if (!blk)
			return NULL;
		pb_event_t **ptrs = (pb_event_t **)blk;
		pb_event_t *evs = (pb_event_t *)(blk + (size_t)n * sizeof(pb_event_t *));
		for (int i = 0; i < n; i++) {
			const ots_event_t *e = &s->events[i];
			evs[i] = event_init;
			evs[i].time_unix_nano = e->time_ns;
			evs[i].name = (char *)(e->name ? e->name : "");
			if (e->nattrs > 0) {
				if (!(evs[i].attributes = build_attrs(e->attrs, e->nattrs)))
					return NULL;
				evs[i].n_attributes = (size_t)e->nattrs;
			}
			ptrs[i] = &evs[i];
		}
		m->events = ptrs;
		m->n_events = (size_t)n;
	}
	if (s->nlinks > 0) {
		int n = s->nlinks;
		char *blk = ots_arena_alloc(&arena, (size_t)n * (sizeof(pb_link_t *) +
								  sizeof(pb_link_t) + 8));
		if (!blk)
			return NULL;
		pb_link_t **ptrs = (pb_link_t **)blk;
		pb_link_t *lks = (pb_link_t *)(blk + (size_t)n * sizeof(pb_link_t *));
		uint8_t *lid = (uint8_t *)(lks + n);
		for (int i = 0; i < n; i++) {
			const ots_link_t *l = &s->links[i];
			lks[i] = link_init;
			lks[i].trace_id.data = (uint8_t *)l->trace_id;
			lks[i].trace_id.len = 16;
			id_bytes(lid + 8 * i, l->span_id);
			lks[i].span_id.data = lid + 8 * i;
			lks[i].span_id.len = 8;
			if (l->nattrs > 0) {
				if (!(lks[i].attributes = build_attrs(l->attrs, l->nattrs)))
					return NULL;
				lks[i].n_attributes = (size_t)l->nattrs;
			}
			ptrs[i] = &lks[i];
		}
		m->links = ptrs;
		m->n_links = (size_t)n;
	}
	if (s->status_code) {
		pb_status_t *st = ots_arena_alloc(&arena, sizeof *st);
		if (!st)
			return NULL;
		*st = status_init;
		st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)s->status_code;
		if (s->status_msg && *s->status_msg)
			st->message = (char *)s->status_msg;
		m->status = st;
	}
	return m;
}

static int grow_scratch(size_t n)
{
	if (n <= msgs_cap)
		return 0;
	size_t cap = msgs_cap ? msgs_cap : 256;
	while (cap < n)
		cap *= 2;
	pb_span_t **m = realloc(msgs, cap * sizeof *m);
	if (!m)
		return -ENOMEM;
	msgs = m;
	size_t *sz = realloc(sizes, cap * sizeof *sz);
	if (!sz)
		return -ENOMEM;
	sizes = sz;
	msgs_cap = cap;
	return 0;
}

size_t ots_otlp_encode(ots_buf_t *out, const ots_resource_t *res, const ots_span_t *spans,
		       size_t n, size_t max_bytes)
{
	if (!n || grow_scratch(n) < 0)
		return 0;
	ots_arena_reset(&arena);
	cache_len = cache_pos = 0;
	cache_oom = 0;

	/* pass 1: build and size the resource, the scope and every span */
	pb_resource_t rm = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	if (res && res->nattrs > 0) {
		if (!(rm.attributes = build_attrs(res->attrs, res->nattrs)))
			return 0;
		rm.n_attributes = (size_t)res->nattrs;
	}
	pb_scope_t sm = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	sm.name = (char *)"otcshim";
	sm.version = (char *)OTS_VERSION;
	size_t res_len = msg_size(&rm.base);
	size_t scope_len = msg_size(&sm.base);
	/* stop before the span that would overflow max_bytes; worst case framing
	 * of the three levels: 3 * (1 tag + 10 varint) */
	size_t fixed = field_len(res_len) + field_len(scope_len) + 33;
	size_t spans_len = 0, k;
	for (k = 0; k < n; k++) {
		pb_span_t *m = build_span(&spans[k]);
		if (!m)
			return 0;
		size_t mark = cache_len;
		size_t sz = msg_size(&m->base);
		size_t add = field_len(sz);
		if (max_bytes && k > 0 && fixed + spans_len + add > max_bytes) {
			cache_len = mark;
			break;
		}
		msgs[k] = m;
		sizes[k] = sz;
		spans_len += add;
	}
	if (cache_oom)
		return 0;

	/* pass 2: write */
	size_t ss_len = field_len(scope_len) + spans_len;
	size_t rs_len = field_len(res_len) + field_len(ss_len);
	size_t total = field_len(rs_len);
	ots_buf_reserve(out, total + 1);
	if (out->oom)
		return 0;
	uint8_t *p0 = (uint8_t *)out->data + out->len, *p = p0;
	p = put_header(p, 1, rs_len);  /* ExportTraceServiceRequest.resource_spans */
	p = put_header(p, 1, res_len); /* ResourceSpans.resource */
	p = pack_sized(&rm.base, p);
	p = put_header(p, 2, ss_len);    /* ResourceSpans.scope_spans */
	p = put_header(p, 1, scope_len); /* ScopeSpans.scope */
	p = pack_sized(&sm.base, p);
	for (size_t i = 0; i < k; i++) {
		p = put_header(p, 2, sizes[i]); /* ScopeSpans.spans */
		p = pack_sized(&msgs[i]->base, p);
	}
	if ((size_t)(p - p0) != total || cache_pos != cache_len) {
		OTS_WARN("protobuf encoding size mismatch (%zu != %zu); batch dropped",
			 (size_t)(p - p0), total);
		return 0;
	}
	out->len += total;
	out->data[out->len] = '\0';
	return k;
}

int ots_otlp_parse_response(const void *data, size_t len, int64_t *rejected, char *msg,
			    size_t msg_size)
{
	*rejected = 0;
	if (msg_size)
		msg[0] = '\0';
	if (!len)
		return 0; /* an empty body is a full success */
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
		opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
			NULL, len, data);
	if (!r)
		return -EINVAL;
	if (r->partial_success) {
		*rejected = r->partial_success->rejected_spans;
		const char *m = r->partial_success->error_message;
		if (m && msg_size) {
			size_t l = strlen(m);
			if (l >= msg_size)
				l = msg_size - 1;
			memcpy(msg, m, l);
			msg[l] = '\0';
		}
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
		r, NULL);
	return 0;
}

void ots_otlp_free(void)
{
	ots_arena_free(&arena);
	free(cache);
	cache = NULL;
	cache_len = cache_cap = cache_pos = 0;
	free(msgs);
	free(sizes);
	msgs = NULL;
	sizes = NULL;
	msgs_cap = 0;
}
