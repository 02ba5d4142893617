/*
 * omx_drv_recv.c - the receive demux, run by progress and by a waiter whose
 * port became readable, always under the endpoint lock.
 *
 * Order per frame: frame length, EtherType, destination board, trailer;
 * then a handler chosen by packet type checks its header length, the
 * declared lengths, the source peer, the endpoint (NACK_LIB) and the session
 * (NACK_LIB) before anything indexes a table or is copied.  Every refusal
 * bumps one DROP_* counter; nothing on the wire can stop the process.
 */
#include <string.h>

#include "omx_drv_shared.h"

struct omx_drv_rx {
	const uint8_t *frame;
	const uint8_t *body;
	uint32_t body_len;            /* trailer already stripped */
	struct omx_wire_head head;
};

typedef int (*omx_drv_rx_handler_t)(struct omx_drv_ep *ep, const struct omx_drv_rx *rx);

static int omx_drv_rx_drop(struct omx_drv_ep *ep, enum omx_abi_counter c)
{
	omx_drv_count(ep->board, c);
	return 0;
}

/* The next unexpected slot, or NULL (counted, desc flag set) when the lib
 * has not released enough: the frame is dropped and the sender resends. */
static union omx_abi_event *omx_drv_unexp_begin(struct omx_drv_ep *ep)
{
	/* Local senders produce into the same queue (omx_drv_shared.h): the
	 * slot is ours, under the queue's lock, until the publish. */
	union omx_abi_event *ev = omx_drv_uq_begin(ep->shm, ep->unexp_q.slots, ep->unexp_q.entries);

	if (!ev) {
		omx_drv_count(ep->board, OMX_COUNTER_UNEXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_UNEXP_EVENTQ_FULL, __ATOMIC_RELAXED);
	}
	return ev;
}

/* The recvq slot bound to the event being produced (same index). */
static uint32_t omx_drv_recvq_offset(const struct omx_drv_ep *ep)
{
	return (omx_drv_uq_index(ep->shm) & (ep->layout.recvq_entries - 1)) * ep->layout.slot_size;
}

/* The sender's index in our table.  The head's index is only a hint: it is
 * trusted only when that entry holds the frame's source address. */
static uint32_t omx_drv_rx_peer(struct omx_drv_ep *ep, const struct omx_drv_rx *rx,
				enum omx_abi_counter *why)
{
	uint16_t hint = rx->head.dst_src_peer_index;
	uint64_t addr;
	uint32_t i;

	if (hint != OMX_WIRE_UNKNOWN_PEER_INDEX && omx_drv_peer_addr(ep->drv, hint, &addr, NULL) == 0 &&
	    addr == rx->head.src_addr)
		return hint;
	i = omx_drv_peer_find(ep->drv, rx->head.src_addr);
	if (i == OMX_DRV_PEER_NONE)
		*why = hint != OMX_WIRE_UNKNOWN_PEER_INDEX && hint >= omx_drv_peer_count(ep->drv)
		       ? OMX_COUNTER_DROP_BAD_PEER_INDEX : OMX_COUNTER_DROP_BAD_PEER_ADDR;
	return i;
}

static uint32_t omx_drv_rx_peer_by_addr(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	return omx_drv_peer_find(ep->drv, rx->head.src_addr);
}

/* 1 when dst_ep is this open endpoint; otherwise counts, nacks, returns 0. */
static int omx_drv_rx_endpoint_ok(struct omx_drv_ep *ep, const struct omx_drv_rx *rx, uint32_t peer,
				  uint8_t dst_ep, uint8_t src_ep, uint16_t seqnum)
{
	uint8_t type;

	if (dst_ep >= ep->drv->cfg.endpoint_max)
		type = OMX_NACK_TYPE_BAD_ENDPT;
	else if (dst_ep != ep->index || __atomic_load_n(&ep->state, __ATOMIC_RELAXED) != OMX_DRV_EP_OK)
		type = OMX_NACK_TYPE_ENDPT_CLOSED;
	else
		return 1;
	omx_drv_count(ep->board, OMX_COUNTER_DROP_BAD_ENDPOINT);
	omx_drv_send_nack_lib(ep, rx->head.src_addr, peer, rx->head.dst_src_peer_index,
			      dst_ep, src_ep, seqnum, type);
	return 0;
}

