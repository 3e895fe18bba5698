/* relay.c - the last spans of a process that never set up its transport go
 * to a helper process, otcshim-send, which sends them.
 *
 * Why (issue 9). The OTLP transport (libcurl and the TLS library under it)
 * is set up when the exporter thread starts, which is when the host creates
 * its first thread: a live process, before the host's own exit handlers. A
 * single-threaded process never starts that thread, so its spans (the root
 * span at least) would be sent at exit, and setting libcurl up at exit means
 * curl_global_init -> libssh2_init -> OpenSSL in a process whose atexit
 * handlers may have cleaned that very OpenSSL up already (`openssl version`,
 * `curl`, `ssh`: the same libcrypto, since the host links it). No amount of
 * care inside the process makes "initialise after the host tore down" safe,
 * so it is not done: the exiting thread encodes the spans (wire.c) into a
 * pipe, and a fresh process of ours, with its own libcurl and OpenSSL, does
 * the network work. The host loads nothing and initialises nothing.
 *
 * The helper
 *   otcshim-send, installed beside libotcshim.so. Started with clone(2),
 *   CLONE_VM | CLONE_VFORK, on stacks of ours, from which only raw system
 *   calls run until execve: no fork handler of the host runs (pthread_atfork,
 *   malloc's). A short-lived middle child with no exit signal starts it and
 *   ends at once (reaped here with __WALL), so the sender is not the host's
 *   child: no SIGCHLD reaches the host, its wait() never sees either. All signals are blocked across
 *   the clone, so no handler of the host runs on the child. The child's fd 0
 *   is the batch pipe, fd 1 the answer pipe, fd 2 /dev/null, and every other
 *   descriptor is closed (close_range) before execve: it holds nothing of the
 *   host's. Its environment is a short list copied from the host's (proxies,
 *   CA locations, the loader path, sanitizer options); LD_PRELOAD is not in
 *   it, so the helper is not traced. The settings the OTLP sink needs travel
 *   in the first frame, as the shim read them at start.
 *
 * The host's side
 *   A sink like the others: export() writes a frame, shutdown() closes the
 *   pipe and reads the helper's messages (printed here, as the shim's own)
 *   and final counters (added to ots_counters) until the final flush's
 *   deadline. Every wait is a poll bounded by that deadline: a helper that
 *   does not answer costs the host at most its shutdown timeout, as before;
 *   the helper has the same deadline and gives up on its own.
 */
#include "exp.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SENDER "otcshim-send"
#define MAX_ENV 24
#define ANSWER_MAX 65536

extern char **environ;

typedef struct relay {
	int out_fd;        /* frames to the sender */
	int in_fd;         /* its answers */
	uint64_t deadline;
	uint64_t handed;   /* spans written to the pipe */
	int broken;        /* the pipe failed: the rest is counted, not written */
	int done;          /* its counters arrived */
	ots_buf_t frame;
	char answer[ANSWER_MAX];
	size_t alen;
} relay_t;

/* The child, between clone and execve: raw system calls only (it runs on
 * the host's memory, with the host's TLS, until execve replaces it). */
typedef struct child_args {
	int in, out, null;
	int max_fd;
	const char *path;
	char *const *argv;
	char *const *envp;
	int err;
} child_args_t;

static int sender_main(void *arg)
{
	child_args_t *a = arg;
	long rc = 0;
	if (syscall(SYS_dup3, a->in, 0, 0) < 0 || syscall(SYS_dup3, a->out, 1, 0) < 0 ||
	    syscall(SYS_dup3, a->null, 2, 0) < 0)
		goto fail;
#ifdef SYS_close_range
	rc = syscall(SYS_close_range, 3, ~0u, 0);
#else
	rc = -1;
#endif
	if (rc < 0)
		for (int fd = 3; fd < a->max_fd; fd++)
			syscall(SYS_close, fd);
	syscall(SYS_execve, a->path, a->argv, a->envp);
fail:
	a->err = errno;
	syscall(SYS_exit, 127);
	return 127;
}

/* The intermediate child: an exec resets a process's exit signal to
 * SIGCHLD, so the sender cannot be the host's child without the host being
 * told when it ends. This one never execs: it starts the sender (which waits
 * in it until execve) and ends, with no exit signal; the sender, an orphan
 * then, belongs to init (or the nearest subreaper), not to the host. */
static char sender_stack[32768] __attribute__((aligned(16)));

static int middle_main(void *arg)
{
	child_args_t *a = arg;
	long pid = clone(sender_main, sender_stack + sizeof sender_stack,
			 CLONE_VM | CLONE_VFORK | SIGCHLD, a);
	if (pid < 0)
		a->err = errno;
	syscall(SYS_exit, 0);
	return 0;
}

