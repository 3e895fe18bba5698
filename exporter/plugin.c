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

#include <errno.h>
#include <fcntl.h>
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

static int mode_of(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? va_arg(ap, int) : 0;
}

OTS_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = mode_of(flags, ap);
	va_end(ap);
	return own((syscall(SYS_openat, AT_FDCWD, path, flags, mode)));
}

OTS_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = mode_of(flags, ap);
	va_end(ap);
	return own((syscall(SYS_openat, AT_FDCWD, path, flags, mode)));
}

OTS_EXPORT int socket(int domain, int type, int protocol)
{
	return own((syscall(SYS_socket, domain, type, protocol)));
}

OTS_EXPORT int dup(int fd)
{
	return own((syscall(SYS_dup, fd)));
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
