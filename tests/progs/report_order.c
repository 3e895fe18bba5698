/* report_order: several locks with different, known costs, so the report's
 * ordering and naming can be checked.
 *
 *   big_lock    a global, 2 waits of about 40 ms        -> first
 *   table[1]    element of a static array, 1 wait of about 25 ms
 *                                                       -> "table+0x28" (40-byte mutexes)
 *   a heap lock 1 wait of about 5 ms in heap_user       -> "@heap_user"
 *
 * Each wait is made the same way: a holder thread takes the lock and raises
 * a flag, the waiter spins on the flag and then blocks on the lock until the
 * holder lets go after the given time. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t table[4] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
				    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER };

struct job {
	pthread_mutex_t *m;
	int ms;
	atomic_int held;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts))
		;
}

static void *hold_for(void *p)
{
	struct job *j = p;
	pthread_mutex_lock(j->m);
	atomic_store(&j->held, 1);
	sleep_ms(j->ms);
	pthread_mutex_unlock(j->m);
	return NULL;
}

/* Make the calling thread wait about ms on m, in a function of its own name. */
#define WAITER(name)                                                   \
	__attribute__((noinline)) static void name(pthread_mutex_t *m, int ms) \
	{                                                              \
		struct job j = { m, ms, 0 };                           \
		pthread_t t;                                           \
		pthread_create(&t, NULL, hold_for, &j);                \
		while (!atomic_load(&j.held))                          \
			sched_yield();                                 \
		pthread_mutex_lock(m);                                 \
		pthread_mutex_unlock(m);                               \
		pthread_join(t, NULL);                                 \
		__asm__ volatile("" ::: "memory");                     \
	}

WAITER(big_user)
WAITER(table_user)
WAITER(heap_user)

int main(void)
{
	pthread_mutex_t *heap = malloc(sizeof *heap);
	pthread_mutex_init(heap, NULL);
	heap_user(heap, 5);
	table_user(&table[1], 25);
	big_user(&big_lock, 40);
	big_user(&big_lock, 40);
	pthread_mutex_destroy(heap);
	free(heap);
	puts("done");
	return 0;
}
