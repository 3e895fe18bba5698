/* sem_wait: semaphore waits of known length and every return path.
 * 1. A worker waits in sem_wait; main posts after WAIT_MS (argv[1], 50).
 * 2. sem_timedwait / sem_clockwait that time out, bad timeouts (EINVAL),
 *    sem_trywait on zero (EAGAIN), a sem_wait interrupted by a signal whose
 *    handler has no SA_RESTART (EINTR), and a sem_wait woken by sem_post
 *    called from a signal handler (sem_post is async-signal-safe).
 * Prints return values with errno names, tids and the sem address. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static sem_t jobs, from_handler;
static int wait_ms = 50;
static _Atomic int worker_waiting;
static pthread_t worker_t;

static const char *en(int e)
{
	static char b[16];
	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EAGAIN: return "EAGAIN";
	case EINTR: return "EINTR";
	}
	snprintf(b, sizeof b, "%d", e);
	return b;
}

/* "ret/errno" the way a caller sees them */
static const char *re(int r)
{
	static char b[32];
	snprintf(b, sizeof b, "%d/%s", r, r ? en(errno) : "-");
	return b;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static struct timespec in_ms(clockid_t clk, int ms)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static void *worker(void *arg)
{
	(void)arg;
	worker_waiting = 1;
	int r = sem_wait(&jobs);
	printf("worker %ld sem_wait %s\n", (long)syscall(SYS_gettid), re(r));
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void on_usr2(int sig)
{
	(void)sig;
	int saved = errno;
	sem_post(&from_handler);
	errno = saved;
}

static void *poker(void *arg)
{
	sleep_ms(30);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	sleep_ms(30);
	pthread_kill(*(pthread_t *)arg, SIGUSR2);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		wait_ms = atoi(argv[1]);
	sem_init(&jobs, 0, 0);
	sem_init(&from_handler, 0, 0);
	printf("sem %p\n", (void *)&jobs);
	pthread_create(&worker_t, NULL, worker, NULL);
	while (!worker_waiting)
		usleep(100);
	sleep_ms(wait_ms);
	sem_post(&jobs);
	pthread_join(worker_t, NULL);

	struct timespec ts = in_ms(CLOCK_REALTIME, 30);
	printf("timedwait 30ms: %s\n", re(sem_timedwait(&jobs, &ts)));
	ts = in_ms(CLOCK_MONOTONIC, 20);
	printf("clockwait monotonic 20ms: %s\n", re(sem_clockwait(&jobs, CLOCK_MONOTONIC, &ts)));
	printf("clockwait bad clock: %s\n", re(sem_clockwait(&jobs, 12345, &ts)));
	struct timespec bad = { 0, -5 };
	printf("timedwait bad nsec: %s\n", re(sem_timedwait(&jobs, &bad)));
	struct timespec past = { 1, 0 };
	printf("timedwait past: %s\n", re(sem_timedwait(&jobs, &past)));
	printf("trywait zero: %s\n", re(sem_trywait(&jobs)));
	sem_post(&jobs);
	printf("trywait one: %s\n", re(sem_trywait(&jobs)));
	sem_post(&jobs);
	printf("wait one: %s\n", re(sem_wait(&jobs)));
	errno = 0;
	printf("post: %s\n", re(sem_post(&jobs)));
	int v = -1;
	sem_getvalue(&jobs, &v);
	printf("value %d\n", v);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1; /* no SA_RESTART: sem_wait returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	pthread_t me = pthread_self(), p;
	pthread_create(&p, NULL, poker, &me);
	printf("wait interrupted: %s\n", re(sem_wait(&from_handler)));
	int r;
	while ((r = sem_wait(&from_handler)) != 0 && errno == EINTR)
		;
	printf("wait posted by a handler: %s\n", re(r));
	pthread_join(p, NULL);
	printf("main %ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	return 0;
}
