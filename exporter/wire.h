/* wire.h - the pipe format between the relay sink (relay.c) and otcshim-send
 * (send.c); see wire.c.
 *
 * A frame is one type byte, a native uint32 length and that many bytes.
 * Host to sender: OTS_WIRE_CONFIG (once, first), OTS_WIRE_RESOURCE (once),
 * then OTS_WIRE_BATCH frames (a uint32 count and the spans); end of file
 * means "that was all". Sender to host: OTS_WIRE_MSG frames (a message line
 * for the host's log, without the "otcshim: " prefix) and one OTS_WIRE_DONE
 * (the sender's ots_counters_t, as uint64s) when it has finished.
 */
#ifndef OTS_WIRE_H
#define OTS_WIRE_H

#include "exp.h"

#define OTS_WIRE_HDR 5
enum {
	OTS_WIRE_CONFIG = 'C',
	OTS_WIRE_RESOURCE = 'R',
	OTS_WIRE_BATCH = 'B',
	OTS_WIRE_MSG = 'M',
	OTS_WIRE_DONE = 'D',
};
#define OTS_WIRE_NCOUNTERS (sizeof(ots_counters_t) / sizeof(uint64_t))

typedef struct ots_wire {
	ots_buf_t *out;         /* encoding: fields are appended here */
	const char *p, *end;    /* decoding: fields are read from here */
	int bad;                /* decoding: the frame does not parse */
} ots_wire_t;

void ots_wire_span(ots_wire_t *w, ots_span_t *s);
void ots_wire_resource(ots_wire_t *w, ots_resource_t *r);
/* The settings the OTLP sink reads, and the final flush's deadline
 * (CLOCK_MONOTONIC, the same clock in both processes). */
void ots_wire_config(ots_wire_t *w, ots_config_t *c, uint64_t *deadline);

/* Start a frame of type at the end of b; end it (write its length) given the
 * offset where it began. */
void ots_wire_frame_begin(ots_buf_t *b, int type);
void ots_wire_frame_end(ots_buf_t *b, size_t at);
/* The next whole frame in p[0, avail): its size (header included), or 0 if
 * it has not all arrived. */
int ots_wire_frame_next(const char *p, size_t avail, int *type, const char **body, size_t *len);

#endif
