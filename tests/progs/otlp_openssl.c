/* otlp_openssl: a host that initialises OpenSSL itself, before anything of
 * ours does, so OpenSSL's own atexit cleanup is registered first. With
 * argv[1] = "threads" it then creates a thread (the shim's exporter starts);
 * otherwise it stays single-threaded. Exits 3. The shim's final flush runs
 * after this program's OpenSSL initialisation, at exit. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void *nothing(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	void *ssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_GLOBAL);
	int (*init)(uint64_t, const void *) = ssl ? (int (*)(uint64_t, const void *))dlsym(ssl, "OPENSSL_init_ssl") : NULL;
	if (!init) {
		printf("no libssl\n");
		return 3;
	}
	init(0, NULL); /* registers OpenSSL's atexit cleanup */
	if (argc > 1 && !strcmp(argv[1], "threads")) {
		pthread_t t;
		pthread_create(&t, NULL, nothing, NULL);
		pthread_join(t, NULL);
	}
	printf("openssl ready\n");
	return 3;
}