/* Endpoint (NACK_LIB) then session (NACK_LIB BAD_SESSION) of a seqnum'd lib
 * message; 1 when both are this endpoint's. */
static int omx_drv_rx_lib_dest_ok(struct omx_drv_ep *ep, const struct omx_drv_rx *rx, uint32_t peer,
				  uint8_t dst_ep, uint8_t src_ep, uint16_t seqnum, uint32_t session)
{
	if (!omx_drv_rx_endpoint_ok(ep, rx, peer, dst_ep, src_ep, seqnum))
		return 0;
	if (session == ep->session)
		return 1;
	omx_drv_count(ep->board, OMX_COUNTER_DROP_BAD_SESSION);
	omx_drv_send_nack_lib(ep, rx->head.src_addr, peer, rx->head.dst_src_peer_index,
			      dst_ep, src_ep, seqnum, OMX_NACK_TYPE_BAD_SESSION);
	return 0;
}

/* ---- TINY, SMALL, MEDIUM ------------------------------------------------- */

static int omx_drv_rx_msg(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	uint8_t ptype = rx->body[0];
	uint32_t hdr_len = ptype == OMX_PKT_TYPE_MEDIUM ? OMX_WIRE_MEDIUM_LEN : OMX_WIRE_MSG_LEN;
	enum omx_abi_counter why;
	struct omx_wire_msg m;
	union omx_abi_event *ev;
	uint32_t plen, peer, off;
	int bad;

	if (rx->body_len < hdr_len)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_msg_decode(rx->body, &m);
	switch (ptype) {
	case OMX_PKT_TYPE_TINY:
		plen = m.length;
		bad = plen > OMX_TINY_MSG_LENGTH_MAX;
		break;
	case OMX_PKT_TYPE_SMALL:
		plen = m.length;
		bad = plen > OMX_SMALL_MSG_LENGTH_MAX;
		break;
	default:
		plen = m.frag_length;
		bad = plen > ep->board->medium_frag_max || m.frag_seqnum >= OMX_MEDIUM_FRAGS_MAX ||
		      plen > m.length;
		break;
	}
	if (bad)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_DATALEN);
	if (hdr_len + plen > rx->body_len)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	peer = omx_drv_rx_peer(ep, rx, &why);
	if (peer == OMX_DRV_PEER_NONE)
		return omx_drv_rx_drop(ep, why);
	if (!omx_drv_rx_lib_dest_ok(ep, rx, peer, m.dst_endpoint, m.src_endpoint, m.lib_seqnum, m.session))
		return 0;

	ev = omx_drv_unexp_begin(ep);
	if (!ev)
		return 0;
	/* recv_tiny/small/medium_frag share the message head. */
	ev->recv_tiny.head.peer_index = (uint16_t)peer;
	ev->recv_tiny.head.src_endpoint = m.src_endpoint;
	ev->recv_tiny.head.seqnum = m.lib_seqnum;
	ev->recv_tiny.head.piggyack = m.lib_piggyack;
	ev->recv_tiny.head.match_info = m.match_info;
	switch (ptype) {
	case OMX_PKT_TYPE_TINY:
		ev->recv_tiny.length = (uint16_t)plen;
		ev->recv_tiny.checksum = m.checksum;
		memcpy(ev->recv_tiny.data, rx->body + hdr_len, plen);
		omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_TINY);
		omx_drv_count(ep->board, OMX_COUNTER_RECV_TINY);
		break;
	case OMX_PKT_TYPE_SMALL:
		off = omx_drv_recvq_offset(ep);
		memcpy(ep->recvq + off, rx->body + hdr_len, plen);
		ev->recv_small.recvq_offset = off;
		ev->recv_small.length = (uint16_t)plen;
		ev->recv_small.checksum = m.checksum;
		omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_SMALL);
		omx_drv_count(ep->board, OMX_COUNTER_RECV_SMALL);
		break;
	default:
		off = omx_drv_recvq_offset(ep);
		memcpy(ep->recvq + off, rx->body + hdr_len, plen);
		ev->recv_medium_frag.recvq_offset = off;
		ev->recv_medium_frag.msg_length = m.length;
		ev->recv_medium_frag.frag_length = (uint16_t)plen;
		ev->recv_medium_frag.frag_seqnum = m.frag_seqnum;
		ev->recv_medium_frag.frag_pipeline = m.frag_pipeline;
		ev->recv_medium_frag.checksum = m.checksum;
		omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_MEDIUM_FRAG);
		omx_drv_count(ep->board, OMX_COUNTER_RECV_MEDIUM_FRAG);
		break;
	}
	return 1;
}

