/*
 * omx_floor_sock.c - kernel socket floors: a plain UDP or TCP ping-pong and
 * stream between two processes (one host over 127.0.0.1, or two network
 * namespaces over veth).
 *
 *   omx_floor_sock server -t udp|tcp --mode lat|bw --plan SIZE:ITERS,... [--addr IP] [opts]
 *   omx_floor_sock client -t udp|tcp --mode lat|bw --plan ... --addr IP --port N [opts]
 *   opts: --spin-us N (default 50), --mtu BYTES (udp datagram, default 9000),
 *         --window DATAGRAMS (udp, default 256; the client takes the server's)
 *
 * The server binds IP (default 127.0.0.1) on an ephemeral port and prints
 * "ready port=N window=W"; the client is started with those.  Both sides
 * walk the same plan, so nothing but the messages is exchanged.  lat:
 * ping-pong, one-way = round trip / 2.  bw: the client streams iters
 * messages and stops the clock at the server's final ack.
 *
 * udp: a message of size bytes is ceil(size / mtu) datagrams of mtu bytes
 * (the last one shorter; one empty datagram for size 0), the frame size the
 * omx udp link sends (OMX_MTU, head included), with no header at all.
 * Datagrams have no flow control, so the receiver returns an empty ack
 * datagram every window/2 datagrams and the sender keeps at most window
 * unacked; the server sizes window to its receive buffer, so nothing is
 * dropped on the way in, and the receiver checks the length of every
 * datagram it counts.  Datagrams go out with sendmmsg and come in with
 * recvmmsg, in batches of 32, straight into the message buffer.
 *
 * tcp: one connection with TCP_NODELAY; a message is size bytes of the
 * stream (1 byte for size 0: a stream has no empty message); the bw ack is
 * one byte.  Socket buffers are left to the kernel's autotuning.
 *
 * Every wait spins for --spin-us, then blocks in poll().
 */
#include "omx_floor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OMX_FLOOR_SOCK_BATCH 32
#define OMX_FLOOR_SOCK_MTU_DEFAULT 9000        /* OMX_MTU's default */
#define OMX_FLOOR_SOCK_MTU_MAX 65507           /* largest IPv4 UDP payload */
#define OMX_FLOOR_SOCK_UDP_BUF (64 << 20)
#define OMX_FLOOR_SOCK_INFLIGHT_BYTES (16 << 20)
#define OMX_FLOOR_SOCK_WHO "omx_floor_sock"

struct omx_floor_sock {
	int fd;
	int udp;
	int client;
	enum omx_floor_mode mode;
	size_t mtu;                     /* udp: bytes per datagram */
	unsigned window, ack_every;     /* udp: datagrams */
	unsigned spin_us;
	char *buf;                      /* message buffer, mtu bytes of slack */
	size_t buf_len;
	char ack[1];
	/* the operation omx_floor_wait_fd retries */
	const char *io_base;
	size_t io_len;
	unsigned io_first, io_count;    /* udp: msgs[io_first .. +io_count) */
	struct mmsghdr msgs[OMX_FLOOR_SOCK_BATCH];
	struct iovec iov[OMX_FLOOR_SOCK_BATCH];
};

static int omx_floor_sock_error(const char *what)
{
	int err = errno;

	fprintf(stderr, OMX_FLOOR_SOCK_WHO ": %s: %s\n", what, strerror(err));
	return -err;
}

/* ---- udp: datagrams under a credit window --------------------------------- */

static size_t omx_floor_sock_dgrams(const struct omx_floor_sock *s, size_t size)
{
	return size ? (size + s->mtu - 1) / s->mtu : 1;
}

/* Offset in the message and length of datagram k of a stream of size-byte messages. */
static size_t omx_floor_sock_dgram(const struct omx_floor_sock *s, size_t size, size_t k,
				   size_t *off)
{
	size_t nd = omx_floor_sock_dgrams(s, size), idx = k % nd;

	*off = idx * s->mtu;
	return idx + 1 < nd ? s->mtu : size - idx * s->mtu;
}

