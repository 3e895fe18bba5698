/* pair_mixed: a 4-thread workload that uses every hooked family the way a
 * server does: per-thread locks taken often (uncontended), a shared mutex
 * every 16th iteration and a shared rwlock read every iteration, written
 * every 256th (light contention), a semaphore that never runs out, a
 * pthread_once already done, a cond_signal with nobody waiting, a spinlock,
 * a barrier every 20000 iterations, and a short-lived thread created and
 * joined by thread 0 at the same pace.
 *
 * Two variants, each printed as wall time per primitive operation (best of
 * 5 runs): "typical" does some work per iteration (WORK rounds of a small
 * hash, a few hundred ns, as a request handler would between its locks);
 * "lock-dense" does almost none, so the hooks' own cost shows in full.
 * With an iteration count argument: exactly that many per thread of the
 * typical variant, silently. */
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NT 4

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t table_rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_barrier_t bar;
static sem_t pool;
static uint64_t table[64], shared_count;
static long iters;
static int work_rounds;
#define WORK 96

struct worker {
	pthread_mutex_t mu;
	pthread_spinlock_t sp;
	uint64_t local, ops;
	char pad[64];
};
static struct worker w[NT];

static void init(void)
{
	for (int i = 0; i < 64; i++)
		table[i] = (uint64_t)i * 2654435761u;
}

static void *helper(void *arg)
{
	return arg;
}

static void *run(void *arg)
{
	struct worker *me = arg;
	long id = me - w;
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull + 1, ops = 0;
	for (long i = 0; i < iters; i++) {
		for (int k = 0; k <= work_rounds; k++) { /* the work between locks */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		pthread_mutex_lock(&me->mu);
		me->local += x & 255;
		pthread_mutex_unlock(&me->mu);
		pthread_rwlock_rdlock(&table_rw);
		x += table[x & 63];
		pthread_rwlock_unlock(&table_rw);
		sem_wait(&pool);
		sem_post(&pool);
		pthread_once(&once, init);
		pthread_cond_signal(&cv);
		pthread_spin_lock(&me->sp);
		me->local ^= x;
		pthread_spin_unlock(&me->sp);
		ops += 6;
		if ((i & 15) == 0) {
			pthread_mutex_lock(&shared_mu);
			shared_count++;
			pthread_mutex_unlock(&shared_mu);
			ops++;
		}
		if ((i & 255) == 0) {
			pthread_rwlock_wrlock(&table_rw);
			table[x & 63] ^= x;
			pthread_rwlock_unlock(&table_rw);
			ops++;
		}
		if (i % 20000 == 19999) {
			pthread_barrier_wait(&bar);
			ops++;
			if (id == 0) {
				pthread_t t;
				pthread_create(&t, NULL, helper, NULL);
				pthread_join(t, NULL);
				ops++;
			}
		}
	}
	me->ops = ops;
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double round_ns(long n, int work)
{
	iters = n;
	work_rounds = work;
	pthread_t t[NT];
	double t0 = now();
	for (int i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, run, &w[i]);
	uint64_t ops = 0;
	for (int i = 0; i < NT; i++) {
		pthread_join(t[i], NULL);
		ops += w[i].ops;
	}
	return (now() - t0) / (double)ops;
}

int main(int argc, char **argv)
{
	pthread_barrier_init(&bar, NULL, NT);
	sem_init(&pool, 0, NT);
	for (int i = 0; i < NT; i++) {
		pthread_mutex_init(&w[i].mu, NULL);
		pthread_spin_init(&w[i].sp, PTHREAD_PROCESS_PRIVATE);
	}
	if (argc > 1) {
		round_ns(atol(argv[1]), WORK);
		return 0;
	}
	static const struct {
		const char *name;
		int work;
		long n;
	} v[] = { { "mixed 4 threads, typical (ns per op)", WORK, 100000 },
		  { "mixed 4 threads, lock-dense (ns per op)", 0, 400000 } };
	for (int k = 0; k < 2; k++) {
		round_ns(v[k].n / 4, v[k].work);
		double best = 1e30;
		for (int rep = 0; rep < 5; rep++) {
			double ns = round_ns(v[k].n, v[k].work);
			if (ns < best)
				best = ns;
		}
		printf("%s\t%.3f\n", v[k].name, best);
	}
	return 0;
}
