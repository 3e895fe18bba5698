/* buf.c - growable byte buffers and string arenas for the exporter thread.
 *
 * Both are reused from batch to batch, so after warm-up encoding a batch
 * allocates nothing: a buffer keeps its capacity across resets, an arena keeps
 * its chunks.
 */
#include "exp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ots_buf_reserve(ots_buf_t *b, size_t extra)
{
	if (b->oom || b->len + extra <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->oom = 1;
		return;
	}
	b->data = p;
	b->cap = cap;
}

void ots_buf_append(ots_buf_t *b, const void *p, size_t n)
{
	ots_buf_reserve(b, n + 1);
	if (b->oom)
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void ots_buf_puts(ots_buf_t *b, const char *s)
{
	ots_buf_append(b, s, strlen(s));
}

void ots_buf_put_utf8(ots_buf_t *b, const char *s, size_t n)
{
	size_t ok = ots_utf8_prefix(s, n, NULL);
	if (ots_likely(ok == n)) {
		ots_buf_append(b, s, n);
		return;
	}
	size_t len = ots_utf8_fixed_len(s, n);
	ots_buf_reserve(b, len + 1);
	if (b->oom)
		return;
	b->len = (size_t)(ots_utf8_fix(b->data + b->len, s, n) - b->data);
	b->data[b->len] = '\0';
}

void ots_buf_printf(ots_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		ots_buf_append(b, small, (size_t)n);
		return;
	}
	ots_buf_reserve(b, (size_t)n + 1);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void ots_buf_free(ots_buf_t *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

#define CHUNK 65536

struct ots_arena_chunk {
	struct ots_arena_chunk *next;
	size_t used, size;
	char data[];
};

void *ots_arena_alloc(ots_arena_t *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct ots_arena_chunk *c = a->cur;
	while (c && c->used + n > c->size) {
		c = c->next;
		if (c)
			c->used = 0;
		a->cur = c ? c : a->cur;
	}
	if (!c) {
		size_t size = n > CHUNK ? n : CHUNK;
		c = malloc(sizeof *c + size);
		if (!c)
			return NULL;
		c->next = NULL;
		c->used = 0;
		c->size = size;
		if (a->cur) {
			c->next = a->cur->next;
			a->cur->next = c;
		} else {
			a->head = c;
		}
		a->cur = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

const char *ots_arena_strdup(ots_arena_t *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ots_arena_alloc(a, n);
	if (!p)
		return "";
	memcpy(p, s, n);
	return p;
}

const char *ots_arena_printf(ots_arena_t *a, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return "";
	if ((size_t)n < sizeof small)
		return ots_arena_strdup(a, small);
	char *p = ots_arena_alloc(a, (size_t)n + 1);
	if (!p)
		return "";
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void ots_arena_reset(ots_arena_t *a)
{
	a->cur = a->head;
	if (a->cur)
		a->cur->used = 0;
}

void ots_arena_free(ots_arena_t *a)
{
	struct ots_arena_chunk *c = a->head;
	while (c) {
		struct ots_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	a->head = a->cur = NULL;
}
