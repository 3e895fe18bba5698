/* Unit tests for exporter/report.c: the report of a registry filled with
 * known waits, in text and JSON, and where ots_report_at_exit writes it. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../exporter/exp.h"

#define MS 1000000ull

pthread_mutex_t report_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t report_small_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t report_queue_cond = PTHREAD_COND_INITIALIZER;

/* Defaults for everything, but nothing exported at the test's exit (the
 * library's destructor runs in the test process too). */
static const char *no_env(const char *name)
{
	return strcmp(name, "OTEL_TRACES_EXPORTER") ? NULL : "none";
}

__attribute__((noinline, noipa)) static uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

/* Waiter functions whose names must show up in the stacks (noipa: the
 * compiler must not fold the two into one). */
static volatile int sink;

__attribute__((noinline, noipa)) static uintptr_t report_fetch_entry(void)
{
	uintptr_t r = here();
	sink = 1;
	return r;
}

__attribute__((noinline, noipa)) static uintptr_t report_worker_loop(void)
{
	uintptr_t r = here();
	sink = 2;
	return r;
}

static void wait_on(void *obj, unsigned op, int tid, uint64_t ns, uint64_t f0, uint64_t f1)
{
	ots_rec_t r;
	memset(&r, 0, sizeof r);
	r.kind = OTS_REC_WAIT;
	r.op = (uint16_t)op;
	r.tid = tid;
	r.obj = (uintptr_t)obj;
	r.frames[0] = f0;
	r.frames[1] = f1;
	r.nframes = f1 ? 2 : (f0 ? 1 : 0);
	r.flags = OTS_RF_HOLDER;
	if (ns < ots_cfg.min_wait_ns)
		r.flags |= OTS_RF_STATS_ONLY; /* as ots_wait_end marks it */
	r.holder_tid = 4000;
	ots_lockstat_add(&r, ns);
}

/* The scenario of the issue: 3 waits of 40 ms on cache_lock, plus smaller
 * things around it. */
static void scenario(void)
{
	ots_config_load(no_env);
	snprintf(ots_g.command_name, sizeof ots_g.command_name, "unit");
	uintptr_t fe = report_fetch_entry(), wl = report_worker_loop();
	for (int i = 0; i < 3; i++)
		wait_on(&report_cache_lock, OTS_OP_MUTEX_LOCK, 4001, 40 * MS, fe, wl);
	ots_lockstat_hold((uintptr_t)&report_cache_lock, 5 * MS);
	wait_on(&report_small_lock, OTS_OP_MUTEX_LOCK, 4002, 2 * MS, wl, 0);
	wait_on(&report_small_lock, OTS_OP_MUTEX_LOCK, 4002, 50000, wl, 0); /* under min-wait */
	wait_on(&report_queue_cond, OTS_OP_COND_WAIT, 4002, 500 * MS, wl, 0);
}

static char *build(int json)
{
	ots_buf_t b = { 0 };
	ots_report_build(&b, json);
	cr_assert_not(b.oom);
	ots_buf_append(&b, "", 1);
	return b.data;
}

static const char *line_with(const char *text, const char *needle, char *out, size_t n)
{
	const char *p = strstr(text, needle);
	if (!p)
		return NULL;
	while (p > text && p[-1] != '\n')
		p--;
	size_t len = strcspn(p, "\n");
	if (len >= n)
		len = n - 1;
	memcpy(out, p, len);
	out[len] = '\0';
	return out;
}

