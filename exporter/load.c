/* load.c - libotcshim.so's side of the plugins (see plugin.h).
 *
 * The preloaded object links nothing but libc. The symboliser and the OTLP
 * sink are shared objects beside it (libotcshim-sym.so, libotcshim-otlp.so),
 * opened here on first use: by the exporter thread (the first batch with a
 * stack, the OTLP sink's set-up), or by the exiting thread for the report.
 * Never from a hook, never at start: a host that does not contend and
 * exports to a file maps neither.
 *
 * They are opened RTLD_LOCAL | RTLD_DEEPBIND: the plugin and every library it
 * brings (libcurl, OpenSSL, zlib, libdw) bind to each other first, never to a
 * copy of the same names the host exports (node's OpenSSL and zlib, a
 * program linked -rdynamic with a static zlib). The sanitizers' runtimes
 * refuse RTLD_DEEPBIND: with one in the process they are opened RTLD_LOCAL
 * only, and bind to the host's copies first.
 *
 * This file is not in the static core the tests link (there the plugins'
 * sources are linked in directly, under the same names).
 */
#include "exp.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A sanitizer runtime in the process (our build's, or the host's: an ASan
 * program under a plain shim) refuses RTLD_DEEPBIND and ends the process. */
static int dlopen_flags(void)
{
	static const char *const runtimes[] = { "__asan_init", "__tsan_init", "__msan_init",
						"__hwasan_init" };
	for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
		if (dlsym(RTLD_DEFAULT, runtimes[i]))
			return RTLD_NOW | RTLD_LOCAL;
	return RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
}

static char dir[PATH_MAX]; /* where libotcshim.so is, with the final '/' */

static const ots_core_t core = {
	.abi = OTS_PLUGIN_ABI,
	.cfg = &ots_cfg,
	.g = &ots_g,
	.counters = &ots_counters,
	.vlog = ots_log_vwrite,
	.fd_own = ots_fd_own,
	.fd_close = ots_fd_close,
	.fd_forget = ots_fd_forget,
	.ids_span = ots_ids_span,
	.parse_kv_list = ots_config_parse_kv_list,
	.lockstat_first_frames = ots_lockstat_first_frames,
};

typedef struct plugin {
	const char *file;
	const char *what; /* what is lost without it */
	_Atomic int state; /* 0 not tried, 1 loading, 2 ready, 3 failed */
	const void *api;
} plugin_t;

static plugin_t sym = { "libotcshim-sym.so", "stacks and lock names stay addresses", 0, NULL };
static plugin_t otlp = { "libotcshim-otlp.so", "no OTLP export", 0, NULL };

void ots_plugins_init(void)
{
	Dl_info di;
	if (!dladdr((void *)ots_plugins_init, &di) || !di.dli_fname)
		return;
	const char *slash = strrchr(di.dli_fname, '/');
	size_t n = slash ? (size_t)(slash - di.dli_fname) + 1 : 0;
	size_t at = 0;
	if (di.dli_fname[0] != '/') {
		/* a relative LD_PRELOAD: make it absolute now, the host may chdir */
		if (!getcwd(dir, sizeof dir - 2))
			return;
		at = strlen(dir);
		dir[at++] = '/';
	}
	if (at + n >= sizeof dir)
		return;
	memcpy(dir + at, di.dli_fname, n);
	dir[at + n] = '\0';
}

const char *ots_plugins_dir(void)
{
	return dir;
}

static const void *open_plugin(plugin_t *p)
{
	int st = atomic_load_explicit(&p->state, memory_order_acquire);
	if (ots_likely(st == 2))
		return p->api;
	if (st == 3)
		return NULL;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&p->state, &expect, 1)) {
		/* another thread loads it: wait for its answer */
		struct timespec ts = { 0, 1000000 };
		while (atomic_load_explicit(&p->state, memory_order_acquire) == 1)
			nanosleep(&ts, NULL);
		return atomic_load(&p->state) == 2 ? p->api : NULL;
	}
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s%s", dir, p->file);
	const void *api = NULL;
	void *h = dlopen(path, dlopen_flags());
	if (!h) {
		const char *e = dlerror();
		OTS_WARN("cannot load %s: %s; %s", path, e ? e : "?", p->what);
	} else {
		ots_plugin_entry_fn entry = (ots_plugin_entry_fn)dlsym(h, "ots_plugin_entry");
		api = entry ? entry(&core) : NULL;
		if (!api)
			OTS_WARN("%s is not the plugin of this libotcshim.so; %s", path, p->what);
		else
			OTS_DEBUG("loaded %s", path);
	}
	p->api = api;
	atomic_store_explicit(&p->state, api ? 2 : 3, memory_order_release);
	return api;
}

/* Loaded already (never loads): for the calls that only matter if it is. */
static const void *loaded(plugin_t *p)
{
	return atomic_load_explicit(&p->state, memory_order_acquire) == 2 ? p->api : NULL;
}

#define SYM() ((const ots_sym_api_t *)open_plugin(&sym))

const char *ots_sym_frame(uint64_t addr)
{
	const ots_sym_api_t *a = SYM();
	if (a)
		return a->frame(addr);
	static OTS_TLS char hex[24];
	snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)addr);
	return hex;
}

const char *ots_sym_function(uint64_t addr)
{
	const ots_sym_api_t *a = SYM();
	return a ? a->function(addr) : NULL;
}

const char *ots_sym_object(uint64_t addr)
{
	const ots_sym_api_t *a = SYM();
	return a ? a->object(addr) : NULL;
}

bool ots_sym_is_internal(uint64_t addr)
{
	const ots_sym_api_t *a = SYM();
	return a ? a->is_internal(addr) : false;
}

void ots_sym_info(uint64_t addr, ots_sym_info_t *out)
{
	const ots_sym_api_t *a = SYM();
	if (a)
		a->info(addr, out);
	else
		memset(out, 0, sizeof *out);
}

void ots_sym_set_deadline(uint64_t deadline_mono_ns)
{
	const ots_sym_api_t *a = SYM();
	if (a)
		a->set_deadline(deadline_mono_ns);
}

void ots_sym_after_fork(void)
{
	const ots_sym_api_t *a = loaded(&sym);
	if (a)
		a->after_fork();
}

void ots_sym_release(void)
{
	const ots_sym_api_t *a = loaded(&sym);
	if (a)
		a->release();
}

ots_sink_t *ots_http_sink_open(void)
{
	const ots_otlp_api_t *a = open_plugin(&otlp);
	return a ? a->sink_open() : NULL;
}
