/* pair_cond: pthread_cond_signal and pthread_cond_broadcast with no waiter,
 * ns per call. With an iteration count argument: exactly that many of each,
 * silently. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_cond_t c = PTHREAD_COND_INITIALIZER;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static void signals(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_cond_signal(&c);
		__asm__ volatile("" ::: "memory");
	}
}

__attribute__((noinline)) static void broadcasts(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_cond_broadcast(&c);
		__asm__ volatile("" ::: "memory");
	}
}

static double best_of(void (*f)(long), long n)
{
	f(n / 10);
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now();
		f(n);
		double ns = (now() - t0) / n;
		if (ns < best)
			best = ns;
	}
	return best;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		signals(atol(argv[1]));
		broadcasts(atol(argv[1]));
		return 0;
	}
	long n = 20000000;
	printf("pthread_cond_signal (no waiter)\t%.3f\n", best_of(signals, n));
	printf("pthread_cond_broadcast (no waiter)\t%.3f\n", best_of(broadcasts, n));
	return 0;
}