Test(report, text_has_the_numbers_of_known_waits)
{
	scenario();
	char *t = build(0);
	char l[256];
	cr_assert_not_null(line_with(t, "  1  report_cache_lock", l, sizeof l), "%s", t);
	/* name, kind, waits, total, avg, p99, max, hold avg */
	cr_assert(strstr(l, " mutex "), "%s", l);
	char *p = strstr(l, "mutex") + 5;
	unsigned long long waits;
	char total[16], avg[16], p99[16], max[16], hold[16];
	cr_assert_eq(sscanf(p, "%llu %15s %15s %15s %15s %15s", &waits, total, avg, p99, max, hold),
		     6, "%s", l);
	cr_assert_eq(waits, 3);
	cr_assert_str_eq(total, "120.00ms");
	cr_assert_str_eq(avg, "40.00ms");
	cr_assert_str_eq(p99, "40.00ms");
	cr_assert_str_eq(max, "40.00ms");
	cr_assert_str_eq(hold, "5.00ms");
	/* the smaller lock comes second, with its below-min wait counted */
	cr_assert_not_null(line_with(t, "  2  report_small_lock", l, sizeof l), "%s", t);
	cr_assert(strstr(l, "       2 "), "two waits: %s", l);
	cr_assert(strstr(t, "1 under min-wait"), "%s", t);
	/* the waiter's functions, in order, in the stack of the big lock */
	const char *s = strstr(t, "stack 1: 3 waits, 120.00ms total");
	cr_assert_not_null(s, "%s", t);
	const char *a = strstr(s, "at report_fetch_entry+0x");
	const char *b = strstr(s, "<- report_worker_loop+0x");
	cr_assert(a && b && a < b, "%s", s);
	cr_assert(strstr(a, "test_report.c:"), "file:line in the report");
	/* the cond wait is not a lock: it goes to the other waits */
	const char *other = strstr(t, "Other waits by total wait");
	cr_assert_not_null(other);
	cr_assert(strstr(other, "report_queue_cond"), "%s", other);
	cr_assert(strstr(t, "Locks by total wait") < other);
	free(t);
}

Test(report, text_fits_100_columns)
{
	scenario();
	char *t = build(0);
	int lines = 0;
	for (char *p = t; *p;) {
		size_t len = strcspn(p, "\n");
		cr_assert_leq(len, 100, "line %d is %zu columns: %.*s", lines, len, (int)len, p);
		lines++;
		p += len;
		if (*p)
			p++;
	}
	cr_assert_gt(lines, 10);
	cr_assert(strstr(t, "== otcshim report: unit (pid "), "%s", t);
	cr_assert(strstr(t, "== end of otcshim report =="));
	free(t);
}

Test(report, threads_by_time_blocked)
{
	scenario();
	char *t = build(0);
	const char *sec = strstr(t, "Threads by time blocked on locks");
	cr_assert_not_null(sec);
	const char *t2 = strstr(sec, "\n  4002 "), *t1 = strstr(sec, "\n  4001 ");
	cr_assert(t1 && t2, "%s", sec);
	cr_assert_lt(t1, t2, "4001 lost 120 ms to locks, 4002 only 2 ms (and 500 ms elsewhere)");
	char l[256];
	cr_assert_not_null(line_with(t1 + 1, "4001", l, sizeof l));
	cr_assert(strstr(l, "120.00ms"), "%s", l);
	free(t);
}

