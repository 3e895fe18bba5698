/* harness.c - see tests/harness.h. */
#include "../harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *ots_path(const char *rel)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ & 7];
	const char *build = getenv("OTS_BUILD");
	snprintf(b, 512, "%s/%s", build && *build ? build : "build", rel);
	return b;
}

/* Seconds since t0 (monotonic). */
static double since(const struct timespec *t0)
{
	struct timespec tn;
	clock_gettime(CLOCK_MONOTONIC, &tn);
	return (double)(tn.tv_sec - t0->tv_sec) + (double)(tn.tv_nsec - t0->tv_nsec) / 1e9;
}

static void parse_file(trun_t *r)
{
	FILE *f = fopen(r->outfile, "r");
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int cap_spans = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		cJSON *doc = cJSON_Parse(line);
		if (!doc)
			continue;
		r->docs = realloc(r->docs, sizeof(cJSON *) * (size_t)(r->nlines + 1));
		r->docs[r->nlines++] = doc;
		cJSON *rss = cJSON_GetObjectItem(doc, "resourceSpans"), *rs;
		cJSON_ArrayForEach(rs, rss)
		{
			cJSON *res = cJSON_GetObjectItem(rs, "resource");
			cJSON *sss = cJSON_GetObjectItem(rs, "scopeSpans"), *ss;
			cJSON_ArrayForEach(ss, sss)
			{
				cJSON *sp;
				cJSON_ArrayForEach(sp, cJSON_GetObjectItem(ss, "spans"))
				{
					if (r->nspans == cap_spans) {
						cap_spans = cap_spans ? cap_spans * 2 : 64;
						r->spans = realloc(r->spans,
								   sizeof(tspan_t) * (size_t)cap_spans);
					}
					tspan_t *t = &r->spans[r->nspans++];
					memset(t, 0, sizeof *t);
					t->json = sp;
					t->resource = res;
					cJSON *v;
					t->name = (v = cJSON_GetObjectItem(sp, "name")) ? v->valuestring : "";
					t->trace_id = (v = cJSON_GetObjectItem(sp, "traceId")) ? v->valuestring : "";
					t->span_id = (v = cJSON_GetObjectItem(sp, "spanId")) ? v->valuestring : "";
					t->parent_id = (v = cJSON_GetObjectItem(sp, "parentSpanId")) ? v->valuestring : "";
					v = cJSON_GetObjectItem(sp, "startTimeUnixNano");
					t->start_ns = v && v->valuestring ? strtoull(v->valuestring, NULL, 10) : 0;
					v = cJSON_GetObjectItem(sp, "endTimeUnixNano");
					t->end_ns = v && v->valuestring ? strtoull(v->valuestring, NULL, 10) : 0;
					cJSON *st = cJSON_GetObjectItem(sp, "status");
					if (st) {
						v = cJSON_GetObjectItem(st, "code");
						t->status_code = v ? v->valueint : 0;
						v = cJSON_GetObjectItem(st, "message");
						t->status_msg = v ? v->valuestring : NULL;
					}
				}
			}
		}
	}
	free(line);
	fclose(f);
}

/* limit < 0: OTS_TEST_TIMEOUT (default 60 s). own_group: the program leads a
 * process group of its own and the timeout kills the whole group. */
