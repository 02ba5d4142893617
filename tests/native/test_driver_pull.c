/*
 * test_driver_pull.c - large messages through the direct driver over udp on
 * 127.0.0.1: regions, RNDV and NOTIFY, pulls end to end (unaligned,
 * multi-segment, many sizes, MTU 1500 / 9000 / 65507, injected faults),
 * NACK_MCP statuses, the abort deadline while blocked in wait_event,
 * destroy_region during a pull, and both sides' checks of forged frames
 * (a raw udp socket plays the other side).  Both endpoints live in this
 * process, so every wait drives both of them: a data owner answers only from
 * inside a driver call.  The 64 MiB bandwidth printed is a figure, not a check.
 *
 * "test_driver_pull bench" only prints the 64 MiB figures (OMX_PULL_BLOCKS,
 * OMX_PULL_RESEND_MS and OMX_FAULT are taken from the environment).
 */
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
#define BIG ((64u << 20) + 3)
#define GAP 4099u                     /* between the segments of a 3-segment region */
#define SLACK (2 * GAP + 64)
#define FAULT_SPEC "drop=0.05,reorder=0.05,dup=0.02,seed=5"

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

static struct omx_abi_driver *drv;
static const struct omx_abi_ops *ops;
static struct tep ep0, ep1;
static unsigned base_port;
static uint64_t board;
static uint32_t R;                    /* the board's pull_reply_length_max */
static int fcs, raw_fd = -1;
static uint8_t *src, *dst;            /* BIG + SLACK bytes each, at odd addresses */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t ctr(enum omx_abi_counter c)
{
	uint32_t v[OMX_COUNTER_INDEX_MAX];

	CHECK(ops->get_counters(drv, 0, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
	return v[c];
}

/* ---- driver, endpoints, events ------------------------------------------------ */

static int ep_open(struct tep *e, uint32_t index)
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

static void drv_open(uint32_t mtu, const char *fault)
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
	fcs = fault != NULL;
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

static void drv_close(void)
{
	CHECK(ops->close_endpoint(drv, ep1.handle) == 0);
	CHECK(ops->close_endpoint(drv, ep0.handle) == 0);
	ops->close(drv);
	close(raw_fd);
}

static const union omx_abi_event *take(struct tep *e, int unexp)
{
	uint32_t *idx = unexp ? &e->next_unexp : &e->next_exp;
	const union omx_abi_event *ev = omx_eventq_peek(unexp ? e->unexpq : e->expq,
							 OMX_ABI_EVENTQ_ENTRIES, *idx);

	if (ev && ++*idx % OMX_ABI_EVENTQ_RELEASE_BATCH == 0)
		CHECK((unexp ? ops->release_unexp_slots : ops->release_exp_slots)(drv, e->handle) == 0);
	return ev;
}

static void wait_on(struct tep *e, uint64_t expire)
{
	struct omx_abi_wait w = {
		.user_event_index = e->desc->user_event_index, .next_exp_event_index = e->next_exp,
		.next_unexp_event_index = e->next_unexp, .jiffies_expire = expire,
	};

	CHECK(ops->wait_event(drv, e->handle, &w) == 0);
}

/* Progress both endpoints until e has an event; when no pull frame moves,
 * spin a little, then sleep a millisecond in e's wait_event. */
static const union omx_abi_event *await(struct tep *e, int unexp, uint32_t timeout_ms)
{
	uint64_t deadline = ops->jiffies(drv) + timeout_ms;
	uint32_t last = 0, idle = 0;

	for (;;) {
		const union omx_abi_event *ev;
		uint32_t moved;

		CHECK(ops->progress(drv, ep0.handle) >= 0 && ops->progress(drv, ep1.handle) >= 0);
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

/* ---- regions ------------------------------------------------------------------- */

/* len bytes from base: one segment, or three with gaps (and maybe empty ones). */
static struct layout layout_make(uint8_t *base, uint64_t len, int three)
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

static uint8_t *region_at(const struct layout *l, uint64_t off, uint64_t *run)
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

static int same(const struct layout *a, uint64_t aoff, const struct layout *b, uint64_t boff, uint64_t len)
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

static void region(struct tep *e, uint32_t id, const struct layout *l)
{
	struct omx_abi_create_region c = { .id = id, .nr_segments = l->n, .segments_offset = (uintptr_t)l->seg };

	CHECK(ops->create_region(drv, e->handle, &c) == 0);
}

/* ---- pulls ----------------------------------------------------------------------- */

struct pull_args {
	uint8_t dst_ep;
	uint32_t session, len, poff, timeout_ms, owner_rid, puller_rid;
};

static struct omx_abi_pull pull_cmd(const struct pull_args *a, uint64_t cookie)
{
	struct omx_abi_pull c = {
		.peer_index = 0, .dest_endpoint = a->dst_ep, .session_id = a->session, .length = a->len,
		.resend_timeout_ms = a->timeout_ms, .puller_rdma_id = a->puller_rid,
		.pulled_rdma_id = a->owner_rid, .pulled_rdma_seqnum = 23, .pulled_rdma_offset = a->poff,
		.lib_cookie = cookie,
	};
	return c;
}

static const union omx_abi_event *expect_done(uint64_t cookie, const struct pull_args *a, uint32_t wait_ms)
{
	const union omx_abi_event *ev = await(&ep1, 0, wait_ms);

	CHECK(ev && ev->generic.type == OMX_ABI_EVT_PULL_DONE);
	CHECK(ev->pull_done.lib_cookie == cookie && ev->pull_done.puller_rdma_id == a->puller_rid);
	return ev;
}

/* Pull [poff, poff+len) of a region over src into a region over dst; returns seconds. */
static double xfer(uint32_t len, uint32_t poff, int owner3, int puller3)
{
	struct layout lo = layout_make(src, (uint64_t)poff + len, owner3);
	struct layout lp = layout_make(dst, (uint64_t)len + 5, puller3);
	struct pull_args a = { 1, ep0.info.session_id, len, poff, 60000, 1, 2 };
	struct omx_abi_pull c = pull_cmd(&a, 0x5eed0000ull + len);
	const union omx_abi_event *ev;
	uint64_t run;
	double t;

	memset(dst, 0xee, (size_t)len + 5 + SLACK - 64);
	region(&ep0, 1, &lo);
	region(&ep1, 2, &lp);
	t = now_s();
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	ev = expect_done(c.lib_cookie, &a, 100000);
	t = now_s() - t;
	if (ev->pull_done.status != OMX_ABI_STATUS_SUCCESS)
		fprintf(stderr, "pull of %u at %u: status %u\n", len, poff, ev->pull_done.status);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_SUCCESS && ev->pull_done.pulled_length == len);
	CHECK(same(&lp, 0, &lo, poff, len));
	for (uint32_t k = 0; k < 5; k++)
		CHECK(*region_at(&lp, (uint64_t)len + k, &run) == 0xee);
	CHECK(ops->destroy_region(drv, ep0.handle, 1) == 0 && ops->destroy_region(drv, ep1.handle, 2) == 0);
	return t;
}

static void big(const char *what)
{
	double t = xfer(BIG, 0, 0, 0);

	printf("test_driver_pull: %s: 64 MiB + 3 pulled in %.3f s: %.0f MB/s (blocks %s, resend %s ms)\n",
	       what, t, BIG / t / 1e6, getenv("OMX_PULL_BLOCKS") ? getenv("OMX_PULL_BLOCKS") : "default",
	       getenv("OMX_PULL_RESEND_MS") ? getenv("OMX_PULL_RESEND_MS") : "default");
}

static void test_sizes(void)
{
	const uint32_t sizes[] = { 1, R - 1, R, R + 1, 32 * R + 5, 4 * 32 * R + 1 };
	const uint32_t offsets[] = { 0, 7, R - 1 };

	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (unsigned o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++)
			for (int shape = 0; shape < 4; shape++)
				xfer(sizes[s], offsets[o], shape & 1, shape >> 1);
}

/* ---- commands, RNDV, NOTIFY -------------------------------------------------- */

static void test_commands(void)
{
	struct omx_abi_driver_info di;
	struct layout l = layout_make(dst, 100, 0);
	struct omx_abi_create_region c = { .id = 3, .nr_segments = 1, .segments_offset = (uintptr_t)l.seg };
	struct omx_abi_region_segment many[OMX_ABI_REGION_SEGMENTS_MAX + 1];
	struct pull_args a = { 0, ep0.info.session_id, 100, 0, 1000, 3, 9 };
	struct omx_abi_pull p = pull_cmd(&a, 1);
	const union omx_abi_event *ev;

	CHECK(ops->get_info(drv, &di) == 0 && (di.features & OMX_ABI_FEATURE_LARGE));
	CHECK(ops->create_region(drv, ep1.handle, &c) == 0);
	CHECK(ops->create_region(drv, ep1.handle, &c) == OMX_ABI_EBUSY);
	CHECK(ops->create_region(drv, ep0.handle, &c) == 0);    /* ids are per endpoint */
	c.id = 256;
	CHECK(ops->create_region(drv, ep1.handle, &c) == OMX_ABI_EINVAL);
	c.id = 4;
	c.segments_offset = 0;
	CHECK(ops->create_region(drv, ep1.handle, &c) == OMX_ABI_EINVAL);
	for (unsigned i = 0; i < OMX_ABI_REGION_SEGMENTS_MAX + 1; i++)
		many[i] = (struct omx_abi_region_segment){ (uintptr_t)(dst + i), 1 };
	c.segments_offset = (uintptr_t)many;
	c.nr_segments = OMX_ABI_REGION_SEGMENTS_MAX + 1;
	CHECK(ops->create_region(drv, ep1.handle, &c) == OMX_ABI_EINVAL);
	c.nr_segments = OMX_ABI_REGION_SEGMENTS_MAX;
	CHECK(ops->create_region(drv, ep1.handle, &c) == 0);
	many[0].offset = UINT64_MAX;
	c.id = 5;
	CHECK(ops->create_region(drv, ep1.handle, &c) == OMX_ABI_EINVAL);
	c.nr_segments = 0;                                          /* zero-length region */
	CHECK(ops->create_region(drv, ep1.handle, &c) == 0);
	CHECK(ops->destroy_region(drv, ep1.handle, 9) == OMX_ABI_ENOENT);
	CHECK(ops->destroy_region(drv, ep1.handle, 1000) == OMX_ABI_ENOENT);
	CHECK(ops->destroy_region(drv, 77, 3) == OMX_ABI_EINVAL);

	CHECK(ops->pull(drv, ep1.handle, &p) == OMX_ABI_ENOENT);   /* no local region 9 */
	p.puller_rdma_id = 256;
	CHECK(ops->pull(drv, ep1.handle, &p) == OMX_ABI_EINVAL);
	p.puller_rdma_id = 3;
	p.length = 101;                                             /* longer than region 3 */
	CHECK(ops->pull(drv, ep1.handle, &p) == OMX_ABI_EINVAL);
	p.length = 100;
	p.resend_timeout_ms = 0;
	CHECK(ops->pull(drv, ep1.handle, &p) == OMX_ABI_EINVAL);
	p.resend_timeout_ms = 1000;
	p.peer_index = 999;
	CHECK(ops->pull(drv, ep1.handle, &p) == OMX_ABI_EINVAL);
	p.peer_index = 0;
	p.pulled_rdma_seqnum = 256;
	CHECK(ops->pull(drv, ep1.handle, &p) == OMX_ABI_EINVAL);

	/* A 0-byte pull into the empty region completes at once, sending nothing. */
	uint32_t sent = ctr(OMX_COUNTER_SEND_PULL_REQ);
	a.len = 0;
	a.puller_rid = 5;
	p = pull_cmd(&a, 77);
	CHECK(ops->pull(drv, ep1.handle, &p) == 0);
	ev = take(&ep1, 0);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_PULL_DONE && ev->pull_done.lib_cookie == 77);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_SUCCESS && ev->pull_done.pulled_length == 0);
	CHECK(ctr(OMX_COUNTER_SEND_PULL_REQ) == sent);
	for (uint32_t id = 3; id <= 5; id++)
		CHECK(ops->destroy_region(drv, ep1.handle, id) == 0);
	CHECK(ops->destroy_region(drv, ep1.handle, 3) == OMX_ABI_ENOENT);
	CHECK(ops->destroy_region(drv, ep0.handle, 3) == 0);
}

static void test_rndv_notify(void)
{
	struct omx_abi_send_rndv r = {
		.hdr = { .peer_index = 0, .dest_endpoint = 1, .session_id = ep1.info.session_id, .seqnum = 0x4005,
			 .piggyack = 0x4002, .match_info = 0x0123456789abcdefull },
		.msg_length = BIG, .pulled_rdma_id = 201, .pulled_rdma_seqnum = 23, .pulled_rdma_offset = 0,
	};
	struct omx_abi_send_notify n = {
		.peer_index = 0, .dest_endpoint = 0, .session_id = ep0.info.session_id, .total_length = BIG - 1,
		.seqnum = 0x4009, .piggyack = 0x4006, .pulled_rdma_id = 201, .pulled_rdma_seqnum = 23,
	};
	uint32_t s = ctr(OMX_COUNTER_SEND_RNDV), rc = ctr(OMX_COUNTER_RECV_RNDV);
	const union omx_abi_event *ev;

	CHECK(ops->send_rndv(drv, ep0.handle, &r) == 0);
	ev = await(&ep1, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_RNDV);
	CHECK(ev->recv_rndv.head.peer_index == 0 && ev->recv_rndv.head.src_endpoint == 0);
	CHECK(ev->recv_rndv.head.seqnum == 0x4005 && ev->recv_rndv.head.piggyack == 0x4002);
	CHECK(ev->recv_rndv.head.match_info == 0x0123456789abcdefull && ev->recv_rndv.msg_length == BIG);
	CHECK(ev->recv_rndv.pulled_rdma_id == 201 && ev->recv_rndv.pulled_rdma_seqnum == 23);
	CHECK(ctr(OMX_COUNTER_SEND_RNDV) == s + 1 && ctr(OMX_COUNTER_RECV_RNDV) == rc + 1);

	CHECK(ops->send_notify(drv, ep1.handle, &n) == 0);
	ev = await(&ep0, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_NOTIFY);
	CHECK(ev->recv_notify.head.peer_index == 0 && ev->recv_notify.head.src_endpoint == 1);
	CHECK(ev->recv_notify.head.seqnum == 0x4009 && ev->recv_notify.head.piggyack == 0x4006);
	CHECK(ev->recv_notify.length == BIG - 1 && ev->recv_notify.pulled_rdma_id == 201);
	CHECK(ev->recv_notify.pulled_rdma_seqnum == 23 && ctr(OMX_COUNTER_RECV_NOTIFY) >= 1);

	/* Same checks as TINY: a wrong session or endpoint is nacked to the sender. */
	r.hdr.session_id ^= 1;
	CHECK(ops->send_rndv(drv, ep0.handle, &r) == 0);
	ev = await(&ep0, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_NACK_LIB && ev->recv_nack_lib.seqnum == 0x4005);
	CHECK(ev->recv_nack_lib.nack_type == OMX_ABI_STATUS_BAD_SESSION);
	n.session_id ^= 1;
	CHECK(ops->send_notify(drv, ep1.handle, &n) == 0);
	ev = await(&ep1, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_NACK_LIB && ev->recv_nack_lib.seqnum == 0x4009);
	CHECK(ev->recv_nack_lib.nack_type == OMX_ABI_STATUS_BAD_SESSION);
}

/* ---- nacks, timeouts, destroy during a pull -------------------------------------- */

static void test_nacks(void)
{
	struct layout lo = layout_make(src, 1 << 20, 0), lp = layout_make(dst, 1 << 20, 0);
	struct pull_args a = { 0, ep0.info.session_id, 100000, 0, 10000, 200, 2 };
	struct omx_abi_pull c = pull_cmd(&a, 11);
	uint32_t bad_region = ctr(OMX_COUNTER_DROP_PULL_BAD_REGION), snack = ctr(OMX_COUNTER_SEND_NACK_MCP);
	uint32_t rnack = ctr(OMX_COUNTER_RECV_NACK_MCP), bad_session = ctr(OMX_COUNTER_DROP_BAD_SESSION);
	const union omx_abi_event *ev;

	region(&ep0, 1, &lo);
	region(&ep1, 2, &lp);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);                 /* no region 200 on ep0 */
	ev = expect_done(11, &a, 5000);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_BAD_RDMAWIN && ev->pull_done.pulled_length == 0);
	CHECK(ctr(OMX_COUNTER_DROP_PULL_BAD_REGION) == bad_region + 1);
	CHECK(ctr(OMX_COUNTER_SEND_NACK_MCP) == snack + 1 && ctr(OMX_COUNTER_RECV_NACK_MCP) == rnack + 1);

	a.owner_rid = 1;
	a.session ^= 0x5a;
	c = pull_cmd(&a, 12);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	ev = expect_done(12, &a, 5000);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_BAD_SESSION);
	CHECK(ctr(OMX_COUNTER_DROP_BAD_SESSION) == bad_session + 1);

	/* Endpoint 5 is closed: nothing answers.  One blocking wait_event must
	 * wake for the re-requests and return the TIMEOUT completion. */
	uint32_t aborts = ctr(OMX_COUNTER_PULL_TIMEOUT_ABORT), first = ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK);
	a.dst_ep = 5;
	a.session = 0x1234;
	a.timeout_ms = 300;
	c = pull_cmd(&a, 13);
	double t = now_s();
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	while (!(ev = take(&ep1, 0))) {
		CHECK(now_s() - t < 3);
		wait_on(&ep1, ops->jiffies(drv) + 10000);
	}
	t = now_s() - t;
	CHECK(ev->generic.type == OMX_ABI_EVT_PULL_DONE && ev->pull_done.lib_cookie == 13);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_TIMEOUT || ev->pull_done.status == OMX_ABI_STATUS_ENDPT_CLOSED);
	if (ev->pull_done.status == OMX_ABI_STATUS_TIMEOUT) {
		CHECK(t > 0.28 && t < 1.5);
		CHECK(ctr(OMX_COUNTER_PULL_TIMEOUT_ABORT) == aborts + 1);
		CHECK(ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK) >= first + 2);
	}
	CHECK(ops->destroy_region(drv, ep0.handle, 1) == 0 && ops->destroy_region(drv, ep1.handle, 2) == 0);
}