Test(report, json_form_has_every_field)
{
	scenario();
	char *t = build(1);
	cJSON *d = cJSON_Parse(t);
	cr_assert_not_null(d, "valid JSON: %s", t);
	cr_assert_str_eq(cJSON_GetObjectItem(d, "report")->valuestring, "otcshim");
	cJSON *locks = cJSON_GetObjectItem(d, "locks");
	cr_assert_eq(cJSON_GetArraySize(locks), 2);
	cJSON *l0 = cJSON_GetArrayItem(locks, 0);
	cr_assert_str_eq(cJSON_GetObjectItem(l0, "name")->valuestring, "report_cache_lock");
	cr_assert_str_eq(cJSON_GetObjectItem(l0, "kind")->valuestring, "mutex");
	cr_assert_eq(cJSON_GetObjectItem(l0, "waits")->valuedouble, 3);
	cr_assert_eq(cJSON_GetObjectItem(l0, "total_ns")->valuedouble, 120.0 * MS);
	cr_assert_eq(cJSON_GetObjectItem(l0, "max_ns")->valuedouble, 40.0 * MS);
	cr_assert_eq(cJSON_GetObjectItem(l0, "p99_ns")->valuedouble, 40.0 * MS);
	cJSON *hold = cJSON_GetObjectItem(l0, "hold");
	cr_assert_eq(cJSON_GetObjectItem(hold, "avg_ns")->valuedouble, 5.0 * MS);
	cJSON *w = cJSON_GetObjectItem(l0, "waiters");
	cr_assert_eq(cJSON_GetArraySize(w), 1);
	cr_assert_eq(cJSON_GetArrayItem(w, 0)->valueint, 4001);
	cr_assert_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(l0, "holders"), 0)->valueint, 4000);
	cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItem(l0, "stacks"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(st, "function")->valuestring, "report_fetch_entry");
	cJSON *frames = cJSON_GetObjectItem(st, "frames");
	cr_assert_eq(cJSON_GetArraySize(frames), 2);
	cr_assert(strstr(cJSON_GetArrayItem(frames, 1)->valuestring, "report_worker_loop"));
	cJSON *l1 = cJSON_GetArrayItem(locks, 1);
	cr_assert_eq(cJSON_GetObjectItem(l1, "below_min_wait")->valuedouble, 1);
	cJSON *other = cJSON_GetObjectItem(d, "other_waits");
	cr_assert_eq(cJSON_GetArraySize(other), 1);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(other, 0), "kind")->valuestring,
			 "cond");
	cJSON *th = cJSON_GetObjectItem(d, "threads");
	cr_assert_eq(cJSON_GetArraySize(th), 2);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(th, 0), "tid")->valueint, 4001);
	cJSON *dr = cJSON_GetObjectItem(d, "dropped");
	cr_assert_not_null(cJSON_GetObjectItem(dr, "spans_pool_full"));
	cr_assert_eq(cJSON_GetObjectItem(d, "waits")->valuedouble, 6);
	cJSON_Delete(d);
	free(t);
}

Test(report, ordering_is_deterministic)
{
	ots_config_load(no_env);
	/* equal totals and counts: ordered by name, whatever the table order */
	static pthread_mutex_t zz_lock, aa_lock, mm_lock;
	wait_on(&zz_lock, OTS_OP_MUTEX_LOCK, 1, 7 * MS, 0, 0);
	wait_on(&aa_lock, OTS_OP_MUTEX_LOCK, 1, 7 * MS, 0, 0);
	wait_on(&mm_lock, OTS_OP_MUTEX_LOCK, 1, 7 * MS, 0, 0);
	char *t1 = build(0), *t2 = build(0);
	/* the run time in the header moves; everything below it must not */
	cr_assert_str_eq(strstr(t1, "\nLocks"), strstr(t2, "\nLocks"));
	const char *a = strstr(t1, "aa_lock"), *m = strstr(t1, "mm_lock"), *z = strstr(t1, "zz_lock");
	cr_assert(a && m && z && a < m && m < z, "%s", t1);
	free(t1);
	free(t2);
}

Test(report, nothing_to_report_is_one_line)
{
	ots_config_load(no_env);
	snprintf(ots_g.command_name, sizeof ots_g.command_name, "quiet");
	char *t = build(0);
	cr_assert(!strncmp(t, "otcshim: quiet (pid ", 20), "%s", t);
	cr_assert(strstr(t, "no contended waits"));
	cr_assert_eq(strchr(t, '\n') - t + 1, (long)strlen(t), "one line: %s", t);
	free(t);
	char *j = build(1);
	cJSON *d = cJSON_Parse(j);
	cr_assert_not_null(d);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(d, "locks")), 0);
	cJSON_Delete(d);
	free(j);
}

/* A program name that is not UTF-8, and one of 63 two-byte characters: the
 * text is UTF-8 and its lines fit 100 columns, counted in characters; the
 * JSON form carries the name mended too */
