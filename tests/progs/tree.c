/* tree: main starts two workers; the first starts a child of its own; one
 * worker ends with pthread_exit. Each thread prints "name tid". */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *who)
{
	pthread_mutex_lock(&out_lock);
	printf("%s %ld\n", who, (long)syscall(SYS_gettid));
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void *grandchild(void *arg)
{
	(void)arg;
	say("grandchild");
	return NULL;
}

static void *worker_a(void *arg)
{
	(void)arg;
	say("a");
	pthread_t g;
	pthread_create(&g, NULL, grandchild, NULL);
	pthread_join(g, NULL);
	return NULL;
}

static void *worker_b(void *arg)
{
	(void)arg;
	say("b");
	pthread_exit((void *)7);
}

int main(void)
{
	say("main");
	pthread_t a, b;
	void *rb = NULL;
	pthread_create(&a, NULL, worker_a, NULL);
	pthread_join(a, NULL);
	pthread_create(&b, NULL, worker_b, NULL);
	pthread_join(b, &rb);
	printf("b returned %ld\n", (long)rb);
	return 0;
}
