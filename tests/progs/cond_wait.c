/* cond_wait: condition waits of known length and every return path.
 * 1. A consumer waits in pthread_cond_wait; the producer signals after
 *    WAIT_MS (argv[1], default 50) and keeps the mutex REACQ_MS (30) more, so
 *    the wait (which includes re-acquiring the mutex) lasts about 80 ms.
 * 2. pthread_cond_timedwait and pthread_cond_clockwait that time out (30 ms,
 *    20 ms), one with a bad clock (EINVAL), one with a bad timeout (EINVAL),
 *    one with a timeout already past (ETIMEDOUT, no wait).
 * 3. signal and broadcast with no waiter.
 * Prints return codes, the tids and the cond and mutex addresses. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;
static int ready, waiting;
static int wait_ms = 50;

static const char *en(int e)
{
	static char b[16];
	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPERM: return "EPERM";
	}
	snprintf(b, sizeof b, "%d", e);
	return b;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static struct timespec in_ms(clockid_t clk, int ms)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static void *consumer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&queue_lock);
	waiting = 1;
	int r = 0;
	while (!ready && r == 0)
		r = pthread_cond_wait(&queue_ready, &queue_lock);
	pthread_mutex_unlock(&queue_lock);
	printf("consumer %ld ret %s\n", (long)syscall(SYS_gettid), en(r));
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		wait_ms = atoi(argv[1]);
	printf("cond %p mutex %p\n", (void *)&queue_ready, (void *)&queue_lock);
	pthread_t t;
	pthread_create(&t, NULL, consumer, NULL);
	for (;;) { /* until the consumer sleeps in the wait */
		pthread_mutex_lock(&queue_lock);
		int w = waiting;
		pthread_mutex_unlock(&queue_lock);
		if (w)
			break;
		usleep(200);
	}
	sleep_ms(wait_ms);
	pthread_mutex_lock(&queue_lock);
	ready = 1;
	pthread_cond_signal(&queue_ready);
	sleep_ms(30); /* the consumer must re-acquire the mutex: part of its wait */
	pthread_mutex_unlock(&queue_lock);
	pthread_join(t, NULL);

	pthread_mutex_lock(&queue_lock);
	struct timespec ts = in_ms(CLOCK_REALTIME, 30);
	printf("timedwait 30ms: %s\n", en(pthread_cond_timedwait(&queue_ready, &queue_lock, &ts)));
	ts = in_ms(CLOCK_MONOTONIC, 20);
	printf("clockwait monotonic 20ms: %s\n",
	       en(pthread_cond_clockwait(&queue_ready, &queue_lock, CLOCK_MONOTONIC, &ts)));
	printf("clockwait bad clock: %s\n",
	       en(pthread_cond_clockwait(&queue_ready, &queue_lock, 12345, &ts)));
	struct timespec bad = { 0, 2000000000L };
	printf("timedwait bad nsec: %s\n", en(pthread_cond_timedwait(&queue_ready, &queue_lock, &bad)));
	struct timespec past = { 1, 0 };
	printf("timedwait past: %s\n", en(pthread_cond_timedwait(&queue_ready, &queue_lock, &past)));
	pthread_mutex_unlock(&queue_lock);
	printf("signal no waiter: %s\n", en(pthread_cond_signal(&queue_ready)));
	printf("broadcast no waiter: %s\n", en(pthread_cond_broadcast(&queue_ready)));
	printf("main %ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	return 0;
}
