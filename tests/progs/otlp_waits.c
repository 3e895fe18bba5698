/* otlp_waits: N contended mutex waits (argv[1], default 5), each about 2 ms,
 * spread over RUN_MS (argv[3], default 0: back to back), then exit with
 * argv[2] (default 0). Used by the OTLP tests as a steady source of spans:
 * N wait spans, 2 thread spans and the process span. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start;
static int rounds = 5;
static int run_ms;

static void nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static void *holder(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		pthread_mutex_lock(&work_lock);
		pthread_barrier_wait(&start);
		nap_us(2000); /* the waiter blocks on work_lock meanwhile */
		pthread_mutex_unlock(&work_lock);
		pthread_barrier_wait(&start);
		if (run_ms && rounds > 1)
			nap_us((long)run_ms * 1000 / rounds);
	}
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		pthread_barrier_wait(&start);
		pthread_mutex_lock(&work_lock);
		pthread_mutex_unlock(&work_lock);
		pthread_barrier_wait(&start);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rounds = atoi(argv[1]);
	int code = argc > 2 ? atoi(argv[2]) : 0;
	if (argc > 3)
		run_ms = atoi(argv[3]);
	pthread_barrier_init(&start, NULL, 2);
	pthread_t a, b;
	pthread_create(&a, NULL, holder, NULL);
	pthread_create(&b, NULL, waiter, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("done %d\n", rounds);
	fflush(stdout);
	return code;
}
