/* spin_wait: a holder keeps a spinlock HOLD_MS (argv[1], default 30) while
 * another thread spins for it; then a few short uncontended lock/unlock pairs
 * and a trylock on a held lock (EBUSY). Prints tids and results. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_spinlock_t stats_spin;
static _Atomic int held;
static int hold_ms = 30;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *holder(void *arg)
{
	(void)arg;
	pthread_spin_lock(&stats_spin);
	held = 1;
	sleep_ms(hold_ms);
	pthread_spin_unlock(&stats_spin);
	return NULL;
}

static void *spinner(void *arg)
{
	(void)arg;
	while (!held)
		usleep(100);
	int r = pthread_spin_lock(&stats_spin);
	printf("spinner %ld ret %d\n", (long)syscall(SYS_gettid), r);
	pthread_spin_unlock(&stats_spin);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		hold_ms = atoi(argv[1]);
	pthread_spin_init(&stats_spin, PTHREAD_PROCESS_PRIVATE);
	printf("spin %p\n", (void *)&stats_spin);
	pthread_t a, b;
	pthread_create(&a, NULL, holder, NULL);
	pthread_create(&b, NULL, spinner, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	for (int i = 0; i < 1000; i++) {
		pthread_spin_lock(&stats_spin);
		pthread_spin_unlock(&stats_spin);
	}
	pthread_spin_lock(&stats_spin);
	printf("trylock held: %s\n", pthread_spin_trylock(&stats_spin) == EBUSY ? "EBUSY" : "?");
	pthread_spin_unlock(&stats_spin);
	printf("trylock free: %d\n", pthread_spin_trylock(&stats_spin));
	pthread_spin_unlock(&stats_spin);
	fflush(stdout);
	return 0;
}
