/*
 * omx_wire.h - the Open-MX 1.5 wire format (non-wire-compat mode, endian compat).
 *
 * Contract:
 *  - Every frame is an Ethernet frame of EtherType 0x86DF: a 16-byte head
 *    (14-byte Ethernet header + u16 reverse peer index) then a body whose
 *    first byte is the packet type.  Transmitted frames are padded to 60 bytes.
 *  - Multi-byte fields are big-endian.  The 64-bit match info travels as
 *    match_a (high 32 bits) and match_b (low 32 bits).
 *  - Offsets below are byte offsets inside the body (frame offset 16 + off).
 *  - Encoders/decoders translate between host-order structs and bytes; they
 *    never check semantics (the driver's demux does, in its documented order).
 *
 * Not guaranteed by this header: that a decoded length is sane, that the
 * frame is long enough (callers check OMX_WIRE_*_LEN against the frame
 * length before decoding), or anything about who may send what.
 *
 * Version 1 (this header) = Open-MX 1.5 layouts plus an optional CRC32C
 * trailer (OMX_WIRE_FCS_LEN) that both ends enable together (OMX_CHECKSUM).
 */
#ifndef OMX_WIRE_H
#define OMX_WIRE_H

#include <stdint.h>
#include <string.h>

#define OMX_WIRE_VERSION 1

#define OMX_WIRE_ETHERTYPE 0x86DF
#define OMX_WIRE_ETH_HLEN 14
#define OMX_WIRE_HEAD_LEN 16          /* Ethernet header + reverse peer index */
#define OMX_WIRE_MIN_FRAME 60         /* ETH_ZLEN: every frame is padded to it */
#define OMX_WIRE_FCS_LEN 4            /* optional CRC32C trailer */
#define OMX_WIRE_UNKNOWN_PEER_INDEX 0xffff

#define OMX_ENDPOINT_INDEX_MAX 256
#define OMX_PEER_INDEX_MAX 65536

#define OMX_TINY_MSG_LENGTH_MAX 32
#define OMX_SMALL_MSG_LENGTH_MAX 128
#define OMX_MEDIUM_FRAGS_MAX 32
#define OMX_PULL_REPLY_PER_BLOCK 32
#define OMX_PULL_MAGIC_XOR 0x21071980u
#define OMX_HOST_QUERY_MAGIC 0x13052008u

/* Packet types (body byte 0).  Numbers are Open-MX's; none is ever reused. */
enum omx_wire_ptype {
	OMX_PKT_TYPE_NONE = 0,
	OMX_PKT_TYPE_RAW = 1,
	OMX_PKT_TYPE_MFM_NIC_REPLY = 2,   /* MX mapper: dropped as invalid */
	OMX_PKT_TYPE_HOST_QUERY = 3,
	OMX_PKT_TYPE_HOST_REPLY = 4,
	OMX_PKT_TYPE_ETHER_UNICAST = 32,  /* 32-34: MX ethernet emulation, invalid here */
	OMX_PKT_TYPE_ETHER_MULTICAST = 33,
	OMX_PKT_TYPE_ETHER_NATIVE = 34,
	OMX_PKT_TYPE_TRUC = 35,
	OMX_PKT_TYPE_CONNECT = 36,
	OMX_PKT_TYPE_TINY = 37,
	OMX_PKT_TYPE_SMALL = 38,
	OMX_PKT_TYPE_MEDIUM = 39,
	OMX_PKT_TYPE_RNDV = 40,
	OMX_PKT_TYPE_PULL = 41,
	OMX_PKT_TYPE_PULL_REPLY = 42,
	OMX_PKT_TYPE_NOTIFY = 43,
	OMX_PKT_TYPE_NACK_LIB = 44,
	OMX_PKT_TYPE_NACK_MCP = 45,
	OMX_PKT_TYPE_MAX = 256,
};

/* NACK subtypes; equal to the OMX_ABI_NACK_* / PULL_DONE status values. */
enum omx_wire_nack_type {
	OMX_NACK_TYPE_NONE = 0,
	OMX_NACK_TYPE_BAD_ENDPT = 1,
	OMX_NACK_TYPE_ENDPT_CLOSED = 2,
	OMX_NACK_TYPE_BAD_SESSION = 3,
	OMX_NACK_TYPE_BAD_RDMAWIN = 4,
	OMX_NACK_TYPE_MAX,
};

