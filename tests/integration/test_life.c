/* Integration tests of the process lifetime (issue 8): a process ends when
 * its last thread does, whatever the shim's own thread is doing; every exit
 * path ends in one completed flush; exec and quick_exit flush first. Each
 * runs tests/progs/life_exit natively and under the shim. */
#include "h4_util.h"

#include <signal.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* spans whose name starts with prefix (under ASan every thread's start
 * routine is asan_thread_start) */
static int count_prefix(const trun_t *r, const char *prefix)
{
	int n = 0;
	for (int i = 0; i < r->nspans; i++)
		n += !strncmp(r->spans[i].name, prefix, strlen(prefix));
	return n;
}

static void run_mode(trun_t *n, trun_t *s, const char *mode)
{
	setenv("OTS_TEST_TIMEOUT", "15", 1);
	const char *argv[] = { "progs/life_exit", mode, NULL };
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=0",
			      "OTCSHIM_SHUTDOWN_TIMEOUT=2s", NULL };
	run_both(n, s, argv, env);
	cr_assert_neq(s->exit_code, 128 + 9, "%s: the process under the shim never ended (killed)",
		      mode);
	cr_assert_eq(s->exit_code, n->exit_code, "%s: exit status %d under the shim, %d natively",
		     mode, s->exit_code, n->exit_code);
	assert_same_output(n, s);
	cr_assert_lt(s->seconds, n->seconds + 3.0, "%s: %.2f s under the shim, %.2f s natively",
		     mode, s->seconds, n->seconds);
}

/* main ends with pthread_exit after its only thread ended: the process
 * exits 0 and runs its atexit handler, with the final flush */
Test(life, main_pthread_exit_ends_the_process)
{
	trun_t n, s;
	run_mode(&n, &s, "main_exit");
	cr_assert_eq(n.exit_code, 0);
	cr_assert(strstr(s.out, "atexit ran"), "atexit handlers run: %s", s.out);
	cr_assert_not_null(root_span(&s), "the root span is flushed");
	cr_assert_geq(count_prefix(&s, "thread "), 1, "the holder's thread span");
	cr_assert_not_null(tspan_find(&s, "pthread_mutex_lock", 0), "the main thread's wait");
	trun_free(&n);
	trun_free(&s);
}

/* main pthread_exits while a detached thread still runs: the process ends
 * when that thread ends, and what the thread did is flushed */
Test(life, ends_with_the_last_detached_thread)
{
	trun_t n, s;
	run_mode(&n, &s, "detached");
	cr_assert(strstr(s.out, "worker done\natexit ran"), "%s", s.out);
	cr_assert_not_null(root_span(&s));
	cr_assert_geq(count_prefix(&s, "thread "), 2, "the detached thread's span too");
	cr_assert_not_null(tspan_find(&s, "pthread_mutex_lock", 0),
			   "its wait, recorded after main had left");
	trun_free(&n);
	trun_free(&s);
}

/* a forked child whose only thread calls pthread_exit ends, with its status
 * and its own trace */
Test(life, forked_child_pthread_exit)
{
	trun_t n, s;
	run_mode(&n, &s, "fork_child");
	cr_assert(strstr(s.out, "child status 0 exited 1"), "%s", s.out);
	cr_assert_eq(tspan_count(&s, "process life_exit"), 2, "parent and child roots");
	trun_free(&n);
	trun_free(&s);
}

/* two threads call exit() at once: the trace is complete all the same */
Test(life, concurrent_exit_flushes_once)
{
	for (int i = 0; i < 5; i++) {
		trun_t n, s;
		run_mode(&n, &s, "exit_race");
		cr_assert_eq(s.exit_code, 3);
		cr_assert_eq(tspan_count(&s, "process life_exit"), 1, "round %d: one root span", i);
		cr_assert_not_null(tspan_find(&s, "pthread_mutex_lock", 0), "round %d", i);
		trun_free(&n);
		trun_free(&s);
	}
}

/* quick_exit runs no destructor: the shim flushes before it */
Test(life, quick_exit_flushes)
{
	trun_t n, s;
	run_mode(&n, &s, "quick");
	cr_assert_eq(n.exit_code, 4);
	cr_assert_not_null(root_span(&s));
	cr_assert_not_null(tspan_find(&s, "pthread_mutex_lock", 0));
	trun_free(&n);
	trun_free(&s);
}

/* a successful exec: this image's spans and root (ending at the exec) are
 * flushed before the new image, which traces itself */
