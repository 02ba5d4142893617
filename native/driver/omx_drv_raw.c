/*
 * omx_drv_raw.c - the raw interface of a board (omx_direct.h): whole
 * Ethernet frames for the peer discovery daemon.
 *
 * One opener per board on the host: it binds the abstract Unix name
 * "omx-transport/<addr>/raw" (freed by the kernel when it dies), which is
 * also how endpoint 0's process learns that it no longer serves host
 * queries, and how omx_endpoint_info finds the opener's pid (SO_PEERCRED).
 *
 * Its AF_PACKET socket keeps, by classic BPF filter: incoming 0x86DF frames
 * of type RAW sent to the broadcast address or to the board, and HOST_QUERY
 * / HOST_REPLY sent to the board (answered inside omx_drv_raw_recv).  The
 * socket buffer is the raw queue: about OMX_DRV_RAW_QUEUE frames; the
 * kernel's overflow count becomes DROP_RAW_QUEUE_FULL.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "omx_drv.h"

#define OMX_DRV_RAW_FRAME_MAX 1024       /* larger RAW frames are dropped (DROP_RAW_TOO_LARGE) */
#define OMX_DRV_RAW_QUEUE 32

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct omx_drv_raw {
	struct omx_drv *drv;
	struct omx_drv_board *board;
	int fd;
	int claim_fd;
	uint8_t *buf;                 /* one frame of the board's MTU */
};

static socklen_t omx_drv_raw_claim_addr(uint64_t board_addr, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "omx-transport/%012" PRIx64 "/raw",
		     board_addr);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Connected socket to the opener, or -1 (none, or no way to tell). */
static int omx_drv_raw_connect(uint64_t board_addr, int *busy)
{
	struct sockaddr_un sa;
	socklen_t len = omx_drv_raw_claim_addr(board_addr, &sa);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	*busy = 0;
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, len) == 0)
		return fd;
	/* A full backlog still proves that someone listens. */
	*busy = errno == EAGAIN;
	close(fd);
	return -1;
}

int omx_drv_raw_claimed(const struct omx_drv_board *b)
{
	int busy, fd = omx_drv_raw_connect(b->addr, &busy);

	if (fd >= 0)
		close(fd);
	return fd >= 0 || busy;
}

static void omx_drv_raw_comm(pid_t pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	memset(out, 0, size);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, size - 1);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

int omx_drv_raw_endpoint_state(struct omx_abi_driver *d, uint32_t board_index,
			       uint32_t endpoint_index, struct omx_abi_endpoint_state *out)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd, busy;

	if (endpoint_index != OMX_ABI_ENDPOINT_RAW)
		return omx_drv_get_endpoint_state(d, board_index, endpoint_index, out);
	if (board_index >= drv->board_count)
		return OMX_ABI_ENODEV;
	memset(out, 0, sizeof(*out));
	fd = omx_drv_raw_connect(drv->boards[board_index].addr, &busy);
	if (fd < 0) {
		out->closed = !busy;
		return 0;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid > 0) {
		out->pid = (uint32_t)cred.pid;
		omx_drv_raw_comm(cred.pid, out->command, sizeof(out->command));
	}
	close(fd);
	return 0;
}

/* ---- the socket ----------------------------------------------------------- */

static void omx_drv_raw_op(struct sock_filter *f, unsigned *n, uint16_t code, uint32_t k)
{
	f[(*n)++] = (struct sock_filter){ .code = code, .k = k };
}

static void omx_drv_raw_jeq(struct sock_filter *f, unsigned *n, uint32_t k, uint8_t jt, uint8_t jf)
{
	f[(*n)++] = (struct sock_filter){ .code = BPF_JMP | BPF_JEQ | BPF_K, .k = k, .jt = jt, .jf = jf };
}