#define OMX_TRUC_DATA_TYPE_ACK 0x55
#define OMX_CONNECT_STATUS_SUCCESS 0
#define OMX_CONNECT_STATUS_BAD_KEY 11

/* Body lengths of each header (what must be present before decoding). */
#define OMX_WIRE_MSG_LEN 24           /* TINY, SMALL */
#define OMX_WIRE_MEDIUM_LEN 32
#define OMX_WIRE_RNDV_LEN 32
#define OMX_WIRE_CONNECT_LEN 32
#define OMX_WIRE_TRUC_LEN 28
#define OMX_WIRE_PULL_LEN 44
#define OMX_WIRE_PULL_REPLY_LEN 16
#define OMX_WIRE_NOTIFY_LEN 24
#define OMX_WIRE_NACK_LIB_LEN 16
#define OMX_WIRE_NACK_MCP_LEN 16
#define OMX_WIRE_HOST_LEN 16
#define OMX_WIRE_BODY_MAX_HDR 44      /* the largest header: 16 + 44 = 60 */

/* ---- byte access ------------------------------------------------------- */

static inline void omx_wire_put8(uint8_t *p, unsigned off, uint8_t v) { p[off] = v; }
static inline uint8_t omx_wire_get8(const uint8_t *p, unsigned off) { return p[off]; }
static inline void omx_wire_put16(uint8_t *p, unsigned off, uint16_t v)
{
	p[off] = (uint8_t)(v >> 8);
	p[off + 1] = (uint8_t)v;
}
static inline uint16_t omx_wire_get16(const uint8_t *p, unsigned off)
{
	return (uint16_t)((p[off] << 8) | p[off + 1]);
}
static inline void omx_wire_put32(uint8_t *p, unsigned off, uint32_t v)
{
	p[off] = (uint8_t)(v >> 24);
	p[off + 1] = (uint8_t)(v >> 16);
	p[off + 2] = (uint8_t)(v >> 8);
	p[off + 3] = (uint8_t)v;
}
static inline uint32_t omx_wire_get32(const uint8_t *p, unsigned off)
{
	return ((uint32_t)p[off] << 24) | ((uint32_t)p[off + 1] << 16) |
	       ((uint32_t)p[off + 2] << 8) | p[off + 3];
}

/* A board address is a MAC packed MSB-first in the low 48 bits. */
static inline void omx_wire_put_mac(uint8_t *p, uint64_t addr)
{
	for (int i = 0; i < 6; i++)
		p[i] = (uint8_t)(addr >> (8 * (5 - i)));
}
static inline uint64_t omx_wire_get_mac(const uint8_t *p)
{
	uint64_t a = 0;
	for (int i = 0; i < 6; i++)
		a = (a << 8) | p[i];
	return a;
}

/* ---- head ------------------------------------------------------------- */

struct omx_wire_head {
	uint64_t dst_addr;            /* destination board address (MAC) */
	uint64_t src_addr;            /* source board address (MAC) */
	uint16_t dst_src_peer_index;  /* sender's index in the receiver's peer table */
};

static inline void omx_wire_head_encode(uint8_t *frame, const struct omx_wire_head *h)
{
	omx_wire_put_mac(frame, h->dst_addr);
	omx_wire_put_mac(frame + 6, h->src_addr);
	omx_wire_put16(frame, 12, OMX_WIRE_ETHERTYPE);
	omx_wire_put16(frame, 14, h->dst_src_peer_index);
}
static inline void omx_wire_head_decode(const uint8_t *frame, struct omx_wire_head *h)
{
	h->dst_addr = omx_wire_get_mac(frame);
	h->src_addr = omx_wire_get_mac(frame + 6);
	h->dst_src_peer_index = omx_wire_get16(frame, 14);
}
static inline uint16_t omx_wire_head_ethertype(const uint8_t *frame) { return omx_wire_get16(frame, 12); }
static inline uint8_t *omx_wire_body(uint8_t *frame) { return frame + OMX_WIRE_HEAD_LEN; }
static inline const uint8_t *omx_wire_cbody(const uint8_t *frame) { return frame + OMX_WIRE_HEAD_LEN; }

/* ---- lib messages: TINY, SMALL, MEDIUM, RNDV --------------------------- */

