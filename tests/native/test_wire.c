/* test_wire.c - omx_wire.h encoders/decoders: round trips, byte offsets, CRC32C. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_wire.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

/* Field by field: struct padding holds unspecified bytes, so no memcmp. */
#define SAME(a, b, field) CHECK((a).field == (b).field)

static void test_bytes(void)
{
	uint8_t b[8] = { 0 };

	omx_wire_put16(b, 0, 0x1234);
	omx_wire_put32(b, 2, 0xA1B2C3D4u);
	CHECK(b[0] == 0x12 && b[1] == 0x34);
	CHECK(b[2] == 0xA1 && b[3] == 0xB2 && b[4] == 0xC3 && b[5] == 0xD4);
	CHECK(omx_wire_get16(b, 0) == 0x1234);
	CHECK(omx_wire_get32(b, 2) == 0xA1B2C3D4u);
}

static void test_head(void)
{
	uint8_t f[OMX_WIRE_MIN_FRAME];
	struct omx_wire_head h = { .dst_addr = 0x7f00000186dfull, .src_addr = 0x0a0b0c0d0e0full,
				   .dst_src_peer_index = 0xbeef };
	struct omx_wire_head d;

	memset(f, 0xee, sizeof(f));
	omx_wire_head_encode(f, &h);
	CHECK(f[0] == 0x7f && f[3] == 0x01 && f[4] == 0x86 && f[5] == 0xdf);
	CHECK(f[6] == 0x0a && f[11] == 0x0f);
	CHECK(f[12] == 0x86 && f[13] == 0xdf);
	CHECK(f[14] == 0xbe && f[15] == 0xef);
	CHECK(omx_wire_head_ethertype(f) == OMX_WIRE_ETHERTYPE);
	CHECK(omx_wire_body(f) == f + 16 && omx_wire_cbody(f) == f + 16);
	omx_wire_head_decode(f, &d);
	CHECK(d.dst_addr == h.dst_addr && d.src_addr == h.src_addr);
	CHECK(d.dst_src_peer_index == h.dst_src_peer_index);
}

static struct omx_wire_msg msg_sample(uint8_t ptype)
{
	struct omx_wire_msg m;

	memset(&m, 0, sizeof(m));
	m.ptype = ptype;
	m.dst_endpoint = 3;
	m.src_endpoint = 5;
	m.src_generation = 7;
	m.length = ptype == OMX_PKT_TYPE_MEDIUM ? 0x00123456u : ptype == OMX_PKT_TYPE_RNDV ? 8 : 0x1f;
	m.checksum = 0xc0de;
	m.lib_seqnum = 0x1234;
	m.lib_piggyack = 0x5678;
	m.match_info = 0x0102030405060708ull;
	m.session = 0xdeadbeefu;
	if (ptype == OMX_PKT_TYPE_MEDIUM) {
		m.frag_length = 0x2000;
		m.frag_seqnum = 9;
		m.frag_pipeline = 13;
	}
	if (ptype == OMX_PKT_TYPE_RNDV) {
		m.msg_length = 0x00abcdefu;
		m.pulled_rdma_id = 0x21;
		m.pulled_rdma_seqnum = 0x42;
		m.pulled_rdma_offset = 0x0102;
	}
	return m;
}

