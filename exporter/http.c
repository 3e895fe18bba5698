/* http.c - the OTLP/HTTP sink: libcurl transport, retries, fan-out.
 *
 * What it owns
 *   One curl multi handle and, per endpoint (OTEL_EXPORTER_OTLP_[TRACES_]
 *   ENDPOINT, or each URL of OTCSHIM_ENDPOINTS), one easy handle, a backlog of
 *   encoded batches and its own retry state. Runs only in the exporter thread,
 *   or in the exiting thread for the final flush when no exporter thread was
 *   ever started; nothing here is locked.
 *
 * Flow
 *   export() encodes a batch once (protobuf or JSON, gzip if asked) into a
 *   refcounted body and appends it to every endpoint's backlog; it never
 *   waits for the network. The exporter thread then sleeps in wait(), which
 *   is curl_multi_poll() on the transfers plus the exporter's wake-up eventfd,
 *   so transfers progress while new records are batched. Each endpoint sends
 *   the head of its backlog, one request at a time over one keep-alive
 *   connection; the endpoints run concurrently, so a slow or dead one delays
 *   and drops nothing for the others.
 *
 * Answers (the OTLP/HTTP specification, and issue 3)
 *   2xx: delivered; an ExportTraceServiceResponse with partial_success counts
 *   its rejected spans (logged once with the server's message), never retried.
 *   429, 502, 503, 504, connection refused or reset, timeout, no answer:
 *   retried with exponential backoff and full jitter (200 ms doubling up to
 *   5 s, each wait drawn from [d/2, d]); a Retry-After header (seconds or an
 *   HTTP-date) replaces the backoff. A batch is dropped only when its retry
 *   budget (OTEL_BSP_EXPORT_TIMEOUT from when it was queued) runs out, or to
 *   make room: an endpoint holds at most OTEL_BSP_MAX_QUEUE_SIZE spans, and a
 *   new batch pushes out the oldest waiting ones (drop-oldest: the freshest
 *   data and the final process span survive an outage). Any other status or
 *   transport error (TLS, bad URL, 3xx, 4xx): dropped at once, one warning per
 *   endpoint and status.
 *
 * Final flush (shutdown())
 *   Everything queued gets until the caller's deadline (OTCSHIM_SHUTDOWN_
 *   TIMEOUT in total, retries included). A retry that would end past the
 *   deadline is not waited for, and "nobody listens" (connection refused,
 *   unknown host) is not retried at all at exit: a program run without a
 *   collector pays one refused connect, not the whole shutdown timeout.
 *
 * Process hygiene
 *   CURLOPT_NOSIGNAL; curl sends with MSG_NOSIGNAL, and the exporter thread
 *   blocks every signal, so no SIGPIPE reaches the host (the exiting thread
 *   blocks SIGPIPE around its own flush, see exporter.c). curl_global_init is
 *   called once and curl_global_cleanup never (the host may use libcurl).
 *   OpenSSL is initialised with OPENSSL_INIT_NO_ATEXIT before libcurl does it,
 *   so no atexit handler can tear it down under a late flush. Sockets are
 *   opened here (close-on-exec) and remembered, so that a forked child can
 *   close its copies without any I/O on the parent's connections.
 */
#include "exp.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_ENDPOINTS 8
#define MAX_BACKLOG 64        /* batches per endpoint, besides the span bound */
#define MAX_SOCKS 32          /* sockets libcurl may hold open at once */
#define RESP_MAX 65536        /* bytes of an answer we keep */
#define BACKOFF_FIRST_NS 200000000ull
#define BACKOFF_MAX_NS 5000000000ull
#define FREE_BATCHES 8        /* bodies kept for reuse */

size_t ots_http_max_request = 4u << 20; /* before compression; tests may lower it */

typedef struct batch {
	struct batch *next; /* free list */
	int refs;
	uint32_t nspans;
	ots_buf_t body;
} batch_t;

typedef struct entry {
	batch_t *b;
	uint64_t deadline; /* retry budget ends (mono ns); UINT64_MAX = none */
} entry_t;

/* one-time warnings */
enum {
	W_CONNECT = 1u << 0,
	W_DROP_QUEUE = 1u << 1,
	W_DROP_BUDGET = 1u << 2,
	W_PARTIAL = 1u << 3,
	W_TRANSPORT = 1u << 4,
	W_SHUTDOWN = 1u << 5,
	W_BADANSWER = 1u << 6,
	W_TLSGONE = 1u << 7,
};

