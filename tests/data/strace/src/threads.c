/* threads.c - pthread_create (clone3 ... => {parent_tid=[N]}); the new thread
 * blocks in nanosleep and a second one in futex (pthread_join of a thread
 * that never ends) while the main thread calls exit_group, so their calls
 * never return: "<unfinished ...>) = ?". argv[1] (optional) = how long the
 * main thread sleeps before exit, in ms (default 100; the attach fixture
 * uses a longer one), argv[2] (optional) = file to write the pid to. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	struct timespec ts = { 100, 0 };
	(void) arg;
	nanosleep(&ts, NULL);
	return NULL;
}

static void *joiner(void *arg)
{
	pthread_join(*(pthread_t *) arg, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	static pthread_t t1, t2;
	long ms = argc > 1 ? atol(argv[1]) : 100;
	pthread_create(&t1, NULL, sleeper, NULL);
	pthread_create(&t2, NULL, joiner, &t1);
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");
		if (f) {
			fprintf(f, "%d\n", (int) getpid());
			fclose(f);
		}
	}
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000 * 1000 };
	nanosleep(&ts, NULL);
	exit(0);
}