static void test_msg(void)
{
	const uint8_t types[] = { OMX_PKT_TYPE_TINY, OMX_PKT_TYPE_SMALL, OMX_PKT_TYPE_MEDIUM,
				  OMX_PKT_TYPE_RNDV };

	for (unsigned t = 0; t < sizeof(types); t++) {
		struct omx_wire_msg m = msg_sample(types[t]), d;
		uint8_t b[OMX_WIRE_BODY_MAX_HDR];

		memset(b, 0xee, sizeof(b));
		omx_wire_msg_encode(b, &m);
		CHECK(b[0] == types[t] && b[1] == 3 && b[2] == 5 && b[3] == 7);
		CHECK(b[8] == 0x12 && b[9] == 0x34 && b[10] == 0x56 && b[11] == 0x78);
		CHECK(b[12] == 0x01 && b[15] == 0x04 && b[16] == 0x05 && b[19] == 0x08);
		CHECK(b[20] == 0xde && b[23] == 0xef);
		if (types[t] == OMX_PKT_TYPE_MEDIUM) {
			CHECK(b[4] == 0x00 && b[5] == 0x12 && b[6] == 0x34 && b[7] == 0x56);
			CHECK(b[24] == 0x20 && b[25] == 0x00 && b[26] == 9 && b[27] == 13);
			CHECK(b[28] == 0xc0 && b[29] == 0xde && b[30] == 0 && b[31] == 0);
		} else {
			CHECK(omx_wire_get16(b, 4) == m.length);
			CHECK(b[6] == 0xc0 && b[7] == 0xde);
		}
		if (types[t] == OMX_PKT_TYPE_RNDV) {
			CHECK(b[4] == 0 && b[5] == 8);
			CHECK(b[24] == 0x00 && b[25] == 0xab && b[27] == 0xef);
			CHECK(b[28] == 0x21 && b[29] == 0x42 && b[30] == 0x01 && b[31] == 0x02);
		}
		if (types[t] == OMX_PKT_TYPE_TINY || types[t] == OMX_PKT_TYPE_SMALL)
			CHECK(b[24] == 0xee);   /* a 24-byte header writes nothing past itself */
		omx_wire_msg_decode(b, &d);
		SAME(m, d, ptype); SAME(m, d, dst_endpoint); SAME(m, d, src_endpoint);
		SAME(m, d, src_generation); SAME(m, d, length); SAME(m, d, checksum);
		SAME(m, d, lib_seqnum); SAME(m, d, lib_piggyack); SAME(m, d, match_info);
		SAME(m, d, session); SAME(m, d, frag_length); SAME(m, d, frag_seqnum);
		SAME(m, d, frag_pipeline); SAME(m, d, msg_length); SAME(m, d, pulled_rdma_id);
		SAME(m, d, pulled_rdma_seqnum); SAME(m, d, pulled_rdma_offset);
	}
}

static void test_connect(void)
{
	for (int reply = 0; reply < 2; reply++) {
		struct omx_wire_connect c, d;
		uint8_t b[OMX_WIRE_CONNECT_LEN];

		memset(&c, 0, sizeof(c));
		c.dst_endpoint = 1;
		c.src_endpoint = 2;
		c.src_generation = 3;
		c.lib_seqnum = 0;
		c.src_dst_peer_index = 0x0405;
		c.src_session_id = 0x11223344u;
		if (reply) {
			c.target_session_id = 0x55667788u;
			c.status_code = OMX_CONNECT_STATUS_BAD_KEY;
		} else {
			c.app_key = 0x99aabbccu;
		}
		c.target_recv_seqnum_start = 0x0a0b;
		c.is_reply = (uint8_t)reply;
		c.connect_seqnum = 0x0c;
		omx_wire_connect_encode(b, &c);
		CHECK(b[0] == OMX_PKT_TYPE_CONNECT && b[1] == 1 && b[2] == 2 && b[3] == 3 && b[4] == 16);
		CHECK(b[8] == 0 && b[9] == 0 && b[10] == 0x04 && b[11] == 0x05);
		CHECK(b[16] == 0x11 && b[19] == 0x44);
		CHECK(b[20] == (reply ? 0x55 : 0x99) && b[23] == (reply ? 0x88 : 0xcc));
		CHECK(b[24] == 0x0a && b[25] == 0x0b && b[26] == reply && b[27] == 0x0c);
		CHECK(b[28] == (reply ? OMX_CONNECT_STATUS_BAD_KEY : 0));
		omx_wire_connect_decode(b, &d);
		SAME(c, d, dst_endpoint); SAME(c, d, src_endpoint); SAME(c, d, src_generation);
		SAME(c, d, lib_seqnum); SAME(c, d, src_dst_peer_index); SAME(c, d, src_session_id);
		SAME(c, d, app_key); SAME(c, d, target_session_id);
		SAME(c, d, target_recv_seqnum_start); SAME(c, d, is_reply);
		SAME(c, d, connect_seqnum); SAME(c, d, status_code);
	}
}