typedef struct ep {
	char *url;
	int is_default; /* no endpoint variable was set: localhost:4318 */
	CURL *easy;
	int busy;       /* a transfer of the head entry is running */
	entry_t q[MAX_BACKLOG];
	uint32_t qhead, qlen;
	uint64_t qspans;
	uint64_t next_try; /* the head may be sent from then on (mono ns) */
	uint32_t attempt;  /* failed attempts of the head */
	/* the running transfer's answer */
	long status;
	int64_t retry_after; /* seconds, -1 none */
	int resp_json;
	ots_buf_t resp;
	char errbuf[CURL_ERROR_SIZE];
	/* counters (spans) */
	uint64_t sent, d_queue, d_budget, d_failed, d_shutdown, rejected, retries;
	unsigned warned;
	long warned_status[8];
	int last_nobody; /* the last failure was refused / unknown host */
	int tls;         /* https */
} ep_t;

typedef struct http {
	CURLM *multi;
	ep_t ep[MAX_ENDPOINTS];
	int nep;
	struct curl_slist *hdrs;
	batch_t *free_list;
	int nfree;
	ots_buf_t raw; /* uncompressed encoding, reused */
	z_stream z;
	int z_ready;
	int closing;          /* in the final flush */
	uint64_t close_deadline;
	int socks[MAX_SOCKS];
	int nsocks;
	int abandoned;        /* child after fork: handles belong to the parent */
} http_t;

/* ------------------------------------------------------------------------ */
/* Pure helpers (exposed for unit tests). */

int ots_http_classify(int curl_code, long status)
{
	switch (curl_code) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return OTS_HTTP_RETRY;
	default:
		return OTS_HTTP_FAIL;
	}
	if (status >= 200 && status < 300)
		return OTS_HTTP_DONE;
	if (status == 429 || status == 502 || status == 503 || status == 504)
		return OTS_HTTP_RETRY;
	return OTS_HTTP_FAIL;
}

uint64_t ots_http_backoff_ns(uint32_t attempt, uint64_t rnd)
{
	uint64_t d = BACKOFF_FIRST_NS;
	for (uint32_t i = 1; i < attempt && d < BACKOFF_MAX_NS; i++)
		d *= 2;
	if (d > BACKOFF_MAX_NS)
		d = BACKOFF_MAX_NS;
	/* full jitter over the upper half: spreads clients apart, never zero */
	return d / 2 + rnd % (d / 2 + 1);
}

int64_t ots_http_retry_after(const char *v, int64_t now_unix)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (!*v)
		return -1;
	if (*v >= '0' && *v <= '9') {
		int64_t s = 0;
		for (; *v >= '0' && *v <= '9'; v++) {
			if (s > 100000000)
				return -1;
			s = s * 10 + (*v - '0');
		}
		while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
			v++;
		return *v ? -1 : s;
	}
	/* HTTP-date (IMF-fixdate, or the obsolete forms libcurl also reads) */
	char tmp[64];
	size_t n = strcspn(v, "\r\n");
	if (n >= sizeof tmp)
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	time_t t = curl_getdate(tmp, NULL);
	if (t == (time_t)-1)
		return -1;
	return t > now_unix ? (int64_t)t - now_unix : 0;
}

static int bad_header_name(const char *k)
{
	if (!*k)
		return 1;
	for (const unsigned char *p = (const unsigned char *)k; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *p))
			return 1;
	return 0;
}

struct hdr_ctx {
	void (*emit)(const char *line, void *arg);
	void *arg;
	int refused;
};

static void hdr_cb(const char *k, const char *v, void *arg)
{
	struct hdr_ctx *c = arg;
	if (strpbrk(k, "\r\n") || strpbrk(v, "\r\n")) {
		OTS_WARN("OTEL_EXPORTER_OTLP_HEADERS: header \"%s\" contains CR or LF; refused",
			 strpbrk(k, "\r\n") ? "(name)" : k);
		c->refused++;
		return;
	}
	if (bad_header_name(k)) {
		OTS_WARN("OTEL_EXPORTER_OTLP_HEADERS: \"%s\" is not a valid header name; refused", k);
		c->refused++;
		return;
	}
	static const char *const framing[] = { "content-type", "content-length",
					       "content-encoding", "transfer-encoding", "host",
					       "expect", "connection" };
	for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++)
		if (!strcasecmp(k, framing[i])) {
			OTS_WARN("OTEL_EXPORTER_OTLP_HEADERS: \"%s\" is set by the exporter; refused",
				 k);
			c->refused++;
			return;
		}
	size_t kl = strlen(k), vl = strlen(v);
	char *line = malloc(kl + vl + 3);
	if (!line)
		return;
	memcpy(line, k, kl);
	if (vl) {
		line[kl] = ':';
		line[kl + 1] = ' ';
		memcpy(line + kl + 2, v, vl + 1);
	} else {
		/* "Name;" is how libcurl sends a header with an empty value */
		line[kl] = ';';
		line[kl + 1] = '\0';
	}
	c->emit(line, c->arg);
	free(line);
}

int ots_http_header_lines(const char *raw, void (*emit)(const char *line, void *arg), void *arg)
{
	struct hdr_ctx c = { emit, arg, 0 };
	if (raw && ots_config_parse_kv_list(raw, hdr_cb, &c) < 0)
		c.refused++;
	return c.refused;
}

