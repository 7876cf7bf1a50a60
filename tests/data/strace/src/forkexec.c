/* forkexec.c - multi-process program: fork a child that sleeps briefly and
 * execs /bin/true (exit 0), while the parent blocks in wait4 (so strace -f
 * prints <unfinished ...>/<... wait4 resumed>); then fork a second child that
 * exits with status 3. The program writes only to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	int status;
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		execl("/bin/true", "true", (char *) NULL);
		_exit(127);
	}
	(void) wait4(-1, &status, 0, NULL);
	pid = fork();
	if (pid == 0) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		_exit(3);
	}
	(void) waitpid(pid, &status, 0);
	printf("second child: exit %d\n", WEXITSTATUS(status));
	return 0;
}
