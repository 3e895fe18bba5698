/* sec_probe: a host that may be installed setuid root by a test. Two threads
 * contend on a mutex (so a tracing shim would have something to say), then it
 * prints whether an object named *otcshim* is mapped into it, its real and
 * effective uids, and exits 0. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *a)
{
	(void)a;
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_mutex_lock(&m);
	pthread_create(&t, NULL, worker, NULL);
	struct timespec ts = { 0, 20000000 };
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&m);
	pthread_join(t, NULL);
	int mapped = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f))
		mapped |= strstr(line, "otcshim") != NULL;
	if (f)
		fclose(f);
	printf("otcshim mapped: %s; uid %d euid %d\n", mapped ? "yes" : "no", (int)getuid(),
	       (int)geteuid());
	return 0;
}
