/* signals.c - interrupted and restarted system calls:
 *  1. read() on a pipe interrupted by SIGALRM whose handler has SA_RESTART
 *     -> "= ? ERESTARTSYS (To be restarted if SA_RESTART is set)", the
 *     handler writes a byte, the read is restarted and returns 1;
 *  2. the same without SA_RESTART -> ERESTARTSYS, then -1 EINTR;
 *  3. pause() -> "= ? ERESTARTNOHAND (To be restarted if no handler)";
 *  4. raw nanosleep (and glibc's clock_nanosleep) while an untraced child
 *     sends SIGSTOP and SIGCONT -> "--- stopped by SIGSTOP ---",
 *     "= ? ERESTART_RESTARTBLOCK (Interrupted by signal)" and
 *     "restart_syscall(<... resuming interrupted nanosleep ...>)". */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];

static void on_alarm(int sig)
{
	(void) sig;
	(void) write(pfd[1], "x", 1);
}

static void arm(long ms)
{
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = ms * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_cont_child(void)
{
	pid_t parent = getpid();
	if (fork() == 0) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		kill(parent, SIGSTOP);
		nanosleep(&ts, NULL);
		kill(parent, SIGCONT);
		_exit(0);
	}
}

int main(void)
{
	char c;
	struct sigaction sa;
	if (pipe(pfd))
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	arm(30);
	(void) read(pfd[0], &c, 1);

	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	arm(30);
	(void) read(pfd[0], &c, 1);       /* -1 EINTR after the handler */
	(void) read(pfd[0], &c, 1);       /* the byte the handler wrote */

	arm(30);
	pause();

	/* SIGCHLD is ignored by default; a handler makes it visible as well */
	stop_cont_child();
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	syscall(SYS_nanosleep, &ts, NULL);
	wait(NULL);

	stop_cont_child();
	nanosleep(&ts, NULL);             /* glibc: clock_nanosleep */
	wait(NULL);
	return 0;
}
