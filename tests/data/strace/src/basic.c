/* basic.c - a short single-process program for the plain/timestamp/-T/-i/-n/-k
 * fixtures: a successful open, a failing open (ENOENT), a read, a poll that
 * times out, a write to stdout, then (if argv[2] is given) a nanosleep of
 * argv[2] ms, and exit with the code given as argv[1]. */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[64];
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void) read(fd, buf, sizeof(buf));
		close(fd);
	}
	(void) open("/nonexistent/gotrace-fixture", O_RDONLY);
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	int pfds[2];
	if (pipe(pfds) == 0) {
		pfd.fd = pfds[0];
		(void) poll(&pfd, 1, 10);        /* = 0 (Timeout) */
	}
	const char msg[] = "hello from basic\n";
	(void) write(1, msg, strlen(msg));
	if (argc > 2) {
		long ms = atol(argv[2]);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return argc > 1 ? atoi(argv[1]) : 0;
}
