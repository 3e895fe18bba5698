/* report_exit: exits with the code given (argv[1]) after one contended wait,
 * and when argv[2] is "env" prints LD_PRELOAD and every OTEL_* and OTCSHIM_*
 * variable, one a line. Used by the launcher tests (exit code passthrough,
 * options as environment, LD_PRELOAD kept, ASan and static variants). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int held;

static void *holder(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&exit_lock);
	atomic_store(&held, 1);
	struct timespec ts = { 0, 20 * 1000000L };
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&exit_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	pthread_create(&t, NULL, holder, NULL);
	while (!atomic_load(&held))
		;
	pthread_mutex_lock(&exit_lock);
	pthread_mutex_unlock(&exit_lock);
	pthread_join(t, NULL);
	if (argc > 2 && !strcmp(argv[2], "env")) {
		const char *p = getenv("LD_PRELOAD");
		printf("LD_PRELOAD=%s\n", p ? p : "");
		for (char **e = environ; *e; e++)
			if (!strncmp(*e, "OTEL_", 5) || !strncmp(*e, "OTCSHIM_", 8))
				printf("%s\n", *e);
	}
	printf("stdout-line\n");
	return argc > 1 ? atoi(argv[1]) : 0;
}
