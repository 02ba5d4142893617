/*
 * omx_drv_send.c - send commands: validate, build one frame in the
 * endpoint's reusable buffer, transmit it through the endpoint's port.
 *
 * Every command field is checked before anything is built.  A frame the link
 * fails to transmit counts SEND_LINK_ERROR and is otherwise treated as lost
 * on the wire: the library's seqnums and resends recover it, and a medium
 * fragment still completes (its sendq slot is free again).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "omx_drv_shared.h"

/* Bytes on the wire for a body of body_len: padded to the minimum frame,
 * plus the CRC32C trailer when the link wants one. */
static uint32_t omx_drv_frame_len(const struct omx_drv_board *b, uint32_t body_len)
{
	uint32_t len = OMX_WIRE_HEAD_LEN + body_len;

	if (len < OMX_WIRE_MIN_FRAME)
		len = OMX_WIRE_MIN_FRAME;
	if (b->link->needs_fcs)
		len += OMX_WIRE_FCS_LEN;
	return len;
}

/* Fill the head for a peer of our table; EINVAL for an unknown index. */
int omx_drv_tx_head(struct omx_drv_ep *ep, uint32_t peer_index, struct omx_wire_head *head)
{
	if (omx_drv_peer_addr(ep->drv, peer_index, &head->dst_addr, NULL) < 0)
		return OMX_ABI_EINVAL;
	head->src_addr = ep->board->addr;
	head->dst_src_peer_index = __atomic_load_n(&ep->board->reverse_peer_index[peer_index],
						   __ATOMIC_RELAXED);
	return 0;
}

/* Pad a frame holding head + body_len bytes and add the trailer; returns
 * the length to transmit.  The caller checked it against the MTU. */
static uint32_t omx_drv_frame_finish(const struct omx_drv_board *b, uint8_t *frame, uint32_t body_len)
{
	uint32_t len = OMX_WIRE_HEAD_LEN + body_len;

	if (len < OMX_WIRE_MIN_FRAME) {
		memset(frame + len, 0, OMX_WIRE_MIN_FRAME - len);
		len = OMX_WIRE_MIN_FRAME;
	}
	if (b->link->needs_fcs) {
		omx_wire_put32(frame, len, omx_wire_crc32c(frame, len));
		len += OMX_WIRE_FCS_LEN;
	}
	return len;
}

/* Transmit ep->tx_frame holding head + body_len bytes. */
static void omx_drv_xmit_locked(struct omx_drv_ep *ep, uint32_t body_len)
{
	struct omx_drv_board *b = ep->board;
	struct omx_link_frame f;
	int r;

	omx_drv_assert_locked(&ep->lock);
	f.data = ep->tx_frame;
	f.len = omx_drv_frame_finish(b, ep->tx_frame, body_len);
	/* port_send returns how many frames it could not take, or an error. */
	r = b->link->ops->port_send(ep->port, &f, 1);
	if (r != 0)
		omx_drv_count(b, OMX_COUNTER_SEND_LINK_ERROR);
}

/* ---- lib messages: TINY, SMALL, MEDIUM ------------------------------------ */

struct omx_drv_tx_msg {
	struct omx_wire_msg m;
	uint32_t hdr_len;
	const void *payload;          /* NULL: copy from the sendq at sendq_offset */
	uint32_t sendq_offset;
	uint32_t payload_len;
	enum omx_abi_counter counter;
};

static void omx_drv_tx_msg_init(struct omx_drv_tx_msg *t, struct omx_drv_ep *ep, uint8_t ptype,
				const struct omx_abi_send_hdr *hdr)
{
	memset(t, 0, sizeof(*t));
	t->m.ptype = ptype;
	t->m.dst_endpoint = hdr->dest_endpoint;
	t->m.src_endpoint = (uint8_t)ep->index;
	t->m.lib_seqnum = hdr->seqnum;
	t->m.lib_piggyack = hdr->piggyack;
	t->m.match_info = hdr->match_info;
	t->m.session = hdr->session_id;
	t->hdr_len = ptype == OMX_PKT_TYPE_MEDIUM ? OMX_WIRE_MEDIUM_LEN : OMX_WIRE_MSG_LEN;
}