/* ---- RNDV, NOTIFY ---------------------------------------------------------- */

static int omx_drv_rx_rndv(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	enum omx_abi_counter why;
	struct omx_wire_msg m;
	union omx_abi_event *ev;
	uint32_t peer;

	if (rx->body_len < OMX_WIRE_RNDV_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_msg_decode(rx->body, &m);
	/* The declared length is that of the rndv data after the msg header. */
	if (m.length != OMX_WIRE_RNDV_LEN - OMX_WIRE_MSG_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_DATALEN);
	peer = omx_drv_rx_peer(ep, rx, &why);
	if (peer == OMX_DRV_PEER_NONE)
		return omx_drv_rx_drop(ep, why);
	if (!omx_drv_rx_lib_dest_ok(ep, rx, peer, m.dst_endpoint, m.src_endpoint, m.lib_seqnum, m.session))
		return 0;

	ev = omx_drv_unexp_begin(ep);
	if (!ev)
		return 0;
	ev->recv_rndv.head.peer_index = (uint16_t)peer;
	ev->recv_rndv.head.src_endpoint = m.src_endpoint;
	ev->recv_rndv.head.seqnum = m.lib_seqnum;
	ev->recv_rndv.head.piggyack = m.lib_piggyack;
	ev->recv_rndv.head.match_info = m.match_info;
	ev->recv_rndv.msg_length = m.msg_length;
	ev->recv_rndv.pulled_rdma_id = m.pulled_rdma_id;
	ev->recv_rndv.pulled_rdma_seqnum = m.pulled_rdma_seqnum;
	ev->recv_rndv.pulled_rdma_offset = m.pulled_rdma_offset;
	omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_RNDV);
	omx_drv_count(ep->board, OMX_COUNTER_RECV_RNDV);
	return 1;
}

static int omx_drv_rx_notify(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	enum omx_abi_counter why;
	struct omx_wire_notify n;
	union omx_abi_event *ev;
	uint32_t peer;

	if (rx->body_len < OMX_WIRE_NOTIFY_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_notify_decode(rx->body, &n);
	peer = omx_drv_rx_peer(ep, rx, &why);
	if (peer == OMX_DRV_PEER_NONE)
		return omx_drv_rx_drop(ep, why);
	if (!omx_drv_rx_lib_dest_ok(ep, rx, peer, n.dst_endpoint, n.src_endpoint, n.lib_seqnum, n.session))
		return 0;

	ev = omx_drv_unexp_begin(ep);
	if (!ev)
		return 0;
	ev->recv_notify.head.peer_index = (uint16_t)peer;
	ev->recv_notify.head.src_endpoint = n.src_endpoint;
	ev->recv_notify.head.seqnum = n.lib_seqnum;
	ev->recv_notify.head.piggyack = n.lib_piggyack;
	ev->recv_notify.length = n.total_length;
	ev->recv_notify.pulled_rdma_id = n.pulled_rdma_id;
	ev->recv_notify.pulled_rdma_seqnum = n.pulled_rdma_seqnum;
	omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_NOTIFY);
	omx_drv_count(ep->board, OMX_COUNTER_RECV_NOTIFY);
	return 1;
}

/* ---- PULL (data owner), PULL_REPLY and NACK_MCP (puller) ------------------- */

