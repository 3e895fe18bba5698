/* fork_pthread_exit: the only thread of a forked child calls pthread_exit().
 * A process whose last thread exits ends with status 0 and runs its atexit
 * handlers, so the child prints from its handler and exits 0; the parent waits
 * for it and prints how it ended. By default the parent first runs and joins a
 * thread (so a tracer is fully started in it before the fork); with the
 * argument "plain" the parent never creates a thread; with "worker" the child
 * first starts a thread that prints about 100 ms after the child's main thread
 * called pthread_exit (the daemon pattern, in a forked child). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int in_child;
static volatile int child_worker_done;

static void at_exit_handler(void)
{
	if (in_child)
		printf("child: atexit handler ran, worker done=%d\n", child_worker_done);
	else
		printf("parent: atexit handler ran\n");
}

static void *helper(void *arg)
{
	(void)arg;
	usleep(20000);
	return NULL;
}

static void *child_worker(void *arg)
{
	(void)arg;
	usleep(100000);
	printf("child: worker finished after pthread_exit\n");
	child_worker_done = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(at_exit_handler);
	if (strcmp(mode, "plain") != 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, helper, NULL) != 0)
			return 1;
		pthread_join(t, NULL);
		printf("parent: helper thread joined\n");
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		in_child = 1;
		if (!strcmp(mode, "worker")) {
			pthread_t w;
			if (pthread_create(&w, NULL, child_worker, NULL) != 0)
				exit(1);
			printf("child: pthread_exit with its worker running\n");
			pthread_exit(NULL);
		}
		printf("child: pthread_exit from its only thread\n");
		pthread_exit(NULL);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	if (WIFEXITED(st))
		printf("parent: child exited with status %d\n", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("parent: child killed by signal %d\n", WTERMSIG(st));
	return 0;
}