/* Skip JSON whitespace. */
static const char *ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* Find "key" followed by ':' in [p, e); returns the value start or NULL. */
static const char *json_key(const char *p, const char *e, const char *key)
{
	size_t kl = strlen(key);
	while (p < e) {
		const char *q = memchr(p, '"', (size_t)(e - p));
		if (!q || q + kl + 2 > e)
			return NULL;
		if (!memcmp(q + 1, key, kl) && q[kl + 1] == '"') {
			const char *c = ws(q + kl + 2, e);
			if (c < e && *c == ':')
				return ws(c + 1, e);
		}
		p = q + 1;
	}
	return NULL;
}

int ots_http_json_partial(const char *body, size_t len, int64_t *rejected, char *msg,
			  size_t msg_size)
{
	*rejected = 0;
	if (msg_size)
		msg[0] = '\0';
	const char *e = body + len;
	const char *ps = json_key(body, e, "partialSuccess");
	if (!ps)
		return 0;
	const char *v = json_key(ps, e, "rejectedSpans");
	if (v) {
		if (*v == '"')
			v++;
		int neg = v < e && *v == '-';
		v += neg;
		int64_t n = 0;
		while (v < e && *v >= '0' && *v <= '9' && n < (INT64_MAX - 9) / 10)
			n = n * 10 + (*v++ - '0');
		*rejected = neg ? -n : n;
	}
	v = json_key(ps, e, "errorMessage");
	if (v && v < e && *v == '"' && msg_size) {
		size_t o = 0;
		for (v++; v < e && *v != '"' && o + 1 < msg_size; v++) {
			if (*v == '\\' && v + 1 < e) {
				v++;
				char c = *v == 'n' ? '\n' : *v == 't' ? '\t' : *v == 'u' ? '?' : *v;
				if (*v == 'u')
					v += (e - v > 4) ? 4 : 0;
				msg[o++] = c;
			} else {
				msg[o++] = *v;
			}
		}
		msg[o] = '\0';
	}
	return 0;
}