/* Common to msg (24 B), medium_frag (32 B) and rndv (32 B). */
struct omx_wire_msg {
	uint8_t ptype;
	uint8_t dst_endpoint;
	uint8_t src_endpoint;
	uint8_t src_generation;
	uint32_t length;              /* msg: payload u16; medium: total message u32; rndv: 8 */
	uint16_t checksum;
	uint16_t lib_seqnum;
	uint16_t lib_piggyack;
	uint64_t match_info;
	uint32_t session;             /* the destination endpoint's session */
	/* MEDIUM only */
	uint16_t frag_length;
	uint8_t frag_seqnum;
	uint8_t frag_pipeline;
	/* RNDV only */
	uint32_t msg_length;
	uint8_t pulled_rdma_id;
	uint8_t pulled_rdma_seqnum;
	uint16_t pulled_rdma_offset;
};

static inline void omx_wire_msg_encode(uint8_t *b, const struct omx_wire_msg *m)
{
	memset(b, 0, m->ptype == OMX_PKT_TYPE_TINY || m->ptype == OMX_PKT_TYPE_SMALL
		     ? OMX_WIRE_MSG_LEN : OMX_WIRE_MEDIUM_LEN);
	omx_wire_put8(b, 0, m->ptype);
	omx_wire_put8(b, 1, m->dst_endpoint);
	omx_wire_put8(b, 2, m->src_endpoint);
	omx_wire_put8(b, 3, m->src_generation);
	if (m->ptype == OMX_PKT_TYPE_MEDIUM) {
		omx_wire_put32(b, 4, m->length);
		omx_wire_put16(b, 24, m->frag_length);
		omx_wire_put8(b, 26, m->frag_seqnum);
		omx_wire_put8(b, 27, m->frag_pipeline);
		omx_wire_put16(b, 28, m->checksum);
	} else {
		omx_wire_put16(b, 4, (uint16_t)m->length);
		omx_wire_put16(b, 6, m->checksum);
	}
	omx_wire_put16(b, 8, m->lib_seqnum);
	omx_wire_put16(b, 10, m->lib_piggyack);
	omx_wire_put32(b, 12, (uint32_t)(m->match_info >> 32));
	omx_wire_put32(b, 16, (uint32_t)m->match_info);
	omx_wire_put32(b, 20, m->session);
	if (m->ptype == OMX_PKT_TYPE_RNDV) {
		omx_wire_put32(b, 24, m->msg_length);
		omx_wire_put8(b, 28, m->pulled_rdma_id);
		omx_wire_put8(b, 29, m->pulled_rdma_seqnum);
		omx_wire_put16(b, 30, m->pulled_rdma_offset);
	}
}

static inline void omx_wire_msg_decode(const uint8_t *b, struct omx_wire_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->ptype = omx_wire_get8(b, 0);
	m->dst_endpoint = omx_wire_get8(b, 1);
	m->src_endpoint = omx_wire_get8(b, 2);
	m->src_generation = omx_wire_get8(b, 3);
	if (m->ptype == OMX_PKT_TYPE_MEDIUM) {
		m->length = omx_wire_get32(b, 4);
		m->frag_length = omx_wire_get16(b, 24);
		m->frag_seqnum = omx_wire_get8(b, 26);
		m->frag_pipeline = omx_wire_get8(b, 27);
		m->checksum = omx_wire_get16(b, 28);
	} else {
		m->length = omx_wire_get16(b, 4);
		m->checksum = omx_wire_get16(b, 6);
	}
	m->lib_seqnum = omx_wire_get16(b, 8);
	m->lib_piggyack = omx_wire_get16(b, 10);
	m->match_info = ((uint64_t)omx_wire_get32(b, 12) << 32) | omx_wire_get32(b, 16);
	m->session = omx_wire_get32(b, 20);
	if (m->ptype == OMX_PKT_TYPE_RNDV) {
		m->msg_length = omx_wire_get32(b, 24);
		m->pulled_rdma_id = omx_wire_get8(b, 28);
		m->pulled_rdma_seqnum = omx_wire_get8(b, 29);
		m->pulled_rdma_offset = omx_wire_get16(b, 30);
	}
}

/* ---- CONNECT (request and reply share the first 28 bytes) -------------- */

