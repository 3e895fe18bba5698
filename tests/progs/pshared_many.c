/* pshared_many N: a parent and its child, single-threaded each, take turns on
 * a process-shared mutex N times with a 300 us hold. No thread is created, so
 * no exporter thread starts: records pile up in the ring until exit, which
 * makes a small OTCSHIM_POOL_SIZE overflow deterministically. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50;
	pthread_mutex_t *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(m, &a);
	pid_t pid = fork();
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(m);
		usleep(300);
		pthread_mutex_unlock(m);
		usleep(20);
	}
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	puts("done");
	return 0;
}
