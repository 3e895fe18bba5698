/* sig_exit: a threaded program whose signal handler calls exit() while the
 * main thread is busy in malloc (issue 9). Not async-signal-safe, but it
 * works natively as long as nothing in the exit path frees or allocates:
 * under the shim no destructor of a library the shim dragged in may do so.
 * Exits 3 from the handler. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
	exit(3);
}

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, idle, NULL);
	signal(SIGALRM, on_alarm);
	struct itimerval it = { { 0, 0 }, { 0, 50000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	unsigned x = 1;
	void *keep[64] = { 0 };
	for (;;) {
		x = x * 1103515245u + 12345u;
		unsigned i = (x >> 8) % 64;
		free(keep[i]);
		keep[i] = malloc(16 + (x >> 16) % 4096);
		if (keep[i])
			memset(keep[i], 1, 16);
	}
}
