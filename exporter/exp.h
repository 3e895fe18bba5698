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
/* Append s[0..n) with U+FFFD for what is not well-formed UTF-8. */
void ots_buf_put_utf8(ots_buf_t *b, const char *s, size_t n);
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

/* exporter/symbols.c (stack symbolisation, cached per address, shared by all
 * spans and the report; safe to call from the exporter thread and the exiting
 * thread). Strings returned are owned by the cache and stay valid at least
 * until the module set changes twice (dlopen/dlclose) or ots_sym_reset; copy
 * them before keeping them. */
/* A stack frame (a return address): "fn+0x1c (module) file.c:42", or
 * "fn+0x1c (module)" without debug info, or "0x... (module+0x...)", or "0x...". */
const char *ots_sym_frame(uint64_t addr);
/* The bare function name at addr ("worker_main"), or NULL. */
const char *ots_sym_function(uint64_t addr);
/* Name of the global or static object that contains addr ("cache_lock",
 * "table+0x28"); failing that "@fn", fn being the first function outside the
 * shim and libc that waited on it (from the lock registry); or NULL. */
const char *ots_sym_object(uint64_t addr);
/* The name of the object a wait of op is on (its symbol), NULL when it has
 * none or is a thread (a join). */
static inline const char *ots_wait_object_name(unsigned op, uint64_t obj)
{
	return ots_op_is_join(op) ? NULL : ots_sym_object(obj);
}
/* True if addr is inside the shim or libc (frames skipped for code.function.name). */
bool ots_sym_is_internal(uint64_t addr);
/* Everything known about a code address, for the report. Fields may be NULL/0. */
typedef struct ots_sym_info {
	const char *function; /* demangled when the process carries a C++ runtime */
	uint64_t offset;      /* addr - function start */
	const char *module;   /* basename of the object file */
	uint64_t module_offset; /* addr - load bias */
	const char *file;     /* source file (as the line table has it) */
	int line;
	bool internal;
} ots_sym_info_t;
void ots_sym_info(uint64_t addr, ots_sym_info_t *out);
/* From now on, stop resolving new addresses with libdw after deadline
 * (monotonic ns; 0 = no limit): past it only dladdr is used. The report sets
 * it so exit stays bounded. */
void ots_sym_set_deadline(uint64_t deadline_mono_ns);
/* The end of a symbolisation pass (a batch converted, the report built): the
 * line tables opened for it are dropped (unmapped, libdw's state freed); the
 * compact symbol tables and the cache stay. Cheap when nothing is open. */
void ots_sym_release(void);
/* Forget every cached symbol and table (tests; not while another thread may
 * be resolving). */
void ots_sym_reset(void);
/* Child after fork: if the parent's exporter was resolving when the fork
 * happened, its half-updated cache is abandoned (leaked), not used. */
void ots_sym_after_fork(void);

/* exporter/report.c: the contention report (ots_report_at_exit in ots.h writes
 * it where OTCSHIM_REPORT says). Builds the report of the registry as it is
 * now into out: text for a 100-column terminal, or JSON. */
void ots_report_build(ots_buf_t *out, int json);

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
	/* Asynchronous sinks only (OTLP/HTTP), NULL for the others: export() just
	 * queues the batch and the sink counts its outcome in ots_counters itself.
	 * The exporter thread sleeps here instead of in poll(): wait returns when
	 * wake_fd is readable or at until_mono_ns, having moved the sink's
	 * transfers and retries forward meanwhile. */
	void (*wait)(struct ots_sink *s, int wake_fd, uint64_t until_mono_ns);
	/* Spans accepted and not yet written (asynchronous sinks; may be NULL).
	 * Read at the shutdown timeout from another thread: an estimate. */
	size_t (*pending)(struct ots_sink *s);
} ots_sink_t;

/* exporter/file.c: OTCSHIM_OUTPUT, one JSON line per batch (O_APPEND). */
ots_sink_t *ots_file_sink_open(const char *path);
/* exporter/http.c: OTLP/HTTP to the configured endpoint(s), NULL if disabled. */
ots_sink_t *ots_http_sink_open(void);
/* exporter/tlsinit.c: tell the host's OpenSSL (if it has one) not to clean
 * itself up at exit. Cheap, idempotent; called when the exporter starts. */
