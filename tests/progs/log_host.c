/* log_host MODE [FILE]: what hosts do with their stderr and privileges,
 * after one contended wait (so the shim has a report and spans to write).
 *   close    fclose(stderr) before exit (xz does)
 *   replace  dup2() FILE (its own log) onto descriptor 2, write a line there
 *            (nginx puts its error.log there)
 *   reuse    started with descriptor 2 closed: open FILE, which gets number 2,
 *            write a line to it
 *   drop     fork; the child switches to uid/gid 65534 (nginx workers), then
 *            contends and exits; the parent waits for it
 *   plain    nothing more */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int held;

static void *holder(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&log_lock);
	atomic_store(&held, 1);
	struct timespec ts = { 0, 20 * 1000000L };
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&log_lock);
	return NULL;
}

static void contend(void)
{
	pthread_t t;
	atomic_store(&held, 0);
	pthread_create(&t, NULL, holder, NULL);
	while (!atomic_load(&held))
		;
	pthread_mutex_lock(&log_lock);
	pthread_mutex_unlock(&log_lock);
	pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "plain";
	const char *file = argc > 2 ? argv[2] : "/dev/null";
	if (!strcmp(mode, "reuse")) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd != 2)
			return 3; /* descriptor 2 was not closed at start */
		if (write(fd, "host line\n", 10) != 10)
			return 4;
	}
	if (!strcmp(mode, "drop")) {
		pid_t pid = fork();
		if (pid == 0) {
			if (setgid(65534) || setuid(65534))
				_exit(5);
			contend();
			printf("child %d\n", (int)getpid());
			exit(0); /* the shim writes the child's spans at its exit */
		}
		int st = 0;
		waitpid(pid, &st, 0);
		printf("parent %d\n", (int)getpid());
		return WIFEXITED(st) ? WEXITSTATUS(st) : 6;
	}
	contend();
	if (!strcmp(mode, "replace")) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			return 7;
		close(fd);
		fprintf(stderr, "host line\n");
	}
	if (!strcmp(mode, "close"))
		fclose(stderr);
	printf("done\n");
	return 0;
}
