/* pair_mutex: uncontended pthread_mutex_lock+unlock, ns per pair.
 * Run natively and under the shim by scripts/bench, which prints the ratio.
 * Output: one "metric<TAB>ns_per_op" line per metric.
 * With an iteration count argument it runs exactly that many pairs and prints
 * nothing (for callgrind instruction counts). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

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
	if (bench_fixed(argc, argv, pairs))
		return 0;
	bench_report("mutex lock+unlock (uncontended)", pairs, 20000000, 5);
	return 0;
}
