/* cancel_blocked: threads cancelled while blocked inside hooked calls that
 * are cancellation points: pthread_cond_wait, sem_wait, pthread_join,
 * pthread_cond_timedwait, sem_timedwait, pthread_clockjoin_np. Each target's
 * cleanup handler then takes a mutex that main still holds for GATE_MS (20),
 * a contended wait that the shim records only if its per-thread state came
 * through the unwinding intact. Afterwards main itself makes a contended wait
 * too. Prints, in a fixed order, what every join returned and the tids. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NT 6

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static sem_t s;
static pthread_t sleeper;
static _Atomic long tids[NT];
static _Atomic int blocked[NT];
static _Atomic int release_sleeper;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *sleeper_main(void *arg)
{
	(void)arg;
	while (!release_sleeper)
		sleep_ms(1);
	return NULL;
}

static void unlock_m(void *arg)
{
	(void)arg;
	pthread_mutex_unlock(&m);
}

static void take_gate(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate); /* main holds it: a contended wait */
	pthread_mutex_unlock(&gate);
}

static struct timespec in_s(clockid_t clk, int s)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_sec += s;
	return ts;
}

static void *target(void *arg)
{
	long i = (long)arg;
	tids[i] = syscall(SYS_gettid);
	pthread_cleanup_push(take_gate, NULL);
	struct timespec ts;
	switch (i) {
	case 0:
	case 3:
		pthread_mutex_lock(&m);
		pthread_cleanup_push(unlock_m, NULL);
		blocked[i] = 1;
		ts = in_s(CLOCK_REALTIME, 10);
		for (;;)
			if (i == 0)
				pthread_cond_wait(&c, &m);
			else
				pthread_cond_timedwait(&c, &m, &ts);
		pthread_cleanup_pop(1);
		break;
	case 1:
		blocked[i] = 1;
		sem_wait(&s);
		break;
	case 4:
		blocked[i] = 1;
		ts = in_s(CLOCK_REALTIME, 10);
		sem_timedwait(&s, &ts);
		break;
	case 2:
		blocked[i] = 1;
		pthread_join(sleeper, NULL);
		break;
	case 5:
		blocked[i] = 1;
		ts = in_s(CLOCK_MONOTONIC, 10);
		pthread_clockjoin_np(sleeper, NULL, CLOCK_MONOTONIC, &ts);
		break;
	}
	pthread_cleanup_pop(0);
	return (void *)1;
}

int main(void)
{
	static const char *what[NT] = { "cond_wait", "sem_wait", "join", "cond_timedwait",
					"sem_timedwait", "clockjoin" };
	sem_init(&s, 0, 0);
	pthread_create(&sleeper, NULL, sleeper_main, NULL);
	for (int round = 0; round < 2; round++) {
		/* round 0: cond_wait, sem_wait, join; round 1: the timed variants
		 * (a thread may not be joined by two threads at once) */
		pthread_t t[NT];
		int first = round * 3;
		pthread_mutex_lock(&gate);
		for (long i = first; i < first + 3; i++)
			pthread_create(&t[i], NULL, target, (void *)i);
		for (int i = first; i < first + 3; i++)
			while (!blocked[i])
				sleep_ms(1);
		sleep_ms(5); /* let them sleep in the kernel */
		for (int i = first; i < first + 3; i++)
			pthread_cancel(t[i]);
		sleep_ms(20);
		pthread_mutex_unlock(&gate);
		for (int i = first; i < first + 3; i++) {
			void *rv;
			int r = pthread_join(t[i], &rv);
			printf("%s: join %d, %s, tid %ld\n", what[i], r,
			       rv == PTHREAD_CANCELED ? "cancelled" : "returned", tids[i]);
		}
	}
	release_sleeper = 1;
	pthread_join(sleeper, NULL);
	/* main's own state is intact too: one more contended wait */
	pthread_mutex_lock(&m);
	pthread_t t2;
	pthread_create(&t2, NULL, target, (void *)0);
	while (!blocked[0])
		sleep_ms(1);
	pthread_mutex_unlock(&m);
	sleep_ms(1);
	pthread_cancel(t2);
	pthread_join(t2, NULL);
	printf("main %ld done\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	return 0;
}
