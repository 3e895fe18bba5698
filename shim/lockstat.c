/* lockstat.c - per-lock statistics. Entry points only for now: the registry
 * arrives with the exit report (issue 5). */
#include "ots.h"

void ots_lockstat_add(const ots_rec_t *r, uint64_t wait_ns)
{
	(void)r;
	(void)wait_ns;
}

void ots_lockstat_hold(uintptr_t obj, uint64_t hold_ns)
{
	(void)obj;
	(void)hold_ns;
}

void ots_lockstat_reset_after_fork(void)
{
}
