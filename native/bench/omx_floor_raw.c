/*
 * omx_floor_raw.c - raw Ethernet floor: AF_PACKET SOCK_RAW frames of
 * EtherType 0x86DF between two hosts (two network namespaces over veth).
 *
 *   omx_floor_raw server --ifname IF --mode lat|bw --plan SIZE:ITERS,... [opts]
 *   omx_floor_raw client --ifname IF --peer MAC --mode lat|bw --plan ... [opts]
 *   opts: --spin-us N (default 50), --window FRAMES (default 256), --rx ring|recv
 *
 * Start the server first and wait for its "ready" line.  A message of size
 * bytes is ceil(size / MTU) frames (one bare 14-byte frame for size 0) with
 * the whole interface MTU as payload: no protocol header, no copy beyond
 * the socket's.  lat: ping-pong, one-way = round trip / 2.  bw: the client
 * streams iters messages and stops the clock at the server's final ack.
 * Both sides walk the same plan, so nothing but bare frames is exchanged.
 *
 * Flow control (raw frames have none): the receiver returns a bare ack frame
 * every window/2 frames and the sender keeps at most window frames unacked,
 * so the receive buffer never overflows and no frame is lost on veth.  Acks
 * are sent only at those counts (plus one final ack in bw), so each side
 * knows how many to expect and no stale ack leaks into the next phase.
 * Receiving: by default through a TPACKET_V2 receive ring polled from user
 * space (one frame per block), so waiting costs no system call; --rx recv
 * uses recvfrom(MSG_DONTWAIT) instead.  Either way a wait spins for
 * --spin-us, then blocks in poll().
 */
#include "omx_floor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define OMX_FLOOR_RAW_ETHERTYPE 0x86DF
#define OMX_FLOOR_RAW_HLEN 14
#define OMX_FLOOR_RAW_BATCH 32
#define OMX_FLOOR_RAW_SOCKBUF (64 << 20)
#define OMX_FLOOR_RAW_INFLIGHT_BYTES (16 << 20)

struct omx_floor_raw {
	int fd;
	int ifindex;
	uint8_t mac[6];
	uint8_t peer[6];
	int have_peer;
	size_t payload_max;             /* interface MTU */
	unsigned window, ack_every;
	unsigned spin_us;
	enum omx_floor_mode mode;
	int client;
	unsigned char *tx, *rx;         /* one frame each; payload contents do not matter */
	unsigned char *ring;            /* TPACKET_V2 receive ring, or NULL for recvfrom */
	size_t ring_len, ring_slot;
	unsigned ring_slots, ring_next;
	struct mmsghdr msgs[OMX_FLOOR_RAW_BATCH];
	struct iovec iov[OMX_FLOOR_RAW_BATCH];
};

