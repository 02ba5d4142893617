/*
 * test_link_packet.c - the packet link (AF_PACKET, EtherType 0x86DF).
 *
 *   test_link_packet                       lo of a private network namespace
 *                                          (unshare; meson test runs this)
 *   test_link_packet NS_A IF_A NS_B IF_B   two namespaces joined by a veth pair
 *                                          (tests/test_netns_fabric.py makes them)
 *
 * One process plays both hosts: it opens each host's link and ports while
 * inside that host's namespace (setns), then drives them from anywhere.
 * Endpoint claims are bound here as the driver binds them.  Exits 77 (skip)
 * when namespaces or raw sockets are not allowed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "omx_abi.h"
#include "omx_wire.h"
#include "omx_link.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define SKIP 77
#define EP_MAX 8
#define NPORT EP_MAX
#define RXQ 96
#define FRAME_CAP (65552 + 64)

struct host {
	const char *name;
	int nsfd;
	char ifname[IFNAMSIZ];
	uint32_t if_frame;            /* interface MTU + 14 */
	struct omx_link *link;
	struct omx_link_port *port[NPORT];
	int claim[NPORT];
	unsigned nrx[NPORT];
	uint32_t rxlen[NPORT][RXQ];
	uint8_t *rx[NPORT][RXQ];
};

static struct host hosts[2];
static uint8_t *scratch;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void enter(const struct host *h)
{
	if (h->nsfd >= 0)
		CHECK(setns(h->nsfd, CLONE_NEWNET) == 0);
}

/* Bind endpoint index's claim as the driver does (in h's namespace). */
static int claim(struct host *h, uint32_t index)
{
	struct sockaddr_un sa;
	int fd, n;

	enter(h);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "omx-transport/%012" PRIx64 "/%u",
		     h->link->addr, index);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0);
	CHECK(listen(fd, 4) == 0);
	return fd;
}

static void open_port(struct host *h, uint32_t index, int with_claim)
{
	h->claim[index] = with_claim ? claim(h, index) : -1;
	enter(h);
	CHECK(h->link->ops->port_open(h->link, index, &h->port[index]) == 0);
}

static void close_port(struct host *h, uint32_t index)
{
	h->link->ops->port_close(h->port[index]);
	h->port[index] = NULL;
	if (h->claim[index] >= 0)
		close(h->claim[index]);
	h->claim[index] = -1;
	h->nrx[index] = 0;
}

/* Receive on every open port of both hosts for ms milliseconds (or until
 * stop() holds), keeping up to RXQ frames per port. */
static void pump(unsigned ms, int (*stop)(void))
{
	uint64_t end = now_ms() + ms;

	do {
		struct pollfd pfd[2 * NPORT];
		unsigned np = 0;

		for (int hi = 0; hi < 2; hi++)
			for (unsigned e = 0; e < NPORT; e++)
				if (hosts[hi].link && hosts[hi].port[e])
					pfd[np++] = (struct pollfd){
						.fd = hosts[hi].link->ops->port_fd(hosts[hi].port[e]),
						.events = POLLIN };
		(void)poll(pfd, np, 5);
		for (int hi = 0; hi < 2; hi++) {
			struct host *h = &hosts[hi];

			for (unsigned e = 0; h->link && e < NPORT; e++) {
				struct omx_link_frame f = { .data = scratch, .len = FRAME_CAP };

				while (h->port[e] && h->link->ops->port_recv(h->port[e], &f, 1) == 1) {
					if (h->nrx[e] < RXQ) {
						unsigned i = h->nrx[e]++;

						if (!h->rx[e][i])
							h->rx[e][i] = malloc(FRAME_CAP);
						memcpy(h->rx[e][i], scratch, f.len);
						h->rxlen[e][i] = f.len;
					}
					f.len = FRAME_CAP;
				}
			}
		}
		if (stop && stop())
			return;
	} while (now_ms() < end);
}

static void clear_rx(void)
{
	for (int hi = 0; hi < 2; hi++)
		memset(hosts[hi].nrx, 0, sizeof(hosts[hi].nrx));
}