/* Keep RAW to the broadcast address; RAW, HOST_QUERY, HOST_REPLY to the board. */
static int omx_drv_raw_filter(int fd, uint64_t addr)
{
	const uint16_t ldb = BPF_LD | BPF_B | BPF_ABS, ldh = BPF_LD | BPF_H | BPF_ABS;
	const uint16_t ldw = BPF_LD | BPF_W | BPF_ABS, ret = BPF_RET | BPF_K;
	struct sock_filter f[24];
	struct sock_fprog prog;
	unsigned n = 0;

	omx_drv_raw_op(f, &n, ldw, SKF_AD_OFF + SKF_AD_PKTTYPE);       /* 0 */
	omx_drv_raw_jeq(f, &n, PACKET_OUTGOING, 16, 0);                 /* 1: -> drop (18) */
	omx_drv_raw_op(f, &n, ldh, 12);                                 /* 2 */
	omx_drv_raw_jeq(f, &n, OMX_WIRE_ETHERTYPE, 0, 14);              /* 3 */
	omx_drv_raw_op(f, &n, ldw, 0);                                  /* 4 */
	omx_drv_raw_jeq(f, &n, 0xffffffffu, 0, 4);                      /* 5: else -> 10 */
	omx_drv_raw_op(f, &n, ldh, 4);                                  /* 6 */
	omx_drv_raw_jeq(f, &n, 0xffff, 0, 10);                          /* 7 */
	omx_drv_raw_op(f, &n, ldb, 16);                                 /* 8 */
	omx_drv_raw_jeq(f, &n, OMX_PKT_TYPE_RAW, 7, 8);                 /* 9: -> accept (17) / drop */
	omx_drv_raw_jeq(f, &n, (uint32_t)(addr >> 16), 0, 7);           /* 10 */
	omx_drv_raw_op(f, &n, ldh, 4);                                  /* 11 */
	omx_drv_raw_jeq(f, &n, (uint32_t)(addr & 0xffff), 0, 5);        /* 12 */
	omx_drv_raw_op(f, &n, ldb, 16);                                 /* 13 */
	omx_drv_raw_jeq(f, &n, OMX_PKT_TYPE_RAW, 2, 0);                 /* 14 */
	omx_drv_raw_jeq(f, &n, OMX_PKT_TYPE_HOST_QUERY, 1, 0);          /* 15 */
	omx_drv_raw_jeq(f, &n, OMX_PKT_TYPE_HOST_REPLY, 0, 1);          /* 16 */
	omx_drv_raw_op(f, &n, ret, 0x40000);                            /* 17: accept */
	omx_drv_raw_op(f, &n, ret, 0);                                  /* 18: drop */
	prog.len = (unsigned short)n;
	prog.filter = f;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static int omx_drv_raw_socket(struct omx_drv_raw *raw)
{
	struct omx_drv_board *b = raw->board;
	int one = 1, rcvbuf = OMX_DRV_RAW_QUEUE * 2 * (OMX_DRV_RAW_FRAME_MAX + 256);
	struct sockaddr_ll sll;
	unsigned ifindex = if_nametoindex(b->link->ifacename);
	int fd;

	if (!ifindex)
		return OMX_ABI_ENODEV;
	/* Protocol 0 until bind: nothing is queued before the filter is in place. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EPERM || errno == EACCES) {
			omx_drv_warn("raw", "raw sockets need CAP_NET_RAW (run as root)");
			return OMX_ABI_EPERM;
		}
		return OMX_ABI_ENOMEM;
	}
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (omx_drv_raw_filter(fd, b->addr) < 0)
		goto err;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(OMX_WIRE_ETHERTYPE);
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto err;
	raw->fd = fd;
	return 0;
err:
	omx_drv_warn("raw", "cannot set up the raw socket on %s: %s", b->link->ifacename, strerror(errno));
	close(fd);
	return OMX_ABI_EIO;
}

static int omx_drv_raw_claim(struct omx_drv_raw *raw)
{
	struct sockaddr_un sa;
	socklen_t len = omx_drv_raw_claim_addr(raw->board->addr, &sa);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return OMX_ABI_ENOMEM;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		return e == EADDRINUSE ? OMX_ABI_EBUSY : OMX_ABI_EIO;
	}
	raw->claim_fd = fd;
	return 0;
}

int omx_drv_raw_open(struct omx_abi_driver *d, uint32_t board_index, struct omx_drv_raw **out)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_board *b;
	struct omx_drv_raw *raw;
	int err;

	if (board_index >= drv->board_count)
		return OMX_ABI_ENODEV;
	b = &drv->boards[board_index];
	if (!strcmp(b->link->drivername, "udp"))
		return OMX_ABI_ENOSYS;
	raw = calloc(1, sizeof(*raw));
	if (!raw)
		return OMX_ABI_ENOMEM;
	raw->drv = drv;
	raw->board = b;
	raw->fd = raw->claim_fd = -1;
	raw->buf = malloc(b->mtu);
	if (!raw->buf) {
		err = OMX_ABI_ENOMEM;
		goto err_free;
	}
	pthread_mutex_lock(&b->hostq.lock);
	err = b->hostq.raw_open ? OMX_ABI_EBUSY : omx_drv_raw_claim(raw);
	if (!err) {
		err = omx_drv_raw_socket(raw);
		if (err)
			close(raw->claim_fd);
	}
	if (!err) {
		b->hostq.raw_open = 1;
		/* Serve queries at once: the first round starts now. */
		b->hostq.next_round = 0;
	}
	pthread_mutex_unlock(&b->hostq.lock);
	if (err)
		goto err_free;
	*out = raw;
	return 0;

err_free:
	free(raw->buf);
	free(raw);
	return err;
}