static int gzip_into(z_stream *z, int *ready, ots_buf_t *out, const void *in, size_t len)
{
	if (!*ready) {
		memset(z, 0, sizeof *z);
		/* level 1: most of the gain on span data for a fraction of the CPU */
		if (deflateInit2(z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		*ready = 1;
	} else {
		deflateReset(z);
	}
	size_t bound = deflateBound(z, (uLong)len);
	ots_buf_reserve(out, bound + 1);
	if (out->oom)
		return -ENOMEM;
	z->next_in = (Bytef *)in;
	z->avail_in = (uInt)len;
	z->next_out = (Bytef *)out->data + out->len;
	z->avail_out = (uInt)(out->cap - out->len - 1);
	int rc = deflate(z, Z_FINISH);
	if (rc != Z_STREAM_END)
		return -EIO;
	out->len = (size_t)((char *)z->next_out - out->data);
	return 0;
}

int ots_http_gzip(ots_buf_t *out, const void *in, size_t len)
{
	z_stream z;
	int ready = 0;
	int rc = gzip_into(&z, &ready, out, in, len);
	if (ready)
		deflateEnd(&z);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Batches: refcounted bodies shared by the endpoints, recycled. */

static batch_t *batch_get(http_t *h)
{
	batch_t *b = h->free_list;
	if (b) {
		h->free_list = b->next;
		h->nfree--;
	} else if (!(b = calloc(1, sizeof *b))) {
		return NULL;
	}
	b->next = NULL;
	b->refs = 0;
	b->nspans = 0;
	ots_buf_reset(&b->body);
	return b;
}

static void batch_put(http_t *h, batch_t *b)
{
	if (--b->refs > 0)
		return;
	if (h->nfree >= FREE_BATCHES) {
		ots_buf_free(&b->body);
		free(b);
		return;
	}
	b->next = h->free_list;
	h->free_list = b;
	h->nfree++;
}

/* ------------------------------------------------------------------------ */
/* Counting: per endpoint, and summed into ots_counters. */

static void count(ep_t *e, uint64_t *field, _Atomic uint64_t *global, uint64_t n)
{
	(void)e;
	*field += n;
	atomic_fetch_add(global, n);
}

static entry_t *head(ep_t *e)
{
	return &e->q[e->qhead];
}

/* Remove the entry at position i (0 = head) of the backlog. */
static void q_remove(http_t *h, ep_t *e, uint32_t i)
{
	uint32_t at = (e->qhead + i) % MAX_BACKLOG;
	batch_t *b = e->q[at].b;
	e->qspans -= b->nspans;
	batch_put(h, b);
	/* shift the later ones down by one (the backlog is short) */
	for (uint32_t k = i; k + 1 < e->qlen; k++)
		e->q[(e->qhead + k) % MAX_BACKLOG] = e->q[(e->qhead + k + 1) % MAX_BACKLOG];
	e->qlen--;
	if (i == 0) {
		e->attempt = 0;
		e->next_try = 0;
	}
}

static void drop_head(http_t *h, ep_t *e, uint64_t *field, _Atomic uint64_t *global)
{
	count(e, field, global, head(e)->b->nspans);
	q_remove(h, e, 0);
}

/* ------------------------------------------------------------------------ */
/* libcurl callbacks */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	ep_t *e = arg;
	size_t len = size * n;
	if (e->resp.len < RESP_MAX)
		ots_buf_append(&e->resp, p, len < RESP_MAX - e->resp.len ? len : RESP_MAX - e->resp.len);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	ep_t *e = arg;
	size_t len = size * n;
	if (len >= 5 && !strncasecmp(p, "HTTP/", 5)) { /* a new answer (after 100) */
		e->retry_after = -1;
		e->resp_json = 0;
	} else if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
		char v[80];
		size_t l = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
		memcpy(v, p + 12, l);
		v[l] = '\0';
		e->retry_after = ots_http_retry_after(v, (int64_t)time(NULL));
	} else if (len > 13 && !strncasecmp(p, "Content-Type:", 13)) {
		char v[80];
		size_t l = len - 13 < sizeof v - 1 ? len - 13 : sizeof v - 1;
		memcpy(v, p + 13, l);
		v[l] = '\0';
		e->resp_json = strstr(v, "json") != NULL;
	}
	return len;
}

static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	http_t *h = arg;
	(void)purpose;
	int fd = ots_fd_own(socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (h->nsocks < MAX_SOCKS)
		h->socks[h->nsocks++] = fd;
	return fd;
}

static int on_close(void *arg, curl_socket_t fd)
{
	http_t *h = arg;
	for (int i = 0; i < h->nsocks; i++)
		if (h->socks[i] == fd) {
			h->socks[i] = h->socks[--h->nsocks];
			break;
		}
	return ots_fd_close(fd);
}

/* ------------------------------------------------------------------------ */
/* Set-up */

typedef int (*ossl_init_fn)(uint64_t, const void *);
/* OPENSSL_init_crypto of the OpenSSL libcurl uses, if it uses OpenSSL: a weak
 * reference, resolved in this object's own scope (the plugin's libcurl and
 * its libcrypto), no link dependency on a TLS library */
extern int OPENSSL_init_crypto(uint64_t opts, const void *settings) __attribute__((weak));
static ossl_init_fn crypto_init;

/* False once OpenSSL has been cleaned up (OPENSSL_cleanup from an atexit
 * handler of the host's): an https transfer would then touch freed state. */
static int tls_usable(void)
{
	return !crypto_init || crypto_init(0x00040000ull /* OPENSSL_INIT_BASE_ONLY */, NULL);
}

/* OPENSSL_INIT_NO_ATEXIT: only the first initialisation decides whether
 * OpenSSL registers its atexit cleanup, so say it before libcurl does (the
 * host's own OpenSSL, if it has one, was told at the exporter's start:
 * ots_tls_preinit). */
static void tls_preinit_own(void)
{
	crypto_init = OPENSSL_init_crypto;
	if (crypto_init && tls_usable())
		crypto_init(0x00080000ull /* OPENSSL_INIT_NO_ATEXIT */, NULL);
}

static int curl_ready(void)
{
	static int state; /* 0 not tried, 1 ok, -1 failed */
	if (!state) {
		tls_preinit_own();
		CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		state = rc == CURLE_OK ? 1 : -1;
		if (rc != CURLE_OK)
			OTS_WARN("libcurl initialisation failed (%s); no OTLP export",
				 curl_easy_strerror(rc));
	}
	return state == 1;
}

static void emit_hdr(const char *line, void *arg)
{
	struct curl_slist **l = arg, *n = curl_slist_append(*l, line);
	if (n)
		*l = n;
}

static int ep_handle(http_t *h, ep_t *e)
{
	CURL *c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, e->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "otcshim/" OTS_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, e);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->errbuf);
	curl_easy_setopt(c, CURLOPT_PRIVATE, e);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	if (ots_cfg.certificate)
		curl_easy_setopt(c, CURLOPT_CAINFO, ots_cfg.certificate);
	if (ots_cfg.client_certificate)
		curl_easy_setopt(c, CURLOPT_SSLCERT, ots_cfg.client_certificate);
	if (ots_cfg.client_key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, ots_cfg.client_key);
	e->easy = c;
	return 0;
}

/* Create the multi handle and the easy handles (at open, and again in a
 * forked child, whose inherited ones are the parent's). */
