/* wire.c - spans, the resource and the OTLP settings as bytes on a pipe, and
 * back: the format between the shim's relay sink (relay.c, in the host) and
 * otcshim-send (send.c, the project's helper that sends a single-threaded
 * process's last spans; see relay.c for why).
 *
 * Both ends are the same build on the same machine, so numbers go in native
 * byte order and layout. One walk per structure serves both directions: with
 * w->out set it appends the fields, otherwise it reads them from [p, end) and
 * fills the structure in. Strings travel as a length and their bytes with
 * the terminating NUL, so that a decoded string points straight into the
 * frame it came in (it lives as long as that frame); NULL has its own length.
 * A count above the structure's capacity, a string without its NUL, or a
 * frame that ends early sets w->bad, and the caller drops the frame.
 */
#include "exp.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NULL_LEN UINT32_MAX

static void w_raw(ots_wire_t *w, void *v, size_t n)
{
	if (w->out) {
		ots_buf_append(w->out, v, n);
		return;
	}
	if (w->bad || (size_t)(w->end - w->p) < n) {
		w->bad = 1;
		memset(v, 0, n);
		return;
	}
	memcpy(v, w->p, n);
	w->p += n;
}

#define W(w, field) w_raw((w), &(field), sizeof(field))

static void w_str(ots_wire_t *w, const char **s)
{
	uint32_t len;
	if (w->out) {
		len = *s ? (uint32_t)strlen(*s) : NULL_LEN;
		W(w, len);
		if (*s)
			ots_buf_append(w->out, *s, (size_t)len + 1);
		return;
	}
	W(w, len);
	*s = NULL;
	if (w->bad || len == NULL_LEN)
		return;
	if ((size_t)(w->end - w->p) <= len || w->p[len] != '\0') {
		w->bad = 1;
		return;
	}
	*s = w->p;
	w->p += (size_t)len + 1;
}

static void w_count(ots_wire_t *w, int *n, int max)
{
	int32_t v = *n;
	W(w, v);
	if (!w->out) {
		if (v < 0 || v > max) {
			w->bad = 1;
			v = 0;
		}
		*n = v;
	}
}

static void w_attrs(ots_wire_t *w, ots_attr_t *a, int *n, int max)
{
	w_count(w, n, max);
	for (int i = 0; i < *n && !w->bad; i++) {
		w_str(w, &a[i].key);
		int32_t type = (int32_t)a[i].type;
		W(w, type);
		a[i].type = (ots_av_type_t)type;
		switch (type) {
		case OTS_AV_STR:
			w_str(w, &a[i].s);
			break;
		case OTS_AV_INT:
		case OTS_AV_BOOL:
			W(w, a[i].i);
			break;
		case OTS_AV_DOUBLE:
			W(w, a[i].d);
			break;
		default:
			w->bad = 1;
		}
		if (!a[i].key)
			w->bad = 1;
	}
}

void ots_wire_span(ots_wire_t *w, ots_span_t *s)
{
	W(w, s->trace_id);
	W(w, s->span_id);
	W(w, s->parent_span_id);
	w_str(w, &s->trace_state);
	w_str(w, &s->name);
	W(w, s->kind);
	W(w, s->flags);
	W(w, s->start_ns);
	W(w, s->end_ns);
	w_attrs(w, s->attrs, &s->nattrs, OTS_SPAN_MAX_ATTRS);
	w_count(w, &s->nevents, OTS_SPAN_MAX_EVENTS);
	for (int i = 0; i < s->nevents && !w->bad; i++) {
		ots_event_t *e = &s->events[i];
		w_str(w, &e->name);
		W(w, e->time_ns);
		w_attrs(w, e->attrs, &e->nattrs, OTS_EVENT_MAX_ATTRS);
	}
	w_count(w, &s->nlinks, OTS_SPAN_MAX_LINKS);
	for (int i = 0; i < s->nlinks && !w->bad; i++) {
		ots_link_t *l = &s->links[i];
		W(w, l->trace_id);
		W(w, l->span_id);
		w_attrs(w, l->attrs, &l->nattrs, OTS_EVENT_MAX_ATTRS);
	}
	W(w, s->status_code);
	w_str(w, &s->status_msg);
	if (!w->out && !s->name)
		w->bad = 1;
}

void ots_wire_resource(ots_wire_t *w, ots_resource_t *r)
{
	w_attrs(w, r->attrs, &r->nattrs, OTS_RESOURCE_MAX_ATTRS);
}

/* Decoding allocates (the endpoint list, copies of the strings): the sender
 * only, which owns its heap. The host only encodes. */
static void w_own_str(ots_wire_t *w, char **s)
{
	const char *v = *s;
	w_str(w, &v);
	if (!w->out)
		*s = v ? strdup(v) : NULL;
}

void ots_wire_config(ots_wire_t *w, ots_config_t *c, uint64_t *deadline)
{
	W(w, *deadline);
	w_own_str(w, &c->endpoint);
	W(w, c->endpoint_set);
	int n = 0;
	if (w->out && c->endpoints)
		while (c->endpoints[n])
			n++;
	w_count(w, &n, 64);
	if (!w->out) {
		c->endpoints = n && !w->bad ? calloc((size_t)n + 1, sizeof *c->endpoints) : NULL;
		if (n && !c->endpoints)
			w->bad = 1; /* out of memory: the rest cannot be read */
	}
	for (int i = 0; i < n && !w->bad; i++)
		w_own_str(w, &c->endpoints[i]);
	w_own_str(w, &c->headers);
	const char *var = c->headers_var;
	w_str(w, &var);
	if (!w->out && var)
		snprintf(c->headers_var, sizeof c->headers_var, "%s", var);
	W(w, c->otlp_timeout_ns);
	W(w, c->compression_gzip);
	W(w, c->protocol_json);
	w_own_str(w, &c->certificate);
	w_own_str(w, &c->client_key);
	w_own_str(w, &c->client_certificate);
	W(w, c->bsp_export_timeout_ns);
	W(w, c->bsp_max_queue);
	W(w, c->debug);
}

void ots_wire_frame_begin(ots_buf_t *b, int type)
{
	uint8_t t = (uint8_t)type;
	uint32_t len = 0;
	ots_buf_append(b, &t, 1);
	ots_buf_append(b, &len, sizeof len);
}

void ots_wire_frame_end(ots_buf_t *b, size_t at)
{
	if (b->oom || b->len < at + OTS_WIRE_HDR)
		return;
	uint32_t len = (uint32_t)(b->len - at - OTS_WIRE_HDR);
	memcpy(b->data + at + 1, &len, sizeof len);
}

int ots_wire_frame_next(const char *p, size_t avail, int *type, const char **body, size_t *len)
{
	if (avail < OTS_WIRE_HDR)
		return 0;
	uint32_t n;
	memcpy(&n, p + 1, sizeof n);
	if (avail - OTS_WIRE_HDR < n)
		return 0;
	*type = (uint8_t)p[0];
	*body = p + OTS_WIRE_HDR;
	*len = n;
	return (int)(OTS_WIRE_HDR + n);
}