struct omx_wire_connect {
	uint8_t dst_endpoint;
	uint8_t src_endpoint;
	uint8_t src_generation;
	uint16_t lib_seqnum;          /* always 0 */
	uint16_t src_dst_peer_index;  /* the target's index in the sender's table */
	uint32_t src_session_id;      /* request: own session; reply: echo of the requester's */
	uint32_t app_key;             /* request only */
	uint32_t target_session_id;   /* reply only: the replier's session */
	uint16_t target_recv_seqnum_start;
	uint8_t is_reply;
	uint8_t connect_seqnum;
	uint8_t status_code;          /* reply only: OMX_CONNECT_STATUS_* */
};

static inline void omx_wire_connect_encode(uint8_t *b, const struct omx_wire_connect *c)
{
	memset(b, 0, OMX_WIRE_CONNECT_LEN);
	omx_wire_put8(b, 0, OMX_PKT_TYPE_CONNECT);
	omx_wire_put8(b, 1, c->dst_endpoint);
	omx_wire_put8(b, 2, c->src_endpoint);
	omx_wire_put8(b, 3, c->src_generation);
	omx_wire_put8(b, 4, 16);
	omx_wire_put16(b, 8, c->lib_seqnum);
	omx_wire_put16(b, 10, c->src_dst_peer_index);
	omx_wire_put32(b, 16, c->src_session_id);
	omx_wire_put32(b, 20, c->is_reply ? c->target_session_id : c->app_key);
	omx_wire_put16(b, 24, c->target_recv_seqnum_start);
	omx_wire_put8(b, 26, c->is_reply);
	omx_wire_put8(b, 27, c->connect_seqnum);
	if (c->is_reply)
		omx_wire_put8(b, 28, c->status_code);
}

static inline void omx_wire_connect_decode(const uint8_t *b, struct omx_wire_connect *c)
{
	memset(c, 0, sizeof(*c));
	c->dst_endpoint = omx_wire_get8(b, 1);
	c->src_endpoint = omx_wire_get8(b, 2);
	c->src_generation = omx_wire_get8(b, 3);
	c->lib_seqnum = omx_wire_get16(b, 8);
	c->src_dst_peer_index = omx_wire_get16(b, 10);
	c->src_session_id = omx_wire_get32(b, 16);
	c->is_reply = omx_wire_get8(b, 26);
	if (c->is_reply)
		c->target_session_id = omx_wire_get32(b, 20);
	else
		c->app_key = omx_wire_get32(b, 20);
	c->target_recv_seqnum_start = omx_wire_get16(b, 24);
	c->connect_seqnum = omx_wire_get8(b, 27);
	if (c->is_reply)
		c->status_code = omx_wire_get8(b, 28);
}

/* ---- TRUC / LIBACK ------------------------------------------------------ */

struct omx_wire_liback {
	uint8_t dst_endpoint;
	uint8_t src_endpoint;
	uint8_t src_generation;
	uint8_t length;               /* 16: the TRUC data that follows byte 12 */
	uint32_t session;             /* the destination's session (partner back session) */
	uint8_t type;                 /* OMX_TRUC_DATA_TYPE_ACK */
	uint16_t lib_seqnum;          /* ack value: every seqnum below is received */
	uint32_t session_id;          /* must equal session */
	uint32_t acknum;              /* monotonic per partner */
	uint16_t send_seq;
	uint8_t resent;
};

static inline void omx_wire_liback_encode(uint8_t *b, const struct omx_wire_liback *a)
{
	memset(b, 0, OMX_WIRE_TRUC_LEN);
	omx_wire_put8(b, 0, OMX_PKT_TYPE_TRUC);
	omx_wire_put8(b, 1, a->dst_endpoint);
	omx_wire_put8(b, 2, a->src_endpoint);
	omx_wire_put8(b, 3, a->src_generation);
	omx_wire_put8(b, 4, a->length);
	omx_wire_put32(b, 8, a->session);
	omx_wire_put8(b, 12, a->type);
	omx_wire_put16(b, 14, a->lib_seqnum);
	omx_wire_put32(b, 16, a->session_id);
	omx_wire_put32(b, 20, a->acknum);
	omx_wire_put16(b, 24, a->send_seq);
	omx_wire_put8(b, 26, a->resent);
}

