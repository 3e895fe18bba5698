/* mutex_kinds: every mutex kind and error path, printing each result, so a
 * run under the shim can be compared line by line with a native run.
 * Exits with status 3 to check exit codes pass through. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e)
{
	switch (e) {
	case 0: return "0";
	case EBUSY: return "EBUSY";
	case EDEADLK: return "EDEADLK";
	case EPERM: return "EPERM";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EOWNERDEAD: return "EOWNERDEAD";
	case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
	case EINVAL: return "EINVAL";
	case EAGAIN: return "EAGAIN";
	default: return strerror(e);
	}
}

#define SHOW(label, expr)                                                   \
	do {                                                                \
		errno = 1234;                                               \
		int rc_ = (expr);                                           \
		printf("%-34s %-16s errno=%d\n", label, en(rc_), errno);    \
	} while (0)

static void make(pthread_mutex_t *m, int type, int robust, int proto, int pshared)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, type);
	if (robust)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (proto)
		pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	if (pshared)
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

static struct timespec in_ms(clockid_t c, long ms)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static pthread_mutex_t *target;
static _Atomic int holding, release_it;

static void *hold(void *arg)
{
	(void)arg;
	pthread_mutex_lock(target);
	holding = 1;
	while (!release_it)
		usleep(1000);
	pthread_mutex_unlock(target);
	holding = 0;
	return NULL;
}

static void *die_holding(void *arg)
{
	pthread_mutex_lock(arg);
	return NULL; /* owner dies */
}

static void *try_other(void *arg)
{
	return (void *)(long)pthread_mutex_trylock(arg);
}

static void *unlock_other(void *arg)
{
	return (void *)(long)pthread_mutex_unlock(arg);
}

static void with_holder(pthread_mutex_t *m, const char *name)
{
	char label[64];
	pthread_t t;
	target = m;
	release_it = 0;
	pthread_create(&t, NULL, hold, NULL);
	while (!holding)
		usleep(1000);
	struct timespec past = { 1, 0 };
	snprintf(label, sizeof label, "%s.trylock_held", name);
	SHOW(label, pthread_mutex_trylock(m));
	struct timespec ts = in_ms(CLOCK_REALTIME, 30);
	snprintf(label, sizeof label, "%s.timedlock_30ms", name);
	SHOW(label, pthread_mutex_timedlock(m, &ts));
	snprintf(label, sizeof label, "%s.timedlock_past", name);
	SHOW(label, pthread_mutex_timedlock(m, &past));
	ts = in_ms(CLOCK_MONOTONIC, 20);
	snprintf(label, sizeof label, "%s.clocklock_mono_20ms", name);
	SHOW(label, pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts));
	struct timespec badns = { 0, 2000000000L };
	snprintf(label, sizeof label, "%s.timedlock_bad_nsec", name);
	SHOW(label, pthread_mutex_timedlock(m, &badns));
	snprintf(label, sizeof label, "%s.clocklock_bad_clock", name);
	SHOW(label, pthread_mutex_clocklock(m, CLOCK_PROCESS_CPUTIME_ID, &ts));
	release_it = 1;
	pthread_join(t, NULL);
}

int main(void)
{
	pthread_mutex_t m;
	void *r;
	pthread_t t;

	make(&m, PTHREAD_MUTEX_NORMAL, 0, 0, 0);
	SHOW("normal.lock", pthread_mutex_lock(&m));
	SHOW("normal.trylock_self", pthread_mutex_trylock(&m));
	SHOW("normal.unlock", pthread_mutex_unlock(&m));
	with_holder(&m, "normal");
	pthread_mutex_destroy(&m);

	make(&m, PTHREAD_MUTEX_RECURSIVE, 0, 0, 0);
	SHOW("recursive.lock1", pthread_mutex_lock(&m));
	SHOW("recursive.lock2", pthread_mutex_lock(&m));
	SHOW("recursive.trylock3", pthread_mutex_trylock(&m));
	SHOW("recursive.unlock1", pthread_mutex_unlock(&m));
	SHOW("recursive.unlock2", pthread_mutex_unlock(&m));
	SHOW("recursive.unlock3", pthread_mutex_unlock(&m));
	SHOW("recursive.unlock_extra", pthread_mutex_unlock(&m));
	with_holder(&m, "recursive");
	pthread_mutex_destroy(&m);

	make(&m, PTHREAD_MUTEX_ERRORCHECK, 0, 0, 0);
	SHOW("errorcheck.lock", pthread_mutex_lock(&m));
	SHOW("errorcheck.relock_self", pthread_mutex_lock(&m));
	pthread_create(&t, NULL, unlock_other, &m);
	pthread_join(t, &r);
	printf("%-34s %s\n", "errorcheck.unlock_by_other", en((int)(long)r));
	SHOW("errorcheck.unlock", pthread_mutex_unlock(&m));
	SHOW("errorcheck.unlock_again", pthread_mutex_unlock(&m));
	with_holder(&m, "errorcheck");
	pthread_mutex_destroy(&m);

	make(&m, PTHREAD_MUTEX_NORMAL, 1, 0, 0);
	pthread_create(&t, NULL, die_holding, &m);
	pthread_join(t, NULL);
	SHOW("robust.lock_owner_dead", pthread_mutex_lock(&m));
	SHOW("robust.consistent", pthread_mutex_consistent(&m));
	SHOW("robust.unlock", pthread_mutex_unlock(&m));
	pthread_create(&t, NULL, die_holding, &m);
	pthread_join(t, NULL);
	SHOW("robust.lock_owner_dead2", pthread_mutex_lock(&m));
	SHOW("robust.unlock_inconsistent", pthread_mutex_unlock(&m));
	SHOW("robust.lock_not_recoverable", pthread_mutex_lock(&m));
	pthread_mutex_destroy(&m);

	make(&m, PTHREAD_MUTEX_ERRORCHECK, 0, 1, 0);
	SHOW("pi.lock", pthread_mutex_lock(&m));
	SHOW("pi.relock_self", pthread_mutex_lock(&m));
	pthread_create(&t, NULL, try_other, &m);
	pthread_join(t, &r);
	printf("%-34s %s\n", "pi.trylock_by_other", en((int)(long)r));
	SHOW("pi.unlock", pthread_mutex_unlock(&m));
	with_holder(&m, "pi");
	pthread_mutex_destroy(&m);

	/* process-shared: a child process holds it 30 ms while we wait */
	pthread_mutex_t *sm = mmap(NULL, sizeof *sm, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	volatile int *flag = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	make(sm, PTHREAD_MUTEX_NORMAL, 0, 0, 1);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		pthread_mutex_lock(sm);
		*flag = 1;
		usleep(30000);
		pthread_mutex_unlock(sm);
		_exit(0);
	}
	while (!*flag)
		usleep(500);
	SHOW("pshared.lock_held_by_child", pthread_mutex_lock(sm));
	SHOW("pshared.unlock", pthread_mutex_unlock(sm));
	waitpid(pid, NULL, 0);
	fflush(stdout);
	return 3;
}
