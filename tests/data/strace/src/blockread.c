/* blockread.c - blocks in read(0) until killed or stdin gets data.
 *   blockread [PIDFILE]          write own pid to PIDFILE, then read(0)
 *   blockread fork PIDFILE       fork; the child writes its pid to PIDFILE and
 *                                blocks in read(0); the parent blocks in wait4
 *   blockread forkpoll PIDFILE   same, but the parent polls with
 *                                waitpid(WNOHANG) + nanosleep, so its lines
 *                                interleave with the child's blocked read
 * Used for the SIGKILL-from-outside, <detached ...> and mid-line fixtures. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void write_pid(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", (int) getpid());
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	char buf[16];
	if (argc > 2 && strncmp(argv[1], "fork", 4) == 0) {
		int poll = strcmp(argv[1], "forkpoll") == 0;
		pid_t pid = fork();
		if (pid == 0) {
			write_pid(argv[2]);
			return read(0, buf, sizeof(buf)) > 0 ? 0 : 1;
		}
		int status;
		if (!poll) {
			(void) wait4(pid, &status, 0, NULL);
			return 0;
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		while (waitpid(pid, &status, WNOHANG) == 0)
			nanosleep(&ts, NULL);
		return 0;
	}
	if (argc > 1)
		write_pid(argv[1]);
	return read(0, buf, sizeof(buf)) > 0 ? 0 : 1;
}
