/* main_pthread_exit: a daemon-style main that ends with pthread_exit() while a
 * worker still runs. The worker finishes about 100 ms later and prints; when
 * it returns, the process has no thread left and glibc ends it with exit(0),
 * which runs the atexit handler (it prints too). Natively: status 0, all three
 * lines. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_int worker_done;

static void at_exit_handler(void)
{
	printf("atexit: worker done=%d\n", atomic_load(&worker_done));
}

static void *worker(void *arg)
{
	(void)arg;
	usleep(100000);
	printf("worker: finished after main's pthread_exit\n");
	atomic_store(&worker_done, 1);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(at_exit_handler);
	pthread_t t;
	if (pthread_create(&t, NULL, worker, NULL) != 0)
		return 1;
	printf("main: pthread_exit with the worker running\n");
	pthread_exit(NULL);
}
