/* Integration tests of what the shim brings into a host (issue 9): the
 * preloaded object needs only libc; the heavy parts (libunwind, the
 * symboliser, the OTLP transport) are opened when first needed, by the
 * exporter thread, each binding to its own libraries, never to the host's. */
#include "h4_util.h"
#include "../receiver/recv.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* NEEDED entries of a shared object, one per line, from readelf */
static char *needed_of(const char *so)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "readelf -dW '%s' 2>&1", so);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	static char out[8192];
	size_t n = 0;
	char line[512];
	while (fgets(line, sizeof line, p)) {
		char *lib = strstr(line, "(NEEDED)");
		char *b = lib ? strchr(lib, '[') : NULL, *e = b ? strchr(b, ']') : NULL;
		if (b && e && n + (size_t)(e - b) + 2 < sizeof out)
			n += (size_t)snprintf(out + n, sizeof out - n, "%.*s\n", (int)(e - b - 1), b + 1);
	}
	cr_assert_eq(pclose(p), 0, "readelf failed on %s", so);
	out[n] = '\0';
	return out;
}

/* the objects the shim run mapped beyond the native run's, one a line */
static void extra_objects(const trun_t *n, const trun_t *s, char *out, size_t size)
{
	out[0] = '\0';
	const char *p = s->out;
	while ((p = strstr(p, "mapped "))) {
		p += 7;
		size_t len = strcspn(p, "\n");
		char needle[300];
		snprintf(needle, sizeof needle, "mapped %.*s\n", (int)len, p);
		if (!strstr(n->out, needle))
			snprintf(out + strlen(out), size - strlen(out), "%.*s\n", (int)len, p);
		p += len;
	}
}

static void run_lean(trun_t *n, trun_t *s, const char *mode, const char *const *env)
{
	const char *argv[] = { "progs/lean_host", mode, NULL };
	run_both(n, s, argv, env);
	cr_assert_eq(s->exit_code, 0, "%s: %s\n%s", mode, trun_status(s), s->err);
}

/* before: libcurl.so.4, libz.so.1, libdw.so.1, libelf.so.1 as well, and
 * with them 36 objects in every process */
Test(lean, preloaded_object_needs_only_libc)
{
	char *need = needed_of(ots_path("libotcshim.so"));
	const char *p = need;
	while (*p) {
		size_t len = strcspn(p, "\n");
		/* a sanitizer build links its runtime too: that one is allowed */
		int runtime = under_sanitizer() && (!strncmp(p, "libasan.so", 10) ||
						    !strncmp(p, "libtsan.so", 10) ||
						    !strncmp(p, "libubsan.so", 11));
		cr_assert(runtime || !strncmp(p, "libc.so.6", len) ||
				  !strncmp(p, "ld-linux-x86-64.so.2", len),
			  "libotcshim.so needs %.*s (all: %s)", (int)len, p, need);
		p += len + 1;
	}
}

/* lean_host MODE maps nothing under the shim but the shim itself */
static void assert_only_the_shim(const char *mode, const char *const *env)
{
	trun_t n, s;
	run_lean(&n, &s, mode, env);
	char extra[2048];
	extra_objects(&n, &s, extra, sizeof extra);
	cr_assert_str_eq(extra, "libotcshim.so\n",
			 "%s: mapped under the shim besides the host's own:\n%s", mode, extra);
	trun_free(&n);
	trun_free(&s);
}

/* a host that starts no thread maps the shim and nothing else */
Test(lean, idle_host_maps_only_the_shim)
{
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", NULL };
	assert_only_the_shim("maps", env);
}

/* OTEL_SDK_DISABLED: threads and contention, still nothing loaded */
Test(lean, disabled_loads_nothing)
{
	const char *env[] = { "OTEL_SDK_DISABLED=true", NULL };
	assert_only_the_shim("threads", env);
}

/* exporting to a file: libunwind and the symboliser, never the transport */
Test(lean, file_sink_never_maps_the_transport)
{
	if (under_sanitizer())
		cr_skip_test("sanitizer runtimes refuse RTLD_DEEPBIND: libdw's zlib would bind to "
			     "the inflate lean_host exports, which it aborts on");
	trun_t n, s;
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=0",
			      "OTEL_BSP_SCHEDULE_DELAY=50", NULL };
	run_lean(&n, &s, "threads", env);
	char extra[4096];
	extra_objects(&n, &s, extra, sizeof extra);
	cr_assert(strstr(extra, "libunwind.so") && strstr(extra, "libotcshim-sym.so"), "%s", extra);
	cr_assert_null(strstr(extra, "libotcshim-otlp.so"), "%s", extra);
	cr_assert_null(strstr(extra, "libcurl"), "%s", extra);
	cr_assert_geq(tspan_count(&s, "pthread_mutex_lock"), 3, "%s", s.err);
	/* the waits have their stacks, named */
	const tspan_t *w = tspan_find(&s, "pthread_mutex_lock", 0);
	const char *st = w ? tspan_attr_str(w, "code.stacktrace") : NULL;
	cr_assert(st && strstr(st, "locker"), "stack: %s", st ? st : "(none)");
	trun_free(&n);
	trun_free(&s);
}

/* the host exports deflate and SSL_CTX_new of its own (-rdynamic): the OTLP
 * sink's gzip must use its own zlib (before: the host's deflateInit2_ was
 * called and the program aborted) */
