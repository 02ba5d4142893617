/*
 * test_driver_pull_wire.c - the pull engine's checks of forged frames: a raw
 * udp socket plays endpoint RAW_EP of the same board and (1) answers a real
 * pull of endpoint 1 with replies that are good, out of window, misnumbered,
 * duplicated, cut or for a stale handle, and with NACK_MCPs; (2) sends PULLs
 * to endpoint 0 that must be served exactly, dropped, or nacked.  Every
 * refusal must move its DROP_* counter by exactly one.
 */
#include "test_driver_pull.h"

static uint8_t frame[65536];

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

	raw_send(frame, len, e->info.endpoint_index);
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
	struct layout lp = layout_make(dst, 320 * R, 0);
	struct pull_args a = { RAW_EP, 0x1234, len, 5, 10000, 77, 6 };
	struct omx_abi_pull c = pull_cmd(&a, 31);
	struct omx_wire_pull w;
	const union omx_abi_event *ev;
	uint32_t h, got;

	memset(dst, 0xee, 320 * R);
	region(&ep1, 6, &lp);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	CHECK(raw_recv(buf, 1000) == 60 && buf[16] == OMX_PKT_TYPE_PULL);
	omx_wire_pull_decode(buf + 16, &w);
	CHECK(w.dst_endpoint == RAW_EP && w.src_endpoint == 1 && w.session == 0x1234 && w.total_length == len);
	CHECK(w.pulled_rdma_id == 77 && w.pulled_rdma_seqnum == 23 && w.pulled_rdma_offset == 5);
	CHECK(w.src_magic == magic && w.first_frame_offset == 5 && w.block_length == len && w.frame_index == 0);
	h = w.src_pull_handle;

	/* Frames: 0 = [0, R-5), 1 = [R-5, 2R-5), 2 = [2R-5, 3R-5), 3 = [3R-5, 3R+10). */
	expect_drop(&ep1, reply(1, R, R - 5, h, 3 ^ OMX_PULL_MAGIC_XOR),
		    OMX_COUNTER_DROP_PULL_REPLY_BAD_MAGIC_ENDPOINT);
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
	raw_send(frame, reply(1, R, R - 5, h, magic), 1);
	raw_send(frame, reply(2, R, 2 * R - 5, h, magic), 1);
	ev = expect_done(31, &a, 2000);
	CHECK(ev->pull_done.status == OMX_ABI_STATUS_SUCCESS && ev->pull_done.pulled_length == len);
	CHECK(!memcmp(dst, src + 5, len) && dst[len] == 0xee);
	expect_drop(&ep1, reply(1, R, R - 5, h, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_WIRE_HANDLE);
	nack(RAW_EP, 3, h, magic);
	expect_drop(&ep1, 60, OMX_COUNTER_DROP_NACK_MCP_BAD_WIRE_HANDLE);

	/* Ten blocks: the window (8 by default) is requested, a frame of the
	 * tenth block is refused. */
	a.len = 320 * R;
	a.poff = 0;
	c = pull_cmd(&a, 32);
	CHECK(ops->pull(drv, ep1.handle, &c) == 0);
	for (uint32_t b = 0; b < 8; b++) {
		CHECK(raw_recv(buf, 1000) == 60);
		omx_wire_pull_decode(buf + 16, &w);
		CHECK(w.frame_index == 32 * b && w.block_length == 32 * R && w.first_frame_offset == 0);
	}
	h = w.src_pull_handle;
	expect_drop(&ep1, reply((uint8_t)300, R, 300 * R, h, magic), OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM);
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
		CHECK(r.dst_pull_handle == 0xabc00023 && r.dst_magic == (uint32_t)(RAW_EP ^ OMX_PULL_MAGIC_XOR));
		struct layout got_l = layout_make(buf + 32, r.frame_length, 0);
		CHECK((uint32_t)got >= 32u + r.frame_length && same(&got_l, 0, lo, 5 + start, r.frame_length));
	}
}

static void expect_nack(uint8_t nacker, uint8_t type)
{
	uint8_t buf[256];
	struct omx_wire_nack_mcp n;

	CHECK(raw_recv(buf, 1000) == 60 && buf[16] == OMX_PKT_TYPE_NACK_MCP);
	omx_wire_nack_mcp_decode(buf + 16, &n);
	CHECK(n.src_endpoint == nacker && n.nack_type == type && n.src_pull_handle == 0xabc00023);
	CHECK(n.src_magic == (uint32_t)(RAW_EP ^ OMX_PULL_MAGIC_XOR));
}

static void test_forged_owner(void)
{
	const uint32_t len = 3 * R + 10, s = ep0.info.session_id;
	struct layout lo = layout_make(src, 10 * R, 1);
	uint8_t buf[256];
	uint32_t req = ctr(OMX_COUNTER_RECV_PULL_REQ), rep = ctr(OMX_COUNTER_SEND_PULL_REPLY);

	region(&ep0, 7, &lo);                      /* three segments: replies cross them */
	raw_send(frame, pull_frame(0, s, len, 7, 5, 5, len, 0), 0);
	expect_replies(&lo, 0, 4, len);
	raw_send(frame, pull_frame(0, s, len, 7, 5, 0, R + 15, 2), 0);
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

int main(void)
{
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	/* The checks assume the default window (8 blocks) and re-request floor. */
	unsetenv("OMX_PULL_BLOCKS");
	unsetenv("OMX_PULL_RESEND_MS");
	bufs_alloc(8u << 20);
	drv_open(9000, NULL);
	test_forged_puller();
	test_forged_owner();
	drv_close();
	bufs_free();
	printf("test_driver_pull_wire: ok\n");
	return 0;
}
