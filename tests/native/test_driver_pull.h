/*
 * test_driver_pull.h - the harness of test_driver_pull.c and
 * test_driver_pull_wire.c: a direct driver on a random udp base port of
 * 127.0.0.1 with endpoint 0 (data owner) and endpoint 1 (puller), a raw udp
 * socket playing endpoint RAW_EP, region layouts (one segment, or three with
 * gaps), and event helpers that drive both endpoints: both live in this
 * process, and a data owner answers only from inside a driver call.
 */
#ifndef TEST_DRIVER_PULL_H
#define TEST_DRIVER_PULL_H

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
#include "omx_direct.h"
#include "omx_eventq.h"
#include "omx_wire.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define RAW_EP 9                      /* a raw socket plays this (unopened) endpoint */
#define GAP 4099u                     /* between the segments of a 3-segment region */
#define SLACK (2 * GAP + 64)          /* what a 3-segment layout needs beyond its length */
#define TP_SHARED __attribute__((unused))

struct tep {
	uint32_t handle;
	struct omx_abi_endpoint_info info;
	uint8_t *area;
	struct omx_abi_endpoint_desc *desc;
	const union omx_abi_event *expq, *unexpq;
	uint32_t next_exp, next_unexp;
};

struct layout {
	uint32_t n;
	struct omx_abi_region_segment seg[3];
};

struct pull_args {
	uint8_t dst_ep;
	uint32_t session, len, poff, timeout_ms, owner_rid, puller_rid;
};

