/* Integration tests of the relay (exporter/relay.c, issue 9): a process that
 * never started a thread sends its last spans through otcshim-send, a helper
 * process, instead of setting libcurl and OpenSSL up in itself at exit.
 *
 * Real programs that clean OpenSSL up in their own atexit handler (openssl,
 * curl, ssh) used to crash in the shim's exit work (contained, and said);
 * now their spans arrive and nothing crashes. The helper holds no descriptor
 * of the host's, carries no LD_PRELOAD, and the host sees no SIGCHLD.
 */
#include "h4_util.h"
#include "../receiver/recv.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

Test(relay, openssl_curl_ssh_send_their_spans, .timeout = 120)
{
	if (under_sanitizer())
		cr_skip_test("curl preloaded with the ASan runtime alone, no shim, hangs at start");
	static const char *const progs[][4] = {
		{ "/usr/bin/openssl", "version", NULL, "process openssl" },
		{ "/usr/bin/curl", "-s", "file:///etc/hostname", "process curl" },
		{ "/usr/bin/ssh", "-V", NULL, "process ssh" },
	};
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, NULL, NULL), 0);
	char ep[160];
	snprintf(ep, sizeof ep, "OTEL_EXPORTER_OTLP_ENDPOINT=%s", r.base);
	int ran = 0;
	for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
		if (access(progs[i][0], X_OK) != 0)
			continue;
		ran++;
		const char *argv[] = { progs[i][0], progs[i][1], progs[i][2], NULL };
		const char *env[] = { ep, "OTEL_TRACES_EXPORTER=otlp", NULL };
		trun_t n, s;
		cr_assert_eq(trun(&n, argv, env, 0), 0);
		cr_assert_eq(trun(&s, argv, env, 1), 0);
		cr_assert_eq(s.exit_code, n.exit_code, "%s: %s under the shim, %s natively",
			     progs[i][0], trun_status(&s), trun_status(&n));
		cr_assert_str_eq(s.out, n.out, "%s: stdout differs", progs[i][0]);
		cr_assert_null(strstr(s.err, "crashed"), "%s: %s", progs[i][0], s.err);
		cr_assert_null(strstr(s.err, "cleaned up"), "%s: %s", progs[i][0], s.err);
		/* the host has exited: the span is there already, not on its way */
		cr_assert(trecv_has_span(&r, progs[i][3]), "%s: no '%s' received: %s", progs[i][0],
			  progs[i][3], s.err);
		trun_free(&n);
		trun_free(&s);
	}
	trecv_stop(&r);
	if (!ran)
		cr_skip_test("none of openssl, curl, ssh is installed");
}

/* Nobody listens: one refused connect, said by the helper through the host,
 * counted in the host's summary; exit status and output unchanged. */
Test(relay, refused_connect_is_said_and_counted)
{
	char ep[96];
	snprintf(ep, sizeof ep, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d",
		 trecv_dead_port());
	const char *env[] = { ep, "OTEL_TRACES_EXPORTER=otlp", "OTCSHIM_DEBUG=true", NULL };
	const char *argv[] = { "progs/otlp_single", "5", NULL };
	trun_t s;
	cr_assert_eq(trun(&s, argv, env, 1), 0);
	cr_assert_eq(s.exit_code, 5, "%s: %s", trun_status(&s), s.err);
	cr_assert(strstr(s.err, "not sent"), "the helper's message reaches the host: %s", s.err);
	cr_assert(strstr(s.err, "spans: 0 sent"), "its counters reach the summary: %s", s.err);
	cr_assert_lt(s.seconds, 1.5, "a refused connect costs %.2f s", s.seconds);
	trun_free(&s);
}

/* pid of a process of process group pgrp whose command is name, or 0; its
 * parent in *ppid */
