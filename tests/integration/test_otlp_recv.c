/* test_otlp_recv.c - the receiver driver of tests/receiver/recv.h, and the
 * tests of the receiver itself (its fault modes answer as documented). */
#include "../receiver/recv.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *receiver_script(void)
{
	static char path[512];
	const char *src = getenv("OTS_SRC");
	snprintf(path, sizeof path, "%s/tests/receiver/otlp_receiver.py", src && *src ? src : ".");
	return path;
}

/* Receivers still running when a test ends early (a failed cr_assert leaves
 * the test function): stopped, and their directories removed, at exit. */
static trecv_t *live[16];

static void stop_leftovers(void)
{
	for (int i = 0; i < 16; i++)
		if (live[i])
			trecv_stop(live[i]);
}

int trecv_start(trecv_t *r, const char *script, const char *dflt, const char *extra)
{
	static int hooked;
	if (!hooked++)
		atexit(stop_leftovers);
	for (int i = 0; i < 16; i++)
		if (!live[i]) {
			live[i] = r;
			break;
		}
	memset(r, 0, sizeof *r);
	snprintf(r->dir, sizeof r->dir, "/tmp/otcshim-recv-XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	const char *argv[32];
	int n = 0;
	argv[n++] = "python3";
	argv[n++] = receiver_script();
	argv[n++] = "--dir";
	argv[n++] = r->dir;
	argv[n++] = "--lifetime";
	argv[n++] = "60";
	argv[n++] = "--watch-stdin";
	if (script) {
		argv[n++] = "--script";
		argv[n++] = script;
	}
	if (dflt) {
		argv[n++] = "--default";
		argv[n++] = dflt;
	}
	char extra_copy[512];
	if (extra) {
		snprintf(extra_copy, sizeof extra_copy, "%s", extra);
		char *save = NULL;
		for (char *t = strtok_r(extra_copy, " ", &save); t && n < 30;
		     t = strtok_r(NULL, " ", &save))
			argv[n++] = t;
	}
	argv[n] = NULL;
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		unsetenv("LD_PRELOAD");
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	r->pid = pid;
	r->stdin_fd = in[1];
	char line[64] = "";
	size_t len = 0;
	struct pollfd p = { out[0], POLLIN, 0 };
	while (len < sizeof line - 1 && !strchr(line, '\n')) {
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t k = read(out[0], line + len, sizeof line - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		line[len] = '\0';
	}
	close(out[0]);
	if (sscanf(line, "PORT %d", &r->port) != 1) {
		trecv_stop(r);
		return -1;
	}
	snprintf(r->base, sizeof r->base, "http://127.0.0.1:%d", r->port);
	snprintf(r->url, sizeof r->url, "%s/v1/traces", r->base);
	return 0;
}

void trecv_stop(trecv_t *r)
{
	for (int i = 0; i < 16; i++)
		if (live[i] == r)
			live[i] = NULL;
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
	if (r->stdin_fd > 0) {
		close(r->stdin_fd);
		r->stdin_fd = 0;
	}
	if (r->dir[0] && !getenv("OTS_KEEP_RECV")) {
		DIR *d = opendir(r->dir);
		struct dirent *e;
		char p[512];
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "%s/%s", r->dir, e->d_name);
			unlink(p);
		}
		if (d)
			closedir(d);
		rmdir(r->dir);
		r->dir[0] = '\0';
	}
}

int trecv_count(const trecv_t *r)
{
	int n = 0;
	char p[512];
	for (;; n++) {
		snprintf(p, sizeof p, "%s/%04d.json", r->dir, n);
		if (access(p, F_OK))
			return n;
	}
}

int trecv_wait(const trecv_t *r, int n, int timeout_ms)
{
	int have;
	for (int waited = 0; (have = trecv_count(r)) < n && waited < timeout_ms; waited += 10)
		usleep(10000);
	return have;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	size_t k;
	while ((k = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n < 2)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	b[n] = '\0';
	if (len)
		*len = n;
	return b;
}

cJSON *trecv_meta(const trecv_t *r, int seq)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%04d.json", r->dir, seq);
	char *s = slurp(p, NULL);
	if (!s)
		return NULL;
	cJSON *j = cJSON_Parse(s);
	free(s);
	return j;
}

const char *trecv_header(const cJSON *meta, const char *name)
{
	const cJSON *h;
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(meta, "headers"))
	{
		const cJSON *k = cJSON_GetArrayItem(h, 0), *v = cJSON_GetArrayItem(h, 1);
		if (k && v && k->valuestring && !strcasecmp(k->valuestring, name))
			return v->valuestring;
	}
	return NULL;
}

char *trecv_body(const trecv_t *r, int seq, size_t *len, int plain)
{
	char p[512];
	if (plain) {
		snprintf(p, sizeof p, "%s/%04d.plain", r->dir, seq);
		if (!access(p, F_OK))
			return slurp(p, len);
	}
	snprintf(p, sizeof p, "%s/%04d.body", r->dir, seq);
	return slurp(p, len);
}

treq_t *trecv_request(const trecv_t *r, int seq)
{
	size_t len;
	char *b = trecv_body(r, seq, &len, 1);
	if (!b)
		return NULL;
	treq_t *q = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, (const uint8_t *)b);
	free(b);
	return q;
}

void treq_free(treq_t *q)
{
	if (q)
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
			q, NULL);
}

size_t treq_span_count(const treq_t *q)
{
	size_t n = 0;
	for (size_t i = 0; i < q->n_resource_spans; i++)
		for (size_t j = 0; j < q->resource_spans[i]->n_scope_spans; j++)
			n += q->resource_spans[i]->scope_spans[j]->n_spans;
	return n;
}

