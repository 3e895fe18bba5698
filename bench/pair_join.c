/* pair_join: pthread_create + pthread_join of a thread that returns at
 * once, ns per pair. With an iteration count argument: exactly that many,
 * silently. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

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
	if (bench_fixed(argc, argv, pairs))
		return 0;
	bench_report("pthread_create+join", pairs, 4000, 7);
	return 0;
}
