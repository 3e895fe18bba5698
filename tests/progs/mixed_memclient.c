/* mixed_memclient: a bounded load for memcached on 127.0.0.1: THREADS (4)
 * client threads, each with its own connection, each storing and reading
 * back OPS (argv[3], default 500) keys of its own, then one multi-get per
 * thread. Retries the first connection for up to 2 s while the server
 * starts. Prints the totals (identical from run to run) and exits 0 only if
 * every value read back is the one written.
 * usage: mixed_memclient HOST PORT [OPS] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4

static const char *host;
static int port, ops = 500;
static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;
static long stored, matched, mismatched, failures;

static int connect_retry(void)
{
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, host, &a.sin_addr);
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			return fd;
		}
		close(fd);
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Read until the buffer ends with term; returns the length or -1. */
static int read_until(int fd, char *buf, int cap, const char *term)
{
	int len = 0, tl = (int)strlen(term);
	for (;;) {
		ssize_t n = read(fd, buf + len, (size_t)(cap - 1 - len));
		if (n <= 0)
			return -1;
		len += (int)n;
		buf[len] = '\0';
		if (len >= tl && !strcmp(buf + len - tl, term))
			return len;
		if (len >= cap - 1)
			return -1;
	}
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *client(void *arg)
{
	long id = (long)arg;
	long st = 0, ok = 0, bad = 0, fail = 0;
	char cmd[512], buf[65536], val[64];
	int fd = connect_retry();
	if (fd < 0) {
		pthread_mutex_lock(&totals_lock);
		failures += ops;
		pthread_mutex_unlock(&totals_lock);
		return NULL;
	}
	for (int i = 0; i < ops; i++) {
		int vl = snprintf(val, sizeof val, "v%ld-%d-%d", id, i, i * 7919 % 1000);
		int n = snprintf(cmd, sizeof cmd, "set k%ld_%d 0 0 %d\r\n%s\r\n", id, i, vl, val);
		if (send_all(fd, cmd, (size_t)n) || read_until(fd, buf, sizeof buf, "\r\n") < 0) {
			fail++;
			continue;
		}
		st += !strcmp(buf, "STORED\r\n");
		n = snprintf(cmd, sizeof cmd, "get k%ld_%d\r\n", id, i);
		if (send_all(fd, cmd, (size_t)n) || read_until(fd, buf, sizeof buf, "END\r\n") < 0) {
			fail++;
			continue;
		}
		char want[160];
		snprintf(want, sizeof want, "VALUE k%ld_%d 0 %d\r\n%s\r\nEND\r\n", id, i, vl, val);
		if (!strcmp(buf, want))
			ok++;
		else
			bad++;
	}
	/* one multi-get of the first 50 keys */
	int n = snprintf(cmd, sizeof cmd, "get");
	for (int i = 0; i < 50 && i < ops; i++)
		n += snprintf(cmd + n, sizeof cmd - (size_t)n, " k%ld_%d", id, i);
	n += snprintf(cmd + n, sizeof cmd - (size_t)n, "\r\n");
	if (n < (int)sizeof cmd && !send_all(fd, cmd, (size_t)n) &&
	    read_until(fd, buf, sizeof buf, "END\r\n") > 0) {
		int values = 0;
		for (char *p = buf; (p = strstr(p, "VALUE ")); p += 6)
			values++;
		if (values == (ops < 50 ? ops : 50))
			ok++;
		else
			bad++;
	} else {
		fail++;
	}
	send_all(fd, "quit\r\n", 6);
	close(fd);
	pthread_mutex_lock(&totals_lock);
	stored += st;
	matched += ok;
	mismatched += bad;
	failures += fail;
	pthread_mutex_unlock(&totals_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s HOST PORT [OPS]\n", argv[0]);
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	if (argc > 3)
		ops = atoi(argv[3]);
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, client, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("stored %ld matched %ld mismatched %ld failures %ld\n", stored, matched, mismatched,
	       failures);
	return mismatched || failures ? 1 : 0;
}
