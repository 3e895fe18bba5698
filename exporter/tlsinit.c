/* tlsinit.c - tell the host's OpenSSL, if it has one, not to clean itself up
 * at exit.
 *
 * The OTLP sink's final flush runs from an atexit handler registered when the
 * exporter thread starts. A host that initialises OpenSSL later would have
 * OpenSSL register its own cleanup after ours, so it would run first, and our
 * libcurl, if it shares that OpenSSL (the host links libssl itself), would
 * then send through freed state. OPENSSL_INIT_NO_ATEXIT is honoured only by
 * the first initialisation, so it is said here, in the thread that starts
 * the exporter, before the host can initialise OpenSSL. Only the host's
 * global scope is looked at: nothing is loaded; a host without OpenSSL has
 * nothing to tell. (The plugin's own copy is told the same in http.c.)
 */
#include "exp.h"

#include <dlfcn.h>

void ots_tls_preinit(void)
{
	static int done;
	if (done++ || !ots_cfg.traces_exporter_otlp)
		return;
	typedef int (*init_fn)(uint64_t, const void *);
	init_fn f = (init_fn)dlsym(RTLD_DEFAULT, "OPENSSL_init_crypto");
	/* OPENSSL_INIT_BASE_ONLY answers 0 after OPENSSL_cleanup */
	if (f && f(0x00040000ull, NULL))
		f(0x00080000ull /* OPENSSL_INIT_NO_ATEXIT */, NULL);
}