/* The NACK_MCP for a refused PULL goes back to its source, echoing its handle. */
static void omx_drv_rx_pull_nack(struct omx_drv_ep *ep, const struct omx_drv_rx *rx, uint32_t peer,
				 const struct omx_wire_pull *p, uint8_t type)
{
	struct omx_wire_head head;

	head.dst_addr = rx->head.src_addr;
	head.src_addr = ep->board->addr;
	head.dst_src_peer_index = __atomic_load_n(&ep->board->reverse_peer_index[peer], __ATOMIC_RELAXED);
	omx_drv_send_nack_mcp_locked(ep, &head, p->dst_endpoint, type, p->src_pull_handle, p->src_magic);
}

static int omx_drv_rx_pull(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	uint64_t R = ep->board->pull_reply_max, nr;
	struct omx_drv_region *region;
	enum omx_abi_counter why;
	struct omx_wire_head head;
	struct omx_wire_pull p;
	int64_t start;
	uint32_t peer;

	if (rx->body_len < OMX_WIRE_PULL_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_pull_decode(rx->body, &p);
	peer = omx_drv_rx_peer(ep, rx, &why);
	if (peer == OMX_DRV_PEER_NONE)
		return omx_drv_rx_drop(ep, why);
	if (p.dst_endpoint >= ep->drv->cfg.endpoint_max || p.dst_endpoint != ep->index ||
	    __atomic_load_n(&ep->state, __ATOMIC_RELAXED) != OMX_DRV_EP_OK) {
		omx_drv_count(ep->board, OMX_COUNTER_DROP_BAD_ENDPOINT);
		omx_drv_rx_pull_nack(ep, rx, peer, &p, p.dst_endpoint >= ep->drv->cfg.endpoint_max
				     ? OMX_NACK_TYPE_BAD_ENDPT : OMX_NACK_TYPE_ENDPT_CLOSED);
		return 0;
	}
	if (p.session != ep->session) {
		omx_drv_count(ep->board, OMX_COUNTER_DROP_BAD_SESSION);
		omx_drv_rx_pull_nack(ep, rx, peer, &p, OMX_NACK_TYPE_BAD_SESSION);
		return 0;
	}
	nr = ((uint64_t)p.first_frame_offset + p.block_length + R - 1) / R;
	if (p.first_frame_offset >= R || p.block_length == 0 || nr > OMX_PULL_REPLY_PER_BLOCK)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_PULL_BAD_REPLIES);
	region = omx_drv_region_get_locked(ep, p.pulled_rdma_id);
	if (!region) {
		omx_drv_count(ep->board, OMX_COUNTER_DROP_PULL_BAD_REGION);
		omx_drv_rx_pull_nack(ep, rx, peer, &p, OMX_NACK_TYPE_BAD_RDMAWIN);
		return 0;
	}
	/* Frame f of the pull starts at f*R - offset%R: the frames after the first
	 * fall on reply boundaries of the region (digest 1.5 step 4). */
	start = (int64_t)p.frame_index * (int64_t)R - (int64_t)(p.pulled_rdma_offset % R) +
		(int64_t)p.first_frame_offset;
	if (start < 0 || (uint64_t)start + p.block_length > p.total_length ||
	    (uint64_t)p.pulled_rdma_offset + p.total_length > region->length) {
		omx_drv_region_put_locked(region);
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_PULL_BAD_OFFSET_LENGTH);
	}
	omx_drv_count(ep->board, OMX_COUNTER_RECV_PULL_REQ);
	head.dst_addr = rx->head.src_addr;
	head.src_addr = ep->board->addr;
	head.dst_src_peer_index = __atomic_load_n(&ep->board->reverse_peer_index[peer], __ATOMIC_RELAXED);
	omx_drv_send_pull_replies_locked(ep, &head, &p, region, (uint64_t)start, (uint32_t)nr);
	omx_drv_region_put_locked(region);
	return 0;
}