static int omx_drv_tx_msg(struct omx_drv_ep *ep, const struct omx_abi_send_hdr *hdr,
			  const struct omx_drv_tx_msg *t)
{
	struct omx_drv_board *b = ep->board;
	struct omx_wire_head head;
	uint8_t *body;
	int err;

	if (hdr->shared) {
		err = omx_drv_shared_tx_msg(ep, hdr->peer_index, &t->m,
					    t->payload ? t->payload : ep->sendq + t->sendq_offset,
					    t->payload_len, t->sendq_offset);
		if (err != OMX_DRV_SHARED_FALLBACK)
			return err;
	}
	if (omx_drv_frame_len(b, t->hdr_len + t->payload_len) > b->mtu)
		return OMX_ABI_EMSGSIZE;
	err = omx_drv_tx_head(ep, hdr->peer_index, &head);
	if (err)
		return err;

	pthread_mutex_lock(&ep->lock);
	if (t->counter == OMX_COUNTER_SEND_MEDIUMSQ_FRAG && omx_eventq_space(&ep->exp_q) == 0) {
		/* The lib reserves an expected slot per fragment: this is its bug. */
		omx_drv_count(b, OMX_COUNTER_EXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_EXP_EVENTQ_FULL, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&ep->lock);
		return OMX_ABI_EAGAIN;
	}
	omx_wire_head_encode(ep->tx_frame, &head);
	body = omx_wire_body(ep->tx_frame);
	omx_wire_msg_encode(body, &t->m);
	memcpy(body + t->hdr_len, t->payload ? t->payload : ep->sendq + t->sendq_offset, t->payload_len);
	omx_drv_xmit_locked(ep, t->hdr_len + t->payload_len);
	omx_drv_count(b, t->counter);

	if (t->counter == OMX_COUNTER_SEND_MEDIUMSQ_FRAG) {
		union omx_abi_event *ev = omx_eventq_begin(&ep->exp_q);
		ev->send_mediumsq_frag_done.sendq_offset = t->sendq_offset;
		omx_eventq_publish(&ep->exp_q, ev, OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE);
	}
	pthread_mutex_unlock(&ep->lock);
	return 0;
}

int omx_drv_send_tiny(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_tiny *cmd)
{
	struct omx_drv_ep *ep;
	struct omx_drv_tx_msg t;
	int err;

	if (cmd->length > OMX_TINY_MSG_LENGTH_MAX)
		return OMX_ABI_EINVAL;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	omx_drv_tx_msg_init(&t, ep, OMX_PKT_TYPE_TINY, &cmd->hdr);
	t.m.length = cmd->length;
	t.m.checksum = cmd->checksum;
	t.payload = cmd->data;
	t.payload_len = cmd->length;
	t.counter = OMX_COUNTER_SEND_TINY;
	err = omx_drv_tx_msg(ep, &cmd->hdr, &t);
	omx_drv_ep_put(ep);
	return err;
}

int omx_drv_send_small(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_small *cmd)
{
	struct omx_drv_ep *ep;
	struct omx_drv_tx_msg t;
	int err;

	if (cmd->length > OMX_SMALL_MSG_LENGTH_MAX)
		return OMX_ABI_EINVAL;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	omx_drv_tx_msg_init(&t, ep, OMX_PKT_TYPE_SMALL, &cmd->hdr);
	t.m.length = cmd->length;
	t.m.checksum = cmd->checksum;
	t.payload = cmd->data;
	t.payload_len = cmd->length;
	t.counter = OMX_COUNTER_SEND_SMALL;
	err = omx_drv_tx_msg(ep, &cmd->hdr, &t);
	omx_drv_ep_put(ep);
	return err;
}

