/* Real hosts under the shim (issue 8): a C program linked with Debian's
 * jemalloc, node (worker_threads and the libuv threadpool) with every sink
 * combination, python3 (threading + queue.Queue), a JVM (synchronized and
 * ReentrantLock), and daemon-style C programs whose main thread ends with
 * pthread_exit() (also in a forked child).
 *
 * Each test runs the host natively and under the shim, every run bounded
 * (trun_bounded: a hang is killed with its process group and reported as a
 * hang), and asserts the first promise of the shim: the same exit status and
 * byte-identical stdout, then that the trace has the process root span, the
 * threads' spans and wait spans where the host surely waits (joins, condition
 * waits; OTCSHIM_MIN_WAIT=0). Failure messages say how a run ended (exit
 * status, signal, hang) and show both outputs. The hosts live in
 * tests/progs/ (C) and tests/hosts/ (scripts, Java source). A host that is
 * not installed makes its test skip (scripts/install-deps installs them). */
#include "h4_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* a single host run is a second or two natively; anything near this is a hang
 */
#define HOST_LIMIT 10.0

static int have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Run argv natively (must succeed) and return it in n. */
static void run_native(trun_t *n, const char *what, const char *const *argv, const char *const *env)
{
	cr_assert_eq(trun_bounded(n, argv, env, 0, HOST_LIMIT), 0, "%s: could not run", what);
	cr_assert(!n->timed_out && n->exit_code == 0,
		  "%s natively: %s (the host itself fails)\nstderr:\n%s", what, trun_status(n),
		  n->err);
}

/* Run argv under the shim (bounded) and assert it ended as the native run n
 * did, with identical stdout. */
static void run_shim_like(trun_t *s, const trun_t *n, const char *what, const char *const *argv,
			  const char *const *env)
{
	cr_assert_eq(trun_bounded(s, argv, env, 1, HOST_LIMIT), 0, "%s: could not run", what);
	cr_assert(!s->timed_out,
		  "%s under the shim: %s (natively: %s in %.2f s)\n"
		  "--- native stdout\n%s--- shim stdout until the kill\n%s--- shim stderr\n%s",
		  what, trun_status(s), trun_status(n), n->seconds, n->out, s->out, s->err);
	cr_assert(s->exit_code == n->exit_code && s->term_signal == n->term_signal,
		  "%s: exit status differs: native %s, shim %s\n"
		  "--- native stdout\n%s--- shim stdout\n%s--- shim stderr\n%s",
		  what, trun_status(n), trun_status(s), n->out, s->out, s->err);
	cr_assert_str_eq(s->out, n->out,
			 "%s: stdout under the shim differs from native (both %s):\n"
			 "--- native\n%s--- shim\n%s",
			 what, trun_status(n), n->out, s->out);
}

static int thread_spans(const trun_t *r)
{
	int k = 0;
	for (int i = 0; i < r->nspans; i++)
		k += !strncmp(r->spans[i].name, "thread ", 7);
	return k;
}

/* spans whose name is one of the wait functions the hosts block in */
static int wait_spans(const trun_t *r)
{
	static const char *const waits[] = { "pthread_mutex_lock",
					     "pthread_cond_wait",
					     "pthread_cond_timedwait",
					     "pthread_cond_clockwait",
					     "pthread_join",
					     "sem_wait",
					     "sem_timedwait",
					     "sem_clockwait",
					     "pthread_rwlock_rdlock",
					     "pthread_rwlock_wrlock",
					     NULL };
	int k = 0;
	for (int i = 0; i < r->nspans; i++)
		for (const char *const *w = waits; *w; w++)
			k += !strcmp(r->spans[i].name, *w);
	return k;
}

/* The root span of the process whose executable is exe (prefix match: python3
 * runs as python3.11), or NULL. */
static const tspan_t *root_of(const trun_t *r, const char *exe)
{
	char want[128];
	snprintf(want, sizeof want, "process %s", exe);
	for (int i = 0; i < r->nspans; i++)
		if (!strncmp(r->spans[i].name, want, strlen(want)))
			return &r->spans[i];
	return NULL;
}

