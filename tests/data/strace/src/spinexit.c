/* spinexit.c - threads spin in a cheap syscall (getppid) while the main
 * thread calls exit_group: threads killed around syscall entry show up in
 * strace -f output as "???( <unfinished ...>" / "<... ??? resumed>) = ?",
 * and sometimes "= ? <unavailable>". argv[1] = threads, argv[2] = calls
 * per thread (approximately) before exit_group. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int go;
static int calls;

static void *spin(void *arg)
{
	(void) arg;
	while (!go)
		;
	for (;;) {
		syscall(SYS_getppid);
		__atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	int per = argc > 2 ? atoi(argv[2]) : 5;
	pthread_t t;
	for (int i = 0; i < n; i++)
		pthread_create(&t, NULL, spin, NULL);
	go = 1;
	while (__atomic_load_n(&calls, __ATOMIC_SEQ_CST) < n * per)
		;
	exit(0);
}
