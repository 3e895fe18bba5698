/* pair_rwlock: uncontended pthread_rwlock rdlock+unlock and wrlock+unlock,
 * ns per pair. Run natively and under the shim by scripts/bench, which
 * prints the ratio. With an iteration count argument it runs exactly that
 * many pairs of each and prints nothing (for callgrind instruction counts). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static void reads(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_rwlock_rdlock(&rw);
		__asm__ volatile("" ::: "memory");
		pthread_rwlock_unlock(&rw);
	}
}

__attribute__((noinline)) static void writes(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_rwlock_wrlock(&rw);
		__asm__ volatile("" ::: "memory");
		pthread_rwlock_unlock(&rw);
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
		reads(atol(argv[1]));
		writes(atol(argv[1]));
		return 0;
	}
	long n = 10000000;
	printf("rwlock rdlock+unlock (uncontended)\t%.3f\n", best_of(reads, n));
	printf("rwlock wrlock+unlock (uncontended)\t%.3f\n", best_of(writes, n));
	return 0;
}