/* The trace of a shim run s of exe: a root, at least min_threads thread spans
 * and at least min_waits wait spans. */
static void assert_trace(const trun_t *s, const char *what, const char *exe, int min_threads,
			 int min_waits)
{
	cr_assert_not_null(root_of(s, exe),
			   "%s: no `process %s` root span (%d spans in %d lines)\nstderr:\n%s",
			   what, exe, s->nspans, s->nlines, s->err);
	cr_assert_geq(thread_spans(s), min_threads,
		      "%s: %d `thread ...` spans, expected at least %d", what, thread_spans(s),
		      min_threads);
	cr_assert_geq(wait_spans(s), min_waits, "%s: %d wait spans, expected at least %d", what,
		      wait_spans(s), min_waits);
}

/* --- 1. jemalloc ------------------------------------------------------------
 */

/* 10 runs of 50 rounds x 8 threads: every run must end like the native one.
 * A new thread's first contended lock is one of jemalloc's, and the shim's
 * slow path must not re-enter malloc from there (libunwind's dynamic TLS). */
static void jemalloc_runs(const char *malloc_conf)
{
	const char *argv[] = { "progs/jemalloc_threads", NULL };
	char conf[128];
	snprintf(conf, sizeof conf, "MALLOC_CONF=%s", malloc_conf);
	const char *env[] = { conf, "OTCSHIM_MIN_WAIT=0", NULL };
	trun_t n;
	run_native(&n, "jemalloc_threads", argv, env);
	for (int i = 1; i <= 10; i++) {
		char what[96];
		snprintf(what, sizeof what, "jemalloc_threads (MALLOC_CONF=%s) run %d of 10",
			 malloc_conf, i);
		trun_t s;
		run_shim_like(&s, &n, what, argv, env);
		assert_trace(&s, what, "jemalloc_threads", 50 * 8, 1);
		cr_assert_geq(count_of(&s, "pthread_join", -1), 1, "%s: no pthread_join span",
			      what);
		trun_free(&s);
	}
	trun_free(&n);
}

Test(realhosts, jemalloc_threads_default_arenas)
{
	jemalloc_runs(""); /* jemalloc's defaults: a thread cache, 4 arenas per CPU */
}

Test(realhosts, jemalloc_threads_one_arena)
{
	jemalloc_runs("narenas:1"); /* every thread on the same arena's locks */
}

/* --- 2. node -----------------------------------------------------------------
 */

/* A 127.0.0.1 port with nothing listening: a socket bound to it but never
 * listening, held until the test ends, so no one else can take the port and a
 * connection to it is refused at once. */
static int closed_port(int *fd_out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t len = sizeof a;
	cr_assert(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) &&
		  !getsockname(fd, (struct sockaddr *)&a, &len));
	*fd_out = fd;
	return ntohs(a.sin_port);
}

enum { SINK_OTLP = 1, SINK_REPORT = 2 };

/* node_threads.js natively and under the shim, three times; OTCSHIM_OUTPUT is
 * always set (the harness points it at a fresh file), plus OTLP/HTTP to a
 * closed 127.0.0.1 port (else OTEL_TRACES_EXPORTER=none) and the report to a
 * file (else none). */
