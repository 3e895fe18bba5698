/* pair_spin: uncontended pthread_spin_lock+unlock, ns per pair. With an
 * iteration count argument: exactly that many, silently. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

static pthread_spinlock_t sp;

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
	if (bench_fixed(argc, argv, pairs))
		return 0;
	bench_report("spin lock+unlock (uncontended)", pairs, 20000000, 5);
	return 0;
}
