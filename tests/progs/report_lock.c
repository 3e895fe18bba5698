/* report_lock: a known amount of contention on a named global lock, for the
 * exit report's numbers.
 *
 * The holder takes cache_lock ROUNDS times (argv[1], default 3) and keeps it
 * HOLD_MS each time (argv[2], default 40). Right after each acquisition the
 * waiter, spinning on a flag, calls cache_lookup(), which blocks on the lock
 * for about HOLD_MS. The waiter then keeps the lock WORK_MS (5 ms): the hold
 * time of a contended acquisition. So the report must say: ROUNDS waits,
 * total about ROUNDS * HOLD_MS, max about HOLD_MS, hold avg about WORK_MS,
 * lock "cache_lock", waiter stack starting in cache_lookup <- lookup_worker.
 * The holder itself never waits (it takes the lock only after the waiter
 * released it). Prints the two tids. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int held, released;
static int rounds = 3, hold_ms = 40;

#define WORK_MS 5

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts))
		;
}

static void *holder_main(void *arg)
{
	(void)arg;
	printf("holder %ld\n", (long)syscall(SYS_gettid));
	for (int i = 1; i <= rounds; i++) {
		while (atomic_load(&released) != i - 1)
			sched_yield();
		pthread_mutex_lock(&cache_lock);
		atomic_store(&held, i);
		sleep_ms(hold_ms);
		pthread_mutex_unlock(&cache_lock);
	}
	return NULL;
}

__attribute__((noinline)) static void cache_lookup(void)
{
	pthread_mutex_lock(&cache_lock);
	sleep_ms(WORK_MS);
	pthread_mutex_unlock(&cache_lock);
	__asm__ volatile("" ::: "memory"); /* keep the call a call, not a tail jump */
}

static void *lookup_worker(void *arg)
{
	(void)arg;
	printf("waiter %ld\n", (long)syscall(SYS_gettid));
	for (int i = 1; i <= rounds; i++) {
		while (atomic_load(&held) != i)
			sched_yield();
		cache_lookup();
		atomic_store(&released, i);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rounds = atoi(argv[1]);
	if (argc > 2)
		hold_ms = atoi(argv[2]);
	pthread_t a, b;
	pthread_create(&a, NULL, holder_main, NULL);
	pthread_create(&b, NULL, lookup_worker, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	fflush(stdout);
	return 0;
}