static inline void omx_wire_liback_decode(const uint8_t *b, struct omx_wire_liback *a)
{
	a->dst_endpoint = omx_wire_get8(b, 1);
	a->src_endpoint = omx_wire_get8(b, 2);
	a->src_generation = omx_wire_get8(b, 3);
	a->length = omx_wire_get8(b, 4);
	a->session = omx_wire_get32(b, 8);
	a->type = omx_wire_get8(b, 12);
	a->lib_seqnum = omx_wire_get16(b, 14);
	a->session_id = omx_wire_get32(b, 16);
	a->acknum = omx_wire_get32(b, 20);
	a->send_seq = omx_wire_get16(b, 24);
	a->resent = omx_wire_get8(b, 26);
}

/* ---- PULL, PULL_REPLY, NOTIFY (large messages) ------------------------- */

struct omx_wire_pull {
	uint8_t dst_endpoint;
	uint8_t src_endpoint;
	uint32_t session;
	uint32_t total_length;
	uint32_t pulled_rdma_id;
	uint8_t pulled_rdma_seqnum;
	uint32_t pulled_rdma_offset;
	uint32_t src_pull_handle;
	uint32_t src_magic;
	uint32_t first_frame_offset;
	uint32_t block_length;
	uint32_t frame_index;
};

static inline void omx_wire_pull_encode(uint8_t *b, const struct omx_wire_pull *p)
{
	memset(b, 0, OMX_WIRE_PULL_LEN);
	omx_wire_put8(b, 0, OMX_PKT_TYPE_PULL);
	omx_wire_put8(b, 1, p->dst_endpoint);
	omx_wire_put8(b, 2, p->src_endpoint);
	omx_wire_put32(b, 4, p->session);
	omx_wire_put32(b, 8, p->total_length);
	omx_wire_put32(b, 12, p->pulled_rdma_id);
	omx_wire_put8(b, 16, p->pulled_rdma_seqnum);
	omx_wire_put32(b, 20, p->pulled_rdma_offset);
	omx_wire_put32(b, 24, p->src_pull_handle);
	omx_wire_put32(b, 28, p->src_magic);
	omx_wire_put32(b, 32, p->first_frame_offset);
	omx_wire_put32(b, 36, p->block_length);
	omx_wire_put32(b, 40, p->frame_index);
}

static inline void omx_wire_pull_decode(const uint8_t *b, struct omx_wire_pull *p)
{
	p->dst_endpoint = omx_wire_get8(b, 1);
	p->src_endpoint = omx_wire_get8(b, 2);
	p->session = omx_wire_get32(b, 4);
	p->total_length = omx_wire_get32(b, 8);
	p->pulled_rdma_id = omx_wire_get32(b, 12);
	p->pulled_rdma_seqnum = omx_wire_get8(b, 16);
	p->pulled_rdma_offset = omx_wire_get32(b, 20);
	p->src_pull_handle = omx_wire_get32(b, 24);
	p->src_magic = omx_wire_get32(b, 28);
	p->first_frame_offset = omx_wire_get32(b, 32);
	p->block_length = omx_wire_get32(b, 36);
	p->frame_index = omx_wire_get32(b, 40);
}

struct omx_wire_pull_reply {
	uint8_t frame_seqnum;         /* frame index mod 256 */
	uint16_t frame_length;
	uint32_t msg_offset;
	uint32_t dst_pull_handle;
	uint32_t dst_magic;
};

static inline void omx_wire_pull_reply_encode(uint8_t *b, const struct omx_wire_pull_reply *r)
{
	omx_wire_put8(b, 0, OMX_PKT_TYPE_PULL_REPLY);
	omx_wire_put8(b, 1, r->frame_seqnum);
	omx_wire_put16(b, 2, r->frame_length);
	omx_wire_put32(b, 4, r->msg_offset);
	omx_wire_put32(b, 8, r->dst_pull_handle);
	omx_wire_put32(b, 12, r->dst_magic);
}

static inline void omx_wire_pull_reply_decode(const uint8_t *b, struct omx_wire_pull_reply *r)
{
	r->frame_seqnum = omx_wire_get8(b, 1);
	r->frame_length = omx_wire_get16(b, 2);
	r->msg_offset = omx_wire_get32(b, 4);
	r->dst_pull_handle = omx_wire_get32(b, 8);
	r->dst_magic = omx_wire_get32(b, 12);
}

