/* exp.h - internal interfaces of the exporter side (runs only in the exporter
 * thread, or in the exiting thread during the final flush).
 *
 * Records (shim/ots.h) are turned into spans (ots_span_t), a neutral view that
 * every encoder reads: OTLP JSON (exporter/json.c) and OTLP protobuf
 * (exporter/otlp_pb.c). Strings a span points at live in the batch's string
 * arena (ots_buf_t) or are static; nothing is freed span by span.
 */
#ifndef OTS_EXP_H
#define OTS_EXP_H

#include "../shim/ots.h"

#include <stdarg.h>
#include <stdbool.h>

/* A growable byte buffer. Allocation failures set oom and drop further
 * appends; the caller checks oom once at the end. */
typedef struct ots_buf {
	char *data;
	size_t len;
	size_t cap;
	int oom;
} ots_buf_t;

void ots_buf_reserve(ots_buf_t *b, size_t extra);
void ots_buf_append(ots_buf_t *b, const void *p, size_t n);
void ots_buf_puts(ots_buf_t *b, const char *s);
void ots_buf_printf(ots_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ots_buf_free(ots_buf_t *b);
static inline void ots_buf_reset(ots_buf_t *b)
{
	b->len = 0;
	b->oom = 0;
}

/* A string arena: copies strings and hands out stable pointers until reset.
 * Made of fixed chunks so earlier pointers never move. */
typedef struct ots_arena {
	struct ots_arena_chunk *head;
	struct ots_arena_chunk *cur;
} ots_arena_t;
const char *ots_arena_strdup(ots_arena_t *a, const char *s);
const char *ots_arena_printf(ots_arena_t *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void *ots_arena_alloc(ots_arena_t *a, size_t n);
void ots_arena_reset(ots_arena_t *a);
void ots_arena_free(ots_arena_t *a);

typedef enum { OTS_AV_STR = 1, OTS_AV_INT, OTS_AV_BOOL, OTS_AV_DOUBLE } ots_av_type_t;

typedef struct ots_attr {
	const char *key;
	ots_av_type_t type;
	const char *s;
	int64_t i;
	double d;
} ots_attr_t;

#define OTS_SPAN_MAX_ATTRS 16
#define OTS_EVENT_MAX_ATTRS 4
#define OTS_SPAN_MAX_EVENTS 2
#define OTS_SPAN_MAX_LINKS 2
#define OTS_RESOURCE_MAX_ATTRS 64

typedef struct ots_event {
	const char *name;
	uint64_t time_ns;
	ots_attr_t attrs[OTS_EVENT_MAX_ATTRS];
	int nattrs;
} ots_event_t;

typedef struct ots_link {
	uint8_t trace_id[16];
	uint64_t span_id;
	ots_attr_t attrs[OTS_EVENT_MAX_ATTRS];
	int nattrs;
} ots_link_t;

/* Status codes as in OTLP: 0 unset, 1 ok, 2 error. */
typedef struct ots_span {
	uint8_t trace_id[16];
	uint64_t span_id;
	uint64_t parent_span_id; /* 0 = root */
	const char *trace_state; /* or NULL */
	const char *name;
	int kind; /* OTLP SpanKind: 1 internal */
	uint32_t flags; /* OTLP span flags (W3C trace flags in the low byte) */
	uint64_t start_ns;
	uint64_t end_ns;
	ots_attr_t attrs[OTS_SPAN_MAX_ATTRS];
	int nattrs;
	ots_event_t events[OTS_SPAN_MAX_EVENTS];
	int nevents;
	ots_link_t links[OTS_SPAN_MAX_LINKS];
	int nlinks;
	int status_code;
	const char *status_msg;
} ots_span_t;

typedef struct ots_resource {
	ots_attr_t attrs[OTS_RESOURCE_MAX_ATTRS];
	int nattrs;
	ots_arena_t arena;
} ots_resource_t;

/* Attribute helpers: add to a span, silently capped at OTS_SPAN_MAX_ATTRS. A key
 * already present is replaced, so keys stay unique. */
void ots_span_attr_str(ots_span_t *s, const char *key, const char *v);
void ots_span_attr_int(ots_span_t *s, const char *key, int64_t v);
void ots_span_attr_bool(ots_span_t *s, const char *key, bool v);

/* exporter/resource.c: the process resource, built once (and again after fork,
 * for the new pid). */
void ots_resource_build(ots_resource_t *r);
void ots_resource_free(ots_resource_t *r);

/* exporter/span.c: record -> span. Strings go to arena. */
void ots_span_from_rec(const ots_rec_t *r, ots_span_t *out, ots_arena_t *arena);
/* The errno name for a value ("ETIMEDOUT"), or NULL. */
const char *ots_errno_name(int e);

/* exporter/json.c: one TracesData object (no trailing newline) following the
 * OTLP JSON mapping: hex ids, int64 as strings, lowerCamelCase, enums as ints. */
void ots_json_encode(ots_buf_t *out, const ots_resource_t *res, const ots_span_t *spans, size_t n);
/* JSON-escape s into out (with the quotes). */
void ots_json_string(ots_buf_t *out, const char *s);

/* exporter/symbols.c (stack symbolisation, cached per address). Returns a
 * string owned by the cache, valid until ots_symbols_flush_stale. May return
 * "0x..." when nothing resolves. */
const char *ots_sym_frame(uint64_t addr);
/* The bare function name at addr ("worker_main"), or NULL. */
const char *ots_sym_function(uint64_t addr);
/* Name of a global/static object that contains addr (a lock), or NULL. */
const char *ots_sym_object(uint64_t addr);
/* True if addr is inside the shim or libc (frames skipped for code.function.name). */
bool ots_sym_is_internal(uint64_t addr);
void ots_sym_reset(void);

/* Output sinks. Each receives the same encoded batch; a sink's failure does not
 * affect the others. */
typedef struct ots_sink {
	const char *name;
	/* Send a batch; the sink encodes what it needs. Returns 0 or -errno. */
	int (*export)(struct ots_sink *s, const ots_resource_t *res, const ots_span_t *spans,
		      size_t n, uint64_t deadline_mono_ns);
	/* Final flush at shutdown (deadline bound); may be NULL. */
	void (*shutdown)(struct ots_sink *s, uint64_t deadline_mono_ns);
	/* After fork in the child: drop inherited connections without I/O. */
	void (*after_fork)(struct ots_sink *s);
	void *state;
} ots_sink_t;

/* exporter/file.c: OTCSHIM_OUTPUT, one JSON line per batch (O_APPEND). */
ots_sink_t *ots_file_sink_open(const char *path);
/* exporter/http.c: OTLP/HTTP to the configured endpoint(s), NULL if disabled. */
ots_sink_t *ots_http_sink_open(void);

/* exporter/exporter.c: counters. */
typedef struct ots_counters {
	_Atomic uint64_t spans_exported;
	_Atomic uint64_t spans_dropped_queue;
	_Atomic uint64_t spans_dropped_export;
	_Atomic uint64_t spans_rejected;
	_Atomic uint64_t retries;
	_Atomic uint64_t batches_sent;
} ots_counters_t;
extern ots_counters_t ots_counters;

#endif