/* A frame of len random bytes with a valid head and the given type. */
static void build(uint8_t *f, uint32_t len, const struct host *to, const struct host *from,
		  uint8_t ptype, uint8_t dst_ep)
{
	struct omx_wire_head head = {
		.dst_addr = to->link->addr, .src_addr = from->link->addr, .dst_src_peer_index = 0x42,
	};

	for (uint32_t i = 0; i < len; i++)
		f[i] = (uint8_t)rnd();
	omx_wire_head_encode(f, &head);
	f[16] = ptype;
	f[17] = dst_ep;
}

static void send1(struct host *h, uint32_t index, uint8_t *f, uint32_t len)
{
	struct omx_link_frame fr = { .data = f, .len = len };

	CHECK(h->link->ops->port_send(h->port[index], &fr, 1) == 0);
}

/* ---- facts, MTU, status --------------------------------------------------- */

static void test_facts(struct host *h)
{
	struct omx_link *l;

	enter(h);
	CHECK(omx_link_packet_open(h->ifname, EP_MAX, 0, &l) == 0);
	CHECK(l->mtu == h->if_frame && !(l->status & OMX_ABI_BOARD_STATUS_BAD_MTU));
	CHECK(!(l->status & OMX_ABI_BOARD_STATUS_DOWN));
	CHECK(!strcmp(l->ifacename, h->ifname) && l->endpoint_max == EP_MAX);
	l->ops->close(l);
	CHECK(omx_link_packet_open(h->ifname, EP_MAX, h->if_frame, &l) == 0);
	CHECK(l->mtu == h->if_frame && !(l->status & OMX_ABI_BOARD_STATUS_BAD_MTU));
	l->ops->close(l);
	/* Configured above what the interface carries: reported, never truncated. */
	CHECK(omx_link_packet_open(h->ifname, EP_MAX, h->if_frame + 1, &l) == 0);
	CHECK(l->mtu == h->if_frame && (l->status & OMX_ABI_BOARD_STATUS_BAD_MTU));
	l->ops->close(l);
	if (h->if_frame < 9000) {
		CHECK(omx_link_packet_open(h->ifname, EP_MAX, 9000, &l) == 0);
		CHECK(l->mtu == h->if_frame && (l->status & OMX_ABI_BOARD_STATUS_BAD_MTU));
		l->ops->close(l);
	}
	CHECK(omx_link_packet_open(h->ifname, EP_MAX, 1514, &l) == 0);
	CHECK(l->mtu == (h->if_frame < 1514 ? h->if_frame : 1514));
	l->ops->close(l);
	CHECK(omx_link_packet_open("omxt-nosuchif", EP_MAX, 0, &l) == OMX_ABI_ENODEV);
	CHECK(omx_link_packet_open(h->ifname, 0, 0, &l) == OMX_ABI_EINVAL);
	printf("facts %s: addr %012" PRIx64 " frame %u ok\n", h->ifname, h->link->addr, h->if_frame);
}

/* ---- frames cross byte-exact ------------------------------------------------ */

static struct host *want_host;
static unsigned want_port, want_count;

static int got_enough(void)
{
	return want_host->nrx[want_port] >= want_count;
}

