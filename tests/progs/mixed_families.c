/* mixed_families: one wait of about WAIT_MS (argv[1], default 8) on every
 * primitive family the shim hooks, one after the other: mutex, rwlock (read
 * and write), cond, sem, once, join, barrier, spin. Used to check that
 * OTCSHIM_HOOKS turns each family on and off. Prints one line per family
 * with the results, identical natively and under the shim. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int wait_ms = 8;
static _Atomic int step;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t cv_mu = PTHREAD_MUTEX_INITIALIZER;
static int cv_flag, cv_waiting;
static sem_t se;
static pthread_once_t on = PTHREAD_ONCE_INIT;
static _Atomic int in_once;
static pthread_barrier_t ba;
static pthread_spinlock_t sp;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void wait_step(int s)
{
	while (step < s)
		usleep(50);
}

static void slow_init(void)
{
	in_once = 1;
	sleep_ms(wait_ms);
}

/* The helper thread holds or arms each primitive in turn; main waits. */
static void *helper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	step = 1;
	sleep_ms(wait_ms);
	pthread_mutex_unlock(&mu);

	wait_step(2);
	pthread_rwlock_wrlock(&rw);
	step = 3;
	sleep_ms(wait_ms);
	pthread_rwlock_unlock(&rw);

	wait_step(4);
	pthread_rwlock_rdlock(&rw);
	step = 5;
	sleep_ms(wait_ms);
	pthread_rwlock_unlock(&rw);

	wait_step(6);
	for (;;) {
		pthread_mutex_lock(&cv_mu);
		int w = cv_waiting;
		pthread_mutex_unlock(&cv_mu);
		if (w)
			break;
		usleep(50);
	}
	sleep_ms(wait_ms);
	pthread_mutex_lock(&cv_mu);
	cv_flag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cv_mu);

	wait_step(7);
	sleep_ms(wait_ms);
	sem_post(&se);

	wait_step(8);
	pthread_once(&on, slow_init);

	wait_step(9);
	sleep_ms(wait_ms);
	int b = pthread_barrier_wait(&ba);

	wait_step(10);
	pthread_spin_lock(&sp);
	step = 11;
	sleep_ms(wait_ms);
	pthread_spin_unlock(&sp);
	return (void *)(long)(b == PTHREAD_BARRIER_SERIAL_THREAD);
}

static void *short_lived(void *arg)
{
	sleep_ms(wait_ms);
	return arg;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		wait_ms = atoi(argv[1]);
	sem_init(&se, 0, 0);
	pthread_barrier_init(&ba, NULL, 2);
	pthread_spin_init(&sp, 0);
	pthread_t h, j;
	pthread_create(&h, NULL, helper, NULL);

	wait_step(1);
	printf("mutex %d\n", pthread_mutex_lock(&mu));
	pthread_mutex_unlock(&mu);
	step = 2;

	wait_step(3);
	printf("rwlock read %d\n", pthread_rwlock_rdlock(&rw));
	pthread_rwlock_unlock(&rw);
	step = 4;

	wait_step(5);
	printf("rwlock write %d\n", pthread_rwlock_wrlock(&rw));
	pthread_rwlock_unlock(&rw);
	step = 6;

	pthread_mutex_lock(&cv_mu);
	cv_waiting = 1;
	int r = 0;
	while (!cv_flag && r == 0)
		r = pthread_cond_wait(&cv, &cv_mu);
	pthread_mutex_unlock(&cv_mu);
	printf("cond %d\n", r);
	step = 7;

	printf("sem %d\n", sem_wait(&se));

	step = 8;
	while (!in_once)
		usleep(50);
	printf("once %d\n", pthread_once(&on, slow_init));

	step = 9;
	int b = pthread_barrier_wait(&ba);

	step = 10;
	wait_step(11);
	printf("spin %d\n", pthread_spin_lock(&sp));
	pthread_spin_unlock(&sp);

	void *rv;
	pthread_create(&j, NULL, short_lived, (void *)3);
	r = pthread_join(j, &rv);
	printf("join %d value %ld\n", r, (long)rv);
	pthread_join(h, &rv);
	printf("barrier serial threads %ld\n", (long)rv + (b == PTHREAD_BARRIER_SERIAL_THREAD));
	fflush(stdout);
	return 0;
}