static int omx_drv_rx_pull_reply(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	struct omx_wire_pull_reply r;

	if (rx->body_len < OMX_WIRE_PULL_REPLY_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_pull_reply_decode(rx->body, &r);
	if (OMX_WIRE_PULL_REPLY_LEN + (uint32_t)r.frame_length > rx->body_len)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	return omx_drv_pull_reply_locked(ep, rx->head.src_addr, &r, rx->body + OMX_WIRE_PULL_REPLY_LEN);
}

static int omx_drv_rx_nack_mcp(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	struct omx_wire_nack_mcp n;

	if (rx->body_len < OMX_WIRE_NACK_MCP_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_nack_mcp_decode(rx->body, &n);
	if (n.nack_type < OMX_NACK_TYPE_BAD_ENDPT || n.nack_type > OMX_NACK_TYPE_BAD_RDMAWIN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_DATALEN);
	return omx_drv_pull_nack_locked(ep, rx->head.src_addr, &n);
}

/* ---- CONNECT --------------------------------------------------------------- */

static int omx_drv_rx_connect(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	struct omx_wire_connect c;
	union omx_abi_event *ev;
	uint32_t peer;

	if (rx->body_len < OMX_WIRE_CONNECT_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	if (omx_wire_get8(rx->body, 4) < 16)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_DATALEN);
	omx_wire_connect_decode(rx->body, &c);
	/* By address only: a connecting peer may not know its index in our table. */
	peer = omx_drv_rx_peer_by_addr(ep, rx);
	if (peer == OMX_DRV_PEER_NONE)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_PEER_ADDR);
	/* Our index in the sender's table: put in the head of what we send it. */
	__atomic_store_n(&ep->board->reverse_peer_index[peer], c.src_dst_peer_index, __ATOMIC_RELAXED);
	if (!omx_drv_rx_endpoint_ok(ep, rx, peer, c.dst_endpoint, c.src_endpoint, c.lib_seqnum))
		return 0;

	ev = omx_drv_unexp_begin(ep);
	if (!ev)
		return 0;
	if (c.is_reply) {
		ev->recv_connect_reply.peer_index = (uint16_t)peer;
		ev->recv_connect_reply.src_endpoint = c.src_endpoint;
		ev->recv_connect_reply.src_session_id = c.src_session_id;
		ev->recv_connect_reply.target_session_id = c.target_session_id;
		ev->recv_connect_reply.target_recv_seqnum_start = c.target_recv_seqnum_start;
		ev->recv_connect_reply.connect_seqnum = c.connect_seqnum;
		ev->recv_connect_reply.status_code = c.status_code;
		omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_CONNECT_REPLY);
		omx_drv_count(ep->board, OMX_COUNTER_RECV_CONNECT_REPLY);
	} else {
		ev->recv_connect_request.peer_index = (uint16_t)peer;
		ev->recv_connect_request.src_endpoint = c.src_endpoint;
		ev->recv_connect_request.src_session_id = c.src_session_id;
		ev->recv_connect_request.app_key = c.app_key;
		ev->recv_connect_request.target_recv_seqnum_start = c.target_recv_seqnum_start;
		ev->recv_connect_request.connect_seqnum = c.connect_seqnum;
		omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_CONNECT_REQUEST);
		omx_drv_count(ep->board, OMX_COUNTER_RECV_CONNECT_REQUEST);
	}
	return 1;
}

/* ---- TRUC (liback): never nacked ------------------------------------------ */

static int omx_drv_rx_truc(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	enum omx_abi_counter why;
	struct omx_wire_liback a;
	union omx_abi_event *ev;
	uint32_t peer;

	if (rx->body_len < OMX_WIRE_TRUC_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_liback_decode(rx->body, &a);
	if (a.length < 16 || a.type != OMX_TRUC_DATA_TYPE_ACK)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_DATALEN);
	peer = omx_drv_rx_peer(ep, rx, &why);
	if (peer == OMX_DRV_PEER_NONE)
		return omx_drv_rx_drop(ep, why);
	if (a.dst_endpoint != ep->index || __atomic_load_n(&ep->state, __ATOMIC_RELAXED) != OMX_DRV_EP_OK)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_ENDPOINT);
	if (a.session != ep->session || a.session_id != a.session)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SESSION);

	ev = omx_drv_unexp_begin(ep);
	if (!ev)
		return 0;
	ev->recv_liback.peer_index = (uint16_t)peer;
	ev->recv_liback.src_endpoint = a.src_endpoint;
	ev->recv_liback.acknum = a.acknum;
	ev->recv_liback.lib_seqnum = a.lib_seqnum;
	ev->recv_liback.send_seq = a.send_seq;
	ev->recv_liback.resent = a.resent;
	omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_LIBACK);
	omx_drv_count(ep->board, OMX_COUNTER_RECV_LIBACK);
	return 1;
}