Test(life, exec_flushes_before_the_new_image)
{
	trun_t n, s;
	run_mode(&n, &s, "exec_ok");
	cr_assert(strstr(s.out, "after exec"));
	const tspan_t *old = tspan_find(&s, "process life_exit", 0);
	cr_assert_not_null(old, "the exec'ing image's root");
	if (!tspan_has_attr(old, "otcshim.process.end"))
		old = tspan_find(&s, "process life_exit", 1);
	cr_assert_not_null(old);
	cr_assert_str_eq(tspan_attr_str(old, "otcshim.process.end"), "exec");
	cr_assert_not_null(tspan_find(&s, "pthread_mutex_lock", 0));
	cr_assert_eq(tspan_count(&s, "process life_exit"), 2, "and the new image's own root");
	trun_free(&n);
	trun_free(&s);
}

/* a failed exec: errno as natively, tracing goes on under a new root linked
 * to the one sent, no span id twice */
Test(life, failed_exec_goes_on)
{
	trun_t n, s;
	run_mode(&n, &s, "exec_fail");
	cr_assert(strstr(s.out, "execv -1 No such file or directory"), "%s", s.out);
	cr_assert_eq(tspan_count(&s, "process life_exit"), 2);
	const tspan_t *a = tspan_find(&s, "process life_exit", 0);
	const tspan_t *b = tspan_find(&s, "process life_exit", 1);
	cr_assert_str_neq(a->span_id, b->span_id);
	cr_assert_str_eq(a->trace_id, b->trace_id, "one trace");
	const tspan_t *sent = tspan_has_attr(a, "otcshim.process.end") ? a : b;
	const tspan_t *next = sent == a ? b : a;
	cr_assert_str_eq(tspan_attr_str(sent, "otcshim.process.end"), "exec");
	cr_assert_str_eq(link_span(next, 0), sent->span_id, "linked to the root already sent");
	cr_assert_eq(tspan_count(&s, "pthread_mutex_lock"), 2, "waits before and after");
	for (int i = 0; i < s.nspans; i++)
		for (int j = i + 1; j < s.nspans; j++)
			cr_assert_str_neq(s.spans[i].span_id, s.spans[j].span_id, "span id twice");
	trun_free(&n);
	trun_free(&s);
}

/* ------------------------------------------------------------------------ */
/* Signals and cancellation */

/* A deferred cancel pending while the thread waits for a mutex acts at its
 * next cancellation point (pthread_testcancel), not inside the hook: the
 * thread got the lock and released it. */
Test(semantics, no_borrowed_cancellation_point)
{
	trun_t n, s;
	const char *argv[] = { "progs/cancel_point", NULL };
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=0", NULL };
	run_both(&n, &s, argv, env);
	cr_assert(strstr(n.out, "acquired 1 cancelled 1 relock 0"), "native: %s", n.out);
	cr_assert_str_eq(s.out, n.out);
	cr_assert_not_null(tspan_find(&s, "pthread_mutex_lock", 0));
	trun_free(&n);
	trun_free(&s);
}

/* A host that uses libunwind: its first unw_backtrace (libunwind's own
 * pthread_once inside) meets the shim's once hook and stack capture. */
Test(semantics, host_unwind_first_backtrace)
{
	setenv("OTS_TEST_TIMEOUT", "15", 1);
	trun_t n, s;
	const char *argv[] = { "progs/host_unwind", NULL };
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=0", NULL };
	run_both(&n, &s, argv, env);
	cr_assert_eq(s.exit_code, 0, "rc %d (137: hung)", s.exit_code);
	cr_assert_str_eq(s.out, n.out);
	cr_assert_not_null(root_span(&s));
	trun_free(&n);
	trun_free(&s);
}

/* Run argv with LD_PRELOAD (if preload) and env, its stderr a pipe whose
 * reader has gone; returns the wait status, stdout in out. */
