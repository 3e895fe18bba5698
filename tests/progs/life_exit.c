/* life_exit: the ways a process ends (issue 8), natively and under the shim.
 *   main_exit     main starts and joins a thread, then pthread_exit()s
 *   detached      main pthread_exit()s while a detached worker still runs
 *   fork_child    a forked child whose only thread pthread_exit()s
 *   exit_race     two threads call exit() at the same instant
 *   quick         quick_exit() after some waits
 *   exec_fail     execv() of a missing file, then more waits, then exit
 *   exec_ok       execl() of this program (mode echo) after some waits
 *   echo          prints one line, single-threaded
 * Every mode prints what it did and an atexit line; the shim's trace must
 * hold the waits. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t bar;

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void bye(void)
{
	printf("atexit ran\n");
}

static void *holder(void *arg)
{
	pthread_mutex_lock(&m);
	pthread_barrier_wait(&bar);
	nap_ms(arg ? (int)(long)arg : 30);
	pthread_mutex_unlock(&m);
	return NULL;
}

/* one contended wait of about 30 ms in the calling thread */
static void contend(void)
{
	pthread_t t;
	pthread_barrier_init(&bar, NULL, 2);
	pthread_create(&t, NULL, holder, NULL);
	pthread_barrier_wait(&bar);
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&bar);
}

static void *late_worker(void *arg)
{
	(void)arg;
	nap_ms(100);
	contend();
	printf("worker done\n");
	fflush(stdout);
	return NULL;
}

static void *racer(void *arg)
{
	pthread_barrier_wait(&bar);
	exit((int)(long)arg);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "main_exit";
	setvbuf(stdout, NULL, _IOFBF, 4096); /* lost if exit never flushes it */
	if (!strcmp(mode, "echo")) {
		printf("after exec\n");
		return 0;
	}
	atexit(bye);
	if (!strcmp(mode, "main_exit")) {
		contend();
		printf("main leaves\n");
		pthread_exit(NULL);
	} else if (!strcmp(mode, "detached")) {
		pthread_attr_t a;
		pthread_t t;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_create(&t, &a, late_worker, NULL);
		printf("main leaves\n");
		fflush(stdout);
		pthread_exit(NULL);
	} else if (!strcmp(mode, "fork_child")) {
		contend();
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			contend();
			printf("child leaves\n");
			pthread_exit(NULL);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		printf("child status %d exited %d\n", WEXITSTATUS(st), WIFEXITED(st));
		return 0;
	} else if (!strcmp(mode, "exit_race")) {
		contend();
		pthread_t a, b;
		pthread_barrier_init(&bar, NULL, 3);
		pthread_create(&a, NULL, racer, (void *)3L);
		pthread_create(&b, NULL, racer, (void *)3L);
		printf("racing\n");
		pthread_barrier_wait(&bar);
		exit(3);
	} else if (!strcmp(mode, "quick")) {
		contend();
		printf("quick\n");
		fflush(stdout);
		quick_exit(4);
	} else if (!strcmp(mode, "exec_fail")) {
		contend();
		char *args[] = { "nothing-here", NULL };
		int rc = execv("/nonexistent/otcshim-test", args);
		printf("execv %d %s\n", rc, strerror(errno));
		contend();
		return 0;
	} else if (!strcmp(mode, "exec_ok")) {
		contend();
		printf("before exec\n");
		fflush(stdout);
		execl("/proc/self/exe", argv[0], "echo", (char *)NULL);
		return 1;
	}
	return 2;
}
