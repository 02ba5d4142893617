/*
 * test_driver_pull.c - large messages through the direct driver over udp on
 * 127.0.0.1: regions, RNDV and NOTIFY, pulls end to end (unaligned,
 * multi-segment, many sizes and offsets, MTU 1500 / 9000 / 65507, injected
 * faults), NACK_MCP statuses, the abort deadline while blocked in
 * wait_event, destroy_region and close_endpoint during a pull.  Forged
 * frames are test_driver_pull_wire.c's.  The 64 MiB bandwidth printed is a
 * figure, not a check.
 *
 * "test_driver_pull bench [reps]" prints 64 MiB figures only, with the data
 * owner in a child process blocked in wait_event, as a real one would be
 * (OMX_PULL_BLOCKS, OMX_PULL_RESEND_MS, OMX_FAULT, OMX_MTU from the caller).
 */
#include <signal.h>
#include <sys/wait.h>

#include "test_driver_pull.h"

#define BIG ((64u << 20) + 3)
#define FAULT_SPEC "drop=0.05,reorder=0.05,dup=0.02,seed=5"

static void pump_until_replies(uint32_t target)
{
	double t = now_s();

	while (ctr(OMX_COUNTER_RECV_PULL_REPLY) < target) {
		CHECK(now_s() - t < 5);
		pump();
	}
}

static double xfer(uint32_t len, uint32_t poff, int owner3, int puller3)
{
	struct layout lo = layout_make(src, (uint64_t)poff + len, owner3);
	struct layout lp = layout_make(dst, (uint64_t)len + 5, puller3);
	struct pull_args a = { 0, ep0.info.session_id, len, poff, 60000, 1, 2 };
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

	printf("test_driver_pull: %s: 64 MiB + 3 pulled in %.3f s: %.0f MB/s (both endpoints in one thread)\n",
	       what, t, BIG / t / 1e6);
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
	uint32_t aborts = ctr(OMX_COUNTER_PULL_TIMEOUT_ABORT);
	uint32_t first = ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK);
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
	struct pull_args a = { 0, ep0.info.session_id, len, 0, 20000, 3, 4 };
	struct omx_abi_pull c = pull_cmd(&a, 21);
	uint32_t base = ctr(OMX_COUNTER_RECV_PULL_REPLY);
	const union omx_abi_event *ev;

	CHECK(mine);
	memset(mine, 0x5c, (size_t)len + 1);
	region(&ep0, 3, &lo);
	region(&ep1, 4, &lp);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	pump_until_replies(base + 100);
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


/* Closing the puller mid-pull frees its handles without an event; replies
 * still on their way reach the reopened endpoint and fail the generation
 * check: handle slots outlive an open. */
static void close_during_pull(void)
{
	const uint32_t len = 16u << 20;
	struct layout lo = layout_make(src, len, 0), lp = layout_make(dst, len, 0);
	struct pull_args a = { 0, ep0.info.session_id, len, 0, 20000, 3, 4 };
	struct omx_abi_pull c = pull_cmd(&a, 41);
	uint32_t stale;

	region(&ep0, 3, &lo);
	region(&ep1, 4, &lp);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	pump_until_replies(ctr(OMX_COUNTER_RECV_PULL_REPLY) + 100);
	stale = ctr(OMX_COUNTER_DROP_PULL_REPLY_BAD_WIRE_HANDLE);
	CHECK(ops->close_endpoint(drv, ep1.handle) == 0);
	CHECK(ep_open(&ep1, 1) == 0);
	for (double t = now_s(); now_s() - t < 0.2;)
		pump();
	CHECK(ctr(OMX_COUNTER_DROP_PULL_REPLY_BAD_WIRE_HANDLE) > stale);
	CHECK(take(&ep1, 0) == NULL);
	CHECK(ops->destroy_region(drv, ep1.handle, 4) == OMX_ABI_ENOENT);
	CHECK(ops->destroy_region(drv, ep0.handle, 3) == 0);
}

/* ---- bench: the data owner in another process ------------------------------------ */

