/* Integration tests of scripts/otcshim, the launcher: options become the
 * shim's environment, the report goes to stderr, the exit code is the
 * program's, LD_PRELOAD is kept (ASan's runtime first), static and setuid
 * programs are refused with one line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../harness.h"

static char lib_env[1100];

/* The launcher finds build/ of the source tree; tests use their own build. */
static const char *lib_var(void)
{
	char abs[1024];
	if (!realpath(ots_path("libotcshim.so"), abs))
		snprintf(abs, sizeof abs, "%s", ots_path("libotcshim.so"));
	snprintf(lib_env, sizeof lib_env, "OTCSHIM_LIB=%s", abs);
	return lib_env;
}

/* Run the launcher (not preloaded itself) with up to two extra variables.
 * The test runner exports OTEL_TRACES_EXPORTER=none; "OTEL_TRACES_EXPORTER="
 * (empty is unset, for the shim and the launcher alike) undoes that. */
static int launch2(trun_t *r, const char *const *argv, const char *e1, const char *e2)
{
	const char *env[] = { lib_var(), e1 ? e1 : e2, e1 ? e2 : NULL, NULL };
	return trun(r, argv, env, 0);
}

static int launch(trun_t *r, const char *const *argv, const char *extra_env)
{
	return launch2(r, argv, extra_env, NULL);
}

/* Lines of file that contain needle (-1 if it cannot be read). */
static int grep_count(const char *file, const char *needle)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	while (getline(&line, &cap, f) > 0)
		n += strstr(line, needle) != NULL;
	free(line);
	fclose(f);
	return n;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(launcher, help_and_usage_errors)
{
	trun_t r;
	const char *help[] = { "scripts/otcshim", "--help", NULL };
	cr_assert_eq(launch(&r, help, NULL), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert(strstr(r.out, "usage: otcshim [options] -- program"), "%s", r.out);
	cr_assert(strstr(r.out, "--stack-depth"));
	trun_free(&r);
	const char *bad[] = { "scripts/otcshim", "--bogus", "--", "true", NULL };
	cr_assert_eq(launch(&r, bad, NULL), 0);
	cr_assert_eq(r.exit_code, 125);
	cr_assert_eq(count_of(r.err, "\n"), 1, "one line: %s", r.err);
	trun_free(&r);
	const char *none[] = { "scripts/otcshim", "--", "no-such-program-here", NULL };
	cr_assert_eq(launch(&r, none, NULL), 0);
	cr_assert_eq(r.exit_code, 127);
	trun_free(&r);
}

Test(launcher, report_on_stderr_and_the_programs_exit_code)
{
	trun_t r;
	char prog[1024];
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit"));
	const char *argv[] = { "scripts/otcshim", "--", prog, "3", NULL };
	cr_assert_eq(launch(&r, argv, NULL), 0);
	cr_assert_eq(r.exit_code, 3, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "stdout-line\n");
	cr_assert(strstr(r.err, "== otcshim report: report_exit"), "%s", r.err);
	cr_assert(strstr(r.err, "  1  exit_lock "), "%s", r.err);
	trun_free(&r);
}

Test(launcher, no_report_when_asked)
{
	trun_t r;
	char prog[1024];
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit"));
	const char *argv[] = { "scripts/otcshim", "--no-report", "--", prog, NULL };
	cr_assert_eq(launch(&r, argv, NULL), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert_null(strstr(r.err, "otcshim"), "%s", r.err);
	trun_free(&r);
}

Test(launcher, options_become_environment)
{
	trun_t r;
	char prog[1024];
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit"));
	const char *argv[] = { "scripts/otcshim", "-o", "/tmp/x.jsonl", "-e",
			       "http://127.0.0.1:4318", "--min-wait", "2ms", "--stack-depth",
			       "5", "--service", "svc-a", "--json", "--no-report", "--", prog, "0",
			       "env", NULL };
	cr_assert_eq(launch(&r, argv, "OTEL_TRACES_EXPORTER=none"), 0);
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "\nOTCSHIM_OUTPUT=/tmp/x.jsonl\n"), "%s", r.out);
	cr_assert(strstr(r.out, "\nOTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318\n"));
	cr_assert(strstr(r.out, "\nOTCSHIM_MIN_WAIT=2ms\n"));
	cr_assert(strstr(r.out, "\nOTCSHIM_STACK_DEPTH=5\n"));
	cr_assert(strstr(r.out, "\nOTEL_SERVICE_NAME=svc-a\n"));
	cr_assert(strstr(r.out, "\nOTCSHIM_REPORT=none\n"));
	cr_assert(strstr(r.out, "\nOTCSHIM_REPORT_FORMAT=json\n"));
	cr_assert(strstr(r.out, "libotcshim.so\n"), "LD_PRELOAD set: %s", r.out);
	cr_assert(strstr(r.out, "\nOTEL_TRACES_EXPORTER=none\n"), "the caller's choice is kept");
	unlink("/tmp/x.jsonl");
	trun_free(&r);
	/* by default: the report to stderr, and with nowhere to send spans the
	 * default collector is not tried */
	const char *plain[] = { "scripts/otcshim", "--", prog, "0", "env", NULL };
	cr_assert_eq(launch(&r, plain, "OTEL_TRACES_EXPORTER="), 0);
	cr_assert(strstr(r.out, "\nOTEL_TRACES_EXPORTER=none\n"), "%s", r.out);
	cr_assert(strstr(r.out, "\nOTCSHIM_REPORT=stderr\n"), "%s", r.out);
	trun_free(&r);
	/* an endpoint given: spans go there, the exporter is left on */
	const char *ep[] = { "scripts/otcshim", "--no-report", "--endpoint=http://127.0.0.1:9",
			     "--", prog, "0", "env", NULL };
	cr_assert_eq(launch2(&r, ep, "OTCSHIM_SHUTDOWN_TIMEOUT=200ms", "OTEL_TRACES_EXPORTER="), 0);
	cr_assert(strstr(r.out, "\nOTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9\n"), "%s", r.out);
	cr_assert_null(strstr(r.out, "OTEL_TRACES_EXPORTER=none"), "%s", r.out);
	trun_free(&r);
}