Test(lean, host_exported_zlib_is_never_bound)
{
	if (under_sanitizer())
		cr_skip_test("sanitizer runtimes refuse RTLD_DEEPBIND");
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, "OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
			      "OTCSHIM_MIN_WAIT=0", "OTEL_BSP_SCHEDULE_DELAY=50", NULL };
	const char *argv[] = { "progs/lean_host", "threads", NULL };
	trun_t s;
	cr_assert_eq(trun(&s, argv, env, 1), 0);
	cr_assert_eq(s.exit_code, 0, "%s\n%s", trun_status(&s), s.err);
	cr_assert_null(strstr(s.err, "lean_host:"), "%s", s.err);
	cr_assert_gt(trecv_count(&r), 0, "nothing received: %s", s.err);
	cr_assert_geq(trecv_unique_spans(&r), 3, "%s", s.err);
	trun_free(&s);
	trecv_stop(&r);
}

/* exit() from a signal handler while the main thread is inside malloc:
 * nothing the shim loaded may free or allocate in the exit path (before:
 * with 36 libraries dragged in, a destructor (libtasn1's) freed in _dl_fini
 * and the process hung, 4 runs in 5 even with OTEL_SDK_DISABLED=true) */
static void signal_exit_runs(const char *const *env)
{
	const char *argv[] = { "progs/sig_exit", NULL };
	for (int i = 0; i < 5; i++) {
		trun_t s;
		cr_assert_eq(trun_bounded(&s, argv, env, 1, 10.0), 0);
		cr_assert_eq(s.exit_code, 3, "run %d: %s (want exit 3 from the handler)\n%s", i + 1,
			     trun_status(&s), s.err);
		trun_free(&s);
	}
}

Test(lean, signal_handler_exit_disabled, .timeout = 90)
{
	const char *env[] = { "OTEL_SDK_DISABLED=true", NULL };
	signal_exit_runs(env);
}

Test(lean, signal_handler_exit_traced, .timeout = 90)
{
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", NULL };
	signal_exit_runs(env);
}

/* OTCSHIM_REPORT (like OTCSHIM_OUTPUT) is never opened through a symbolic
 * link in its last component, and a FIFO with no reader costs one message,
 * never a blocked exit (before: the link was followed and its target
 * truncated; the FIFO's open blocked until the shutdown bound, or forever) */
Test(lean, report_never_follows_a_symlink)
{
	char dir[] = "/tmp/ots-lean-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char target[128], link[128], var[160];
	snprintf(target, sizeof target, "%s/precious", dir);
	snprintf(link, sizeof link, "%s/report", dir);
	FILE *f = fopen(target, "w");
	fputs("keep me\n", f);
	fclose(f);
	cr_assert_eq(symlink(target, link), 0);
	snprintf(var, sizeof var, "OTCSHIM_REPORT=%s", link);
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=0", var, NULL };
	const char *argv[] = { "progs/mutex_wait", NULL };
	trun_t s;
	cr_assert_eq(trun(&s, argv, env, 1), 0);
	cr_assert_eq(s.exit_code, 0, "%s", s.err);
	cr_assert(strstr(s.err, "symbolic link"), "no message: %s", s.err);
	char buf[64] = { 0 };
	f = fopen(target, "r");
	cr_assert(fgets(buf, sizeof buf, f));
	fclose(f);
	cr_assert_str_eq(buf, "keep me\n", "the link's target was written");
	unlink(link);
	unlink(target);
	rmdir(dir);
	trun_free(&s);
}

Test(lean, report_to_a_fifo_without_reader)
{
	char dir[] = "/tmp/ots-lean-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char fifo[128], var[160];
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	snprintf(var, sizeof var, "OTCSHIM_REPORT=%s", fifo);
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_SHUTDOWN_TIMEOUT=10s", var, NULL };
	const char *argv[] = { "progs/mutex_wait", NULL };
	trun_t s;
	cr_assert_eq(trun_bounded(&s, argv, env, 1, 20.0), 0);
	cr_assert_eq(s.exit_code, 0, "%s\n%s", trun_status(&s), s.err);
	cr_assert_lt(s.seconds, 3.0, "exit took %.2f s", s.seconds);
	cr_assert(strstr(s.err, "FIFO with no reader"), "no message: %s", s.err);
	unlink(fifo);
	rmdir(dir);
	trun_free(&s);
}

/* a jemalloc host exporting over OTLP: the plugin's libcurl frees what libc
 * allocated for it (strdup, getaddrinfo) through jemalloc, the process's
 * allocator (before: with libc's free, "munmap_chunk(): invalid pointer"
 * and the final export crashed) */
Test(lean, jemalloc_host_exports_over_otlp)
{
	if (under_sanitizer())
		cr_skip_test("a sanitizer's allocator and jemalloc cannot both be the process's malloc");
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	char url[160];
	snprintf(url, sizeof url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s", r.url);
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp", url, "OTEL_BSP_SCHEDULE_DELAY=50", NULL };
	const char *argv[] = { "progs/jemalloc_threads", NULL };
	trun_t s;
	cr_assert_eq(trun(&s, argv, env, 1), 0);
	cr_assert_eq(s.exit_code, 0, "%s\n%s", trun_status(&s), s.err);
	cr_assert_null(strstr(s.err, "crashed"), "%s", s.err);
	cr_assert_null(strstr(s.err, "invalid pointer"), "%s", s.err);
	cr_assert_gt(trecv_unique_spans(&r), 0, "nothing received: %s", s.err);
	trun_free(&s);
	trecv_stop(&r);
}