/* Collect span ids ("hex" strings) and names of every 2xx-answered request. */
typedef struct idset {
	char (*ids)[17];
	char **names;
	int n, cap;
} idset_t;

static void idset_add(idset_t *s, const char *id, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->ids[i], id))
			return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->ids = realloc(s->ids, sizeof *s->ids * (size_t)s->cap);
		s->names = realloc(s->names, sizeof *s->names * (size_t)s->cap);
	}
	snprintf(s->ids[s->n], 17, "%s", id);
	s->names[s->n++] = strdup(name);
}

static void collect(const trecv_t *r, idset_t *s)
{
	int n = trecv_count(r);
	for (int i = 0; i < n; i++) {
		cJSON *m = trecv_meta(r, i);
		cJSON *st = m ? cJSON_GetObjectItem(m, "status") : NULL;
		int ok = st && st->valueint >= 200 && st->valueint < 300;
		const char *ct = m ? trecv_header(m, "Content-Type") : NULL;
		int json = ct && strstr(ct, "json");
		cJSON_Delete(m);
		if (!ok)
			continue;
		if (json) {
			size_t len;
			char *b = trecv_body(r, i, &len, 1);
			cJSON *d = b ? cJSON_Parse(b) : NULL;
			free(b);
			cJSON *rs, *ss, *sp;
			cJSON_ArrayForEach(rs, cJSON_GetObjectItem(d, "resourceSpans"))
			cJSON_ArrayForEach(ss, cJSON_GetObjectItem(rs, "scopeSpans"))
			cJSON_ArrayForEach(sp, cJSON_GetObjectItem(ss, "spans"))
			{
				cJSON *id = cJSON_GetObjectItem(sp, "spanId");
				cJSON *nm = cJSON_GetObjectItem(sp, "name");
				if (id && id->valuestring)
					idset_add(s, id->valuestring, nm && nm->valuestring ? nm->valuestring : "");
			}
			cJSON_Delete(d);
			continue;
		}
		treq_t *q = trecv_request(r, i);
		if (!q)
			continue;
		for (size_t a = 0; a < q->n_resource_spans; a++)
			for (size_t b = 0; b < q->resource_spans[a]->n_scope_spans; b++) {
				Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
					q->resource_spans[a]->scope_spans[b];
				for (size_t c = 0; c < ss->n_spans; c++) {
					char hex[17];
					for (size_t k = 0; k < 8 && k < ss->spans[c]->span_id.len; k++)
						snprintf(hex + 2 * k, 3, "%02x", ss->spans[c]->span_id.data[k]);
					idset_add(s, hex, ss->spans[c]->name);
				}
			}
		treq_free(q);
	}
}

static void idset_free(idset_t *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->ids);
	free(s->names);
}

int trecv_unique_spans(const trecv_t *r)
{
	idset_t s = { 0 };
	collect(r, &s);
	int n = s.n;
	idset_free(&s);
	return n;
}

int trecv_has_span(const trecv_t *r, const char *name)
{
	idset_t s = { 0 };
	collect(r, &s);
	int found = 0;
	for (int i = 0; i < s.n && !found; i++)
		found = !strcmp(s.names[i], name);
	idset_free(&s);
	return found;
}

int trecv_dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t l = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l))
		return 1;
	close(fd);
	return ntohs(a.sin_port);
}

/* ------------------------------------------------------------------------ */
/* The receiver answers as documented (checked with a raw socket client). */

static int post(int port, const char *body, char *answer, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(0x7f000001) };
	if (connect(fd, (struct sockaddr *)&a, sizeof a))
		return -1;
	char req[512];
	int n = snprintf(req, sizeof req,
			 "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 strlen(body), body);
	if (write(fd, req, (size_t)n) != n)
		return -1;
	size_t got = 0;
	ssize_t k;
	while (got < size - 1 && (k = read(fd, answer + got, size - 1 - got)) > 0)
		got += (size_t)k;
	answer[got] = '\0';
	close(fd);
	return (int)got;
}

Test(otlp_receiver, scripted_answers_and_saved_requests)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, "retry:503:7,partial:3:too old,status:400", NULL, NULL), 0);
	char ans[2048];
	cr_assert_gt(post(r.port, "abc", ans, sizeof ans), 0);
	cr_expect(strstr(ans, "HTTP/1.1 503") && strstr(ans, "Retry-After: 7"), "%s", ans);
	cr_assert_gt(post(r.port, "def", ans, sizeof ans), 0);
	cr_expect(strstr(ans, "HTTP/1.1 200") && strstr(ans, "too old"), "%s", ans);
	cr_assert_gt(post(r.port, "ghi", ans, sizeof ans), 0);
	cr_expect(strstr(ans, "HTTP/1.1 400") != NULL, "%s", ans);
	cr_assert_gt(post(r.port, "jkl", ans, sizeof ans), 0);
	cr_expect(strstr(ans, "HTTP/1.1 200") != NULL, "%s", ans);
	cr_assert_eq(trecv_wait(&r, 4, 2000), 4);
	cJSON *m = trecv_meta(&r, 1);
	cr_assert(m);
	cr_expect_str_eq(cJSON_GetObjectItem(m, "path")->valuestring, "/v1/traces");
	cr_expect_str_eq(trecv_header(m, "content-type"), "application/x-protobuf");
	cr_expect_eq(cJSON_GetObjectItem(m, "status")->valueint, 200);
	cJSON_Delete(m);
	size_t len;
	char *b = trecv_body(&r, 2, &len, 0);
	cr_expect(b && len == 3 && !memcmp(b, "ghi", 3));
	free(b);
	trecv_stop(&r);
}