/* Start a 16 MiB pull, let some replies land, then destroy one side's region
 * and free its memory at once (ASan watches the driver never touches it). */
static void destroy_during_pull(int owner_side)
{
	const uint32_t len = 16u << 20;
	uint8_t *mine = malloc((size_t)len + 1);
	struct layout lm = layout_make(mine + 1, len, 1);
	struct layout lo = owner_side ? lm : layout_make(src, len, 0);
	struct layout lp = owner_side ? layout_make(dst, len, 0) : lm;
	struct pull_args a = { 1, ep0.info.session_id, len, 0, 20000, 3, 4 };
	struct omx_abi_pull c = pull_cmd(&a, 21);
	uint32_t base = ctr(OMX_COUNTER_RECV_PULL_REPLY);
	const union omx_abi_event *ev;

	CHECK(mine);
	memset(mine, 0x5c, (size_t)len + 1);
	region(&ep0, 3, &lo);
	region(&ep1, 4, &lp);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	while (ctr(OMX_COUNTER_RECV_PULL_REPLY) < base + 100)
		CHECK(ops->progress(drv, ep0.handle) >= 0 && ops->progress(drv, ep1.handle) >= 0);
	CHECK(ops->destroy_region(drv, owner_side ? ep0.handle : ep1.handle, owner_side ? 3 : 4) == 0);
	free(mine);
	ev = expect_done(21, &a, 10000);
	CHECK(ev->pull_done.status == (owner_side ? OMX_ABI_STATUS_BAD_RDMAWIN : OMX_ABI_STATUS_ABORTED));
	CHECK(ev->pull_done.pulled_length > 0 && ev->pull_done.pulled_length < len);
	/* The id is free again at once. */
	lm = layout_make(dst, 10, 0);
	region(owner_side ? &ep0 : &ep1, owner_side ? 3 : 4, &lm);
	CHECK(ops->destroy_region(drv, ep0.handle, 3) == 0 && ops->destroy_region(drv, ep1.handle, 4) == 0);
}

