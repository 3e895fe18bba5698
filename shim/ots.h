/* ots.h - the one internal header of otcshim.
 *
 * Everything that crosses a file boundary inside the library is declared here,
 * grouped by the file that defines it. Nothing here is exported from the shared
 * object: the build uses -fvisibility=hidden and an anonymous version script that
 * lists only the interposed pthread and sem functions (hooks/NAME.sym).
 *
 * Naming: ots_<module>_<verb> for functions, ots_<thing>_t for types, OTS_* for
 * macros and enums.
 */
#ifndef OTS_H
#define OTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <setjmp.h>
#include <semaphore.h>

#define OTS_VERSION "0.1.0"

#define ots_likely(x) __builtin_expect(!!(x), 1)
#define ots_unlikely(x) __builtin_expect(!!(x), 0)
#define OTS_NOINLINE __attribute__((noinline))
#define OTS_COLD __attribute__((cold, noinline))
#define OTS_TLS __thread __attribute__((tls_model("initial-exec")))
#define OTS_EXPORT __attribute__((visibility("default")))
/* A frame that a thread's cancellation or pthread_exit may unwind without
 * returning (a hook around a cancellation point, the thread trampoline): no
 * AddressSanitizer redzones on its locals, whose poison the unwinding would
 * leave behind on the stack (GCC 12's ASan then reports its own bookkeeping
 * writing there). No effect in a normal build. */
#define OTS_UNWOUND __attribute__((no_sanitize_address))

/* ------------------------------------------------------------------------ */
/* Operations a record can describe. The table of names lives in shim/ops.c. */

typedef enum ots_op {
	OTS_OP_NONE = 0,
	OTS_OP_MUTEX_LOCK,
	OTS_OP_MUTEX_TIMEDLOCK,
	OTS_OP_MUTEX_CLOCKLOCK,
	OTS_OP_RWLOCK_RDLOCK,
	OTS_OP_RWLOCK_WRLOCK,
	OTS_OP_RWLOCK_TIMEDRDLOCK,
	OTS_OP_RWLOCK_TIMEDWRLOCK,
	OTS_OP_RWLOCK_CLOCKRDLOCK,
	OTS_OP_RWLOCK_CLOCKWRLOCK,
	OTS_OP_COND_WAIT,
	OTS_OP_COND_TIMEDWAIT,
	OTS_OP_COND_CLOCKWAIT,
	OTS_OP_SEM_WAIT,
	OTS_OP_SEM_TIMEDWAIT,
	OTS_OP_SEM_CLOCKWAIT,
	OTS_OP_ONCE,      /* a thread blocked while another ran the init routine */
	OTS_OP_ONCE_INIT, /* the init routine itself, in the thread that ran it */
	OTS_OP_JOIN,
	OTS_OP_TIMEDJOIN,
	OTS_OP_CLOCKJOIN,
	OTS_OP_BARRIER_WAIT,
	OTS_OP_SPIN_LOCK,
	OTS_OP_COUNT
} ots_op_t;

/* Hook families, for OTCSHIM_HOOKS. */
enum {
	OTS_FAM_MUTEX = 1u << 0,
	OTS_FAM_RWLOCK = 1u << 1,
	OTS_FAM_COND = 1u << 2,
	OTS_FAM_SEM = 1u << 3,
	OTS_FAM_ONCE = 1u << 4,
	OTS_FAM_JOIN = 1u << 5,
	OTS_FAM_BARRIER = 1u << 6,
	OTS_FAM_SPIN = 1u << 7,
	OTS_FAM_THREAD = 1u << 8,
	OTS_FAM_ALL = (1u << 9) - 1
};

/* ------------------------------------------------------------------------ */
/* Records: what a hook writes and the exporter reads. Fixed size, no pointers
 * the exporter would have to chase into the recording thread's memory. */

enum ots_rec_kind {
	OTS_REC_WAIT = 1,    /* a contended wait (op says which call) */
	OTS_REC_THREAD = 2,  /* a thread's life, written when it ends */
	OTS_REC_PROCESS = 3, /* the process root span (or a segment root) */
	OTS_REC_SPAN = 4,    /* another timed span, such as the pthread_once init */
};

/* flags */
enum {
	OTS_RF_CANCELLED = 1u << 0, /* thread: ended by cancellation */
	OTS_RF_EXITED = 1u << 1,    /* thread: ended by pthread_exit */
	OTS_RF_HOLDER = 1u << 2,    /* wait: holder_tid is known */
	OTS_RF_REACQUIRE = 1u << 3, /* cond wait: includes mutex re-acquisition */
	OTS_RF_CANCEL_REQ = 1u << 4, /* thread: pthread_cancel was called on it */
	OTS_RF_HAS_LINK = 1u << 5,  /* link_span_id/link_trace_id are set */
	OTS_RF_WRITE = 1u << 6,     /* rwlock: a write wait */
	OTS_RF_STATS_ONLY = 1u << 7, /* below OTCSHIM_MIN_WAIT: counted, no span */
	OTS_RF_SEGMENT_CUT = 1u << 8, /* thread: span ends at a segment cut, the thread lives on */
	OTS_RF_LIVE_AT_EXIT = 1u << 9, /* thread: still running when the process exited */
	OTS_RF_EXEC = 1u << 10,        /* process: the image ended in an exec */
	OTS_RF_IN_PROGRESS = 1u << 11, /* wait: still going on (a stall), not ended */
	OTS_RF_DEADLOCK = 1u << 12,    /* wait in progress: part of a proven cycle */
};

#define OTS_MAX_FRAMES 32

