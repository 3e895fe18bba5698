/* fork_child: a multi-threaded parent (a thread spinning on a mutex) forks;
 * the child contends on a mutex between two threads of its own, then exits;
 * the parent waits for it. Prints "parent PID" and "child PID". */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int stop, held;

static void *churn(void *arg)
{
	(void)arg;
	while (!stop) {
		pthread_mutex_lock(&lk);
		pthread_mutex_unlock(&lk);
	}
	return NULL;
}

static void *hold40(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lk);
	held = 1;
	usleep(40000);
	pthread_mutex_unlock(&lk);
	return NULL;
}

static void contend(void)
{
	pthread_t h;
	held = 0;
	pthread_create(&h, NULL, hold40, NULL);
	while (!held)
		usleep(200);
	pthread_mutex_lock(&lk);
	pthread_mutex_unlock(&lk);
	pthread_join(h, NULL);
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, churn, NULL);
	usleep(5000);
	contend(); /* one wait in the parent before the fork */
	fflush(stdout);
	pid_t pid = fork(); /* while churn may hold the lock or the shim's state */
	if (pid == 0) {
		/* lk may have been copied locked by churn: reinitialise, as a
		 * careful program must */
		pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
		lk = fresh;
		contend();
		printf("child %d\n", getpid());
		fflush(stdout);
		return 0;
	}
	int st;
	waitpid(pid, &st, 0);
	stop = 1;
	pthread_join(t, NULL);
	printf("parent %d child-status %d\n", getpid(), WEXITSTATUS(st));
	return 0;
}