/* One slot per block, so a slot never straddles blocks whatever the MTU. */
static int omx_floor_raw_ring(struct omx_floor_raw *r, unsigned slots)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t need = TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + OMX_FLOOR_RAW_HLEN + r->payload_max + 64;
	struct tpacket_req req = { 0 };
	int version = TPACKET_V2;

	r->ring_slot = (need + page - 1) / page * page;
	req.tp_block_size = req.tp_frame_size = (unsigned)r->ring_slot;
	req.tp_block_nr = req.tp_frame_nr = slots;
	if (setsockopt(r->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0 ||
	    setsockopt(r->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		return -errno;
	r->ring_len = r->ring_slot * slots;
	r->ring = mmap(NULL, r->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, 0);
	if (r->ring == MAP_FAILED) {
		r->ring = NULL;
		return -errno;
	}
	r->ring_slots = slots;
	return 0;
}

static int omx_floor_raw_open(struct omx_floor_raw *r, const char *ifname, unsigned ring_slots)
{
	struct sockaddr_ll sll = { 0 };
	struct ifreq ifr = { 0 };
	int size = OMX_FLOOR_RAW_SOCKBUF;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	r->fd = socket(AF_PACKET, SOCK_RAW, htons(OMX_FLOOR_RAW_ETHERTYPE));
	if (r->fd < 0)
		return -errno;
	r->ifindex = (int)if_nametoindex(ifname);
	if (!r->ifindex)
		goto err_close;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(r->fd, SIOCGIFHWADDR, &ifr) < 0)
		goto err_close;
	memcpy(r->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(r->fd, SIOCGIFMTU, &ifr) < 0)
		goto err_close;
	r->payload_max = (size_t)ifr.ifr_mtu;
	/* FORCE needs CAP_NET_ADMIN; fall back to the capped sizes without it. */
	if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(r->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	/* Before bind, so that no frame lands in the plain queue the ring never sees. */
	if (ring_slots && omx_floor_raw_ring(r, ring_slots) < 0)
		goto err_close;
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(OMX_FLOOR_RAW_ETHERTYPE);
	sll.sll_ifindex = r->ifindex;
	if (bind(r->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto err_close;
	r->tx = calloc(1, OMX_FLOOR_RAW_HLEN + r->payload_max);
	r->rx = calloc(1, OMX_FLOOR_RAW_HLEN + r->payload_max);
	if (!r->tx || !r->rx)
		goto err_free;
	return 0;

err_free:
	free(r->tx);
	free(r->rx);
	errno = ENOMEM;
err_close:
	size = -errno;
	if (r->ring)
		munmap(r->ring, r->ring_len);
	close(r->fd);
	return size ? size : -ENODEV;
}

static void omx_floor_raw_set_peer(struct omx_floor_raw *r, const uint8_t *peer)
{
	uint16_t type = htons(OMX_FLOOR_RAW_ETHERTYPE);

	memcpy(r->peer, peer, 6);
	memcpy(r->tx, peer, 6);
	memcpy(r->tx + 6, r->mac, 6);
	memcpy(r->tx + 12, &type, 2);
	r->have_peer = 1;
}

static int omx_floor_raw_parse_mac(const char *text, uint8_t *mac)
{
	unsigned v[6];

	if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* Payload length of a frame the ring or the socket holds, or -EAGAIN. */
static ssize_t omx_floor_raw_take(struct omx_floor_raw *r, int pkttype, const uint8_t *frame,
				  size_t len, size_t caplen)
{
	if (pkttype == PACKET_OUTGOING || len < OMX_FLOOR_RAW_HLEN)
		return -EAGAIN;
	if (caplen != len) {
		fprintf(stderr, "omx_floor_raw: a %zu-byte frame was truncated to %zu\n", len, caplen);
		return -EMSGSIZE;
	}
	if (!r->have_peer)
		omx_floor_raw_set_peer(r, frame + 6);
	return (ssize_t)(len - OMX_FLOOR_RAW_HLEN);
}

static ssize_t omx_floor_raw_try_ring(struct omx_floor_raw *r)
{
	struct tpacket2_hdr *h = (void *)(r->ring + (size_t)r->ring_next * r->ring_slot);
	const struct sockaddr_ll *sll;
	ssize_t n;

	/* Acquire: the frame bytes the kernel wrote are visible once TP_STATUS_USER is. */
	if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
		return -EAGAIN;
	sll = (const void *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
	n = omx_floor_raw_take(r, sll->sll_pkttype, (const uint8_t *)h + h->tp_mac, h->tp_len,
			       h->tp_snaplen);
	/* Release: we are done reading the slot before the kernel may refill it. */
	__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	r->ring_next = (r->ring_next + 1) % r->ring_slots;
	return n;
}

static ssize_t omx_floor_raw_try_socket(struct omx_floor_raw *r)
{
	struct sockaddr_ll from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(r->fd, r->rx, OMX_FLOOR_RAW_HLEN + r->payload_max,
			     MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &flen);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		perror("omx_floor_raw: recvfrom");
		return -errno;
	}
	return omx_floor_raw_take(r, from.sll_pkttype, r->rx, (size_t)n,
				  (size_t)n < OMX_FLOOR_RAW_HLEN + r->payload_max ? (size_t)n
					: OMX_FLOOR_RAW_HLEN + r->payload_max);
}

static ssize_t omx_floor_raw_try(void *ctx)
{
	struct omx_floor_raw *r = ctx;

	return r->ring ? omx_floor_raw_try_ring(r) : omx_floor_raw_try_socket(r);
}

/* Receive one incoming frame; spin first, then block.  Returns its payload length. */
static ssize_t omx_floor_raw_recv(struct omx_floor_raw *r)
{
	return omx_floor_wait_fd(r->fd, POLLIN | POLLRDNORM, r->spin_us, "omx_floor_raw",
				 omx_floor_raw_try, r);
}

static size_t omx_floor_raw_frames(const struct omx_floor_raw *r, size_t size)
{
	return size ? (size + r->payload_max - 1) / r->payload_max : 1;
}

/* Payload length of frame k of a stream of size-byte messages. */
static size_t omx_floor_raw_frame_len(const struct omx_floor_raw *r, size_t size, size_t k)
{
	size_t nf = omx_floor_raw_frames(r, size), idx = k % nf;

	return idx + 1 < nf ? r->payload_max : size - idx * r->payload_max;
}

static int omx_floor_raw_send_batch(struct omx_floor_raw *r, size_t size, size_t first,
				    unsigned count)
{
	unsigned done = 0;

	for (unsigned i = 0; i < count; i++) {
		r->iov[i].iov_base = r->tx;
		r->iov[i].iov_len = OMX_FLOOR_RAW_HLEN + omx_floor_raw_frame_len(r, size, first + i);
		memset(&r->msgs[i], 0, sizeof(r->msgs[i]));
		r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
		r->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (done < count) {
		int n = sendmmsg(r->fd, r->msgs + done, count - done, 0);

		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			perror("omx_floor_raw: sendmmsg");
			return -errno;
		}
		done += (unsigned)n;
	}
	return 0;
}

static int omx_floor_raw_ack(struct omx_floor_raw *r)
{
	return omx_floor_raw_send_batch(r, 0, 0, 1);
}

static int omx_floor_raw_recv_ack(struct omx_floor_raw *r)
{
	ssize_t n = omx_floor_raw_recv(r);

	if (n > 0)
		fprintf(stderr, "omx_floor_raw: a %zd-byte frame where an ack was expected\n", n);
	return n == 0 ? 0 : -EPROTO;
}

/* Send count messages of size bytes under the credit window. */
static int omx_floor_raw_xfer_send(struct omx_floor_raw *r, size_t size, unsigned count,
				   int final_ack)
{
	size_t total = omx_floor_raw_frames(r, size) * count;
	size_t acks_expected = (total - 1) / r->ack_every + (final_ack ? 1 : 0);
	size_t sent = 0, acks = 0;

	while (sent < total) {
		size_t credit = acks * r->ack_every + r->window - sent;
		size_t batch = total - sent;

		if (!credit) {
			if (omx_floor_raw_recv_ack(r))
				return -EIO;
			acks++;
			continue;
		}
		if (batch > credit)
			batch = credit;
		if (batch > OMX_FLOOR_RAW_BATCH)
			batch = OMX_FLOOR_RAW_BATCH;
		if (omx_floor_raw_send_batch(r, size, sent, (unsigned)batch))
			return -EIO;
		sent += batch;
	}
	while (acks < acks_expected) {
		if (omx_floor_raw_recv_ack(r))
			return -EIO;
		acks++;
	}
	return 0;
}

static int omx_floor_raw_xfer_recv(struct omx_floor_raw *r, size_t size, unsigned count,
				   int final_ack)
{
	size_t total = omx_floor_raw_frames(r, size) * count;

	for (size_t got = 1; got <= total; got++) {
		ssize_t n = omx_floor_raw_recv(r);

		if (n < 0)
			return -EIO;
		/* Every frame is accounted for: a wrong length means lost or foreign frames. */
		if ((size_t)n != omx_floor_raw_frame_len(r, size, got - 1)) {
			fprintf(stderr, "omx_floor_raw: frame %zu of %zu has %zd bytes, expected %zu\n",
				got, total, n, omx_floor_raw_frame_len(r, size, got - 1));
			return -EPROTO;
		}
		if (got % r->ack_every == 0 && got < total && omx_floor_raw_ack(r))
			return -EIO;
	}
	return final_ack ? omx_floor_raw_ack(r) : 0;
}

static int omx_floor_raw_phase(void *ctx, size_t size, unsigned count)
{
	struct omx_floor_raw *r = ctx;
	int client = r->client;

	if (r->mode == OMX_FLOOR_BW)
		return client ? omx_floor_raw_xfer_send(r, size, count, 1)
			      : omx_floor_raw_xfer_recv(r, size, count, 1);
	for (unsigned i = 0; i < count; i++) {
		int err = client ? omx_floor_raw_xfer_send(r, size, 1, 0)
				 : omx_floor_raw_xfer_recv(r, size, 1, 0);

		if (!err)
			err = client ? omx_floor_raw_xfer_recv(r, size, 1, 0)
				     : omx_floor_raw_xfer_send(r, size, 1, 0);
		if (err)
			return err;
	}
	return 0;
}

static void omx_floor_raw_usage(void)
{
	fprintf(stderr, "usage: omx_floor_raw server|client --ifname IF [--peer MAC] "
		"--mode lat|bw --plan SIZE:ITERS[,...] [--spin-us N] [--window FRAMES] "
		"[--rx ring|recv]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ifname", required_argument, NULL, 'i' }, { "peer", required_argument, NULL, 'P' },
		{ "mode", required_argument, NULL, 'm' }, { "plan", required_argument, NULL, 'p' },
		{ "spin-us", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' }, { "rx", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct omx_floor_raw r = { .fd = -1, .spin_us = OMX_FLOOR_SPIN_US_DEFAULT };
	struct omx_floor_plan plan = { 0 };
	enum omx_floor_mode mode = OMX_FLOOR_LAT;
	const char *ifname = NULL, *peer = NULL;
	unsigned window = 256, ring = 1;
	uint8_t peer_mac[6];
	int client, opt, err;

	if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
		goto usage;
	client = !strcmp(argv[1], "client");
	optind = 2;
	while ((opt = getopt_long(argc, argv, "i:P:m:p:s:w:R:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'P':
			peer = optarg;
			break;
		case 'm':
			if (omx_floor_mode_parse(optarg, &mode))
				goto usage;
			break;
		case 'p':
			omx_floor_plan_free(&plan);
			if (omx_floor_plan_parse(optarg, &plan))
				goto usage;
			break;
		case 's':
			r.spin_us = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			window = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			if (strcmp(optarg, "ring") && strcmp(optarg, "recv"))
				goto usage;
			ring = !strcmp(optarg, "ring");
			break;
		default:
			goto usage;
		}
	}
	if (!ifname || !plan.nsteps || optind != argc || (client && !peer) || window < 2)
		goto usage;
	if (client && omx_floor_raw_parse_mac(peer, peer_mac))
		goto usage;

	/* The ring holds a full window plus the acks going the other way, with room to spare. */
	err = omx_floor_raw_open(&r, ifname, ring ? 2 * window + 64 : 0);
	if (err) {
		fprintf(stderr, "omx_floor_raw: cannot open AF_PACKET on %s: %s\n", ifname,
			strerror(-err));
		omx_floor_plan_free(&plan);
		return 1;
	}
	/* Bound the bytes in flight so the peer's receive buffer holds them all. */
	r.window = window;
	if ((size_t)r.window * (OMX_FLOOR_RAW_HLEN + r.payload_max) > OMX_FLOOR_RAW_INFLIGHT_BYTES)
		r.window = (unsigned)(OMX_FLOOR_RAW_INFLIGHT_BYTES / (OMX_FLOOR_RAW_HLEN + r.payload_max));
	if (r.window < 2)
		r.window = 2;
	r.ack_every = r.window / 2;
	if (client)
		omx_floor_raw_set_peer(&r, peer_mac);
	printf("# raw %s %s: %s mtu %zu, window %u frames, ack every %u, rx %s, spin %u us then "
	       "poll\n", client ? "client" : "server", mode == OMX_FLOOR_LAT ? "ping-pong" : "stream",
	       ifname, r.payload_max, r.window, r.ack_every, r.ring ? "TPACKET_V2 ring" : "recvfrom",
	       r.spin_us);
	if (!client)
		printf("ready\n");
	fflush(stdout);

	r.mode = mode;
	r.client = client;
	err = omx_floor_run(&plan, mode, client, omx_floor_raw_phase, &r);
	if (r.ring)
		munmap(r.ring, r.ring_len);
	close(r.fd);
	free(r.tx);
	free(r.rx);
	omx_floor_plan_free(&plan);
	return err ? 1 : 0;

usage:
	omx_floor_raw_usage();
	omx_floor_plan_free(&plan);
	return 2;
}
