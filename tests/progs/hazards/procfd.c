/* procfd.c - the program's fds as /proc/self/fd shows them: which are
 * sockets, and which sockets the program never made (the shim's). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

unsigned char inherited[FD_SCAN];

/* The socket inode behind fd, or 0 when fd is not a socket. */
unsigned long socket_inode(int fd)
{
	char path[64], link[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	return strncmp(link, "socket:[", 8) == 0 ? strtoul(link + 8, NULL, 10) : 0;
}

int is_socket_fd(int fd)
{
	return socket_inode(fd) != 0;
}

/* Sockets the program did not inherit and does not hold (held, or -1; any
 * other fd for held's socket counts as held): the shim's idle connections.
 * Their count; *first gets one of them. */
int foreign_sockets(int held, int *first)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned long held_ino = held >= 0 ? socket_inode(held) : 0;
	int n = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		unsigned long ino;
		if (e->d_name[0] == '.' || fd == dirfd(d) || fd == held ||
		    (fd < FD_SCAN && inherited[fd]) || !(ino = socket_inode(fd)) || ino == held_ino)
			continue;
		if (first && n == 0)
			*first = fd;
		n++;
	}
	closedir(d);
	return n;
}

void snapshot_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(d) && fd < FD_SCAN)
			inherited[fd] = 1;
	}
	if (d)
		closedir(d);
}
