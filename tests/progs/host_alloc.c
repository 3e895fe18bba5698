/* host_alloc: a host whose allocator must never be re-entered.
 *
 * The program brings its own malloc family (a bump allocator under one
 * pthread mutex, as many allocators are built) and four threads that
 * allocate and free in a loop, so the mutex is contended and the shim's slow
 * path runs while the allocator's lock is held. If anything on that path (the
 * shim, libunwind, glibc's dynamic TLS for them) calls malloc, the allocator
 * is entered again on the same thread: it says so and aborts, where a real
 * allocator would deadlock on its own lock.
 *
 * It also wraps dl_iterate_phdr: a callback runs under the loader's lock,
 * which the shim's unwinder takes on the contended path, where this
 * allocator's lock may be held; so anything that allocates from inside a
 * callback (the shim's symboliser once did, in the exporter thread) can
 * deadlock against a waiter. It says so and aborts instead.
 * It counts the allocations made before main (the loader's and every
 * constructor's, the shim's included): natively none.
 * Prints that count and a checksum and exits 0. */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA (1u << 30)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *arena;
static size_t used;
static __thread int depth;
static void *volatile escape; /* keeps the compiler from eliding malloc/free pairs */
static _Atomic int started; /* a spin start: a barrier would be a wait of its own */

static void die(const char *msg)
{
	(void)!write(2, msg, strlen(msg));
	abort();
}

static __thread int in_loader_cb;

typedef int (*phdr_cb_t)(struct dl_phdr_info *, size_t, void *);
struct wrapped {
	phdr_cb_t cb;
	void *arg;
};

static int wrapped_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct wrapped *w = arg;
	in_loader_cb++;
	int r = w->cb(info, size, w->arg);
	in_loader_cb--;
	return r;
}

int dl_iterate_phdr(phdr_cb_t cb, void *arg)
{
	static int (*real)(phdr_cb_t, void *);
	if (!real)
		real = (int (*)(phdr_cb_t, void *))dlsym(RTLD_NEXT, "dl_iterate_phdr");
	struct wrapped w = { cb, arg };
	return real(wrapped_cb, &w);
}

static int in_main;
static unsigned long before_main;

static void *take(size_t size, size_t align)
{
	if (!in_main)
		before_main++;
	if (in_loader_cb)
		die("host_alloc: malloc was called inside a dl_iterate_phdr callback (under the "
		    "loader's lock)\n");
	if (depth++)
		die("host_alloc: the allocator was re-entered while it held its lock\n");
	pthread_mutex_lock(&lock);
	if (!arena) {
		arena = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (arena == MAP_FAILED)
			die("host_alloc: no arena\n");
	}
	if (align < 16)
		align = 16;
	size_t at = (used + 16 + align - 1) & ~(align - 1);
	void *p = NULL;
	if (at + size <= ARENA) {
		((size_t *)(arena + at))[-1] = size;
		p = arena + at;
		used = at + size;
	}
	/* a little work under the lock, so that it is contended */
	for (volatile int i = 0; i < 400; i++)
		;
	pthread_mutex_unlock(&lock);
	depth--;
	if (!p)
		errno = ENOMEM;
	return p;
}

void *malloc(size_t n) { return take(n, 16); }
void free(void *p) { (void)p; }
void *calloc(size_t a, size_t b) { return take(a * b, 16); } /* the arena is zeroed */
void *memalign(size_t al, size_t n) { return take(n, al); }
void *aligned_alloc(size_t al, size_t n) { return take(n, al); }
int posix_memalign(void **out, size_t al, size_t n)
{
	void *p = take(n, al);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}
void *realloc(void *old, size_t n)
{
	void *p = take(n, 16);
	if (p && old) {
		size_t was = ((size_t *)old)[-1];
		memcpy(p, old, was < n ? was : n);
	}
	return p;
}
size_t malloc_usable_size(void *p) { return p ? ((size_t *)p)[-1] : 0; }

static void *work(void *arg)
{
	uintptr_t sum = 0;
	started++;
	while (started < 4)
		;
	for (int i = 0; i < 20000; i++) {
		unsigned char *p = malloc(32 + (size_t)(i % 64));
		p[0] = (unsigned char)i;
		sum += p[0];
		escape = p;
		free(escape);
	}
	*(uintptr_t *)arg = sum;
	return NULL;
}

int main(void)
{
	in_main = 1;
	printf("allocations before main: %lu\n", before_main);
	pthread_t t[4];
	uintptr_t sums[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, work, &sums[i]);
	uintptr_t total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += sums[i];
	}
	printf("4 threads x 20000 allocations, checksum %lu\n", (unsigned long)total);
	return 0;
}
