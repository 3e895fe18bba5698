/* stack.c - the waiter's call stack, captured on the contended path.
 *
 * The rule of the contended path: the host may hold any of its locks there
 * (its allocator's included), so nothing here may allocate through the
 * host's malloc, take a lock the host may hold, or need more stack than the
 * thread has left. Three mechanisms keep that true:
 *
 * - libunwind is opened RTLD_LOCAL (see below), so its thread-local trace
 *   cache is dynamic TLS: glibc allocates a thread's block with malloc at its
 *   first access. Each thread makes that access when it starts, in the
 *   pthread_create trampoline before the host's start routine runs, where it
 *   holds none of the host's locks (the main thread walks once at init).
 * - The shim's own code range, used to drop its frames, is found at init, not
 *   with dl_iterate_phdr (the loader's lock) on a hook's path.
 * - Each thread knows the low end of its stack (the creator's attributes;
 *   the main thread's from /proc/self/maps and RLIMIT_STACK). A walk needs a
 *   few kilobytes (libunwind's cursor and context are 2 KB, its slow path far
 *   more); with less headroom than OTS_STACK_HEADROOM the wait is recorded
 *   without a stack and counted (ots_stack_skipped, in the report).
 */
#include "ots.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* What a walk may use, with margin: measured at about 7 KB for libunwind's
 * first, uncached walk through DWARF (tests/progs/small_stack). */
#define OTS_STACK_HEADROOM (12u * 1024u)

_Atomic uint64_t ots_stack_skipped;
_Atomic uint64_t ots_stack_unloaded;

/* libunwind is not linked: the exporter thread opens it when it starts
 * (ots_stack_load), RTLD_LOCAL. Linked (or opened globally) it would put its
 * own _Unwind_* functions in the global scope, and libgcc_s, which glibc
 * loads at the first cancellation or pthread_exit of a C program, would bind
 * its internal calls to them and crash while unwinding through glibc's
 * cleanup frames. A host that never starts a thread never maps it. */
static int (*_Atomic unw_bt)(void **, int); /* set once everything below is */
static int (*u_getcontext)(unw_context_t *);
static int (*u_init_local)(unw_cursor_t *, unw_context_t *);
static int (*u_step)(unw_cursor_t *);
static int (*u_get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
static _Atomic uint32_t load_state; /* futex word: 0 not yet, 1 loading, 2 done */

/* The shim's own code: the executable PT_LOAD of the object holding this file. */
static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t want = (uintptr_t)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (want >= lo && want < hi) {
			self_lo = lo;
			self_hi = hi;
			return 1;
		}
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The main thread's stack may grow down to RLIMIT_STACK below the top of its
 * mapping. The mapping is the line of /proc/self/maps that holds sp, read
 * with a fixed buffer (no stdio, no malloc). 0 when unknown or unlimited. */
static uintptr_t main_stack_lo(uintptr_t *hi)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[4096];
	size_t have = 0;
	uintptr_t top = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *nl, *p = buf;
		while ((nl = strchr(p, '\n'))) {
			uintptr_t a = 0, b = 0;
			int v;
			while ((v = hexval(*p)) >= 0)
				a = a * 16 + (uintptr_t)v, p++;
			if (*p == '-')
				for (p++; (v = hexval(*p)) >= 0; p++)
					b = b * 16 + (uintptr_t)v;
			if (sp >= a && sp < b)
				top = b;
			p = nl + 1;
		}
		have = (size_t)(buf + have - p);
		memmove(buf, p, have);
		if (top || have == sizeof buf - 1)
			break;
	}
	close(fd);
	*hi = top;
	return top > rl.rlim_cur ? top - (uintptr_t)rl.rlim_cur : 0;
}

/* libunwind's TLS module: glibc gives each thread its block of it at the
 * thread's first access, through the host's malloc. __tls_get_addr with the
 * module's id and offset 0 is that first access, done where it is harmless.
 * (The trace cache libunwind then builds on the thread's first walk comes
 * from mmap, and its key was made by the main thread's walk at init.) */
typedef struct {
	unsigned long module, offset;
} tls_index_t;
extern void *__tls_get_addr(tls_index_t *);
static size_t unw_tls_mod;