/* ---- forged frames ---------------------------------------------------------------- */

static uint8_t frame[65536];

static void raw_send(uint32_t len, unsigned ep)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	sa.sin_addr.s_addr = htonl(0x7f000001);
	sa.sin_port = htons((uint16_t)(base_port + ep));
	CHECK(sendto(raw_fd, frame, len, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)len);
}

/* The next frame sent to the raw endpoint, driving both endpoints meanwhile. */
static int raw_recv(uint8_t *buf, int timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;
	struct pollfd pfd = { .fd = raw_fd, .events = POLLIN };

	for (;;) {
		CHECK(ops->progress(drv, ep0.handle) >= 0 && ops->progress(drv, ep1.handle) >= 0);
		ssize_t n = recv(raw_fd, buf, 65536, MSG_DONTWAIT);
		if (n > 0)
			return (int)n;
		if (now_s() > end)
			return -1;
		poll(&pfd, 1, 1);
	}
}

static void head(void)
{
	struct omx_wire_head h = { .dst_addr = board, .src_addr = board, .dst_src_peer_index = 0 };

	memset(frame, 0, 128);
	omx_wire_head_encode(frame, &h);
}

static uint32_t padded(uint32_t len)
{
	return len < OMX_WIRE_MIN_FRAME ? OMX_WIRE_MIN_FRAME : len;
}

