/* small_stack: a contended mutex taken with little stack left.
 *
 * usage: small_stack [LEFT_BYTES] [STACK_BYTES]
 * A thread with a STACK_BYTES stack (default PTHREAD_STACK_MIN) recurses
 * until about LEFT_BYTES (default 1024) are left below its frame, then locks
 * a mutex another thread holds for 50 ms. Natively this works with 1 KB left:
 * the blocking lock needs a few hundred bytes. Prints one line and exits 0. */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t held;
static uintptr_t stack_lo;
static size_t left = 1024;
static volatile int sink;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *holder(void *a)
{
	(void)a;
	pthread_mutex_lock(&m);
	pthread_barrier_wait(&held);
	sleep_ms(50);
	pthread_mutex_unlock(&m);
	return NULL;
}

/* Each level keeps a small buffer live so the compiler cannot fold it. */
static __attribute__((noinline)) int dive(int depth)
{
	volatile char pad[64];
	pad[0] = (char)depth;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	if (sp - stack_lo > left + 256)
		return dive(depth + 1) + pad[0];
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	return depth + pad[0];
}

static void *waiter(void *a)
{
	(void)a;
	pthread_attr_t at;
	void *lo;
	size_t sz;
	pthread_getattr_np(pthread_self(), &at);
	pthread_attr_getstack(&at, &lo, &sz);
	pthread_attr_destroy(&at);
	stack_lo = (uintptr_t)lo;
	pthread_barrier_wait(&held);
	sink = dive(0);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t stack = PTHREAD_STACK_MIN;
	if (argc > 1)
		left = (size_t)strtoul(argv[1], NULL, 0);
	if (argc > 2)
		stack = (size_t)strtoul(argv[2], NULL, 0);
	pthread_barrier_init(&held, NULL, 2);
	pthread_t h, w;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, stack);
	pthread_create(&h, NULL, holder, NULL);
	if (pthread_create(&w, &at, waiter, NULL)) {
		fprintf(stderr, "small_stack: cannot create a %zu-byte stack\n", stack);
		return 2;
	}
	pthread_join(w, NULL);
	pthread_join(h, NULL);
	printf("small stack: locked with about %zu bytes left\n", left);
	return 0;
}
