/* once_init: pthread_once with an init routine that takes INIT_MS (argv[1],
 * default 50). Thread A runs it; thread B calls pthread_once while A is in
 * the routine and waits. The routine makes a nested pthread_once call. Then
 * a second once control whose routine is cancelled the first time (glibc
 * resets the control and the next caller runs the routine again); argv[2]
 * "nocancel" leaves that part out. Prints the order of events and the tids. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static pthread_once_t nested_once = PTHREAD_ONCE_INIT;
static pthread_once_t flaky_once = PTHREAD_ONCE_INIT;
static _Atomic int in_init;
static int init_ms = 50, init_runs, nested_runs, flaky_runs;
static long runner_tid, waiter_tid;
static int runner_ret, waiter_ret, waiter_saw_runs;

static long tid(void)
{
	return syscall(SYS_gettid);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void nested_init(void)
{
	nested_runs++;
}

static void load_config(void)
{
	in_init = 1;
	init_runs++;
	pthread_once(&nested_once, nested_init);
	sleep_ms(init_ms);
}

static void *runner(void *arg)
{
	(void)arg;
	runner_tid = tid();
	runner_ret = pthread_once(&config_once, load_config);
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	while (!in_init)
		usleep(100);
	waiter_tid = tid();
	waiter_ret = pthread_once(&config_once, load_config);
	waiter_saw_runs = init_runs;
	return NULL;
}

static void flaky_init(void)
{
	flaky_runs++;
	if (flaky_runs == 1) {
		pthread_cancel(pthread_self());
		pthread_testcancel(); /* the routine dies here; glibc resets the once */
	}
}

static _Atomic long flaky_tid;

static void *flaky(void *arg)
{
	(void)arg;
	flaky_tid = tid();
	pthread_once(&flaky_once, flaky_init);
	return (void *)1; /* not reached the first time */
}

int main(int argc, char **argv)
{
	if (argc > 1)
		init_ms = atoi(argv[1]);
	printf("once %p\n", (void *)&config_once);
	pthread_t a, b;
	pthread_create(&a, NULL, runner, NULL);
	pthread_create(&b, NULL, waiter, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("runner %ld ret %d\n", runner_tid, runner_ret);
	printf("waiter %ld ret %d runs %d\n", waiter_tid, waiter_ret, waiter_saw_runs);
	for (int i = 0; i < 1000; i++)
		pthread_once(&config_once, load_config);
	printf("runs %d nested %d\n", init_runs, nested_runs);
	if (argc > 2 && !strcmp(argv[2], "nocancel"))
		return 0;

	void *rv;
	pthread_t c;
	pthread_create(&c, NULL, flaky, NULL);
	pthread_join(c, &rv);
	printf("flaky 1: %s, runs %d, tid %ld\n", rv == PTHREAD_CANCELED ? "cancelled" : "returned",
	       flaky_runs, (long)flaky_tid);
	pthread_create(&c, NULL, flaky, NULL);
	pthread_join(c, &rv);
	printf("flaky 2: %s, runs %d, tid %ld\n", rv == PTHREAD_CANCELED ? "cancelled" : "returned",
	       flaky_runs, (long)flaky_tid);
	int r = pthread_once(&flaky_once, flaky_init);
	printf("flaky 3: ret %d runs %d\n", r, flaky_runs);
	fflush(stdout);
	return 0;
}
