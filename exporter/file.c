/* file.c - the OTLP JSON-lines file sink (OTCSHIM_OUTPUT).
 *
 * One TracesData object per line. The file is opened with O_APPEND and every
 * line goes out in a single write(2) (looping only on a short write), so a
 * parent and its forked children can share one file without tearing lines.
 * The descriptor is one of the shim's (shim/fd.c), and before each line it is
 * checked to still be the file it opened: a host that closed it with a raw
 * syscall and reused the number never gets our line in its own file.
 *
 * The file is opened at init (ots_file_preopen), with the privileges the
 * program started with: a server that forks workers and then switches them
 * to an unprivileged user (nginx, postfix, sshd) has them write to the
 * descriptor they inherited, where opening the path again would fail.
 */
#include "exp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file_state {
	char *path;
	int fd;
	dev_t dev; /* what fd was opened on */
	ino_t ino;
	int warned;
	ots_buf_t buf;
} file_state_t;

/* opened at init, not yet handed to the sink */
static int pre_fd = -1;
static int pre_warned;

void ots_file_preopen(const char *path)
{
	pre_fd = ots_open_output(path, O_APPEND);
	if (pre_fd < 0) {
		pre_warned = 1;
		OTS_WARN("cannot open OTCSHIM_OUTPUT=%s (%s); spans not written", path,
			 ots_open_why(errno));
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	return ots_write_all(fd, p, n); /* a FIFO's reader may have gone: no SIGPIPE */
}

static int file_export(ots_sink_t *s, const ots_resource_t *res, const ots_span_t *spans, size_t n,
		       uint64_t deadline)
{
	(void)deadline;
	file_state_t *f = s->state;
	struct stat st;
	if (f->fd >= 0 && (fstat(f->fd, &st) || st.st_dev != f->dev || st.st_ino != f->ino)) {
		ots_fd_forget(f->fd); /* not ours any more: never write or close it */
		f->fd = -1;
	}
	if (f->fd < 0) {
		f->fd = ots_open_output(f->path, O_APPEND);
		if (f->fd < 0) {
			if (!f->warned++)
				OTS_WARN("cannot open OTCSHIM_OUTPUT=%s (%s); spans not written", f->path,
					 ots_open_why(errno));
			return -EIO;
		}
		if (fstat(f->fd, &st) == 0) {
			f->dev = st.st_dev;
			f->ino = st.st_ino;
		}
	}
	ots_buf_reset(&f->buf);
	ots_json_encode(&f->buf, res, spans, n);
	ots_buf_append(&f->buf, "\n", 1);
	if (f->buf.oom)
		return -ENOMEM;
	int rc = write_all(f->fd, f->buf.data, f->buf.len);
	if (rc < 0 && !f->warned++)
		OTS_WARN("writing OTCSHIM_OUTPUT=%s failed (errno %d)", f->path, -rc);
	return rc;
}

static void file_after_fork(ots_sink_t *s)
{
	(void)s; /* the fd is shared and O_APPEND: keep it */
}

ots_sink_t *ots_file_sink_open(const char *path)
{
	ots_sink_t *s = calloc(1, sizeof *s);
	file_state_t *f = calloc(1, sizeof *f);
	if (!s || !f || !(f->path = strdup(path))) {
		free(s);
		free(f);
		return NULL;
	}
	f->fd = pre_fd;
	f->warned = pre_warned;
	pre_fd = -1;
	struct stat st;
	if (f->fd >= 0 && fstat(f->fd, &st) == 0) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
	s->name = "file";
	s->export = file_export;
	s->after_fork = file_after_fork;
	s->state = f;
	return s;
}
