/* stack_deep: one contended wait at a known depth of recursion, so the
 * captured stack can be checked: its first frame is deep_wait (never a frame
 * of the shim), then recurse (static) several times, then lookup_thread.
 * Prints the line of the pthread_mutex_lock call so the test can look for
 * "stack_deep.c:<line>". argv[1]: recursion depth (default 20). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t deep_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int held;
static int depth = 20;

static void *holder(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&deep_lock);
	atomic_store(&held, 1);
	struct timespec ts = { 0, 30 * 1000000L };
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&deep_lock);
	return NULL;
}

__attribute__((noinline)) static void deep_wait(void)
{
	while (!atomic_load(&held))
		;
	printf("lock-line %d\n", __LINE__ + 1);
	pthread_mutex_lock(&deep_lock);
	pthread_mutex_unlock(&deep_lock);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static int recurse(int n)
{
	if (n <= 0)
		deep_wait();
	else
		recurse(n - 1);
	__asm__ volatile("" ::: "memory"); /* no tail call: every level keeps a frame */
	return n;
}

static void *lookup_thread(void *arg)
{
	(void)arg;
	recurse(depth);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		depth = atoi(argv[1]);
	pthread_t a, b;
	pthread_create(&a, NULL, holder, NULL);
	pthread_create(&b, NULL, lookup_thread, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	fflush(stdout);
	return 0;
}
