/* args.c - argument forms: binary and long strings (octal escapes by
 * default, hex with -x/-xx, truncation with -s), structs (fstat), arrays
 * (pipe2, poll), signal sets "[CHLD TTOU]", "~[]" and "~[KILL STOP]"-like,
 * in/out values "[128 => 16]" (getsockname), flags for -X verbose. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	static const char bin[] = "\x00\x01\x02\x7f\x80\xfe\xff\tA\"\\\n";
	static const char text[] = "a long text string that strace will truncate at -s bytes\n";
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	(void) write(fd, bin, sizeof(bin) - 1);
	(void) write(fd, text, sizeof(text) - 1);

	struct stat st;
	(void) fstat(fd, &st);

	int p[2];
	(void) pipe2(p, O_CLOEXEC | O_NONBLOCK);
	struct pollfd pf[2] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 } };
	(void) poll(pf, 2, 0);

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTTOU);
	sigprocmask(SIG_BLOCK, &set, &old);            /* [CHLD TTOU] */
	unsigned long all = ~0UL, prev = 0;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &prev, 8);   /* ~[] */
	unsigned long none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8); /* [] */

	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void) bind(s, (struct sockaddr *) &a, sizeof(a));
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);                     /* [128 => 16] */
	(void) getsockname(s, (struct sockaddr *) &ss, &len);
	close(s);
	return 0;
}