typedef struct ots_rec {
	uint16_t kind;  /* enum ots_rec_kind */
	uint16_t op;    /* ots_op_t for WAIT and SPAN records */
	uint16_t flags; /* OTS_RF_* */
	uint8_t nframes;
	uint8_t pad0;
	int32_t ret;        /* the value the real call returned: 0 or an errno value */
	int32_t tid;        /* the thread that waited or lived */
	int32_t holder_tid; /* owner of the lock when the wait began, if known */
	int32_t ptid;       /* thread: tid of the creator */
	uint64_t span_id;
	uint64_t parent_span_id;
	uint64_t link_span_id; /* holder's thread span, or previous segment */
	uint64_t start_ns;     /* unix ns */
	uint64_t end_ns;       /* unix ns */
	uint64_t obj;          /* lock address; thread: start routine address */
	uint64_t obj2;         /* cond: its mutex; join: the joined pthread_t; */
	uint64_t aux;          /* thread: time cancel was requested (unix ns) */
	uint8_t trace_id[16];
	uint8_t link_trace_id[16];
	char name[16]; /* thread name (comm), NUL-terminated */
	uint64_t frames[OTS_MAX_FRAMES];
} ots_rec_t;

/* ------------------------------------------------------------------------ */
/* shim/config.c: every option, read once from the environment. */

typedef struct ots_config {
	int sdk_disabled;          /* OTEL_SDK_DISABLED */
	int traces_exporter_otlp;  /* OTEL_TRACES_EXPORTER=otlp (default) vs none */
	char *service_name;        /* OTEL_SERVICE_NAME, NULL = unset */
	char *resource_attrs;      /* OTEL_RESOURCE_ATTRIBUTES, raw */
	char *output_path;         /* OTCSHIM_OUTPUT */
	uint64_t min_wait_ns;      /* OTCSHIM_MIN_WAIT, default 100us */
	uint64_t stall_ns;         /* OTCSHIM_STALL, default 5s, 0 = off */
	int on_deadlock_abort;     /* OTCSHIM_ON_DEADLOCK=abort */
	uint32_t pool_size;        /* OTCSHIM_POOL_SIZE, records per thread ring */
	uint64_t shutdown_timeout_ns; /* OTCSHIM_SHUTDOWN_TIMEOUT, default 2s */
	int debug;                 /* OTCSHIM_DEBUG */
	uint32_t hooks;            /* OTCSHIM_HOOKS, OTS_FAM_* mask */
	uint32_t stack_depth;      /* OTCSHIM_STACK_DEPTH, default 16 */
	uint64_t segment_ns;       /* OTCSHIM_SEGMENT, default 60s, 0 = one trace */
	char *report;              /* OTCSHIM_REPORT: NULL, "stderr" or a path */
	int report_json;           /* OTCSHIM_REPORT_FORMAT=json */
	/* OTLP exporter */
	char *endpoint;            /* resolved traces URL */
	int endpoint_set;          /* an endpoint variable was given */
	char **endpoints;          /* OTCSHIM_ENDPOINTS, NULL-terminated, or NULL */
	char *headers;             /* raw OTEL_EXPORTER_OTLP_[TRACES_]HEADERS */
	char headers_var[96];      /* the name of the one that was set */
	uint64_t otlp_timeout_ns;  /* OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT, default 10s */
	int compression_gzip;      /* OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION */
	int protocol_json;         /* OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=http/json */
	char *certificate;         /* OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE */
	char *client_key;
	char *client_certificate;
	uint64_t bsp_schedule_delay_ns; /* OTEL_BSP_SCHEDULE_DELAY, default 5000ms */
	uint64_t bsp_export_timeout_ns; /* OTEL_BSP_EXPORT_TIMEOUT, default 30000ms */
	uint32_t bsp_max_queue;    /* OTEL_BSP_MAX_QUEUE_SIZE, default 2048 */
	uint32_t bsp_max_batch;    /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default 512 */
	char *traceparent;         /* TRACEPARENT, raw */
	char *tracestate;          /* TRACESTATE, raw */
} ots_config_t;

extern ots_config_t ots_cfg;

/* Read the environment into ots_cfg. Bad values warn once and keep the default.
 * getenv_fn lets unit tests feed their own environment; NULL = getenv. */
void ots_config_load(const char *(*getenv_fn)(const char *));
void ots_config_free(void);

/* Parsers, exposed for unit tests. Each returns 0 on success or -EINVAL, and
 * leaves *out untouched on failure. */
int ots_config_parse_duration(const char *s, uint64_t default_unit_ns, uint64_t *out);
int ots_config_parse_bool(const char *s, int *out);
/* The same, also 1/0, yes/no, on/off (otcshim's own variables). */
int ots_config_parse_flag(const char *s, int *out);
int ots_config_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int ots_config_parse_hooks(const char *s, uint32_t *out);
/* Percent-decode src into a new malloc'd string; NULL on bad encoding. */
char *ots_config_pct_decode(const char *src, size_t len);
/* Split a W3C-baggage style "k=v,k2=v2" list. Calls cb for each decoded pair;
 * returns the number of pairs, or -EINVAL if a member is malformed (the
 * well-formed members are still delivered). */
int ots_config_parse_kv_list(const char *s, void (*cb)(const char *k, const char *v, void *arg),
			     void *arg);

/* W3C tracestate (Trace Context, level 1): at most 512 characters and 32
 * list-members, keys well-formed and distinct, values printable ASCII without
 * ',' and '='. 0, or -EINVAL with *why (if not NULL) saying what is wrong. */
int ots_config_parse_tracestate(const char *s, const char **why);

/* ------------------------------------------------------------------------ */
/* shim/utf8.c: well-formed UTF-8, and U+FFFD for what is not. Used by every
 * encoder on every string it writes; n is a length in bytes, no NUL needed. */

