/* test_link.c - the udp link on 127.0.0.1, its ICMP nacks, the fault decorator, the env. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "omx_abi.h"
#include "omx_wire.h"
#include "omx_link.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define EP_MAX 8
#define NBUF 64
#define BUF_CAP 9100

static uint8_t txbuf[NBUF][BUF_CAP];
static uint8_t rxbuf[NBUF][BUF_CAP];
static uint32_t rxlen[NBUF];

static uint32_t rnd(void)
{
	return (uint32_t)random();
}

/* Open a udp link on 127.0.0.1 at a random high base port with ports 0 and 1. */
static struct omx_link *open_udp(const char *extra_fault, struct omx_link_port **p0,
				 struct omx_link_port **p1, unsigned *base_out)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		unsigned base = 20000 + rnd() % 40000;
		struct omx_link *udp, *link;
		char spec[32];

		snprintf(spec, sizeof(spec), "127.0.0.1:%u", base);
		CHECK(omx_link_udp_open(spec, EP_MAX, 9000, &udp) == 0);
		link = udp;
		if (extra_fault)
			CHECK(omx_link_fault_wrap(udp, extra_fault, &link) == 0);
		if (link->ops->port_open(link, 0, p0) == 0) {
			if (link->ops->port_open(link, 1, p1) == 0) {
				*base_out = base;
				return link;
			}
			link->ops->port_close(*p0);
		}
		link->ops->close(link);
	}
	CHECK(!"no free base port");
	return NULL;
}

static void make_frame(uint8_t *f, uint32_t len, uint64_t dst, uint64_t src, uint8_t ptype,
		       uint8_t dst_ep, uint8_t src_ep)
{
	struct omx_wire_head h = { .dst_addr = dst, .src_addr = src, .dst_src_peer_index = 0x0042 };

	for (uint32_t i = 0; i < len; i++)
		f[i] = (uint8_t)rnd();
	omx_wire_head_encode(f, &h);
	f[16] = ptype;
	f[17] = dst_ep;
	f[18] = src_ep;
}

/* Receive until `want` frames arrived or timeout_ms passed; returns the count. */
static unsigned recv_wait(struct omx_link_port *p, unsigned want, int timeout_ms)
{
	struct omx_link_frame fr[NBUF];
	struct timespec t0, t;
	unsigned got = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		unsigned room = want - got < NBUF - got % NBUF ? want - got : NBUF - got % NBUF;

		for (unsigned i = 0; i < room; i++) {
			fr[i].data = rxbuf[(got + i) % NBUF];
			fr[i].len = BUF_CAP;
		}
		int r = room ? p->link->ops->port_recv(p, fr, room) : 0;
		CHECK(r >= 0);
		for (int i = 0; i < r; i++)
			if (fr[i].data != rxbuf[(got + (unsigned)i) % NBUF] || fr[i].len == 0)
				CHECK(!"recv moved a buffer");
		for (int i = 0; i < r; i++)
			rxlen[(got + (unsigned)i) % NBUF] = fr[i].len;
		got += (unsigned)r;
		if (got >= want)
			return got;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms)
			return got;
		struct pollfd pfd = { .fd = p->link->ops->port_fd(p), .events = POLLIN };
		int wait = p->link->poll_interval_ms ? (int)p->link->poll_interval_ms : 20;
		(void)poll(&pfd, 1, wait);
	}
}

static uint32_t rx_len(unsigned i)
{
	return rxlen[i % NBUF];
}

