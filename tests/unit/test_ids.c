/* Unit tests for shim/ids.c: non-zero, distinct, per-thread and per-process. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shim/ots.h"

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

Test(ids, span_ids_nonzero_and_distinct)
{
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof *v);
	for (int i = 0; i < N; i++) {
		v[i] = ots_ids_span();
		cr_assert_neq(v[i], 0);
	}
	qsort(v, N, sizeof *v, cmp64);
	for (int i = 1; i < N; i++)
		cr_assert_neq(v[i], v[i - 1], "duplicate span id");
	free(v);
}

Test(ids, trace_ids_nonzero_and_distinct)
{
	uint8_t a[16], b[16], zero[16] = { 0 };
	for (int i = 0; i < 10000; i++) {
		ots_ids_trace(a);
		ots_ids_trace(b);
		cr_assert_neq(memcmp(a, zero, 16), 0);
		cr_assert_neq(memcmp(a, b, 16), 0);
	}
}

static void *thread_ids(void *out)
{
	uint64_t *o = out;
	for (int i = 0; i < 1000; i++)
		o[i] = ots_ids_span();
	return NULL;
}

Test(ids, threads_do_not_share_sequences)
{
	uint64_t a[1000], b[1000];
	pthread_t t1, t2;
	pthread_create(&t1, NULL, thread_ids, a);
	pthread_create(&t2, NULL, thread_ids, b);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	int same = 0;
	for (int i = 0; i < 1000; i++)
		for (int j = 0; j < 1000; j++)
			same += a[i] == b[j];
	cr_assert_eq(same, 0);
}

Test(ids, fork_child_reseeds)
{
	(void)ots_ids_span(); /* seed the parent */
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		ots_ids_reseed(); /* what the atfork child handler does */
		uint64_t v = ots_ids_span();
		(void)!write(p[1], &v, sizeof v);
		_exit(0);
	}
	uint64_t mine = ots_ids_span(), theirs = 0;
	cr_assert_eq(read(p[0], &theirs, sizeof theirs), (ssize_t)sizeof theirs);
	waitpid(pid, NULL, 0);
	cr_assert_neq(mine, theirs, "parent and child must not mint the same next id");
}

Test(ids, unix_clock_offset)
{
	ots_ids_clock_init();
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t real = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	uint64_t ours = ots_unix_ns(ots_mono_ns());
	uint64_t diff = ours > real ? ours - real : real - ours;
	cr_assert_lt(diff, 50000000ull, "unix time from monotonic within 50 ms");
}
