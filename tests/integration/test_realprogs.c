/* Real multi-threaded Debian programs under the shim (issue 4): pigz and
 * zstd compressing with two threads (identical output, spans for their
 * condition and mutex waits), and memcached on 127.0.0.1 under a bounded
 * load from a four-thread client. A program that is not installed makes its
 * test skip (scripts/install-deps installs them). */
#include "h4_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* ~12 MB of compressible but not trivial text, once per test run */
static const char *input_file(void)
{
	static char path[128];
	if (path[0])
		return path;
	snprintf(path, sizeof path, "/tmp/otcshim-h4-input-%d", getpid());
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 300000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fprintf(f, "record %07d user=%llu status=%s latency_us=%llu\n", i,
			(unsigned long long)(x % 5000), (x >> 20) % 3 ? "ok" : "retry",
			(unsigned long long)((x >> 32) % 100000));
	}
	fclose(f);
	return path;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	fclose(f);
	return b;
}

/* Spans of the process whose executable is exe, named name. */
static int spans_of_exe(const trun_t *r, const char *exe, const char *name)
{
	int n = 0;
	for (int i = 0; i < r->nspans; i++) {
		const char *e = tspan_res_str(&r->spans[i], "process.executable.name");
		n += e && !strcmp(e, exe) && !strcmp(r->spans[i].name, name);
	}
	return n;
}

static int thread_spans_of_exe(const trun_t *r, const char *exe)
{
	int n = 0;
	for (int i = 0; i < r->nspans; i++) {
		const char *e = tspan_res_str(&r->spans[i], "process.executable.name");
		n += e && !strcmp(e, exe) && !strncmp(r->spans[i].name, "thread ", 7);
	}
	return n;
}

/* Compress input with cmd (a shell command with %s for input and output)
 * natively and under the shim; the outputs must be identical. */
static void compress_both(const char *cmd_fmt, trun_t *s)
{
	const char *in = input_file();
	char out_n[160], out_s[160], cmd[512];
	snprintf(out_n, sizeof out_n, "%s.native", in);
	snprintf(out_s, sizeof out_s, "%s.shim", in);
	trun_t n;
	snprintf(cmd, sizeof cmd, cmd_fmt, in, out_n);
	const char *argv_n[] = { "sh", "-c", cmd, NULL };
	cr_assert_eq(trun(&n, argv_n, NULL, 0), 0);
	cr_assert_eq(n.exit_code, 0, "native: %s", n.err);
	char cmd_s[512];
	snprintf(cmd_s, sizeof cmd_s, cmd_fmt, in, out_s);
	const char *argv_s[] = { "sh", "-c", cmd_s, NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=10us", NULL };
	cr_assert_eq(trun(s, argv_s, env, 1), 0);
	cr_assert_eq(s->exit_code, 0, "shim: %s", s->err);
	size_t ln, ls;
	char *a = slurp(out_n, &ln), *b = slurp(out_s, &ls);
	cr_assert(a && b);
	cr_assert_gt(ln, 1000);
	cr_assert_eq(ls, ln, "compressed sizes: native %zu, shim %zu", ln, ls);
	cr_assert_eq(memcmp(a, b, ln), 0, "identical compressed output");
	free(a);
	free(b);
	unlink(out_n);
	unlink(out_s);
	trun_free(&n);
}

Test(realprogs, pigz_two_threads)
{
	if (!have("pigz"))
		cr_skip_test("pigz is not installed");
	trun_t s;
	compress_both("pigz -p 2 -b 128 -n -6 -c %s > %s", &s);
	int cond = spans_of_exe(&s, "pigz", "pthread_cond_wait");
	int mutex = spans_of_exe(&s, "pigz", "pthread_mutex_lock");
	cr_assert_geq(cond + mutex, 1, "pigz's cond/mutex waits are spans (cond %d, mutex %d)",
		      cond, mutex);
	cr_assert_geq(thread_spans_of_exe(&s, "pigz"), 2, "its compression threads have spans");
	cr_assert_geq(spans_of_exe(&s, "pigz", "pthread_join"), 1);
	trun_free(&s);
}

Test(realprogs, zstd_two_threads)
{
	if (!have("zstd"))
		cr_skip_test("zstd is not installed");
	trun_t s;
	compress_both("zstd -q -T2 -B1MiB -3 -c %s > %s", &s);
	int cond = spans_of_exe(&s, "zstd", "pthread_cond_wait");
	int mutex = spans_of_exe(&s, "zstd", "pthread_mutex_lock");
	cr_assert_geq(cond + mutex, 1, "zstd's cond/mutex waits are spans (cond %d, mutex %d)",
		      cond, mutex);
	cr_assert_geq(thread_spans_of_exe(&s, "zstd"), 2);
	trun_free(&s);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t len = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static void memcached_run(trun_t *r, int preload)
{
	char client[512], script[1024];
	cr_assert_not_null(realpath(ots_path("progs/mixed_memclient"), client));
	int port = free_port();
	cr_assert_gt(port, 0);
	snprintf(script, sizeof script,
		 "memcached -l 127.0.0.1 -p %d -U 0 -t 2 -m 16 %s & pid=$!\n"
		 "%s 127.0.0.1 %d 500; rc=$?\n"
		 "kill -TERM $pid; wait $pid; echo \"memcached exit $?\"\n"
		 "exit $rc\n",
		 port, geteuid() == 0 ? "-u root" : "", client, port);
	const char *argv[] = { "sh", "-c", script, NULL };
	cr_assert_eq(trun(r, argv, NULL, preload), 0);
}

Test(realprogs, memcached_bounded_load, .timeout = 30)
{
	if (!have("memcached"))
		cr_skip_test("memcached is not installed");
	trun_t n, s;
	memcached_run(&n, 0);
	cr_assert_eq(n.exit_code, 0, "native: %s %s", n.out, n.err);
	memcached_run(&s, 1);
	cr_assert_eq(s.exit_code, 0, "shim: %s %s", s.out, s.err);
	cr_assert_str_eq(s.out, n.out, "the client saw the same results");
	cr_assert(strstr(s.out, "mismatched 0 failures 0"));
	cr_assert(strstr(s.out, "memcached exit 0"));
	cr_assert_geq(thread_spans_of_exe(&s, "memcached"), 3,
		      "memcached's threads have spans: %d of %d spans (%d lines); stderr %s",
		      thread_spans_of_exe(&s, "memcached"), s.nspans, s.nlines, s.err);
	int waits = 0;
	for (int i = 0; i < s.nspans; i++) {
		const char *e = tspan_res_str(&s.spans[i], "process.executable.name");
		if (e && !strcmp(e, "memcached") &&
		    (!strncmp(s.spans[i].name, "pthread_cond_", 13) ||
		     !strcmp(s.spans[i].name, "pthread_mutex_lock")))
			waits++;
	}
	cr_assert_geq(waits, 1, "memcached's condition waits are spans");
	cr_assert_geq(thread_spans_of_exe(&s, "mixed_memclient"), 4);
	trun_free(&n);
	trun_free(&s);
}

/* the input is shared by the tests of this file; remove it at the end */
static void cleanup_input(void) __attribute__((destructor));
static void cleanup_input(void)
{
	char path[128];
	snprintf(path, sizeof path, "/tmp/otcshim-h4-input-%d", getpid());
	unlink(path);
}