static int run_broken_stderr(const char *prog, const char *const *env, int preload, char *out,
			     size_t cap)
{
	int errp[2], outp[2];
	cr_assert_eq(pipe(errp), 0);
	cr_assert_eq(pipe(outp), 0);
	close(errp[0]);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		close(outp[0]);
		signal(SIGPIPE, SIG_DFL);
		for (int i = 0; env[i]; i++)
			putenv((char *)env[i]);
		unsetenv("OTEL_SDK_DISABLED");
		if (preload)
			setenv("LD_PRELOAD", preload_list(), 1);
		execl(ots_path(prog), prog, (char *)NULL);
		_exit(127);
	}
	close(outp[1]);
	close(errp[1]);
	size_t len = 0;
	ssize_t r;
	while (len + 1 < cap && (r = read(outp[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(outp[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

/* The shim's messages (a bad variable at start, the report at exit) go to a
 * stderr whose reader has gone: the host is not killed by SIGPIPE and keeps
 * its output. */
Test(semantics, no_sigpipe_from_the_shim)
{
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=bogus",
			      "OTCSHIM_REPORT=stderr", "OTCSHIM_DEBUG=1", NULL };
	char nout[256], sout[256];
	int ns = run_broken_stderr("progs/cancel_point", env, 0, nout, sizeof nout);
	int ss = run_broken_stderr("progs/cancel_point", env, 1, sout, sizeof sout);
	cr_assert(WIFEXITED(ns) && WEXITSTATUS(ns) == 0);
	cr_assert(!WIFSIGNALED(ss), "killed by signal %d under the shim", WTERMSIG(ss));
	cr_assert_eq(WEXITSTATUS(ss), 0);
	cr_assert_str_eq(sout, nout);
}

/* ------------------------------------------------------------------------ */
/* Scale */

/* Tens of thousands of short-lived threads a second, one after another and
 * in bursts: every thread span survives with the default settings. */
Test(scale, thread_churn_keeps_every_thread_span)
{
	setenv("OTS_TEST_TIMEOUT", "60", 1);
	static const char *bursts[] = { "1", "64" };
	for (int b = 0; b < 2; b++) {
		trun_t s;
		const char *argv[] = { "progs/thread_churn", "20000", bursts[b], NULL };
		const char *env[] = { "OTEL_TRACES_EXPORTER=none", NULL };
		cr_assert_eq(trun(&s, argv, env, 1), 0);
		cr_assert_eq(s.exit_code, 0);
		cr_assert(strstr(s.out, "ran 20000"));
		cr_assert_eq(count_prefix(&s, "thread "), 20000,
			     "burst %s: %d thread spans of 20000 (stderr: %s)", bursts[b],
			     count_prefix(&s, "thread "), s.err);
		cr_assert_null(strstr(s.err, "dropped"), "%s", s.err);
		trun_free(&s);
	}
}

/* A single-threaded program whose collector name never resolves (a DNS
 * server that does not answer, in a mount namespace of its own): exit is
 * held up by OTCSHIM_SHUTDOWN_TIMEOUT at most, not by the resolver. */
Test(life, exit_bounded_when_dns_is_silent)
{
	if (geteuid() != 0 || access("/usr/bin/unshare", X_OK) != 0)
		cr_skip_test("needs root and unshare for a private /etc/resolv.conf");
	int dns = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };
	inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
	if (dns < 0 || bind(dns, (struct sockaddr *)&a, sizeof a) != 0)
		cr_skip_test("cannot bind 127.0.0.2:53");
	char conf[] = "/tmp/ots-resolv-XXXXXX";
	int fd = mkstemp(conf);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "nameserver 127.0.0.2\n", 21), 21);
	close(fd);
	char script[1024];
	snprintf(script, sizeof script,
		 "mount --bind %s /etc/resolv.conf || exit 99; "
		 "exec env -u OTEL_SDK_DISABLED OTEL_TRACES_EXPORTER=otlp LD_PRELOAD='%s' "
		 "OTCSHIM_SHUTDOWN_TIMEOUT=1s "
		 "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector.otcshim-test.example:4318 "
		 "%s echo",
		 conf, preload_list(), ots_path("progs/life_exit"));
	const char *argv[] = { "/usr/bin/unshare", "-m", "/bin/sh", "-c", script, NULL };
	trun_t s;
	cr_assert_eq(trun(&s, argv, NULL, 0), 0);
	unlink(conf);
	close(dns);
	if (s.exit_code == 99)
		cr_skip_test("cannot bind-mount resolv.conf here");
	cr_assert_eq(s.exit_code, 0, "%s", s.err);
	cr_assert_str_eq(s.out, "after exec\n");
	cr_assert_lt(s.seconds, 2.5, "exit took %.2f s with a 1 s shutdown timeout", s.seconds);
	/* the root span waits in the OTLP backlog: the estimate counts it */
	long unsent = num_after(s.err, "reached; about ");
	cr_assert_geq(unsent, 1, "the unsent count includes the sink's backlog: %s", s.err);
	trun_free(&s);
}

/* Programs that clean OpenSSL up in their own atexit handler, under the
 * default configuration (OTLP to the default endpoint, nothing listening):
 * whatever the shim's exit work meets, their output and exit status are the
 * native ones (a fault in that work is contained, shim/contain.c). */
Test(life, openssl_hosts_keep_output_and_status)
{
	if (under_sanitizer())
		cr_skip_test("containment is off under the sanitizers (their runtimes own SIGSEGV)");
	static const char *const progs[][3] = {
		{ "/usr/bin/openssl", "version", NULL },
		{ "/usr/bin/curl", "-s", "file:///etc/hostname" },
		{ "/usr/bin/ssh", "-V", NULL },
	};
	for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
		if (access(progs[i][0], X_OK) != 0)
			continue;
		const char *argv[] = { progs[i][0], progs[i][1], progs[i][2], NULL };
		const char *env[] = { "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9", NULL };
		trun_t n, s;
		cr_assert_eq(trun(&n, argv, env, 0), 0);
		cr_assert_eq(trun(&s, argv, env, 1), 0);
		cr_assert_eq(s.exit_code, n.exit_code, "%s: rc %d under the shim, %d natively",
			     progs[i][0], s.exit_code, n.exit_code);
		cr_assert_str_eq(s.out, n.out, "%s: stdout differs", progs[i][0]);
		trun_free(&n);
		trun_free(&s);
	}
}

/* A daemon-style main (pthread_exit while a worker runs) with OTLP on: the
 * last worker's end makes glibc call exit(0), and the final flush runs on
 * an exporter thread started then. Before, that thread's own end took
 * glibc's thread count to zero a second time and called exit(0) again,
 * whose stdio cleanup wrote the host's atexit line a second time (one run
 * in five or so). Twenty runs, each compared line by line with native. */
Test(life, main_pthread_exit_output_once_with_otlp, .timeout = 120)
{
	setenv("OTS_TEST_TIMEOUT", "15", 1);
	const char *argv[] = { "progs/main_pthread_exit", NULL };
	trun_t n;
	cr_assert_eq(trun(&n, argv, NULL, 0), 0);
	cr_assert_eq(n.exit_code, 0);
	/* a closed port on 127.0.0.1: refused at once, the flush is real */
	const char *env[] = { "OTEL_TRACES_EXPORTER=otlp",
			      "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9",
			      "OTCSHIM_SHUTDOWN_TIMEOUT=2s", NULL };
	for (int i = 0; i < 20; i++) {
		trun_t s;
		cr_assert_eq(trun(&s, argv, env, 1), 0);
		cr_assert_eq(s.exit_code, 0, "run %d: %s\n%s", i, trun_status(&s), s.err);
		cr_assert_str_eq(s.out, n.out, "run %d: output differs from native", i);
		unlink(s.outfile);
		trun_free(&s);
	}
	trun_free(&n);
}

/* Threads (CLONE_THREAD) created anywhere in the traced tree, by strace -f. */
static int threads_started(const char *log)
{
	FILE *f = fopen(log, "r");
	cr_assert_not_null(f, "no strace log");
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof line, f))
		n += strstr(line, "CLONE_THREAD") != NULL;
	fclose(f);
	return n;
}

/* bash forks a child that execs /bin/true. With no sink at all, the exec
 * flush has nothing to send: the child starts no thread (before: it
 * started the exporter thread, and loaded libunwind, before every exec:
 * a bash loop ran 2.3x slower than natively). */
Test(life, exec_without_a_sink_starts_no_thread)
{
	if (access("/usr/bin/strace", X_OK) != 0)
		cr_skip_test("strace is not installed (scripts/install-deps installs it)");
	char log[64];
	snprintf(log, sizeof log, "/tmp/ots-life-strace-%d", getpid());
	const char *argv[] = { "/usr/bin/strace", "-f", "-qq", "-e", "trace=clone,clone3", "-o",
			       log, "/bin/bash", "-c", "/bin/true; exit 0", NULL };
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_OUTPUT=", NULL };
	for (int preload = 0; preload <= 1; preload++) {
		trun_t r;
		cr_assert_eq(trun(&r, argv, env, preload), 0);
		cr_assert_eq(r.exit_code, 0, "%s\n%s", trun_status(&r), r.err);
		cr_assert_eq(threads_started(log), 0, "%s: threads were started",
			     preload ? "under the shim" : "natively");
		unlink(log);
		trun_free(&r);
	}
}