static int env_wanted(const char *e)
{
	static const char *const names[] = {
		"http_proxy=", "HTTP_PROXY=", "https_proxy=", "HTTPS_PROXY=", "no_proxy=",
		"NO_PROXY=", "all_proxy=", "ALL_PROXY=", "SSL_CERT_FILE=", "SSL_CERT_DIR=",
		"CURL_CA_BUNDLE=", "OPENSSL_CONF=", "LD_LIBRARY_PATH=", "TMPDIR=", "TZ=",
		"ASAN_OPTIONS=", "UBSAN_OPTIONS=", "TSAN_OPTIONS=", "LSAN_OPTIONS=",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strncmp(e, names[i], strlen(names[i])))
			return 1;
	return 0;
}

/* An fd of ours, at 3 or above (the child's dup3 onto 0..2 must not meet
 * it): moved off 0..2 first, since ots_fd_own keeps a number where it is
 * when there is no room above its floor, and registers it. */
static int high(int fd)
{
	if (fd >= 0 && fd < 3) {
		int h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		fd = h;
	}
	return ots_fd_own(fd);
}

static int spawn(relay_t *r, const char *path)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int null = high(open("/dev/null", O_RDWR | O_CLOEXEC));
	if (null < 0 || pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		goto fail;
	for (int i = 0; i < 2; i++) {
		in[i] = high(in[i]);
		out[i] = high(out[i]);
	}
	if (in[0] < 0 || in[1] < 0 || out[0] < 0 || out[1] < 0)
		goto fail;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);

	static char *envp[MAX_ENV + 1];
	int ne = 0;
	for (char **e = environ; e && *e && ne < MAX_ENV; e++)
		if (env_wanted(*e))
			envp[ne++] = *e;
	envp[ne] = NULL;
	static char *argv[] = { SENDER, NULL };
	struct rlimit rl;
	child_args_t a = { .in = in[0], .out = out[1], .null = null, .path = path,
			   .argv = argv, .envp = envp, .err = 0, .max_fd = 65536 };
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536)
		a.max_fd = (int)rl.rlim_cur;

	/* the child runs here until execve, the parent waits (CLONE_VFORK) */
	static char stack[32768] __attribute__((aligned(16)));
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int saved = errno;
	pid_t pid = clone(middle_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK, &a);
	int clone_err = errno;
	if (pid > 0) /* it has ended (CLONE_VFORK): reap it (no exit signal: __WALL) */
		waitpid(pid, NULL, __WALL);
	errno = saved;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ots_fd_close(in[0]);
	ots_fd_close(out[1]);
	ots_fd_close(null);
	in[0] = out[1] = null = -1;
	if (pid < 0 || a.err) {
		OTS_WARN("cannot start %s: %s; the spans of this process's end are not sent over "
			 "OTLP", path, strerror(pid < 0 ? clone_err : a.err));
		goto fail;
	}
	r->out_fd = in[1];
	r->in_fd = out[0];
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			ots_fd_close(in[i]);
		if (out[i] >= 0)
			ots_fd_close(out[i]);
	}
	if (null >= 0)
		ots_fd_close(null);
	return -1;
}

/* What the sender said so far: messages go to the shim's log as they come,
 * its counters are added once. */
static void take_answers(relay_t *r)
{
	size_t at = 0;
	int type, n;
	const char *body;
	size_t len;
	while ((n = ots_wire_frame_next(r->answer + at, r->alen - at, &type, &body, &len)) > 0) {
		at += (size_t)n;
		if (type == OTS_WIRE_MSG && len > 1) {
			char line[512];
			size_t k = len - 1 < sizeof line ? len - 1 : sizeof line - 1;
			memcpy(line, body + 1, k);
			line[k] = '\0';
			ots_log_write(body[0] != 0, "%s", line);
		} else if (type == OTS_WIRE_DONE && !r->done &&
			   len == OTS_WIRE_NCOUNTERS * sizeof(uint64_t)) {
			_Atomic uint64_t *c = (_Atomic uint64_t *)&ots_counters;
			for (size_t i = 0; i < OTS_WIRE_NCOUNTERS; i++) {
				uint64_t v;
				memcpy(&v, body + i * sizeof v, sizeof v);
				atomic_fetch_add(&c[i], v);
			}
			r->done = 1;
		}
	}
	memmove(r->answer, r->answer + at, r->alen - at);
	r->alen -= at;
}