static void test_exact(struct host *a, struct host *b)
{
	uint32_t mtu = a->link->mtu < b->link->mtu ? a->link->mtu : b->link->mtu;
	uint32_t sizes[24];
	unsigned ns = 0;
	static uint8_t sent[24][FRAME_CAP];

	sizes[ns++] = OMX_WIRE_MIN_FRAME;
	sizes[ns++] = OMX_WIRE_MIN_FRAME + 1;
	sizes[ns++] = 1514 < mtu ? 1514 : mtu - 2;
	sizes[ns++] = mtu - 1;
	sizes[ns++] = mtu;
	while (ns < 24)
		sizes[ns++] = OMX_WIRE_MIN_FRAME + rnd() % (mtu - OMX_WIRE_MIN_FRAME + 1);

	clear_rx();
	for (unsigned i = 0; i < ns; i++) {
		build(sent[i], sizes[i], b, a, OMX_PKT_TYPE_TINY, 1);
		sent[i][40] = (uint8_t)i;
		send1(a, 0, sent[i], sizes[i]);
		/* Drain as we go: 24 frames of 64 KiB exceed no ring, but keep it simple. */
	}
	want_host = b, want_port = 1, want_count = ns;
	pump(3000, got_enough);
	CHECK(b->nrx[1] == ns);
	for (unsigned i = 0; i < ns; i++) {
		unsigned k = b->rx[1][i][40];

		CHECK(k < ns && b->rxlen[1][i] == sizes[k]);
		CHECK(!memcmp(b->rx[1][i], sent[k], sizes[k]));
	}
	for (unsigned e = 0; e < NPORT; e++)
		CHECK(e == 1 || !b->port[e] || b->nrx[e] == 0);

	/* Larger than the link MTU: refused, nothing sent. */
	struct omx_link_frame big = { .data = sent[0], .len = a->link->mtu + 1 };
	CHECK(a->link->ops->port_send(a->port[0], &big, 1) == OMX_ABI_EMSGSIZE);
	big.len = OMX_WIRE_HEAD_LEN;
	CHECK(a->link->ops->port_send(a->port[0], &big, 1) == OMX_ABI_EINVAL);

	/* A batch of 64 full frames, then a stream of 2000 with a drain per batch. */
	struct omx_link_frame batch[64];
	unsigned total = 0;
	for (unsigned i = 0; i < 64; i++) {
		batch[i].data = sent[i % 24];
		batch[i].len = sizes[i % 24];
	}
	clear_rx();
	for (unsigned round = 0; round < 2000 / 64; round++) {
		unsigned left = 64;
		uint64_t end = now_ms() + 2000;

		while (left && now_ms() < end) {
			int r = a->link->ops->port_send(a->port[0], batch + (64 - left), left);
			CHECK(r >= 0);
			left = (unsigned)r;
		}
		CHECK(left == 0);
		want_count = 64;
		pump(2000, got_enough);
		total += b->nrx[1];
		clear_rx();
	}
	CHECK(total == (2000 / 64) * 64);
	printf("exact %s -> %s: %u sizes 60..%u byte-exact, %u streamed ok\n", a->ifname, b->ifname,
	       ns, mtu, total);
}

/* ---- demultiplexing ------------------------------------------------------------- */

/* The endpoint a frame belongs to, by the rules in omx_link_packet.c's
 * table (written again here, not shared): -2 nobody. */
static int owner(const uint8_t *f, uint32_t len, uint64_t addr)
{
	if (omx_wire_get_mac(f) != addr) {
		if (omx_wire_get_mac(f) == 0xffffffffffffull && len > 16 && f[16] == OMX_PKT_TYPE_RAW)
			return 0;
		return -2;
	}
	if (len < 17)
		return -2;
	if ((f[16] >= 35 && f[16] <= 41) || f[16] == 43)
		return len > 17 ? f[17] : -2;
	if (f[16] == 44)
		return len > 25 ? f[25] : -2;
	if (f[16] == 42 || f[16] == 45) {
		if (len < 32)
			return -2;
		uint32_t e = omx_wire_get32(f, 28) ^ OMX_PULL_MAGIC_XOR;
		return e < 256 ? (int)e : -2;
	}
	return 0;
}

static void test_demux(struct host *a, struct host *b)
{
	static const uint8_t types[] = { 35, 36, 37, 38, 39, 40, 41, 43, 44, 42, 45, 3, 4, 1, 0, 99 };
	uint8_t f[128];
	unsigned expect[NPORT] = { 0 }, tag = 0;
	uint64_t nacks = 0;

	for (unsigned e = 0; e < NPORT; e++)
		nacks += b->port[e] ? b->port[e]->stats->nacks_synthesised : 0;
	clear_rx();
	for (unsigned e = 0; e < 4; e++) {
		for (unsigned t = 0; t < sizeof(types); t++) {
			build(f, sizeof(f), b, a, types[t], (uint8_t)e);
			f[18] = 0;                      /* src endpoint: A's port 0 */
			f[25] = (uint8_t)e;
			omx_wire_put32(f, 28, e ^ OMX_PULL_MAGIC_XOR);
			f[100] = (uint8_t)tag++;
			send1(a, 0, f, sizeof(f));
			expect[owner(f, sizeof(f), b->link->addr)]++;
		}
	}
	/* Broadcast RAW goes to endpoint 0; another MAC and a bad magic to nobody. */
	build(f, sizeof(f), b, a, OMX_PKT_TYPE_RAW, 3);
	omx_wire_put_mac(f, 0xffffffffffffull);
	send1(a, 0, f, sizeof(f));
	expect[0]++;
	build(f, sizeof(f), b, a, OMX_PKT_TYPE_TINY, 1);
	omx_wire_put_mac(f, b->link->addr ^ 0x010000000000ull ^ 0x020000000000ull);
	send1(a, 0, f, sizeof(f));
	build(f, sizeof(f), b, a, OMX_PKT_TYPE_PULL_REPLY, 1);
	omx_wire_put32(f, 28, 0x12345678);
	send1(a, 0, f, sizeof(f));
	build(f, sizeof(f), b, a, OMX_PKT_TYPE_TINY, 1);
	f[13] = 0xE0;                           /* another EtherType */
	send1(a, 0, f, sizeof(f));

	pump(300, NULL);
	for (unsigned e = 0; e < 4; e++) {
		CHECK(b->nrx[e] == expect[e]);
		for (unsigned i = 0; i < b->nrx[e]; i++) {
			CHECK(owner(b->rx[e][i], b->rxlen[e][i], b->link->addr) == (int)e);
		}
	}
	/* Every index is claimed: the responder nacked nothing. */
	for (unsigned e = 0; e < NPORT; e++)
		nacks -= b->port[e] ? b->port[e]->stats->nacks_synthesised : 0;
	CHECK(nacks == 0);
	printf("demux: ports 0-3 got %u/%u/%u/%u frames, each only its own ok\n", expect[0], expect[1],
	       expect[2], expect[3]);
}

