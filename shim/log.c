/* log.c - the shim's only way to print.
 *
 * Hooks may run inside signal handlers, inside malloc, or while the host holds
 * its stdio locks, so nothing here uses stdio or allocates: messages are
 * formatted into a fixed stack buffer by a small formatter and written with one
 * write(2). The number of lines is capped so a misbehaving program cannot
 * flood its own stderr through us.
 *
 * Where messages go (OTCSHIM_LOG): "stderr" (the default), a file (opened
 * once, at init, O_APPEND, like OTCSHIM_OUTPUT), or "none".
 *
 * "stderr" means the stderr the program was started with, not whatever the
 * host later puts on descriptor 2. Its identity (device and inode) is taken
 * at init; before each write, descriptor 2 is checked against it. When the
 * host has closed it (xz closes its stderr before exit) or put its own file
 * there (nginx dup2()s its error.log onto 2), the original is opened again by
 * the name it had at init (a terminal, a file), for that one write, and only
 * if it is the same file; nothing is held open in between, so a daemon that
 * let go of its terminal or pipe has really let go. A pipe or socket cannot be
 * opened again: those writes are dropped and counted. A program started with
 * descriptor 2 closed never gets our text in a file it opened later as 2.
 */
#include "ots.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTS_LOG_CAP 200

static _Atomic unsigned lines;

/* the stderr the program started with */
static struct {
	int known;       /* 1 descriptor 2 was open at init, 0 it was not,
			  * -1 not looked at (no init yet: the unit tests) */
	dev_t dev;
	ino_t ino;
	char path[256];  /* its name, when it can be opened again; "" if not */
} err0 = { .known = -1 };
static int log_fd = 2; /* -1 = OTCSHIM_LOG=none */

void ots_log_capture_stderr(void)
{
	struct stat st;
	int saved = errno;
	err0.known = 0;
	err0.path[0] = '\0';
	if (fstat(2, &st) == 0) {
		err0.known = 1;
		err0.dev = st.st_dev;
		err0.ino = st.st_ino;
		if (S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)) {
			ssize_t n = readlink("/proc/self/fd/2", err0.path, sizeof err0.path - 1);
			err0.path[n > 0 && err0.path[0] == '/' ? n : 0] = '\0';
		}
	}
	errno = saved;
}

static int same_file(int fd, dev_t dev, ino_t ino)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* A descriptor for the original stderr, or -1; *opened says it must be
 * closed after the write (ots_stderr_done). Async-signal-safe. */