static int run(trun_t *r, const char *const *argv, const char *const *env, int preload,
	       const char *input, size_t input_len, double limit, int own_group)
{
	static int seq;
	memset(r, 0, sizeof *r);
	snprintf(r->outfile, sizeof r->outfile, "/tmp/otcshim-test-%d-%d.jsonl", getpid(), seq++);
	unlink(r->outfile);
	int po[2], pe[2], pi[2];
	if (pipe(po) || pipe(pe) || pipe(pi))
		return -1;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (own_group)
			setpgid(0, 0);
		dup2(pi[0], 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		close(pi[1]);
		unsetenv("LD_PRELOAD");
		unsetenv("OTCSHIM_OUTPUT");
		unsetenv("OTEL_SDK_DISABLED");
		if (preload) {
			char lib[1024];
			const char *first = getenv("OTS_PRELOAD_FIRST");
			char abs[512];
			if (!realpath(ots_path("libotcshim.so"), abs))
				snprintf(abs, sizeof abs, "%s", ots_path("libotcshim.so"));
			const char *last = getenv("OTS_PRELOAD_LAST");
			snprintf(lib, sizeof lib, "%s%s%s%s%s", first && *first ? first : "",
				 first && *first ? " " : "", abs, last && *last ? " " : "",
				 last && *last ? last : "");
			setenv("LD_PRELOAD", lib, 1);
			setenv("OTCSHIM_OUTPUT", r->outfile, 1);
			if (!getenv("OTEL_TRACES_EXPORTER"))
				setenv("OTEL_TRACES_EXPORTER", "none", 1);
		}
		for (const char *const *e = env; e && *e; e++)
			putenv(strdup(*e));
		const char *prog = argv[0];
		if (!strncmp(prog, "progs/", 6) || !strncmp(prog, "bench/", 6) ||
		    !strcmp(prog, "demo"))
			prog = ots_path(prog);
		execvp(prog, (char *const *)argv);
		_exit(127);
	}
	if (own_group)
		setpgid(pid, pid); /* both sides, so the group exists before any kill */
	close(po[1]);
	close(pe[1]);
	close(pi[0]);
	if (input && input_len) {
		signal(SIGPIPE, SIG_IGN);
		size_t off = 0;
		while (off < input_len) {
			ssize_t w = write(pi[1], input + off, input_len - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	close(pi[1]);
	/* read both pipes without deadlocking on a full one */
	size_t ocap = 4096, olen = 0, ecap = 4096, elen = 0;
	char *o = malloc(ocap), *e = malloc(ecap);
	struct pollfd fds[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
	int open_fds = 2, killed = 0;
	/* a hung program must not hang the suite: kill it after OTS_TEST_TIMEOUT
	 * seconds (default 60) and report it as killed by SIGKILL */
	if (limit < 0) {
		const char *lim = getenv("OTS_TEST_TIMEOUT");
		limit = lim && *lim ? atof(lim) : 60.0;
	}
	while (open_fds) {
		if (!killed && since(&t0) > limit) {
			kill(own_group ? -pid : pid, SIGKILL);
			killed = 1;
		}
		/* killed, but a descendant outside the group still holds a pipe */
		if (killed && since(&t0) > limit + 2.0)
			break;
		if (poll(fds, 2, 500) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char **buf = i ? &e : &o;
			size_t *len = i ? &elen : &olen, *cap = i ? &ecap : &ocap;
			if (*len + 4096 > *cap)
				*buf = realloc(*buf, *cap *= 2);
			ssize_t n = read(fds[i].fd, *buf + *len, *cap - *len - 1);
			if (n <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			} else {
				*len += (size_t)n;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	o[olen] = '\0';
	e[elen] = '\0';
	r->out = o;
	r->err = e;
	int st;
	if (own_group) {
		/* see the leader exit without reaping it (its pid, hence the group
		 * id, stays ours), kill what it left in its group, then reap */
		siginfo_t si;
		for (;;) {
			si.si_pid = 0;
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
			    errno != EINTR)
				break;
			if (si.si_pid == pid)
				break;
			if (!killed && since(&t0) > limit) {
				kill(-pid, SIGKILL);
				killed = 1;
			}
			usleep(2000);
		}
		kill(-pid, SIGKILL);
	}
	while (waitpid(pid, &st, killed ? 0 : WNOHANG) == 0) {
		if (since(&t0) > limit) {
			kill(own_group ? -pid : pid, SIGKILL);
			killed = 1;
		} else {
			usleep(2000);
		}
	}
	r->seconds = since(&t0);
	r->timed_out = killed;
	r->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	if (preload)
		parse_file(r);
	return 0;
}

int trun_input(trun_t *r, const char *const *argv, const char *const *env, int preload,
	       const char *input, size_t input_len)
{
	return run(r, argv, env, preload, input, input_len, -1, 0);
}

int trun_bounded(trun_t *r, const char *const *argv, const char *const *env, int preload,
		 double limit)
{
	return run(r, argv, env, preload, NULL, 0, limit, 1);
}

const char *trun_status(const trun_t *r)
{
	static char bufs[4][96];
	static int i;
	char *b = bufs[i++ & 3];
	if (r->timed_out)
		snprintf(b, 96, "hang: killed after %.1f s", r->seconds);
	else if (r->term_signal)
		snprintf(b, 96, "killed by SIG%s (rc %d)",
			 sigabbrev_np(r->term_signal) ? sigabbrev_np(r->term_signal) : "?",
			 r->exit_code);
	else
		snprintf(b, 96, "exit %d", r->exit_code);
	return b;
}

int trun(trun_t *r, const char *const *argv, const char *const *env, int preload)
{
	return trun_input(r, argv, env, preload, NULL, 0);
}

void trun_free(trun_t *r)
{
	for (int i = 0; i < r->nlines; i++)
		cJSON_Delete(r->docs[i]);
	free(r->docs);
	free(r->spans);
	free(r->out);
	free(r->err);
	if (r->outfile[0])
		unlink(r->outfile);
	memset(r, 0, sizeof *r);
}

const tspan_t *tspan_find(const trun_t *r, const char *name, int nth)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strcmp(r->spans[i].name, name) && nth-- == 0)
			return &r->spans[i];
	return NULL;
}

int tspan_count(const trun_t *r, const char *name)
{
	int n = 0;
	for (int i = 0; i < r->nspans; i++)
		n += !strcmp(r->spans[i].name, name);
	return n;
}

const tspan_t *tspan_by_id(const trun_t *r, const char *span_id)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strcmp(r->spans[i].span_id, span_id))
			return &r->spans[i];
	return NULL;
}

static cJSON *attr_value(cJSON *attrs, const char *key)
{
	cJSON *a;
	cJSON_ArrayForEach(a, attrs)
	{
		cJSON *k = cJSON_GetObjectItem(a, "key");
		if (k && k->valuestring && !strcmp(k->valuestring, key))
			return cJSON_GetObjectItem(a, "value");
	}
	return NULL;
}

const char *tspan_attr_str(const tspan_t *s, const char *key)
{
	cJSON *v = attr_value(cJSON_GetObjectItem(s->json, "attributes"), key);
	cJSON *sv = v ? cJSON_GetObjectItem(v, "stringValue") : NULL;
	return sv ? sv->valuestring : NULL;
}

long long tspan_attr_int(const tspan_t *s, const char *key, long long def)
{
	cJSON *v = attr_value(cJSON_GetObjectItem(s->json, "attributes"), key);
	cJSON *iv = v ? cJSON_GetObjectItem(v, "intValue") : NULL;
	if (!iv)
		return def;
	return iv->valuestring ? strtoll(iv->valuestring, NULL, 10) : (long long)iv->valuedouble;
}

int tspan_has_attr(const tspan_t *s, const char *key)
{
	return attr_value(cJSON_GetObjectItem(s->json, "attributes"), key) != NULL;
}

const char *tspan_res_str(const tspan_t *s, const char *key)
{
	cJSON *v = attr_value(cJSON_GetObjectItem(s->resource, "attributes"), key);
	if (!v)
		return NULL;
	cJSON *sv = cJSON_GetObjectItem(v, "stringValue");
	if (sv)
		return sv->valuestring;
	sv = cJSON_GetObjectItem(v, "intValue");
	return sv ? sv->valuestring : NULL;
}

double tspan_ms(const tspan_t *s)
{
	return (double)(s->end_ns - s->start_ns) / 1e6;
}
