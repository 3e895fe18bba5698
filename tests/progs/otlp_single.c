/* otlp_single: a single-threaded program (never calls pthread_create, so the
 * shim starts no exporter thread and the exiting thread sends the spans
 * itself). Sleeps argv[2] ms (default 0), exits with argv[1] (default 0). */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	int code = argc > 1 ? atoi(argv[1]) : 0;
	long ms = argc > 2 ? atol(argv[2]) : 0;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	return code;
}
