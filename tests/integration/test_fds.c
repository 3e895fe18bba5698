/* Integration tests of the host's file descriptors (issue 8): the shim's
 * descriptors are never confused with the host's, never inherited by the
 * host's children, and never shift the host's numbering. Each runs
 * tests/progs/fd_host natively and under the shim and wants the same stdout,
 * byte for byte: the numbers open() returned, the contents of the host's
 * files, the descriptors a child (started without the shim) inherited. */
#include "h4_util.h"

static void run_fd_host(const char *mode)
{
	setenv("OTS_TEST_TIMEOUT", "20", 1);
	trun_t n, s;
	const char *argv[] = { "progs/fd_host", mode, NULL };
	const char *env[] = { "OTEL_TRACES_EXPORTER=none", "OTCSHIM_MIN_WAIT=0",
			      "OTEL_BSP_SCHEDULE_DELAY=50", "OTCSHIM_SHUTDOWN_TIMEOUT=5s", NULL };
	run_both(&n, &s, argv, env);
	cr_assert_eq(n.exit_code, 0, "%s natively: %s\n%s", mode, trun_status(&n), n.out);
	cr_assert_str_eq(s.out, n.out,
			 "%s: stdout under the shim differs from native:\n--- native\n%s--- shim\n%s"
			 "--- shim stderr\n%s",
			 mode, n.out, s.out, s.err);
	cr_assert_lt(s.seconds, n.seconds + 2.0, "%s: %.2f s under the shim, %.2f s natively", mode,
		     s.seconds, n.seconds);
	/* 3 waits before the close, 3 after: the shim's output survived it */
	int waits = tspan_count(&s, "pthread_mutex_lock");
	cr_assert_geq(waits, 6, "%s: %d mutex waits written, want 6 (stderr: %s)", mode, waits, s.err);
	cr_assert_null(strstr(s.err, "failed"), "%s: the shim reported a failure: %s", mode, s.err);
	trun_free(&n);
	trun_free(&s);
}

/* the host's next open() after its first thread, the files it writes and
 * what its children inherit (before: 48 instead of 3, and a child inherited
 * some 45 descriptors of libdw's ELF and debug files and the exporter's) */
Test(fds, no_leak_and_same_numbers)
{
	run_fd_host("none");
}

/* a daemon closes every inherited descriptor after its first thread (before:
 * the exporter's output file went with it, "writing OTCSHIM_OUTPUT failed
 * (errno 9)", no span written, and the shim's reopened files leaked to the
 * child) */
Test(fds, close_range_after_first_thread)
{
	run_fd_host("close_range");
}

Test(fds, closefrom_after_first_thread)
{
	run_fd_host("closefrom");
}

/* python's os.closerange falls back to this; old daemons do it by hand */
Test(fds, close_loop_after_first_thread)
{
	run_fd_host("close_loop");
}
