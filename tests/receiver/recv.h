/* recv.h - drive the test OTLP receiver (tests/receiver/otlp_receiver.py) from
 * Criterion tests, and read back what it got.
 *
 * Every test starts its own receiver on a port the OS picks, so tests run in
 * parallel without clashing. The receiver saves each request in a fresh
 * temporary directory, removed by trecv_stop. Implemented in
 * tests/integration/test_otlp_recv.c.
 */
#ifndef OTS_RECV_H
#define OTS_RECV_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest treq_t;

typedef struct trecv {
	pid_t pid;
	int port;
	int stdin_fd;    /* our end of its stdin: closing it stops the receiver */
	char dir[128];   /* where it saves requests */
	char base[64];   /* http://127.0.0.1:PORT */
	char url[96];    /* base + /v1/traces */
} trecv_t;

/* Start a receiver. script: comma-separated actions for the first requests
 * (NULL = none), dflt: the action for the rest (NULL = "ok"), extra: more
 * arguments (NULL, or e.g. "--tls cert key"), split on spaces. 0 or -1. */
int trecv_start(trecv_t *r, const char *script, const char *dflt, const char *extra);
void trecv_stop(trecv_t *r);
/* Requests saved so far. */
int trecv_count(const trecv_t *r);
/* Wait until at least n requests are saved or timeout_ms passes; returns the
 * count. */
int trecv_wait(const trecv_t *r, int n, int timeout_ms);
/* The metadata of request seq (caller frees with cJSON_Delete), or NULL. */
cJSON *trecv_meta(const trecv_t *r, int seq);
/* A header of a request's metadata (case-insensitive name), or NULL. */
const char *trecv_header(const cJSON *meta, const char *name);
/* Body of request seq (gunzipped when plain and it was gzip). malloc'd. */
char *trecv_body(const trecv_t *r, int seq, size_t *len, int plain);
/* Request seq decoded by the generated protobuf-c code; NULL if it does not
 * decode. Free with treq_free. */
treq_t *trecv_request(const trecv_t *r, int seq);
void treq_free(treq_t *q);
/* Spans in a decoded request. */
size_t treq_span_count(const treq_t *q);
/* Spans in every request answered 2xx (protobuf or JSON); each span id once. */
int trecv_unique_spans(const trecv_t *r);
/* Is span name present in any 2xx-answered request? */
int trecv_has_span(const trecv_t *r, const char *name);
/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
int trecv_dead_port(void);

#endif
