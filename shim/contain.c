/* contain.c - a crash in the shim's exit work must not cost the host its
 * output or its exit status.
 *
 * At exit the shim initialises and runs code it does not control (libcurl,
 * the TLS library, libdw) in a process whose own exit handlers have already
 * torn things down: an OpenSSL cleaned up by the host's atexit handler, for
 * instance. A fault there used to kill the host before stdio was flushed
 * (`openssl version` printed nothing and died of SIGSEGV). So the exit work
 * runs in a containment window: while it lasts, handlers for the fault
 * signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, and SIGABRT raised by abort())
 * are installed for the process; a fault taken by a thread inside the window
 * jumps back to where its window began (siglongjmp), the shim's work is
 * abandoned with one message, and the host's exit goes on untouched. Any
 * other delivery (another thread's fault, a kill from outside) gets the
 * host's own disposition back at once and is delivered again, so the host
 * sees what it would have seen natively. The previous dispositions are put
 * back when the last window closes.
 *
 * What is abandoned is abandoned: a lock the faulting code held stays held,
 * so the shim touches nothing of it again. Not used under sanitizers (their
 * runtimes own these signals).
 */
#include "ots.h"

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int fault_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
#define NSIGS (sizeof fault_sigs / sizeof fault_sigs[0])

static struct sigaction saved[NSIGS];
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
static _Atomic int windows;  /* open windows */
static _Atomic int installed;
#endif

static int idx_of(int sig)
{
	for (unsigned i = 0; i < NSIGS; i++)
		if (fault_sigs[i] == sig)
			return (int)i;
	return -1;
}

static int is_own_fault(int sig, const siginfo_t *si)
{
	if (sig == SIGABRT) /* abort() in this thread: tgkill of itself */
		return si->si_code == SI_TKILL && si->si_pid == getpid();
	return si->si_code > 0; /* sent by the kernel for a fault, not by kill() */
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	sigjmp_buf *jb = ots_tls.crash_jmp;
	if (jb && is_own_fault(sig, si)) {
		ots_tls.crash_jmp = NULL;
		siglongjmp(*jb, sig);
	}
	/* not ours: the host's disposition, and the signal again */
	int i = idx_of(sig);
	if (i >= 0)
		sigaction(sig, &saved[i], NULL);
	if (si->si_code <= 0 && sig != SIGABRT)
		kill(getpid(), sig); /* sent from outside: send it again, to the process */
	else if (si->si_code <= 0 || sig == SIGABRT)
		syscall(SYS_tgkill, getpid(), ots_tid(), sig);
	/* a fault: returning re-executes the instruction, which faults again */
}

void ots_contain_open(void)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	if (atomic_fetch_add(&windows, 1) != 0)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	for (unsigned i = 0; i < NSIGS; i++)
		sigaction(fault_sigs[i], &sa, &saved[i]);
	atomic_store(&installed, 1);
#endif
}

void ots_contain_close(void)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	if (atomic_fetch_sub(&windows, 1) != 1 || !atomic_exchange(&installed, 0))
		return;
	for (unsigned i = 0; i < NSIGS; i++) {
		struct sigaction cur;
		/* put back only what is still ours (a handler that ran restored its own) */
		if (sigaction(fault_sigs[i], NULL, &cur) == 0 && cur.sa_sigaction == on_fault)
			sigaction(fault_sigs[i], &saved[i], NULL);
	}
#endif
}

void ots_contain_unblock(void)
{
	sigset_t s;
	sigemptyset(&s);
	for (unsigned i = 0; i < NSIGS; i++)
		sigaddset(&s, fault_sigs[i]);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}
