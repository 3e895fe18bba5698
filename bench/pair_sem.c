/* pair_sem: uncontended sem_wait+sem_post (the value never reaches zero), ns
 * per pair. With an iteration count argument: exactly that many, silently. */
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static sem_t s;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static void pairs(long n)
{
	for (long i = 0; i < n; i++) {
		sem_wait(&s);
		__asm__ volatile("" ::: "memory");
		sem_post(&s);
	}
}

int main(int argc, char **argv)
{
	sem_init(&s, 0, 1);
	if (argc > 1) {
		pairs(atol(argv[1]));
		return 0;
	}
	long n = 10000000;
	pairs(n / 10);
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now();
		pairs(n);
		double ns = (now() - t0) / n;
		if (ns < best)
			best = ns;
	}
	printf("sem_wait+sem_post (uncontended)\t%.3f\n", best);
	return 0;
}
