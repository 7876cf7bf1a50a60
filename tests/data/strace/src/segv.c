/* segv.c - dies of SIGSEGV (NULL store) for "+++ killed by SIGSEGV (core dumped) +++". */
int main(void)
{
	volatile int *p = (int *) 0;
	*p = 1;
	return 0;
}
