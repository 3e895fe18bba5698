/* segment_long: a program that runs RUN_MS (argv[1], default 450) with a
 * worker thread that lives the whole time and waits every ~25 ms (a
 * condition wait that times out), main waiting on a semaphore the same way,
 * and a short-lived thread created half way. Under OTCSHIM_SEGMENT=100ms the
 * shim cuts this into several traces. Prints the tids. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static _Atomic int stop;
static sem_t idle;
static int run_ms = 450;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
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

static void *ticker(void *arg)
{
	(void)arg;
	printf("ticker %ld\n", (long)syscall(SYS_gettid));
	pthread_mutex_lock(&m);
	while (!stop) {
		struct timespec ts = in_ms(CLOCK_REALTIME, 25);
		pthread_cond_timedwait(&never, &m, &ts);
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

static void *late(void *arg)
{
	(void)arg;
	printf("late %ld\n", (long)syscall(SYS_gettid));
	struct timespec ts = in_ms(CLOCK_REALTIME, 10);
	sem_timedwait(&idle, &ts);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		run_ms = atoi(argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sem_init(&idle, 0, 0);
	double t0 = now_ms();
	pthread_t t, l;
	int late_started = 0;
	pthread_create(&t, NULL, ticker, NULL);
	while (now_ms() - t0 < run_ms) {
		struct timespec ts = in_ms(CLOCK_REALTIME, 25);
		sem_timedwait(&idle, &ts);
		if (!late_started && now_ms() - t0 > run_ms / 2) {
			pthread_create(&l, NULL, late, NULL);
			late_started = 1;
		}
	}
	pthread_join(l, NULL);
	pthread_mutex_lock(&m);
	stop = 1;
	pthread_mutex_unlock(&m);
	pthread_join(t, NULL);
	printf("main %ld\n", (long)syscall(SYS_gettid));
	return 0;
}
