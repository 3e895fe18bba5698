/* h4_util.h - helpers shared by the integration tests of issue 4 (the wait
 * families, lifecycle, context, real programs): find a thread's span, check a
 * wait's parent, compare a native run with a shim run. Header-only, static. */
#ifndef OTS_H4_UTIL_H
#define OTS_H4_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"

#define UNUSED __attribute__((unused))

/* the number after word in out, or -1 */
static UNUSED long num_after(const char *out, const char *word)
{
	const char *p = strstr(out, word);
	return p ? strtol(p + strlen(word), NULL, 0) : -1;
}

/* the hex address after word in out, as "0x..." text, or "" */
static UNUSED const char *addr_after(const char *out, const char *word, char *buf, size_t n)
{
	const char *p = strstr(out, word);
	buf[0] = '\0';
	if (p)
		sscanf(p + strlen(word), "%63s", buf);
	(void)n;
	return buf;
}

static UNUSED const tspan_t *thread_span_of(const trun_t *r, long tid)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strncmp(r->spans[i].name, "thread ", 7) &&
		    tspan_attr_int(&r->spans[i], "thread.id", -1) == tid)
			return &r->spans[i];
	return NULL;
}

static UNUSED const tspan_t *root_span(const trun_t *r)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strncmp(r->spans[i].name, "process ", 8))
			return &r->spans[i];
	return NULL;
}

/* The nth span named name whose thread.id is tid (tid < 0: any). */
static UNUSED const tspan_t *span_of(const trun_t *r, const char *name, long tid, int nth)
{
	for (int i = 0; i < r->nspans; i++)
		if (!strcmp(r->spans[i].name, name) &&
		    (tid < 0 || tspan_attr_int(&r->spans[i], "thread.id", -1) == tid) && nth-- == 0)
			return &r->spans[i];
	return NULL;
}

static UNUSED int count_of(const trun_t *r, const char *name, long tid)
{
	int n = 0;
	for (int i = 0; i < r->nspans; i++)
		n += !strcmp(r->spans[i].name, name) &&
		     (tid < 0 || tspan_attr_int(&r->spans[i], "thread.id", -1) == tid);
	return n;
}

/* span id of the first link of s, or NULL */
static UNUSED const char *link_span(const tspan_t *s, int nth)
{
	cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(s->json, "links"), nth);
	cJSON *id = l ? cJSON_GetObjectItem(l, "spanId") : NULL;
	return id ? id->valuestring : NULL;
}

static UNUSED int has_event(const tspan_t *s, const char *name)
{
	cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(s->json, "events"))
	{
		cJSON *n = cJSON_GetObjectItem(e, "name");
		if (n && n->valuestring && !strcmp(n->valuestring, name))
			return 1;
	}
	return 0;
}

static UNUSED int attr_bool(const tspan_t *s, const char *key)
{
	cJSON *a;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(s->json, "attributes"))
	{
		cJSON *k = cJSON_GetObjectItem(a, "key");
		if (k && k->valuestring && !strcmp(k->valuestring, key)) {
			cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "value"), "boolValue");
			return v && cJSON_IsTrue(v);
		}
	}
	return 0;
}

/* Assert the wait w sits in the waiter's thread span (or the root when the
 * waiter is the main thread) and inside its time. */
static UNUSED void assert_parent(const trun_t *r, const tspan_t *w, long tid, int is_main)
{
	const tspan_t *p = is_main ? root_span(r) : thread_span_of(r, tid);
	cr_assert_not_null(p, "the waiter's span exists");
	cr_assert_str_eq(w->parent_id, p->span_id, "%s is a child of the waiter's span", w->name);
	cr_assert_str_eq(w->trace_id, p->trace_id);
	cr_assert_geq(w->start_ns, p->start_ns);
	cr_assert_leq(w->end_ns, p->end_ns);
}

/* The suite runs a sanitizer build (the harness preloads its runtime). */
static UNUSED int under_sanitizer(void)
{
	const char *f = getenv("OTS_PRELOAD_FIRST"), *l = getenv("OTS_PRELOAD_LAST");
	return (f && *f) || (l && *l);
}

/* Run argv natively and under the shim; assert the same exit code. */
static UNUSED void run_both(trun_t *n, trun_t *s, const char *const *argv, const char *const *env)
{
	cr_assert_eq(trun(n, argv, env, 0), 0);
	cr_assert_eq(trun(s, argv, env, 1), 0);
	cr_assert_eq(s->exit_code, n->exit_code, "exit code: native %d, shim %d (stderr %s)",
		     n->exit_code, s->exit_code, s->err);
}

/* stdout with every number of 2+ digits (tids: on a fresh machine they have
 * only 3) and every 0x... word (addresses) masked, for comparing a native run
 * with a shim run; both sides are masked alike, so this can only hide a
 * difference, never invent one */
static UNUSED char *masked(const char *out)
{
	size_t n = strlen(out);
	char *m = malloc(n + 1), *o = m;
	size_t i = 0;
	while (i < n) {
		if (out[i] == '0' && out[i + 1] == 'x') {
			*o++ = 'X';
			i += 2;
			while (i < n && strchr("0123456789abcdef", out[i]))
				i++;
		} else if (out[i] >= '0' && out[i] <= '9') {
			size_t j = i;
			while (j < n && out[j] >= '0' && out[j] <= '9')
				j++;
			if (j - i >= 2) {
				*o++ = 'N';
				i = j;
			} else {
				while (i < j)
					*o++ = out[i++];
			}
		} else {
			*o++ = out[i++];
		}
	}
	*o = '\0';
	return m;
}

static UNUSED void assert_same_output(const trun_t *n, const trun_t *s)
{
	char *a = masked(n->out), *b = masked(s->out);
	cr_assert_str_eq(b, a, "stdout under the shim differs from native:\n--- native\n%s--- shim\n%s",
			 n->out, s->out);
	free(a);
	free(b);
}

/* LD_PRELOAD for a program started by hand: the shim, with a sanitizer
 * runtime before or after it as the harness would put it. */
static UNUSED const char *preload_list(void)
{
	static char buf[1024];
	const char *first = getenv("OTS_PRELOAD_FIRST"), *last = getenv("OTS_PRELOAD_LAST");
	snprintf(buf, sizeof buf, "%s%s%s%s%s", first && *first ? first : "",
		 first && *first ? " " : "", ots_path("libotcshim.so"), last && *last ? " " : "",
		 last && *last ? last : "");
	return buf;
}

#endif
