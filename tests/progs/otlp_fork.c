/* otlp_fork: a threaded parent (so its exporter thread runs and holds a
 * connection) forks a child that creates threads of its own and exits; then
 * the parent goes on creating threads and waits for the child. Prints both
 * pids. Exit code: the child's. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *work(void *arg)
{
	nap_ms((long)(size_t)arg);
	return NULL;
}

static void threads(int n, long ms)
{
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, work, (void *)(size_t)ms);
		pthread_join(t, NULL);
	}
}

int main(void)
{
	threads(3, 1);
	nap_ms(120); /* a batch goes out: the parent's connection is open */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		threads(3, 1);
		printf("child %d\n", (int)getpid());
		fflush(stdout);
		exit(7);
	}
	threads(3, 1);
	int st = 0;
	waitpid(pid, &st, 0);
	printf("parent %d\n", (int)getpid());
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
