/* rwlock_wait: two waits of known length on one rwlock.
 * Phase 1: a writer holds the lock for HOLD_MS (argv[1], default 50) while a
 * reader waits in pthread_rwlock_rdlock. Phase 2: a reader holds it for
 * HOLD_MS while a writer waits in pthread_rwlock_wrlock. Prints the tids and
 * the lock address so the test can find and check the spans. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static _Atomic int held;
static int hold_ms = 50;

static long tid(void)
{
	return syscall(SYS_gettid);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *hold(void *write)
{
	if (write)
		pthread_rwlock_wrlock(&table_lock);
	else
		pthread_rwlock_rdlock(&table_lock);
	printf("%s-holder %ld\n", write ? "writer" : "reader", tid());
	held = 1;
	sleep_ms(hold_ms);
	pthread_rwlock_unlock(&table_lock);
	return NULL;
}

static void *wait_for(void *write)
{
	while (!held)
		usleep(100);
	int r = write ? pthread_rwlock_wrlock(&table_lock) : pthread_rwlock_rdlock(&table_lock);
	printf("%s-waiter %ld ret %d\n", write ? "writer" : "reader", tid(), r);
	pthread_rwlock_unlock(&table_lock);
	return NULL;
}

static void phase(int holder_writes)
{
	pthread_t a, b;
	held = 0;
	pthread_create(&a, NULL, hold, holder_writes ? (void *)1 : NULL);
	pthread_create(&b, NULL, wait_for, holder_writes ? NULL : (void *)1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		hold_ms = atoi(argv[1]);
	printf("lock %p\n", (void *)&table_lock);
	phase(1); /* writer holds, reader waits */
	phase(0); /* reader holds, writer waits */
	fflush(stdout);
	return 0;
}
