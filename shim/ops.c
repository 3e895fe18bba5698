/* ops.c - names of the operations a record describes (span names). */
#include "ots.h"

static const char *const names[OTS_OP_COUNT] = {
	[OTS_OP_NONE] = "unknown",
	[OTS_OP_MUTEX_LOCK] = "pthread_mutex_lock",
	[OTS_OP_MUTEX_TIMEDLOCK] = "pthread_mutex_timedlock",
	[OTS_OP_MUTEX_CLOCKLOCK] = "pthread_mutex_clocklock",
	[OTS_OP_RWLOCK_RDLOCK] = "pthread_rwlock_rdlock",
	[OTS_OP_RWLOCK_WRLOCK] = "pthread_rwlock_wrlock",
	[OTS_OP_RWLOCK_TIMEDRDLOCK] = "pthread_rwlock_timedrdlock",
	[OTS_OP_RWLOCK_TIMEDWRLOCK] = "pthread_rwlock_timedwrlock",
	[OTS_OP_RWLOCK_CLOCKRDLOCK] = "pthread_rwlock_clockrdlock",
	[OTS_OP_RWLOCK_CLOCKWRLOCK] = "pthread_rwlock_clockwrlock",
	[OTS_OP_COND_WAIT] = "pthread_cond_wait",
	[OTS_OP_COND_TIMEDWAIT] = "pthread_cond_timedwait",
	[OTS_OP_COND_CLOCKWAIT] = "pthread_cond_clockwait",
	[OTS_OP_SEM_WAIT] = "sem_wait",
	[OTS_OP_SEM_TIMEDWAIT] = "sem_timedwait",
	[OTS_OP_SEM_CLOCKWAIT] = "sem_clockwait",
	[OTS_OP_ONCE] = "pthread_once",
	[OTS_OP_ONCE_INIT] = "pthread_once init",
	[OTS_OP_JOIN] = "pthread_join",
	[OTS_OP_TIMEDJOIN] = "pthread_timedjoin_np",
	[OTS_OP_CLOCKJOIN] = "pthread_clockjoin_np",
	[OTS_OP_BARRIER_WAIT] = "pthread_barrier_wait",
	[OTS_OP_SPIN_LOCK] = "pthread_spin_lock",
};

const char *ots_op_name(unsigned op)
{
	return op < OTS_OP_COUNT && names[op] ? names[op] : "unknown";
}
