/* Integration tests of the strings the shim emits (issue 9): every one is
 * well-formed UTF-8 whatever the kernel or the environment handed it, the
 * process is named after the command as the user ran it, a thread with no
 * symbol after its own name, and TRACESTATE is carried only when valid. */
#include "h4_util.h"

#include <sys/stat.h>
#include <unistd.h>

/* The output file is valid UTF-8 by glibc's iconv, a decoder that is not ours
 * (cJSON, which reads it for the harness, does not check). */
static int file_is_utf8(const char *path)
{
	trun_t s;
	const char *argv[] = { "/usr/bin/iconv", "-f", "UTF-8", "-t", "UTF-8", path, NULL };
	cr_assert_eq(trun(&s, argv, NULL, 0), 0);
	int ok = s.exit_code == 0;
	trun_free(&s);
	return ok;
}

typedef struct {
	char dir[64];
	char stripped[128]; /* DIR/names-s: progs/names with no symbol table */
	char link[128];     /* DIR/my-names -> names-s */
} names_copy_t;

static void names_copy(names_copy_t *c)
{
	strcpy(c->dir, "/tmp/ots-strings-XXXXXX");
	cr_assert_not_null(mkdtemp(c->dir));
	snprintf(c->stripped, sizeof c->stripped, "%s/names-s", c->dir);
	snprintf(c->link, sizeof c->link, "%s/my-names", c->dir);
	trun_t s;
	const char *argv[] = { "/usr/bin/strip", "-o", c->stripped, ots_path("progs/names"), NULL };
	cr_assert_eq(trun(&s, argv, NULL, 0), 0);
	cr_assert_eq(s.exit_code, 0, "strip: %s", s.err);
	trun_free(&s);
	cr_assert_eq(symlink("names-s", c->link), 0);
}

static void names_copy_free(names_copy_t *c)
{
	unlink(c->link);
	unlink(c->stripped);
	rmdir(c->dir);
}

/* the harness puts ASan's runtime first in LD_PRELOAD (harness.h) */
static int under_asan(void)
{
	const char *f = getenv("OTS_PRELOAD_FIRST");
	return f && *f;
}

static const tspan_t *span_prefixed(const trun_t *r, const char *prefix)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strncmp(r->spans[i].name, prefix, strlen(prefix)))
			return &r->spans[i];
	return NULL;
}

/* before: "process names-s" in the span and the report, every thread of a
 * stripped program "thread 0x55..." */