static pid_t member_named(pid_t pgrp, const char *name, int *ppid)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	struct dirent *e;
	pid_t found = 0;
	while (!found && (e = readdir(d))) {
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *l = strchr(buf, '('), *rp = strrchr(buf, ')');
		int pp = 0, pg = 0;
		if (!l || !rp || sscanf(rp + 2, "%*c %d %d", &pp, &pg) != 2)
			continue;
		*rp = '\0';
		if (pg == pgrp && !strcmp(l + 1, name)) {
			found = atoi(e->d_name);
			*ppid = pp;
		}
	}
	closedir(d);
	return found;
}

/* A host with a file open (not close-on-exec) and a SIGCHLD handler, and a
 * collector that never answers, so the helper can be looked at while it
 * waits: its descriptors are its pipes, /dev/null and its socket; nothing
 * of the host's. Its environment has no LD_PRELOAD. It is not the host's
 * child, and the host's SIGCHLD handler never runs. */
Test(relay, sender_holds_nothing_of_the_host, .timeout = 60)
{
	trecv_t r;
	cr_assert_eq(trecv_start(&r, NULL, "hang", NULL), 0);
	int out[2];
	cr_assert_eq(pipe(out), 0);
	pid_t host = fork();
	cr_assert_geq(host, 0);
	if (host == 0) {
		char pre[1100], ep[160];
		snprintf(pre, sizeof pre, "LD_PRELOAD=%s", preload_list());
		snprintf(ep, sizeof ep, "OTEL_EXPORTER_OTLP_ENDPOINT=%s", r.base);
		char *env[] = { pre, ep, "OTCSHIM_SHUTDOWN_TIMEOUT=3s", "PATH=/usr/bin:/bin", NULL };
		setpgid(0, 0); /* the sender stays in it: how it is found */
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		char *argv[] = { (char *)ots_path("progs/relay_host"), NULL };
		execve(argv[0], argv, env);
		_exit(127);
	}
	close(out[1]);
	pid_t send = 0;
	int ppid = 0;
	for (int i = 0; i < 400 && !(send = member_named(host, "otcshim-send", &ppid)); i++)
		usleep(5000);
	cr_assert_neq(send, 0, "no otcshim-send of the host seen");
	cr_expect_neq(ppid, host, "the sender is not the host's child (its end would be told)");
	usleep(200000); /* it has connected and waits for the answer */
	char dir[64], link[340], target[512];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)send);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	int nfd = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		nfd++;
		int fd = atoi(e->d_name);
		if (fd <= 1)
			cr_expect(!strncmp(target, "pipe:", 5), "fd %d is %s", fd, target);
		else if (fd == 2)
			cr_expect_str_eq(target, "/dev/null");
		else
			cr_expect(!strncmp(target, "socket:", 7) || !strncmp(target, "anon_inode:", 11) ||
					  !strncmp(target, "pipe:", 5),
				  "fd %d of the sender is %s (the host's?)", fd, target);
		cr_expect_null(strstr(target, "hostname"), "the host's file is open in the sender");
	}
	closedir(d);
	cr_expect_geq(nfd, 3);
	char envp[64], envbuf[8192];
	snprintf(envp, sizeof envp, "/proc/%d/environ", (int)send);
	FILE *f = fopen(envp, "r");
	cr_assert_not_null(f);
	size_t n = fread(envbuf, 1, sizeof envbuf - 1, f);
	fclose(f);
	cr_expect_eq(memmem(envbuf, n, "LD_PRELOAD=", 11), NULL, "the sender is not traced");
	char buf[256];
	ssize_t k, got = 0;
	while ((k = read(out[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
		got += k;
	buf[got > 0 ? got : 0] = '\0';
	close(out[0]);
	int st;
	cr_assert_eq(waitpid(host, &st, 0), host);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	cr_expect_null(strstr(buf, "SIGCHLD"), "the host saw its helper end: %s", buf);
	cr_expect(strstr(buf, "relay_host done"), "%s", buf);
	trecv_stop(&r);
}