struct omx_wire_notify {
	uint8_t dst_endpoint;
	uint8_t src_endpoint;
	uint32_t session;
	uint32_t total_length;        /* bytes actually pulled */
	uint8_t pulled_rdma_id;
	uint8_t pulled_rdma_seqnum;
	uint16_t lib_seqnum;
	uint16_t lib_piggyack;
};

static inline void omx_wire_notify_encode(uint8_t *b, const struct omx_wire_notify *n)
{
	memset(b, 0, OMX_WIRE_NOTIFY_LEN);
	omx_wire_put8(b, 0, OMX_PKT_TYPE_NOTIFY);
	omx_wire_put8(b, 1, n->dst_endpoint);
	omx_wire_put8(b, 2, n->src_endpoint);
	omx_wire_put32(b, 4, n->session);
	omx_wire_put32(b, 8, n->total_length);
	omx_wire_put8(b, 12, n->pulled_rdma_id);
	omx_wire_put8(b, 13, n->pulled_rdma_seqnum);
	omx_wire_put16(b, 18, n->lib_seqnum);
	omx_wire_put16(b, 20, n->lib_piggyack);
}

static inline void omx_wire_notify_decode(const uint8_t *b, struct omx_wire_notify *n)
{
	n->dst_endpoint = omx_wire_get8(b, 1);
	n->src_endpoint = omx_wire_get8(b, 2);
	n->session = omx_wire_get32(b, 4);
	n->total_length = omx_wire_get32(b, 8);
	n->pulled_rdma_id = omx_wire_get8(b, 12);
	n->pulled_rdma_seqnum = omx_wire_get8(b, 13);
	n->lib_seqnum = omx_wire_get16(b, 18);
	n->lib_piggyack = omx_wire_get16(b, 20);
}

/* ---- NACK_LIB, NACK_MCP ------------------------------------------------- */

struct omx_wire_nack_lib {
	uint8_t src_endpoint;         /* the nacker: the original destination */
	uint8_t nack_type;
	uint8_t dst_endpoint;         /* the original sender */
	uint16_t dst_src_peer_index;  /* copy of the nacked frame's head field */
	uint16_t lib_seqnum;          /* of the nacked message */
};

static inline void omx_wire_nack_lib_encode(uint8_t *b, const struct omx_wire_nack_lib *n)
{
	memset(b, 0, OMX_WIRE_NACK_LIB_LEN);
	omx_wire_put8(b, 0, OMX_PKT_TYPE_NACK_LIB);
	omx_wire_put8(b, 1, n->src_endpoint);
	omx_wire_put8(b, 3, n->nack_type);
	omx_wire_put8(b, 9, n->dst_endpoint);
	omx_wire_put16(b, 10, n->dst_src_peer_index);
	omx_wire_put16(b, 12, n->lib_seqnum);
}

static inline void omx_wire_nack_lib_decode(const uint8_t *b, struct omx_wire_nack_lib *n)
{
	n->src_endpoint = omx_wire_get8(b, 1);
	n->nack_type = omx_wire_get8(b, 3);
	n->dst_endpoint = omx_wire_get8(b, 9);
	n->dst_src_peer_index = omx_wire_get16(b, 10);
	n->lib_seqnum = omx_wire_get16(b, 12);
}

struct omx_wire_nack_mcp {
	uint8_t src_endpoint;
	uint8_t nack_type;
	uint32_t src_pull_handle;
	uint32_t src_magic;
};

static inline void omx_wire_nack_mcp_encode(uint8_t *b, const struct omx_wire_nack_mcp *n)
{
	memset(b, 0, OMX_WIRE_NACK_MCP_LEN);
	omx_wire_put8(b, 0, OMX_PKT_TYPE_NACK_MCP);
	omx_wire_put8(b, 1, n->src_endpoint);
	omx_wire_put8(b, 3, n->nack_type);
	omx_wire_put32(b, 8, n->src_pull_handle);
	omx_wire_put32(b, 12, n->src_magic);
}

static inline void omx_wire_nack_mcp_decode(const uint8_t *b, struct omx_wire_nack_mcp *n)
{
	n->src_endpoint = omx_wire_get8(b, 1);
	n->nack_type = omx_wire_get8(b, 3);
	n->src_pull_handle = omx_wire_get32(b, 8);
	n->src_magic = omx_wire_get32(b, 12);
}