Test(strings, command_and_thread_names_as_people_know_them)
{
	if (under_asan())
		cr_skip_test("under ASan every thread starts in the runtime's own routine");
	names_copy_t c;
	names_copy(&c);
	trun_t r;
	const char *argv[] = { c.link, NULL };
	const char *env[] = { "OTCSHIM_REPORT=stderr", "OTCSHIM_MIN_WAIT=0", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert(strstr(r.out, "names done"));

	const tspan_t *root = root_span(&r);
	cr_assert_not_null(root, "no root span");
	cr_assert_str_eq(root->name, "process my-names");
	cr_assert_str_eq(tspan_res_str(root, "process.executable.name"), "names-s");
	cr_assert_str_eq(tspan_res_str(root, "process.command"), c.link);
	cr_assert(strstr(r.err, "otcshim report: my-names (pid"), "report not named after the command:\n%s", r.err);
	/* its threads table: the names the threads gave themselves */
	const char *table = strstr(r.err, "Threads by time");
	cr_assert_not_null(table, "%s", r.err);
	cr_assert(strstr(table, " pool-7 "), "pool-7 not in the threads table:\n%s", table);
	cr_assert(strstr(table, " w\xc3\xb6rker-"), "the cut name not in the table:\n%s", table);

	cr_assert_not_null(tspan_find(&r, "thread pool-7", 0), "no span named after pool-7");
	/* the kernel cut the name inside an alpha: the lone lead byte is U+FFFD */
	const tspan_t *cut = tspan_find(&r, "thread w\xc3\xb6rker-\xce\xb1\xce\xb1\xce\xb1\xef\xbf\xbd", 0);
	cr_assert_not_null(cut, "no span named after the cut name");
	cr_assert_str_eq(tspan_attr_str(cut, "thread.name"),
			 "w\xc3\xb6rker-\xce\xb1\xce\xb1\xce\xb1\xef\xbf\xbd");
	/* the third kept the process's name: that is not its own, so the address */
	int by_address = 0;
	for (int i = 0; i < r.nspans; i++)
		by_address += !strncmp(r.spans[i].name, "thread 0x", 9);
	cr_assert_eq(by_address, 1, "threads named by address: %d", by_address);
	cr_assert(file_is_utf8(r.outfile), "the output is not UTF-8");
	unlink(r.outfile);
	trun_free(&r);
	names_copy_free(&c);
}

/* with symbols, the start routine still names the thread */
Test(strings, a_symbol_still_names_the_thread)
{
	if (under_asan())
		cr_skip_test("under ASan every thread starts in the runtime's own routine");
	trun_t r;
	const char *argv[] = { "progs/names", NULL };
	cr_assert_eq(trun(&r, argv, NULL, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_not_null(tspan_find(&r, "thread pool_worker", 0));
	const tspan_t *t = tspan_find(&r, "thread cut_worker", 0);
	cr_assert_not_null(t);
	cr_assert_str_eq(tspan_attr_str(t, "code.function.name"), "cut_worker");
	cr_assert_null(span_prefixed(&r, "thread 0x"));
	cr_assert_str_eq(root_span(&r)->name, "process names");
	unlink(r.outfile);
	trun_free(&r);
}

/* before: a Latin-1 service name went out as a raw 0xe9, a JSON line no
 * decoder accepts */
Test(strings, latin1_service_name_becomes_replacement)
{
	trun_t r;
	const char *argv[] = { "progs/names", NULL };
	const char *env[] = { "OTEL_SERVICE_NAME=caf\xe9 bar", NULL };
	cr_assert_eq(trun(&r, argv, env, 1), 0);
	cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
	cr_assert_gt(r.nspans, 0);
	cr_assert_str_eq(tspan_res_str(&r.spans[0], "service.name"), "caf\xef\xbf\xbd bar");
	cr_assert(file_is_utf8(r.outfile), "the output is not UTF-8");
	unlink(r.outfile);
	trun_free(&r);
}

static const char *root_tracestate(const trun_t *r)
{
	const tspan_t *root = root_span(r);
	cr_assert_not_null(root);
	cJSON *ts = cJSON_GetObjectItem(root->json, "traceState");
	return cJSON_IsString(ts) ? ts->valuestring : "";
}

#define PARENT "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

/* before: any TRACESTATE was carried as it came */
Test(strings, tracestate_follows_the_w3c_rules)
{
	static const struct {
		const char *value;
		int valid;
	} cases[] = {
		{ "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 1 },
		{ "vendor@system=x , other=y", 1 },
		{ "Rojo=1", 0 },               /* uppercase key */
		{ "rojo=1,rojo=2", 0 },        /* a key twice */
		{ "rojo=a\x01", 0 },           /* a control character */
		{ "rojo", 0 },                 /* no value */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char ts[128];
		snprintf(ts, sizeof ts, "TRACESTATE=%s", cases[i].value);
		trun_t r;
		const char *argv[] = { "progs/names", NULL };
		const char *env[] = { PARENT, ts, NULL };
		cr_assert_eq(trun(&r, argv, env, 1), 0);
		cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
		const char *got = root_tracestate(&r);
		if (cases[i].valid) {
			cr_assert_str_eq(got, cases[i].value);
			cr_assert_null(strstr(r.err, "TRACESTATE"), "%s", r.err);
		} else {
			cr_assert_str_eq(got, "", "carried: %s", got);
			cr_assert(strstr(r.err, "TRACESTATE is not a W3C tracestate"), "%s: %s",
				  cases[i].value, r.err);
			cr_assert_eq(strchr(r.err, '\x01'), NULL, "echoed raw");
		}
		unlink(r.outfile);
		trun_free(&r);
	}
}
