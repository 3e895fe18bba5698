/* plugin.h - the interface between libotcshim.so and its two plugins.
 *
 * The preloaded object needs nothing but libc. What needs more lives in two
 * shared objects installed beside it and opened by exporter/load.c, in the
 * exporter thread, the first time they are needed:
 *
 *   libotcshim-sym.so   stack and lock-name symbolisation (exporter/symbols.c;
 *                       libdw, libelf)
 *   libotcshim-otlp.so  the OTLP/HTTP sink (exporter/http.c, otlp_pb.c,
 *                       json.c; libcurl, zlib, protobuf-c linked in)
 *
 * Each plugin exports one function, ots_plugin_entry, which takes the core's
 * table (the state and the few functions of libotcshim.so that plugin code
 * uses) and returns the plugin's table. Plugin sources are the same files as
 * in the static core used by the tests, built with -DOTS_PLUGIN: the core's
 * globals are then reached through the table (the macros at the end of this
 * file), and its functions through small forwarders (exporter/plugin.c).
 *
 * Memory: a plugin is opened with RTLD_DEEPBIND, so it and its libraries call
 * libc's malloc, not an allocator the host interposes. Nothing allocated on
 * one side is ever freed or grown on the other: strings a plugin returns are
 * its own and only read by the core; the spans and resource the core passes
 * are only read by the plugin.
 */
#ifndef OTS_PLUGIN_H
#define OTS_PLUGIN_H

#include <stdarg.h>

#define OTS_PLUGIN_ABI 2

typedef struct ots_core {
	int abi; /* OTS_PLUGIN_ABI */
	ots_config_t *cfg;
	ots_global_t *g;
	ots_counters_t *counters;
	void (*vlog)(int always, const char *fmt, va_list ap);
	int (*fd_own)(int fd);
	int (*fd_close)(int fd);
	void (*fd_forget)(int fd);
	uint64_t (*ids_span)(void);
	int (*parse_kv_list)(const char *s, void (*cb)(const char *k, const char *v, void *arg),
			     void *arg);
	int (*lockstat_first_frames)(uintptr_t obj, uint64_t *frames, int max);
} ots_core_t;

typedef struct ots_sym_api {
	const char *(*frame)(uint64_t addr);
	const char *(*function)(uint64_t addr);
	const char *(*object)(uint64_t addr);
	bool (*is_internal)(uint64_t addr);
	void (*info)(uint64_t addr, ots_sym_info_t *out);
	void (*set_deadline)(uint64_t deadline_mono_ns);
	void (*after_fork)(void);
	void (*release)(void);
} ots_sym_api_t;

typedef struct ots_otlp_api {
	ots_sink_t *(*sink_open)(void);
} ots_otlp_api_t;

typedef const void *(*ots_plugin_entry_fn)(const ots_core_t *core);
/* The one function a plugin exports (besides its descriptor calls): keeps
 * core, returns the plugin's table, or NULL if core is of another ABI. */
const void *ots_plugin_entry(const ots_core_t *core);

#ifdef OTS_PLUGIN
extern const ots_core_t *ots_core;
#define ots_cfg (*ots_core->cfg)
#define ots_g (*ots_core->g)
#define ots_counters (*ots_core->counters)
#endif

#endif
