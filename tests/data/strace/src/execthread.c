/* execthread.c - a non-leader thread calls execve, so strace reports the
 * thread-group leader as "+++ superseded by execve in pid N +++". */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static void *run(void *arg)
{
	(void) arg;
	char *argv[] = { "true", NULL };
	char *envp[] = { NULL };
	execve("/bin/true", argv, envp);
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, run, NULL);
	struct timespec ts = { 10, 0 };
	nanosleep(&ts, NULL);      /* interrupted by the exec in the other thread */
	return 1;
}
