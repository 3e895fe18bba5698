/* pair_mutex: uncontended pthread_mutex_lock+unlock, ns per pair.
 * Run natively and under the shim by scripts/bench, which prints the ratio.
 * Output: one "metric<TAB>ns_per_op" line per metric.
 * With an iteration count argument it runs exactly that many pairs and prints
 * nothing (for callgrind instruction counts). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static void pairs(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&m);
		__asm__ volatile("" ::: "memory");
		pthread_mutex_unlock(&m);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		pairs(atol(argv[1]));
		return 0;
	}
	long n = 20000000;
	pairs(n / 10); /* warm up */
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now();
		pairs(n);
		double ns = (now() - t0) / n;
		if (ns < best)
			best = ns;
	}
	printf("mutex lock+unlock (uncontended)\t%.3f\n", best);
	return 0;
}
