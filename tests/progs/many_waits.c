/* many_waits N: two threads hand a mutex back and forth N times with a short
 * hold, producing N contended waits (used for min-wait and pool-full tests). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static int n = 100;

static void *side(void *arg)
{
	(void)arg;
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&lk);
		usleep(300);
		pthread_mutex_unlock(&lk);
		usleep(50);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		n = atoi(argv[1]);
	pthread_t a, b;
	pthread_create(&a, NULL, side, NULL);
	pthread_create(&b, NULL, side, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	puts("done");
	return 0;
}
