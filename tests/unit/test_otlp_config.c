/* Unit tests for the exporter variables of shim/config.c, against the
 * OpenTelemetry specification: endpoints, headers, timeout, protocol,
 * compression, OTCSHIM_ENDPOINTS and the batch processor. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>

#include "../../shim/ots.h"

static const char *fake[32][2];
static int nfake;

static const char *fake_getenv(const char *name)
{
	for (int i = 0; i < nfake; i++)
		if (!strcmp(fake[i][0], name))
			return fake[i][1];
	return NULL;
}

static void set(const char *k, const char *v)
{
	fake[nfake][0] = k;
	fake[nfake][1] = v;
	nfake++;
}

static void reset(void)
{
	nfake = 0;
	cr_redirect_stderr();
}

static void load(void)
{
	ots_config_load(fake_getenv);
}

static const char *err_text(void)
{
	static char buf[8192];
	fflush(stderr);
	size_t n = fread(buf, 1, sizeof buf - 1, cr_get_redirected_stderr());
	buf[n] = '\0';
	return buf;
}

TestSuite(otlp_config, .init = reset);

Test(otlp_config, default_endpoint_and_values)
{
	load();
	cr_expect_str_eq(ots_cfg.endpoint, "http://localhost:4318/v1/traces");
	cr_expect_eq(ots_cfg.endpoint_set, 0);
	cr_expect_null(ots_cfg.endpoints);
	cr_expect_null(ots_cfg.headers);
	cr_expect_eq(ots_cfg.otlp_timeout_ns, 10000000000ull);
	cr_expect_eq(ots_cfg.compression_gzip, 0);
	cr_expect_eq(ots_cfg.protocol_json, 0);
	cr_expect_eq(ots_cfg.bsp_schedule_delay_ns, 5000000000ull);
	cr_expect_eq(ots_cfg.bsp_export_timeout_ns, 30000000000ull);
	cr_expect_eq(ots_cfg.bsp_max_queue, 2048);
	cr_expect_eq(ots_cfg.bsp_max_batch, 512);
	cr_expect_eq(ots_cfg.traces_exporter_otlp, 1);
}

Test(otlp_config, general_endpoint_gets_exactly_one_slash)
{
	const char *in[] = { "http://c:4318", "http://c:4318/", "http://c:4318//",
			     "https://c/otlp", "https://c/otlp/" };
	const char *out[] = { "http://c:4318/v1/traces", "http://c:4318/v1/traces",
			      "http://c:4318/v1/traces", "https://c/otlp/v1/traces",
			      "https://c/otlp/v1/traces" };
	for (int i = 0; i < 5; i++) {
		nfake = 0;
		set("OTEL_EXPORTER_OTLP_ENDPOINT", in[i]);
		load();
		cr_expect_str_eq(ots_cfg.endpoint, out[i], "%s", in[i]);
		cr_expect_eq(ots_cfg.endpoint_set, 1);
	}
}

Test(otlp_config, traces_endpoint_as_is_and_first)
{
	set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318");
	set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom");
	load();
	cr_expect_str_eq(ots_cfg.endpoint, "http://traces:4318/custom");
	nfake = 0;
	set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318");
	load();
	cr_expect_str_eq(ots_cfg.endpoint, "http://traces:4318", "no path added");
}

Test(otlp_config, bad_endpoints_warn_and_fall_back)
{
	set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces:4318");
	set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318");
	load();
	cr_expect_str_eq(ots_cfg.endpoint, "http://general:4318/v1/traces");
	nfake = 0;
	set("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x");
	load();
	cr_expect_str_eq(ots_cfg.endpoint, "http://localhost:4318/v1/traces");
	cr_expect_eq(ots_cfg.endpoint_set, 0);
	const char *e = err_text();
	cr_expect(strstr(e, "traces:4318\" is not an http(s) URL"), "%s", e);
	cr_expect(strstr(e, "ftp://x\" is not an http(s) URL"), "%s", e);
}

Test(otlp_config, empty_values_are_unset)
{
	set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "");
	set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://g:1");
	set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "");
	set("OTEL_EXPORTER_OTLP_HEADERS", "a=1");
	set("OTEL_EXPORTER_OTLP_TIMEOUT", "");
	load();
	cr_expect_str_eq(ots_cfg.endpoint, "http://g:1/v1/traces");
	cr_expect_str_eq(ots_cfg.headers, "a=1");
	cr_expect_eq(ots_cfg.otlp_timeout_ns, 10000000000ull);
}

Test(otlp_config, timeout_milliseconds_zero_means_none)
{
	set("OTEL_EXPORTER_OTLP_TIMEOUT", "0");
	load();
	cr_expect_eq(ots_cfg.otlp_timeout_ns, 0);
	nfake = 0;
	set("OTEL_EXPORTER_OTLP_TIMEOUT", "1500");
	set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "250");
	load();
	cr_expect_eq(ots_cfg.otlp_timeout_ns, 250000000ull);
	nfake = 0;
	set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2s");
	load();
	cr_expect_eq(ots_cfg.otlp_timeout_ns, 10000000000ull);
	cr_expect(strstr(err_text(), "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=\"2s\""));
}

Test(otlp_config, protocol_and_compression)
{
	set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
	set("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
	load();
	cr_expect_eq(ots_cfg.protocol_json, 1);
	cr_expect_eq(ots_cfg.compression_gzip, 1);
	nfake = 0;
	set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
	set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf");
	set("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none");
	set("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
	load();
	cr_expect_eq(ots_cfg.protocol_json, 0);
	cr_expect_eq(ots_cfg.compression_gzip, 0);
	nfake = 0;
	set("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
	set("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd");
	load();
	cr_expect_eq(ots_cfg.protocol_json, 0);
	cr_expect_eq(ots_cfg.compression_gzip, 0);
	const char *e = err_text();
	cr_expect(strstr(e, "grpc is not supported"), "%s", e);
	cr_expect(strstr(e, "\"zstd\" is not gzip or none"), "%s", e);
}

Test(otlp_config, otcshim_endpoints_list)
{
	set("OTCSHIM_ENDPOINTS", " http://a:1/v1/traces, bogus ,,https://b/x ");
	load();
	cr_assert(ots_cfg.endpoints);
	cr_expect_str_eq(ots_cfg.endpoints[0], "http://a:1/v1/traces");
	cr_expect_str_eq(ots_cfg.endpoints[1], "https://b/x");
	cr_expect_null(ots_cfg.endpoints[2]);
	cr_expect(strstr(err_text(), "\"bogus\" is not an http(s) URL"));
}

Test(otlp_config, certificates_signal_specific_first)
{
	set("OTEL_EXPORTER_OTLP_CERTIFICATE", "/g/ca.pem");
	set("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/t/ca.pem");
	set("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/g/key.pem");
	set("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/t/cert.pem");
	load();
	cr_expect_str_eq(ots_cfg.certificate, "/t/ca.pem");
	cr_expect_str_eq(ots_cfg.client_key, "/g/key.pem");
	cr_expect_str_eq(ots_cfg.client_certificate, "/t/cert.pem");
}

Test(otlp_config, batch_processor_values)
{
	set("OTEL_BSP_SCHEDULE_DELAY", "250");
	set("OTEL_BSP_EXPORT_TIMEOUT", "1000");
	set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
	set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500");
	load();
	cr_expect_eq(ots_cfg.bsp_schedule_delay_ns, 250000000ull);
	cr_expect_eq(ots_cfg.bsp_export_timeout_ns, 1000000000ull);
	cr_expect_eq(ots_cfg.bsp_max_queue, 100);
	cr_expect_eq(ots_cfg.bsp_max_batch, 100, "the batch never exceeds the queue");
	nfake = 0;
	set("OTEL_BSP_MAX_QUEUE_SIZE", "0");
	set("OTEL_BSP_SCHEDULE_DELAY", "-5");
	load();
	cr_expect_eq(ots_cfg.bsp_max_queue, 2048);
	cr_expect_eq(ots_cfg.bsp_schedule_delay_ns, 5000000000ull);
}

/* A warning names the variable that was set, the signal-specific one or the
 * general one, and never shows a URL's password. */
Test(otlp_config, warnings_name_the_variable_set, .init = cr_redirect_stderr)
{
	reset();
	set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "novalue");
	set("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zip");
	set("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://bob:hunter2@example/");
	load();
	const char *e = err_text();
	cr_assert(strstr(e, "OTEL_EXPORTER_OTLP_TRACES_HEADERS: a member"), "%s", e);
	cr_assert(strstr(e, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=\"zip\""), "%s", e);
	cr_assert_null(strstr(e, "hunter2"), "a password in a warning: %s", e);
	cr_assert(strstr(e, "ftp://***@example/"), "%s", e);
}