static void bench(int reps)
{
	const char *mtu_s = getenv("OMX_MTU");
	uint32_t mtu = mtu_s ? (uint32_t)atoi(mtu_s) : 9000, sess;
	struct layout l = layout_make(src, BIG, 0);
	int to_parent[2], to_child[2];
	double best = 1e9, sum = 0;
	pid_t pid;

	char *fault = getenv("OMX_FAULT") ? strdup(getenv("OMX_FAULT")) : NULL;

	drv_open(mtu, fault);
	CHECK(pipe(to_parent) == 0 && pipe(to_child) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct pollfd pfd = { .fd = to_child[0], .events = POLLIN };

		/* The parent's endpoint 1 is its own from now on: only 0 is used here. */
		region(&ep0, 1, &l);
		CHECK(write(to_parent[1], &ep0.info.session_id, 4) == 4);
		while (poll(&pfd, 1, 0) == 0)
			wait_on(&ep0, ops->jiffies(drv) + 100);
		_exit(0);
	}
	CHECK(read(to_parent[0], &sess, 4) == 4);
	l = layout_make(dst, BIG, 0);
	region(&ep1, 2, &l);
	for (int r = 0; r < reps; r++) {
		struct pull_args a = { 0, sess, BIG, 0, 120000, 1, 2 };
		struct omx_abi_pull c = pull_cmd(&a, (uint64_t)r);
		const union omx_abi_event *ev;
		double t = now_s();

		memset(dst, 0, BIG);
		CHECK(ops->pull(drv, ep1.handle, &c) == 0);
		while (!(ev = take(&ep1, 0)))
			wait_on(&ep1, ops->jiffies(drv) + 1000);
		t = now_s() - t;
		CHECK(ev->pull_done.status == OMX_ABI_STATUS_SUCCESS && !memcmp(dst, src, BIG));
		best = t < best ? t : best;
		sum += t;
	}
	printf("test_driver_pull bench: mtu %u, %s, blocks %s, resend %s ms: 64 MiB best %.0f MB/s, "
	       "mean %.0f MB/s; timer fires %u, early re-requests %u, duplicate replies %u\n", mtu,
	       fault ? fault : "no faults",
	       getenv("OMX_PULL_BLOCKS") ? getenv("OMX_PULL_BLOCKS") : "default",
	       getenv("OMX_PULL_RESEND_MS") ? getenv("OMX_PULL_RESEND_MS") : "default", BIG / best / 1e6,
	       BIG * (double)reps / sum / 1e6, ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK),
	       ctr(OMX_COUNTER_PULL_REQUEST_NOTONLYFIRST_BLOCKS), ctr(OMX_COUNTER_DROP_PULL_REPLY_DUPLICATE));
	CHECK(write(to_child[1], "x", 1) == 1);
	CHECK(waitpid(pid, NULL, 0) == pid);
	drv_close();
	free(fault);
}

int main(int argc, char **argv)
{
	static const uint32_t mtus[] = { 1500, 9000, 65507 };

	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	setvbuf(stdout, NULL, _IOLBF, 0);
	bufs_alloc((size_t)BIG + SLACK);
	if (argc > 1 && !strcmp(argv[1], "bench")) {
		bench(argc > 2 ? atoi(argv[2]) : 3);
		bufs_free();
		return 0;
	}
	/* The checks below assume the default window and re-request floor. */
	unsetenv("OMX_PULL_BLOCKS");
	unsetenv("OMX_PULL_RESEND_MS");

	drv_open(9000, NULL);
	test_commands();
	test_rndv_notify();
	test_nacks();
	destroy_during_pull(1);
	destroy_during_pull(0);
	close_during_pull();
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
	printf("test_driver_pull: under faults: %u timer re-requests of block 0, %u of later blocks, "
	       "%u early, %u duplicate replies\n", ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK),
	       ctr(OMX_COUNTER_PULL_TIMEOUT_HANDLER_NONFIRST_BLOCK),
	       ctr(OMX_COUNTER_PULL_REQUEST_NOTONLYFIRST_BLOCKS), ctr(OMX_COUNTER_DROP_PULL_REPLY_DUPLICATE));
	drv_close();
	bufs_free();
	printf("test_driver_pull: ok\n");
	return 0;
}
