/* cancel_unwind: a thread leaves through pthread_exit, and another through
 * cancellation, from inside a pthread_once routine: the unwinding passes
 * glibc's own cleanup frames (pthread_once's), whose handlers libgcc_s runs.
 * libgcc_s is loaded only then (a C program does not link it), so its
 * symbol lookups go through the whole process, shim included. Prints what
 * each thread returned and whether the once controls were reset. */
#include <pthread.h>
#include <stdio.h>

static pthread_once_t exit_once = PTHREAD_ONCE_INIT, cancel_once = PTHREAD_ONCE_INIT;
static int exit_runs, cancel_runs;

static void exit_init(void)
{
	if (++exit_runs == 1)
		pthread_exit((void *)3);
}

static void cancel_init(void)
{
	if (++cancel_runs == 1) {
		pthread_cancel(pthread_self());
		pthread_testcancel();
	}
}

static void *exiter(void *arg)
{
	(void)arg;
	pthread_once(&exit_once, exit_init);
	return (void *)1;
}

static void *cancelled(void *arg)
{
	(void)arg;
	pthread_once(&cancel_once, cancel_init);
	return (void *)1;
}

int main(void)
{
	pthread_t t;
	void *rv;
	pthread_create(&t, NULL, exiter, NULL);
	pthread_join(t, &rv);
	printf("exiter returned %ld\n", (long)rv);
	pthread_create(&t, NULL, cancelled, NULL);
	pthread_join(t, &rv);
	printf("cancelled: %s\n", rv == PTHREAD_CANCELED ? "yes" : "no");
	pthread_once(&exit_once, exit_init);
	pthread_once(&cancel_once, cancel_init);
	printf("runs: exit %d cancel %d\n", exit_runs, cancel_runs);
	return 0;
}
