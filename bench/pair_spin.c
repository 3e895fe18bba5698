/* pair_spin: uncontended pthread_spin_lock+unlock, ns per pair. With an
 * iteration count argument: exactly that many, silently. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_spinlock_t sp;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static void pairs(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_spin_lock(&sp);
		__asm__ volatile("" ::: "memory");
		pthread_spin_unlock(&sp);
	}
}

int main(int argc, char **argv)
{
	pthread_spin_init(&sp, PTHREAD_PROCESS_PRIVATE);
	if (argc > 1) {
		pairs(atol(argv[1]));
		return 0;
	}
	long n = 20000000;
	pairs(n / 10);
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now();
		pairs(n);
		double ns = (now() - t0) / n;
		if (ns < best)
			best = ns;
	}
	printf("spin lock+unlock (uncontended)\t%.3f\n", best);
	return 0;
}