int omx_drv_send_medium_frag(struct omx_abi_driver *d, uint32_t handle,
			     const struct omx_abi_send_medium_frag *cmd)
{
	struct omx_drv_ep *ep;
	struct omx_drv_tx_msg t;
	int err = OMX_ABI_EINVAL;

	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	if (cmd->frag_length > ep->board->medium_frag_max || cmd->frag_length > cmd->msg_length ||
	    cmd->frag_seqnum >= OMX_MEDIUM_FRAGS_MAX ||
	    cmd->sendq_offset % ep->layout.slot_size ||
	    cmd->sendq_offset / ep->layout.slot_size >= ep->layout.sendq_entries)
		goto out;
	omx_drv_tx_msg_init(&t, ep, OMX_PKT_TYPE_MEDIUM, &cmd->hdr);
	t.m.length = cmd->msg_length;
	t.m.checksum = cmd->checksum;
	t.m.frag_length = cmd->frag_length;
	t.m.frag_seqnum = cmd->frag_seqnum;
	t.m.frag_pipeline = cmd->frag_pipeline;
	t.sendq_offset = cmd->sendq_offset;
	t.payload_len = cmd->frag_length;
	t.counter = OMX_COUNTER_SEND_MEDIUMSQ_FRAG;
	err = omx_drv_tx_msg(ep, &cmd->hdr, &t);
out:
	omx_drv_ep_put(ep);
	return err;
}

int omx_drv_send_rndv(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_rndv *cmd)
{
	struct omx_drv_ep *ep;
	struct omx_drv_tx_msg t;
	int err;

	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	omx_drv_tx_msg_init(&t, ep, OMX_PKT_TYPE_RNDV, &cmd->hdr);
	t.hdr_len = OMX_WIRE_RNDV_LEN;
	/* The length field counts the rndv data that follows the msg header. */
	t.m.length = OMX_WIRE_RNDV_LEN - OMX_WIRE_MSG_LEN;
	t.m.msg_length = cmd->msg_length;
	t.m.pulled_rdma_id = cmd->pulled_rdma_id;
	t.m.pulled_rdma_seqnum = cmd->pulled_rdma_seqnum;
	t.m.pulled_rdma_offset = cmd->pulled_rdma_offset;
	t.payload = "";
	t.counter = OMX_COUNTER_SEND_RNDV;
	err = omx_drv_tx_msg(ep, &cmd->hdr, &t);
	omx_drv_ep_put(ep);
	return err;
}

/* ---- control messages ------------------------------------------------------ */

/* Encode a control body with fill(), then transmit; the body fits any MTU
 * the board accepted (OMX_WIRE_MIN_FRAME + trailer). */
static int omx_drv_tx_ctrl(struct omx_drv_ep *ep, uint32_t peer_index, uint32_t body_len,
			   void (*fill)(uint8_t *body, const void *arg), const void *arg,
			   enum omx_abi_counter counter)
{
	struct omx_wire_head head;
	int err;

	err = omx_drv_tx_head(ep, peer_index, &head);
	if (err)
		return err;
	pthread_mutex_lock(&ep->lock);
	omx_wire_head_encode(ep->tx_frame, &head);
	fill(omx_wire_body(ep->tx_frame), arg);
	omx_drv_xmit_locked(ep, body_len);
	omx_drv_count(ep->board, counter);
	pthread_mutex_unlock(&ep->lock);
	return 0;
}

static void omx_drv_fill_connect(uint8_t *body, const void *arg)
{
	omx_wire_connect_encode(body, arg);
}

static void omx_drv_fill_liback(uint8_t *body, const void *arg)
{
	omx_wire_liback_encode(body, arg);
}

static void omx_drv_fill_notify(uint8_t *body, const void *arg)
{
	omx_wire_notify_encode(body, arg);
}

