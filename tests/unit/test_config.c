/* Unit tests for shim/config.c: every variable's parse rules and bad values. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../shim/ots.h"

/* A fake environment: pairs set by each test. */
static const char *fake[64][2];
static int nfake;

static const char *fake_getenv(const char *name)
{
	for (int i = 0; i < nfake; i++)
		if (!strcmp(fake[i][0], name))
			return fake[i][1];
	return NULL;
}

static void env_set(const char *k, const char *v)
{
	fake[nfake][0] = k;
	fake[nfake][1] = v;
	nfake++;
}

static void load(void)
{
	ots_config_load(fake_getenv);
}

static void reset(void)
{
	nfake = 0;
}

static char *stderr_text(void)
{
	static char buf[8192];
	fflush(stderr);
	FILE *f = cr_get_redirected_stderr();
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	return buf;
}

TestSuite(config, .init = reset);

Test(config, defaults_when_unset)
{
	load();
	cr_assert_eq(ots_cfg.sdk_disabled, 0);
	cr_assert_eq(ots_cfg.traces_exporter_otlp, 1);
	cr_assert_eq(ots_cfg.min_wait_ns, 100000);
	cr_assert_eq(ots_cfg.pool_size, 512);
	cr_assert_eq(ots_cfg.shutdown_timeout_ns, 2000000000ull);
	cr_assert_eq(ots_cfg.hooks, OTS_FAM_ALL);
	cr_assert_eq(ots_cfg.stack_depth, 16);
	cr_assert_null(ots_cfg.output_path);
	cr_assert_null(ots_cfg.service_name);
	cr_assert_str_eq(ots_cfg.endpoint, "http://localhost:4318/v1/traces");
	cr_assert_eq(ots_cfg.bsp_schedule_delay_ns, 5000000000ull);
	cr_assert_eq(ots_cfg.bsp_max_queue, 2048);
	cr_assert_eq(ots_cfg.bsp_max_batch, 512);
}

Test(config, empty_value_is_unset)
{
	env_set("OTEL_SDK_DISABLED", "");
	env_set("OTCSHIM_MIN_WAIT", "");
	env_set("OTEL_SERVICE_NAME", "");
	env_set("OTCSHIM_OUTPUT", "");
	load();
	cr_assert_eq(ots_cfg.sdk_disabled, 0);
	cr_assert_eq(ots_cfg.min_wait_ns, 100000);
	cr_assert_null(ots_cfg.service_name);
	cr_assert_null(ots_cfg.output_path);
}

Test(config, sdk_disabled_bool_rules, .init = cr_redirect_stderr)
{
	env_set("OTEL_SDK_DISABLED", "TRUE");
	load();
	cr_assert_eq(ots_cfg.sdk_disabled, 1);
	reset();
	env_set("OTEL_SDK_DISABLED", "False");
	load();
	cr_assert_eq(ots_cfg.sdk_disabled, 0);
	reset();
	env_set("OTEL_SDK_DISABLED", "yes");
	load();
	cr_assert_eq(ots_cfg.sdk_disabled, 0, "anything but true is false");
	cr_assert(strstr(stderr_text(), "OTEL_SDK_DISABLED=\"yes\""), "a warning names the value");
}

/* before: OTCSHIM_DEBUG=1 was "not true or false" */
Test(config, otcshim_flags_take_1_yes_on, .init = cr_redirect_stderr)
{
	static const struct {
		const char *v;
		int want;
	} cases[] = { { "1", 1 }, { "yes", 1 }, { "ON", 1 }, { "true", 1 },
		      { "0", 0 }, { "No", 0 }, { "off", 0 }, { "false", 0 } };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reset();
		env_set("OTCSHIM_DEBUG", cases[i].v);
		load();
		cr_assert_eq(ots_cfg.debug, cases[i].want, "OTCSHIM_DEBUG=%s", cases[i].v);
	}
	reset();
	env_set("OTCSHIM_DEBUG", "2");
	load();
	cr_assert_eq(ots_cfg.debug, 0);
	cr_assert(strstr(stderr_text(), "OTCSHIM_DEBUG=\"2\" is not true or false (1/0"), "%s",
		  stderr_text());
}

