/* test_otlp_tls.c - OTLP over https: server verification with
 * OTEL_EXPORTER_OTLP_CERTIFICATE, client certificates, failures that must
 * not hang or crash, and a final flush over TLS in a host that set up
 * OpenSSL (and so its atexit cleanup) itself. The certificates are in
 * tests/receiver/tls. */
#include "../harness.h"
#include "../receiver/recv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *tls_path(const char *f)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ & 7];
	const char *src = getenv("OTS_SRC");
	char cwd[400];
	snprintf(b, 512, "%s/tests/receiver/tls/%s",
		 src && *src ? src : (getcwd(cwd, sizeof cwd) ? cwd : "."), f);
	return b;
}

static int start_tls(trecv_t *r, int client_auth)
{
	char extra[1600];
	snprintf(extra, sizeof extra, "--tls %s %s%s%s", tls_path("server.pem"),
		 tls_path("server.key"), client_auth ? " --client-ca " : "",
		 client_auth ? tls_path("ca.pem") : "");
	int rc = trecv_start(r, NULL, NULL, extra);
	if (rc == 0) {
		snprintf(r->base, sizeof r->base, "https://127.0.0.1:%d", r->port);
		snprintf(r->url, sizeof r->url, "%s/v1/traces", r->base);
	}
	return rc;
}

static void run(trun_t *t, const char *const *argv, const trecv_t *r, const char *e1,
		const char *e2, const char *e3)
{
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r->url);
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", "OTCSHIM_SHUTDOWN_TIMEOUT=1s", url,
			      e1, e2, e3, NULL };
	cr_assert_eq(trun(t, argv, env, 1), 0);
}

static const char *waits[] = { "progs/otlp_waits", "3", NULL };

Test(otlp_tls, https_with_the_ca_certificate)
{
	trecv_t r;
	cr_assert_eq(start_tls(&r, 0), 0);
	char ca[600];
	snprintf(ca, sizeof ca, "OTEL_EXPORTER_OTLP_CERTIFICATE=%s", tls_path("ca.pem"));
	trun_t t;
	run(&t, waits, &r, ca, NULL, NULL);
	cr_expect_eq(t.exit_code, 0);
	cr_expect_gt(trecv_count(&r), 0, "%s", t.err);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans, "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp_tls, unknown_server_certificate_fails_fast_and_once)
{
	trecv_t r;
	cr_assert_eq(start_tls(&r, 0), 0);
	trun_t t;
	/* a long shutdown timeout: waiting for it, or retrying, would show */
	run(&t, waits, &r, "OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2",
	    "OTCSHIM_SHUTDOWN_TIMEOUT=4s");
	cr_expect_eq(t.exit_code, 0);
	cr_expect_lt(t.seconds, 1.5, "%.3f s", t.seconds);
	cr_expect_eq(trecv_count(&r), 0);
	cr_expect(strstr(t.err, "export failed, batch dropped"), "%s", t.err);
	cr_expect(strstr(t.err, " failed,"), "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp_tls, client_certificate)
{
	trecv_t r;
	cr_assert_eq(start_tls(&r, 1), 0);
	char ca[600], cert[600], key[600];
	snprintf(ca, sizeof ca, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=%s", tls_path("ca.pem"));
	snprintf(cert, sizeof cert, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=%s",
		 tls_path("client.pem"));
	snprintf(key, sizeof key, "OTEL_EXPORTER_OTLP_CLIENT_KEY=%s", tls_path("client.key"));
	trun_t t;
	run(&t, waits, &r, ca, cert, key);
	cr_expect_eq(trecv_unique_spans(&r), t.nspans, "%s", t.err);
	trun_free(&t);
	/* without it, the server refuses the handshake: dropped, exit unchanged */
	run(&t, waits, &r, ca, NULL, NULL);
	cr_expect_eq(t.exit_code, 0);
	cr_expect(strstr(t.err, "failed"), "%s", t.err);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp_tls, final_flush_after_the_host_initialised_openssl)
{
	trecv_t r;
	cr_assert_eq(start_tls(&r, 0), 0);
	char ca[600];
	snprintf(ca, sizeof ca, "OTEL_EXPORTER_OTLP_CERTIFICATE=%s", tls_path("ca.pem"));
	/* with a thread: our flush runs before OpenSSL's atexit cleanup */
	const char *argv[] = { "progs/otlp_openssl", "threads", NULL };
	trun_t t;
	run(&t, argv, &r, ca, NULL, NULL);
	cr_assert_str_eq(t.out, "openssl ready\n", "exit %d: %s", t.exit_code, t.err);
	cr_expect_eq(t.exit_code, 3, "%s", t.err);
	cr_expect(trecv_has_span(&r, "process otlp_openssl"), "%s", t.err);
	trun_free(&t);
	/* single-threaded: OpenSSL is gone by the time we flush; the spans go
	 * through otcshim-send (exporter/relay.c), over TLS, and arrive; the exit
	 * code is the program's */
	const char *argv1[] = { "progs/otlp_openssl", NULL };
	int before = trecv_count(&r);
	run(&t, argv1, &r, ca, NULL, NULL);
	cr_expect_eq(t.exit_code, 3, "%s", t.err);
	cr_expect_str_eq(t.out, "openssl ready\n");
	cr_expect_gt(trecv_count(&r), before, "nothing sent by the single-threaded run: %s", t.err);
	cr_expect_null(strstr(t.err, "cleaned up"), "%s", t.err);
	cr_expect_null(strstr(t.err, "crashed"), "%s", t.err);
	cr_expect_lt(t.seconds, 1.0);
	trun_free(&t);
	trecv_stop(&r);
}
