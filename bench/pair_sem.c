/* pair_sem: uncontended sem_wait+sem_post (the value never reaches zero), ns
 * per pair. With an iteration count argument: exactly that many, silently. */
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

static sem_t s;

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
	if (bench_fixed(argc, argv, pairs))
		return 0;
	bench_report("sem_wait+sem_post (uncontended)", pairs, 10000000, 5);
	return 0;
}
