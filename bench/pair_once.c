/* pair_once: pthread_once after its routine ran, ns per call. With an
 * iteration count argument: exactly that many calls, silently. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int inits;

static void init(void)
{
	inits++;
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
	if (bench_fixed(argc, argv, calls))
		return inits != 1;
	bench_report("pthread_once (after init)", calls, 20000000, 5);
	return inits != 1;
}