/* ---- outgoing copies ------------------------------------------------------------ */

static void test_outgoing(struct host *a, struct host *b)
{
	uint8_t f[64];

	clear_rx();
	/* To this host's own address: leaves through the interface (or loops on lo);
	 * the sending host must see it once (lo) or never (veth). */
	build(f, sizeof(f), a, a, OMX_PKT_TYPE_TINY, 0);
	send1(a, 0, f, sizeof(f));
	build(f, sizeof(f), b, a, OMX_PKT_TYPE_TINY, 0);
	f[25] = 0;
	send1(a, 0, f, sizeof(f));
	pump(200, NULL);
	if (a == b)
		CHECK(a->nrx[0] == 2 && !memcmp(a->rx[0][1], f, sizeof(f)));
	else
		CHECK(a->nrx[0] == 0 && b->nrx[0] == 1);
	printf("outgoing: never delivered back ok\n");
}

/* ---- responder -------------------------------------------------------------- */

static int nack_seen(void)
{
	return want_host->nrx[want_port] > 0;
}

/* Send ptype to b's index dst from a's port src; expect a nack (or none). */
static void expect_nack(struct host *a, struct host *b, uint8_t src, uint8_t ptype, uint8_t dst,
			int nack_type, uint16_t seqnum, int fcs_bad)
{
	uint32_t len = 60 + (a->link->needs_fcs ? OMX_WIRE_FCS_LEN : 0);
	uint8_t f[64 + OMX_WIRE_FCS_LEN];
	const uint8_t *n, *nb;

	build(f, len, b, a, ptype, dst);
	f[18] = src;
	omx_wire_put16(f, 16 + 8, 0x1111);
	omx_wire_put16(f, 16 + 18, 0x2222);
	if (ptype == OMX_PKT_TYPE_NOTIFY)
		omx_wire_put16(f, 16 + 18, seqnum);
	else if (ptype != OMX_PKT_TYPE_CONNECT)
		omx_wire_put16(f, 16 + 8, seqnum);
	omx_wire_put32(f, 16 + 24, 0xdeadbeef);
	omx_wire_put32(f, 16 + 28, src ^ OMX_PULL_MAGIC_XOR);
	if (ptype == OMX_PKT_TYPE_NACK_LIB)
		f[25] = 0xee;                   /* reaches no port */
	if (a->link->needs_fcs)
		omx_wire_put32(f, len - 4, omx_wire_crc32c(f, len - 4) ^ (uint32_t)fcs_bad);
	clear_rx();
	send1(a, src, f, len);
	want_host = a, want_port = src;
	pump(nack_type ? 2000 : 300, nack_seen);
	if (!nack_type) {
		CHECK(a->nrx[src] == 0);
		return;
	}
	CHECK(a->nrx[src] == 1);
	n = a->rx[src][0];
	nb = n + 16;
	CHECK(a->rxlen[src][0] == 60 + (a->link->needs_fcs ? OMX_WIRE_FCS_LEN : 0));
	CHECK(omx_wire_get_mac(n) == a->link->addr && omx_wire_get_mac(n + 6) == b->link->addr);
	CHECK(omx_wire_head_ethertype(n) == OMX_WIRE_ETHERTYPE && omx_wire_get16(n, 14) == 0xffff);
	if (a->link->needs_fcs)
		CHECK(omx_wire_get32(n, 60) == omx_wire_crc32c(n, 60));
	if (ptype == OMX_PKT_TYPE_PULL) {
		struct omx_wire_nack_mcp m;

		CHECK(nb[0] == OMX_PKT_TYPE_NACK_MCP);
		omx_wire_nack_mcp_decode(nb, &m);
		CHECK(m.src_endpoint == dst && m.nack_type == nack_type);
		CHECK(m.src_pull_handle == 0xdeadbeef && m.src_magic == (src ^ OMX_PULL_MAGIC_XOR));
	} else {
		struct omx_wire_nack_lib m;

		CHECK(nb[0] == OMX_PKT_TYPE_NACK_LIB);
		omx_wire_nack_lib_decode(nb, &m);
		CHECK(m.src_endpoint == dst && m.nack_type == nack_type && m.dst_endpoint == src);
		CHECK(m.dst_src_peer_index == 0x42);
		CHECK(m.lib_seqnum == (ptype == OMX_PKT_TYPE_CONNECT ? 0 : seqnum));
	}
	for (unsigned i = 16 + OMX_WIRE_NACK_LIB_LEN; i < 60; i++)
		CHECK(n[i] == 0);
}

