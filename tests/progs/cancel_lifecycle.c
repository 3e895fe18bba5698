/* cancel_lifecycle: the thread lifecycle calls the shim hooks besides create:
 * pthread_setname_np (by the thread itself and by another thread, and a name
 * too long: ERANGE), pthread_detach (twice: EINVAL), pthread_exit with a
 * value, pthread_cancel of a thread that has cancellation disabled (the
 * request is noted, the thread returns normally), of a thread that already
 * ended, of a thread that dies of it, and of a thread cancelled right after
 * its creation (it dies at its first cancellation point). Prints every return code and the
 * tids. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic long tid_named_self, tid_named_other, tid_immune, tid_victim, tid_exiter,
	tid_early, tid_detached;
static _Atomic int go;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *named_self(void *arg)
{
	(void)arg;
	tid_named_self = syscall(SYS_gettid);
	int r = pthread_setname_np(pthread_self(), "ingest-0");
	int r2 = pthread_setname_np(pthread_self(), "a-name-far-too-long-for-linux");
	char buf[32];
	pthread_getname_np(pthread_self(), buf, sizeof buf);
	printf("setname self %d, too long %s, now %s\n", r, r2 == ERANGE ? "ERANGE" : "?", buf);
	return NULL;
}

static void *named_other(void *arg)
{
	(void)arg;
	tid_named_other = syscall(SYS_gettid);
	while (!go)
		sleep_ms(1);
	return NULL;
}

static void *immune(void *arg)
{
	(void)arg;
	tid_immune = syscall(SYS_gettid);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	while (!go)
		sleep_ms(1);
	sleep_ms(5);
	return (void *)5;
}

static void *victim(void *arg)
{
	(void)arg;
	tid_victim = syscall(SYS_gettid);
	for (;;)
		sleep_ms(1); /* nanosleep is a cancellation point */
	return NULL;
}

static void *early(void *arg)
{
	(void)arg;
	tid_early = syscall(SYS_gettid);
	for (;;)
		sleep_ms(1);
	return NULL;
}

static void *exiter(void *arg)
{
	(void)arg;
	tid_exiter = syscall(SYS_gettid);
	pthread_exit((void *)9);
}

static void *detached(void *arg)
{
	(void)arg;
	tid_detached = syscall(SYS_gettid);
	return NULL;
}

int main(void)
{
	pthread_t a, b, c, d, e, f;
	void *rv;
	pthread_create(&a, NULL, named_self, NULL);
	pthread_join(a, NULL);

	pthread_create(&b, NULL, named_other, NULL);
	sleep_ms(2);
	printf("setname other %d\n", pthread_setname_np(b, "flusher"));
	go = 0;
	pthread_create(&c, NULL, immune, NULL);
	while (!tid_immune)
		sleep_ms(1);
	printf("cancel immune %d\n", pthread_cancel(c));
	go = 1;
	pthread_join(b, NULL);
	pthread_join(c, &rv);
	printf("immune returned %ld\n", (long)rv);

	pthread_create(&d, NULL, victim, NULL);
	while (!tid_victim)
		sleep_ms(1);
	sleep_ms(10);
	printf("cancel victim %d\n", pthread_cancel(d));
	pthread_join(d, &rv);
	printf("victim %s\n", rv == PTHREAD_CANCELED ? "cancelled" : "returned");

	/* cancelled right after its creation, most likely before it ran */
	pthread_t g;
	pthread_create(&g, NULL, early, NULL);
	printf("cancel at once %d\n", pthread_cancel(g));
	pthread_join(g, &rv);
	printf("early %s\n", rv == PTHREAD_CANCELED ? "cancelled" : "returned");

	pthread_create(&e, NULL, exiter, NULL);
	sleep_ms(10);
	printf("cancel ended thread %d\n", pthread_cancel(e));
	pthread_join(e, &rv);
	printf("exiter returned %ld\n", (long)rv);

	pthread_create(&f, NULL, detached, NULL);
	printf("detach %d\n", pthread_detach(f));
	sleep_ms(10);
	printf("tids self %ld other %ld immune %ld victim %ld exiter %ld early %ld detached %ld\n",
	       tid_named_self, tid_named_other, tid_immune, tid_victim, tid_exiter, tid_early,
	       tid_detached);
	fflush(stdout);
	return 0;
}