static void test_liback(void)
{
	struct omx_wire_liback a = {
		.dst_endpoint = 4, .src_endpoint = 6, .src_generation = 1, .length = 16,
		.session = 0xcafef00du, .type = OMX_TRUC_DATA_TYPE_ACK, .lib_seqnum = 0x3344,
		.session_id = 0xcafef00du, .acknum = 0x01020304u, .send_seq = 0x5566, .resent = 1,
	};
	struct omx_wire_liback d;
	uint8_t b[OMX_WIRE_TRUC_LEN];

	omx_wire_liback_encode(b, &a);
	CHECK(b[0] == OMX_PKT_TYPE_TRUC && b[1] == 4 && b[2] == 6 && b[3] == 1 && b[4] == 16);
	CHECK(b[8] == 0xca && b[11] == 0x0d);
	CHECK(b[12] == 0x55 && b[13] == 0 && b[14] == 0x33 && b[15] == 0x44);
	CHECK(b[16] == 0xca && b[20] == 0x01 && b[23] == 0x04);
	CHECK(b[24] == 0x55 && b[25] == 0x66 && b[26] == 1 && b[27] == 0);
	memset(&d, 0, sizeof(d));
	omx_wire_liback_decode(b, &d);
	SAME(a, d, dst_endpoint); SAME(a, d, src_endpoint); SAME(a, d, src_generation);
	SAME(a, d, length); SAME(a, d, session); SAME(a, d, type); SAME(a, d, lib_seqnum);
	SAME(a, d, session_id); SAME(a, d, acknum); SAME(a, d, send_seq); SAME(a, d, resent);
}

static void test_pull(void)
{
	struct omx_wire_pull p, d;
	uint8_t b[OMX_WIRE_PULL_LEN];

	memset(&p, 0, sizeof(p));
	memset(&d, 0, sizeof(d));
	p.dst_endpoint = 7;
	p.src_endpoint = 8;
	p.session = 0x10203040u;
	p.total_length = 0x00100000u;
	p.pulled_rdma_id = 0x00000abcu;
	p.pulled_rdma_seqnum = 0x5a;
	p.pulled_rdma_offset = 0x00000123u;
	p.src_pull_handle = 0x00c00001u;
	p.src_magic = 8 ^ OMX_PULL_MAGIC_XOR;
	p.first_frame_offset = 0x44u;
	p.block_length = 286976u;
	p.frame_index = 0x20u;
	omx_wire_pull_encode(b, &p);
	CHECK(b[0] == OMX_PKT_TYPE_PULL && b[1] == 7 && b[2] == 8 && b[3] == 0);
	CHECK(b[4] == 0x10 && b[7] == 0x40);
	CHECK(b[8] == 0x00 && b[9] == 0x10 && b[11] == 0x00);
	CHECK(b[14] == 0x0a && b[15] == 0xbc && b[16] == 0x5a);
	CHECK(b[22] == 0x01 && b[23] == 0x23);
	CHECK(b[25] == 0xc0 && b[27] == 0x01);
	CHECK(omx_wire_get32(b, 28) == (8 ^ OMX_PULL_MAGIC_XOR) && b[28] == 0x21);
	CHECK(b[35] == 0x44 && omx_wire_get32(b, 36) == 286976u && b[43] == 0x20);
	omx_wire_pull_decode(b, &d);
	SAME(p, d, dst_endpoint); SAME(p, d, src_endpoint); SAME(p, d, session);
	SAME(p, d, total_length); SAME(p, d, pulled_rdma_id); SAME(p, d, pulled_rdma_seqnum);
	SAME(p, d, pulled_rdma_offset); SAME(p, d, src_pull_handle); SAME(p, d, src_magic);
	SAME(p, d, first_frame_offset); SAME(p, d, block_length); SAME(p, d, frame_index);
}

