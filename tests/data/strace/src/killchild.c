/* killchild.c - after strace's tests/kill_child.c: fork children that spin in
 * sched_yield and SIGKILL them, so strace may see a child killed between
 * syscall entry and exit or before it could decode the syscall
 * ("<... ??? resumed>", "= ? <unavailable>"). argv[1] = iterations. */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 20;
	volatile int *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	for (int i = 0; i < iters; i++) {
		mem[0] = mem[1] = 0;
		pid_t pid = fork();
		if (pid == 0) {
			while (!mem[0])
				;
			mem[1] = 1;
			for (;;)
				sched_yield();
		}
		mem[0] = 1;
		while (!mem[1])
			;
		kill(pid, SIGKILL);
		wait(NULL);
	}
	return 0;
}
