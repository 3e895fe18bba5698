/* host_unwind: a host that uses libunwind itself. Its first unw_backtrace
 * initialises libunwind with pthread_once, in a thread, while the shim's
 * exporter runs; the shim records that once and captures stacks with the
 * same library. Natively and under the shim: prints the frame count sign. */
#include <libunwind.h>
#include <pthread.h>
#include <stdio.h>

static void *first_backtrace(void *arg)
{
	(void)arg;
	void *frames[32];
	int n = unw_backtrace(frames, 32);
	printf("thread frames %s\n", n > 0 ? "some" : "none");
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, first_backtrace, NULL);
	pthread_join(t, NULL);
	void *frames[32];
	printf("main frames %s\n", unw_backtrace(frames, 32) > 0 ? "some" : "none");
	return 0;
}
