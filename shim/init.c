/* init.c - start-up, global state, the process root span and exit.
 *
 * Init is lazy and idempotent: the constructor calls it, and so does any hook
 * that runs first (another library's constructor may lock a mutex before ours
 * ran). It is guarded by an atomic state word, never by a pthread mutex, since
 * the mutex functions are what we interpose. A thread that finds init under way
 * does not wait: its hook simply passes through until the state reads ready.
 *
 * The root span `process <exe>` opens at init and closes in the destructor,
 * which also flushes everything recorded, bounded by OTCSHIM_SHUTDOWN_TIMEOUT.
 */
#include "ots.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

ots_global_t ots_g;

static int hexnib(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* W3C: lowercase hex only */
}

static int hexbytes(const char *s, uint8_t *out, size_t n)
{
	int nonzero = 0;
	for (size_t i = 0; i < n; i++) {
		int a = hexnib((unsigned char)s[2 * i]), b = hexnib((unsigned char)s[2 * i + 1]);
		if (a < 0 || b < 0)
			return -EINVAL;
		out[i] = (uint8_t)(a * 16 + b);
		nonzero |= out[i];
	}
	return nonzero ? 0 : -EINVAL;
}

/* version-traceid-parentid-flags; version ff is invalid; version 00 is exactly
 * 55 characters; a later version may carry more fields after a '-'. */