/* Send frame (len bytes) to e's port, run its demux, check counter c moved by one. */
static void expect_drop(struct tep *e, uint32_t len, enum omx_abi_counter c)
{
	uint32_t before = ctr(c);

	raw_send(len, e->info.endpoint_index);
	for (int i = 0; i < 200 && ctr(c) == before; i++) {
		CHECK(ops->progress(drv, e->handle) >= 0);
		usleep(100);
	}
	if (ctr(c) != before + 1)
		fprintf(stderr, "counter %s: %u -> %u\n", omx_abi_counter_label(c), before, ctr(c)), exit(1);
}

/* A reply for the forged puller test: frame k of a pull of src + 5. */
static uint32_t reply(uint8_t seq, uint32_t flen, uint32_t off, uint32_t handle, uint32_t magic)
{
	struct omx_wire_pull_reply r = { seq, (uint16_t)flen, off, handle, magic };

	head();
	omx_wire_pull_reply_encode(omx_wire_body(frame), &r);
	memcpy(omx_wire_body(frame) + OMX_WIRE_PULL_REPLY_LEN, src + 5 + off, flen);
	return padded(OMX_WIRE_HEAD_LEN + OMX_WIRE_PULL_REPLY_LEN + flen);
}

static void nack(uint8_t src_ep, uint8_t type, uint32_t handle, uint32_t magic)
{
	struct omx_wire_nack_mcp n = { src_ep, type, handle, magic };

	head();
	omx_wire_nack_mcp_encode(omx_wire_body(frame), &n);
}