static ssize_t omx_floor_sock_try_sendmmsg(void *ctx)
{
	struct omx_floor_sock *s = ctx;
	int n = sendmmsg(s->fd, s->msgs + s->io_first, s->io_count, MSG_DONTWAIT);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS)
			return -EAGAIN;
		return omx_floor_sock_error("sendmmsg");
	}
	return n;
}

static int omx_floor_sock_udp_send(struct omx_floor_sock *s, size_t size, size_t first,
				   unsigned count)
{
	unsigned done = 0;

	for (unsigned i = 0; i < count; i++) {
		size_t off;

		s->iov[i].iov_len = omx_floor_sock_dgram(s, size, first + i, &off);
		s->iov[i].iov_base = s->buf + off;
		memset(&s->msgs[i], 0, sizeof(s->msgs[i]));
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (done < count) {
		ssize_t n;

		s->io_first = done;
		s->io_count = count - done;
		n = omx_floor_wait_fd(s->fd, POLLOUT, s->spin_us, OMX_FLOOR_SOCK_WHO,
				      omx_floor_sock_try_sendmmsg, s);
		if (n < 0)
			return (int)n;
		done += (unsigned)n;
	}
	return 0;
}

static ssize_t omx_floor_sock_try_recvmmsg(void *ctx)
{
	struct omx_floor_sock *s = ctx;
	int n = recvmmsg(s->fd, s->msgs + s->io_first, s->io_count, MSG_DONTWAIT, NULL);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return omx_floor_sock_error("recvmmsg");
	}
	return n;
}

/* Receive up to count datagrams, the first being datagram first of the
 * stream; each must have exactly its expected length (0 for an ack). */
static ssize_t omx_floor_sock_udp_recv(struct omx_floor_sock *s, size_t size, size_t first,
				       unsigned count, int acks)
{
	ssize_t n;

	for (unsigned i = 0; i < count; i++) {
		size_t off = 0;

		if (!acks)
			omx_floor_sock_dgram(s, size, first + i, &off);
		/* One byte more than a datagram may hold, so a longer one shows. */
		s->iov[i].iov_base = s->buf + off;
		s->iov[i].iov_len = s->mtu + 1;
		memset(&s->msgs[i], 0, sizeof(s->msgs[i]));
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	s->io_first = 0;
	s->io_count = count;
	n = omx_floor_wait_fd(s->fd, POLLIN, s->spin_us, OMX_FLOOR_SOCK_WHO,
			      omx_floor_sock_try_recvmmsg, s);
	for (ssize_t i = 0; i < n; i++) {
		size_t off, want = acks ? 0 : omx_floor_sock_dgram(s, size, first + (size_t)i, &off);

		if (s->msgs[i].msg_len != want || (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			fprintf(stderr, OMX_FLOOR_SOCK_WHO ": a %u-byte datagram where %zu bytes "
				"were expected (%s %zu)\n", s->msgs[i].msg_len, want,
				acks ? "ack" : "datagram", first + (size_t)i);
			return -EPROTO;
		}
	}
	return n;
}

static int omx_floor_sock_udp_acks(struct omx_floor_sock *s, unsigned count)
{
	while (count) {
		unsigned want = count < OMX_FLOOR_SOCK_BATCH ? count : OMX_FLOOR_SOCK_BATCH;
		ssize_t n = omx_floor_sock_udp_recv(s, 0, 0, want, 1);

		if (n < 0)
			return (int)n;
		count -= (unsigned)n;
	}
	return 0;
}

static int omx_floor_sock_udp_xfer_send(struct omx_floor_sock *s, size_t size, unsigned count,
					int final_ack)
{
	size_t total = omx_floor_sock_dgrams(s, size) * count;
	size_t acks_expected = (total - 1) / s->ack_every + (final_ack ? 1 : 0);
	size_t sent = 0, acks = 0;
	int err;

	while (sent < total) {
		size_t credit = acks * s->ack_every + s->window - sent;
		size_t batch = total - sent;

		if (!credit) {
			err = omx_floor_sock_udp_acks(s, 1);
			if (err)
				return err;
			acks++;
			continue;
		}
		if (batch > credit)
			batch = credit;
		if (batch > OMX_FLOOR_SOCK_BATCH)
			batch = OMX_FLOOR_SOCK_BATCH;
		err = omx_floor_sock_udp_send(s, size, sent, (unsigned)batch);
		if (err)
			return err;
		sent += batch;
	}
	if (acks < acks_expected)
		return omx_floor_sock_udp_acks(s, (unsigned)(acks_expected - acks));
	return 0;
}

static int omx_floor_sock_udp_ack(struct omx_floor_sock *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int err = omx_floor_sock_udp_send(s, 0, 0, 1);

		if (err)
			return err;
	}
	return 0;
}

static int omx_floor_sock_udp_xfer_recv(struct omx_floor_sock *s, size_t size, unsigned count,
					int final_ack)
{
	size_t total = omx_floor_sock_dgrams(s, size) * count;
	size_t got = 0;

	while (got < total) {
		size_t want = total - got < OMX_FLOOR_SOCK_BATCH ? total - got : OMX_FLOOR_SOCK_BATCH;
		ssize_t n = omx_floor_sock_udp_recv(s, size, got, (unsigned)want, 0);
		size_t before = got;
		int err;

		if (n < 0)
			return (int)n;
		got += (size_t)n;
		/* One ack per multiple of ack_every crossed, none for the last datagram:
		 * the sender counts them. */
		err = omx_floor_sock_udp_ack(s, (unsigned)((got < total ? got : total - 1) / s->ack_every -
							  before / s->ack_every));
		if (err)
			return err;
	}
	return final_ack ? omx_floor_sock_udp_ack(s, 1) : 0;
}

/* ---- tcp: a byte stream ----------------------------------------------------- */

static ssize_t omx_floor_sock_try_send(void *ctx)
{
	struct omx_floor_sock *s = ctx;
	ssize_t n = send(s->fd, s->io_base, s->io_len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return omx_floor_sock_error("send");
	}
	return n;
}

static ssize_t omx_floor_sock_try_recv(void *ctx)
{
	struct omx_floor_sock *s = ctx;
	ssize_t n = recv(s->fd, (char *)s->io_base, s->io_len, MSG_DONTWAIT);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return omx_floor_sock_error("recv");
	}
	if (n == 0) {
		fprintf(stderr, OMX_FLOOR_SOCK_WHO ": the peer closed the connection\n");
		return -ECONNRESET;
	}
	return n;
}

