/* fd.c - descriptors: the shim's stay out of the host's way (shim/fd.c).
 *
 * Two sides. What the shim's own code creates, and what the libraries it
 * calls create for it (libdw opening ELF and debug files, libcurl's sockets
 * and its wake-up socketpair, libunwind's validation pipe), is recognised by
 * the caller being reentrant (the shim's work) and moved at once above the
 * floor, close-on-exec, registered: the host's numbering and its children
 * never see it. What the host closes passes over registered numbers: close()
 * of one fails with EBADF as it would natively (there is nothing of the
 * host's there), close_range() and closefrom() close everything else in the
 * range. For every other call each hook is one test and a tail call to the
 * real function, which stays the cancellation point it is.
 *
 * Not covered (README, Limits): descriptors libc creates inside itself for a
 * library call (getaddrinfo's sockets, fopen in libdw) are transient and
 * close-on-exec; a host that dup2()s onto one of our numbers or closes with a
 * raw syscall takes it.
 */
#include "../shim/ots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void resolve(void)
{
	if (ots_unlikely(!ots_real.close))
		ots_real_resolve();
}

static int real_close(int fd)
{
	resolve();
	return ots_real.close ? ots_real.close(fd) : (int)syscall(SYS_close, fd);
}

static int real_close_range(unsigned first, unsigned last, int flags)
{
	resolve();
	return ots_real.close_range ? ots_real.close_range(first, last, flags)
				    : (int)syscall(SYS_close_range, first, last, flags);
}

/* The shim's own call: keep what it got */
static inline int mine(int fd)
{
	return ots_unlikely(ots_tls.reentrant) && fd >= 0 ? ots_fd_own(fd) : fd;
}

/* open and open64: the real one of each (read after resolve) */
static int open_via(int (*const *real)(const char *, int, ...), const char *path, int flags,
		    int mode)
{
	resolve();
	int fd = *real ? (*real)(path, flags, mode)
		       : (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
	return mine(fd);
}

OTS_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = OTS_OPEN_MODE(flags, ap);
	va_end(ap);
	return open_via(&ots_real.open, path, flags, mode);
}

OTS_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = OTS_OPEN_MODE(flags, ap);
	va_end(ap);
	return open_via(&ots_real.open64, path, flags, mode);
}

OTS_EXPORT int socket(int domain, int type, int protocol)
{
	resolve();
	int fd = ots_real.socket ? ots_real.socket(domain, type, protocol)
				 : (int)syscall(SYS_socket, domain, type, protocol);
	return mine(fd);
}

static int mine_pair(int rc, int fds[2])
{
	if (rc == 0 && ots_unlikely(ots_tls.reentrant)) {
		fds[0] = ots_fd_own(fds[0]);
		fds[1] = ots_fd_own(fds[1]);
	}
	return rc;
}

OTS_EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
	resolve();
	int rc = ots_real.socketpair ? ots_real.socketpair(domain, type, protocol, fds)
				     : (int)syscall(SYS_socketpair, domain, type, protocol, fds);
	return mine_pair(rc, fds);
}

OTS_EXPORT int pipe(int fds[2])
{
	resolve();
	int rc = ots_real.pipe ? ots_real.pipe(fds) : (int)syscall(SYS_pipe2, fds, 0);
	return mine_pair(rc, fds);
}

OTS_EXPORT int pipe2(int fds[2], int flags)
{
	resolve();
	int rc = ots_real.pipe2 ? ots_real.pipe2(fds, flags) : (int)syscall(SYS_pipe2, fds, flags);
	return mine_pair(rc, fds);
}

OTS_EXPORT int dup(int fd)
{
	resolve();
	int nfd = ots_real.dup ? ots_real.dup(fd) : (int)syscall(SYS_dup, fd);
	return mine(nfd);
}

OTS_EXPORT int close(int fd)
{
	if (ots_unlikely(ots_fd_owned(fd))) {
		if (!ots_tls.reentrant)
			return real_close(-1); /* EBADF, and still a cancellation point */
		ots_fd_forget(fd);
	}
	return real_close(fd);
}

/* Close [first, last] with flags, around the shim's numbers. */
static int close_around(unsigned first, unsigned last, int flags)
{
	int rc = 0, err = 0;
	unsigned a = first;
	for (;;) {
		int o = ots_fd_next_owned(a, last);
		if (o < 0)
			break;
		if ((unsigned)o > a && real_close_range(a, (unsigned)o - 1, flags) && !err) {
			rc = -1;
			err = errno;
		}
		if ((unsigned)o == last)
			return err ? (errno = err, rc) : 0;
		a = (unsigned)o + 1;
	}
	if (real_close_range(a, last, flags) && !err) {
		rc = -1;
		err = errno;
	}
	if (err)
		errno = err;
	return rc;
}

OTS_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	if (ots_likely(ots_tls.reentrant || ots_fd_next_owned(first, last) < 0))
		return real_close_range(first, last, flags);
	return close_around(first, last, flags);
}

OTS_EXPORT void closefrom(int lowfd)
{
	unsigned from = lowfd < 0 ? 0 : (unsigned)lowfd;
	int last = -1;
	for (int o = ots_fd_next_owned(from, ~0u); o >= 0; o = ots_fd_next_owned((unsigned)o + 1, ~0u))
		last = o;
	if (ots_likely(ots_tls.reentrant || last < 0)) {
		resolve();
		if (ots_real.closefrom)
			ots_real.closefrom(lowfd);
		else
			real_close_range(from, ~0u, 0);
		return;
	}
	int saved = errno;
	if ((unsigned)last > from)
		close_around(from, (unsigned)last - 1, 0);
	resolve();
	/* the tail after our last number: glibc's closefrom, with its fallback */
	if (ots_real.closefrom)
		ots_real.closefrom(last + 1);
	else
		real_close_range((unsigned)last + 1, ~0u, 0);
	errno = saved;
}
