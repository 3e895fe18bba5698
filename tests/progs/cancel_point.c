/* cancel_point: a deferred cancel that is pending while a thread waits for a
 * mutex must act at the thread's next cancellation point, not inside the
 * mutex call (pthread_mutex_lock is not one). The thread records that it
 * came back from the lock holding it, then calls pthread_testcancel. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static atomic_int acquired, waiting;

static void *waiter(void *arg)
{
	(void)arg;
	atomic_store(&waiting, 1);
	pthread_mutex_lock(&m);
	atomic_store(&acquired, 1);
	pthread_mutex_unlock(&m);
	pthread_testcancel();
	atomic_store(&acquired, 2); /* never: the cancel acts just above */
	return NULL;
}

int main(void)
{
	pthread_t t;
	void *res;
	struct timespec ms50 = { 0, 50000000 };
	pthread_mutex_lock(&m);
	pthread_create(&t, NULL, waiter, NULL);
	while (!atomic_load(&waiting))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	nanosleep(&ms50, NULL); /* it is blocked in the lock now */
	pthread_cancel(t);
	nanosleep(&ms50, NULL);
	pthread_mutex_unlock(&m);
	pthread_join(t, &res);
	int relock = pthread_mutex_trylock(&m);
	printf("acquired %d cancelled %d relock %d\n", atomic_load(&acquired),
	       res == PTHREAD_CANCELED, relock);
	return 0;
}
