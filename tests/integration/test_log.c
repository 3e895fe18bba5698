/* Integration tests of where the shim's own text goes (issue 9): messages
 * follow OTCSHIM_LOG; "stderr" is the stderr the program started with, even
 * after the host closed descriptor 2 or put its own file there; and a worker
 * that dropped its privileges after fork still writes OTCSHIM_OUTPUT. */
#include "h4_util.h"

#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path)
{
	static char buf[65536];
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return buf;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void tmpdir(char *dir)
{
	strcpy(dir, "/tmp/ots-log-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

/* run log_host MODE under sh, with "2>ERR" or "2>&-" as redir */
static void run_redirected(trun_t *s, const char *mode, const char *redir, const char *file,
			   const char *const *env)
{
	char script[512];
	snprintf(script, sizeof script, "exec \"$0\" %s \"$1\" %s", mode, redir);
	const char *argv[] = { "/bin/sh", "-c", script, ots_path("progs/log_host"), file, NULL };
	cr_assert_eq(trun(s, argv, env, 1), 0);
	cr_assert_eq(s->exit_code, 0, "%s: %s\n%s", mode, trun_status(s), s->err);
}

static const char *const report_env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_REPORT=stderr",
					  "OTCSHIM_MIN_WAIT=0", NULL };

/* xz closes its stderr before exit (before: the report was lost) */
Test(log, report_reaches_stderr_the_host_closed)
{
	char dir[64], err[128], redir[160];
	tmpdir(dir);
	snprintf(err, sizeof err, "%s/err", dir);
	snprintf(redir, sizeof redir, "2>%s", err);
	trun_t s;
	run_redirected(&s, "close", redir, "/dev/null", report_env);
	const char *txt = slurp(err);
	cr_assert(strstr(txt, "otcshim report"), "no report in the original stderr:\n%s", txt);
	cr_assert(strstr(txt, "log_lock"), "report without the lock:\n%s", txt);
	unlink(err);
	rmdir(dir);
	trun_free(&s);
}

/* nginx puts its error.log on descriptor 2: the shim's text stays out of it
 * and goes to the stderr the program was started with (before: the report
 * was written into the host's log) */
Test(log, report_stays_out_of_a_log_put_on_fd2)
{
	char dir[64], err[128], hostlog[128], redir[160];
	tmpdir(dir);
	snprintf(err, sizeof err, "%s/err", dir);
	snprintf(hostlog, sizeof hostlog, "%s/host.log", dir);
	snprintf(redir, sizeof redir, "2>%s", err);
	trun_t s;
	run_redirected(&s, "replace", redir, hostlog, report_env);
	cr_assert_str_eq(slurp(hostlog), "host line\n", "the host's log got our text");
	const char *txt = slurp(err);
	cr_assert(strstr(txt, "otcshim report"), "no report in the original stderr:\n%s", txt);
	unlink(err);
	unlink(hostlog);
	rmdir(dir);
	trun_free(&s);
}

/* started with descriptor 2 closed, the host opens a file that gets number 2:
 * it never gets the shim's text (before: the report was written into it) */
Test(log, nothing_written_to_a_file_that_took_fd2)
{
	char dir[64], file[128];
	tmpdir(dir);
	snprintf(file, sizeof file, "%s/data", dir);
	trun_t s;
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_REPORT=stderr",
			      "OTCSHIM_MIN_WAIT=bogus", NULL };
	run_redirected(&s, "reuse", "2>&-", file, env);
	cr_assert_str_eq(slurp(file), "host line\n", "the host's file got our text");
	unlink(file);
	rmdir(dir);
	trun_free(&s);
}

/* OTCSHIM_LOG=PATH: warnings go there, stderr stays the host's; none: silence */
Test(log, messages_follow_otcshim_log)
{
	char dir[64], log[128], var[160];
	tmpdir(dir);
	snprintf(log, sizeof log, "%s/shim-%%p.log", dir);
	snprintf(var, sizeof var, "OTCSHIM_LOG=%s", log);
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=bogus", var, NULL };
	const char *argv[] = { "progs/log_host", "plain", NULL };
	trun_t s;
	cr_assert_eq(trun(&s, argv, env, 1), 0);
	cr_assert_eq(s.exit_code, 0, "%s\n%s", trun_status(&s), s.err);
	cr_assert_null(strstr(s.err, "otcshim"), "stderr has the shim's text: %s", s.err);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "cat %s/shim-*.log", dir);
	FILE *p = popen(cmd, "r");
	char buf[4096] = { 0 };
	size_t n = fread(buf, 1, sizeof buf - 1, p);
	buf[n] = '\0';
	pclose(p);
	cr_assert(strstr(buf, "OTCSHIM_MIN_WAIT"), "the log file lacks the warning: '%s'", buf);
	trun_free(&s);

	const char *env2[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=bogus",
			       "OTCSHIM_LOG=none", NULL };
	cr_assert_eq(trun(&s, argv, env2, 1), 0);
	cr_assert_eq(s.exit_code, 0, "%s", trun_status(&s));
	cr_assert_str_eq(s.err, "", "OTCSHIM_LOG=none still printed: %s", s.err);
	trun_free(&s);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* nginx workers switch to nobody after fork: they write to the OTCSHIM_OUTPUT
 * their parent opened at start, in a directory only root may write (before:
 * "cannot open", the worker's spans lost) */
Test(log, worker_after_privilege_drop_keeps_the_output)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to drop privileges");
	char dir[64], out[128], var[160];
	tmpdir(dir);
	cr_assert_eq(chmod(dir, 0755), 0);
	snprintf(out, sizeof out, "%s/out.jsonl", dir);
	snprintf(var, sizeof var, "OTCSHIM_OUTPUT=%s", out);
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=0", var, NULL };
	const char *argv[] = { "progs/log_host", "drop", NULL };
	trun_t s;
	cr_assert_eq(trun(&s, argv, env, 1), 0);
	cr_assert_eq(s.exit_code, 0, "%s\n%s", trun_status(&s), s.err);
	long child = num_after(s.out, "child ");
	cr_assert_gt(child, 0, "%s", s.out);
	cr_assert_null(strstr(s.err, "cannot open"), "%s", s.err);
	/* the child's resource (process.pid) and its wait, on one line */
	char pid[64];
	snprintf(pid, sizeof pid, "\"intValue\":\"%ld\"", child);
	const char *txt = slurp(out);
	int found = 0;
	for (const char *l = txt; *l;) {
		size_t len = strcspn(l, "\n");
		char *line = strndup(l, len);
		if (strstr(line, pid) && strstr(line, "\"pthread_mutex_lock\""))
			found++;
		free(line);
		l += len + (l[len] == '\n');
	}
	cr_assert_gt(found, 0, "no wait of the unprivileged child %ld:\n%s\n%s", child, txt, s.err);
	unlink(out);
	rmdir(dir);
	trun_free(&s);
}
