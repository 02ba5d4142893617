/*
 * omx_split_bus.c - bus messages with fd passing (SCM_RIGHTS).
 *
 * The receiver never trusts the packet: a short or long packet, a truncated
 * control message or more fds than asked for are refused, and every fd that
 * arrived is closed rather than leaked.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "omx_split_bus.h"

int omx_split_bus_send(int sock, const struct omx_split_bus_msg *msg, const int *fds, unsigned nr_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * OMX_SPLIT_BUS_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)msg, .iov_len = sizeof(*msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nr_fds > OMX_SPLIT_BUS_FDS_MAX)
		return OMX_ABI_EINVAL;
	if (nr_fds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nr_fds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*msg) ? 0 : OMX_ABI_EIO;
}

void omx_split_bus_close_fds(int *fds, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* Collect every fd of every SCM_RIGHTS message; 0, or -1 when more came
 * than fit (all of them closed). */
static int omx_split_bus_take_fds(struct msghdr *mh, int *fds, unsigned max_fds, unsigned *nr_fds)
{
	int overflow = 0;

	*nr_fds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		unsigned n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (unsigned i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nr_fds < max_fds)
				fds[(*nr_fds)++] = fd;
			else {
				close(fd);
				overflow = 1;
			}
		}
	}
	if (overflow) {
		omx_split_bus_close_fds(fds, *nr_fds);
		*nr_fds = 0;
		return -1;
	}
	return 0;
}

int omx_split_bus_recv(int sock, struct omx_split_bus_msg *msg, int *fds, unsigned max_fds,
		       unsigned *nr_fds, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * OMX_SPLIT_BUS_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(*msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int bad;

	*nr_fds = 0;
	if (timeout_ms >= 0) {
		int r;

		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return OMX_ABI_EIO;
		if (r == 0)
			return 0;
	}
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return OMX_ABI_EIO;
	bad = omx_split_bus_take_fds(&mh, fds, max_fds > OMX_SPLIT_BUS_FDS_MAX ? OMX_SPLIT_BUS_FDS_MAX : max_fds,
				     nr_fds) < 0;
	if (bad || n != (ssize_t)sizeof(*msg) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		omx_split_bus_close_fds(fds, *nr_fds);
		*nr_fds = 0;
		return OMX_ABI_EINVAL;
	}
	msg->text[OMX_SPLIT_BUS_TEXT_MAX - 1] = '\0';
	return 1;
}
