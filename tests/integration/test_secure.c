/* Secure-execution mode (issue 9): the dynamic loader preloads a setuid
 * library from a trusted directory even into a setuid program, so the shim
 * may run inside a root process whose environment an unprivileged user set.
 * Under AT_SECURE the shim must be a pure pass-through: it reads no variable,
 * opens no file (OTCSHIM_REPORT and OTCSHIM_OUTPUT pointed at root's
 * directory must not appear), starts no thread, says nothing.
 *
 * The test needs root (to install a setuid copy of the program and of the
 * shim) and setpriv (util-linux) to run them as nobody; it skips otherwise.
 * The installed copies are removed at the end. */
#include "h4_util.h"

#include <sys/stat.h>
#include <unistd.h>

#define LIBDIR "/usr/lib/x86_64-linux-gnu"

static int sh(const char *fmt, const char *a, const char *b)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, fmt, a, b);
	return system(cmd);
}

Test(secure, setuid_host_is_a_pure_pass_through)
{
	if (geteuid() != 0 || system("command -v setpriv >/dev/null 2>&1") != 0)
		cr_skip_test("needs root and setpriv");
	if (under_sanitizer())
		cr_skip_test("a sanitizer runtime is not preloaded into a setuid program");
	if (access(LIBDIR, W_OK) != 0)
		cr_skip_test(LIBDIR " is not writable");
	char lib[128], dir[128], prog[192], report[128], out[128];
	snprintf(lib, sizeof lib, "libotcshim-sectest-%d.so", (int)getpid());
	snprintf(dir, sizeof dir, "/tmp/otcshim-sec-%d", (int)getpid());
	snprintf(prog, sizeof prog, "%s/sec_probe", dir);
	snprintf(report, sizeof report, "/root/otcshim-sec-report-%d", (int)getpid());
	snprintf(out, sizeof out, "/root/otcshim-sec-out-%d", (int)getpid());
	char libpath[256];
	snprintf(libpath, sizeof libpath, LIBDIR "/%s", lib);
	cr_assert_eq(sh("install -m 4755 -o root %s %s", ots_path("libotcshim.so"), libpath), 0);
	cr_assert_eq(sh("mkdir -p %s && chmod 755 %s", dir, dir), 0);
	cr_assert_eq(sh("install -m 4755 -o root %s %s", ots_path("progs/sec_probe"), prog), 0);

	char preload[300], rep[200], outv[200];
	snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lib);
	snprintf(rep, sizeof rep, "OTCSHIM_REPORT=%s", report);
	snprintf(outv, sizeof outv, "OTCSHIM_OUTPUT=%s", out);
	const char *argv[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			       "env",	   preload,	    rep,	     outv,
			       "OTCSHIM_DEBUG=true", "OTEL_TRACES_EXPORTER=none", prog, NULL };
	trun_t r;
	int rc = trun_bounded(&r, argv, NULL, 0, 10.0);
	struct stat st;
	int report_made = stat(report, &st) == 0, out_made = stat(out, &st) == 0;
	unlink(report);
	unlink(out);
	unlink(libpath);
	sh("rm -rf %s%s", dir, "");
	cr_assert_eq(rc, 0);
	cr_assert(!r.timed_out && r.exit_code == 0, "the setuid host: %s\n%s", trun_status(&r),
		  r.err);
	/* the loader did preload the shim: the test means something */
	cr_assert_not_null(strstr(r.out, "otcshim mapped: yes; uid 65534 euid 0"),
			   "the shim was not preloaded into the setuid host: %s", r.out);
	cr_assert(!report_made, "the shim wrote OTCSHIM_REPORT=%s as root", report);
	cr_assert(!out_made, "the shim created OTCSHIM_OUTPUT=%s as root", out);
	cr_assert_str_empty(r.err, "the shim spoke in a setuid host: %s", r.err);
	trun_free(&r);
}
