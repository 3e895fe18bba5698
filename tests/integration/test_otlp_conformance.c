/* test_otlp_conformance.c - every request the shim sends decodes with an
 * independent decoder: the official generated code of the npm package
 * @opentelemetry/otlp-transformer 0.215.0 (tests/conformance/check.js), for
 * protobuf, gzip'd protobuf, http/json and gzip'd http/json bodies. */
#include "../harness.h"
#include "../receiver/recv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int check(const char *dir, char *out, size_t size)
{
	const char *src = getenv("OTS_SRC");
	char cmd[768];
	snprintf(cmd, sizeof cmd, "node %s/tests/conformance/check.js %s 2>&1",
		 src && *src ? src : ".", dir);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(otlp_conformance, official_decoder_accepts_every_request)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
	const char *variants[][2] = {
		{ "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_COMPRESSION=none" },
		{ "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_COMPRESSION=gzip" },
		{ "OTEL_EXPORTER_OTLP_PROTOCOL=http/json", "OTEL_EXPORTER_OTLP_COMPRESSION=none" },
		{ "OTEL_EXPORTER_OTLP_PROTOCOL=http/json", "OTEL_EXPORTER_OTLP_COMPRESSION=gzip" },
	};
	/* programs with waits, thread spans, links (holders), a fork, errors */
	const char *progs[][4] = { { "progs/otlp_waits", "6", NULL, NULL },
				   { "progs/otlp_fork", NULL, NULL, NULL } };
	for (int v = 0; v < 4; v++)
		for (int p = 0; p < 2; p++) {
			const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, variants[v][0],
					      variants[v][1], "OTEL_BSP_SCHEDULE_DELAY=50",
					      "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
					      "TRACESTATE=vendor=value",
					      "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test",
					      NULL };
			trun_t t;
			cr_assert_eq(trun(&t, progs[p], env, 1), 0);
			trun_free(&t);
		}
	int n = trecv_count(&r);
	cr_assert_geq(n, 8, "%d requests", n);
	char out[4096];
	int rc = check(r.dir, out, sizeof out);
	cr_expect_eq(rc, 0, "check.js: %s", out);
	int reqs = 0, pb = 0, gz = 0, js = 0, spans = 0, fails = -1;
	cr_expect_eq(sscanf(out, "checked %d requests (%d protobuf, %d gzip, %d json), %d spans, %d failures",
			    &reqs, &pb, &gz, &js, &spans, &fails),
		     6, "%s", out);
	cr_expect_eq(reqs, n, "%s", out);
	cr_expect(pb > 0 && gz > 0 && js > 0 && fails == 0, "%s", out);
	trecv_stop(&r);
}

Test(otlp_conformance, checker_rejects_a_broken_body)
{
	/* the checker is not a rubber stamp: a truncated request fails */
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, NULL };
	const char *argv[] = { "progs/otlp_waits", "2", NULL };
	trun_t t;
	cr_assert_eq(trun(&t, argv, env, 1), 0);
	trun_free(&t);
	cr_assert_geq(trecv_count(&r), 1);
	char path[256];
	snprintf(path, sizeof path, "%s/0000.body", r.dir);
	size_t len;
	char *b = trecv_body(&r, 0, &len, 0);
	FILE *f = fopen(path, "wb");
	fwrite(b, 1, len - 3, f);
	fclose(f);
	free(b);
	char out[4096];
	cr_expect_neq(check(r.dir, out, sizeof out), 0, "%s", out);
	trecv_stop(&r);
}
