/* join_wait: joins of known length and every join error path.
 * 1. main joins a worker that lives WAIT_MS (argv[1], default 50).
 * 2. timedjoin and clockjoin that time out, tryjoin of a running thread
 *    (EBUSY), join of itself (EDEADLK), of a detached thread (EINVAL), a
 *    clockjoin with a bad clock (EINVAL), timed/clock joins of a thread
 *    that already ended, a join with the return value.
 * Prints return codes and tids. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int wait_ms = 50;
static _Atomic long worker_tid;

static const char *en(int e)
{
	static char b[16];
	switch (e) {
	case 0: return "0";
	case EBUSY: return "EBUSY";
	case EDEADLK: return "EDEADLK";
	case EINVAL: return "EINVAL";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ESRCH: return "ESRCH";
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

static void *worker(void *arg)
{
	worker_tid = syscall(SYS_gettid);
	sleep_ms((int)(long)arg);
	return (void *)42;
}

static void *quick(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		wait_ms = atoi(argv[1]);
	pthread_t t;
	void *rv = NULL;
	pthread_create(&t, NULL, worker, (void *)(long)wait_ms);
	int r = pthread_join(t, &rv);
	printf("join: %s value %ld\n", en(r), (long)rv);
	printf("worker %ld\n", worker_tid);

	pthread_create(&t, NULL, worker, (void *)80L);
	printf("tryjoin running: %s\n", en(pthread_tryjoin_np(t, NULL)));
	struct timespec ts = in_ms(CLOCK_REALTIME, 30);
	printf("timedjoin 30ms: %s\n", en(pthread_timedjoin_np(t, NULL, &ts)));
	ts = in_ms(CLOCK_MONOTONIC, 20);
	printf("clockjoin monotonic 20ms: %s\n", en(pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &ts)));
	printf("clockjoin bad clock: %s\n", en(pthread_clockjoin_np(t, NULL, 12345, &ts)));
	ts = in_ms(CLOCK_REALTIME, 2000);
	printf("timedjoin until end: %s\n", en(pthread_timedjoin_np(t, &rv, &ts)));
	printf("value %ld\n", (long)rv);

	printf("join self: %s\n", en(pthread_join(pthread_self(), NULL)));
	printf("tryjoin self: %s\n", en(pthread_tryjoin_np(pthread_self(), NULL)));

	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_create(&t, &a, worker, (void *)60L);
	printf("join detached: %s\n", en(pthread_join(t, NULL)));
	pthread_attr_destroy(&a);

	pthread_create(&t, NULL, quick, (void *)7L);
	sleep_ms(20);
	printf("tryjoin ended: %s\n", en(pthread_tryjoin_np(t, &rv)));
	printf("value %ld\n", (long)rv);
	pthread_create(&t, NULL, quick, (void *)8L);
	sleep_ms(20);
	struct timespec bad = { 0, -1 };
	printf("timedjoin ended, bad nsec: %s\n", en(pthread_timedjoin_np(t, &rv, &bad)));
	pthread_create(&t, NULL, quick, (void *)9L);
	sleep_ms(20);
	printf("clockjoin ended, bad clock: %s\n", en(pthread_clockjoin_np(t, &rv, 12345, &bad)));
	printf("clockjoin ended: %s\n", en(pthread_clockjoin_np(t, &rv, CLOCK_MONOTONIC, NULL)));
	printf("value %ld\n", (long)rv);
	sleep_ms(70); /* the detached worker ends */
	printf("main %ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	return 0;
}
