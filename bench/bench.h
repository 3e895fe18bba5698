/* bench.h - the timing skeleton of the bench/pair_*.c programs.
 *
 * A pair benchmark is a function that runs an operation n times. Run with no
 * argument, bench_report warms it up (n/10), times `reps` runs of n, and prints
 * "label<TAB>best ns per op" for scripts/bench, which runs every pair program
 * natively and under the shim and prints the ratios. Run with an iteration count
 * as argv[1], bench_fixed runs exactly that many, silently, for callgrind.
 */
#ifndef OTS_BENCH_H
#define OTS_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The best ns per operation of fn(n) over reps timed runs, after a warm-up. */
static inline double bench_best(void (*fn)(long), long n, int reps)
{
	fn(n / 10);
	double best = 1e30;
	for (int rep = 0; rep < reps; rep++) {
		double t0 = bench_now();
		fn(n);
		double ns = (bench_now() - t0) / n;
		if (ns < best)
			best = ns;
	}
	return best;
}

static inline void bench_report(const char *label, void (*fn)(long), long n, int reps)
{
	printf("%s\t%.3f\n", label, bench_best(fn, n, reps));
}

/* argv[1] given: run exactly that many operations and return 1 (main exits). */
static inline int bench_fixed(int argc, char **argv, void (*fn)(long))
{
	if (argc < 2)
		return 0;
	fn(atol(argv[1]));
	return 1;
}

#endif