static int handles(http_t *h)
{
	if (h->multi)
		return 0;
	h->multi = curl_multi_init();
	if (!h->multi)
		return -ENOMEM;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->nep);
	for (int i = 0; i < h->nep; i++)
		if (ep_handle(h, &h->ep[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The per-endpoint state machine */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void warn_once(ep_t *e, unsigned bit, const char *what, const char *detail)
{
	if (e->warned & bit) {
		OTS_DEBUG("%s: %s (%s)", e->url, what, detail);
		return;
	}
	e->warned |= bit;
	OTS_WARN("%s: %s (%s)", e->url, what, detail);
}

/* Start sending the head of e's backlog if it is due. */
static void ep_start(http_t *h, ep_t *e, uint64_t now)
{
	while (!e->busy && e->qlen && now >= e->next_try) {
		entry_t *q = head(e);
		if (e->tls && !tls_usable()) {
			warn_once(e, W_TLSGONE, "OpenSSL was already cleaned up, batch dropped",
				  "the program initialised OpenSSL before the exporter started and "
				  "its atexit cleanup ran first");
			drop_head(h, e, &e->d_failed, &ots_counters.spans_dropped_status);
			continue;
		}
		uint64_t until = q->deadline;
		if (h->closing)
			until = min_u64(until, h->close_deadline);
		if (until <= now + 1000000) { /* less than 1 ms left: no attempt */
			if (h->closing && until == h->close_deadline)
				drop_head(h, e, &e->d_shutdown, &ots_counters.spans_dropped_shutdown);
			else {
				warn_once(e, W_DROP_BUDGET, "retry budget exhausted; batch dropped",
					  "OTEL_BSP_EXPORT_TIMEOUT");
				drop_head(h, e, &e->d_budget, &ots_counters.spans_dropped_export);
			}
			continue;
		}
		uint64_t t = until == UINT64_MAX ? 0 : until - now;
		if (ots_cfg.otlp_timeout_ns && (t == 0 || ots_cfg.otlp_timeout_ns < t))
			t = ots_cfg.otlp_timeout_ns;
		long ms = t ? (long)((t + 999999) / 1000000) : 0;
		CURL *c = e->easy;
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->b->body.len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->b->body.data);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
		ots_buf_reset(&e->resp);
		e->status = 0;
		e->retry_after = -1;
		e->resp_json = 0;
		e->errbuf[0] = '\0';
		if (curl_multi_add_handle(h->multi, c) != CURLM_OK) {
			drop_head(h, e, &e->d_failed, &ots_counters.spans_dropped_status);
			continue;
		}
		e->busy = 1;
	}
}

static int nobody_listens(int rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
}

static void on_success(http_t *h, ep_t *e)
{
	uint32_t n = head(e)->b->nspans;
	int64_t rejected = 0;
	char msg[256] = "";
	if (e->resp.len) {
		int bad = e->resp_json ? ots_http_json_partial(e->resp.data, e->resp.len, &rejected,
							       msg, sizeof msg) :
					 ots_otlp_parse_response(e->resp.data, e->resp.len,
								 &rejected, msg, sizeof msg);
		if (bad < 0)
			warn_once(e, W_BADANSWER, "answer is not an ExportTraceServiceResponse",
				  "spans counted as sent");
	}
	if (rejected < 0)
		rejected = 0;
	if ((uint64_t)rejected > n)
		rejected = n;
	if (rejected || msg[0]) {
		/* logged once with the server's message; never retried */
		if (!(e->warned & W_PARTIAL)) {
			e->warned |= W_PARTIAL;
			OTS_WARN("%s: partial success, %lld spans rejected: %s", e->url,
				 (long long)rejected, msg[0] ? msg : "(no message)");
		} else {
			OTS_DEBUG("%s: partial success, %lld spans rejected: %s", e->url,
				  (long long)rejected, msg);
		}
	}
	count(e, &e->rejected, &ots_counters.spans_rejected, (uint64_t)rejected);
	count(e, &e->sent, &ots_counters.spans_exported, n - (uint64_t)rejected);
	atomic_fetch_add(&ots_counters.batches_sent, 1);
	q_remove(h, e, 0);
	e->attempt = 0;
	e->next_try = 0;
}

static void on_failure(http_t *h, ep_t *e, int rc)
{
	e->attempt = 0;
	e->next_try = 0;
	if (rc != CURLE_OK) {
		warn_once(e, W_TRANSPORT, "export failed, batch dropped",
			  e->errbuf[0] ? e->errbuf : curl_easy_strerror((CURLcode)rc));
	} else {
		int known = 0, slot = -1;
		for (int i = 0; i < 8; i++) {
			if (e->warned_status[i] == e->status)
				known = 1;
			if (!e->warned_status[i] && slot < 0)
				slot = i;
		}
		if (!known && slot >= 0)
			e->warned_status[slot] = e->status;
		char body[160];
		size_t l = e->resp.len < sizeof body - 1 ? e->resp.len : sizeof body - 1;
		for (size_t i = 0; i < l; i++) /* printable excerpt of the answer */
			body[i] = (e->resp.data[i] >= 0x20 && e->resp.data[i] < 0x7f) ?
					  e->resp.data[i] : ' ';
		body[l] = '\0';
		if (!known)
			OTS_WARN("%s: HTTP %ld, batch of %u spans dropped (not retried)%s%s", e->url,
				 e->status, head(e)->b->nspans, l ? ": " : "", body);
		else
			OTS_DEBUG("%s: HTTP %ld, batch dropped", e->url, e->status);
	}
	drop_head(h, e, &e->d_failed, &ots_counters.spans_dropped_status);
}

static void retry_or_drop(http_t *h, ep_t *e, int rc, uint64_t now)
{
	entry_t *q = head(e);
	char why[CURL_ERROR_SIZE + 32];
	if (rc == CURLE_OK)
		snprintf(why, sizeof why, "HTTP %ld", e->status);
	else
		snprintf(why, sizeof why, "%s", e->errbuf[0] ? e->errbuf :
						   curl_easy_strerror((CURLcode)rc));
	e->last_nobody = rc != CURLE_OK && nobody_listens(rc);
	if (h->closing && e->last_nobody) {
		/* at exit, nobody listening will not change within the timeout */
		if (e->is_default)
			OTS_DEBUG("%s: %s at exit; batch of %u spans not sent", e->url, why,
				  q->b->nspans);
		else
			warn_once(e, W_SHUTDOWN, "cannot connect at exit, spans not sent", why);
		drop_head(h, e, &e->d_shutdown, &ots_counters.spans_dropped_shutdown);
		return;
	}
	e->attempt++;
	uint64_t delay = ots_http_backoff_ns(e->attempt, ots_ids_span());
	if (rc == CURLE_OK && e->retry_after > 0)
		delay = (uint64_t)e->retry_after * 1000000000ull;
	uint64_t at = now + delay;
	if (at >= q->deadline) {
		warn_once(e, W_DROP_BUDGET, "retry budget (OTEL_BSP_EXPORT_TIMEOUT) exhausted, "
					    "batch dropped", why);
		drop_head(h, e, &e->d_budget, &ots_counters.spans_dropped_export);
		return;
	}
	if (h->closing && at >= h->close_deadline) {
		OTS_DEBUG("%s: %s; the retry would end after the shutdown timeout", e->url, why);
		drop_head(h, e, &e->d_shutdown, &ots_counters.spans_dropped_shutdown);
		return;
	}
	if (!e->is_default && !h->closing)
		warn_once(e, W_CONNECT, "export failed, retrying", why);
	else
		OTS_DEBUG("%s: %s; retry %u in %llu ms", e->url, why, e->attempt,
			  (unsigned long long)(delay / 1000000));
	e->next_try = at;
	e->retries++;
	atomic_fetch_add(&ots_counters.retries, 1);
}

static void ep_done(http_t *h, ep_t *e, int rc, uint64_t now)
{
	curl_multi_remove_handle(h->multi, e->easy);
	e->busy = 0;
	if (!e->qlen)
		return;
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &status);
	e->status = status;
	switch (ots_http_classify(rc, status)) {
	case OTS_HTTP_DONE:
		on_success(h, e);
		break;
	case OTS_HTTP_RETRY:
		retry_or_drop(h, e, rc, now);
		break;
	default:
		on_failure(h, e, rc);
		break;
	}
}

/* Move every transfer forward, handle the finished ones, start the due
 * ones. Returns when the sink next needs the thread (mono ns). */
static uint64_t pump(http_t *h)
{
	if (!h->multi)
		return UINT64_MAX;
	for (int round = 0; round < 4; round++) {
		int running = 0, changed = 0;
		curl_multi_perform(h->multi, &running);
		uint64_t now = ots_mono_ns();
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(h->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			CURL *c = m->easy_handle;
			int rc = m->data.result;
			ep_t *e = NULL;
			curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&e);
			if (e)
				ep_done(h, e, rc, now);
			changed = 1;
		}
		for (int i = 0; i < h->nep; i++) {
			ep_t *e = &h->ep[i];
			int was = e->busy;
			ep_start(h, e, now);
			changed |= e->busy != was;
		}
		if (!changed)
			break;
	}
	uint64_t next = UINT64_MAX;
	for (int i = 0; i < h->nep; i++) {
		ep_t *e = &h->ep[i];
		if (!e->busy && e->qlen)
			next = min_u64(next, e->next_try);
	}
	return next;
}