static void warm_tls(void)
{
	if (unw_tls_mod) {
		tls_index_t ti = { unw_tls_mod, 0 };
		(void)__tls_get_addr(&ti);
		ots_tls.unw_warm = 1;
	}
}

void ots_stack_init(void)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&ots_stack_capture);
}

#define STR_(x) #x
#define STR(x) STR_(x) /* the name a libunwind.h macro stands for */

/* The exporter thread is about to be created: threads started from now on
 * wait in their trampoline (briefly) for libunwind, instead of racing the
 * exporter to it. */
void ots_stack_load_pending(int pending)
{
	uint32_t from = pending ? 0 : 1;
	if (ots_cfg.stack_depth == 0 ||
	    !atomic_compare_exchange_strong(&load_state, &from, pending ? 1 : 0))
		return;
	/* The main thread's bounds, read here rather than at start: no stack is
	 * walked before libunwind is loaded, which this first pthread_create
	 * begins, and a process that never creates a thread (most of those
	 * started by the hundred) never reads /proc/self/maps. */
	if (pending && getpid() == ots_tid() && !ots_tls.stack_lo)
		ots_tls.stack_lo = main_stack_lo(&ots_tls.stack_hi);
	if (!pending) /* the thread could not be created */
		syscall(SYS_futex, (uint32_t *)&load_state, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void ots_stack_load(void)
{
	static _Atomic int claimed;
	if (ots_cfg.stack_depth == 0 || atomic_exchange(&claimed, 1))
		return;
	atomic_store(&load_state, 1);
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		h = dlopen("libunwind.so", RTLD_NOW | RTLD_LOCAL);
	int (*bt)(void **, int) = NULL;
	if (h) {
		bt = (int (*)(void **, int))dlsym(h, "unw_backtrace");
		u_getcontext = (int (*)(unw_context_t *))dlsym(h, STR(unw_tdep_getcontext));
		u_init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(h, STR(unw_init_local));
		u_step = (int (*)(unw_cursor_t *))dlsym(h, STR(unw_step));
		u_get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, STR(unw_get_reg));
		if (dlinfo(h, RTLD_DI_TLS_MODID, &unw_tls_mod))
			unw_tls_mod = 0;
	}
	if (!bt || !u_getcontext || !u_init_local || !u_step || !u_get_reg) {
		OTS_WARN("libunwind not found: waits are recorded without stacks");
	} else {
#ifdef __SANITIZE_THREAD__
		/* ThreadSanitizer: libunwind's trace cache frees itself from a
		 * thread-specific destructor that locks a mutex after TSan has
		 * torn the thread's state down (a crash in every thread that
		 * walked). Step by step only: no cache, no key, no destructor. */
		unw_tls_mod = 0;
#else
		/* one whole walk on this thread: libunwind's one-time setup (its
		 * key, its global caches) happens here */
		void *buf[2];
		(void)bt(buf, 2);
#endif
		atomic_store_explicit(&unw_bt, bt, memory_order_release);
	}
	atomic_store(&load_state, 2);
	syscall(SYS_futex, (uint32_t *)&load_state, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void ots_stack_attr(const pthread_attr_t *attr, uintptr_t *top, size_t *size)
{
	*top = 0;
	*size = 0;
	pthread_attr_t d;
	if (!attr) {
		if (pthread_getattr_default_np(&d))
			return;
		attr = &d;
	}
	void *addr = NULL;
	size_t sz = 0;
	/* glibc gives a stack the caller did not supply as "0 - size": its
	 * top, addr + size, is then 0 */
	if (pthread_attr_getstack(attr, &addr, &sz) == 0) {
		*size = sz;
		*top = (uintptr_t)addr + sz;
	}
	if (attr == &d)
		pthread_attr_destroy(&d);
}

/* glibc puts a thread it allocates the stack for at the top of that block
 * (x86_64 and every TLS_TCB_AT_TP target): the descriptor, pthread_self(),
 * sits under the top by its own size (2.5 KB in 2.36), and the usable stack
 * reaches down to stacksize below the top. Taking the top as self + 4 KB
 * errs towards less headroom, never more; a reused, larger cached stack only
 * adds to it. A stack the caller supplied is exactly [top - size, top). */
void ots_stack_thread_start(uintptr_t top, size_t size)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t lo = 0;
	if (top && size && size < top)
		lo = top - size;
	else if (!top && size) {
		uintptr_t self = (uintptr_t)pthread_self();
		if (self + 4096 > size)
			lo = self + 4096 - size;
	}
	ots_tls.stack_lo = lo && sp > lo ? lo : 0;
	ots_tls.stack_hi = top ? top : (uintptr_t)pthread_self() + 4096;
	/* the exporter is opening libunwind, or about to (the program's first
	 * threads start while it does): wait for it, at most 100 ms, here where
	 * nothing is held */
	if (atomic_load_explicit(&load_state, memory_order_acquire) == 1) {
		struct timespec ts = { 0, 100 * 1000000L };
		syscall(SYS_futex, (uint32_t *)&load_state, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
	}
	if (atomic_load_explicit(&unw_bt, memory_order_acquire))
		warm_tls();
}

/* The waiter's stack, from the caller of the hook outwards. Every frame
 * inside the shim is left out: the hook, this path, and the pthread_create
 * trampoline at the bottom of each thread, which is noise to a reader. max is
 * OTCSHIM_STACK_DEPTH (0 = no stacks), capped at OTS_MAX_FRAMES; a few extra
 * frames are walked so the shim's own do not eat into it. The raw buffer is
 * per thread (this path never nests: hooks pass through while reentrant),
 * which keeps the frame small. */
static OTS_TLS void *raw[OTS_MAX_FRAMES + 8];

/* Off the thread's own stack (a signal handler's alternate stack, a
 * coroutine's), only sigaltstack can tell the room; a stack it does not know
 * is walked as before. */
static __attribute__((noinline)) int short_stack(uintptr_t sp, uintptr_t lo)
{
	/* on the thread's own stack; just under lo too, which errs high */
	if (sp <= ots_tls.stack_hi && sp + 65536 >= lo)
		return 1;
	stack_t ss;
	return sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK) &&
	       sp < (uintptr_t)ss.ss_sp + OTS_STACK_HEADROOM;
}

/* A thread that was running before libunwind was opened (the main thread,
 * the first workers) never made the first access to libunwind's TLS where
 * it was harmless, and must not make it here: its walks go step by step,
 * which uses no thread-local state (slower: libunwind's trace cache is
 * per thread). */
static __attribute__((noinline)) int walk_steps(void **out, int max)
{
	unw_context_t uc;
	unw_cursor_t c;
	if (u_getcontext(&uc) || u_init_local(&c, &uc) < 0)
		return 0;
	int n = 0;
	while (n < max && u_step(&c) > 0) {
		unw_word_t ip = 0;
		if (u_get_reg(&c, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		out[n++] = (void *)(uintptr_t)ip;
	}
	return n;
}

int ots_stack_ready(void)
{
	return atomic_load_explicit(&unw_bt, memory_order_acquire) != NULL;
}

int ots_stack_capture(uint64_t *frames, int max)
{
	int (*bt)(void **, int) = atomic_load_explicit(&unw_bt, memory_order_acquire);
	if (max <= 0)
		return 0;
	if (!bt) {
		atomic_fetch_add_explicit(&ots_stack_unloaded, 1, memory_order_relaxed);
		return 0;
	}
	if (max > OTS_MAX_FRAMES)
		max = OTS_MAX_FRAMES;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t lo = ots_tls.stack_lo;
	if (lo && (sp < lo + OTS_STACK_HEADROOM || sp > ots_tls.stack_hi) && short_stack(sp, lo)) {
		atomic_fetch_add_explicit(&ots_stack_skipped, 1, memory_order_relaxed);
		return 0;
	}
	int n = ots_tls.unw_warm ? bt(raw, max + 8) : walk_steps(raw, max + 8);
	int out = 0;
	for (int i = 0; i < n && out < max; i++) {
		uint64_t pc = (uintptr_t)raw[i];
		if (pc && !(pc >= self_lo && pc < self_hi))
			frames[out++] = pc;
	}
	return out;
}