void ots_tls_preinit(void);
/* exporter/load.c (libotcshim.so only): where the plugins are, found at init. */
void ots_plugins_init(void);
/* exporter/load.c: that directory ("" when unknown). Weak where used, since
 * the static core has no load.c. */
const char *ots_plugins_dir(void);
/* exporter/relay.c: the OTLP sink of a process whose transport was never set
 * up before exit: hands the spans to otcshim-send, a helper process that
 * sends them. NULL (with a message) if the helper cannot be started, or in
 * the static core (no ots_plugins_dir). deadline: the final flush's. */
ots_sink_t *ots_relay_sink_open(uint64_t deadline_mono_ns);
/* Helpers of http.c, exposed for unit tests. */
enum { OTS_HTTP_DONE = 0, OTS_HTTP_RETRY = 1, OTS_HTTP_FAIL = 2 };
/* What to do with an answer: curl_code is a CURLcode, status the HTTP status. */
int ots_http_classify(int curl_code, long status);
/* Backoff before retry number attempt (1, 2, ...): drawn from [d/2, d] with
 * d = 200 ms * 2^(attempt-1), at most 5 s; rnd is any random number. */
uint64_t ots_http_backoff_ns(uint32_t attempt, uint64_t rnd);
/* A Retry-After value (delta-seconds or HTTP-date) as seconds from now_unix,
 * or -1 if it does not parse. */
int64_t ots_http_retry_after(const char *value, int64_t now_unix);
/* OTEL_EXPORTER_OTLP_HEADERS to "Name: value" lines (emit is called for each);
 * returns the number of members refused (CR/LF, bad name, framing headers). */
int ots_http_header_lines(const char *raw, void (*emit)(const char *line, void *arg), void *arg);
/* partial_success of a JSON ExportTraceServiceResponse. 0 (rejected = 0 when
 * absent). */
int ots_http_json_partial(const char *body, size_t len, int64_t *rejected, char *msg,
			  size_t msg_size);
/* gzip (RFC 1952) len bytes of in, appended to out. 0 or -errno. */
int ots_http_gzip(ots_buf_t *out, const void *in, size_t len);
/* Largest request body before compression (default 4 MiB); a batch that would
 * exceed it is split. */
extern size_t ots_http_max_request;

/* exporter/otlp_pb.c: OTLP protobuf. Appends to out one ExportTraceServiceRequest
 * holding the longest prefix of spans[0..n) that fits in max_bytes (0 = no
 * limit; one span is always taken). Returns the number of spans encoded, 0 when
 * out of memory. Message structs come from an arena reused across calls. */
size_t ots_otlp_encode(ots_buf_t *out, const ots_resource_t *res, const ots_span_t *spans,
		       size_t n, size_t max_bytes);
/* Decode an ExportTraceServiceResponse: spans rejected and the server's
 * message (partial success). 0, or -EINVAL if it does not decode. */
int ots_otlp_parse_response(const void *data, size_t len, int64_t *rejected, char *msg,
			    size_t msg_size);
/* Release the encoder's arena (tests, leak checkers). */
void ots_otlp_free(void);

/* exporter/exporter.c: counters. Spans are counted once per OTLP endpoint (a
 * span sent to two endpoints counts twice); OTCSHIM_OUTPUT only counts its
 * failures (spans_dropped_status). */
typedef struct ots_counters {
	_Atomic uint64_t spans_exported;       /* accepted by an OTLP endpoint */
	_Atomic uint64_t spans_dropped_queue;  /* backlog full: oldest batch dropped */
	_Atomic uint64_t spans_dropped_export; /* retry budget (OTEL_BSP_EXPORT_TIMEOUT) ran out */
	_Atomic uint64_t spans_rejected;       /* partial_success.rejected_spans */
	_Atomic uint64_t retries;              /* attempts repeated */
	_Atomic uint64_t batches_sent;
	_Atomic uint64_t spans_dropped_status; /* not retryable: 4xx, TLS, write error */
	_Atomic uint64_t spans_dropped_shutdown; /* unsent when the shutdown timeout ended */
} ots_counters_t;
extern ots_counters_t ots_counters;

#include "plugin.h"

#endif