void omx_drv_raw_close(struct omx_drv_raw *raw)
{
	struct omx_drv_board *b = raw->board;

	pthread_mutex_lock(&b->hostq.lock);
	b->hostq.raw_open = 0;
	b->hostq.raw_checked = 0;
	pthread_mutex_unlock(&b->hostq.lock);
	close(raw->fd);
	close(raw->claim_fd);
	free(raw->buf);
	free(raw);
}

static int omx_drv_raw_xmit(void *ctx, const uint8_t *frame, uint32_t len)
{
	struct omx_drv_raw *raw = ctx;

	return send(raw->fd, frame, len, MSG_DONTWAIT) == (ssize_t)len ? 0 : OMX_ABI_EIO;
}

int omx_drv_raw_send(struct omx_drv_raw *raw, const void *frame, uint32_t len)
{
	uint8_t pad[OMX_WIRE_MIN_FRAME];
	const void *p = frame;

	if (!frame || len < OMX_WIRE_ETH_HLEN)
		return OMX_ABI_EINVAL;
	if (len > raw->board->mtu)
		return OMX_ABI_EMSGSIZE;
	if (len < OMX_WIRE_MIN_FRAME) {
		memset(pad, 0, sizeof(pad));
		memcpy(pad, frame, len);
		p = pad;
		len = OMX_WIRE_MIN_FRAME;
	}
	if (send(raw->fd, p, len, MSG_DONTWAIT) != (ssize_t)len) {
		omx_drv_count(raw->board, OMX_COUNTER_SEND_LINK_ERROR);
		return OMX_ABI_EIO;
	}
	omx_drv_count(raw->board, OMX_COUNTER_SEND_RAW);
	return 0;
}

static void omx_drv_raw_count_overflow(struct omx_drv_raw *raw)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	/* Reading resets the kernel's counters. */
	if (getsockopt(raw->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0 && st.tp_drops)
		omx_drv_count_n(raw->board, OMX_COUNTER_DROP_RAW_QUEUE_FULL, st.tp_drops);
}

/* 1: a RAW frame for the caller; 0: consumed here or dropped. */
static int omx_drv_raw_frame(struct omx_drv_raw *raw, uint32_t n, void *buf, uint32_t *len)
{
	struct omx_drv_board *b = raw->board;
	uint32_t cap = *len < OMX_DRV_RAW_FRAME_MAX ? *len : OMX_DRV_RAW_FRAME_MAX;
	uint8_t ptype = raw->buf[OMX_WIRE_HEAD_LEN];

	if (ptype == OMX_PKT_TYPE_HOST_QUERY || ptype == OMX_PKT_TYPE_HOST_REPLY) {
		/* Driver-made frames: with the trailer on, checked and stripped. */
		if (b->link->needs_fcs) {
			if (n < OMX_WIRE_HEAD_LEN + OMX_WIRE_FCS_LEN ||
			    omx_wire_crc32c(raw->buf, n - OMX_WIRE_FCS_LEN) !=
			    omx_wire_get32(raw->buf, n - OMX_WIRE_FCS_LEN)) {
				omx_drv_count(b, OMX_COUNTER_DROP_BAD_CHECKSUM);
				return 0;
			}
			n -= OMX_WIRE_FCS_LEN;
		}
		omx_drv_hostq_rx(raw->drv, b, 1, raw->buf, n, omx_drv_raw_xmit, raw);
		return 0;
	}
	if (n > cap) {
		omx_drv_count(b, OMX_COUNTER_DROP_RAW_TOO_LARGE);
		return 0;
	}
	memcpy(buf, raw->buf, n);
	*len = n;
	omx_drv_count(b, OMX_COUNTER_RECV_RAW);
	return 1;
}

int omx_drv_raw_recv(struct omx_drv_raw *raw, void *buf, uint32_t *len, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : omx_drv_now_jiffies() + (uint64_t)timeout_ms;
	struct pollfd pfd = { .fd = raw->fd, .events = POLLIN };

	if (!buf || !len)
		return OMX_ABI_EINVAL;
	for (;;) {
		uint32_t due = omx_drv_hostq_tick(raw->drv, raw->board, 1, omx_drv_raw_xmit, raw);
		ssize_t n = recv(raw->fd, raw->buf, raw->board->mtu, MSG_DONTWAIT | MSG_TRUNC);
		uint64_t now;
		int wait;

		if (n >= 0) {
			if ((size_t)n > raw->board->mtu)
				omx_drv_count(raw->board, OMX_COUNTER_DROP_RAW_TOO_LARGE);
			else if (n > OMX_WIRE_HEAD_LEN && omx_drv_raw_frame(raw, (uint32_t)n, buf, len))
				return 1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return OMX_ABI_EIO;
		omx_drv_raw_count_overflow(raw);
		now = omx_drv_now_jiffies();
		if (now >= deadline)
			return 0;
		wait = deadline - now < due ? (int)(deadline - now) : (int)due;
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return OMX_ABI_EIO;
	}
}
