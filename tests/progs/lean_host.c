/* lean_host: what the shim brings into a host (issue 9).
 *
 *   lean_host maps      single-threaded: print the shared objects mapped
 *   lean_host threads   contend a mutex in two threads, then print them
 *
 * Built -rdynamic with zlib- and OpenSSL-named functions of its own, as a
 * legacy program with a static zlib exports them: if anything the shim
 * loads (libcurl's gzip, its TLS library) binds to these instead of its own
 * libraries, the program says so and aborts. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void not_mine(const char *fn)
{
	fprintf(stderr, "lean_host: the host's %s was called by a library it did not load\n", fn);
	abort();
}

/* the names zlib and OpenSSL export; never called by this program */
const char *zlibVersion(void);
int deflateInit2_(void *s, int a, int b, int c, int d, int e, const char *v, int n);
int deflate(void *s, int flush);
int deflateEnd(void *s);
int inflate(void *s, int flush);
void *SSL_CTX_new(const void *m);
int OPENSSL_init_ssl(unsigned long long o, const void *s);
const char *zlibVersion(void)
{
	not_mine("zlibVersion");
	return "host";
}
int deflateInit2_(void *s, int a, int b, int c, int d, int e, const char *v, int n)
{
	(void)s, (void)a, (void)b, (void)c, (void)d, (void)e, (void)v, (void)n;
	not_mine("deflateInit2_");
	return -1;
}
int deflate(void *s, int flush)
{
	(void)s, (void)flush;
	not_mine("deflate");
	return -1;
}
int deflateEnd(void *s)
{
	(void)s;
	not_mine("deflateEnd");
	return -1;
}
int inflate(void *s, int flush)
{
	(void)s, (void)flush;
	not_mine("inflate");
	return -1;
}
void *SSL_CTX_new(const void *m)
{
	(void)m;
	not_mine("SSL_CTX_new");
	return NULL;
}
int OPENSSL_init_ssl(unsigned long long o, const void *s)
{
	(void)o, (void)s;
	not_mine("OPENSSL_init_ssl");
	return 0;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void *locker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	return NULL;
}

static void print_objects(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096], seen[64][256];
	int n = 0;
	while (f && fgets(line, sizeof line, f)) {
		char *path = strchr(line, '/');
		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		const char *base = strrchr(path, '/') + 1;
		if (!strstr(base, ".so"))
			continue;
		int dup = 0;
		for (int i = 0; i < n; i++)
			dup |= !strcmp(seen[i], base);
		if (!dup && n < 64)
			snprintf(seen[n++], sizeof seen[0], "%s", base);
	}
	if (f)
		fclose(f);
	for (int i = 0; i < n; i++)
		printf("mapped %s\n", seen[i]);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "maps";
	if (!strcmp(mode, "threads")) {
		for (int i = 0; i < 3; i++) {
			pthread_t t;
			pthread_mutex_lock(&m);
			pthread_create(&t, NULL, locker, NULL);
			struct timespec ts = { 0, 20 * 1000000L };
			nanosleep(&ts, NULL);
			pthread_mutex_unlock(&m);
			pthread_join(t, NULL);
		}
		struct timespec ts = { 0, 300 * 1000000L }; /* an export or two */
		nanosleep(&ts, NULL);
	}
	print_objects();
	return 0;
}