static void test_responder(struct host *a, struct host *b, uint8_t src)
{
	const int closed = OMX_NACK_TYPE_ENDPT_CLOSED, bad = OMX_NACK_TYPE_BAD_ENDPT;

	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, 5, closed, 0x1234, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_SMALL, 5, closed, 0x4321, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_MEDIUM, 6, closed, 0x0007, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_RNDV, 5, closed, 0x3fff, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_NOTIFY, 5, closed, 0x8001, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_CONNECT, 5, closed, 0, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_PULL, 5, closed, 0, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, EP_MAX, bad, 0x0101, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_CONNECT, 200, bad, 0, 0);
	/* Never nacked: TRUC, nacks, pull replies. */
	expect_nack(a, b, src, OMX_PKT_TYPE_TRUC, 5, 0, 0, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_NACK_LIB, 5, 0, 0, 0);
	/* Claimed but its port not open yet: no nack (the sender will resend). */
	int c6 = claim(b, 6);
	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, 6, 0, 0x0102, 0);
	close(c6);
	/* Just opened (the responder's filter may be stale): only the port sees it. */
	open_port(b, 7, 1);
	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, 7, 0, 0x0103, 0);
	CHECK(b->nrx[7] == 1);
	/* Just closed: nacked once the responder's filter is refreshed. */
	close_port(b, 7);
	pump(2 * 250 + 50, NULL);
	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, 7, closed, 0x0104, 0);

	/* With the CRC32C trailer: a damaged frame is not nacked, the nack has one. */
	a->link->needs_fcs = b->link->needs_fcs = 1;
	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, 5, closed, 0x0201, 0);
	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, 5, 0, 0x0202, 0x10);
	a->link->needs_fcs = b->link->needs_fcs = 0;

	/* The role moves on when its holder goes (port 0 was first), at the
	 * other ports' next refresh. */
	close_port(b, 0);
	pump(2 * 250 + 50, NULL);
	expect_nack(a, b, src, OMX_PKT_TYPE_TINY, 0, closed, 0x0301, 0);
	open_port(b, 0, 1);
	printf("responder: nacks for closed/bad endpoints, none for claimed ones, role handoff ok\n");
}

/* ---- garbage ------------------------------------------------------------------ */

