/* real.c - the table of the real functions the hooks forward to.
 *
 * Resolved with dlsym(RTLD_NEXT) at the default version, except the condition
 * variable functions: glibc keeps a GLIBC_2.2.5 compat version (the old,
 * smaller pthread_cond_t) beside the GLIBC_2.3.2 default, and an unversioned
 * lookup has been known to hand back the old one, so those go through dlvsym.
 *
 * dlsym may itself take locks or allocate, and a hook can be reached before our
 * constructor ran (another library's constructor locking a mutex). The mutex
 * entries are therefore seeded first from glibc's public __pthread_mutex_*
 * aliases, which are bound at load time and need no lookup: a mutex call that
 * arrives while we are still resolving always has somewhere to go.
 */
#include "ots.h"

#include <dlfcn.h>

/* glibc exports these aliases only at the base version (no default
 * version), so a plain reference does not link: bind the version explicitly.
 * GLIBC_2.2.5 is the x86_64 base version. */
#if defined(__x86_64__)
extern int ots_libc_mutex_lock(pthread_mutex_t *);
extern int ots_libc_mutex_trylock(pthread_mutex_t *);
extern int ots_libc_mutex_unlock(pthread_mutex_t *);
__asm__(".symver ots_libc_mutex_lock, __pthread_mutex_lock@GLIBC_2.2.5");
__asm__(".symver ots_libc_mutex_trylock, __pthread_mutex_trylock@GLIBC_2.2.5");
__asm__(".symver ots_libc_mutex_unlock, __pthread_mutex_unlock@GLIBC_2.2.5");
#define OTS_HAVE_BOOTSTRAP 1
#endif

/* On x86_64 the mutex entries start out pointing at glibc's aliases, so they
 * are never NULL and the mutex hooks need no test for it (OTS_REAL_MUTEX_STATIC
 * in ots.h); dlsym replaces them at init with whatever comes next in the
 * lookup order (another interposer, a sanitizer runtime, or the same libc). */
ots_real_t ots_real = {
#ifdef OTS_HAVE_BOOTSTRAP
	.mutex_lock = ots_libc_mutex_lock,
	.mutex_trylock = ots_libc_mutex_trylock,
	.mutex_unlock = ots_libc_mutex_unlock,
#endif
};

static OTS_TLS int resolving;

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static void *next_v(const char *name, const char *version)
{
#if defined(__SANITIZE_THREAD__)
	/* TSan builds: libtsan comes after us and its interceptors are not
	 * versioned; a versioned lookup would go past them to libc, and TSan would
	 * never see the mutex released inside a condition wait. */
	(void)version;
	return dlsym(RTLD_NEXT, name);
#else
	void *p = dlvsym(RTLD_NEXT, name, version);
	return p ? p : dlsym(RTLD_NEXT, name);
#endif
}

#define SET(field, value) __atomic_store_n((void **)&ots_real.field, (void *)(value), __ATOMIC_RELAXED)
#define GET(field, name)              \
	do {                          \
		void *p_ = next(name);  \
		if (p_)               \
			SET(field, p_); \
	} while (0)

void ots_real_resolve(void)
{
	if (resolving)
		return;
	resolving = 1;
#ifdef OTS_HAVE_BOOTSTRAP
	if (!ots_real.mutex_lock) {
		SET(mutex_lock, ots_libc_mutex_lock);
		SET(mutex_trylock, ots_libc_mutex_trylock);
		SET(mutex_unlock, ots_libc_mutex_unlock);
	}
#endif
	GET(mutex_lock, "pthread_mutex_lock");
	GET(mutex_trylock, "pthread_mutex_trylock");
	GET(mutex_timedlock, "pthread_mutex_timedlock");
	GET(mutex_clocklock, "pthread_mutex_clocklock");
	GET(mutex_unlock, "pthread_mutex_unlock");
	GET(rwlock_rdlock, "pthread_rwlock_rdlock");
	GET(rwlock_wrlock, "pthread_rwlock_wrlock");
	GET(rwlock_tryrdlock, "pthread_rwlock_tryrdlock");
	GET(rwlock_trywrlock, "pthread_rwlock_trywrlock");
	GET(rwlock_timedrdlock, "pthread_rwlock_timedrdlock");
	GET(rwlock_timedwrlock, "pthread_rwlock_timedwrlock");
	GET(rwlock_clockrdlock, "pthread_rwlock_clockrdlock");
	GET(rwlock_clockwrlock, "pthread_rwlock_clockwrlock");
	GET(rwlock_unlock, "pthread_rwlock_unlock");
	SET(cond_wait, next_v("pthread_cond_wait", "GLIBC_2.3.2"));
	SET(cond_timedwait, next_v("pthread_cond_timedwait", "GLIBC_2.3.2"));
	SET(cond_clockwait, next("pthread_cond_clockwait"));
	SET(cond_signal, next_v("pthread_cond_signal", "GLIBC_2.3.2"));
	SET(cond_broadcast, next_v("pthread_cond_broadcast", "GLIBC_2.3.2"));
	GET(sem_wait, "sem_wait");
	GET(sem_timedwait, "sem_timedwait");
	GET(sem_clockwait, "sem_clockwait");
	GET(sem_trywait, "sem_trywait");
	GET(sem_post, "sem_post");
	GET(once, "pthread_once");
	GET(join, "pthread_join");
	GET(tryjoin, "pthread_tryjoin_np");
	GET(timedjoin, "pthread_timedjoin_np");
	GET(clockjoin, "pthread_clockjoin_np");
	GET(barrier_wait, "pthread_barrier_wait");
	GET(spin_lock, "pthread_spin_lock");
	GET(create, "pthread_create");
	GET(exit, "pthread_exit");
	GET(cancel, "pthread_cancel");
	GET(detach, "pthread_detach");
	GET(setname, "pthread_setname_np");
	GET(proc_exit, "exit");
	GET(quick_exit, "quick_exit");
	GET(execve, "execve");
	GET(execvpe, "execvpe");
	GET(fexecve, "fexecve");
	GET(execveat, "execveat");
	GET(open, "open");
	GET(open64, "open64");
	GET(close_range, "close_range");
	GET(closefrom, "closefrom");
	GET(socket, "socket");
	GET(socketpair, "socketpair");
	GET(pipe, "pipe");
	GET(pipe2, "pipe2");
	GET(dup, "dup");
	GET(close, "close"); /* last: hooks/fd.c takes it as "resolved" */
	resolving = 0;
}
