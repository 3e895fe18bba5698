/* pair_once: pthread_once after its routine ran, ns per call. With an
 * iteration count argument: exactly that many calls, silently. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int inits;

static void init(void)
{
	inits++;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static void calls(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_once(&once, init);
		__asm__ volatile("" ::: "memory");
	}
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		calls(atol(argv[1]));
		return inits != 1;
	}
	long n = 20000000;
	calls(n / 10);
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now();
		calls(n);
		double ns = (now() - t0) / n;
		if (ns < best)
			best = ns;
	}
	printf("pthread_once (after init)\t%.3f\n", best);
	return inits != 1;
}
