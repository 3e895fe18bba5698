/* process.c - exit, quick_exit and the exec family.
 *
 * exit: a thread that calls exit() while another is exiting waits for that
 * one's flush (shim/life.c), instead of racing it to _exit. quick_exit runs
 * neither atexit handlers nor destructors: the shim's exit work is done here,
 * bounded, before the real call. The exec family: what this image recorded
 * is flushed, bounded, before the new image starts; if the call returns (it
 * failed), tracing goes on and errno is the real call's.
 *
 * glibc's execv, execvp, execl, execlp and execle call execve or execvpe
 * inside libc, where no interposer sees them, so each is hooked here; the
 * variadic ones collect their arguments on the stack and go through the same
 * real execve/execvpe as the others. posix_spawn, system and popen start a
 * child and keep this image: nothing to flush for them.
 */
#include "../shim/ots.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

static void resolve(void)
{
	if (ots_unlikely(!ots_real.execve))
		ots_real_resolve();
}

OTS_EXPORT void exit(int status)
{
	resolve();
	ots_life_exit_begin();
	if (ots_real.proc_exit)
		ots_real.proc_exit(status);
	_exit(status);
}

OTS_EXPORT void quick_exit(int status)
{
	resolve();
	ots_life_exit_begin();
	ots_shutdown();
	if (ots_real.quick_exit)
		ots_real.quick_exit(status);
	_exit(status);
}

/* Before the real call, and after it when it returned (failed). */
static int after(int ret)
{
	int saved = errno;
	ots_life_exec_failed();
	errno = saved;
	return ret;
}

OTS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	resolve();
	ots_life_exec_begin();
	return after(ots_real.execve(path, argv, envp));
}

OTS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	resolve();
	ots_life_exec_begin();
	return after(ots_real.execvpe(file, argv, envp));
}

OTS_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

OTS_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

OTS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	resolve();
	ots_life_exec_begin();
	return after(ots_real.fexecve(fd, argv, envp));
}

OTS_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
			int flags)
{
	resolve();
	if (!ots_real.execveat) {
		errno = ENOSYS;
		return -1;
	}
	ots_life_exec_begin();
	return after(ots_real.execveat(dirfd, path, argv, envp, flags));
}

/* The list arguments of execl and friends: arg0 ... NULL. */
static size_t count_args(va_list ap)
{
	size_t n = 1;
	while (va_arg(ap, const char *))
		n++;
	return n;
}

#define COLLECT(argv, n, arg0, ap)                          \
	do {                                                \
		argv[0] = (char *)(arg0);                   \
		for (size_t i_ = 1; i_ <= (n); i_++)         \
			argv[i_] = va_arg(ap, char *);      \
	} while (0)

OTS_EXPORT int execl(const char *path, const char *arg0, ...)
{
	va_list ap, cp;
	/* glibc declares arg0 nonnull, but execl(path, NULL) is seen in the wild */
	__asm__("" : "+r"(arg0));
	va_start(ap, arg0);
	va_copy(cp, ap);
	size_t n = arg0 ? count_args(cp) : 0;
	va_end(cp);
	char *argv[n + 1];
	if (arg0)
		COLLECT(argv, n - 1, arg0, ap);
	argv[n] = NULL;
	va_end(ap);
	return execve(path, argv, environ);
}

OTS_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	va_list ap, cp;
	/* glibc declares arg0 nonnull, but execl(path, NULL) is seen in the wild */
	__asm__("" : "+r"(arg0));
	va_start(ap, arg0);
	va_copy(cp, ap);
	size_t n = arg0 ? count_args(cp) : 0;
	va_end(cp);
	char *argv[n + 1];
	if (arg0)
		COLLECT(argv, n - 1, arg0, ap);
	argv[n] = NULL;
	va_end(ap);
	return execvpe(file, argv, environ);
}

OTS_EXPORT int execle(const char *path, const char *arg0, ...)
{
	va_list ap, cp;
	/* glibc declares arg0 nonnull, but execl(path, NULL) is seen in the wild */
	__asm__("" : "+r"(arg0));
	va_start(ap, arg0);
	va_copy(cp, ap);
	size_t n = arg0 ? count_args(cp) : 0;
	va_end(cp);
	char *argv[n + 1];
	if (arg0) {
		COLLECT(argv, n - 1, arg0, ap);
		(void)va_arg(ap, char *); /* the NULL that ends the list */
	}
	argv[n] = NULL;
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}
