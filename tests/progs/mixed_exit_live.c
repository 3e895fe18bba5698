/* mixed_exit_live: main exits while two threads still run: one sleeping in a
 * loop, one blocked for good in sem_wait after a contended mutex wait of
 * ~20 ms. Prints their tids. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static sem_t never;
static _Atomic long sleeper_tid, blocked_tid;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *sleeper(void *arg)
{
	(void)arg;
	sleeper_tid = syscall(SYS_gettid);
	for (;;)
		sleep_ms(5);
	return NULL;
}

static void *blocked(void *arg)
{
	(void)arg;
	blocked_tid = syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "blocked-one");
	pthread_mutex_lock(&m); /* main holds it for 20 ms */
	pthread_mutex_unlock(&m);
	sem_wait(&never);
	return NULL;
}

int main(void)
{
	sem_init(&never, 0, 0);
	pthread_t a, b;
	pthread_mutex_lock(&m);
	pthread_create(&a, NULL, sleeper, NULL);
	pthread_create(&b, NULL, blocked, NULL);
	sleep_ms(20);
	pthread_mutex_unlock(&m);
	sleep_ms(10);
	printf("sleeper %ld\nblocked %ld\n", sleeper_tid, blocked_tid);
	fflush(stdout);
	exit(0);
}