static void node_sinks(const char *label, int sinks)
{
	if (!have("node"))
		cr_skip_test("node is not installed");
	int fd = -1;
	char endpoint[96] = "OTEL_EXPORTER_OTLP_ENDPOINT=", report[160], report_env[192];
	if (sinks & SINK_OTLP)
		snprintf(endpoint, sizeof endpoint,
			 "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", closed_port(&fd));
	snprintf(report, sizeof report, "/tmp/otcshim-realhosts-%d-%s.report", getpid(), label);
	snprintf(report_env, sizeof report_env, "OTCSHIM_REPORT=%s",
		 sinks & SINK_REPORT ? report : "none");
	const char *env[] = { sinks & SINK_OTLP ? "OTEL_TRACES_EXPORTER=otlp"
						: "OTEL_TRACES_EXPORTER=none",
			      endpoint, report_env, "OTCSHIM_MIN_WAIT=0", NULL };
	const char *argv[] = { "node", "tests/hosts/node_threads.js", NULL };
	trun_t n;
	run_native(&n, "node", argv, env);
	cr_assert(strstr(n.out, "node host done"), "node natively:\n%s", n.out);
	for (int i = 1; i <= 3; i++) {
		char what[96];
		snprintf(what, sizeof what, "node, sink %s, run %d of 3", label, i);
		unlink(report);
		trun_t s;
		run_shim_like(&s, &n, what, argv, env);
		/* two worker_threads, four threadpool threads and node's platform
		 * workers; the threadpool's idle threads wait on a condition */
		assert_trace(&s, what, "node", 6, 1);
		cr_assert_geq(count_of(&s, "pthread_cond_wait", -1), 1,
			      "%s: no pthread_cond_wait span", what);
		if (sinks & SINK_REPORT) {
			struct stat st;
			cr_assert(stat(report, &st) == 0 && st.st_size > 0,
				  "%s: no report written to %s", what, report);
		}
		trun_free(&s);
	}
	unlink(report);
	trun_free(&n);
	if (fd >= 0)
		close(fd);
}

Test(realhosts, node_sink_a_file_only)
{
	node_sinks("a", 0);
}

Test(realhosts, node_sink_b_file_and_otlp_refused)
{
	node_sinks("b", SINK_OTLP);
}

Test(realhosts, node_sink_c_file_and_report)
{
	node_sinks("c", SINK_REPORT);
}

Test(realhosts, node_sink_d_file_otlp_refused_and_report)
{
	node_sinks("d", SINK_OTLP | SINK_REPORT);
}

/* --- 3. python3 --------------------------------------------------------------
 */

