/* net.c - file descriptors of many kinds for the -y/-yy fixtures, all on
 * loopback: a TCP socket before bind (TCP:[inode]), bound and listening
 * (TCP:[127.0.0.1:port]), connected and accepted (TCP:[a->b]); the same on
 * ::1 (TCPv6); UDP over 127.0.0.1; a UNIX socketpair and a named UNIX
 * socket; a pipe; an epoll and an eventfd; /dev/null dup'ed onto fd 0;
 * openat relative to AT_FDCWD and to a directory fd. argv[1] = directory to
 * chdir into and put the UNIX socket in. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void tcp(int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *) &ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	int srv = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv, (struct sockaddr *) &ss, len) || listen(srv, 4))
		return;
	socklen_t alen = sizeof(ss);
	getsockname(srv, (struct sockaddr *) &ss, &alen);
	int cli = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(cli, (struct sockaddr *) &ss, alen))
		return;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int acc = accept4(srv, (struct sockaddr *) &peer, &plen, SOCK_CLOEXEC);
	char buf[16];
	(void) write(cli, "ping", 4);
	(void) read(acc, buf, sizeof(buf));
	(void) write(acc, "pong", 4);
	(void) read(cli, buf, sizeof(buf));
	plen = sizeof(peer);
	getpeername(cli, (struct sockaddr *) &peer, &plen);
	close(acc);
	close(cli);
	close(srv);
}

static void udp(void)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bind(r, (struct sockaddr *) &a, sizeof(a));
	socklen_t len = sizeof(a);
	getsockname(r, (struct sockaddr *) &a, &len);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sendto(s, "dgram", 5, 0, (struct sockaddr *) &a, sizeof(a));
	connect(s, (struct sockaddr *) &a, sizeof(a));   /* UDP:[a->b] */
	(void) write(s, "dgram2", 6);
	char buf[16];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *) &from, &flen);
	flen = sizeof(from);
	recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *) &from, &flen);
	close(s);
	close(r);
}

static void unix_sockets(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		char buf[8];
		(void) write(sv[0], "x", 1);
		(void) read(sv[1], buf, sizeof(buf));
		close(sv[0]);
		close(sv[1]);
	}
	struct sockaddr_un a;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, "gotrace.sock");
	unlink(a.sun_path);
	int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(srv, (struct sockaddr *) &a, sizeof(a)) || listen(srv, 1))
		return;
	int cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	connect(cli, (struct sockaddr *) &a, sizeof(a));
	int acc = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
	(void) write(cli, "u", 1);
	char c;
	(void) read(acc, &c, 1);
	close(acc);
	close(cli);
	close(srv);
	unlink(a.sun_path);
}

int main(int argc, char **argv)
{
	if (argc > 1 && chdir(argv[1]))
		return 1;
	int nul = open("/dev/null", O_RDONLY);
	dup2(nul, 0);
	close(nul);
	char c;
	(void) read(0, &c, 1);

	int fd = openat(AT_FDCWD, "hostname.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	(void) write(fd, "h\n", 2);
	close(fd);
	int dir = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = openat(dir, "passwd", O_RDONLY | O_CLOEXEC);
	(void) read(fd, &c, 1);
	close(fd);
	close(dir);
	unlink("hostname.txt");

	int p[2];
	if (pipe2(p, O_CLOEXEC) == 0) {
		(void) write(p[1], "p", 1);
		(void) read(p[0], &c, 1);
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event e = { .events = EPOLLIN, .data.fd = p[0] };
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e);
	(void) epoll_wait(ep, &e, 1, 0);
	close(ev);
	close(ep);
	close(p[0]);
	close(p[1]);

	tcp(AF_INET);
	tcp(AF_INET6);
	udp();
	unix_sockets();
	return 0;
}
