/* p32.S - a static i386 program without libc (write + exit(5) via int $0x80)
 * so that strace prints "[ Process PID=N runs in 32 bit mode. ]".
 * Build: gcc -m32 -nostdlib -static -o p32 p32.S */
	.text
	.globl _start
_start:
	movl $4, %eax           /* write(1, msg, len) */
	movl $1, %ebx
	movl $msg, %ecx
	movl $len, %edx
	int $0x80
	movl $1, %eax           /* exit(5) */
	movl $5, %ebx
	int $0x80
	.data
msg:	.ascii "hello from i386\n"
	len = . - msg
