/* rwlock_errors: every rwlock error path, printed as return codes, so the test
 * can compare a native run with a run under the shim byte for byte. A helper
 * thread holds the lock in the mode each case needs. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e)
{
	static char b[16];
	switch (e) {
	case 0: return "0";
	case EBUSY: return "EBUSY";
	case EAGAIN: return "EAGAIN";
	case EDEADLK: return "EDEADLK";
	case EINVAL: return "EINVAL";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPERM: return "EPERM";
	}
	snprintf(b, sizeof b, "%d", e);
	return b;
}

static pthread_rwlock_t rw;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int want; /* 0 release, 1 hold read, 2 hold write, 3 quit */
static int state;

static void *holder(void *arg)
{
	(void)arg;
	int have = 0;
	pthread_mutex_lock(&m);
	for (;;) {
		while (want == state)
			pthread_cond_wait(&c, &m);
		if (have) {
			pthread_rwlock_unlock(&rw);
			have = 0;
		}
		if (want == 1)
			have = pthread_rwlock_rdlock(&rw) == 0;
		else if (want == 2)
			have = pthread_rwlock_wrlock(&rw) == 0;
		state = want;
		pthread_cond_broadcast(&c);
		if (want == 3)
			break;
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

static void set_holder(int w)
{
	pthread_mutex_lock(&m);
	want = w;
	pthread_cond_broadcast(&c);
	while (state != w)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
}

static struct timespec in_ms(clockid_t clk, int ms)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

#define SHOW(what, call) printf("%-48s %s\n", what, en(call))

static void cases(const char *kind)
{
	struct timespec bad = { 0, 1000000000L }, neg = { 0, -1 }, ts;
	printf("-- %s\n", kind);
	set_holder(0);
	SHOW("free: clockrdlock(bad clock)", pthread_rwlock_clockrdlock(&rw, 12345, &bad));
	SHOW("free: clockwrlock(bad clock)", pthread_rwlock_clockwrlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &bad));
	SHOW("free: timedrdlock(nsec 1e9)", pthread_rwlock_timedrdlock(&rw, &bad));
	SHOW("free: timedwrlock(nsec -1)", pthread_rwlock_timedwrlock(&rw, &neg));
	SHOW("free: wrlock", pthread_rwlock_wrlock(&rw));
	SHOW("own write: rdlock", pthread_rwlock_rdlock(&rw));
	SHOW("own write: wrlock", pthread_rwlock_wrlock(&rw));
	ts = in_ms(CLOCK_MONOTONIC, 20);
	SHOW("own write: clockwrlock", pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &ts));
	SHOW("own write: tryrdlock", pthread_rwlock_tryrdlock(&rw));
	SHOW("own write: trywrlock", pthread_rwlock_trywrlock(&rw));
	SHOW("own write: unlock", pthread_rwlock_unlock(&rw));
	SHOW("free: rdlock", pthread_rwlock_rdlock(&rw));
	SHOW("own read: rdlock (recursive)", pthread_rwlock_rdlock(&rw));
	SHOW("own read: unlock", pthread_rwlock_unlock(&rw));
	SHOW("own read: trywrlock", pthread_rwlock_trywrlock(&rw));
	SHOW("own read: unlock", pthread_rwlock_unlock(&rw));

	set_holder(1); /* another thread reads */
	SHOW("read-held: tryrdlock", pthread_rwlock_tryrdlock(&rw));
	SHOW("read-held: unlock", pthread_rwlock_unlock(&rw));
	SHOW("read-held: trywrlock", pthread_rwlock_trywrlock(&rw));
	ts = in_ms(CLOCK_REALTIME, 30);
	SHOW("read-held: timedwrlock 30ms", pthread_rwlock_timedwrlock(&rw, &ts));
	ts = in_ms(CLOCK_MONOTONIC, 20);
	SHOW("read-held: clockwrlock 20ms", pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &ts));
	SHOW("read-held: clockwrlock(bad clock)", pthread_rwlock_clockwrlock(&rw, 12345, &ts));
	SHOW("read-held: timedwrlock(nsec 1e9)", pthread_rwlock_timedwrlock(&rw, &bad));

	set_holder(2); /* another thread writes */
	SHOW("write-held: tryrdlock", pthread_rwlock_tryrdlock(&rw));
	SHOW("write-held: trywrlock", pthread_rwlock_trywrlock(&rw));
	ts = in_ms(CLOCK_REALTIME, 30);
	SHOW("write-held: timedrdlock 30ms", pthread_rwlock_timedrdlock(&rw, &ts));
	ts = in_ms(CLOCK_MONOTONIC, 20);
	SHOW("write-held: clockrdlock 20ms", pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &ts));
	ts = in_ms(CLOCK_REALTIME, 20);
	SHOW("write-held: timedwrlock 20ms", pthread_rwlock_timedwrlock(&rw, &ts));
	SHOW("write-held: clockrdlock(nsec -1)", pthread_rwlock_clockrdlock(&rw, CLOCK_REALTIME, &neg));
	SHOW("write-held: clockrdlock(bad clock)", pthread_rwlock_clockrdlock(&rw, 12345, &ts));
	ts.tv_sec = 0; /* long past */
	ts.tv_nsec = 0;
	SHOW("write-held: timedrdlock(past)", pthread_rwlock_timedrdlock(&rw, &ts));
	set_holder(0);
	SHOW("released: timedrdlock(past)", pthread_rwlock_timedrdlock(&rw, &ts));
	SHOW("released: unlock", pthread_rwlock_unlock(&rw));
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, holder, NULL);
	pthread_rwlockattr_t a;

	pthread_rwlock_init(&rw, NULL);
	cases("default (prefer readers)");
	pthread_rwlock_destroy(&rw);

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&rw, &a);
	cases("prefer writer, non-recursive");
	pthread_rwlock_destroy(&rw);

	pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_rwlock_init(&rw, &a);
	cases("process-shared");
	pthread_rwlock_destroy(&rw);
	pthread_rwlockattr_destroy(&a);

	set_holder(3);
	pthread_join(t, NULL);
	fflush(stdout);
	return 0;
}