int ots_stderr_open(int *opened)
{
	*opened = 0;
	if (err0.known < 0)
		return 2;
	if (!err0.known)
		return -1;
	if (same_file(2, err0.dev, err0.ino))
		return 2;
	if (!err0.path[0])
		return -1;
	int fd = open(err0.path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	fd = ots_fd_own(fd);
	if (fd >= 0 && !same_file(fd, err0.dev, err0.ino)) {
		ots_fd_close(fd);
		return -1;
	}
	*opened = fd >= 0;
	return fd;
}

void ots_stderr_done(int fd, int opened)
{
	if (opened && fd >= 0)
		ots_fd_close(fd);
}

/* Expand %p (the pid) in a path from the environment. */
void ots_expand_path(char *out, size_t n, const char *p)
{
	size_t o = 0;
	for (; *p && o + 1 < n; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			char num[24];
			int k = snprintf(num, sizeof num, "%d", (int)getpid());
			for (int i = 0; i < k && o + 1 < n; i++)
				out[o++] = num[i];
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

void ots_log_set_destination(const char *spec)
{
	if (log_fd > 2)
		ots_fd_close(log_fd);
	log_fd = 2;
	if (!spec || !*spec || !strcasecmp(spec, "stderr"))
		return;
	if (!strcasecmp(spec, "none") || !strcasecmp(spec, "off") || !strcmp(spec, "0") ||
	    !strcasecmp(spec, "false")) {
		log_fd = -1;
		return;
	}
	char path[1024];
	ots_expand_path(path, sizeof path, spec);
	int fd = ots_open_output(path, O_APPEND);
	if (fd < 0) {
		OTS_WARN("OTCSHIM_LOG: cannot open %s (%s); messages go to stderr", path,
			 ots_open_why(errno));
		return;
	}
	log_fd = fd;
}

static void put(char *buf, size_t size, size_t *pos, char c)
{
	if (*pos + 1 < size)
		buf[*pos] = c;
	(*pos)++;
}

/* A %s argument is a value from outside (a variable, a URL, a server's
 * message): it cannot forge lines or hide text, because its control
 * characters are escaped (\n, \r, \t, \xNN), and it cannot leak a secret of
 * a URL, because the userinfo of every "scheme://user:password@" in it is
 * shown as "***". The format string itself is written as is. */
static void put_str(char *buf, size_t size, size_t *pos, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (!s)
		s = "(null)";
	while (*s) {
		unsigned char c = (unsigned char)*s;
		if (c == ':' && s[1] == '/' && s[2] == '/') {
			const char *u = s + 3, *e = u;
			while (*e && *e != '@' && *e != '/' && *e != '?' && *e != '#')
				e++;
			put(buf, size, pos, ':');
			put(buf, size, pos, '/');
			put(buf, size, pos, '/');
			s = u;
			if (*e == '@' && e > u) {
				put_str(buf, size, pos, "***");
				s = e;
			}
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			put(buf, size, pos, '\\');
			if (c == '\n' || c == '\r' || c == '\t') {
				put(buf, size, pos, c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
			} else {
				put(buf, size, pos, 'x');
				put(buf, size, pos, hex[c >> 4]);
				put(buf, size, pos, hex[c & 15]);
			}
		} else {
			put(buf, size, pos, (char)c);
		}
		s++;
	}
}

static void put_uint(char *buf, size_t size, size_t *pos, unsigned long long v, unsigned base,
		     int width, char padc)
{
	char tmp[24];
	int n = 0;
	do {
		unsigned d = (unsigned)(v % base);
		tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v && n < (int)sizeof tmp);
	while (width-- > n)
		put(buf, size, pos, padc);
	while (n)
		put(buf, size, pos, tmp[--n]);
}

/* Understands %s %c %d %i %u %x %p %% with the l, ll, z length modifiers and a
 * zero-padded or space-padded width: enough for our messages. */
int ots_log_format(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t pos = 0;
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put(buf, size, &pos, *p);
			continue;
		}
		p++;
		char padc = ' ';
		int width = 0, lng = 0;
		if (*p == '0') {
			padc = '0';
			p++;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (*p++ - '0');
		while (*p == 'l' || *p == 'z') {
			lng++;
			p++;
		}
		switch (*p) {
		case 's':
			put_str(buf, size, &pos, va_arg(ap, const char *));
			break;
		case 'c':
			put(buf, size, &pos, (char)va_arg(ap, int));
			break;
		case 'd':
		case 'i': {
			long long v = lng >= 2 ? va_arg(ap, long long) :
				      lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
			if (v < 0) {
				put(buf, size, &pos, '-');
				v = -v;
			}
			put_uint(buf, size, &pos, (unsigned long long)v, 10, width, padc);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long) :
					       lng == 1 ? va_arg(ap, unsigned long) :
							  va_arg(ap, unsigned);
			put_uint(buf, size, &pos, v, *p == 'x' ? 16 : 10, width, padc);
			break;
		}
		case 'p':
			put_str(buf, size, &pos, "0x");
			put_uint(buf, size, &pos, (uintptr_t)va_arg(ap, void *), 16, 0, ' ');
			break;
		case '%':
			put(buf, size, &pos, '%');
			break;
		case '\0':
			p--;
			break;
		default:
			put(buf, size, &pos, '%');
			put(buf, size, &pos, *p);
		}
	}
	if (size)
		buf[pos < size ? pos : size - 1] = '\0';
	return (int)(pos < size ? pos : size - 1);
}

_Atomic uint64_t ots_write_failures;

/* A write to a pipe whose reader has gone raises SIGPIPE in the writing
 * thread, whose default action kills the host (and loses its buffered
 * stdout). So SIGPIPE is blocked in this thread around the write, and one
 * that the write raised is taken off the thread's pending set again. One that
 * was pending before is left alone (standard signals do not queue: the host
 * sees exactly the one it would have seen). Every call here is
 * async-signal-safe. */
int ots_write_all(int fd, const void *buf, size_t n)
{
	int saved = errno, rc = 0;
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE);
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	if (rc == -EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		atomic_fetch_add_explicit(&ots_write_failures, 1, memory_order_relaxed);
	errno = saved;
	return rc;
}

void ots_log_vwrite(int always, const char *fmt, va_list ap)
{
	(void)always;
	if (atomic_fetch_add_explicit(&lines, 1, memory_order_relaxed) >= OTS_LOG_CAP)
		return;
	int saved = errno;
	char buf[512];
	memcpy(buf, "otcshim: ", 9);
	int n = ots_log_format(buf + 9, sizeof buf - 10, fmt, ap);
	n += 9;
	buf[n++] = '\n';
	if (log_fd > 2) {
		ots_write_all(log_fd, buf, (size_t)n);
	} else if (log_fd == 2) {
		int opened, fd = ots_stderr_open(&opened);
		if (fd >= 0)
			ots_write_all(fd, buf, (size_t)n);
		else
			atomic_fetch_add_explicit(&ots_write_failures, 1, memory_order_relaxed);
		ots_stderr_done(fd, opened);
	}
	errno = saved;
}

void ots_log_write(int always, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ots_log_vwrite(always, fmt, ap);
	va_end(ap);
}

int ots_open_output(const char *path, int mode_flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | mode_flags, 0644);
	return ots_fd_own(fd);
}

const char *ots_open_why(int err)
{
	switch (err) {
	case ENXIO:
		return "it is a FIFO with no reader";
	case ELOOP:
		return "it is a symbolic link, which is not followed";
	default:
		return strerror(err);
	}
}
