/* harness.h - integration test helpers: run a program under the shim, read the
 * OTLP JSON-lines file it wrote, and look spans up.
 *
 * The library under test is $OTS_BUILD/libotcshim.so (OTS_BUILD defaults to
 * "build"); test programs are $OTS_BUILD/progs/<name>. Under ASan, the runtime
 * named by $OTS_PRELOAD_FIRST is put ahead of the shim in LD_PRELOAD; under
 * TSan, $OTS_PRELOAD_LAST goes after it (TSan's pthread_create must run
 * before our trampoline, whose code is instrumented).
 */
#ifndef OTS_HARNESS_H
#define OTS_HARNESS_H

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct tspan {
	const char *name;
	const char *trace_id;
	const char *span_id;
	const char *parent_id; /* "" for a root */
	uint64_t start_ns, end_ns;
	int status_code;
	const char *status_msg;
	cJSON *json;      /* the span object */
	cJSON *resource;  /* its resource object */
} tspan_t;

typedef struct trun {
	int exit_code;   /* exit status, or 128+signal */
	int term_signal; /* the signal that ended it, 0 if it exited */
	int timed_out;   /* killed by the harness after its time limit (a hang) */
	double seconds;  /* wall time of the run */
	char *out;       /* stdout */
	char *err;       /* stderr */
	tspan_t *spans;
	int nspans;
	int nlines;      /* JSON lines read */
	cJSON **docs;
	char outfile[256];
} trun_t;

/* Path of a built file: ots_path("progs/mutex_wait"). Static buffer rotation. */
const char *ots_path(const char *rel);

/* Run argv (argv[0] may be "progs/NAME", resolved with ots_path, or an absolute
 * path). env: NULL-terminated "K=V" list added to the environment. preload:
 * 1 = under the shim with OTCSHIM_OUTPUT pointed at a fresh file, 0 = native.
 * Returns 0 or -1 if it could not run. stdin is /dev/null unless input != NULL. */
int trun(trun_t *r, const char *const *argv, const char *const *env, int preload);
int trun_input(trun_t *r, const char *const *argv, const char *const *env, int preload,
	       const char *input, size_t input_len);
/* trun with a time limit of its own: the program runs in a process group of
 * its own, and after limit seconds the whole group is killed (SIGKILL) and
 * r->timed_out is set (exit_code is then 137). A forked child that keeps
 * stdout open is killed with it, so a hang never holds up the suite. */
int trun_bounded(trun_t *r, const char *const *argv, const char *const *env, int preload,
		 double limit);
/* How the run ended, for a failure message: "exit 0", "killed by SIGSEGV
 * (rc 139)", "hang: killed after 10.0 s". Static buffer rotation. */
const char *trun_status(const trun_t *r);
void trun_free(trun_t *r);

/* Spans */
const tspan_t *tspan_find(const trun_t *r, const char *name, int nth);
int tspan_count(const trun_t *r, const char *name);
const tspan_t *tspan_by_id(const trun_t *r, const char *span_id);
const char *tspan_attr_str(const tspan_t *s, const char *key);
/* Integer attribute (intValue); returns def if absent. */
long long tspan_attr_int(const tspan_t *s, const char *key, long long def);
int tspan_has_attr(const tspan_t *s, const char *key);
/* Resource attribute of the span's resource, string form (ints as decimal). */
const char *tspan_res_str(const tspan_t *s, const char *key);
double tspan_ms(const tspan_t *s);

#endif