Test(config, durations_with_units)
{
	uint64_t v = 7;
	cr_assert_eq(ots_config_parse_duration("2ms", 1000000, &v), 0);
	cr_assert_eq(v, 2000000);
	cr_assert_eq(ots_config_parse_duration("100us", 1000000, &v), 0);
	cr_assert_eq(v, 100000);
	cr_assert_eq(ots_config_parse_duration("1.5ms", 1000000, &v), 0);
	cr_assert_eq(v, 1500000);
	cr_assert_eq(ots_config_parse_duration("3s", 1000000, &v), 0);
	cr_assert_eq(v, 3000000000ull);
	cr_assert_eq(ots_config_parse_duration("250ns", 1000000, &v), 0);
	cr_assert_eq(v, 250);
	cr_assert_eq(ots_config_parse_duration("5", 1000000, &v), 0, "bare number");
	cr_assert_eq(v, 5000000, "bare number is the default unit");
	cr_assert_eq(ots_config_parse_duration("0", 1000000, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(ots_config_parse_duration("2.25s", 1000000, &v), 0);
	cr_assert_eq(v, 2250000000ull);
	cr_assert_eq(ots_config_parse_duration("1m", 1000000, &v), 0);
	cr_assert_eq(v, 60000000000ull);
}

Test(config, bad_durations_keep_value)
{
	const char *bad[] = { "abc", "-1", "10xs", "ms", "", "1e30s", " ", "2 ms",
			      "0x10", "1.5", "+5", "1e3", "inf", "nan", "1.", ".5ms",
			      "99999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v = 42;
		cr_assert_eq(ots_config_parse_duration(bad[i], 1000000, &v), -EINVAL, "%s", bad[i]);
		cr_assert_eq(v, 42, "value untouched for %s", bad[i]);
	}
}

Test(config, bad_min_wait_warns_and_defaults, .init = cr_redirect_stderr)
{
	env_set("OTCSHIM_MIN_WAIT", "fast");
	load();
	cr_assert_eq(ots_cfg.min_wait_ns, 100000);
	cr_assert(strstr(stderr_text(), "OTCSHIM_MIN_WAIT=\"fast\""));
}

Test(config, min_wait_and_timeouts)
{
	env_set("OTCSHIM_MIN_WAIT", "2ms");
	env_set("OTCSHIM_SHUTDOWN_TIMEOUT", "500ms");
	env_set("OTCSHIM_SEGMENT", "0");
	load();
	cr_assert_eq(ots_cfg.min_wait_ns, 2000000);
	cr_assert_eq(ots_cfg.shutdown_timeout_ns, 500000000);
	cr_assert_eq(ots_cfg.segment_ns, 0);
}

Test(config, pool_size_bounds, .init = cr_redirect_stderr)
{
	env_set("OTCSHIM_POOL_SIZE", "1024");
	load();
	cr_assert_eq(ots_cfg.pool_size, 1024);
	const char *bad[] = { "0", "8", "abc", "99999999999", "-5", "12k" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		reset();
		env_set("OTCSHIM_POOL_SIZE", bad[i]);
		load();
		cr_assert_eq(ots_cfg.pool_size, 512, "%s falls back to the default", bad[i]);
	}
	cr_assert(strstr(stderr_text(), "OTCSHIM_POOL_SIZE"));
}

Test(config, u32_parser)
{
	uint32_t v = 9;
	cr_assert_eq(ots_config_parse_u32("17", 0, 100, &v), 0);
	cr_assert_eq(v, 17);
	cr_assert_eq(ots_config_parse_u32(" 18 ", 0, 100, &v), 0);
	cr_assert_eq(v, 18);
	cr_assert_eq(ots_config_parse_u32("101", 0, 100, &v), -EINVAL);
	cr_assert_eq(ots_config_parse_u32("1.5", 0, 100, &v), -EINVAL);
	cr_assert_eq(ots_config_parse_u32("+3", 0, 100, &v), -EINVAL);
	cr_assert_eq(v, 18);
}

Test(config, service_name_and_resource_attributes)
{
	env_set("OTEL_SERVICE_NAME", "cache");
	env_set("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=a%20b");
	load();
	cr_assert_str_eq(ots_cfg.service_name, "cache");
	cr_assert_str_eq(ots_cfg.resource_attrs, "deployment.environment=staging,team=a%20b");
}

static char got[8][2][64];
static int ngot;
static void collect(const char *k, const char *v, void *arg)
{
	(void)arg;
	snprintf(got[ngot][0], 64, "%s", k);
	snprintf(got[ngot][1], 64, "%s", v);
	ngot++;
}

Test(config, kv_list_percent_decoding)
{
	ngot = 0;
	int n = ots_config_parse_kv_list(" a = b%20c , d=%3D%2C ,, e=f;prop=1", collect, NULL);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(got[0][0], "a");
	cr_assert_str_eq(got[0][1], "b c");
	cr_assert_str_eq(got[1][0], "d");
	cr_assert_str_eq(got[1][1], "=,");
	cr_assert_str_eq(got[2][0], "e");
	cr_assert_str_eq(got[2][1], "f", "baggage properties are not part of the value");
}

Test(config, kv_list_bad_members)
{
	ngot = 0;
	cr_assert_eq(ots_config_parse_kv_list("a=1,novalue,b=2", collect, NULL), -EINVAL);
	cr_assert_eq(ngot, 2, "well-formed members are still delivered");
	ngot = 0;
	cr_assert_eq(ots_config_parse_kv_list("a=%zz", collect, NULL), -EINVAL);
	cr_assert_eq(ots_config_parse_kv_list("a=%4", collect, NULL), -EINVAL);
	cr_assert_eq(ots_config_parse_kv_list("=v", collect, NULL), -EINVAL);
	cr_assert_eq(ngot, 0);
}

Test(config, bad_resource_attributes_discarded, .init = cr_redirect_stderr)
{
	env_set("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken");
	load();
	cr_assert_null(ots_cfg.resource_attrs, "the whole value is discarded");
	cr_assert(strstr(stderr_text(), "OTEL_RESOURCE_ATTRIBUTES"));
}

Test(config, traces_exporter, .init = cr_redirect_stderr)
{
	env_set("OTEL_TRACES_EXPORTER", "none");
	load();
	cr_assert_eq(ots_cfg.traces_exporter_otlp, 0);
	reset();
	env_set("OTEL_TRACES_EXPORTER", "otlp");
	load();
	cr_assert_eq(ots_cfg.traces_exporter_otlp, 1);
	reset();
	env_set("OTEL_TRACES_EXPORTER", "zipkin");
	load();
	cr_assert_eq(ots_cfg.traces_exporter_otlp, 1, "unsupported value keeps the default");
	cr_assert(strstr(stderr_text(), "zipkin"));
}

Test(config, hooks_families, .init = cr_redirect_stderr)
{
	uint32_t m = 0;
	cr_assert_eq(ots_config_parse_hooks("mutex, cond", &m), 0);
	cr_assert_eq(m, OTS_FAM_MUTEX | OTS_FAM_COND);
	cr_assert_eq(ots_config_parse_hooks("none", &m), 0);
	cr_assert_eq(m, 0);
	cr_assert_eq(ots_config_parse_hooks("MUTEX,thread", &m), 0);
	cr_assert_eq(m, OTS_FAM_MUTEX | OTS_FAM_THREAD);
	m = 5;
	cr_assert_eq(ots_config_parse_hooks("mutex,locks", &m), -EINVAL);
	cr_assert_eq(m, 5);
	env_set("OTCSHIM_HOOKS", "mutexes");
	load();
	cr_assert_eq(ots_cfg.hooks, OTS_FAM_ALL);
	cr_assert(strstr(stderr_text(), "OTCSHIM_HOOKS"));
}

Test(config, endpoint_rules, .init = cr_redirect_stderr)
{
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
	load();
	cr_assert_str_eq(ots_cfg.endpoint, "http://collector:4318/v1/traces");
	cr_assert(ots_cfg.endpoint_set);
	reset();
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base/");
	load();
	cr_assert_str_eq(ots_cfg.endpoint, "http://collector:4318/base/v1/traces");
	reset();
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
	env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://x.example:443/custom");
	load();
	cr_assert_str_eq(ots_cfg.endpoint, "https://x.example:443/custom", "signal endpoint as is");
	reset();
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318");
	load();
	cr_assert_str_eq(ots_cfg.endpoint, "http://localhost:4318/v1/traces");
	cr_assert_eq(ots_cfg.endpoint_set, 0);
	cr_assert(strstr(stderr_text(), "not an http(s) URL"));
}

Test(config, bsp_batch_clamped_to_queue, .init = cr_redirect_stderr)
{
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500");
	env_set("OTEL_BSP_SCHEDULE_DELAY", "250");
	load();
	cr_assert_eq(ots_cfg.bsp_max_queue, 100);
	cr_assert_eq(ots_cfg.bsp_max_batch, 100);
	cr_assert_eq(ots_cfg.bsp_schedule_delay_ns, 250000000ull);
	reset();
	env_set("OTEL_BSP_SCHEDULE_DELAY", "1s");
	load();
	cr_assert_eq(ots_cfg.bsp_schedule_delay_ns, 5000000000ull, "OTEL durations are plain ms");
}

Test(config, traceparent_parser)
{
	uint8_t t[16];
	uint64_t s = 0;
	uint8_t f = 0;
	cr_assert_eq(ots_traceparent_parse(
			     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, &s, &f),
		     0);
	cr_assert_eq(t[0], 0x4b);
	cr_assert_eq(t[15], 0x36);
	cr_assert_eq(s, 0x00f067aa0ba902b7ull);
	cr_assert_eq(f, 1);
	const char *bad[] = {
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* uppercase */
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span */
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version ff */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* v00 extra */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"garbage",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(ots_traceparent_parse(bad[i], t, &s, &f), -EINVAL, "%s", bad[i]);
	cr_assert_eq(ots_traceparent_parse(
			     "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", t, &s,
			     &f),
		     0, "a later version may carry more fields");
}

static int fmt(char *buf, size_t n, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int r = ots_log_format(buf, n, f, ap);
	va_end(ap);
	return r;
}

/* A value echoed in a message cannot forge lines or show a URL's secret. */
Test(config, echoed_values_are_escaped_and_redacted)
{
	char b[256];
	fmt(b, sizeof b, "bad \"%s\"\n", "x\r\notcshim: forged\tline\x1b[1m");
	cr_assert_str_eq(b, "bad \"x\\r\\notcshim: forged\\tline\\x1b[1m\"\n");
	fmt(b, sizeof b, "endpoint %s", "https://alice:s3cret@collector:4318/v1/traces");
	cr_assert_str_eq(b, "endpoint https://***@collector:4318/v1/traces");
	fmt(b, sizeof b, "endpoint %s", "http://token@h/a@b");
	cr_assert_str_eq(b, "endpoint http://***@h/a@b");
	fmt(b, sizeof b, "endpoint %s", "http://h:4318/p?u=a@b");
	cr_assert_str_eq(b, "endpoint http://h:4318/p?u=a@b", "an @ after the host is not userinfo");
	fmt(b, sizeof b, "é %s", "ü");
	cr_assert_str_eq(b, "é ü", "UTF-8 passes");
}

/* W3C tracestate: the grammar, the limits, and what the warning says. */
Test(config, tracestate_parser)
{
	static char longest[600], too_long[700], members[400];
	const char *why = NULL;
	/* 512 characters exactly, then 513 */
	snprintf(longest, sizeof longest, "a=%0253d,b=%0254d", 0, 0);
	snprintf(too_long, sizeof too_long, "%s0", longest);
	size_t n = 0;
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(members + n, sizeof members - n, "%sk%d=v", i ? "," : "", i);
	const char *good[] = {
		"vendor=abc", "a=1, b=2 ,\tc=3", ",,a=1,,", " ", "t1@sys=x", "0t@s-*/_=y",
		"k*/_-9=a b", "a= b", "a=b ", "a=!\"#$%&'()*+-./:;<>?@[]^_`{|}~", longest, members,
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert_eq(ots_config_parse_tracestate(good[i], &why), 0, "%.60s: %s", good[i],
			     why);
	snprintf(members + n, sizeof members - n, ",k32=v");
	struct {
		const char *s, *why;
	} bad[] = {
		{ too_long, "longer than 512" },
		{ members, "more than 32" },
		{ "Vendor=1", "key" },
		{ "0vendor=1", "key" },	  /* a simple key starts with a letter */
		{ "a@b@c=1", "key" },
		{ "t@0s=1", "key" },	  /* a system id starts with a letter */
		{ "t@abcdefghijklmno=1", "key" }, /* system id of 15 */
		{ "a=", "value" },
		{ "a=x\ty", "value" },
		{ "a=\xc3\xa9", "value" },
		{ "a=1=2", "value" },
		{ "a", "key" },
		{ "a=1,b=2,a=3", "twice" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		cr_assert_eq(ots_config_parse_tracestate(bad[i].s, &why), -EINVAL, "%.60s",
			     bad[i].s);
		cr_assert(why && strstr(why, bad[i].why), "%.60s: %s", bad[i].s, why);
	}
}

Test(config, bad_tracestate_dropped_with_a_warning, .init = cr_redirect_stderr)
{
	env_set("TRACESTATE", "Bad=1");
	load();
	cr_assert_null(ots_cfg.tracestate);
	cr_assert(strstr(stderr_text(), "TRACESTATE is not a W3C tracestate"));
	reset();
	env_set("TRACESTATE", "ok=1");
	load();
	cr_assert_str_eq(ots_cfg.tracestate, "ok=1");
}

/* the strings live in a fixed arena at start; past it, on the heap: both
 * read back whole, and reloading releases both (ASan sees the frees) */
Test(config, strings_past_the_static_arena, .init = cr_redirect_stderr)
{
	static char big[12000];
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "k=", 2);
	for (int round = 0; round < 3; round++) {
		reset();
		env_set("OTEL_SERVICE_NAME", "svc");
		env_set("OTEL_EXPORTER_OTLP_HEADERS", big);
		env_set("OTCSHIM_OUTPUT", "/tmp/x.jsonl");
		load();
		cr_assert_str_eq(ots_cfg.service_name, "svc");
		cr_assert_str_eq(ots_cfg.headers, big);
		cr_assert_str_eq(ots_cfg.output_path, "/tmp/x.jsonl");
		cr_assert_str_eq(ots_cfg.endpoint, "http://localhost:4318/v1/traces");
	}
	reset();
	load();
	cr_assert_null(ots_cfg.headers);
}