int omx_drv_send_notify(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_notify *cmd)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	struct omx_wire_notify n;
	int err;

	if (!ep)
		return OMX_ABI_EINVAL;
	memset(&n, 0, sizeof(n));
	n.dst_endpoint = cmd->dest_endpoint;
	n.src_endpoint = (uint8_t)ep->index;
	n.session = cmd->session_id;
	n.total_length = cmd->total_length;
	n.pulled_rdma_id = cmd->pulled_rdma_id;
	n.pulled_rdma_seqnum = cmd->pulled_rdma_seqnum;
	n.lib_seqnum = cmd->seqnum;
	n.lib_piggyack = cmd->piggyack;
	err = cmd->shared ? omx_drv_shared_tx_notify(ep, cmd->peer_index, &n) : OMX_DRV_SHARED_FALLBACK;
	if (err == OMX_DRV_SHARED_FALLBACK)
		err = omx_drv_tx_ctrl(ep, cmd->peer_index, OMX_WIRE_NOTIFY_LEN, omx_drv_fill_notify, &n,
				      OMX_COUNTER_SEND_NOTIFY);
	omx_drv_ep_put(ep);
	return err;
}

int omx_drv_send_connect_request(struct omx_abi_driver *d, uint32_t handle,
				 const struct omx_abi_send_connect_request *cmd)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	struct omx_wire_connect c;
	int err;

	if (!ep)
		return OMX_ABI_EINVAL;
	memset(&c, 0, sizeof(c));
	c.dst_endpoint = cmd->dest_endpoint;
	c.src_endpoint = (uint8_t)ep->index;
	c.src_dst_peer_index = cmd->peer_index;
	c.src_session_id = cmd->src_session_id;
	c.app_key = cmd->app_key;
	c.target_recv_seqnum_start = cmd->target_recv_seqnum_start;
	c.connect_seqnum = cmd->connect_seqnum;
	err = !cmd->shared_disabled ? omx_drv_shared_tx_connect(ep, cmd->peer_index, &c)
				    : OMX_DRV_SHARED_FALLBACK;
	if (err == OMX_DRV_SHARED_FALLBACK)
		err = omx_drv_tx_ctrl(ep, cmd->peer_index, OMX_WIRE_CONNECT_LEN, omx_drv_fill_connect, &c,
				      OMX_COUNTER_SEND_CONNECT_REQUEST);
	omx_drv_ep_put(ep);
	return err;
}

int omx_drv_send_connect_reply(struct omx_abi_driver *d, uint32_t handle,
			       const struct omx_abi_send_connect_reply *cmd)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	struct omx_wire_connect c;
	int err;

	if (!ep)
		return OMX_ABI_EINVAL;
	memset(&c, 0, sizeof(c));
	c.dst_endpoint = cmd->dest_endpoint;
	c.src_endpoint = (uint8_t)ep->index;
	c.src_dst_peer_index = cmd->peer_index;
	c.src_session_id = cmd->src_session_id;
	c.target_session_id = cmd->target_session_id;
	c.target_recv_seqnum_start = cmd->target_recv_seqnum_start;
	c.is_reply = 1;
	c.connect_seqnum = cmd->connect_seqnum;
	c.status_code = cmd->status_code;
	err = !cmd->shared_disabled ? omx_drv_shared_tx_connect(ep, cmd->peer_index, &c)
				    : OMX_DRV_SHARED_FALLBACK;
	if (err == OMX_DRV_SHARED_FALLBACK)
		err = omx_drv_tx_ctrl(ep, cmd->peer_index, OMX_WIRE_CONNECT_LEN, omx_drv_fill_connect, &c,
				      OMX_COUNTER_SEND_CONNECT_REPLY);
	omx_drv_ep_put(ep);
	return err;
}

