/* fd.c - the registry of the shim's own file descriptors.
 *
 * The host owns the low numbers: its next open() must return what it would
 * without the shim, its close_range(3, ~0) must not take the shim's exporter
 * or libunwind's pipe with it, and its children must inherit nothing of ours.
 * So every descriptor the shim keeps is moved, as soon as it exists, to the
 * lowest free number at or above a floor (OTS_FD_FLOOR_MAX, or three quarters
 * of a smaller RLIMIT_NOFILE), with FD_CLOEXEC, and its number is set in a
 * bitmap. hooks/fd.c consults the bitmap: the host's close of a registered
 * number fails with EBADF as if nothing were there, and its range closes go
 * around them. The bitmap is static (no allocation, usable from any hook);
 * a number is registered before any other thread can learn it and forgotten
 * before it is closed.
 */
#include "ots.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

_Atomic uint64_t ots_fd_map[OTS_FD_MAP / 64];
_Atomic int ots_fd_count;
static _Atomic int floor_fd; /* 0 until first needed */

static int compute_floor(void)
{
	struct rlimit rl;
	rlim_t cur = getrlimit(RLIMIT_NOFILE, &rl) ? 1024 : rl.rlim_cur;
	int f = cur >= 1024 ? OTS_FD_FLOOR_MAX : (int)(cur - cur / 4);
	return f < 3 ? 3 : f;
}

static void mark(int fd)
{
	if (fd < 0 || fd >= OTS_FD_MAP)
		return;
	uint64_t bit = 1ull << (fd % 64);
	if (!(atomic_fetch_or(&ots_fd_map[fd / 64], bit) & bit))
		atomic_fetch_add(&ots_fd_count, 1);
}

void ots_fd_forget(int fd)
{
	if (fd < 0 || fd >= OTS_FD_MAP)
		return;
	uint64_t bit = 1ull << (fd % 64);
	if (atomic_fetch_and(&ots_fd_map[fd / 64], ~bit) & bit)
		atomic_fetch_sub(&ots_fd_count, 1);
}

int ots_fd_own(int fd)
{
	if (fd < 0 || ots_fd_owned(fd))
		return fd;
	int saved = errno;
	int f = atomic_load_explicit(&floor_fd, memory_order_relaxed);
	if (!f) {
		f = compute_floor();
		atomic_store_explicit(&floor_fd, f, memory_order_relaxed);
	}
	int hi = fd >= f ? fd : fcntl(fd, F_DUPFD_CLOEXEC, f);
	if (hi < 0 && errno == EINVAL) {
		/* the host lowered RLIMIT_NOFILE below the floor: a new floor */
		f = compute_floor();
		atomic_store_explicit(&floor_fd, f, memory_order_relaxed);
		hi = fcntl(fd, F_DUPFD_CLOEXEC, f);
	}
	if (hi >= 0 && hi != fd) {
		mark(hi);
		close(fd); /* not registered: goes straight to the real close */
		fd = hi;
	} else {
		/* no room up there (or it is there already): keep it where it is */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		mark(fd);
	}
	errno = saved;
	return fd;
}

int ots_fd_close(int fd)
{
	ots_fd_forget(fd);
	return close(fd);
}

int ots_fd_next_owned(unsigned from, unsigned to)
{
	if (atomic_load_explicit(&ots_fd_count, memory_order_relaxed) == 0 || from >= OTS_FD_MAP ||
	    from > to)
		return -1;
	unsigned last = to < OTS_FD_MAP - 1 ? to : OTS_FD_MAP - 1;
	for (unsigned w = from / 64; w <= last / 64; w++) {
		uint64_t bits = atomic_load_explicit(&ots_fd_map[w], memory_order_relaxed);
		if (w == from / 64)
			bits &= ~0ull << (from % 64);
		if (!bits)
			continue;
		unsigned fd = w * 64 + (unsigned)__builtin_ctzll(bits);
		return fd <= last ? (int)fd : -1;
	}
	return -1;
}
