/* barrier_wait: three threads meet at a barrier; the last one arrives
 * LATE_MS (argv[1], default 50) after the others, who wait that long. The
 * barrier is used for two rounds. Prints how many threads got
 * PTHREAD_BARRIER_SERIAL_THREAD (one per round) and the tids. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_barrier_t phase_barrier;
static int late_ms = 50;
static int serial, zero, other;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *member(void *arg)
{
	long late = (long)arg;
	printf("%s %ld\n", late ? "late" : "early", (long)syscall(SYS_gettid));
	for (int round = 0; round < 2; round++) {
		if (late && round == 0)
			sleep_ms(late_ms);
		int r = pthread_barrier_wait(&phase_barrier);
		pthread_mutex_lock(&count_lock);
		if (r == PTHREAD_BARRIER_SERIAL_THREAD)
			serial++;
		else if (r == 0)
			zero++;
		else
			other++;
		pthread_mutex_unlock(&count_lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		late_ms = atoi(argv[1]);
	pthread_barrier_init(&phase_barrier, NULL, 3);
	printf("barrier %p\n", (void *)&phase_barrier);
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, member, (void *)(long)(i == 2));
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("serial %d zero %d other %d\n", serial, zero, other);
	printf("destroy %d\n", pthread_barrier_destroy(&phase_barrier));
	fflush(stdout);
	return 0;
}