/* ---- NACK_LIB -------------------------------------------------------------- */

static int omx_drv_rx_nack_lib(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	struct omx_wire_nack_lib n;
	union omx_abi_event *ev;
	uint32_t peer;

	if (rx->body_len < OMX_WIRE_NACK_LIB_LEN)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_nack_lib_decode(rx->body, &n);
	if (n.nack_type < OMX_NACK_TYPE_BAD_ENDPT || n.nack_type > OMX_NACK_TYPE_BAD_SESSION)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_DATALEN);
	peer = omx_drv_rx_peer_by_addr(ep, rx);
	if (peer == OMX_DRV_PEER_NONE)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_PEER_ADDR);
	if (n.dst_endpoint != ep->index || __atomic_load_n(&ep->state, __ATOMIC_RELAXED) != OMX_DRV_EP_OK)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_ENDPOINT);

	ev = omx_drv_unexp_begin(ep);
	if (!ev)
		return 0;
	ev->recv_nack_lib.peer_index = (uint16_t)peer;
	ev->recv_nack_lib.src_endpoint = n.src_endpoint;
	ev->recv_nack_lib.seqnum = n.lib_seqnum;
	ev->recv_nack_lib.nack_type = n.nack_type;
	omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_NACK_LIB);
	omx_drv_count(ep->board, OMX_COUNTER_RECV_NACK_LIB);
	return 1;
}

/* ---- everything else -------------------------------------------------------- */

static int omx_drv_rx_unknown(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	(void)rx;
	return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_UNKNOWN_TYPE);
}

static int omx_drv_rx_invalid(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	(void)rx;
	return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_INVALID_TYPE);
}

/* Board-level frames reach endpoint 0's port (omx_drv_hostq.c says who serves). */
static int omx_drv_rx_host_xmit(void *ctx, const uint8_t *frame, uint32_t len)
{
	struct omx_drv_ep *ep = ctx;
	struct omx_link_frame f = { .data = (void *)frame, .len = len };

	return ep->board->link->ops->port_send(ep->port, &f, 1) == 0 ? 0 : OMX_ABI_EIO;
}

static int omx_drv_rx_host(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	omx_drv_hostq_rx(ep->drv, ep->board, 0, rx->frame, OMX_WIRE_HEAD_LEN + rx->body_len,
			 omx_drv_rx_host_xmit, ep);
	return 0;
}

/* RAW frames belong to the raw interface, which receives its own copy. */
static int omx_drv_rx_raw(struct omx_drv_ep *ep, const struct omx_drv_rx *rx)
{
	(void)rx;
	if (omx_drv_hostq_ep_serves(ep->board))
		omx_drv_count(ep->board, OMX_COUNTER_DROP_NOSYS_TYPE);
	return 0;
}

/* Unlisted types (NULL) are unknown, as NONE is. */
static const omx_drv_rx_handler_t omx_drv_rx_handlers[OMX_PKT_TYPE_MAX] = {
	[OMX_PKT_TYPE_NONE] = omx_drv_rx_unknown,
	[OMX_PKT_TYPE_RAW] = omx_drv_rx_raw,
	[OMX_PKT_TYPE_MFM_NIC_REPLY] = omx_drv_rx_invalid,
	[OMX_PKT_TYPE_HOST_QUERY] = omx_drv_rx_host,
	[OMX_PKT_TYPE_HOST_REPLY] = omx_drv_rx_host,
	[OMX_PKT_TYPE_ETHER_UNICAST] = omx_drv_rx_invalid,
	[OMX_PKT_TYPE_ETHER_MULTICAST] = omx_drv_rx_invalid,
	[OMX_PKT_TYPE_ETHER_NATIVE] = omx_drv_rx_invalid,
	[OMX_PKT_TYPE_TRUC] = omx_drv_rx_truc,
	[OMX_PKT_TYPE_CONNECT] = omx_drv_rx_connect,
	[OMX_PKT_TYPE_TINY] = omx_drv_rx_msg,
	[OMX_PKT_TYPE_SMALL] = omx_drv_rx_msg,
	[OMX_PKT_TYPE_MEDIUM] = omx_drv_rx_msg,
	[OMX_PKT_TYPE_RNDV] = omx_drv_rx_rndv,
	[OMX_PKT_TYPE_PULL] = omx_drv_rx_pull,
	[OMX_PKT_TYPE_PULL_REPLY] = omx_drv_rx_pull_reply,
	[OMX_PKT_TYPE_NOTIFY] = omx_drv_rx_notify,
	[OMX_PKT_TYPE_NACK_LIB] = omx_drv_rx_nack_lib,
	[OMX_PKT_TYPE_NACK_MCP] = omx_drv_rx_nack_mcp,
};

