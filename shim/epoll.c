/* epoll.c - keeping epoll registrations true across park and handout. */
#include <errno.h>
#include <stdlib.h>

#include "epoll.h"
#include "real.h"

int twp_epoll_note(struct twp_epolls **eps, int epfd, int op, const struct epoll_event *ev)
{
	struct twp_epolls *e = *eps;
	int i = 0;
	for (; e && i < e->n && e->reg[i].epfd != epfd; i++)
		;
	if (op == EPOLL_CTL_DEL) {
		if (e && i < e->n)
			e->reg[i] = e->reg[--e->n];
		return 0;
	}
	if (!ev)
		return -1;
	if (!e && !(e = *eps = calloc(1, sizeof(*e))))
		return -1;
	if (i == e->n) {
		if (e->n == TWP_EPOLL_MAX)
			return -1;
		e->n++;
		e->reg[i].epfd = epfd;
	}
	e->reg[i].ev = *ev;
	return 0;
}

void twp_epoll_forget(int fd, const struct twp_epolls *eps)
{
	int saved = errno;
	for (int i = 0; eps && i < eps->n; i++)
		twp_real.epoll_ctl(eps->reg[i].epfd, EPOLL_CTL_DEL, fd, NULL);
	errno = saved;
}

int twp_epoll_restore(int fd, const struct twp_epolls *eps)
{
	for (int i = 0; eps && i < eps->n; i++) {
		struct epoll_event ev = eps->reg[i].ev;
		if (twp_real.epoll_ctl(eps->reg[i].epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}