/* Send (or receive) len bytes from (into) base, spinning then polling. */
static int omx_floor_sock_tcp_io(struct omx_floor_sock *s, const char *base, size_t len, int tx)
{
	while (len) {
		ssize_t n;

		s->io_base = base;
		s->io_len = len;
		n = omx_floor_wait_fd(s->fd, tx ? POLLOUT : POLLIN, s->spin_us, OMX_FLOOR_SOCK_WHO,
				      tx ? omx_floor_sock_try_send : omx_floor_sock_try_recv, s);
		if (n < 0)
			return (int)n;
		base += n;
		len -= (size_t)n;
	}
	return 0;
}

static int omx_floor_sock_tcp_msgs(struct omx_floor_sock *s, size_t size, unsigned count, int tx)
{
	size_t len = size ? size : 1, left = len * count;

	if (tx) {
		for (unsigned i = 0; i < count; i++) {
			int err = omx_floor_sock_tcp_io(s, s->buf, len, 1);

			if (err)
				return err;
		}
		return 0;
	}
	/* The receiver takes whatever has arrived, many small messages a call. */
	while (left) {
		size_t chunk = left < s->buf_len ? left : s->buf_len;
		int err = omx_floor_sock_tcp_io(s, s->buf, chunk, 0);

		if (err)
			return err;
		left -= chunk;
	}
	return 0;
}

/* ---- phases ------------------------------------------------------------------- */

static int omx_floor_sock_xfer(struct omx_floor_sock *s, size_t size, unsigned count, int tx,
			       int final_ack)
{
	int err;

	if (s->udp)
		return tx ? omx_floor_sock_udp_xfer_send(s, size, count, final_ack)
			  : omx_floor_sock_udp_xfer_recv(s, size, count, final_ack);
	err = omx_floor_sock_tcp_msgs(s, size, count, tx);
	if (err || !final_ack)
		return err;
	return omx_floor_sock_tcp_io(s, s->ack, 1, !tx);
}

