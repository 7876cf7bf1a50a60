/* inject.c - repeated openat/getpid/getppid calls for the fault-injection
 * fixtures (-e inject=...). Linked statically so the Nth openat is the
 * program's own and not the dynamic loader's. */
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	for (int i = 0; i < 4; i++) {
		int fd = open("/etc/hostname", O_RDONLY);
		if (fd >= 0)
			close(fd);
	}
	(void) getpid();
	(void) getppid();
	return 0;
}
