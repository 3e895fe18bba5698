/* stall: waits that go on. MODE cond: a thread waits on a condition variable
 * nobody signals for 1.5 s (main then signals it); MODE hold: a thread holds
 * stall_lock for 1.5 s, sleeping, while main waits for it; MODE brief: 200
 * short contended waits of about 1 ms each; MODE exit: main exits while a
 * thread still waits for the condition variable; MODE pool: three threads
 * wait 1.5 s on the one condition variable. Prints "done" and exits 0. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t stall_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stall_cond = PTHREAD_COND_INITIALIZER;
static int signalled;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *cond_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&stall_lock);
	while (!signalled)
		pthread_cond_wait(&stall_cond, &stall_lock);
	pthread_mutex_unlock(&stall_lock);
	return NULL;
}

static void *holder(void *arg)
{
	long ms = (long)arg;
	pthread_mutex_lock(&stall_lock);
	sleep_ms(ms);
	pthread_mutex_unlock(&stall_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "cond";
	pthread_t t;
	if (!strcmp(mode, "cond") || !strcmp(mode, "pool")) {
		int nt = !strcmp(mode, "pool") ? 3 : 1;
		pthread_t more[2];
		pthread_create(&t, NULL, cond_waiter, NULL);
		for (int i = 1; i < nt; i++)
			pthread_create(&more[i - 1], NULL, cond_waiter, NULL);
		sleep_ms(1500);
		pthread_mutex_lock(&stall_lock);
		signalled = 1;
		pthread_cond_broadcast(&stall_cond);
		pthread_mutex_unlock(&stall_lock);
		pthread_join(t, NULL);
		for (int i = 1; i < nt; i++)
			pthread_join(more[i - 1], NULL);
	} else if (!strcmp(mode, "hold")) {
		pthread_create(&t, NULL, holder, (void *)1500L);
		sleep_ms(100);
		pthread_mutex_lock(&stall_lock);
		pthread_mutex_unlock(&stall_lock);
		pthread_join(t, NULL);
	} else if (!strcmp(mode, "exit")) {
		pthread_create(&t, NULL, cond_waiter, NULL);
		sleep_ms(200);
	} else {
		for (int i = 0; i < 200; i++) {
			pthread_create(&t, NULL, holder, (void *)1L);
			sleep_ms(0);
			pthread_mutex_lock(&stall_lock);
			pthread_mutex_unlock(&stall_lock);
			pthread_join(t, NULL);
		}
	}
	puts("done");
	return 0;
}
