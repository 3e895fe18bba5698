/* test_otlp_exit.c - exit with the collector down, hung or refusing: the
 * traced program's run time stays within OTCSHIM_SHUTDOWN_TIMEOUT of its
 * native run time, and its exit code is unchanged. */
#include "../harness.h"
#include "../receiver/recv.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Native and traced run of argv; returns traced - native seconds. */
static double overhead(const char *const *argv, const char *const *env, int want_code,
		       trun_t *traced)
{
	trun_t native;
	cr_assert_eq(trun(&native, argv, NULL, 0), 0);
	cr_assert_eq(native.exit_code, want_code);
	cr_assert_eq(trun(traced, argv, env, 1), 0);
	cr_expect_eq(traced->exit_code, want_code, "exit code changed: %d; %s", traced->exit_code,
		     traced->err);
	double d = traced->seconds - native.seconds;
	trun_free(&native);
	return d;
}

static const char *waits[] = { "progs/otlp_waits", "3", "5", NULL };
static const char *single[] = { "progs/otlp_single", "4", NULL };

Test(otlp_exit, nothing_listening_costs_no_shutdown_timeout)
{
	char url[128];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d",
		 trecv_dead_port());
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, NULL };
	for (int i = 0; i < 2; i++) {
		trun_t t;
		double d = overhead(i ? single : waits, env, i ? 4 : 5, &t);
		/* a refused connect at exit is not retried */
		cr_expect_lt(d, 0.5, "%s: %.3f s over native", i ? "single" : "threaded", d);
		cr_expect(strstr(t.err, "cannot connect at exit"), "%s", t.err);
		cr_expect(strstr(t.err, "at shutdown"), "%s", t.err);
		trun_free(&t);
	}
}

Test(otlp_exit, default_endpoint_without_collector_gives_a_hint)
{
	/* only meaningful when nothing listens on localhost:4318 here */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(4318),
				 .sin_addr.s_addr = htonl(0x7f000001) };
	int busy = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	if (busy)
		cr_skip_test("something listens on 127.0.0.1:4318");
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", NULL };
	trun_t t;
	double d = overhead(waits, env, 5, &t);
	cr_expect_lt(d, 0.5, "%.3f s over native", d);
	cr_expect(strstr(t.err, "no OTLP collector at http://localhost:4318/v1/traces"), "%s",
		  t.err);
	cr_expect(strstr(t.err, "OTEL_TRACES_EXPORTER=none"), "%s", t.err);
	trun_free(&t);
}

Test(otlp_exit, hung_collector_bounded_by_the_shutdown_timeout)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "hang", NULL), 0);
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, "OTCSHIM_SHUTDOWN_TIMEOUT=500ms",
			      NULL };
	for (int i = 0; i < 2; i++) {
		trun_t t;
		double d = overhead(i ? single : waits, env, i ? 4 : 5, &t);
		cr_expect(d > 0.4 && d < 0.9, "%s: %.3f s over native (bound 0.5 s)",
			  i ? "single" : "threaded", d);
		cr_expect(strstr(t.err, "at shutdown"), "%s", t.err);
		trun_free(&t);
	}
	trecv_stop(&r);
}

Test(otlp_exit, default_shutdown_timeout_is_two_seconds)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "hang", NULL), 0);
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, NULL };
	trun_t t;
	double d = overhead(waits, env, 5, &t);
	cr_expect(d > 1.8 && d < 2.4, "%.3f s over native", d);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp_exit, retry_after_past_the_deadline_is_not_waited_for)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "retry:503:30", NULL), 0);
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, NULL };
	trun_t t;
	double d = overhead(waits, env, 5, &t);
	cr_expect_lt(d, 0.5, "%.3f s over native", d);
	cr_expect_eq(trecv_count(&r), 1);
	trun_free(&t);
	trecv_stop(&r);
}

Test(otlp_exit, errors_at_exit_keep_the_exit_code)
{
	const char *modes[] = { "status:500", "close", "garbage", "status:413" };
	for (int i = 0; i < 4; i++) {
		trecv_t r;
		cr_assert_eq(trecv_start(&r, NULL, modes[i], NULL), 0);
		char url[160];
		snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
		const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url,
				      "OTCSHIM_SHUTDOWN_TIMEOUT=400ms", NULL };
		trun_t t;
		double d = overhead(single, env, 4, &t);
		cr_expect_lt(d, 0.6, "%s: %.3f s over native", modes[i], d);
		trun_free(&t);
		trecv_stop(&r);
	}
}