static void test_garbage(struct host *a, struct host *b)
{
	static const uint8_t types[] = { 1, 3, 4, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 0, 200 };
	uint8_t f[256];
	struct sockaddr_ll sll;
	unsigned delivered = 0;
	int fd;

	enter(a);
	/* Protocol 0: this socket sends only; the receiver reads the EtherType from the bytes. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(a->ifname);
	CHECK(bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	clear_rx();
	for (unsigned i = 0; i < 10000; i++) {
		uint32_t len = 14 + rnd() % (rnd() % 4 ? 60 : sizeof(f) - 14);

		build(f, sizeof(f), b, a, types[rnd() % sizeof(types)], (uint8_t)(rnd() % 4 ? rnd() % 8 : rnd()));
		if (rnd() % 8 == 0)
			omx_wire_put32(f, 28, (rnd() % 8) ^ OMX_PULL_MAGIC_XOR);
		if (rnd() % 16 == 0)
			f[6] |= 1;                      /* a group source: never answered */
		if (rnd() % 16 == 0)
			omx_wire_put_mac(f, 0xffffffffffffull);
		CHECK(send(fd, f, len, 0) == (ssize_t)len || errno == ENOBUFS || errno == EAGAIN);
		if (i % 64 == 63) {
			pump(1, NULL);
			for (unsigned e = 0; e < NPORT; e++) {
				for (unsigned k = 0; b->port[e] && k < b->nrx[e]; k++) {
					CHECK(owner(b->rx[e][k], b->rxlen[e][k], b->link->addr) == (int)e);
					CHECK(b->rxlen[e][k] <= b->link->mtu && b->rxlen[e][k] > 16);
				}
				delivered += b->nrx[e];
			}
			clear_rx();
		}
	}
	close(fd);
	pump(200, NULL);
	clear_rx();
	for (unsigned e = 0; e < NPORT; e++)
		if (b->port[e])
			CHECK(b->port[e]->stats != NULL);
	printf("garbage: 10000 frames injected, %u delivered to their owners, link alive\n", delivered);
}

/* ---- capabilities and environment ------------------------------------------- */

static void test_eperm(const char *ifname)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct data[2];
		struct omx_link *l;

		if (syscall(SYS_capget, &hdr, data) != 0)
			_exit(3);
		data[CAP_NET_RAW / 32].effective &= ~(1u << (CAP_NET_RAW % 32));
		if (syscall(SYS_capset, &hdr, data) != 0)
			_exit(3);
		_exit(omx_link_packet_open(ifname, EP_MAX, 0, &l) == OMX_ABI_EPERM ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	CHECK(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3);
	printf("eperm: %s\n", WEXITSTATUS(st) == 0 ? "without CAP_NET_RAW open says EPERM ok"
						   : "capset not allowed, not checked");
}

static void test_env(const char *ifname)
{
	struct omx_link *l;
	char list[64];

	setenv("OMX_LINK", "packet", 1);
	unsetenv("OMX_FAULT");
	unsetenv("OMX_MTU");
	snprintf(list, sizeof(list), "%s,%s", ifname, ifname);
	setenv("OMX_IFNAMES", list, 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &l) == 0 && !strcmp(l->ops->name, "packet"));
	CHECK(!strcmp(l->ifacename, ifname));
	l->ops->close(l);
	CHECK(omx_link_open_from_env(1, EP_MAX, &l) == 0);
	l->ops->close(l);
	CHECK(omx_link_open_from_env(2, EP_MAX, &l) == OMX_ABI_ENODEV);
	setenv("OMX_MTU", "70000", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &l) == 0 && l->mtu <= 65550);
	l->ops->close(l);
	setenv("OMX_MTU", "1514", 1);
	setenv("OMX_FAULT", "drop=0,seed=1", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &l) == 0 && l->mtu == 1514 && l->needs_fcs);
	l->ops->close(l);
	unsetenv("OMX_FAULT");
	setenv("OMX_IFNAMES", "omxt-nosuchif", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &l) == OMX_ABI_ENODEV);
	unsetenv("OMX_IFNAMES");
	CHECK(omx_link_open_from_env(0, EP_MAX, &l) == 0);
	printf("env: OMX_IFNAMES boards, default interface '%s', OMX_MTU cap ok\n", l->ifacename);
	/* The defaults end with lo: board 1 is lo after an Ethernet board 0, else none. */
	if (strcmp(l->ifacename, "lo")) {
		l->ops->close(l);
		CHECK(omx_link_open_from_env(1, EP_MAX, &l) == 0 && !strcmp(l->ifacename, "lo"));
		l->ops->close(l);
		CHECK(omx_link_open_from_env(2, EP_MAX, &l) == OMX_ABI_ENODEV);
	} else {
		l->ops->close(l);
		CHECK(omx_link_open_from_env(1, EP_MAX, &l) == OMX_ABI_ENODEV);
	}
	unsetenv("OMX_LINK");
	unsetenv("OMX_MTU");
}