static int poll_ms(uint64_t until, uint64_t now)
{
	if (until <= now)
		return 0;
	uint64_t ms = (until - now + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

static void http_wait(ots_sink_t *s, int wake_fd, uint64_t until)
{
	http_t *h = s->state;
	uint64_t next = min_u64(pump(h), until);
	struct curl_waitfd w = { wake_fd, CURL_WAIT_POLLIN, 0 };
	if (h->multi) {
		curl_multi_poll(h->multi, &w, wake_fd >= 0, poll_ms(next, ots_mono_ns()), NULL);
		pump(h);
	} else {
		struct pollfd p = { wake_fd, POLLIN, 0 };
		poll(&p, wake_fd >= 0, poll_ms(next, ots_mono_ns()));
	}
}

/* Append a batch to e's backlog, making room by dropping the oldest waiting
 * batches (never the one on the wire). */
static void enqueue(http_t *h, ep_t *e, batch_t *b, uint64_t deadline)
{
	uint32_t keep = e->busy ? 1 : 0;
	while ((e->qlen >= MAX_BACKLOG || e->qspans + b->nspans > ots_cfg.bsp_max_queue) &&
	       e->qlen > keep) {
		entry_t *old = &e->q[(e->qhead + keep) % MAX_BACKLOG];
		char why[96];
		snprintf(why, sizeof why, "%llu spans waiting, OTEL_BSP_MAX_QUEUE_SIZE=%u",
			 (unsigned long long)e->qspans, ots_cfg.bsp_max_queue);
		warn_once(e, W_DROP_QUEUE, "endpoint backlog full, oldest batch dropped", why);
		count(e, &e->d_queue, &ots_counters.spans_dropped_queue, old->b->nspans);
		q_remove(h, e, keep);
	}
	if (e->qlen >= MAX_BACKLOG) {
		count(e, &e->d_queue, &ots_counters.spans_dropped_queue, b->nspans);
		return;
	}
	e->q[(e->qhead + e->qlen) % MAX_BACKLOG] = (entry_t){ b, deadline };
	e->qlen++;
	e->qspans += b->nspans;
	b->refs++;
}

/* Encode spans[0..n) into b (as many as fit the maximum request size);
 * returns how many went in, 0 on failure. */
static size_t encode(http_t *h, batch_t *b, const ots_resource_t *res, const ots_span_t *spans,
		     size_t n)
{
	ots_buf_t *dst = ots_cfg.compression_gzip ? &h->raw : &b->body;
	size_t k;
	if (ots_cfg.protocol_json) {
		for (k = n;;) {
			ots_buf_reset(dst);
			ots_json_encode(dst, res, spans, k);
			if (dst->oom)
				return 0;
			if (dst->len <= ots_http_max_request || k == 1)
				break;
			k = (k + 1) / 2;
		}
	} else {
		ots_buf_reset(dst);
		k = ots_otlp_encode(dst, res, spans, n, ots_http_max_request);
		if (!k || dst->oom)
			return 0;
	}
	if (ots_cfg.compression_gzip) {
		ots_buf_reset(&b->body);
		if (gzip_into(&h->z, &h->z_ready, &b->body, h->raw.data, h->raw.len) < 0)
			return 0;
	}
	return k;
}

static int http_export(ots_sink_t *s, const ots_resource_t *res, const ots_span_t *spans,
		       size_t n, uint64_t deadline_unused)
{
	(void)deadline_unused;
	http_t *h = s->state;
	uint64_t now = ots_mono_ns();
	uint64_t budget = ots_cfg.bsp_export_timeout_ns ? now + ots_cfg.bsp_export_timeout_ns :
							   UINT64_MAX;
	if (handles(h) < 0) {
		for (int i = 0; i < h->nep; i++)
			count(&h->ep[i], &h->ep[i].d_failed, &ots_counters.spans_dropped_status, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n;) {
		batch_t *b = batch_get(h);
		size_t k = b ? encode(h, b, res, spans + i, n - i) : 0;
		if (!k) {
			if (b) {
				b->refs = 1;
				batch_put(h, b);
			}
			OTS_WARN("out of memory encoding a batch; %zu spans dropped", n - i);
			for (int j = 0; j < h->nep; j++)
				count(&h->ep[j], &h->ep[j].d_failed,
				      &ots_counters.spans_dropped_status, n - i);
			return -ENOMEM;
		}
		b->nspans = (uint32_t)k;
		for (int j = 0; j < h->nep; j++)
			enqueue(h, &h->ep[j], b, budget);
		if (!b->refs) {
			b->refs = 1;
			batch_put(h, b);
		}
		i += k;
	}
	pump(h);
	return 0;
}

static int any_busy(http_t *h)
{
	for (int i = 0; i < h->nep; i++)
		if (h->ep[i].qlen)
			return 1;
	return 0;
}

static size_t http_pending(ots_sink_t *s)
{
	http_t *h = s->state;
	size_t n = 0;
	for (int i = 0; i < h->nep; i++)
		n += h->ep[i].qspans;
	return n;
}

static void http_shutdown(ots_sink_t *s, uint64_t deadline)
{
	http_t *h = s->state;
	h->closing = 1;
	h->close_deadline = deadline;
	while (h->multi) {
		uint64_t next = pump(h);
		if (!any_busy(h))
			break;
		uint64_t now = ots_mono_ns();
		if (now >= deadline)
			break;
		curl_multi_poll(h->multi, NULL, 0, poll_ms(min_u64(next, deadline), now), NULL);
	}
	/* the deadline passed: abort what is on the wire, count what is left */
	for (int i = 0; i < h->nep; i++) {
		ep_t *e = &h->ep[i];
		if (e->busy) {
			curl_multi_remove_handle(h->multi, e->easy);
			e->busy = 0;
		}
		uint64_t left = e->qspans;
		while (e->qlen)
			drop_head(h, e, &e->d_shutdown, &ots_counters.spans_dropped_shutdown);
		if (left)
			OTS_DEBUG("%s: %llu spans unsent at the shutdown timeout", e->url,
				  (unsigned long long)left);
		if (e->is_default && e->last_nobody && e->d_shutdown)
			OTS_WARN("no OTLP collector at %s (the default endpoint): %llu spans not "
				 "exported. Set OTEL_EXPORTER_OTLP_ENDPOINT to your collector, or "
				 "OTEL_TRACES_EXPORTER=none",
				 e->url, (unsigned long long)(e->d_shutdown + e->d_budget));
		uint64_t lost = e->d_queue + e->d_budget + e->d_failed + e->d_shutdown + e->rejected;
		if ((h->nep > 1 && lost) || ots_cfg.debug)
			OTS_WARN("%s: %llu sent, %llu dropped (queue full), %llu dropped (retry "
				 "budget), %llu failed, %llu unsent at shutdown, %llu rejected; "
				 "%llu retries",
				 e->url, (unsigned long long)e->sent,
				 (unsigned long long)e->d_queue, (unsigned long long)e->d_budget,
				 (unsigned long long)e->d_failed, (unsigned long long)e->d_shutdown,
				 (unsigned long long)e->rejected, (unsigned long long)e->retries);
	}
	h->closing = 0;
}

/* Child after fork: the multi and easy handles, their connections and the
 * backlog are the parent's (the parent sends those batches). Close our copies
 * of the sockets without any protocol I/O (no TLS close_notify, no shutdown),
 * forget everything without freeing it (the parent's exporter thread may have
 * been in the middle of changing it), and start afresh on the next export. */
static void http_after_fork(ots_sink_t *s)
{
	http_t *h = s->state;
	for (int i = 0; i < h->nsocks; i++)
		ots_fd_close(h->socks[i]);
	h->nsocks = 0;
	h->multi = NULL;
	h->free_list = NULL;
	h->nfree = 0;
	memset(&h->raw, 0, sizeof h->raw);
	h->z_ready = 0;
	h->closing = 0;
	for (int i = 0; i < h->nep; i++) {
		ep_t *e = &h->ep[i];
		char *url = e->url;
		int dflt = e->is_default, tls = e->tls;
		memset(e, 0, sizeof *e);
		e->url = url;
		e->is_default = dflt;
		e->tls = tls;
	}
}

ots_sink_t *ots_http_sink_open(void)
{
	if (!curl_ready())
		return NULL;
	ots_sink_t *s = calloc(1, sizeof *s);
	http_t *h = calloc(1, sizeof *h);
	if (!s || !h)
		goto fail;
	if (ots_cfg.endpoints) {
		for (char **u = ots_cfg.endpoints; *u; u++) {
			if (h->nep == MAX_ENDPOINTS) {
				OTS_WARN("OTCSHIM_ENDPOINTS: more than %d endpoints; %s and later ignored",
					 MAX_ENDPOINTS, *u);
				break;
			}
			h->ep[h->nep++].url = *u;
		}
	} else if (ots_cfg.endpoint) {
		h->ep[0].url = ots_cfg.endpoint;
		h->ep[0].is_default = !ots_cfg.endpoint_set;
		h->nep = 1;
	}
	if (!h->nep)
		goto fail;
	for (int i = 0; i < h->nep; i++)
		h->ep[i].tls = !strncasecmp(h->ep[i].url, "https:", 6);
	emit_hdr(ots_cfg.protocol_json ? "Content-Type: application/json" :
					 "Content-Type: application/x-protobuf",
		 &h->hdrs);
	emit_hdr("Expect:", &h->hdrs); /* no 100-continue round trip for large bodies */
	if (ots_cfg.compression_gzip)
		emit_hdr("Content-Encoding: gzip", &h->hdrs);
	ots_http_header_lines(ots_cfg.headers, emit_hdr, &h->hdrs);
	if (handles(h) < 0)
		goto fail;
	s->name = "otlp";
	s->export = http_export;
	s->shutdown = http_shutdown;
	s->after_fork = http_after_fork;
	s->wait = http_wait;
	s->pending = http_pending;
	s->state = h;
	for (int i = 0; i < h->nep; i++)
		OTS_DEBUG("OTLP/HTTP export to %s (%s%s)", h->ep[i].url,
			  ots_cfg.protocol_json ? "http/json" : "http/protobuf",
			  ots_cfg.compression_gzip ? ", gzip" : "");
	return s;
fail:
	OTS_WARN("cannot set up OTLP/HTTP export; spans are not sent");
	free(s);
	free(h);
	return NULL;
}