/* ---- HOST_QUERY / HOST_REPLY ------------------------------------------- */

struct omx_wire_host {
	uint8_t ptype;
	uint8_t hostname_length;      /* reply: including the NUL */
	uint16_t src_dst_peer_index;
	uint32_t magic;
};

static inline void omx_wire_host_encode(uint8_t *b, const struct omx_wire_host *h)
{
	memset(b, 0, OMX_WIRE_HOST_LEN);
	omx_wire_put8(b, 0, h->ptype);
	omx_wire_put8(b, 1, h->hostname_length);
	omx_wire_put16(b, 2, h->src_dst_peer_index);
	omx_wire_put32(b, 8, h->magic);
}

static inline void omx_wire_host_decode(const uint8_t *b, struct omx_wire_host *h)
{
	h->ptype = omx_wire_get8(b, 0);
	h->hostname_length = omx_wire_get8(b, 1);
	h->src_dst_peer_index = omx_wire_get16(b, 2);
	h->magic = omx_wire_get32(b, 8);
}

/* ---- addressing ---------------------------------------------------------- */

#define OMX_WIRE_DST_NONE (-1)        /* truncated: names no endpoint */
#define OMX_WIRE_DST_BOARD (-2)       /* board traffic: HOST_*, RAW, unknown types */

/* The endpoint index a frame is for, as a link demultiplexes it: the
 * dst_endpoint byte of lib messages, CONNECT, TRUC, PULL and NOTIFY; the
 * original sender (body byte 9) for NACK_LIB; the magic for PULL_REPLY and
 * NACK_MCP, which carry no endpoint byte. */
static inline int omx_wire_dst_endpoint(const uint8_t *frame, uint32_t len)
{
	const uint8_t *b = frame + OMX_WIRE_HEAD_LEN;
	uint32_t blen, ep;

	if (len <= OMX_WIRE_HEAD_LEN)
		return OMX_WIRE_DST_NONE;
	blen = len - OMX_WIRE_HEAD_LEN;
	switch (b[0]) {
	case OMX_PKT_TYPE_TRUC:
	case OMX_PKT_TYPE_CONNECT:
	case OMX_PKT_TYPE_TINY:
	case OMX_PKT_TYPE_SMALL:
	case OMX_PKT_TYPE_MEDIUM:
	case OMX_PKT_TYPE_RNDV:
	case OMX_PKT_TYPE_PULL:
	case OMX_PKT_TYPE_NOTIFY:
		return blen > 1 ? b[1] : OMX_WIRE_DST_NONE;
	case OMX_PKT_TYPE_NACK_LIB:
		return blen > 9 ? b[9] : OMX_WIRE_DST_NONE;
	case OMX_PKT_TYPE_PULL_REPLY:
	case OMX_PKT_TYPE_NACK_MCP:
		if (blen < 16)
			return OMX_WIRE_DST_NONE;
		ep = omx_wire_get32(b, 12) ^ OMX_PULL_MAGIC_XOR;
		return ep < OMX_ENDPOINT_INDEX_MAX ? (int)ep : OMX_WIRE_DST_NONE;
	default:
		return OMX_WIRE_DST_BOARD;
	}
}

/* ---- frame check sequence ---------------------------------------------- */

/* CRC32C over bytes [0, len): see omx_wire_fcs.c.  Appended big-endian. */
uint32_t omx_wire_crc32c(const void *data, size_t len);

/* Size classes and medium fragment length for a link MTU (Open-MX's rule:
 * the largest of 8192/4096 that fits, or MTU minus headers when below 4096). */
static inline uint32_t omx_wire_medium_frag_max(uint32_t mtu)
{
	uint32_t room = mtu - OMX_WIRE_HEAD_LEN - OMX_WIRE_MEDIUM_LEN - OMX_WIRE_FCS_LEN;
	if (room >= 8192)
		return 8192;
	if (room >= 4096)
		return 4096;
	return room;
}

/* Pull reply payload per frame for a link MTU. */
static inline uint32_t omx_wire_pull_reply_max(uint32_t mtu)
{
	return mtu - OMX_WIRE_HEAD_LEN - OMX_WIRE_PULL_REPLY_LEN - OMX_WIRE_FCS_LEN;
}

#endif /* OMX_WIRE_H */