#define OTS_UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */
/* Length of the longest well-formed prefix of s[0..n): n when all of it is.
 * When shorter, *bad (if not NULL) is the length (1 to 3) of the maximal
 * subpart of an ill-formed sequence found there, the bytes that one U+FFFD
 * replaces. ASCII is checked 16 to 64 bytes at a time. */
size_t ots_utf8_prefix(const char *s, size_t n, size_t *bad);
/* Size of s[0..n) once each maximal subpart is replaced by U+FFFD. */
size_t ots_utf8_fixed_len(const char *s, size_t n);
/* Write that (ots_utf8_fixed_len bytes, no NUL) to dst; returns its end. */
char *ots_utf8_fix(char *dst, const char *s, size_t n);
/* Where to cut s at or before byte n without splitting a character
 * (s[n] must be readable): n, or up to 3 bytes before. */
size_t ots_utf8_clip(const char *s, size_t n);

/* ------------------------------------------------------------------------ */
/* shim/log.c: signal-safe, capped logging to stderr. */

/* write(2) all of buf, looping on EINTR and short writes, never raising
 * SIGPIPE in the host (a reader that has gone is -EPIPE). 0 or -errno; a
 * failure is counted in ots_write_failures. Async-signal-safe. */
int ots_write_all(int fd, const void *buf, size_t n);
extern _Atomic uint64_t ots_write_failures;
void ots_log_write(int always, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ots_log_vwrite(int always, const char *fmt, __builtin_va_list ap);
/* Open OTCSHIM_OUTPUT or OTCSHIM_REPORT for writing (O_APPEND or O_TRUNC in
 * mode_flags): close-on-exec, one of the shim's descriptors, never through a
 * symbolic link in the last component (O_NOFOLLOW) and never blocking (a FIFO
 * with no reader fails with ENXIO at once). -1 with errno set. */
int ots_open_output(const char *path, int mode_flags);
/* Remember which file descriptor 2 is (init); messages and a "stderr" report
 * go there even after the host closed or replaced descriptor 2. */
void ots_log_capture_stderr(void);
/* The original stderr for one write, or -1; ots_stderr_done after it. */
int ots_stderr_open(int *opened);
void ots_stderr_done(int fd, int opened);
/* OTCSHIM_LOG: "stderr" (NULL), "none", or a path (%p = pid). */
void ots_log_set_destination(const char *spec);
/* %p in a path from the environment becomes the pid. */
void ots_expand_path(char *out, size_t n, const char *p);
/* Why an ots_open_output failed, in words. */
const char *ots_open_why(int err);
/* A warning the user must see (bad configuration), printed even without DEBUG. */
#define OTS_WARN(...) ots_log_write(1, __VA_ARGS__)
/* Debug chatter, only with OTCSHIM_DEBUG. */
#define OTS_DEBUG(...)                                     \
	do {                                               \
		if (ots_unlikely(ots_cfg.debug))           \
			ots_log_write(0, __VA_ARGS__);     \
	} while (0)
/* snprintf-like formatter that never allocates; returns the length written. */
int ots_log_format(char *buf, size_t size, const char *fmt, __builtin_va_list ap);

/* ------------------------------------------------------------------------ */
/* shim/real.c: the table of real functions. */

typedef struct ots_real {
	int (*mutex_lock)(pthread_mutex_t *);
	int (*mutex_trylock)(pthread_mutex_t *);
	int (*mutex_timedlock)(pthread_mutex_t *, const struct timespec *);
	int (*mutex_clocklock)(pthread_mutex_t *, clockid_t, const struct timespec *);
	int (*mutex_unlock)(pthread_mutex_t *);
	int (*rwlock_rdlock)(pthread_rwlock_t *);
	int (*rwlock_wrlock)(pthread_rwlock_t *);
	int (*rwlock_tryrdlock)(pthread_rwlock_t *);
	int (*rwlock_trywrlock)(pthread_rwlock_t *);
	int (*rwlock_timedrdlock)(pthread_rwlock_t *, const struct timespec *);
	int (*rwlock_timedwrlock)(pthread_rwlock_t *, const struct timespec *);
	int (*rwlock_clockrdlock)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	int (*rwlock_clockwrlock)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	int (*rwlock_unlock)(pthread_rwlock_t *);
	int (*cond_wait)(pthread_cond_t *, pthread_mutex_t *);
	int (*cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
			      const struct timespec *);
	int (*cond_signal)(pthread_cond_t *);
	int (*cond_broadcast)(pthread_cond_t *);
	int (*sem_wait)(sem_t *);
	int (*sem_timedwait)(sem_t *, const struct timespec *);
	int (*sem_clockwait)(sem_t *, clockid_t, const struct timespec *);
	int (*sem_trywait)(sem_t *);
	int (*sem_post)(sem_t *);
	int (*once)(pthread_once_t *, void (*)(void));
	int (*join)(pthread_t, void **);
	int (*tryjoin)(pthread_t, void **);
	int (*timedjoin)(pthread_t, void **, const struct timespec *);
	int (*clockjoin)(pthread_t, void **, clockid_t, const struct timespec *);
	int (*barrier_wait)(pthread_barrier_t *);
	int (*spin_lock)(pthread_spinlock_t *);
	int (*create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	void (*exit)(void *) __attribute__((noreturn));
	int (*cancel)(pthread_t);
	int (*detach)(pthread_t);
	int (*setname)(pthread_t, const char *);
	/* hooks/process.c */
	void (*proc_exit)(int) __attribute__((noreturn));
	void (*quick_exit)(int) __attribute__((noreturn));
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	/* hooks/fd.c */
	int (*open)(const char *, int, ...);
	int (*open64)(const char *, int, ...);
	int (*close)(int);
	int (*close_range)(unsigned, unsigned, int);
	void (*closefrom)(int);
	int (*socket)(int, int, int);
	int (*socketpair)(int, int, int, int[2]);
	int (*pipe)(int[2]);
	int (*pipe2)(int[2], int);
	int (*dup)(int);
} ots_real_t;

extern ots_real_t ots_real;
/* x86_64: mutex_lock/trylock/unlock are statically non-NULL (see real.c). */
#if defined(__x86_64__)
#define OTS_REAL_MUTEX_STATIC 1
#define ots_real_mutex_ready(fn) 1
#else
#define ots_real_mutex_ready(fn) ((fn) != NULL)
#endif
/* Resolve every entry (idempotent, safe to call from any hook). */
void ots_real_resolve(void);

/* ------------------------------------------------------------------------ */
/* shim/init.c: lazy init, global state, the process root span, exit. */

typedef struct ots_global {
	_Atomic int state;        /* 0 none, 1 initialising, 2 ready */
	int enabled;              /* tracing on (not OTEL_SDK_DISABLED, init ok) */
	uint32_t hooks;           /* enabled hook families (copy of ots_cfg.hooks) */
	uint64_t min_wait_ns;     /* copy of ots_cfg.min_wait_ns, read by hooks */
	uint32_t stack_depth;     /* copy of ots_cfg.stack_depth */
	int pid;
	uint8_t trace_id[16];     /* the current trace (segment) */
	uint64_t root_span_id;    /* the current segment's root span */
	uint64_t root_start_ns;
	uint8_t parent_trace_id[16]; /* from TRACEPARENT, or zero */
	uint64_t parent_span_id;  /* from TRACEPARENT, or 0 */
	uint8_t parent_flags;
	int main_tid;
	uint8_t link_trace_id[16]; /* after fork: the parent process's span */
	uint64_t link_span_id;
	char exe_path[512];
	char exe_name[128];   /* basename of /proc/self/exe: process.executable.name */
	char command[256];    /* argv[0] as run, controls as '?': process.command */
	char command_name[128]; /* its basename: names the root span and the report */
	char comm[16];        /* the kernel's name for the process when it started */
	_Atomic int exiting;
	_Atomic uint32_t segment; /* generation of the current segment (shim/segment.c) */
	int link_kind;            /* the root's link: 0 as aux says, 2 before a failed exec */
} ots_global_t;

extern ots_global_t ots_g;

/* 16 bytes (a trace id, a thread name) kept as two relaxed atomic words, so
 * that a reader in another thread never races a plain copy. */
static inline void ots_words_store(_Atomic uint64_t w[2], const void *src)
{
	uint64_t a[2];
	memcpy(a, src, sizeof a);
	atomic_store_explicit(&w[0], a[0], memory_order_relaxed);
	atomic_store_explicit(&w[1], a[1], memory_order_relaxed);
}

static inline void ots_words_load(_Atomic uint64_t w[2], void *dst)
{
	uint64_t a[2] = { atomic_load_explicit(&w[0], memory_order_relaxed),
			  atomic_load_explicit(&w[1], memory_order_relaxed) };
	memcpy(dst, a, sizeof a);
}

/* A thread's name (comm) if it is its own: set, and not merely the one it
 * inherited from the process as the kernel named it at exec. NULL if not. */
static inline const char *ots_thread_own_name(const char *comm)
{
	return comm[0] && strncmp(comm, ots_g.comm, sizeof ots_g.comm) != 0 ? comm : NULL;
}

/* What the root span and the report are called: the command as the user ran
 * it (a symlink's name, not its target's), else the executable's name. */
static inline const char *ots_command_name(void)
{
	return ots_g.command_name[0] ? ots_g.command_name :
	       ots_g.exe_name[0]     ? ots_g.exe_name :
				       "?";
}

/* Initialise if not done yet; cheap after the first call. */
void ots_init(void);
/* The slow part of ots_init; only call through ots_ensure_init. */
void ots_init_slow(void);
static inline void ots_ensure_init(void)
{
	if (ots_unlikely(atomic_load_explicit(&ots_g.state, memory_order_acquire) != 2))
		ots_init_slow();
}
/* Called at exit (destructor): close the root span and flush, bounded. A
 * second caller waits for the first one's flush (bounded) and returns. */
void ots_shutdown(void);
/* Wait until ots_shutdown is done in another thread, at most timeout_ns (plus
 * a little), including while that thread has not reached it yet. */
void ots_shutdown_wait(uint64_t timeout_ns);
/* Hand the exporter the current root span, ending now (flags: OTS_RF_EXEC). */
void ots_root_record(uint16_t flags);
/* Start a new root span (process start, after fork). */
void ots_root_begin(void);
/* Parse a W3C traceparent; 0 or -EINVAL. */
int ots_traceparent_parse(const char *s, uint8_t trace_id[16], uint64_t *span_id, uint8_t *flags);

/* ------------------------------------------------------------------------ */
/* shim/ids.c: ids and clocks. */

/* Fill a non-zero random trace id / return a non-zero random span id. No locks,
 * no allocation: a per-thread xoshiro state seeded from getrandom. */
void ots_ids_trace(uint8_t out[16]);
uint64_t ots_ids_span(void);
/* Monotonic ns (vDSO). */
static inline uint64_t ots_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
/* Offset from monotonic to unix ns, fixed at init. */
extern uint64_t ots_mono_to_unix;
static inline uint64_t ots_unix_ns(uint64_t mono)
{
	return mono + ots_mono_to_unix;
}
void ots_ids_clock_init(void);
/* Reset the calling thread's random state (after fork). */
void ots_ids_reseed(void);

/* ------------------------------------------------------------------------ */
/* shim/thread.c: per-thread state. */

typedef struct ots_ring ots_ring_t;

typedef struct ots_tls {
	void *wslot;       /* this thread's registry entry, for its wait in progress */
	int reentrant;     /* > 0: the shim's own work, hooks pass straight through */
	int tid;           /* cached gettid(), 0 until first needed */
	ots_ring_t *ring;  /* this thread's ring, NULL until it records */
	uint64_t span_id;  /* this thread's span (0: main thread, use the root) */
	uint64_t start_ns; /* thread span start (unix ns) */
	uint64_t routine;  /* start routine address */
	int ptid;          /* creator's tid */
	uint64_t parent_span_id;
	int exit_called;   /* pthread_exit was called */
	int in_trampoline; /* this thread was started by our trampoline */
	uint8_t trace_id[16]; /* trace of this thread's span (segments may differ) */
	uint32_t nheld;    /* locks this thread acquired after contention, still held */
	struct {
		uintptr_t obj;
		uint64_t t; /* monotonic ns at acquisition */
	} held[4];
	uint32_t seg;          /* segment generation this thread's span belongs to */
	uint64_t link_span_id; /* this span continues one of an earlier segment */
	uint8_t link_trace_id[16];
	int cancel_state; /* the host's cancelability, saved while reentrant */
	int life;         /* shim/life.c: 0 not counted, OTS_LIFE_MAIN, OTS_LIFE_TRAMP */
	sigjmp_buf *crash_jmp; /* shim/contain.c: where this thread's window began */
	uintptr_t stack_lo, stack_hi; /* shim/stack.c: this thread's stack, 0 = unknown */
	int unw_warm; /* shim/stack.c: made its first access to libunwind's TLS */
} ots_tls_t;

extern OTS_TLS ots_tls_t ots_tls;

int ots_thread_gettid(void);
static inline int ots_tid(void)
{
	if (ots_unlikely(ots_tls.tid == 0))
		ots_tls.tid = ots_thread_gettid();
	return ots_tls.tid;
}
/* The span a new wait or child thread of the caller hangs under. */
uint64_t ots_thread_current_span(void);
/* Fill trace id of the caller's current span. */
void ots_thread_current_trace(uint8_t out[16]);
/* The shim's own work. While reentrant, hooks pass straight through, and
 * cancellation is disabled: nothing the shim calls (getrandom, write, a
 * libunwind or libc internal) may act on a cancel the host left pending, so no
 * hook ever borrows a cancellation point. glibc 2.34+ keeps the state in a
 * plain field of the thread: two stores, no atomic. */
static inline void ots_reentry_enter(void)
{
	if (ots_tls.reentrant++ == 0)
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &ots_tls.cancel_state);
}
static inline void ots_reentry_leave(void)
{
	if (--ots_tls.reentrant == 0)
		pthread_setcancelstate(ots_tls.cancel_state, NULL);
}

/* Thread registry (tid -> span), used for holder links and cancel events. */
void ots_threads_register(int tid, pthread_t self, uint64_t span_id, const uint8_t trace_id[16]);
/* Waits in progress (issue 10). The waiting thread publishes what it waits
 * for in its registry entry before the real blocking call and clears it when
 * the call returns (a thread cancelled out of a wait clears it as it ends);
 * the exporter reads every entry with a sequence check. */
typedef struct ots_wait_info {
	int tid, holder;
	uint32_t op;
	uint64_t t0; /* monotonic */
	uint64_t obj, obj2;
	uint64_t site; /* where the program waits (a return address), 0 if unknown */
	uint64_t span; /* the waiter's span */
	uint8_t trace[16];
} ots_wait_info_t;
void ots_threads_wait_publish(uint32_t op, uintptr_t obj, uintptr_t obj2, int holder, uint64_t t0,
			      uint64_t site);
void ots_threads_wait_clear(void);
/* Copy the waits in progress (at most max); returns how many. */
size_t ots_threads_waits(ots_wait_info_t *out, size_t max);
/* True once per wait (tid, t0): the caller reports it as a stall. */
int ots_threads_stall_claim(int tid, uint64_t t0);
/* From the exporter: a span for a wait still in progress (OTS_RF_IN_PROGRESS),
 * from its start to now, in the waiter's trace under the waiter's span. */
enum { OTS_WAIT_STALL, OTS_WAIT_AT_EXIT, OTS_WAIT_DEADLOCK };
void ots_stall_record(const ots_wait_info_t *w, uint64_t now, int state);
void ots_threads_unregister(int tid);
/* Span id of the live thread with this tid, or 0. */
uint64_t ots_threads_span_of(int tid, uint8_t trace_out[16]);
/* Mark a pthread_t as asked to cancel; returns 1 if found. */
int ots_threads_mark_cancel(pthread_t t, uint64_t when_ns);
/* For the exiting thread: the time cancel was requested, or 0. */
uint64_t ots_threads_cancel_time(int tid);
void ots_threads_reset_after_fork(void);
/* Zero a large static table in the child after fork without touching its
 * pages: memset the unaligned edges, MADV_DONTNEED the page-aligned middle
 * (a private anonymous mapping reads back as zeros, allocated on demand). */
void ots_zero_table(void *p, size_t n);
/* What closing a thread's span needs besides the registration: called by the
 * thread itself after ots_threads_register (trampoline, segment roll). */
void ots_threads_describe(int tid, uint64_t start_ns, uint64_t parent_span_id, uint64_t routine,
			  int ptid, uint64_t link_span_id, const uint8_t link_trace_id[16]);
/* The span span_id of thread tid ends: returns 1 if the caller is the one to
 * write its record (the thread itself at its end, or ots_threads_end_live at
 * exit, whichever comes first), 0 if the other one already did. */
int ots_threads_claim_end(int tid, uint64_t span_id);
/* At exit, in the exiting thread: write a THREAD record (OTS_RF_LIVE_AT_EXIT,
 * ending at end_unix) for every described thread still running, so the spans
 * their waits hang under exist. */
void ots_threads_end_live(uint64_t end_unix);
/* tid of the live registered thread whose pthread_t is t, or 0 (lock-free
 * lookup in an index keyed by pthread_t; used to name a joined thread). */
int ots_threads_tid_of(pthread_t t);

/* ------------------------------------------------------------------------ */
/* shim/pool.c: per-thread rings of records, and the registry the exporter walks. */

/* Reserve the next slot of the caller's ring, allocating the ring on first use.
 * Returns NULL (and counts a drop) if the ring is full or cannot be had. The
 * caller fills the record and calls ots_pool_commit. */
ots_rec_t *ots_pool_reserve(void);
void ots_pool_commit(void);
/* A thread that has no ring hands its end record to a queue shared by all
 * threads instead of claiming a ring for one record. 1 if taken, 0 if the
 * caller must go through ots_pool_reserve. */
int ots_pool_put_end(const ots_rec_t *r);
/* The calling thread ends: its ring is handed over to the exporter, which frees
 * it for reuse once drained. */
void ots_pool_thread_exit(void);
/* Exporter side: copy up to max pending records from every ring into out, in
 * ring order; returns the count. Rings of exited threads are recycled when
 * empty. Single consumer only. */
size_t ots_pool_drain(ots_rec_t *out, size_t max);
/* Records waiting in all rings (approximate). */
size_t ots_pool_pending(void);
/* Drop counter (records lost to full rings or no ring). */
uint64_t ots_pool_dropped(void);
/* Child after fork: forget every record and ring of the parent's other threads. */
void ots_pool_reset_after_fork(void);
void ots_pool_init(void);

/* ------------------------------------------------------------------------ */
/* shim/record.c: the common contended-wait path shared by all hook families. */

typedef struct ots_wait {
	uint64_t t0;    /* monotonic ns at the start of the wait */
	uintptr_t obj;  /* lock address */
	uintptr_t obj2; /* second object (cond's mutex, joined thread) */
	int holder_tid; /* 0 if unknown */
	uint16_t op;
	uint16_t flags;
	uint8_t nframes; /* the stack, taken as the wait begins (the record's frames) */
	uint8_t stacked; /* it was taken then (libunwind was loaded): not again at the end */
	uint64_t site;   /* its first frame: where the program waits */
	uint64_t link_span_id; /* holder's thread span, looked up when the wait begins */
	uint8_t link_trace_id[16];
} ots_wait_t;

/* True when a hook of this family should record (initialised, enabled, not
 * reentrant). Only called on slow paths. */
static inline int ots_should_trace(uint32_t family)
{
	return ots_likely(atomic_load_explicit(&ots_g.state, memory_order_relaxed) == 2) &&
	       ots_g.enabled && (ots_g.hooks & family) && ots_tls.reentrant == 0;
}
/* The waiter's stack, as the wait begins: kept for its record, and its first
 * frame published as the wait's call site (shim/record.c). */
void ots_wait_stack(ots_wait_t *w);
/* libunwind is loaded: a stack can be taken now. */
int ots_stack_ready(void);
static inline void ots_wait_begin(ots_wait_t *w, ots_op_t op, const void *obj, const void *obj2,
				  int holder_tid)
{
	w->op = (uint16_t)op;
	w->flags = 0;
	w->obj = (uintptr_t)obj;
	w->obj2 = (uintptr_t)obj2;
	w->holder_tid = holder_tid;
	/* the holder's span now: by the time the wait ends it may have exited */
	w->link_span_id = holder_tid > 0 ? ots_threads_span_of(holder_tid, w->link_trace_id) : 0;
	ots_wait_stack(w);
	w->t0 = ots_mono_ns();
	ots_threads_wait_publish(w->op, w->obj, w->obj2, holder_tid, w->t0, w->site);
}
/* End a wait: read the clock, and if the wait reached OTCSHIM_MIN_WAIT write a
 * record (stack included). ret is the real call's result (0 or an errno value).
 * Preserves errno. */
void ots_wait_end(ots_wait_t *w, int ret);
/* Unlock side of hold-time tracking: the lock obj is released by the caller.
 * Hooks call it only when ots_tls.nheld is non-zero (one TLS load on their
 * fast path). record=0 forgets the entry without measuring (pthread_cond_wait
 * releasing its mutex). */
void ots_hold_release(const void *obj, int record);
static inline void ots_hold_check(const void *obj)
{
	if (ots_unlikely(ots_tls.nheld))
		ots_hold_release(obj, 1);
}
/* Write a SPAN record for [t0, now) of op in the calling thread. */
void ots_span_record(ots_op_t op, uint64_t t0_mono, const void *obj, int ret);
/* The same for a span that began at t0_mono and ended at t1_mono. */
void ots_span_record_at(ots_op_t op, uint64_t t0_mono, uint64_t t1_mono, const void *obj, int ret);
/* Write the calling thread's THREAD record (end of its span); flags are
 * OTS_RF_CANCELLED or OTS_RF_EXITED when it did not return normally. */
void ots_thread_record_end(uint16_t flags);
/* shim/fd.c: the shim's own file descriptors. Every descriptor the shim or a
 * library working for it (libdw, libcurl, libunwind) creates is moved to a
 * number at or above a floor far from the host's (OTS_FD_FLOOR_MAX, lower
 * under a small RLIMIT_NOFILE), made close-on-exec and registered; the host's
 * close, close_range and closefrom pass over registered numbers, and the
 * host's fd-creating calls never see them (hooks/fd.c). */
#define OTS_FD_MAP 65536 /* descriptors the registry can hold: 0 .. OTS_FD_MAP-1 */
#define OTS_FD_FLOOR_MAX 768
extern _Atomic uint64_t ots_fd_map[OTS_FD_MAP / 64];
extern _Atomic int ots_fd_count;
static inline int ots_fd_owned(int fd)
{
	if (ots_likely(atomic_load_explicit(&ots_fd_count, memory_order_relaxed) == 0) || fd < 0 ||
	    fd >= OTS_FD_MAP)
		return 0;
	return (atomic_load_explicit(&ots_fd_map[fd / 64], memory_order_relaxed) >> (fd % 64)) & 1;
}
/* The mode argument of a variadic open(): present with O_CREAT or O_TMPFILE. */
#define OTS_OPEN_MODE(flags, ap)                                                     \
	(((flags) & O_CREAT) || ((flags) & __O_TMPFILE) == __O_TMPFILE ? va_arg(ap, int) \
								       : 0)
/* Make fd the shim's: moved above the floor (the original closed), FD_CLOEXEC,
 * registered. Returns the descriptor to use (fd itself if it could not move);
 * fd < 0 is returned as it is. errno is preserved. Idempotent. */
int ots_fd_own(int fd);
/* Forget a registered descriptor without closing it (it is not ours any more). */
void ots_fd_forget(int fd);
/* Forget and close one of the shim's descriptors. */
int ots_fd_close(int fd);
/* The lowest registered descriptor in [from, to], or -1. */
int ots_fd_next_owned(unsigned from, unsigned to);

/* shim/stack.c. At init: find the shim's own code and the main thread's
 * stack. ots_stack_load, in the exporter thread when it starts: open
 * libunwind (RTLD_LOCAL); until then, and without it, waits have no stack
 * (counted in ots_stack_unloaded). */
void ots_stack_init(void);
void ots_stack_load(void);
/* 1: the exporter thread is being created (new threads wait for libunwind);
 * 0: it could not be. */
void ots_stack_load_pending(int pending);
extern _Atomic uint64_t ots_stack_unloaded;
/* The stack a pthread_create attr gives (NULL: the default): the top of a
 * stack the caller supplied (else 0) and the size. Called by the creator. */
void ots_stack_attr(const pthread_attr_t *attr, uintptr_t *top, size_t *size);
/* In the new thread, before the host's code: its stack bounds, and the
 * first access to libunwind's TLS, so it is allocated before any hook needs
 * it (threads started before libunwind was opened walk without it). */
void ots_stack_thread_start(uintptr_t top, size_t size);
/* Capture the caller's stack into frames; returns the count (0 if off, or
 * when the thread has too little stack left: counted in ots_stack_skipped). */
int ots_stack_capture(uint64_t *frames, int max);
extern _Atomic uint64_t ots_stack_skipped;

/* ------------------------------------------------------------------------ */
/* shim/ops.c */
const char *ots_op_name(unsigned op);
/* A join's object is a pthread_t, not a lock: it has no lock name, and its
 * holder is the thread joined. */
static inline int ots_op_is_join(unsigned op)
{
	return op == OTS_OP_JOIN || op == OTS_OP_TIMEDJOIN || op == OTS_OP_CLOCKJOIN;
}
/* Per-lock statistics (shim/lockstat.c): updated on contended paths only.
 * add: one contended wait (every one, also below OTCSHIM_MIN_WAIT; r has the
 * stack); hold: how long a lock acquired after contention was then held. */
void ots_lockstat_add(const ots_rec_t *r, uint64_t wait_ns);
void ots_lockstat_hold(uintptr_t obj, uint64_t hold_ns);
void ots_lockstat_reset_after_fork(void);
/* Reading side of the registry (the exit report, symbol fallback, tests). Reads
 * are racy snapshots of relaxed counters: fine at exit, never torn per field. */
#define OTS_LS_TIDS 6   /* distinct waiter / holder tids kept per lock */
#define OTS_LS_FIRST 4  /* frames of the first contended wait kept per lock */
#define OTS_LS_FRAMES 16 /* frames kept per distinct waiter stack */
#define OTS_LS_BUCKETS 160 /* log-linear wait histogram, 4 buckets per power of 2 */
typedef struct ots_lockstat_info {
	uintptr_t obj;
	uint32_t ops; /* bit (1u << op) for every op that waited on it */
	uint64_t count, total_ns, min_ns, max_ns;
	uint64_t below_min; /* waits shorter than OTCSHIM_MIN_WAIT (no span) */
	uint64_t rd_count;  /* rwlock: read waits (the rest are write waits) */
	uint64_t errors;    /* waits that returned an error (ETIMEDOUT, ...) */
	uint64_t hold_count, hold_total_ns, hold_max_ns;
	uint64_t p50_ns, p99_ns;
	int nwaiters, nholders;         /* distinct tids, at most OTS_LS_TIDS */
	int waiters_more, holders_more; /* more than OTS_LS_TIDS were seen */
	int32_t waiters[OTS_LS_TIDS], holders[OTS_LS_TIDS];
	int nfirst;
	uint64_t first[OTS_LS_FIRST];
} ots_lockstat_info_t;
typedef struct ots_lockstat_stack {
	uint64_t count, total_ns, max_ns;
	int nframes;
	uint64_t frames[OTS_LS_FRAMES];
} ots_lockstat_stack_t;
typedef struct ots_lockstat_thread {
	int tid;
	uint64_t routine; /* start routine (0: main or not created by pthread_create) */
	char name[16];    /* its name when it ended, "" while it runs */
	uint64_t lock_ns, lock_waits;   /* mutex, rwlock, spin */
	uint64_t other_ns, other_waits; /* cond, sem, join, barrier, once */
	uint64_t max_ns;
} ots_lockstat_thread_t;
typedef struct ots_lockstat_lost {
	uint64_t locks, stacks, threads; /* waits not attributed: a table was full */
} ots_lockstat_lost_t;
/* Copy every lock with at least one contended wait into out (at most max, in
 * table order); returns the number copied. */
size_t ots_lockstat_snapshot(ots_lockstat_info_t *out, size_t max);
/* The distinct waiter stacks of obj, by total wait (desc), at most max. */
size_t ots_lockstat_stacks(uintptr_t obj, ots_lockstat_stack_t *out, size_t max);
/* A thread that ends leaves its name (comm) on its entry, if it has one. */
void ots_lockstat_thread_named(int32_t tid, const char name[16]);
/* Every thread that waited, in table order. */
size_t ots_lockstat_threads(ots_lockstat_thread_t *out, size_t max);
void ots_lockstat_lost(ots_lockstat_lost_t *out);
/* Frames of the first contended wait on obj (for naming a lock that has no
 * symbol); returns the count, 0 if obj is unknown. */
int ots_lockstat_first_frames(uintptr_t obj, uint64_t *frames, int max);
/* Histogram geometry, exposed for tests: the bucket of a wait, and the lowest
 * wait of a bucket. */
unsigned ots_lockstat_bucket(uint64_t ns);
uint64_t ots_lockstat_bucket_lo(unsigned b);
/* Value at quantile q (0..1] of a histogram (nearest rank), interpolated
 * inside its bucket narrowed to the observed [min_ns, max_ns]; the first and
 * last rank are min_ns and max_ns exactly; 0 when empty. */
uint64_t ots_lockstat_quantile(const uint32_t *hist, double q, uint64_t min_ns, uint64_t max_ns);
/* The exit report (exporter/report.c): printed from ots_shutdown after the
 * final flush, when OTCSHIM_REPORT asks for it. */
void ots_report_at_exit(void);
/* exporter/file.c: open OTCSHIM_OUTPUT now, with the privileges the program
 * started with; the file sink takes the descriptor over. */
void ots_file_preopen(const char *path);

/* ------------------------------------------------------------------------ */
/* shim/segment.c: OTCSHIM_SEGMENT, a long-running process cut into traces. */

/* Generation 0 is the root just begun by ots_root_begin (which calls this, at
 * init and in the child after fork); also sets the caller's ots_tls.seg. */
void ots_segment_reset(void);
/* Slow paths only (ots_thread_current_span, thread end): start a new segment
 * when the current one is older than OTCSHIM_SEGMENT, and move the calling
 * thread's span into the current segment if it is behind. */
void ots_segment_poll(void);
/* Root span and trace of generation gen (the caller's ots_tls.seg). */
uint64_t ots_segment_root(uint32_t gen, uint8_t trace_out[16]);
/* At exit, before the last root record: no segment switch after this. */
void ots_segment_freeze(void);
/* After a failed exec whose root span was sent: the current segment goes on
 * under a new root span in the same trace, linked to the sent one. */
void ots_segment_reroot(void);

/* ------------------------------------------------------------------------ */
/* shim/life.c: the program's threads and the ways the process ends. */

enum { OTS_LIFE_MAIN = 1, OTS_LIFE_TRAMP = 2 };
/* At init (the main thread) and in a fork child (the forking thread). */
void ots_life_reset(int counted);
/* pthread_create: one more program thread (before the real call), and the
 * undo when the real call failed. */
void ots_life_created(void);
void ots_life_create_failed(void);
/* The calling program thread's life ends (its trampoline's end, or
 * pthread_exit in a thread without one). When it is the last one, the
 * exporter thread is stopped first, so glibc's own count of threads reaches
 * zero with this thread and the process ends exactly as it would natively. */
void ots_life_thread_end(void);
/* exit(): a second thread calling it while another exits waits (bounded) for
 * the first one's flush instead of racing it to _exit. */
void ots_life_exit_begin(void);
/* execve and friends: everything recorded so far and the root span are
 * flushed (bounded) before the new image; if the call fails, tracing goes on
 * under a new root span linked to the one sent. */
void ots_life_exec_begin(void);
void ots_life_exec_failed(void);

/* ------------------------------------------------------------------------ */
/* shim/contain.c: a fault in the shim's exit work is contained.
 *
 *	sigjmp_buf jb;
 *	ots_contain_open();
 *	if (sigsetjmp(jb, 1) == 0) { ots_tls.crash_jmp = &jb; work(); }
 *	ots_tls.crash_jmp = NULL;
 *	ots_contain_close();
 *
 * A thread that blocks the fault signals (the exporter) must unblock them
 * for its window (ots_contain_unblock): a fault while blocked kills. */
void ots_contain_open(void);
void ots_contain_close(void);
void ots_contain_unblock(void);

/* ------------------------------------------------------------------------ */
/* shim/fork.c */
void ots_fork_install(void);

/* ------------------------------------------------------------------------ */
/* exporter/exporter.c: the background thread. */

/* Start the exporter thread if it is not running (called from pthread_create
 * hooks, never from the constructor). */
void ots_exporter_start(void);
/* Wake the exporter (ring at high water). Async-signal-safe. */
void ots_exporter_kick(void);
/* Stop: flush everything pending within timeout_ns, then return. Without a
 * running thread one is started for the flush (so no sink can hold exit up
 * past the timeout); if that fails the caller flushes itself. */
void ots_exporter_stop(uint64_t timeout_ns);
/* Stop the thread without flushing (the rings keep their records) and wait
 * for it to be gone, at most timeout_ns. 0, or -ETIMEDOUT. The next
 * ots_exporter_start starts a new one with the same sinks. */
int ots_exporter_quit(uint64_t timeout_ns);
/* Export everything recorded so far and wait for the sinks, at most
 * timeout_ns; the thread (started for it if need be) keeps running. */
void ots_exporter_sync(uint64_t timeout_ns);
/* Child after fork: the exporter thread does not exist any more. */
void ots_exporter_reset_after_fork(void);
/* Hand the exporter one record outside the rings (the root span at exit). */
void ots_exporter_final_record(const ots_rec_t *r);

#endif