int omx_drv_send_liback(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_liback *cmd)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	struct omx_wire_liback a;
	int err;

	if (!ep)
		return OMX_ABI_EINVAL;
	memset(&a, 0, sizeof(a));
	a.dst_endpoint = cmd->dest_endpoint;
	a.src_endpoint = (uint8_t)ep->index;
	a.length = 16;
	a.session = cmd->session_id;
	a.type = OMX_TRUC_DATA_TYPE_ACK;
	a.lib_seqnum = cmd->lib_seqnum;
	a.session_id = cmd->session_id;
	a.acknum = cmd->acknum;
	a.send_seq = cmd->send_seq;
	a.resent = cmd->resent;
	err = cmd->shared ? omx_drv_shared_tx_liback(ep, cmd->peer_index, &a) : OMX_DRV_SHARED_FALLBACK;
	if (err == OMX_DRV_SHARED_FALLBACK)
		err = omx_drv_tx_ctrl(ep, cmd->peer_index, OMX_WIRE_TRUC_LEN, omx_drv_fill_liback, &a,
				      OMX_COUNTER_SEND_LIBACK);
	omx_drv_ep_put(ep);
	return err;
}

/* A NACK_LIB back to the source of a refused frame (rx demux, ep->lock held).
 * peer_index is the source's index in our table, or OMX_DRV_PEER_NONE. */
void omx_drv_send_nack_lib(struct omx_drv_ep *ep, uint64_t dst_addr, uint32_t peer_index,
			   uint16_t head_peer_index, uint8_t nacker_endpoint,
			   uint8_t sender_endpoint, uint16_t seqnum, uint8_t nack_type)
{
	struct omx_wire_head head;
	struct omx_wire_nack_lib n;

	head.dst_addr = dst_addr;
	head.src_addr = ep->board->addr;
	head.dst_src_peer_index = peer_index < ep->drv->cfg.peer_max
		? __atomic_load_n(&ep->board->reverse_peer_index[peer_index], __ATOMIC_RELAXED)
		: OMX_WIRE_UNKNOWN_PEER_INDEX;
	n.src_endpoint = nacker_endpoint;
	n.nack_type = nack_type;
	n.dst_endpoint = sender_endpoint;
	n.dst_src_peer_index = head_peer_index;
	n.lib_seqnum = seqnum;
	omx_wire_head_encode(ep->tx_frame, &head);
	omx_wire_nack_lib_encode(omx_wire_body(ep->tx_frame), &n);
	omx_drv_xmit_locked(ep, OMX_WIRE_NACK_LIB_LEN);
	omx_drv_count(ep->board, OMX_COUNTER_SEND_NACK_LIB);
}

/* ---- pull engine frames (ep->lock held) -------------------------------------- */

void omx_drv_send_pull_locked(struct omx_drv_ep *ep, const struct omx_drv_pull *pull,
			      uint32_t frame_index, uint32_t first_frame_offset, uint32_t block_length)
{
	struct omx_wire_pull w;

	memset(&w, 0, sizeof(w));
	w.dst_endpoint = pull->dst_endpoint;
	w.src_endpoint = (uint8_t)ep->index;
	w.session = pull->session;
	w.total_length = pull->length;
	w.pulled_rdma_id = pull->pulled_rdma_id;
	w.pulled_rdma_seqnum = pull->pulled_rdma_seqnum;
	w.pulled_rdma_offset = pull->pulled_rdma_offset;
	w.src_pull_handle = pull->wire_id;
	w.src_magic = ep->index ^ OMX_PULL_MAGIC_XOR;
	w.first_frame_offset = first_frame_offset;
	w.block_length = block_length;
	w.frame_index = frame_index;
	omx_wire_head_encode(ep->tx_frame, &pull->head);
	omx_wire_pull_encode(omx_wire_body(ep->tx_frame), &w);
	omx_drv_xmit_locked(ep, OMX_WIRE_PULL_LEN);
	omx_drv_count(ep->board, OMX_COUNTER_SEND_PULL_REQ);
}

/* Serve a checked PULL: nr replies built in the endpoint's reply buffers and
 * handed to the link in one call.  Reply k carries frame frame_index + k;
 * the first is shortened by first_frame_offset, the last clipped to the block. */
