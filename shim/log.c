/* log.c - the shim's only way to print.
 *
 * Hooks may run inside signal handlers, inside malloc, or while the host holds
 * its stdio locks, so nothing here uses stdio or allocates: messages are
 * formatted into a fixed stack buffer by a small formatter and written with one
 * write(2) to fd 2. The number of lines is capped so a misbehaving program
 * cannot flood its own stderr through us.
 */
#include "ots.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#define OTS_LOG_CAP 200

static _Atomic unsigned lines;

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
	ots_write_all(2, buf, (size_t)n);
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