int ots_traceparent_parse(const char *s, uint8_t trace_id[16], uint64_t *span_id, uint8_t *flags)
{
	size_t len = strlen(s);
	uint8_t ver, tid[16], sid[8], fl;
	if (len < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -EINVAL;
	if (hexnib((unsigned char)s[0]) < 0 || hexnib((unsigned char)s[1]) < 0)
		return -EINVAL;
	ver = (uint8_t)(hexnib((unsigned char)s[0]) * 16 + hexnib((unsigned char)s[1]));
	if (ver == 0xff || (ver == 0 && len != 55) || (ver != 0 && len > 55 && s[55] != '-'))
		return -EINVAL;
	if (hexbytes(s + 3, tid, 16) < 0 || hexbytes(s + 36, sid, 8) < 0)
		return -EINVAL;
	int a = hexnib((unsigned char)s[53]), b = hexnib((unsigned char)s[54]);
	if (a < 0 || b < 0)
		return -EINVAL;
	fl = (uint8_t)(a * 16 + b);
	memcpy(trace_id, tid, 16);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | sid[i];
	*span_id = v;
	*flags = fl;
	return 0;
}

/* Copy src into dst (size n, NUL-terminated, cut if need be), each control
 * character as '?', so that no name forges a line of the report. */
static void copy_printable(char *dst, size_t n, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[i] = '\0';
}

static void base_name(char *dst, size_t n, const char *path)
{
	const char *base = strrchr(path, '/');
	copy_printable(dst, n, base ? base + 1 : path);
}

static void exe_names(void)
{
	ssize_t n = readlink("/proc/self/exe", ots_g.exe_path, sizeof ots_g.exe_path - 1);
	if (n < 0)
		n = 0;
	ots_g.exe_path[n] = '\0';
	base_name(ots_g.exe_name, sizeof ots_g.exe_name, ots_g.exe_path);
	if (!ots_g.exe_name[0])
		snprintf(ots_g.exe_name, sizeof ots_g.exe_name, "unknown");
	/* argv[0] as glibc saw it before any constructor ran (a host that
	 * rewrites its argv later, as setproctitle does, changes nothing here);
	 * NULL or empty when the process was started with no argv[0]. */
	const char *argv0 = program_invocation_name;
	if (argv0 && *argv0) {
		copy_printable(ots_g.command, sizeof ots_g.command, argv0);
		base_name(ots_g.command_name, sizeof ots_g.command_name, argv0);
	}
	prctl(PR_GET_NAME, ots_g.comm, 0, 0, 0);
	ots_g.comm[sizeof ots_g.comm - 1] = '\0';
}

void ots_root_begin(void)
{
	if (ots_g.parent_span_id)
		memcpy(ots_g.trace_id, ots_g.parent_trace_id, 16);
	else
		ots_ids_trace(ots_g.trace_id);
	ots_g.root_span_id = ots_ids_span();
	ots_g.root_start_ns = ots_unix_ns(ots_mono_ns());
	ots_g.pid = getpid();
	ots_g.main_tid = ots_tid();
	ots_threads_register(ots_g.main_tid, pthread_self(), ots_g.root_span_id, ots_g.trace_id);
	ots_segment_reset();
}

/* defined in libotcshim.so, absent from the static core the tests link */
extern void ots_plugins_init(void) __attribute__((weak));

void ots_init_slow(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong_explicit(&ots_g.state, &expected, 1,
						     memory_order_acq_rel, memory_order_acquire))
		return; /* ready, or under way in this or another thread: pass through */
	int saved = errno;
	ots_reentry_enter();
	ots_real_resolve();
	/* setuid, setgid or file capabilities: the shim is a pure pass-through.
	 * Nothing of the environment is read (an unprivileged user set it), no
	 * file is opened, no thread started. */
	if (getauxval(AT_SECURE)) {
		ots_g.enabled = 0;
		goto ready;
	}
	ots_ids_clock_init();
	/* the static core the unit tests link writes to whatever fd 2 is */
	if (ots_plugins_init)
		ots_log_capture_stderr();
	/* before the rest of the configuration, so its warnings go there too */
	ots_log_set_destination(secure_getenv("OTCSHIM_LOG"));
	ots_config_load(NULL);
	exe_names();
	/* disabled, or no family traced: nothing is loaded, started or opened */
	ots_g.enabled = !ots_cfg.sdk_disabled && ots_cfg.hooks != 0;
	if (!ots_g.enabled) {
		OTS_DEBUG("init: pid %d exe %s, disabled (%s)", (int)getpid(), ots_g.exe_name,
			  ots_cfg.sdk_disabled ? "OTEL_SDK_DISABLED" : "OTCSHIM_HOOKS=none");
		goto ready;
	}
	ots_g.hooks = ots_cfg.hooks;
	ots_g.min_wait_ns = ots_cfg.min_wait_ns;
	ots_g.stack_depth = ots_cfg.stack_depth;
	if (ots_cfg.traceparent) {
		if (ots_traceparent_parse(ots_cfg.traceparent, ots_g.parent_trace_id,
					  &ots_g.parent_span_id, &ots_g.parent_flags) < 0) {
			OTS_WARN("TRACEPARENT=\"%s\" is not a W3C traceparent; starting a new trace",
				 ots_cfg.traceparent);
			ots_g.parent_span_id = 0;
		}
	}
	if (ots_cfg.output_path)
		ots_file_preopen(ots_cfg.output_path);
	ots_pool_init();
	ots_stack_init();
	if (ots_plugins_init) /* libotcshim.so only (exporter/load.c) */
		ots_plugins_init();
	ots_root_begin();
	ots_life_reset(1);
	ots_fork_install();
	OTS_DEBUG("init: pid %d exe %s, tracing", ots_g.pid, ots_g.exe_name);
ready:
	ots_reentry_leave();
	atomic_store_explicit(&ots_g.state, 2, memory_order_release);
	errno = saved;
}

void ots_init(void)
{
	ots_ensure_init();
}

__attribute__((constructor)) static void ots_constructor(void)
{
	ots_init();
}

/* The root span goes to the exporter directly, not through the exiting
 * thread's ring, which may be full. */