void omx_drv_send_pull_replies_locked(struct omx_drv_ep *ep, const struct omx_wire_head *head,
				      const struct omx_wire_pull *p, struct omx_drv_region *region,
				      uint64_t msg_offset, uint32_t nr)
{
	struct omx_drv_board *b = ep->board;
	struct omx_drv_large *lg = ep->large;
	struct iovec iov[OMX_PULL_REPLY_PER_BLOCK];
	struct omx_wire_pull_reply r;
	uint32_t left = p->block_length;
	uint32_t flen = b->pull_reply_max - p->first_frame_offset;
	int rest;

	omx_drv_assert_locked(&ep->lock);
	if (!lg->reply_bufs) {
		lg->reply_bufs = malloc((size_t)OMX_PULL_REPLY_PER_BLOCK * b->mtu);
		if (!lg->reply_bufs) {
			omx_drv_count(b, OMX_COUNTER_SEND_NOMEM_FRAME);
			return;
		}
	}
	r.dst_pull_handle = p->src_pull_handle;
	r.dst_magic = p->src_magic;
	for (uint32_t k = 0; k < nr; k++) {
		uint8_t *frame = lg->reply_bufs + (size_t)k * b->mtu;
		uint8_t *body = omx_wire_body(frame);

		if (flen > left)
			flen = left;
		r.frame_seqnum = (uint8_t)(p->frame_index + k);
		r.frame_length = (uint16_t)flen;
		r.msg_offset = (uint32_t)(msg_offset + p->block_length - left);
		omx_wire_head_encode(frame, head);
		omx_wire_pull_reply_encode(body, &r);
		iov[k].iov_base = body + OMX_WIRE_PULL_REPLY_LEN;
		iov[k].iov_len = flen;
		left -= flen;
		flen = b->pull_reply_max;
	}
	/* One copy for the block (one grant copy for a split frontend's region);
	 * memory that went away: the puller learns at once, as from a closed
	 * endpoint when its owner died. */
	rest = omx_drv_region_readv(region, p->pulled_rdma_offset + msg_offset, iov, nr);
	if (rest) {
		omx_drv_count(b, OMX_COUNTER_DROP_PULL_BAD_REGION);
		omx_drv_send_nack_mcp_locked(ep, head, p->dst_endpoint,
					     rest == OMX_DRV_REGION_GONE ? OMX_NACK_TYPE_ENDPT_CLOSED
									 : OMX_NACK_TYPE_BAD_RDMAWIN,
					     p->src_pull_handle, p->src_magic);
		return;
	}
	for (uint32_t k = 0; k < nr; k++) {
		lg->reply_frames[k].data = lg->reply_bufs + (size_t)k * b->mtu;
		lg->reply_frames[k].len = omx_drv_frame_finish(b, lg->reply_frames[k].data,
							       OMX_WIRE_PULL_REPLY_LEN + (uint32_t)iov[k].iov_len);
	}
	rest = b->link->ops->port_send(ep->port, lg->reply_frames, nr);
	if (rest != 0)
		omx_drv_count(b, OMX_COUNTER_SEND_LINK_ERROR);
	omx_drv_count_n(b, OMX_COUNTER_SEND_PULL_REPLY, rest > 0 ? nr - (uint32_t)rest : rest < 0 ? 0 : nr);
}

/* A NACK_MCP back to the puller, echoing its handle and magic. */
void omx_drv_send_nack_mcp_locked(struct omx_drv_ep *ep, const struct omx_wire_head *head,
				  uint8_t nacker_endpoint, uint8_t nack_type, uint32_t pull_handle,
				  uint32_t magic)
{
	struct omx_wire_nack_mcp n;

	n.src_endpoint = nacker_endpoint;
	n.nack_type = nack_type;
	n.src_pull_handle = pull_handle;
	n.src_magic = magic;
	omx_wire_head_encode(ep->tx_frame, head);
	omx_wire_nack_mcp_encode(omx_wire_body(ep->tx_frame), &n);
	omx_drv_xmit_locked(ep, OMX_WIRE_NACK_MCP_LEN);
	omx_drv_count(ep->board, OMX_COUNTER_SEND_NACK_MCP);
}
