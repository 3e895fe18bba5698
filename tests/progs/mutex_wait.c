/* mutex_wait: a holder thread keeps a mutex for HOLD_MS (argv[1], default 50)
 * while the main thread's second worker waits for it. Prints the waiter's tid
 * so the test can find its span. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int held;
static int hold_ms = 50;

static void *holder(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cache_lock);
	held = 1;
	struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&cache_lock);
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	while (!held)
		usleep(100);
	pthread_mutex_lock(&cache_lock);
	printf("waiter %ld\n", (long)syscall(SYS_gettid));
	pthread_mutex_unlock(&cache_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		hold_ms = atoi(argv[1]);
	pthread_t a, b;
	printf("holder-start\n");
	pthread_create(&a, NULL, holder, NULL);
	pthread_create(&b, NULL, waiter, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	fflush(stdout);
	return 0;
}
