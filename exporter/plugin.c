/* plugin.c - the glue linked into each plugin (built with -DOTS_PLUGIN and
 * OTS_PLUGIN_SYM or OTS_PLUGIN_OTLP; see plugin.h).
 *
 * Three things. The entry point, which keeps the core's table and hands back
 * this plugin's. The forwarders for the core functions plugin code calls.
 * And the descriptor calls of the plugin's libraries: opened RTLD_DEEPBIND,
 * libdw and libcurl bind open, socket, socketpair, pipe2 and dup to the first
 * definition in their own scope, which is this one, not libc's and not the
 * preloaded hooks. Whatever they create is the shim's (moved above the floor,
 * close-on-exec, registered: shim/fd.c), exactly as the hooks would make it.
 * These run only in the shim's own threads, whose cancellation is disabled,
 * so the plain system calls lose nothing of libc's wrappers.
 */
#include "exp.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

const ots_core_t *ots_core;

void ots_log_write(int always, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ots_core->vlog(always, fmt, ap);
	va_end(ap);
}

int ots_fd_own(int fd)
{
	return ots_core->fd_own(fd);
}

int ots_fd_close(int fd)
{
	return ots_core->fd_close(fd);
}

void ots_fd_forget(int fd)
{
	ots_core->fd_forget(fd);
}

uint64_t ots_ids_span(void)
{
	return ots_core->ids_span();
}

int ots_config_parse_kv_list(const char *s, void (*cb)(const char *k, const char *v, void *arg),
			     void *arg)
{
	return ots_core->parse_kv_list(s, cb, arg);
}

int ots_lockstat_first_frames(uintptr_t obj, uint64_t *frames, int max)
{
	return ots_core->lockstat_first_frames(obj, frames, max);
}

/* ------------------------------------------------------------------------ */
/* Descriptors of the plugin's libraries */

/* syscall() returns -1 with errno set on failure */
static int own(long rc)
{
	return rc < 0 ? -1 : ots_core->fd_own((int)rc);
}

OTS_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = OTS_OPEN_MODE(flags, ap);
	va_end(ap);
	return own(syscall(SYS_openat, AT_FDCWD, path, flags, mode));
}

/* the same function on every 64-bit target */
OTS_EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));

OTS_EXPORT int socket(int domain, int type, int protocol)
{
	return own(syscall(SYS_socket, domain, type, protocol));
}

OTS_EXPORT int dup(int fd)
{
	return own(syscall(SYS_dup, fd));
}

static int own_pair(long rc, int fds[2])
{
	if (rc < 0)
		return -1;
	fds[0] = ots_core->fd_own(fds[0]);
	fds[1] = ots_core->fd_own(fds[1]);
	return 0;
}

OTS_EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
	return own_pair(syscall(SYS_socketpair, domain, type, protocol, fds), fds);
}

OTS_EXPORT int pipe2(int fds[2], int flags)
{
	return own_pair(syscall(SYS_pipe2, fds, flags), fds);
}

OTS_EXPORT int pipe(int fds[2])
{
	return own_pair(syscall(SYS_pipe2, fds, 0), fds);
}

/* ------------------------------------------------------------------------ */
/* The allocator: the process's one, never libc's behind the host's back.
 * Opened RTLD_DEEPBIND, the plugin's libraries would bind malloc and free to
 * libc's own, while libc's functions that allocate for them (strdup,
 * getaddrinfo, ...) call the allocator the process interposes (jemalloc):
 * libcurl then frees a jemalloc block with glibc's free and the process
 * aborts. So these are the first malloc, free, ... of the plugin's scope,
 * and each forwards to the first of the process's global scope: the host's
 * allocator if it has one, glibc's otherwise. */
static void *(*g_malloc)(size_t);
static void (*g_free)(void *);
static void *(*g_calloc)(size_t, size_t);
static void *(*g_realloc)(void *, size_t);
static int (*g_posix_memalign)(void **, size_t, size_t);
static void *(*g_aligned_alloc)(size_t, size_t);
static void *(*g_memalign)(size_t, size_t);
static size_t (*g_usable)(void *);

static void allocator(void)
{
	if (__atomic_load_n(&g_free, __ATOMIC_ACQUIRE))
		return;
	/* not RTLD_DEFAULT: from a deep-bound object that searches this
	 * plugin's own scope first, and would find these very functions */
	void *g = dlopen(NULL, RTLD_NOW);
	g_malloc = (void *(*)(size_t))dlsym(g, "malloc");
	g_calloc = (void *(*)(size_t, size_t))dlsym(g, "calloc");
	g_realloc = (void *(*)(void *, size_t))dlsym(g, "realloc");
	g_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(g, "posix_memalign");
	g_aligned_alloc = (void *(*)(size_t, size_t))dlsym(g, "aligned_alloc");
	g_memalign = (void *(*)(size_t, size_t))dlsym(g, "memalign");
	g_usable = (size_t(*)(void *))dlsym(g, "malloc_usable_size");
	__atomic_store_n(&g_free, (void (*)(void *))dlsym(g, "free"), __ATOMIC_RELEASE);
}

OTS_EXPORT void *malloc(size_t n)
{
	allocator();
	return g_malloc(n);
}

OTS_EXPORT void free(void *p)
{
	allocator();
	g_free(p);
}

OTS_EXPORT void *calloc(size_t n, size_t size)
{
	allocator();
	return g_calloc(n, size);
}

OTS_EXPORT void *realloc(void *p, size_t n)
{
	allocator();
	return g_realloc(p, n);
}

OTS_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	allocator();
	return g_posix_memalign(out, align, n);
}

OTS_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	allocator();
	return g_aligned_alloc(align, n);
}

OTS_EXPORT void *memalign(size_t align, size_t n)
{
	allocator();
	return g_memalign(align, n);
}

OTS_EXPORT size_t malloc_usable_size(void *p)
{
	allocator();
	return g_usable ? g_usable(p) : 0;
}

/* ------------------------------------------------------------------------ */
/* The entry point */

#if defined(OTS_PLUGIN_SYM)
static const ots_sym_api_t api = {
	.frame = ots_sym_frame,
	.function = ots_sym_function,
	.object = ots_sym_object,
	.is_internal = ots_sym_is_internal,
	.info = ots_sym_info,
	.set_deadline = ots_sym_set_deadline,
	.after_fork = ots_sym_after_fork,
	.release = ots_sym_release,
};
#elif defined(OTS_PLUGIN_OTLP)
static const ots_otlp_api_t api = {
	.sink_open = ots_http_sink_open,
};
#else
#error "build plugin.c with OTS_PLUGIN_SYM or OTS_PLUGIN_OTLP"
#endif

OTS_EXPORT const void *ots_plugin_entry(const ots_core_t *core)
{
	if (!core || core->abi != OTS_PLUGIN_ABI)
		return NULL;
	ots_core = core;
	return &api;
}
