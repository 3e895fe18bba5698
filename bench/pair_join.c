/* pair_join: pthread_create + pthread_join of a thread that returns at
 * once, ns per pair. With an iteration count argument: exactly that many,
 * silently. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *nothing(void *arg)
{
	return arg;
}

__attribute__((noinline)) static void pairs(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, nothing, NULL) == 0)
			pthread_join(t, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		pairs(atol(argv[1]));
		return 0;
	}
	long n = 4000;
	pairs(n / 10);
	double best = 1e30;
	for (int rep = 0; rep < 7; rep++) {
		double t0 = now();
		pairs(n);
		double ns = (now() - t0) / n;
		if (ns < best)
			best = ns;
	}
	printf("pthread_create+join\t%.3f\n", best);
	return 0;
}