void ots_root_record(uint16_t flags)
{
	ots_rec_t r;
	memset(&r, 0, offsetof(ots_rec_t, frames));
	r.kind = OTS_REC_PROCESS;
	r.tid = ots_g.main_tid;
	/* only the first segment is the TRACEPARENT's child; later ones are
	 * roots of their own, linked to the segment before (shim/segment.c) */
	uint32_t g = atomic_load_explicit(&ots_g.segment, memory_order_acquire);
	r.span_id = ots_g.root_span_id;
	r.parent_span_id = g ? 0 : ots_g.parent_span_id;
	r.aux = g != 0;
	memcpy(r.trace_id, ots_g.trace_id, 16);
	r.start_ns = ots_g.root_start_ns;
	r.end_ns = ots_unix_ns(ots_mono_ns());
	r.obj = (uint64_t)ots_g.pid;
	r.flags = flags;
	if (ots_g.link_span_id) {
		if (ots_g.link_kind)
			r.aux = (uint64_t)ots_g.link_kind;
		r.flags |= OTS_RF_HAS_LINK;
		r.link_span_id = ots_g.link_span_id;
		memcpy(r.link_trace_id, ots_g.link_trace_id, 16);
	}
	ots_exporter_final_record(&r);
}

/* The report symbolises (libdw) in the exiting thread: a fault there is
 * contained like the final export's (shim/contain.c). */
static void report_contained(void)
{
	if (!ots_cfg.report || !*ots_cfg.report)
		return; /* no report asked for: no handler to install either */
	sigjmp_buf jb;
	ots_contain_open();
	if (sigsetjmp(jb, 1) == 0) {
		ots_tls.crash_jmp = &jb;
		ots_report_at_exit();
	} else {
		OTS_WARN("the exit report crashed and was abandoned; the program's exit is not "
			 "affected");
	}
	ots_tls.crash_jmp = NULL;
	ots_contain_close();
}

/* futex word: 1 once the final flush (and the report) is done */
static _Atomic uint32_t shutdown_done;
static _Atomic int shutdown_tid;

void ots_shutdown_wait(uint64_t timeout_ns)
{
	if (atomic_load(&shutdown_tid) == ots_tid())
		return; /* our own flush, re-entered (an exit from a handler) */
	uint64_t deadline = ots_mono_ns() + timeout_ns + 50000000ull;
	for (;;) {
		if (atomic_load(&shutdown_done))
			return;
		uint64_t now = ots_mono_ns();
		if (now >= deadline)
			return;
		if (!atomic_load(&ots_g.exiting)) {
			/* the other exit has not reached the flush yet: poll for it */
			struct timespec nap = { 0, 1000000 };
			nanosleep(&nap, NULL);
			continue;
		}
		uint64_t ns = deadline - now;
		struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
		syscall(SYS_futex, (uint32_t *)&shutdown_done, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
	}
}

/* Waits still in progress as the process exits (a deadlock ended by a
 * signal handler's exit, a stuck worker): each is a span ending now that
 * says it never completed, in the waiter's thread span. */
static void waits_at_exit(void)
{
	ots_wait_info_t w[64];
	size_t n = ots_threads_waits(w, 64);
	uint64_t now = ots_mono_ns();
	for (size_t i = 0; i < n; i++)
		if (w[i].tid != ots_tid())
			ots_stall_record(&w[i], now, OTS_WAIT_AT_EXIT);
}

void ots_shutdown(void)
{
	if (atomic_load_explicit(&ots_g.state, memory_order_acquire) != 2 || !ots_g.enabled)
		return;
	if (atomic_exchange(&ots_g.exiting, 1)) {
		/* another thread flushes (or this one did): let it finish first */
		ots_reentry_enter();
		ots_shutdown_wait(ots_cfg.shutdown_timeout_ns);
		ots_reentry_leave();
		return;
	}
	int saved = errno;
	ots_reentry_enter();
	atomic_store(&shutdown_tid, ots_tid());
	ots_threads_end_live(ots_unix_ns(ots_mono_ns()));
	waits_at_exit();
	ots_root_record(0);
	ots_exporter_stop(ots_cfg.shutdown_timeout_ns);
	report_contained();
	atomic_store(&shutdown_done, 1);
	syscall(SYS_futex, (uint32_t *)&shutdown_done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	ots_reentry_leave();
	errno = saved;
}

__attribute__((destructor)) static void ots_destructor(void)
{
	ots_shutdown();
}