/* ---- setup -------------------------------------------------------------------- */

static uint32_t if_frame(const char *ifname)
{
	struct ifreq ifr;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	CHECK(ioctl(fd, SIOCGIFMTU, &ifr) == 0);
	close(fd);
	return (uint32_t)ifr.ifr_mtu + 14 > 65550 ? 65550 : (uint32_t)ifr.ifr_mtu + 14;
}

static int open_host(struct host *h, const char *ns, const char *ifname)
{
	char path[256];
	int err;

	memset(h->claim, 0xff, sizeof(h->claim));
	h->name = ns;
	h->nsfd = -1;
	if (ns) {
		snprintf(path, sizeof(path), strchr(ns, '/') ? "%s" : "/var/run/netns/%s", ns);
		h->nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (h->nsfd < 0 || setns(h->nsfd, CLONE_NEWNET) < 0) {
			printf("SKIP: cannot enter network namespace %s: %s\n", path, strerror(errno));
			return SKIP;
		}
	}
	snprintf(h->ifname, sizeof(h->ifname), "%s", ifname);
	h->if_frame = if_frame(ifname);
	err = omx_link_packet_open(ifname, EP_MAX, 0, &h->link);
	if (err == OMX_ABI_EPERM) {
		printf("SKIP: raw sockets need CAP_NET_RAW\n");
		return SKIP;
	}
	CHECK(err == 0);
	return 0;
}

static void set_lo_up(int up)
{
	struct ifreq ifr;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags = (short)(up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP);
	CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
	close(fd);
}

static int run_lo(void)
{
	struct omx_link *l;

	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP: cannot create a network namespace (%s); run as root, or run "
		       "tests/test_netns_fabric.py\n", strerror(errno));
		return SKIP;
	}
	if (omx_link_packet_open("lo", EP_MAX, 0, &l) == OMX_ABI_EPERM) {
		printf("SKIP: raw sockets need CAP_NET_RAW\n");
		return SKIP;
	}
	CHECK(l->status & OMX_ABI_BOARD_STATUS_DOWN);
	CHECK(l->addr == 0 && l->mtu == 65550);
	l->ops->close(l);
	set_lo_up(1);
	if (open_host(&hosts[0], NULL, "lo"))
		return SKIP;
	hosts[1] = hosts[0];
	hosts[1].link = NULL;                   /* one host: pump it once */
	struct host *h = &hosts[0];

	test_facts(h);
	open_port(h, 0, 1);
	open_port(h, 1, 1);
	open_port(h, 2, 1);
	open_port(h, 3, 1);
	test_exact(h, h);
	test_demux(h, h);
	test_outgoing(h, h);
	test_responder(h, h, 1);
	test_garbage(h, h);
	test_exact(h, h);
	test_env("lo");
	test_eperm("lo");
	return 0;
}

static int run_pair(char **argv)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	int err;

	if ((err = open_host(a, argv[1], argv[2])) || (err = open_host(b, argv[3], argv[4])))
		return err;
	test_facts(a);
	test_facts(b);
	open_port(a, 0, 1);
	open_port(a, 1, 1);
	for (unsigned e = 0; e < 4; e++)
		open_port(b, e, 1);
	test_exact(a, b);
	test_demux(a, b);
	test_outgoing(a, b);
	test_responder(a, b, 0);
	test_responder(a, b, 1);
	test_garbage(a, b);
	test_exact(a, b);
	enter(a);
	test_env(argv[2]);
	test_eperm(argv[2]);
	return 0;
}

int main(int argc, char **argv)
{
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rng ^= (uint64_t)getpid() << 20;
	scratch = malloc(FRAME_CAP);
	CHECK(scratch);
	if (argc == 1)
		err = run_lo();
	else if (argc == 5)
		err = run_pair(argv);
	else {
		fprintf(stderr, "usage: %s [NS_A IF_A NS_B IF_B]\n", argv[0]);
		return 2;
	}
	if (err == SKIP)
		return SKIP;
	printf("test_link_packet: all passed\n");
	return 0;
}