/* Read what is there; 0 at end of file. */
static int read_answers(relay_t *r)
{
	for (;;) {
		if (r->alen == sizeof r->answer)
			r->alen = 0; /* a frame larger than we keep: not ours to parse */
		ssize_t n = read(r->in_fd, r->answer + r->alen, sizeof r->answer - r->alen);
		if (n > 0) {
			r->alen += (size_t)n;
			take_answers(r);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0 ? 0 : 1;
	}
}

static int wait_ms(uint64_t deadline)
{
	uint64_t now = ots_mono_ns();
	if (now >= deadline)
		return -1;
	uint64_t ms = (deadline - now + 999999) / 1000000;
	return ms > 1000 ? 1000 : (int)ms;
}

/* Write the frame, reading answers meanwhile (so neither side can fill its
 * pipe waiting for the other). */
static int send_frame(relay_t *r)
{
	const char *p = r->frame.data;
	size_t left = r->frame.len;
	while (left) {
		ssize_t n = write(r->out_fd, p, left);
		if (n > 0) {
			p += n;
			left -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -1; /* EPIPE: the sender is gone (SIGPIPE is blocked here) */
		int ms = wait_ms(r->deadline);
		if (ms < 0)
			return -1;
		struct pollfd pf[2] = { { r->out_fd, POLLOUT, 0 }, { r->in_fd, POLLIN, 0 } };
		if (poll(pf, 2, ms) > 0 && pf[1].revents)
			read_answers(r);
	}
	return 0;
}

static int relay_export(ots_sink_t *s, const ots_resource_t *res, const ots_span_t *spans,
			size_t n, uint64_t deadline)
{
	(void)deadline;
	relay_t *r = s->state;
	if (!r->broken) {
		ots_buf_reset(&r->frame);
		ots_wire_t w = { .out = &r->frame };
		if (!r->handed) {
			ots_wire_frame_begin(&r->frame, OTS_WIRE_CONFIG);
			/* the sender stops a little earlier, so its counts and
			 * messages arrive while the host still listens */
			uint64_t now = ots_mono_ns();
			uint64_t left = r->deadline > now ? r->deadline - now : 0;
			uint64_t margin = left / 16 < 50000000 ? left / 16 : 50000000;
			uint64_t send_deadline = r->deadline - margin;
			ots_wire_config(&w, &ots_cfg, &send_deadline);
			ots_wire_frame_end(&r->frame, 0);
			size_t at = r->frame.len;
			ots_wire_frame_begin(&r->frame, OTS_WIRE_RESOURCE);
			ots_wire_resource(&w, (ots_resource_t *)res);
			ots_wire_frame_end(&r->frame, at);
		}
		size_t at = r->frame.len;
		uint32_t count = (uint32_t)n;
		ots_wire_frame_begin(&r->frame, OTS_WIRE_BATCH);
		ots_buf_append(&r->frame, &count, sizeof count);
		for (size_t i = 0; i < n; i++)
			ots_wire_span(&w, (ots_span_t *)&spans[i]);
		ots_wire_frame_end(&r->frame, at);
		if (r->frame.oom || send_frame(r) < 0)
			r->broken = 1;
	}
	/* counted as handed over either way: what the sender does not confirm
	 * is counted at shutdown */
	r->handed += n;
	return 0;
}

static void relay_shutdown(ots_sink_t *s, uint64_t deadline)
{
	relay_t *r = s->state;
	if (r->out_fd >= 0) {
		ots_fd_close(r->out_fd); /* end of file: the sender sends and answers */
		r->out_fd = -1;
	}
	if (deadline > r->deadline)
		deadline = r->deadline;
	/* until its counters and then its end (end of file: the sender has
	 * exited, and is reaped below) */
	int eof = 0;
	while (r->in_fd >= 0 && !eof) {
		int ms = wait_ms(deadline);
		if (ms < 0)
			break;
		struct pollfd pf = { r->in_fd, POLLIN, 0 };
		if (poll(&pf, 1, ms) > 0 && !read_answers(r))
			eof = 1;
	}
	if (!r->done && r->handed) {
		atomic_fetch_add(&ots_counters.spans_dropped_shutdown, r->handed);
		OTS_WARN("shutdown timeout (%llu ms) reached; about %llu spans unsent (%s did not "
			 "answer)", (unsigned long long)(ots_cfg.shutdown_timeout_ns / 1000000),
			 (unsigned long long)r->handed, SENDER);
	}
	if (r->in_fd >= 0) {
		ots_fd_close(r->in_fd);
		r->in_fd = -1;
	}
	/* the sender is not our child (see middle_main): one still sending at
	 * the deadline ends by its own, slightly earlier, deadline */
	r->handed = 0;
}

static size_t relay_pending(ots_sink_t *s)
{
	relay_t *r = s->state;
	return r->done ? 0 : (size_t)r->handed;
}

extern const char *ots_plugins_dir(void) __attribute__((weak));

ots_sink_t *ots_relay_sink_open(uint64_t deadline)
{
	if (!ots_plugins_dir)
		return NULL;
	static ots_sink_t sink;
	static relay_t relay;
	char path[PATH_MAX + sizeof SENDER];
	snprintf(path, sizeof path, "%s%s", ots_plugins_dir(), SENDER);
	memset(&relay, 0, sizeof relay);
	relay.out_fd = relay.in_fd = -1;
	relay.deadline = deadline;
	if (spawn(&relay, path) < 0)
		return NULL;
	sink = (ots_sink_t){ .name = "otlp", .export = relay_export, .shutdown = relay_shutdown,
			     .pending = relay_pending, .state = &relay };
	return &sink;
}