static void test_pull_reply(void)
{
	struct omx_wire_pull_reply r = { .frame_seqnum = 0x81, .frame_length = 8964,
					 .msg_offset = 0x01020304u, .dst_pull_handle = 0xa0b0c0d0u,
					 .dst_magic = 2 ^ OMX_PULL_MAGIC_XOR };
	struct omx_wire_pull_reply d;
	uint8_t b[OMX_WIRE_PULL_REPLY_LEN];

	memset(&d, 0, sizeof(d));
	omx_wire_pull_reply_encode(b, &r);
	CHECK(b[0] == OMX_PKT_TYPE_PULL_REPLY && b[1] == 0x81);
	CHECK(b[2] == (8964 >> 8) && b[3] == (8964 & 0xff));
	CHECK(b[4] == 0x01 && b[7] == 0x04 && b[8] == 0xa0 && b[11] == 0xd0);
	CHECK(b[12] == 0x21 && b[15] == (0x80 ^ 2));
	omx_wire_pull_reply_decode(b, &d);
	SAME(r, d, frame_seqnum); SAME(r, d, frame_length); SAME(r, d, msg_offset);
	SAME(r, d, dst_pull_handle); SAME(r, d, dst_magic);
}

static void test_notify(void)
{
	struct omx_wire_notify n = { .dst_endpoint = 9, .src_endpoint = 10, .session = 0x0badf00du,
				     .total_length = 0x00300000u, .pulled_rdma_id = 0x11,
				     .pulled_rdma_seqnum = 0x22, .lib_seqnum = 0x3344,
				     .lib_piggyack = 0x5566 };
	struct omx_wire_notify d;
	uint8_t b[OMX_WIRE_NOTIFY_LEN];

	memset(&d, 0, sizeof(d));
	omx_wire_notify_encode(b, &n);
	CHECK(b[0] == OMX_PKT_TYPE_NOTIFY && b[1] == 9 && b[2] == 10);
	CHECK(b[4] == 0x0b && b[7] == 0x0d && b[9] == 0x30);
	CHECK(b[12] == 0x11 && b[13] == 0x22 && b[16] == 0 && b[17] == 0);
	CHECK(b[18] == 0x33 && b[19] == 0x44 && b[20] == 0x55 && b[21] == 0x66);
	omx_wire_notify_decode(b, &d);
	SAME(n, d, dst_endpoint); SAME(n, d, src_endpoint); SAME(n, d, session);
	SAME(n, d, total_length); SAME(n, d, pulled_rdma_id); SAME(n, d, pulled_rdma_seqnum);
	SAME(n, d, lib_seqnum); SAME(n, d, lib_piggyack);
}

static void test_nacks(void)
{
	struct omx_wire_nack_lib l = { .src_endpoint = 5, .nack_type = OMX_NACK_TYPE_ENDPT_CLOSED,
				       .dst_endpoint = 6, .dst_src_peer_index = 0x0102,
				       .lib_seqnum = 0x0304 };
	struct omx_wire_nack_lib ld;
	struct omx_wire_nack_mcp m = { .src_endpoint = 7, .nack_type = OMX_NACK_TYPE_BAD_RDMAWIN,
				       .src_pull_handle = 0x11223344u,
				       .src_magic = 7 ^ OMX_PULL_MAGIC_XOR };
	struct omx_wire_nack_mcp md;
	uint8_t b[OMX_WIRE_NACK_LIB_LEN];

	memset(&ld, 0, sizeof(ld));
	memset(&md, 0, sizeof(md));
	omx_wire_nack_lib_encode(b, &l);
	CHECK(b[0] == OMX_PKT_TYPE_NACK_LIB && b[1] == 5 && b[2] == 0 && b[3] == 2);
	CHECK(b[9] == 6 && b[10] == 0x01 && b[11] == 0x02 && b[12] == 0x03 && b[13] == 0x04);
	omx_wire_nack_lib_decode(b, &ld);
	SAME(l, ld, src_endpoint); SAME(l, ld, nack_type); SAME(l, ld, dst_endpoint);
	SAME(l, ld, dst_src_peer_index); SAME(l, ld, lib_seqnum);

	omx_wire_nack_mcp_encode(b, &m);
	CHECK(b[0] == OMX_PKT_TYPE_NACK_MCP && b[1] == 7 && b[3] == 4);
	CHECK(b[8] == 0x11 && b[11] == 0x44 && b[12] == 0x21 && b[15] == (0x80 ^ 7));
	omx_wire_nack_mcp_decode(b, &md);
	SAME(m, md, src_endpoint); SAME(m, md, nack_type); SAME(m, md, src_pull_handle);
	SAME(m, md, src_magic);
}

