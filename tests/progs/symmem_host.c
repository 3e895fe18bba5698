/* symmem_host: what naming stacks costs a host in memory. Four threads hand
 * locks back and forth in a few functions of their own (a static lock, an
 * array element, a heap lock), so the waits carry stacks through the program
 * and libc. The program notes its VmRSS and VmHWM once its threads run and
 * before any wait (the exporter thread and libunwind are in by then), waits
 * until the first batch of spans with stacks is in OTCSHIM_OUTPUT (which
 * means they were symbolised), and prints both:
 *   before_rss=KB before_hwm=KB after_rss=KB after_hwm=KB spans=0|1 elf_fds=N
 * elf_fds: descriptors open after the export on a shared object, the
 * program's own file or anything under /usr/lib/debug (the shim's
 * symboliser keeps none between passes).
 * Natively (no OTCSHIM_OUTPUT) it sleeps 1 s instead of waiting.
 * usage: symmem_host [ROUNDS] [HOLD_S]  (HOLD_S: stay alive that long
 * afterwards, for an outside look at /proc/PID/status) */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t bucket_locks[4] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
					   PTHREAD_MUTEX_INITIALIZER,
					   PTHREAD_MUTEX_INITIALIZER };
static pthread_mutex_t *heap_lock;
static pthread_barrier_t go;
/* every round starts together: threads id and id + 3 are then in the same
 * function at once, so each of the three locks is contended every round
 * (left to drift, the threads could fall into a convoy on table_lock that
 * never contended the other two, and a run had no heap lock to name) */
static pthread_barrier_t round_start;
static int rounds = 60;
static long work;

static void hold(void)
{
	struct timespec ts = { 0, 200000 };
	nanosleep(&ts, NULL);
}

__attribute__((noinline)) static void table_update(void)
{
	pthread_mutex_lock(&table_lock);
	__atomic_fetch_add(&work, 1, __ATOMIC_RELAXED); /* under three different locks */
	hold();
	pthread_mutex_unlock(&table_lock);
}

__attribute__((noinline)) static void bucket_update(int i)
{
	pthread_mutex_lock(&bucket_locks[i & 3]);
	__atomic_fetch_add(&work, 1, __ATOMIC_RELAXED); /* under three different locks */
	hold();
	pthread_mutex_unlock(&bucket_locks[i & 3]);
}

__attribute__((noinline)) static void heap_update(void)
{
	pthread_mutex_lock(heap_lock);
	__atomic_fetch_add(&work, 1, __ATOMIC_RELAXED); /* under three different locks */
	hold();
	pthread_mutex_unlock(heap_lock);
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	pthread_barrier_wait(&go);
	for (int r = 0; r < rounds; r++) {
		pthread_barrier_wait(&round_start);
		switch ((r + id) % 3) {
		case 0:
			table_update();
			break;
		case 1:
			bucket_update(r / 3);
			break;
		default:
			heap_update();
		}
	}
	return NULL;
}

static void status(long *rss, long *hwm)
{
	*rss = *hwm = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "VmRSS: %ld", rss);
		sscanf(line, "VmHWM: %ld", hwm);
	}
	fclose(f);
}

/* The output has a span with a stack: the exporter named its frames. */
static int exported(const char *path)
{
	static const char mark[] = "code.stacktrace";
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char buf[8192];
	size_t keep = 0, n;
	int found = 0;
	/* the marker may straddle two reads: carry the tail of the last one */
	while (!found && (n = fread(buf + keep, 1, sizeof buf - 1 - keep, f)) > 0) {
		n += keep;
		buf[n] = '\0';
		found = strstr(buf, mark) != NULL;
		keep = n < sizeof mark ? n : sizeof mark;
		memmove(buf, buf + n - keep, keep);
	}
	fclose(f);
	return found;
}

/* Under the shim, wait (at most 5 s) until the exporter thread has mapped
 * libunwind: a wait recorded before that has no stack. A fixed sleep was
 * too short on a loaded machine. */
static void wait_for_unwinder(void)
{
	const char *out = getenv("OTCSHIM_OUTPUT");
	for (int i = 0; out && *out && i < 100; i++) {
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512];
		int found = 0;
		while (f && !found && fgets(line, sizeof line, f))
			found = strstr(line, "libunwind") != NULL;
		if (f)
			fclose(f);
		if (found)
			return;
		usleep(50000);
	}
}

/* Descriptors on ELF files: see the top. */
static int elf_fds(void)
{
	char exe[PATH_MAX];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[el > 0 ? el : 0] = '\0';
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char link[300], to[PATH_MAX];
		snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
		ssize_t k = readlink(link, to, sizeof to - 1);
		if (k <= 0)
			continue;
		to[k] = '\0';
		if (!strncmp(to, "/usr/lib/debug/", 15) || strstr(to, ".so") ||
		    (*exe && !strcmp(to, exe)))
			n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rounds = atoi(argv[1]);
	int hold_s = argc > 2 ? atoi(argv[2]) : 0;
	heap_lock = malloc(sizeof *heap_lock);
	pthread_mutex_init(heap_lock, NULL);
	pthread_barrier_init(&go, NULL, THREADS + 1);
	pthread_barrier_init(&round_start, NULL, THREADS);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(long)i);
	usleep(200000); /* the exporter thread is up */
	wait_for_unwinder();
	long before_rss, before_hwm, after_rss, after_hwm;
	status(&before_rss, &before_hwm);
	pthread_barrier_wait(&go);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	const char *out = getenv("OTCSHIM_OUTPUT");
	int spans = 0;
	if (out && *out) {
		for (int i = 0; i < 200 && !(spans = exported(out)); i++)
			usleep(50000);
		usleep(100000); /* the rest of that batch */
	} else {
		sleep(1);
	}
	status(&after_rss, &after_hwm);
	printf("before_rss=%ld before_hwm=%ld after_rss=%ld after_hwm=%ld spans=%d elf_fds=%d\n",
	       before_rss, before_hwm, after_rss, after_hwm, spans, elf_fds());
	fflush(stdout);
	if (hold_s > 0)
		sleep((unsigned)hold_s);
	return 0;
}