Test(launcher, output_file_and_service_reach_the_spans)
{
	trun_t r;
	char out[128], prog[1024];
	snprintf(out, sizeof out, "/tmp/otcshim-launch-%d.jsonl", getpid());
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit"));
	unlink(out);
	const char *argv[] = { "scripts/otcshim", "-o", out, "--service", "launched",
			       "--stack-depth", "0", "--", prog, NULL };
	cr_assert_eq(launch(&r, argv, NULL), 0);
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert_gt(grep_count(out, "\"launched\""), 0, "service.name is the one given");
	cr_assert_gt(grep_count(out, "pthread_mutex_lock"), 0, "the wait is a span");
	cr_assert_eq(grep_count(out, "code.stacktrace"), 0, "--stack-depth 0: no stacks");
	unlink(out);
	trun_free(&r);
}

Test(launcher, min_wait_reaches_the_shim)
{
	trun_t r;
	char out[128], prog[1024];
	snprintf(out, sizeof out, "/tmp/otcshim-launch-mw-%d.jsonl", getpid());
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit"));
	unlink(out);
	const char *argv[] = { "scripts/otcshim", "-o", out, "--min-wait", "10s", "--", prog, NULL };
	cr_assert_eq(launch(&r, argv, NULL), 0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert_eq(grep_count(out, "pthread_mutex_lock"), 0, "no wait span under 10 s");
	cr_assert(strstr(r.err, "  1  exit_lock "), "the report still counts it: %s", r.err);
	unlink(out);
	trun_free(&r);
}

Test(launcher, keeps_an_existing_preload)
{
	trun_t r;
	char prog[1024];
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit"));
	const char *argv[] = { "scripts/otcshim", "--no-report", "--", prog, "0", "env", NULL };
	const char *libm = "/lib/x86_64-linux-gnu/libm.so.6";
	if (access(libm, R_OK))
		cr_skip_test("no %s", libm);
	cr_assert_eq(launch(&r, argv, "LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6"), 0);
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	char pl[2048];
	const char *p = strstr(r.out, "LD_PRELOAD=");
	cr_assert_not_null(p);
	snprintf(pl, sizeof pl, "%.*s", (int)strcspn(p, "\n"), p);
	const char *m = strstr(pl, "libm.so.6"), *s = strstr(pl, "libotcshim.so");
	cr_assert(m && s, "both preloaded: %s", pl);
	cr_assert_eq(count_of(pl, "libotcshim.so"), 1, "%s", pl);
	trun_free(&r);
}

Test(launcher, asan_runtime_goes_first)
{
	trun_t r;
	char prog[1024];
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit_asan"));
	const char *argv[] = { "scripts/otcshim", "--", prog, "0", "env", NULL };
	cr_assert_eq(launch(&r, argv, "ASAN_OPTIONS=detect_leaks=0"), 0);
	cr_assert_eq(r.exit_code, 0, "ASan accepted the order: %s", r.err);
	const char *pl = strstr(r.out, "LD_PRELOAD=");
	cr_assert_not_null(pl);
	cr_assert(strstr(pl, "LD_PRELOAD=/") && strstr(pl, "libasan.so") < strstr(pl, "libotcshim"),
		  "%s", pl);
	cr_assert(strstr(r.err, "exit_lock"), "traced: %s", r.err);
	trun_free(&r);
}

Test(launcher, refuses_static_binaries)
{
	trun_t r;
	char prog[1024];
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit_static"));
	const char *argv[] = { "scripts/otcshim", "--", prog, NULL };
	cr_assert_eq(launch(&r, argv, NULL), 0);
	cr_assert_eq(r.exit_code, 126);
	cr_assert(strstr(r.err, "statically linked"), "%s", r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "one line: %s", r.err);
	cr_assert_str_eq(r.out, "", "the program did not run");
	trun_free(&r);
}

Test(launcher, refuses_setuid_programs)
{
	char path[128];
	snprintf(path, sizeof path, "/tmp/otcshim-suid-%d", getpid());
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "cp %s %s", ots_path("progs/report_exit"), path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(chmod(path, 04755), 0);
	trun_t r;
	const char *argv[] = { "scripts/otcshim", "--", path, NULL };
	cr_assert_eq(launch(&r, argv, NULL), 0);
	unlink(path);
	cr_assert_eq(r.exit_code, 126);
	cr_assert(strstr(r.err, "setuid"), "%s", r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "one line: %s", r.err);
	trun_free(&r);
}

Test(launcher, finds_the_library_next_to_an_install)
{
	/* an install tree: prefix/bin/otcshim and prefix/lib/libotcshim.so */
	char prefix[128], cmd[2048];
	snprintf(prefix, sizeof prefix, "/tmp/otcshim-prefix-%d", getpid());
	char lib[1024];
	if (!realpath(ots_path("libotcshim.so"), lib))
		cr_assert_fail("no library");
	snprintf(cmd, sizeof cmd,
		 "mkdir -p %s/bin %s/lib && cp scripts/otcshim %s/bin/ && cp %s %s/lib/", prefix,
		 prefix, prefix, lib, prefix);
	cr_assert_eq(system(cmd), 0);
	char bin[256], prog[1024];
	snprintf(bin, sizeof bin, "%s/bin/otcshim", prefix);
	snprintf(prog, sizeof prog, "%s", ots_path("progs/report_exit"));
	const char *argv[] = { bin, "--", prog, "0", "env", NULL };
	trun_t r;
	cr_assert_eq(trun(&r, argv, NULL, 0), 0); /* no OTCSHIM_LIB */
	snprintf(cmd, sizeof cmd, "rm -rf %s", prefix);
	int rc = system(cmd);
	(void)rc;
	char want[300];
	snprintf(want, sizeof want, "%s/bin/../lib/libotcshim.so", prefix);
	cr_assert(strstr(r.out, want), "%s", r.out);
	trun_free(&r);
}
