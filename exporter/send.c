/* send.c - otcshim-send: sends the last spans of a process that exited
 * without ever setting up its OTLP transport (see relay.c for why).
 *
 * Started by the exiting host with the batch pipe on fd 0, the answer pipe
 * on fd 1, /dev/null on fd 2 and nothing else open. It reads the settings
 * (the first frame), the resource and the batches (wire.c), hands them to
 * the same OTLP sink the exporter thread uses (libotcshim-otlp.so, from its
 * own directory, with a core table of its own), and at end of file runs the
 * sink's final flush by the host's deadline. Messages go back up the answer
 * pipe, for the host to print as its own; last come its counters. Not meant
 * to be run by hand: with a terminal on fd 0 it says so and stops.
 */
#include "exp.h"
#include "wire.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static ots_global_t g;
static ots_counters_t counters;
static uint64_t deadline;

static void answer(int type, const void *p, size_t n)
{
	char hdr[OTS_WIRE_HDR];
	uint32_t len = (uint32_t)n;
	hdr[0] = (char)type;
	memcpy(hdr + 1, &len, sizeof len);
	/* the host may have gone (its deadline): EPIPE, SIGPIPE ignored */
	if (write(1, hdr, sizeof hdr) == (ssize_t)sizeof hdr && n)
		(void)!write(1, p, n);
}

static void vlog(int always, const char *fmt, va_list ap)
{
	char buf[512];
	buf[0] = (char)(always != 0);
	int n = vsnprintf(buf + 1, sizeof buf - 1, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf - 1)
		n = (int)sizeof buf - 2;
	answer(OTS_WIRE_MSG, buf, (size_t)n + 1);
}

/* config.c's messages */
void ots_log_write(int always, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(always, fmt, ap);
	va_end(ap);
}

static int fd_own(int fd)
{
	return fd;
}

static int fd_close(int fd)
{
	return close(fd);
}

static void fd_forget(int fd)
{
	(void)fd;
}

static uint64_t ids_span(void)
{
	uint64_t v = 0;
	while (!v && getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		;
	return v;
}

static int no_frames(uintptr_t obj, uint64_t *frames, int max)
{
	(void)obj;
	(void)frames;
	(void)max;
	return 0;
}

static const ots_core_t core = {
	.abi = OTS_PLUGIN_ABI,
	.cfg = &ots_cfg,
	.g = &g,
	.counters = &counters,
	.vlog = vlog,
	.fd_own = fd_own,
	.fd_close = fd_close,
	.fd_forget = fd_forget,
	.ids_span = ids_span,
	.parse_kv_list = ots_config_parse_kv_list,
	.lockstat_first_frames = no_frames,
};

static ots_sink_t *open_sink(void)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	strcpy(slash ? slash + 1 : path, "libotcshim-otlp.so");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		ots_log_write(1, "cannot load %s: %s; no OTLP export", path, e ? e : "?");
		return NULL;
	}
	ots_plugin_entry_fn entry = (ots_plugin_entry_fn)dlsym(h, "ots_plugin_entry");
	const ots_otlp_api_t *api = entry ? entry(&core) : NULL;
	if (!api) {
		ots_log_write(1, "%s is not the plugin of this otcshim-send; no OTLP export", path);
		return NULL;
	}
	return api->sink_open();
}

/* What one frame asks for. Returns 0, or -1 when the rest is not worth
 * reading (a frame that does not parse: the two ends are not one build). */
static ots_resource_t res;
static char *res_frame; /* the resource's strings point into it */
static ots_sink_t *sink;
static int have_config, sink_tried;

static int frame(int type, const char *body, size_t len)
{
	ots_wire_t w = { .p = body, .end = body + len };
	if (type == OTS_WIRE_CONFIG) {
		ots_wire_config(&w, &ots_cfg, &deadline);
		have_config = !w.bad;
	} else if (type == OTS_WIRE_RESOURCE) {
		res_frame = malloc(len ? len : 1);
		if (!res_frame)
			return -1;
		memcpy(res_frame, body, len);
		w.p = res_frame;
		w.end = res_frame + len;
		ots_wire_resource(&w, &res);
	} else if (type == OTS_WIRE_BATCH && have_config) {
		uint32_t n;
		if (len < sizeof n)
			return -1;
		memcpy(&n, body, sizeof n);
		w.p += sizeof n;
		if (n > len / 8) /* a span is more than 8 bytes on the wire */
			return -1;
		ots_span_t *spans = calloc(n ? n : 1, sizeof *spans);
		if (!spans)
			return -1;
		for (uint32_t i = 0; i < n && !w.bad; i++)
			ots_wire_span(&w, &spans[i]);
		if (!w.bad) {
			if (!sink_tried++)
				sink = open_sink();
			if (sink)
				sink->export(sink, &res, spans, n, 0);
		}
		free(spans);
	}
	if (w.bad) {
		ots_log_write(1, "otcshim-send: a frame from the host does not parse; the rest is "
				 "not sent");
		return -1;
	}
	return 0;
}

/* Frames from fd 0 until end of file or the deadline. */
static void read_frames(void)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return;
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		if (have_config) {
			uint64_t now = ots_mono_ns();
			if (now >= deadline)
				break;
			struct pollfd pf = { 0, POLLIN, 0 };
			uint64_t ms = (deadline - now + 999999) / 1000000;
			if (poll(&pf, 1, ms > 1000 ? 1000 : (int)ms) <= 0)
				continue;
		}
		ssize_t n = read(0, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		size_t at = 0;
		int type, k;
		const char *body;
		size_t blen;
		while ((k = ots_wire_frame_next(buf + at, len - at, &type, &body, &blen)) > 0) {
			if (frame(type, body, blen) < 0)
				goto out;
			at += (size_t)k;
		}
		memmove(buf, buf + at, len - at);
		len -= at;
	}
out:
	free(buf);
}

int main(void)
{
	if (isatty(0)) {
		fprintf(stderr, "otcshim-send is started by libotcshim.so at a process's exit; "
				"it is not meant to be run by hand\n");
		return 2;
	}
	/* what the host blocked or ignored is not ours to keep */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	static const int dfl[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGCHLD };
	for (size_t i = 0; i < sizeof dfl / sizeof dfl[0]; i++)
		signal(dfl[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	read_frames();
	if (sink && sink->shutdown)
		sink->shutdown(sink, deadline);
	uint64_t c[OTS_WIRE_NCOUNTERS];
	_Atomic uint64_t *src = (_Atomic uint64_t *)&counters;
	for (size_t i = 0; i < OTS_WIRE_NCOUNTERS; i++)
		c[i] = atomic_load(&src[i]);
	answer(OTS_WIRE_DONE, c, sizeof c);
	/* no exit handlers of libcurl and its TLS library: nothing is left for
	 * them to do that the kernel does not */
	_exit(0);
}