static int omx_floor_sock_phase(void *ctx, size_t size, unsigned count)
{
	struct omx_floor_sock *s = ctx;

	if (s->mode == OMX_FLOOR_BW)
		return omx_floor_sock_xfer(s, size, count, s->client, 1);
	for (unsigned i = 0; i < count; i++) {
		int err = omx_floor_sock_xfer(s, size, 1, s->client, 0);

		if (!err)
			err = omx_floor_sock_xfer(s, size, 1, !s->client, 0);
		if (err)
			return err;
	}
	return 0;
}

/* ---- setup -------------------------------------------------------------------- */

static void omx_floor_sock_udp_bufs(int fd)
{
	int size = OMX_FLOOR_SOCK_UDP_BUF;

	/* FORCE needs CAP_NET_ADMIN; fall back to the capped sizes without it. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* Datagrams the receive buffer holds: the kernel charges each its skb's true
 * size, taken here as the datagram rounded up to a power of two plus 1 KiB. */
static unsigned omx_floor_sock_udp_window(int fd, size_t mtu, unsigned wanted)
{
	size_t charge = 1024, window;
	int rcv = 0;
	socklen_t len = sizeof(rcv);

	while (charge < mtu + 512)
		charge <<= 1;
	charge += 1024;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len) < 0 || rcv <= 0)
		rcv = 212992;
	window = (size_t)rcv / charge;
	if (window > OMX_FLOOR_SOCK_INFLIGHT_BYTES / mtu)
		window = OMX_FLOOR_SOCK_INFLIGHT_BYTES / mtu;
	if (window > wanted)
		window = wanted;
	return window < 2 ? 2 : (unsigned)window;
}

static int omx_floor_sock_addr(const char *ip, unsigned port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static ssize_t omx_floor_sock_try_accept(void *ctx)
{
	struct omx_floor_sock *s = ctx;
	int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return omx_floor_sock_error("accept");
	}
	return fd;
}

static ssize_t omx_floor_sock_try_hello(void *ctx)
{
	struct omx_floor_sock *s = ctx;
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(s->fd, s->buf, s->mtu, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return omx_floor_sock_error("recvfrom");
	}
	/* The client's hello: from now on talk to it alone. */
	if (!s->client && connect(s->fd, (struct sockaddr *)&from, flen) < 0)
		return omx_floor_sock_error("connect");
	return 0;
}

/* Server: bind and print the ready line, then wait for the client. */
static int omx_floor_sock_serve(struct omx_floor_sock *s, const char *ip)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1, lfd;
	ssize_t n;

	if (omx_floor_sock_addr(ip, 0, &sa))
		return -EINVAL;
	lfd = socket(AF_INET, (s->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return omx_floor_sock_error("socket");
	if (s->udp)
		omx_floor_sock_udp_bufs(lfd);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0 || (!s->udp && listen(lfd, 1) < 0)) {
		n = omx_floor_sock_error("bind");
		close(lfd);
		return (int)n;
	}
	if (s->udp)
		s->window = omx_floor_sock_udp_window(lfd, s->mtu, s->window);
	printf("ready port=%u window=%u\n", ntohs(sa.sin_port), s->window);
	fflush(stdout);
	s->fd = lfd;
	n = omx_floor_wait_fd(lfd, POLLIN, s->spin_us, OMX_FLOOR_SOCK_WHO,
			      s->udp ? omx_floor_sock_try_hello : omx_floor_sock_try_accept, s);
	if (n < 0) {
		close(lfd);
		s->fd = -1;
		return (int)n;
	}
	if (s->udp)
		return omx_floor_sock_udp_send(s, 0, 0, 1);
	close(lfd);
	s->fd = (int)n;
	return setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0
	       ? omx_floor_sock_error("TCP_NODELAY") : 0;
}

