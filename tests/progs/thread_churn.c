/* thread_churn: many short-lived threads, as fast as they can be made:
 * rounds of BURST threads created and then joined (argv[1] threads in all,
 * default 20000; argv[2] = burst, default 32). Prints how many ran. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static atomic_int ran;

static void *work(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	int total = argc > 1 ? atoi(argv[1]) : 20000;
	int burst = argc > 2 ? atoi(argv[2]) : 32;
	pthread_t *t = calloc((size_t)burst, sizeof *t);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int done = 0; done < total; done += burst) {
		int k = total - done < burst ? total - done : burst;
		for (int i = 0; i < k; i++)
			if (pthread_create(&t[i], NULL, work, NULL))
				return 1;
		for (int i = 0; i < k; i++)
			pthread_join(t[i], NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	fprintf(stderr, "thread_churn: %.0f threads/s\n", total / s);
	printf("ran %d\n", atomic_load(&ran));
	free(t);
	return 0;
}
