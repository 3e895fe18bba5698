/* names.c - threads whose names the shim must carry as people know them:
 * one names itself with a name the kernel cuts inside a UTF-8 character
 * (15 bytes), one with a plain ASCII name, one keeps the name it inherited
 * from the process. Each waits once for a mutex main holds, so every thread
 * has a wait span and the report has a lock. Built with symbols; the test
 * strips a copy, so the start routines below have no name there. */
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <time.h>

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t ready;

static void contend(void)
{
	pthread_barrier_wait(&ready);
	pthread_mutex_lock(&names_lock);
	pthread_mutex_unlock(&names_lock);
}

/* "w\u00f6rker-" then Greek alphas: byte 15 is the second byte of an alpha */
static void *cut_worker(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "w\xc3\xb6rker-\xce\xb1\xce\xb1\xce\xb1\xce\xb1\xce\xb1", 0, 0, 0);
	contend();
	return NULL;
}

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "pool-7");
	contend();
	return NULL;
}

static void *plain_worker(void *arg)
{
	(void)arg;
	contend();
	return NULL;
}

int main(void)
{
	void *(*fn[3])(void *) = { cut_worker, pool_worker, plain_worker };
	pthread_t t[3];
	pthread_barrier_init(&ready, NULL, 4);
	pthread_mutex_lock(&names_lock);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, fn[i], NULL);
	pthread_barrier_wait(&ready);
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&names_lock);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	puts("names done");
	return 0;
}
