/* relay_host - single-threaded, with a file open across exec (not
 * close-on-exec) and a SIGCHLD handler that says so on stdout: at its exit
 * the shim starts its sender, which must hold neither, and must not be seen
 * ending. Prints "relay_host done" and exits 0. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_chld(int sig)
{
	(void)sig;
	static const char m[] = "SIGCHLD\n";
	(void)!write(1, m, sizeof m - 1);
}

int main(void)
{
	if (open("/etc/hostname", O_RDONLY) < 0)
		return 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	printf("relay_host done\n");
	return 0;
}
