/* fd_host: a host that minds its file descriptors (issue 8).
 *
 *   fd_host MODE    MODE: none, close_range, closefrom, close_loop
 *   fd_host list    print this process's open descriptors and exit
 *
 * Contends a mutex three times (thread spans, waits with stacks), gives the
 * exporter time to export and resolve symbols, then closes every inherited
 * descriptor above stderr the way daemons do (MODE), opens two files of its
 * own, writes them, contends again, and checks that each file holds exactly
 * what it wrote and that every write succeeded. Then it starts itself as
 * "list", with an environment of its own (no LD_PRELOAD), and prints what
 * that child inherited. Native and shim output must
 * be the same: the same numbers, the same contents, the same children. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void *locker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	return NULL;
}

static void contend(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		pthread_t t;
		pthread_mutex_lock(&m);
		pthread_create(&t, NULL, locker, NULL);
		nap_ms(20);
		pthread_mutex_unlock(&m);
		pthread_join(t, NULL);
	}
}

static int list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	int own = dirfd(d), n = 0;
	int fds[4096];
	struct dirent *e;
	while ((e = readdir(d)) && n < 4096) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd != own)
			fds[n++] = fd;
	}
	closedir(d);
	/* readdir's order is the kernel's: sort for a stable line */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int x = fds[j];
			fds[j] = fds[j - 1];
			fds[j - 1] = x;
		}
	printf("child fds:");
	for (int i = 0; i < n; i++)
		printf(" %d", fds[i]);
	printf("\n");
	return 0;
}

static int write_str(int fd, const char *s, int *failed)
{
	ssize_t w = write(fd, s, strlen(s));
	if (w != (ssize_t)strlen(s)) {
		printf("write to fd %d failed: %s\n", fd, w < 0 ? strerror(errno) : "short");
		*failed = 1;
	}
	return (int)w;
}

static void check_file(const char *path, const char *want, const char *label)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		printf("%s: cannot read back\n", label);
		return;
	}
	buf[n] = '\0';
	if (!strcmp(buf, want))
		printf("%s intact\n", label);
	else
		printf("%s changed: %zd bytes, %zu written\n", label, n, strlen(want));
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "list"))
		return list_fds();
	const char *mode = argc > 1 ? argv[1] : "none";

	contend(3);
	nap_ms(400); /* the exporter exports, symbols are resolved */

	if (!strcmp(mode, "close_range")) {
		if (close_range(3, ~0U, 0))
			printf("close_range: %s\n", strerror(errno));
	} else if (!strcmp(mode, "closefrom")) {
		closefrom(3);
	} else if (!strcmp(mode, "close_loop")) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}

	char a[64], b[64];
	snprintf(a, sizeof a, "/tmp/fd_host.%d.a", (int)getpid());
	snprintf(b, sizeof b, "/tmp/fd_host.%d.b", (int)getpid());
	int fa = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int fb = open(b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	printf("opened %d %d\n", fa, fb);
	int failed = 0;
	write_str(fa, "first line of a\n", &failed);
	write_str(fb, "first line of b\n", &failed);

	contend(3); /* the exporter is woken, stacks are captured */
	nap_ms(300);

	write_str(fa, "second line of a\n", &failed);
	write_str(fb, "second line of b\n", &failed);
	if (close(fa) || close(fb)) {
		printf("close: %s\n", strerror(errno));
		failed = 1;
	}
	check_file(a, "first line of a\nsecond line of a\n", "a");
	check_file(b, "first line of b\nsecond line of b\n", "b");
	unlink(a);
	unlink(b);

	int probe = open("/dev/null", O_RDONLY);
	printf("next descriptor %d\n", probe);
	close(probe);

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* without the shim: what it lists is what it inherited */
		char *env[] = { "PATH=/usr/bin:/bin", NULL };
		execle("/proc/self/exe", argv[0], "list", (char *)NULL, env);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return failed;
}