Test(realhosts, python3_queue_workers)
{
	/* Debian's python3 itself (a pyenv shim in PATH would be a shell script) */
	const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	if (!have(py))
		cr_skip_test("python3 is not installed");
	const char *argv[] = { py, "tests/hosts/py_queue.py", NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=0", NULL };
	trun_t n;
	run_native(&n, "python3", argv, env);
	for (int i = 1; i <= 3; i++) {
		char what[64];
		snprintf(what, sizeof what, "python3 queue workers, run %d of 3", i);
		trun_t s;
		run_shim_like(&s, &n, what, argv, env);
		/* four workers; they block on the queue's locks and the GIL */
		assert_trace(&s, what, "python3", 4, 1);
		trun_free(&s);
	}
	trun_free(&n);
}

/* --- 4. java -----------------------------------------------------------------
 */

/* Compile tests/hosts/Contend.java into $OTS_BUILD/java once (again if the
 * source is newer); returns the class path. */
static const char *java_classes(void)
{
	static char dir[512];
	snprintf(dir, sizeof dir, "%s", ots_path("java"));
	char cls[600];
	snprintf(cls, sizeof cls, "%s/Contend.class", dir);
	struct stat sc, ss;
	if (stat("tests/hosts/Contend.java", &ss) != 0)
		cr_assert_fail("tests/hosts/Contend.java not found (run from the source tree)");
	if (stat(cls, &sc) != 0 || sc.st_mtime < ss.st_mtime) {
		char cmd[1400];
		snprintf(cmd, sizeof cmd,
			 "mkdir -p '%s' && javac -J-Xmx128m -d '%s' tests/hosts/Contend.java", dir,
			 dir);
		cr_assert_eq(system(cmd), 0, "javac failed: %s", cmd);
	}
	return dir;
}

Test(realhosts, java_synchronized_and_reentrantlock)
{
	if (!have("java") || !have("javac"))
		cr_skip_test("java/javac is not installed (default-jdk-headless)");
	const char *cp = java_classes();
	const char *argv[] = { "java",
			       "-Xmx64m",
			       "-XX:+UseSerialGC",
			       "-Xshare:auto",
			       "-XX:TieredStopAtLevel=1",
			       "-cp",
			       cp,
			       "Contend",
			       NULL };
	/* JAVA_TOOL_OPTIONS and the like could print: the environment is ours */
	const char *env[] = { "OTCSHIM_MIN_WAIT=0", NULL };
	unsetenv("JAVA_TOOL_OPTIONS");
	unsetenv("_JAVA_OPTIONS");
	trun_t n;
	run_native(&n, "java", argv, env);
	cr_assert(strstr(n.out, "synchronized: 80000, ReentrantLock: 80000"), "java natively:\n%s",
		  n.out);
	for (int i = 1; i <= 2; i++) {
		char what[64];
		snprintf(what, sizeof what, "java Contend, run %d of 2", i);
		trun_t s;
		run_shim_like(&s, &n, what, argv, env);
		/* four contenders plus the JVM's own threads; the launcher's
		 * primordial thread joins the main Java thread */
		assert_trace(&s, what, "java", 5, 1);
		int cond = count_of(&s, "pthread_cond_wait", -1) +
			   count_of(&s, "pthread_cond_timedwait", -1);
		cr_assert_geq(cond, 1, "%s: no condition wait span (parked threads)", what);
		trun_free(&s);
	}
	trun_free(&n);
}

/* --- 5. main ends with pthread_exit ------------------------------------------
 */

Test(realhosts, main_pthread_exit_with_worker_running)
{
	const char *argv[] = { "progs/main_pthread_exit", NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=0", NULL };
	trun_t n, s;
	run_native(&n, "main_pthread_exit", argv, env);
	cr_assert(strstr(n.out, "atexit: worker done=1"), "natively:\n%s", n.out);
	run_shim_like(&s, &n, "main_pthread_exit", argv, env);
	assert_trace(&s, "main_pthread_exit", "main_pthread_exit", 1, 0);
	cr_assert_not_null(tspan_find(&s, "thread worker", 0),
			   "main_pthread_exit: no `thread worker` span for the "
			   "worker that outlived main");
	trun_free(&s);
	trun_free(&n);
}

/* the root spans of a run, by process.pid: returns how many distinct pids */
static int root_pids(const trun_t *r)
{
	const char *pids[8];
	int k = 0;
	for (int i = 0; i < r->nspans && k < 8; i++) {
		if (strncmp(r->spans[i].name, "process ", 8))
			continue;
		const char *p = tspan_res_str(&r->spans[i], "process.pid");
		int seen = 0;
		for (int j = 0; j < k; j++)
			seen |= p && pids[j] && !strcmp(pids[j], p);
		if (!seen)
			pids[k++] = p;
	}
	return k;
}

static void fork_variant(const char *mode)
{
	const char *argv[] = { "progs/fork_pthread_exit", mode, NULL };
	const char *env[] = { "OTCSHIM_MIN_WAIT=0", NULL };
	char what[64];
	snprintf(what, sizeof what, "fork_pthread_exit %s", mode);
	trun_t n, s;
	run_native(&n, what, argv, env);
	cr_assert(strstr(n.out, "parent: child exited with status 0"), "natively:\n%s", n.out);
	run_shim_like(&s, &n, what, argv, env);
	cr_assert_not_null(root_of(&s, "fork_pthread_exit"), "%s: no root span", what);
	cr_assert_eq(root_pids(&s), 2,
		     "%s: root spans of %d processes, expected the parent's and the "
		     "child's",
		     what, root_pids(&s));
	if (strcmp(mode, "plain")) {
		cr_assert_not_null(tspan_find(&s, "thread helper", 0),
				   "%s: no `thread helper` span", what);
		cr_assert_geq(count_of(&s, "pthread_join", -1), 1, "%s: no pthread_join span",
			      what);
	}
	if (!strcmp(mode, "worker"))
		cr_assert_not_null(tspan_find(&s, "thread child_worker", 0),
				   "%s: no `thread child_worker` span for the child's worker",
				   what);
	trun_free(&s);
	trun_free(&n);
}

Test(realhosts, forked_child_only_thread_pthread_exit)
{
	fork_variant("threaded"); /* the parent ran a thread before the fork */
}

Test(realhosts, forked_child_only_thread_pthread_exit_plain_parent)
{
	fork_variant("plain");
}

Test(realhosts, forked_child_pthread_exit_with_worker_running)
{
	fork_variant("worker");
}