Test(report, text_is_utf8_and_clipped_by_columns)
{
	scenario();
	snprintf(ots_g.command_name, sizeof ots_g.command_name, "caf\xe9");
	char *t = build(0);
	cr_assert(strstr(t, "== otcshim report: caf\xef\xbf\xbd (pid "), "%s", t);
	cr_assert_eq(ots_utf8_prefix(t, strlen(t), NULL), strlen(t));
	free(t);
	char *j = build(1);
	cr_assert_eq(ots_utf8_prefix(j, strlen(j), NULL), strlen(j));
	free(j);
	size_t n = 0;
	while (n + 2 < sizeof ots_g.command_name)
		n += (size_t)snprintf(ots_g.command_name + n, sizeof ots_g.command_name - n, "\xc3\xa9");
	t = build(0);
	cr_assert_eq(ots_utf8_prefix(t, strlen(t), NULL), strlen(t), "%s", t);
	for (char *p = t; *p;) {
		size_t len = strcspn(p, "\n"), cols = 0;
		for (size_t i = 0; i < len; i++)
			cols += ((unsigned char)p[i] & 0xc0) != 0x80;
		cr_assert_leq(cols, 100, "%zu columns: %.*s", cols, (int)len, p);
		p += len + (p[len] == '\n');
	}
	/* 63 characters fit, though their 126 bytes would not */
	cr_assert(strstr(t, ots_g.command_name), "the name is whole: %s", t);
	free(t);
}

static const char *report_path;
static const char *env_report(const char *name)
{
	if (!strcmp(name, "OTCSHIM_REPORT"))
		return report_path;
	if (!strcmp(name, "OTCSHIM_REPORT_FORMAT"))
		return "json";
	return no_env(name);
}

Test(report, at_exit_writes_the_file_named_with_the_pid)
{
	char tmpl[] = "/tmp/otcshim-report-%p.json";
	report_path = tmpl;
	ots_config_load(env_report);
	wait_on(&report_cache_lock, OTS_OP_MUTEX_LOCK, 1, 3 * MS, 0, 0);
	ots_report_at_exit();
	char path[128];
	snprintf(path, sizeof path, "/tmp/otcshim-report-%d.json", (int)getpid());
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s written", path);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	cJSON *d = cJSON_Parse(buf);
	cr_assert_not_null(d, "%s", buf);
	cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "locks"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(l0, "name")->valuestring, "report_cache_lock");
	cJSON_Delete(d);
}

Test(report, unset_means_no_report)
{
	ots_config_load(no_env);
	cr_assert_null(ots_cfg.report);
	wait_on(&report_cache_lock, OTS_OP_MUTEX_LOCK, 1, 3 * MS, 0, 0);
	/* stderr is Criterion's pipe: redirect it to a file to see nothing comes */
	char path[] = "/tmp/otcshim-report-stderr-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	int saved = dup(2);
	dup2(fd, 2);
	ots_report_at_exit();
	dup2(saved, 2);
	close(saved);
	cr_assert_eq(lseek(fd, 0, SEEK_END), 0, "nothing written");
	close(fd);
	unlink(path);
}

Test(report, rwlock_split_and_errors_shown)
{
	ots_config_load(no_env);
	static pthread_rwlock_t report_table_rw;
	wait_on(&report_table_rw, OTS_OP_RWLOCK_RDLOCK, 11, 3 * MS, 0, 0);
	wait_on(&report_table_rw, OTS_OP_RWLOCK_RDLOCK, 12, 3 * MS, 0, 0);
	ots_rec_t r;
	memset(&r, 0, sizeof r);
	r.kind = OTS_REC_WAIT;
	r.op = OTS_OP_RWLOCK_TIMEDWRLOCK;
	r.tid = 13;
	r.obj = (uintptr_t)&report_table_rw;
	r.ret = 110; /* ETIMEDOUT */
	ots_lockstat_add(&r, 9 * MS);
	char *t = build(0);
	char l[256];
	cr_assert_not_null(line_with(t, "  1  report_table_rw", l, sizeof l), "%s", t);
	cr_assert(strstr(l, " rwlock "), "%s", l);
	cr_assert(strstr(l, "     3 "), "three waits: %s", l);
	cr_assert(strstr(t, "2 read / 1 write"), "%s", t);
	cr_assert(strstr(t, "1 failed (timeout or error)"), "%s", t);
	cr_assert(strstr(t, "waiters 3 (11 12 13)"), "%s", t);
	/* no hold time measured: a dash, not 0 */
	cr_assert(strstr(l, "        -"), "%s", l);
	free(t);
}