static int omx_floor_sock_connect(struct omx_floor_sock *s, const char *ip, unsigned port)
{
	struct sockaddr_in sa;
	int one = 1;

	if (omx_floor_sock_addr(ip, port, &sa))
		return -EINVAL;
	s->fd = socket(AF_INET, (s->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return omx_floor_sock_error("socket");
	if (s->udp)
		omx_floor_sock_udp_bufs(s->fd);
	else if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return omx_floor_sock_error("TCP_NODELAY");
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return omx_floor_sock_error("connect");
	if (!s->udp)
		return 0;
	/* Hello and its answer: the server learns our address and both know the path works. */
	if (omx_floor_sock_udp_send(s, 0, 0, 1) < 0)
		return -EIO;
	return (int)omx_floor_wait_fd(s->fd, POLLIN, s->spin_us, OMX_FLOOR_SOCK_WHO,
				      omx_floor_sock_try_hello, s);
}

static void omx_floor_sock_usage(void)
{
	fprintf(stderr, "usage: omx_floor_sock server|client -t udp|tcp --mode lat|bw "
		"--plan SIZE:ITERS[,...] [--addr IP] [--port N] [--mtu BYTES] [--window DATAGRAMS] "
		"[--spin-us N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' }, { "mode", required_argument, NULL, 'm' },
		{ "plan", required_argument, NULL, 'p' }, { "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'P' }, { "mtu", required_argument, NULL, 'M' },
		{ "window", required_argument, NULL, 'w' }, { "spin-us", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct omx_floor_sock s = { .fd = -1, .udp = -1, .spin_us = OMX_FLOOR_SPIN_US_DEFAULT,
				    .mtu = OMX_FLOOR_SOCK_MTU_DEFAULT, .window = 256 };
	struct omx_floor_plan plan = { 0 };
	const char *ip = "127.0.0.1";
	unsigned long port = 0;
	int opt, err;

	if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
		goto usage;
	s.client = !strcmp(argv[1], "client");
	optind = 2;
	while ((opt = getopt_long(argc, argv, "t:m:p:a:P:M:w:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (strcmp(optarg, "udp") && strcmp(optarg, "tcp"))
				goto usage;
			s.udp = !strcmp(optarg, "udp");
			break;
		case 'm':
			if (omx_floor_mode_parse(optarg, &s.mode))
				goto usage;
			break;
		case 'p':
			omx_floor_plan_free(&plan);
			if (omx_floor_plan_parse(optarg, &plan))
				goto usage;
			break;
		case 'a':
			ip = optarg;
			break;
		case 'P':
			port = strtoul(optarg, NULL, 10);
			break;
		case 'M':
			s.mtu = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			s.window = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			s.spin_us = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (s.udp < 0 || !plan.nsteps || optind != argc || s.window < 2 || s.mtu == 0 ||
	    s.mtu > OMX_FLOOR_SOCK_MTU_MAX || port > 65535 || (s.client && !port))
		goto usage;
	s.buf_len = plan.max_size + s.mtu + 1;
	s.buf = omx_floor_map_private(s.buf_len);
	if (!s.buf) {
		perror(OMX_FLOOR_SOCK_WHO ": mmap");
		omx_floor_plan_free(&plan);
		return 1;
	}
	err = s.client ? omx_floor_sock_connect(&s, ip, (unsigned)port) : omx_floor_sock_serve(&s, ip);
	if (!err) {
		s.ack_every = s.window / 2;
		printf("# %s %s %s: %s", s.udp ? "udp" : "tcp", s.client ? "client" : "server",
		       s.mode == OMX_FLOOR_LAT ? "ping-pong" : "stream", ip);
		if (s.udp)
			printf(", datagrams of %zu bytes, window %u, ack every %u", s.mtu, s.window,
			       s.ack_every);
		else
			printf(", TCP_NODELAY");
		printf(", spin %u us then poll\n", s.spin_us);
		fflush(stdout);
		err = omx_floor_run(&plan, s.mode, s.client, omx_floor_sock_phase, &s);
	}
	if (s.fd >= 0)
		close(s.fd);
	omx_floor_plan_free(&plan);
	return err ? 1 : 0;

usage:
	omx_floor_sock_usage();
	omx_floor_plan_free(&plan);
	return 2;
}
