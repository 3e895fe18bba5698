/* dlopen_churn: contention inside dlopen'ed code, across dlclose.
 *
 * Built twice more as shared objects (see the "issue 5" block at the end of
 * the Makefile): with -DOTS_DLOPEN_MODULE=a it is dlopen_a.so, whose
 * mod_a_work waits on its static lock_a; with =b, dlopen_b.so with mod_b_work
 * and lock_b. Built plainly it is the program: it loads a, makes one
 * contended wait in it, gives the exporter time to see it
 * (OTEL_BSP_SCHEDULE_DELAY should be short), unloads a, loads b (which the
 * loader usually maps where a was), waits once in b, and prints where each
 * work function was. Spans of the second wait must name b's function and
 * lock, never a's from a stale cache. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts))
		;
}

#ifdef OTS_DLOPEN_MODULE

static pthread_mutex_t CAT(lock_, OTS_DLOPEN_MODULE) = PTHREAD_MUTEX_INITIALIZER;
static atomic_int held;

static void *holder(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&CAT(lock_, OTS_DLOPEN_MODULE));
	atomic_store(&held, 1);
	sleep_ms(20);
	pthread_mutex_unlock(&CAT(lock_, OTS_DLOPEN_MODULE));
	return NULL;
}

/* One contended wait on this module's lock, from this module's code. */
__attribute__((noinline)) void CAT(CAT(mod_, OTS_DLOPEN_MODULE), _work)(void)
{
	pthread_t t;
	atomic_store(&held, 0);
	pthread_create(&t, NULL, holder, NULL);
	while (!atomic_load(&held))
		;
	pthread_mutex_lock(&CAT(lock_, OTS_DLOPEN_MODULE));
	pthread_mutex_unlock(&CAT(lock_, OTS_DLOPEN_MODULE));
	pthread_join(t, NULL);
	__asm__ volatile("" ::: "memory");
}

#else

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(const char *dir, const char *mod, const char *fn, int settle_ms)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/dlopen_%s.so", dir, mod);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	void (*work)(void) = (void (*)(void))dlsym(h, fn);
	if (!work) {
		fprintf(stderr, "dlsym %s: %s\n", fn, dlerror());
		return -1;
	}
	printf("%s at %p\n", fn, (void *)work);
	work();
	sleep_ms(settle_ms); /* let the exporter symbolise while the module is loaded */
	dlclose(h);
	return 0;
}

int main(int argc, char **argv)
{
	/* the modules sit next to the program */
	char dir[1024];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	dir[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int settle = argc > 1 ? atoi(argv[1]) : 150;
	if (run(dir, "a", "mod_a_work", settle) || run(dir, "b", "mod_b_work", settle))
		return 1;
	fflush(stdout);
	return 0;
}

#endif