/* Returns the number of events posted for this frame (0 or 1). */
static int omx_drv_rx_frame(struct omx_drv_ep *ep, const uint8_t *frame, uint32_t len)
{
	struct omx_drv_board *b = ep->board;
	uint32_t fcs = b->link->needs_fcs ? OMX_WIRE_FCS_LEN : 0;
	omx_drv_rx_handler_t h;
	struct omx_drv_rx rx;
	unsigned ptype;

	if (len < OMX_WIRE_HEAD_LEN + 1 + fcs || len > b->mtu)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_SKBLEN);
	if (omx_wire_head_ethertype(frame) != OMX_WIRE_ETHERTYPE)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_ETHERTYPE);
	omx_wire_head_decode(frame, &rx.head);
	if (rx.head.dst_addr != b->addr)
		return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_NOT_FOR_US);
	if (fcs) {
		len -= fcs;
		if (omx_wire_crc32c(frame, len) != omx_wire_get32(frame, len))
			return omx_drv_rx_drop(ep, OMX_COUNTER_DROP_BAD_CHECKSUM);
	}
	rx.frame = frame;
	rx.body = omx_wire_cbody(frame);
	rx.body_len = len - OMX_WIRE_HEAD_LEN;
	ptype = rx.body[0];
	h = ptype < OMX_PKT_TYPE_MAX ? omx_drv_rx_handlers[ptype] : NULL;
	if (!h)
		h = omx_drv_rx_unknown;
	return h(ep, &rx);
}

int omx_drv_rx_drain_locked(struct omx_drv_ep *ep)
{
	const struct omx_link_ops *ops = ep->board->link->ops;
	uint32_t mtu = ep->board->mtu;
	int posted = 0, n;

	omx_drv_assert_locked(&ep->lock);
	for (unsigned batch = 0; batch < OMX_DRV_RX_BATCHES_MAX; batch++) {
		for (unsigned i = 0; i < OMX_DRV_RX_BATCH; i++) {
			ep->rx_frames[i].data = ep->rx_bufs + (size_t)i * mtu;
			ep->rx_frames[i].len = mtu;
		}
		n = ops->port_recv(ep->port, ep->rx_frames, OMX_DRV_RX_BATCH);
		if (n <= 0)
			break;
		if (n > OMX_DRV_RX_BATCH)
			n = OMX_DRV_RX_BATCH;
		for (int i = 0; i < n; i++)
			posted += omx_drv_rx_frame(ep, ep->rx_frames[i].data, ep->rx_frames[i].len);
		/* Pull replies bound for a frontend point into rx_bufs (omx_drv.h). */
		if (ep->wbatch)
			(void)omx_drv_wbatch_flush(ep->wbatch);
		if (n < OMX_DRV_RX_BATCH)
			break;
	}
	return posted;
}

int omx_drv_progress(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	int posted;

	if (!ep)
		return OMX_ABI_EINVAL;
	pthread_mutex_lock(&ep->lock);
	posted = omx_drv_rx_drain_locked(ep);
	posted += omx_drv_pull_timers_locked(ep, omx_drv_now_jiffies());
	if (ep->index == 0)
		(void)omx_drv_hostq_tick(ep->drv, ep->board, 0, omx_drv_rx_host_xmit, ep);
	pthread_mutex_unlock(&ep->lock);
	omx_drv_shared_tick(ep);
	if (posted)
		omx_drv_kick_waiters(ep);
	omx_drv_ep_put(ep);
	return posted;
}