static void test_forged_puller(void)
{
	uint8_t buf[65536];
	const uint32_t len = 3 * R + 10, magic = 1 ^ OMX_PULL_MAGIC_XOR;
	struct layout lp = layout_make(dst, 160 * R, 0);
	struct pull_args a = { RAW_EP, 0x1234, len, 5, 10000, 77, 6 };
	struct omx_abi_pull c = pull_cmd(&a, 31);
	struct omx_wire_pull w;
	const union omx_abi_event *ev;
	uint32_t h, got;

	memset(dst, 0xee, 160 * R);
	region(&ep1, 6, &lp);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	CHECK(raw_recv(buf, 1000) == 60 && buf[16] == OMX_PKT_TYPE_PULL);
	omx_wire_pull_decode(buf + 16, &w);
	CHECK(w.dst_endpoint == RAW_EP && w.src_endpoint == 1 && w.session == 0x1234 && w.total_length == len);
	CHECK(w.pulled_rdma_id == 77 && w.pulled_rdma_seqnum == 23 && w.pulled_rdma_offset == 5);
	CHECK(w.src_magic == magic && w.first_frame_offset == 5 && w.block_length == len && w.frame_index == 0);
	h = w.src_pull_handle;

	/* Frames: 0 = [0, R-5), 1 = [R-5, 2R-5), 2 = [2R-5, 3R-5), 3 = [3R-5, 3R+10). */
	expect_drop(&ep1, reply(1, R, R - 5, h, 3 ^ OMX_PULL_MAGIC_XOR), OMX_COUNTER_DROP_PULL_REPLY_BAD_MAGIC_ENDPOINT);
	expect_drop(&ep1, reply(1, R, R - 5, h ^ 1, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_WIRE_HANDLE);
	expect_drop(&ep1, reply(2, R, R - 5, h, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM_WRAPAROUND);
	expect_drop(&ep1, reply(1, R - 1, R - 4, h, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM);
	expect_drop(&ep1, reply(3, 1, len, h, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM);
	expect_drop(&ep1, reply(1, R - 1, R - 5, h, magic), OMX_COUNTER_DROP_BAD_DATALEN);
	reply(1, R, R - 5, h, magic);
	expect_drop(&ep1, OMX_WIRE_HEAD_LEN + OMX_WIRE_PULL_REPLY_LEN + 100, OMX_COUNTER_DROP_BAD_SKBLEN);
	got = ctr(OMX_COUNTER_RECV_PULL_REPLY);
	expect_drop(&ep1, reply(0, R - 5, 0, h, magic), OMX_COUNTER_RECV_PULL_REPLY);
	expect_drop(&ep1, reply(3, 15, 3 * R - 5, h, magic), OMX_COUNTER_RECV_PULL_REPLY);
	expect_drop(&ep1, reply(3, 15, 3 * R - 5, h, magic), OMX_COUNTER_DROP_PULL_REPLY_DUPLICATE);
	CHECK(ctr(OMX_COUNTER_RECV_PULL_REPLY) == got + 2);

	/* The timer asks again for the missing run only: frames 1 and 2 (after
	 * whole-block re-requests if it fired before frames 0 and 3 came). */
	do {
		CHECK(raw_recv(buf, 1000) == 60 && buf[16] == OMX_PKT_TYPE_PULL);
		omx_wire_pull_decode(buf + 16, &w);
		CHECK(w.src_pull_handle == h);
	} while (w.frame_index == 0 && w.block_length == len);
	CHECK(w.frame_index == 1 && w.first_frame_offset == 0 && w.block_length == 2 * R);
	CHECK(ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK) > 0);
	raw_send(reply(1, R, R - 5, h, magic), 1);
	raw_send(reply(2, R, 2 * R - 5, h, magic), 1);
	ev = expect_done(31, &a, 2000);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_SUCCESS && ev->pull_done.pulled_length == len);
	CHECK(!memcmp(dst, src + 5, len) && dst[len] == 0xee);
	expect_drop(&ep1, reply(1, R, R - 5, h, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_WIRE_HANDLE);
	nack(RAW_EP, 3, h, magic);
	expect_drop(&ep1, 60, OMX_COUNTER_DROP_NACK_MCP_BAD_WIRE_HANDLE);

	/* Five blocks: four are requested, a frame of the fifth is refused. */
	a.len = 160 * R;
	a.poff = 0;
	c = pull_cmd(&a, 32);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	for (uint32_t b = 0; b < 4; b++) {
		CHECK(raw_recv(buf, 1000) == 60);
		omx_wire_pull_decode(buf + 16, &w);
		CHECK(w.frame_index == 32 * b && w.block_length == 32 * R && w.first_frame_offset == 0);
	}
	h = w.src_pull_handle;
	expect_drop(&ep1, reply(130, R, 130 * R, h, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM);
	nack(RAW_EP, 3, h, 5 ^ OMX_PULL_MAGIC_XOR);
	expect_drop(&ep1, 60, OMX_COUNTER_DROP_NACK_MCP_BAD_MAGIC_ENDPOINT);
	nack(RAW_EP, 9, h, magic);
	expect_drop(&ep1, 60, OMX_COUNTER_DROP_BAD_DATALEN);
	nack(RAW_EP - 1, 3, h, magic);
	expect_drop(&ep1, 60, OMX_COUNTER_DROP_BAD_PEER_ADDR);
	nack(RAW_EP, 3, h, magic);
	expect_drop(&ep1, 60, OMX_COUNTER_RECV_NACK_MCP);
	ev = expect_done(32, &a, 2000);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_BAD_SESSION);
	CHECK(ops->destroy_region(drv, ep1.handle, 6) == 0);
	while (recv(raw_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static uint32_t pull_frame(uint8_t dst_ep, uint32_t session, uint32_t total, uint32_t rid, uint32_t off,
			   uint32_t ffo, uint32_t blen, uint32_t fidx)
{
	struct omx_wire_pull p = {
		.dst_endpoint = dst_ep, .src_endpoint = RAW_EP, .session = session, .total_length = total,
		.pulled_rdma_id = rid, .pulled_rdma_seqnum = 23, .pulled_rdma_offset = off,
		.src_pull_handle = 0xabc00023, .src_magic = RAW_EP ^ OMX_PULL_MAGIC_XOR,
		.first_frame_offset = ffo, .block_length = blen, .frame_index = fidx,
	};

	head();
	omx_wire_pull_encode(omx_wire_body(frame), &p);
	return padded(OMX_WIRE_HEAD_LEN + OMX_WIRE_PULL_LEN);
}

/* Replies expected at the raw socket for frames [fidx, fidx+n) of a pull of
 * region lo at offset 5. */
static void expect_replies(const struct layout *lo, uint32_t fidx, uint32_t n, uint32_t len)
{
	static uint8_t buf[65536];
	struct omx_wire_pull_reply r;

	for (uint32_t k = fidx; k < fidx + n; k++) {
		uint32_t start = k ? k * R - 5 : 0, end = (k + 1) * R - 5 < len ? (k + 1) * R - 5 : len;
		int got = raw_recv(buf, 1000);

		CHECK(got >= 60 && buf[16] == OMX_PKT_TYPE_PULL_REPLY);
		omx_wire_pull_reply_decode(buf + 16, &r);
		CHECK(r.frame_seqnum == (uint8_t)k && r.msg_offset == start && r.frame_length == end - start);
		CHECK(r.dst_pull_handle == 0xabc00023 && r.dst_magic == (RAW_EP ^ OMX_PULL_MAGIC_XOR));
		struct layout got_l = layout_make(buf + 32, r.frame_length, 0);
		CHECK((uint32_t)got >= 32 + r.frame_length && same(&got_l, 0, lo, 5 + start, r.frame_length));
	}
}

static void expect_nack(uint8_t nacker, uint8_t type)
{
	uint8_t buf[256];
	struct omx_wire_nack_mcp n;

	CHECK(raw_recv(buf, 1000) == 60 && buf[16] == OMX_PKT_TYPE_NACK_MCP);
	omx_wire_nack_mcp_decode(buf + 16, &n);
	CHECK(n.src_endpoint == nacker && n.nack_type == type && n.src_pull_handle == 0xabc00023);
	CHECK(n.src_magic == (RAW_EP ^ OMX_PULL_MAGIC_XOR));
}

static void test_forged_owner(void)
{
	const uint32_t len = 3 * R + 10, s = ep0.info.session_id;
	struct layout lo = layout_make(src, 10 * R, 1);
	uint8_t buf[256];
	uint32_t req = ctr(OMX_COUNTER_RECV_PULL_REQ), rep = ctr(OMX_COUNTER_SEND_PULL_REPLY);

	region(&ep0, 7, &lo);                      /* three segments: replies cross them */
	raw_send(pull_frame(0, s, len, 7, 5, 5, len, 0), 0);
	expect_replies(&lo, 0, 4, len);
	raw_send(pull_frame(0, s, len, 7, 5, 0, R + 15, 2), 0);
	expect_replies(&lo, 2, 2, len);
	CHECK(ctr(OMX_COUNTER_RECV_PULL_REQ) == req + 2 && ctr(OMX_COUNTER_SEND_PULL_REPLY) == rep + 6);

	expect_drop(&ep0, pull_frame(0, s, 40 * R, 7, 0, 0, 33 * R, 0), OMX_COUNTER_DROP_PULL_BAD_REPLIES);
	expect_drop(&ep0, pull_frame(0, s, len, 7, 5, R, 10, 0), OMX_COUNTER_DROP_PULL_BAD_REPLIES);
	expect_drop(&ep0, pull_frame(0, s, len, 7, 5, 5, 0, 0), OMX_COUNTER_DROP_PULL_BAD_REPLIES);
	expect_drop(&ep0, pull_frame(0, s, 10 * R, 7, 5, 5, R, 0), OMX_COUNTER_DROP_PULL_BAD_OFFSET_LENGTH);
	expect_drop(&ep0, pull_frame(0, s, 3 * R, 7, 5, 0, R, 5), OMX_COUNTER_DROP_PULL_BAD_OFFSET_LENGTH);
	expect_drop(&ep0, pull_frame(0, s, 3 * R, 7, 5, 0, R, 0), OMX_COUNTER_DROP_PULL_BAD_OFFSET_LENGTH);
	expect_drop(&ep0, OMX_WIRE_HEAD_LEN + 40, OMX_COUNTER_DROP_BAD_SKBLEN);
	CHECK(raw_recv(buf, 50) < 0);              /* none of those is nacked */

	expect_drop(&ep0, pull_frame(0, s, len, 99, 5, 5, len, 0), OMX_COUNTER_DROP_PULL_BAD_REGION);
	expect_nack(0, OMX_NACK_TYPE_BAD_RDMAWIN);
	expect_drop(&ep0, pull_frame(0, s ^ 1, len, 7, 5, 5, len, 0), OMX_COUNTER_DROP_BAD_SESSION);
	expect_nack(0, OMX_NACK_TYPE_BAD_SESSION);
	expect_drop(&ep0, pull_frame(3, s, len, 7, 5, 5, len, 0), OMX_COUNTER_DROP_BAD_ENDPOINT);
	expect_nack(3, OMX_NACK_TYPE_ENDPT_CLOSED);
	expect_drop(&ep0, pull_frame(40, s, len, 7, 5, 5, len, 0), OMX_COUNTER_DROP_BAD_ENDPOINT);
	expect_nack(40, OMX_NACK_TYPE_BAD_ENDPT);
	CHECK(ops->destroy_region(drv, ep0.handle, 7) == 0);
}

/* ---- main ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const uint32_t mtus[] = { 1500, 9000, 65507 };
	int bench = argc > 1 && !strcmp(argv[1], "bench");
	uint8_t *src_mem = malloc((size_t)BIG + SLACK + 2), *dst_mem = malloc((size_t)BIG + SLACK + 2);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	CHECK(src_mem && dst_mem);
	src = src_mem + 1;
	dst = dst_mem + 1;
	for (size_t i = 0; i + 8 <= (size_t)BIG + SLACK; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(src + i, &x, 8);
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (bench) {
		const char *fault = getenv("OMX_FAULT");
		char *f = fault && *fault ? strdup(fault) : NULL;

		for (unsigned m = 0; m < 3; m++) {
			char what[64];

			drv_open(mtus[m], f);
			snprintf(what, sizeof(what), "mtu %u%s", mtus[m], f ? " with faults" : "");
			for (int i = 0; i < 3; i++)
				big(what);
			drv_close();
		}
		free(f);
		goto out;
	}

	/* The checks below assume the defaults (4 blocks, 20 ms first re-request). */
	unsetenv("OMX_PULL_BLOCKS");
	unsetenv("OMX_PULL_RESEND_MS");
	drv_open(9000, NULL);
	test_commands();
	test_rndv_notify();
	test_nacks();
	destroy_during_pull(1);
	destroy_during_pull(0);
	test_forged_puller();
	test_forged_owner();
	drv_close();

	for (unsigned m = 0; m < 3; m++) {
		char what[32];

		drv_open(mtus[m], NULL);
		test_sizes();
		snprintf(what, sizeof(what), "mtu %u", mtus[m]);
		big(what);
		xfer(BIG, 3, 1, 1);
		drv_close();
	}

	drv_open(9000, FAULT_SPEC);
	for (uint32_t len = 1; len < (4u << 20); len = len * 7 + 3)
		xfer(len, len % 11, len & 1, (len >> 1) & 1);
	big("mtu 9000, " FAULT_SPEC);
	printf("test_driver_pull: under faults: %u re-requests of block 0, %u of later blocks, %u early, "
	       "%u duplicate replies\n", ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK),
	       ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_NONFIRST_BLOCK),
	       ctr(OMX_COUNTER_PULL_REQUEST_NOTONLYFIRST_BLOCKS), ctr(OMX_COUNTER_DROP_PULL_REPLY_DUPLICATE));
	drv_close();
	printf("test_driver_pull: ok\n");
out:
	free(src_mem);
	free(dst_mem);
	return 0;
}