static void test_exchange(void)
{
	struct omx_link_port *a, *b;
	unsigned base;
	struct omx_link *link = open_udp(NULL, &a, &b, &base);
	uint32_t sizes[40] = { 60, 61, 64, 100, 1000, 1499, 1500, 4096, 8191, 8999, 9000 };
	struct omx_link_frame fr[32];

	CHECK(link->addr == (((uint64_t)0x7f000001 << 16) | base));
	CHECK(link->mtu == 9000 && link->endpoint_max == EP_MAX);
	CHECK(!strcmp(link->ifacename, "udp") && !strcmp(link->drivername, "udp"));
	CHECK(a->stats != NULL && a->link == link);
	for (unsigned i = 11; i < 40; i++)
		sizes[i] = 60 + rnd() % (9000 - 60 + 1);

	/* One frame per call, a -> b, byte-exact. */
	for (unsigned i = 0; i < 40; i++) {
		struct omx_link_frame f = { .data = txbuf[0], .len = sizes[i] };

		make_frame(txbuf[0], sizes[i], link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
		CHECK(link->ops->port_send(a, &f, 1) == 0);
		CHECK(recv_wait(b, 1, 2000) == 1);
		CHECK(rx_len(0) == sizes[i]);
		CHECK(memcmp(rxbuf[0], txbuf[0], sizes[i]) == 0);
	}

	/* A batch of 32, in order. */
	for (unsigned i = 0; i < 32; i++) {
		make_frame(txbuf[i], sizes[i + 8], link->addr, link->addr, OMX_PKT_TYPE_MEDIUM, 1, 0);
		fr[i].data = txbuf[i];
		fr[i].len = sizes[i + 8];
	}
	CHECK(link->ops->port_send(a, fr, 32) == 0);
	CHECK(recv_wait(b, 32, 2000) == 32);
	for (unsigned i = 0; i < 32; i++) {
		CHECK(rx_len(i) == sizes[i + 8]);
		CHECK(memcmp(rxbuf[i], txbuf[i], sizes[i + 8]) == 0);
	}

	/* b -> a by the other addressing rules: magic, NACK_LIB byte 9, board traffic. */
	make_frame(txbuf[0], 100, link->addr, link->addr, OMX_PKT_TYPE_PULL_REPLY, 0xff, 0xff);
	omx_wire_put32(txbuf[0], 16 + 12, 0 ^ OMX_PULL_MAGIC_XOR);
	make_frame(txbuf[1], 60, link->addr, link->addr, OMX_PKT_TYPE_NACK_LIB, 0xff, 0xff);
	txbuf[1][16 + 9] = 0;
	make_frame(txbuf[2], 60, link->addr, link->addr, OMX_PKT_TYPE_HOST_QUERY, 0xff, 0xff);
	make_frame(txbuf[3], 60, link->addr, link->addr, OMX_PKT_TYPE_NACK_MCP, 0xff, 0xff);
	omx_wire_put32(txbuf[3], 16 + 12, 0 ^ OMX_PULL_MAGIC_XOR);
	for (unsigned i = 0; i < 4; i++) {
		fr[i].data = txbuf[i];
		fr[i].len = i ? 60 : 100;
	}
	CHECK(link->ops->port_send(b, fr, 4) == 0);
	CHECK(recv_wait(a, 4, 2000) == 4);
	for (unsigned i = 0; i < 4; i++)
		CHECK(rx_len(i) == fr[i].len && memcmp(rxbuf[i], txbuf[i], fr[i].len) == 0);

	/* A magic naming no endpoint index is not routable: counted, not sent. */
	omx_wire_put32(txbuf[0], 16 + 12, 0x12345678u);
	CHECK(link->ops->port_send(b, fr, 1) == 0);
	CHECK(b->stats->tx_errors == 1);

	/* Oversize and runt frames are refused whole. */
	fr[0].len = 9001;
	CHECK(link->ops->port_send(a, fr, 1) == OMX_ABI_EMSGSIZE);
	fr[0].len = 16;
	CHECK(link->ops->port_send(a, fr, 1) == OMX_ABI_EINVAL);
	CHECK(recv_wait(b, 1, 50) == 0);
	CHECK(a->stats->dropped_spoofed == 0 && b->stats->dropped_spoofed == 0);
	CHECK(a->stats->dropped_truncated == 0 && b->stats->dropped_truncated == 0);

	/* EBUSY for an index bound twice, by this link or another on the same address. */
	struct omx_link_port *dup;
	struct omx_link *other;
	char spec[32];

	CHECK(link->ops->port_open(link, 0, &dup) == OMX_ABI_EBUSY);
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", base);
	CHECK(omx_link_udp_open(spec, EP_MAX, 0, &other) == 0);
	CHECK(other->mtu == 9000);
	CHECK(other->ops->port_open(other, 1, &dup) == OMX_ABI_EBUSY);
	CHECK(other->ops->port_open(other, EP_MAX, &dup) == OMX_ABI_EINVAL);
	other->ops->close(other);

	link->ops->port_close(a);
	link->ops->port_close(b);
	link->ops->close(link);
	printf("exchange: ok\n");
}

static void check_nack(unsigned i, uint64_t addr, uint8_t nacker, uint8_t type, uint16_t seq,
		       uint16_t peer, int fcs)
{
	const uint8_t *f = rxbuf[i];
	struct omx_wire_head h;
	struct omx_wire_nack_lib n;

	CHECK(rx_len(i) == (uint32_t)(OMX_WIRE_MIN_FRAME + (fcs ? OMX_WIRE_FCS_LEN : 0)));
	omx_wire_head_decode(f, &h);
	CHECK(h.dst_addr == addr && h.src_addr == addr);
	CHECK(h.dst_src_peer_index == OMX_WIRE_UNKNOWN_PEER_INDEX);
	CHECK(omx_wire_head_ethertype(f) == OMX_WIRE_ETHERTYPE);
	CHECK(f[16] == OMX_PKT_TYPE_NACK_LIB);
	omx_wire_nack_lib_decode(f + 16, &n);
	CHECK(n.src_endpoint == nacker && n.nack_type == type && n.dst_endpoint == 0);
	CHECK(n.lib_seqnum == seq && n.dst_src_peer_index == peer);
	if (fcs)
		CHECK(omx_wire_get32(f, OMX_WIRE_MIN_FRAME) == omx_wire_crc32c(f, OMX_WIRE_MIN_FRAME));
}

static void test_nack_and_spoof(void)
{
	struct omx_link_port *a, *b;
	unsigned base;
	struct omx_link *link = open_udp(NULL, &a, &b, &base);
	struct omx_link_frame f = { .data = txbuf[0], .len = 60 };

	/* TINY to a closed endpoint: ENDPT_CLOSED with its seqnum. */
	make_frame(txbuf[0], 60, link->addr, link->addr, OMX_PKT_TYPE_TINY, 5, 0);
	omx_wire_put16(txbuf[0], 16 + 8, 0x1234);
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	CHECK(recv_wait(a, 1, 2000) == 1);
	check_nack(0, link->addr, 5, OMX_NACK_TYPE_ENDPT_CLOSED, 0x1234, 0x0042, 0);
	CHECK(a->stats->nacks_synthesised == 1);

	/* NOTIFY beyond endpoint_max: BAD_ENDPT, seqnum at body 18. */
	make_frame(txbuf[0], 60, link->addr, link->addr, OMX_PKT_TYPE_NOTIFY, 200, 0);
	omx_wire_put16(txbuf[0], 16 + 18, 0x4321);
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	CHECK(recv_wait(a, 1, 2000) == 1);
	check_nack(0, link->addr, 200, OMX_NACK_TYPE_BAD_ENDPT, 0x4321, 0x0042, 0);

	/* A 9000-byte MEDIUM comes back cut by the ICMP quote: still nacked. */
	make_frame(txbuf[1], 9000, link->addr, link->addr, OMX_PKT_TYPE_MEDIUM, 7, 0);
	omx_wire_put16(txbuf[1], 16 + 8, 0x0777);
	f.data = txbuf[1];
	f.len = 9000;
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	CHECK(recv_wait(a, 1, 2000) == 1);
	check_nack(0, link->addr, 7, OMX_NACK_TYPE_ENDPT_CLOSED, 0x0777, 0x0042, 0);
	f.data = txbuf[0];
	f.len = 60;

	/* With the trailer on, the synthesised frame carries a valid CRC32C. */
	link->needs_fcs = 1;
	make_frame(txbuf[0], 60, link->addr, link->addr, OMX_PKT_TYPE_CONNECT, 6, 0);
	omx_wire_put16(txbuf[0], 16 + 8, 0);
	omx_wire_put32(txbuf[0], 60, omx_wire_crc32c(txbuf[0], 60));
	f.len = 64;
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	CHECK(recv_wait(a, 1, 2000) == 1);
	check_nack(0, link->addr, 6, OMX_NACK_TYPE_ENDPT_CLOSED, 0, 0x0042, 1);
	/* A damaged frame is not nacked: the remote driver would have dropped it. */
	txbuf[0][40] ^= 0x10;
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	CHECK(recv_wait(a, 1, 100) == 0);
	CHECK(a->stats->nacks_synthesised == 4);
	link->needs_fcs = 0;
	f.len = 60;

	/* A bounced PULL_REPLY is not nacked; the next frames still flow. */
	make_frame(txbuf[0], 60, link->addr, link->addr, OMX_PKT_TYPE_PULL_REPLY, 0, 0);
	omx_wire_put32(txbuf[0], 16 + 12, 6 ^ OMX_PULL_MAGIC_XOR);
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	CHECK(recv_wait(a, 1, 100) == 0);
	CHECK(a->stats->nacks_synthesised == 4);
	make_frame(txbuf[0], 60, link->addr, link->addr, OMX_PKT_TYPE_SMALL, 1, 0);
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	CHECK(recv_wait(b, 1, 2000) == 1);

	/* Spoofed source field, runt: dropped and counted by the link. */
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(base + 1)),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	CHECK(s >= 0);
	make_frame(txbuf[0], 60, link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
	CHECK(sendto(s, txbuf[0], 60, 0, (struct sockaddr *)&to, sizeof(to)) == 60);
	CHECK(sendto(s, txbuf[0], 10, 0, (struct sockaddr *)&to, sizeof(to)) == 10);
	CHECK(recv_wait(b, 1, 100) == 0);
	CHECK(b->stats->dropped_spoofed == 1 && b->stats->dropped_truncated == 1);
	/* A good frame behind a spoofed one in the same batch is kept and moved up. */
	CHECK(sendto(s, txbuf[0], 60, 0, (struct sockaddr *)&to, sizeof(to)) == 60);
	make_frame(txbuf[1], 200, link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
	f.data = txbuf[1];
	f.len = 200;
	CHECK(link->ops->port_send(a, &f, 1) == 0);
	usleep(20000);
	CHECK(recv_wait(b, 1, 2000) == 1);
	CHECK(rx_len(0) == 200 && memcmp(rxbuf[0], txbuf[1], 200) == 0);
	CHECK(b->stats->dropped_spoofed == 2);
	close(s);

	link->ops->port_close(a);
	link->ops->port_close(b);
	link->ops->close(link);
	printf("nack and spoof: ok\n");
}

/* Send `count` numbered frames a -> b through the fault link in batches and
 * collect what arrives; returns the number received. */
static unsigned fault_run(struct omx_link *link, struct omx_link_port *a, struct omx_link_port *b,
			  unsigned count, uint32_t len)
{
	struct omx_link_frame fr[50];
	unsigned received = 0;

	for (unsigned sent = 0; sent < count; sent += 50) {
		unsigned n = count - sent < 50 ? count - sent : 50;
		uint64_t before = a->stats->fault_dropped;

		for (unsigned i = 0; i < n; i++) {
			make_frame(txbuf[i], len, link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
			fr[i].data = txbuf[i];
			fr[i].len = len;
		}
		CHECK(link->ops->port_send(a, fr, n) == 0);
		unsigned expect = n - (unsigned)(a->stats->fault_dropped - before);
		received += recv_wait(b, expect, 2000);
	}
	return received;
}

static void test_fault(void)
{
	struct omx_link_port *a, *b;
	unsigned base;
	struct omx_link *link;
	struct omx_link_frame fr[NBUF];
	uint64_t dropped_first;

	/* drop=0.5: about half, and the same seed drops the same number. */
	for (int round = 0; round < 2; round++) {
		link = open_udp("drop=0.5,seed=42", &a, &b, &base);
		CHECK(!strcmp(link->ops->name, "fault") && !strcmp(link->ifacename, "udp"));
		CHECK(link->needs_fcs == 0 && link->poll_interval_ms == 0);
		unsigned got = fault_run(link, a, b, 2000, 80);
		CHECK(got + a->stats->fault_dropped == 2000);
		CHECK(a->stats->fault_dropped > 850 && a->stats->fault_dropped < 1150);
		printf("drop=0.5: %lu of 2000 dropped\n", (unsigned long)a->stats->fault_dropped);
		if (round == 0)
			dropped_first = a->stats->fault_dropped;
		else
			CHECK(a->stats->fault_dropped == dropped_first);
		link->ops->port_close(a);
		link->ops->port_close(b);
		link->ops->close(link);
	}

	/* corrupt=1: every frame changes, after the Ethernet header, in 1-3 bytes. */
	link = open_udp("corrupt=1,seed=7", &a, &b, &base);
	CHECK(link->needs_fcs == 1);
	for (unsigned i = 0; i < 200; i++) {
		uint32_t len = 60 + rnd() % 300;
		struct omx_link_frame f = { .data = txbuf[0], .len = len };
		unsigned diff = 0;

		make_frame(txbuf[0], len, link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
		CHECK(link->ops->port_send(a, &f, 1) == 0);
		CHECK(recv_wait(b, 1, 2000) == 1);
		CHECK(rx_len(0) == len);
		CHECK(memcmp(rxbuf[0], txbuf[0], OMX_WIRE_ETH_HLEN) == 0);
		for (uint32_t k = OMX_WIRE_ETH_HLEN; k < len; k++) {
			diff += rxbuf[0][k] != txbuf[0][k];
			/* Steering bytes (type, endpoint, nack target, magic) stay intact. */
			if (k == 16 || k == 17 || k == 25 || (k >= 28 && k <= 31))
				CHECK(rxbuf[0][k] == txbuf[0][k]);
		}
		CHECK(diff >= 1 && diff <= 3);
	}
	CHECK(a->stats->fault_corrupted == 200);
	link->ops->port_close(a);
	link->ops->port_close(b);
	link->ops->close(link);

	/* dup=1: two of each. */
	link = open_udp("dup=1", &a, &b, &base);
	CHECK(fault_run(link, a, b, 100, 60) == 100);
	CHECK(recv_wait(b, 100, 2000) == 100);
	CHECK(a->stats->fault_duplicated == 100);
	link->ops->port_close(a);
	link->ops->port_close(b);
	link->ops->close(link);

	/* reorder=1, delay_ms=20: all held, flushed by later recv calls. */
	link = open_udp("reorder=1,delay_ms=20,seed=3", &a, &b, &base);
	CHECK(link->poll_interval_ms == 10);
	for (unsigned i = 0; i < 10; i++) {
		make_frame(txbuf[i], 60, link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
		fr[i].data = txbuf[i];
		fr[i].len = 60;
	}
	CHECK(link->ops->port_send(a, fr, 10) == 0);
	CHECK(a->stats->fault_reordered == 10);
	CHECK(recv_wait(b, 10, 5) == 0);
	unsigned got = 0;
	for (int t = 0; t < 100 && got < 10; t++) {
		(void)link->ops->port_recv(a, fr, 0);
		got += recv_wait(b, 10 - got, 20);
	}
	CHECK(got == 10);
	link->ops->port_close(a);
	link->ops->port_close(b);
	link->ops->close(link);

	/* delay=1: held for delay_ms, then out in order. */
	link = open_udp("delay=1,delay_ms=30", &a, &b, &base);
	for (unsigned i = 0; i < 5; i++) {
		make_frame(txbuf[i], 60, link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
		txbuf[i][20] = (uint8_t)i;
		fr[i].data = txbuf[i];
		fr[i].len = 60;
	}
	CHECK(link->ops->port_send(a, fr, 5) == 0);
	CHECK(a->stats->fault_delayed == 5);
	CHECK(recv_wait(b, 5, 10) == 0);
	usleep(40000);
	(void)link->ops->port_recv(a, fr, 0);
	CHECK(recv_wait(b, 5, 2000) == 5);
	for (unsigned i = 0; i < 5; i++)
		CHECK(rxbuf[i][20] == i);
	fr[0].len = 10;
	CHECK(link->ops->port_send(a, fr, 1) == OMX_ABI_EINVAL);
	link->ops->port_close(a);
	link->ops->port_close(b);
	link->ops->close(link);

	/* reorder=0.5: a held frame goes out right after the next one. */
	link = open_udp("reorder=0.5,delay_ms=1000,seed=11", &a, &b, &base);
	for (unsigned i = 0; i < 40; i++) {
		make_frame(txbuf[i], 60, link->addr, link->addr, OMX_PKT_TYPE_TINY, 1, 0);
		txbuf[i][20] = (uint8_t)i;
		fr[i].data = txbuf[i];
		fr[i].len = 60;
	}
	CHECK(link->ops->port_send(a, fr, 40) == 0);
	unsigned held = (unsigned)a->stats->fault_reordered;
	CHECK(held > 5 && held < 35);
	got = recv_wait(b, 40, 200);
	unsigned out_of_order = 0;
	for (unsigned i = 1; i < got; i++)
		out_of_order += rxbuf[i][20] < rxbuf[i - 1][20];
	CHECK(out_of_order > 0);
	link->ops->port_close(a);
	link->ops->port_close(b);
	link->ops->close(link);

	/* Bad specs. */
	const char *bad[] = { "drop=2", "bogus=1", "drop", "delay_ms=-1", "seed=x", "dup=0.5,reorder=" };
	struct omx_link *udp, *w;
	CHECK(omx_link_udp_open("127.0.0.1:40000", EP_MAX, 9000, &udp) == 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(omx_link_fault_wrap(udp, bad[i], &w) == OMX_ABI_EINVAL);
	CHECK(omx_link_fault_wrap(udp, "", &w) == 0);
	w->ops->close(w);
	printf("fault: ok\n");
}

static void test_env(void)
{
	struct omx_link *link;
	char spec[32];

	CHECK(omx_link_udp_open("127.0.0.1:0", EP_MAX, 9000, &link) == OMX_ABI_EINVAL);
	CHECK(omx_link_udp_open("127.0.0.1:65281", EP_MAX, 9000, &link) == OMX_ABI_EINVAL);
	CHECK(omx_link_udp_open("0.0.0.0", EP_MAX, 9000, &link) == OMX_ABI_EINVAL);
	CHECK(omx_link_udp_open("localhost", EP_MAX, 9000, &link) == OMX_ABI_EINVAL);
	CHECK(omx_link_udp_open("127.0.0.1", EP_MAX, 1000, &link) == OMX_ABI_EINVAL);
	CHECK(omx_link_udp_open("127.0.0.1", 0, 9000, &link) == OMX_ABI_EINVAL);
	CHECK(omx_link_udp_open("127.0.0.1", EP_MAX, 9000, &link) == 0);
	CHECK(link->addr == 0x7f00000186dfull);
	link->ops->close(link);

	CHECK(omx_link_open_from_env(1, EP_MAX, &link) == OMX_ABI_ENODEV);
	setenv("OMX_LINK", "bogus", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &link) == OMX_ABI_EINVAL);
	unsetenv("OMX_LINK");

	snprintf(spec, sizeof(spec), "127.0.0.2:%u", 20000 + rnd() % 40000);
	setenv("OMX_UDP_ADDR", spec, 1);
	setenv("OMX_MTU", "100", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &link) == 0);
	CHECK(link->mtu == 1500 && link->needs_fcs == 0 && !strcmp(link->ops->name, "udp"));
	CHECK((link->addr >> 16) == 0x7f000002);
	link->ops->close(link);

	setenv("OMX_MTU", "junk", 1);
	setenv("OMX_FAULT", "drop=0.1,seed=5", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &link) == 0);
	CHECK(link->mtu == 9000 && link->needs_fcs == 1 && !strcmp(link->ops->name, "fault"));
	link->ops->close(link);

	setenv("OMX_CHECKSUM", "0", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &link) == 0);
	CHECK(link->needs_fcs == 0);
	link->ops->close(link);

	setenv("OMX_FAULT", "corrupt=0.5", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &link) == 0);
	CHECK(link->needs_fcs == 1);
	link->ops->close(link);

	setenv("OMX_FAULT", "nope=1", 1);
	CHECK(omx_link_open_from_env(0, EP_MAX, &link) == OMX_ABI_EINVAL);
	unsetenv("OMX_FAULT");
	unsetenv("OMX_CHECKSUM");
	unsetenv("OMX_MTU");
	unsetenv("OMX_UDP_ADDR");
	printf("env: ok\n");
}

int main(void)
{
	srandom((unsigned)time(NULL) ^ (unsigned)getpid() << 8);
	test_exchange();
	test_nack_and_spoof();
	test_fault();
	test_env();
	printf("test_link: ok\n");
	return 0;
}
