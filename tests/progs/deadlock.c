/* deadlock: threads that wait for each other for ever, and a main thread
 * that looks on for 1.5 s and then exits 0 (the other threads die with the
 * process). MODE abba: two threads take lock_a and lock_b in opposite orders;
 * self: a thread relocks a normal mutex it holds; join: two threads join
 * each other. Prints "main exits" before exiting. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both;
static pthread_t peer[2];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *a_then_b(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock_a);
	pthread_barrier_wait(&both);
	pthread_mutex_lock(&lock_b);
	return NULL;
}

static void *b_then_a(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock_b);
	pthread_barrier_wait(&both);
	pthread_mutex_lock(&lock_a);
	return NULL;
}

static void *relock(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock_a);
	pthread_mutex_lock(&lock_a);
	return NULL;
}

static void *join_peer(void *arg)
{
	long me = (long)arg;
	pthread_barrier_wait(&both); /* both handles are set (main is the third) */
	pthread_join(peer[1 - me], NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "abba";
	pthread_t t;
	pthread_barrier_init(&both, NULL, 2);
	if (!strcmp(mode, "abba")) {
		pthread_create(&t, NULL, a_then_b, NULL);
		pthread_create(&t, NULL, b_then_a, NULL);
	} else if (!strcmp(mode, "self")) {
		pthread_create(&t, NULL, relock, NULL);
	} else {
		pthread_barrier_destroy(&both);
		pthread_barrier_init(&both, NULL, 3);
		pthread_create(&peer[0], NULL, join_peer, (void *)0L);
		pthread_create(&peer[1], NULL, join_peer, (void *)1L);
		pthread_barrier_wait(&both);
	}
	sleep_ms(1500);
	puts("main exits");
	fflush(stdout);
	exit(0);
}