static void test_host(void)
{
	struct omx_wire_host h = { .ptype = OMX_PKT_TYPE_HOST_REPLY, .hostname_length = 12,
				   .src_dst_peer_index = 0x0203, .magic = OMX_HOST_QUERY_MAGIC };
	struct omx_wire_host d;
	uint8_t b[OMX_WIRE_HOST_LEN];

	omx_wire_host_encode(b, &h);
	CHECK(b[0] == OMX_PKT_TYPE_HOST_REPLY && b[1] == 12 && b[2] == 0x02 && b[3] == 0x03);
	CHECK(b[8] == 0x13 && b[9] == 0x05 && b[10] == 0x20 && b[11] == 0x08);
	omx_wire_host_decode(b, &d);
	SAME(h, d, ptype); SAME(h, d, hostname_length); SAME(h, d, src_dst_peer_index);
	SAME(h, d, magic);
}

static void test_crc_and_sizes(void)
{
	CHECK(omx_wire_crc32c("123456789", 9) == 0xE3069283u);
	CHECK(omx_wire_crc32c("", 0) == 0);
	CHECK(omx_wire_medium_frag_max(1500) == 1500 - 16 - 32 - 4);
	CHECK(omx_wire_medium_frag_max(9000) == 8192);
	CHECK(omx_wire_medium_frag_max(65535) == 8192);
	CHECK(omx_wire_medium_frag_max(4096 + 16 + 32 + 4) == 4096);
	CHECK(omx_wire_pull_reply_max(9000) == 9000 - 16 - 16 - 4);
	CHECK(OMX_WIRE_HEAD_LEN + OMX_WIRE_BODY_MAX_HDR == OMX_WIRE_MIN_FRAME);
}

static void test_dst_endpoint(void)
{
	uint8_t f[64] = { 0 };
	uint8_t *b = omx_wire_body(f);

	b[0] = OMX_PKT_TYPE_TINY;
	b[1] = 7;
	CHECK(omx_wire_dst_endpoint(f, sizeof(f)) == 7);
	CHECK(omx_wire_dst_endpoint(f, OMX_WIRE_HEAD_LEN) == OMX_WIRE_DST_NONE);
	b[0] = OMX_PKT_TYPE_NACK_LIB;
	b[9] = 3;
	CHECK(omx_wire_dst_endpoint(f, sizeof(f)) == 3);
	b[0] = OMX_PKT_TYPE_PULL_REPLY;
	omx_wire_put32(b, 12, 5 ^ OMX_PULL_MAGIC_XOR);
	CHECK(omx_wire_dst_endpoint(f, sizeof(f)) == 5);
	CHECK(omx_wire_dst_endpoint(f, OMX_WIRE_HEAD_LEN + 15) == OMX_WIRE_DST_NONE);
	omx_wire_put32(b, 12, 0x12345678);
	CHECK(omx_wire_dst_endpoint(f, sizeof(f)) == OMX_WIRE_DST_NONE);
	b[0] = OMX_PKT_TYPE_HOST_QUERY;
	CHECK(omx_wire_dst_endpoint(f, sizeof(f)) == OMX_WIRE_DST_BOARD);
}

int main(void)
{
	test_bytes();
	test_head();
	test_msg();
	test_connect();
	test_liback();
	test_pull();
	test_pull_reply();
	test_notify();
	test_nacks();
	test_host();
	test_crc_and_sizes();
	test_dst_endpoint();
	printf("test_wire: ok\n");
	return 0;
}
