/* demo - a small service-shaped program with lock contention worth seeing.
 *
 *   - a worker pool that updates shared statistics behind one mutex (stats_lock),
 *     holding it a little too long;
 *   - a producer/consumer job queue on a mutex + condition variable (queue_lock,
 *     queue_nonempty);
 *   - a semaphore that lets only two workers into a "backend" at a time;
 *   - configuration loaded once with pthread_once (slowly);
 *   - a registry read by everyone and written now and then, behind an rwlock.
 *
 * Run it under the shim:  make demo   (or: LD_PRELOAD=build/libotcshim.so build/demo)
 * It prints a checksum that is the same with and without the shim.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS 4
#define JOBS 400
#define QCAP 16

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t queue_nonfull = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static sem_t backend_slots;

static int queue[QCAP], qhead, qlen, closed;
static long total, processed;
static int registry[64];
static int config_factor;

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static void load_config(void)
{
	sleep_us(20000); /* reading a config file, slowly */
	config_factor = 3;
}

static int backend_call(int job)
{
	sem_wait(&backend_slots);
	sleep_us(300);
	sem_post(&backend_slots);
	return job * config_factor;
}

static int registry_lookup(int key)
{
	pthread_rwlock_rdlock(&registry_lock);
	int v = registry[key & 63];
	sleep_us(50);
	pthread_rwlock_unlock(&registry_lock);
	return v;
}

static void registry_update(int key, int v)
{
	pthread_rwlock_wrlock(&registry_lock);
	registry[key & 63] = v;
	sleep_us(400);
	pthread_rwlock_unlock(&registry_lock);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_once(&config_once, load_config);
	for (;;) {
		pthread_mutex_lock(&queue_lock);
		while (qlen == 0 && !closed)
			pthread_cond_wait(&queue_nonempty, &queue_lock);
		if (qlen == 0 && closed) {
			pthread_mutex_unlock(&queue_lock);
			break;
		}
		int job = queue[qhead];
		qhead = (qhead + 1) % QCAP;
		qlen--;
		pthread_cond_signal(&queue_nonfull);
		pthread_mutex_unlock(&queue_lock);

		int v = backend_call(job) + registry_lookup(job);
		if (job % 25 == 0)
			registry_update(job, job);

		pthread_mutex_lock(&stats_lock);
		total += v;
		processed++;
		sleep_us(200); /* the classic mistake: slow work under a hot lock */
		pthread_mutex_unlock(&stats_lock);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[WORKERS];
	sem_init(&backend_slots, 0, 2);
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int j = 1; j <= JOBS; j++) {
		pthread_mutex_lock(&queue_lock);
		while (qlen == QCAP)
			pthread_cond_wait(&queue_nonfull, &queue_lock);
		queue[(qhead + qlen) % QCAP] = j;
		qlen++;
		pthread_cond_signal(&queue_nonempty);
		pthread_mutex_unlock(&queue_lock);
	}
	pthread_mutex_lock(&queue_lock);
	closed = 1;
	pthread_cond_broadcast(&queue_nonempty);
	pthread_mutex_unlock(&queue_lock);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	printf("demo: processed %ld jobs, checksum %ld\n", processed, total);
	return processed == JOBS ? 0 : 1;
}
