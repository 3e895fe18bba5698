/* jemalloc_threads: a host linked with Debian's jemalloc (-ljemalloc, see the
 * issue 8 block of the Makefile). 50 rounds: start 8 threads that malloc and
 * free in a loop, join them. Every thread is new, so its first contended lock
 * is one of jemalloc's own mutexes (jemalloc waits in pthread_mutex_lock after
 * a failed trylock and a short spin): the shim's slow path then runs inside
 * malloc, with jemalloc's lock held. jemalloc's defaults (a thread cache, 4
 * arenas per CPU) unless MALLOC_CONF says otherwise (narenas:1 puts every
 * thread on one arena). Prints deterministic lines only. */
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NTHREADS 8
#define ROUNDS 50
#define ITERS 2000

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t sum = 0;
	void *keep[16] = { 0 };
	for (unsigned i = 0; i < ITERS; i++) {
		/* small and large sizes: bins and the arena's extent locks */
		size_t sz = (i % 7 == 0) ? 20000 + (i % 5) * 4096 : 16 + (i * 37 + id) % 2000;
		unsigned char *p = malloc(sz);
		if (!p)
			return (void *)-1;
		memset(p, (int)(i & 0xff), sz);
		sum += p[sz - 1] + sz;
		unsigned slot = (i + (unsigned)id) % 16;
		free(keep[slot]);
		keep[slot] = p;
	}
	for (unsigned i = 0; i < 16; i++)
		free(keep[i]);
	return (void *)(uintptr_t)(sum & 0xffff);
}

int main(void)
{
	const char *ver = NULL;
	size_t len = sizeof ver;
	if (mallctl("version", &ver, &len, NULL, 0) != 0 || !ver) {
		printf("jemalloc is not the allocator\n");
		return 2;
	}
	printf("allocator: jemalloc\n");
	uint64_t total = 0;
	for (int r = 0; r < ROUNDS; r++) {
		pthread_t t[NTHREADS];
		for (uintptr_t i = 0; i < NTHREADS; i++)
			if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
				printf("pthread_create failed\n");
				return 3;
			}
		for (int i = 0; i < NTHREADS; i++) {
			void *ret;
			pthread_join(t[i], &ret);
			if (ret == (void *)-1) {
				printf("malloc failed\n");
				return 4;
			}
			total += (uintptr_t)ret;
		}
	}
	printf("%d rounds x %d threads done, checksum %llu\n", ROUNDS, NTHREADS,
	       (unsigned long long)total);
	return 0;
}