static struct omx_abi_driver *drv TP_SHARED;
static const struct omx_abi_ops *ops TP_SHARED;
static struct tep ep0 TP_SHARED, ep1 TP_SHARED;
static unsigned base_port TP_SHARED;
static uint64_t board TP_SHARED;
static uint32_t R TP_SHARED;          /* the board's pull_reply_length_max */
static int raw_fd TP_SHARED = -1;
static uint8_t *src TP_SHARED, *dst TP_SHARED;   /* odd addresses; src holds a pattern */
static uint8_t *src_mem TP_SHARED, *dst_mem TP_SHARED;

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline uint32_t ctr(enum omx_abi_counter c)
{
	uint32_t v[OMX_COUNTER_INDEX_MAX];

	CHECK(ops->get_counters(drv, 0, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
	return v[c];
}

static inline void bufs_alloc(size_t size)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	src_mem = malloc(size + 2);
	dst_mem = malloc(size + 2);
	CHECK(src_mem && dst_mem);
	src = src_mem + 1;
	dst = dst_mem + 1;
	for (size_t i = 0; i + 8 <= size; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(src + i, &x, 8);
	}
}

static inline void bufs_free(void)
{
	free(src_mem);
	free(dst_mem);
}

/* ---- driver, endpoints, events ------------------------------------------------ */

static inline int ep_open(struct tep *e, uint32_t index)
{
	struct omx_abi_open_endpoint cmd = { .board_index = 0, .endpoint_index = index };
	int r;

	memset(e, 0, sizeof(*e));
	r = ops->open_endpoint(drv, &cmd, &e->info);
	if (r)
		return r;
	e->handle = e->info.handle;
	e->area = ops->endpoint_area(drv, e->handle);
	CHECK(e->area != NULL);
	e->desc = (struct omx_abi_endpoint_desc *)(e->area + e->info.layout.desc_offset);
	e->expq = (const union omx_abi_event *)(e->area + e->info.layout.exp_eventq_offset);
	e->unexpq = (const union omx_abi_event *)(e->area + e->info.layout.unexp_eventq_offset);
	return 0;
}

/* The driver with endpoints 0 and 1 (and the raw socket) on a free base port. */
static inline void drv_open(uint32_t mtu, const char *fault)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct omx_abi_board_info bi;
	char spec[64];

	snprintf(spec, sizeof(spec), "%u", mtu);
	setenv("OMX_MTU", spec, 1);
	if (fault)
		setenv("OMX_FAULT", fault, 1);
	else
		unsetenv("OMX_FAULT");
	unsetenv("OMX_CHECKSUM");
	unsetenv("OMX_PEERS_FILE");
	unsetenv("OMX_ENDPOINT_MAX");
	for (int attempt = 0;; attempt++) {
		CHECK(attempt < 50);
		base_port = 20000 + (unsigned)random() % 40000;
		snprintf(spec, sizeof(spec), "127.0.0.1:%u", base_port);
		setenv("OMX_UDP_ADDR", spec, 1);
		CHECK(omx_drv_direct_open(&drv) == 0);
		ops = drv->ops;
		raw_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		CHECK(raw_fd >= 0);
		sa.sin_addr.s_addr = htonl(0x7f000001);
		sa.sin_port = htons((uint16_t)(base_port + RAW_EP));
		if (bind(raw_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && ep_open(&ep0, 0) == 0) {
			if (ep_open(&ep1, 1) == 0)
				break;
			ops->close_endpoint(drv, ep0.handle);
		}
		close(raw_fd);
		ops->close(drv);
	}
	board = ((uint64_t)0x7f000001 << 16) | base_port;
	CHECK(ops->get_board_info(drv, 0, &bi) == 0 && bi.mtu == mtu);
	R = bi.pull_reply_length_max;
	CHECK(R == omx_wire_pull_reply_max(mtu));
}

static inline void drv_close(void)
{
	CHECK(ops->close_endpoint(drv, ep1.handle) == 0);
	CHECK(ops->close_endpoint(drv, ep0.handle) == 0);
	ops->close(drv);
	close(raw_fd);
}

static inline const union omx_abi_event *take(struct tep *e, int unexp)
{
	uint32_t *idx = unexp ? &e->next_unexp : &e->next_exp;
	const union omx_abi_event *ev = omx_eventq_peek(unexp ? e->unexpq : e->expq,
							 OMX_ABI_EVENTQ_ENTRIES, *idx);

	if (ev && ++*idx % OMX_ABI_EVENTQ_RELEASE_BATCH == 0)
		CHECK((unexp ? ops->release_unexp_slots : ops->release_exp_slots)(drv, e->handle) == 0);
	return ev;
}

static inline void wait_on(struct tep *e, uint64_t expire)
{
	struct omx_abi_wait w = {
		.user_event_index = e->desc->user_event_index, .next_exp_event_index = e->next_exp,
		.next_unexp_event_index = e->next_unexp, .jiffies_expire = expire,
	};

	CHECK(ops->wait_event(drv, e->handle, &w) == 0);
}

static inline void pump(void)
{
	CHECK(ops->progress(drv, ep0.handle) >= 0 && ops->progress(drv, ep1.handle) >= 0);
}

/* Progress both endpoints until e has an event; when no pull frame moves,
 * spin a little, then sleep a millisecond in e's wait_event. */
static inline const union omx_abi_event *await(struct tep *e, int unexp, uint32_t timeout_ms)
{
	uint64_t deadline = ops->jiffies(drv) + timeout_ms;
	uint32_t last = 0, idle = 0;

	for (;;) {
		const union omx_abi_event *ev;
		uint32_t moved;

		pump();
		ev = take(e, unexp);
		if (ev)
			return ev;
		if (ops->jiffies(drv) >= deadline)
			return NULL;
		moved = ctr(OMX_COUNTER_RECV_PULL_REQ) + ctr(OMX_COUNTER_RECV_PULL_REPLY);
		idle = moved == last ? idle + 1 : 0;
		last = moved;
		if (idle > 64) {
			wait_on(e, ops->jiffies(drv) + 1);
			idle = 0;
		}
	}
}

/* ---- regions and pulls ------------------------------------------------------------ */

/* len bytes from base: one segment, or three with gaps (and maybe empty ones). */
static inline struct layout layout_make(uint8_t *base, uint64_t len, int three)
{
	struct layout l;
	uint64_t a, b;

	memset(&l, 0, sizeof(l));
	if (!three) {
		l.n = 1;
		l.seg[0] = (struct omx_abi_region_segment){ (uintptr_t)base, len };
		return l;
	}
	a = len / 3 + 1 < len ? len / 3 + 1 : len;
	b = (len - a) / 2 + 1 < len - a ? (len - a) / 2 + 1 : len - a;
	l.n = 3;
	l.seg[0] = (struct omx_abi_region_segment){ (uintptr_t)base, a };
	l.seg[1] = (struct omx_abi_region_segment){ (uintptr_t)(base + a + GAP), b };
	l.seg[2] = (struct omx_abi_region_segment){ (uintptr_t)(base + a + b + 2 * GAP), len - a - b };
	return l;
}

static inline uint8_t *region_at(const struct layout *l, uint64_t off, uint64_t *run)
{
	for (uint32_t i = 0; i < l->n; i++) {
		if (off < l->seg[i].length) {
			*run = l->seg[i].length - off;
			return (uint8_t *)(uintptr_t)l->seg[i].offset + off;
		}
		off -= l->seg[i].length;
	}
	CHECK(!"offset outside the layout");
	return NULL;
}

/* 1 when len bytes at aoff of a equal those at boff of b. */
static inline int same(const struct layout *a, uint64_t aoff, const struct layout *b, uint64_t boff,
		       uint64_t len)
{
	while (len) {
		uint64_t ra, rb, n;
		const uint8_t *pa = region_at(a, aoff, &ra), *pb = region_at(b, boff, &rb);

		n = len < ra ? len : ra;
		n = n < rb ? n : rb;
		if (memcmp(pa, pb, n))
			return 0;
		aoff += n, boff += n, len -= n;
	}
	return 1;
}

static inline void region(struct tep *e, uint32_t id, const struct layout *l)
{
	struct omx_abi_create_region c = { .id = id, .nr_segments = l->n, .segments_offset = (uintptr_t)l->seg };

	CHECK(ops->create_region(drv, e->handle, &c) == 0);
}

static inline struct omx_abi_pull pull_cmd(const struct pull_args *a, uint64_t cookie)
{
	struct omx_abi_pull c = {
		.peer_index = 0, .dest_endpoint = a->dst_ep, .session_id = a->session, .length = a->len,
		.resend_timeout_ms = a->timeout_ms, .puller_rdma_id = a->puller_rid,
		.pulled_rdma_id = a->owner_rid, .pulled_rdma_seqnum = 23, .pulled_rdma_offset = a->poff,
		.lib_cookie = cookie,
	};
	return c;
}

static inline const union omx_abi_event *expect_done(uint64_t cookie, const struct pull_args *a,
						     uint32_t wait_ms)
{
	const union omx_abi_event *ev = await(&ep1, 0, wait_ms);

	CHECK(ev && ev->generic.type == OMX_ABI_EVT_PULL_DONE);
	CHECK(ev->pull_done.lib_cookie == cookie && ev->pull_done.puller_rdma_id == a->puller_rid);
	return ev;
}

/* ---- the raw endpoint ------------------------------------------------------------- */

static inline void raw_send(const uint8_t *frame, uint32_t len, unsigned ep)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	sa.sin_addr.s_addr = htonl(0x7f000001);
	sa.sin_port = htons((uint16_t)(base_port + ep));
	CHECK(sendto(raw_fd, frame, len, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)len);
}

/* The next frame sent to the raw endpoint, driving both endpoints meanwhile. */
static inline int raw_recv(uint8_t *buf, int timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;
	struct pollfd pfd = { .fd = raw_fd, .events = POLLIN };

	for (;;) {
		pump();
		ssize_t n = recv(raw_fd, buf, 65536, MSG_DONTWAIT);
		if (n > 0)
			return (int)n;
		if (now_s() > end)
			return -1;
		poll(&pfd, 1, 1);
	}
}

#endif /* TEST_DRIVER_PULL_H */
