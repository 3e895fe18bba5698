/* exit_thread: a non-main thread calls exit(5) while main is blocked on a
 * mutex the exiting thread holds. The wait never ends; the process must still
 * exit promptly with status 5 and the spans recorded so far must be written. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int held;

static void *quitter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lk);
	held = 1;
	usleep(30000);
	pthread_mutex_unlock(&lk);
	usleep(1000);
	pthread_mutex_lock(&lk);
	usleep(30000);
	exit(5);
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, quitter, NULL);
	while (!held)
		usleep(200);
	pthread_mutex_lock(&lk); /* waits ~30 ms: recorded */
	usleep(5000);
	pthread_mutex_unlock(&lk);
	usleep(3000);
	pthread_mutex_lock(&lk); /* blocks until exit */
	return 0;
}
