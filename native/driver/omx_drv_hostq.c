/*
 * omx_drv_hostq.c - peer discovery on the wire: HOST_QUERY / HOST_REPLY.
 *
 * Every peer without a hostname is queried on each board, by round every
 * OMX_DRV_HOSTQ_PERIOD_MS and at once when the table grows or names are
 * cleared.  A query carries the magic of the host state (bumped when names
 * are cleared, so a reply to an older query is dropped) and the target's
 * index in our table; a reply echoes the magic, carries the querier's index
 * in the replier's table and the replier's board hostname.  Both directions
 * record that index as the reverse peer index.  Frames from addresses that
 * are not in the table are dropped.
 *
 * One process per board serves this: the raw interface's opener when the
 * host has one (omxoed), else the process holding endpoint 0, whose port
 * receives the board-level frames.  The raw claim is looked up once a
 * second; around an opener's arrival or exit both or neither may serve for
 * that long, which costs a duplicate or a resend 5 s later.
 */
#include <string.h>

#include "omx_drv.h"

#define OMX_DRV_HOSTQ_PERIOD_MS 5000
#define OMX_DRV_HOSTQ_RAW_CHECK_MS 1000
#define OMX_DRV_HOSTQ_FRAME_MAX (OMX_WIRE_HEAD_LEN + OMX_WIRE_HOST_LEN + OMX_ABI_HOSTNAME_MAX + \
				 OMX_WIRE_FCS_LEN)

void omx_drv_hostq_init(struct omx_drv_board *b)
{
	memset(&b->hostq, 0, sizeof(b->hostq));
	pthread_mutex_init(&b->hostq.lock, NULL);
	b->hostq.seen_nr = UINT32_MAX;
}

void omx_drv_hostq_fini(struct omx_drv_board *b)
{
	pthread_mutex_destroy(&b->hostq.lock);
}

int omx_drv_hostq_ep_serves(struct omx_drv_board *b)
{
	struct omx_drv_hostq *q = &b->hostq;
	uint64_t now = omx_drv_now_jiffies();
	int serves;

	pthread_mutex_lock(&q->lock);
	if (!q->raw_open && now - q->raw_checked >= OMX_DRV_HOSTQ_RAW_CHECK_MS) {
		q->raw_elsewhere = omx_drv_raw_claimed(b);
		q->raw_checked = now;
	}
	serves = !q->raw_open && !q->raw_elsewhere;
	pthread_mutex_unlock(&q->lock);
	return serves;
}

/* Pad to the minimum frame and add the trailer; returns the length. */
static uint32_t omx_drv_hostq_finish(const struct omx_drv_board *b, uint8_t *frame, uint32_t len)
{
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

static void omx_drv_hostq_send(struct omx_drv_board *b, uint8_t *frame, uint32_t len,
			       omx_drv_hostq_xmit_t xmit, void *ctx, enum omx_abi_counter c)
{
	if (xmit(ctx, frame, omx_drv_hostq_finish(b, frame, len)) < 0) {
		omx_drv_count(b, OMX_COUNTER_SEND_LINK_ERROR);
		return;
	}
	omx_drv_count(b, c);
}

static void omx_drv_hostq_learn_reverse(struct omx_drv *drv, struct omx_drv_board *b, uint32_t peer,
					uint16_t index)
{
	if (index != OMX_WIRE_UNKNOWN_PEER_INDEX && peer < drv->cfg.peer_max)
		__atomic_store_n(&b->reverse_peer_index[peer], index, __ATOMIC_RELAXED);
}

static void omx_drv_hostq_reply(struct omx_drv *drv, struct omx_drv_board *b, uint32_t peer,
				const struct omx_wire_head *qhead, const struct omx_wire_host *query,
				omx_drv_hostq_xmit_t xmit, void *ctx)
{
	uint8_t frame[OMX_DRV_HOSTQ_FRAME_MAX];
	char name[OMX_ABI_HOSTNAME_MAX];
	struct omx_wire_head head;
	struct omx_wire_host r;
	size_t nl;

	omx_drv_host_board_hostname(drv, b, name);
	nl = strlen(name) + 1;
	head.dst_addr = qhead->src_addr;
	head.src_addr = b->addr;
	head.dst_src_peer_index = __atomic_load_n(&b->reverse_peer_index[peer], __ATOMIC_RELAXED);
	r.ptype = OMX_PKT_TYPE_HOST_REPLY;
	r.hostname_length = (uint8_t)nl;
	r.src_dst_peer_index = (uint16_t)peer;
	r.magic = query->magic;
	omx_wire_head_encode(frame, &head);
	omx_wire_host_encode(omx_wire_body(frame), &r);
	memcpy(omx_wire_body(frame) + OMX_WIRE_HOST_LEN, name, nl);
	omx_drv_hostq_send(b, frame, (uint32_t)(OMX_WIRE_HEAD_LEN + OMX_WIRE_HOST_LEN + nl), xmit, ctx,
			   OMX_COUNTER_SEND_HOST_REPLY);
}

void omx_drv_hostq_rx(struct omx_drv *drv, struct omx_drv_board *b, int raw, const uint8_t *frame,
		      uint32_t len, omx_drv_hostq_xmit_t xmit, void *ctx)
{
	const uint8_t *body = omx_wire_cbody(frame);
	struct omx_abi_peer_info pi;
	struct omx_wire_head head;
	struct omx_wire_host h;
	const char *name;
	uint32_t peer;

	if (!raw && !omx_drv_hostq_ep_serves(b))
		return;
	if (len < OMX_WIRE_HEAD_LEN + OMX_WIRE_HOST_LEN) {
		omx_drv_count(b, OMX_COUNTER_DROP_BAD_SKBLEN);
		return;
	}
	omx_wire_head_decode(frame, &head);
	omx_wire_host_decode(body, &h);
	if (h.ptype == OMX_PKT_TYPE_HOST_REPLY) {
		name = (const char *)body + OMX_WIRE_HOST_LEN;
		if (h.hostname_length < 2 || h.hostname_length > OMX_ABI_HOSTNAME_MAX ||
		    OMX_WIRE_HEAD_LEN + OMX_WIRE_HOST_LEN + (uint32_t)h.hostname_length > len ||
		    strnlen(name, h.hostname_length) != (size_t)h.hostname_length - 1) {
			omx_drv_count(b, OMX_COUNTER_DROP_BAD_DATALEN);
			return;
		}
	}
	peer = omx_drv_peer_find(drv, head.src_addr);
	if (peer == OMX_DRV_PEER_NONE) {
		omx_drv_count(b, OMX_COUNTER_DROP_BAD_PEER_ADDR);
		return;
	}
	if (h.ptype == OMX_PKT_TYPE_HOST_QUERY) {
		omx_drv_count(b, OMX_COUNTER_RECV_HOST_QUERY);
		omx_drv_hostq_learn_reverse(drv, b, peer, h.src_dst_peer_index);
		omx_drv_hostq_reply(drv, b, peer, &head, &h, xmit, ctx);
		return;
	}
	if (h.magic != omx_drv_host_query_magic(drv)) {
		omx_drv_count(b, OMX_COUNTER_DROP_HOST_REPLY_BAD_MAGIC);
		return;
	}
	omx_drv_count(b, OMX_COUNTER_RECV_HOST_REPLY);
	omx_drv_hostq_learn_reverse(drv, b, peer, h.src_dst_peer_index);
	/* Local boards are named by set_hostname only. */
	if (omx_drv_peer_info(drv, peer, &pi) == 0 && !pi.local)
		(void)omx_drv_peer_set_hostname(drv, peer, (const char *)body + OMX_WIRE_HOST_LEN);
}

static void omx_drv_hostq_query(struct omx_drv *drv, struct omx_drv_board *b, uint32_t peer,
				uint64_t addr, uint32_t magic, omx_drv_hostq_xmit_t xmit, void *ctx)
{
	uint8_t frame[OMX_DRV_HOSTQ_FRAME_MAX];
	struct omx_wire_head head;
	struct omx_wire_host q;

	head.dst_addr = addr;
	head.src_addr = b->addr;
	head.dst_src_peer_index = peer < drv->cfg.peer_max
		? __atomic_load_n(&b->reverse_peer_index[peer], __ATOMIC_RELAXED) : OMX_WIRE_UNKNOWN_PEER_INDEX;
	q.ptype = OMX_PKT_TYPE_HOST_QUERY;
	q.hostname_length = 0;
	q.src_dst_peer_index = (uint16_t)peer;
	q.magic = magic;
	omx_wire_head_encode(frame, &head);
	omx_wire_host_encode(omx_wire_body(frame), &q);
	omx_drv_hostq_send(b, frame, OMX_WIRE_HEAD_LEN + OMX_WIRE_HOST_LEN, xmit, ctx,
			   OMX_COUNTER_SEND_HOST_QUERY);
}

uint32_t omx_drv_hostq_tick(struct omx_drv *drv, struct omx_drv_board *b, int raw,
			    omx_drv_hostq_xmit_t xmit, void *ctx)
{
	struct omx_drv_hostq *q = &b->hostq;
	uint64_t now = omx_drv_now_jiffies(), next;
	uint32_t nr = omx_drv_peer_count(drv), magic = omx_drv_host_query_magic(drv);
	struct omx_abi_peer_info pi;

	/* Lock-free test first: progress calls this on every pass. */
	next = __atomic_load_n(&q->next_round, __ATOMIC_RELAXED);
	if (now < next && nr == __atomic_load_n(&q->seen_nr, __ATOMIC_RELAXED) &&
	    magic == __atomic_load_n(&q->seen_magic, __ATOMIC_RELAXED))
		return (uint32_t)(next - now);
	/* Loopback reaches no other host. */
	if (b->addr == 0 || (!raw && !omx_drv_hostq_ep_serves(b))) {
		__atomic_store_n(&q->next_round, now + OMX_DRV_HOSTQ_RAW_CHECK_MS, __ATOMIC_RELAXED);
		__atomic_store_n(&q->seen_nr, nr, __ATOMIC_RELAXED);
		__atomic_store_n(&q->seen_magic, magic, __ATOMIC_RELAXED);
		return OMX_DRV_HOSTQ_RAW_CHECK_MS;
	}
	/* One thread sends the round. */
	pthread_mutex_lock(&q->lock);
	if (now < q->next_round && nr == q->seen_nr && magic == q->seen_magic) {
		next = q->next_round;
		pthread_mutex_unlock(&q->lock);
		return (uint32_t)(next - now);
	}
	__atomic_store_n(&q->next_round, now + OMX_DRV_HOSTQ_PERIOD_MS, __ATOMIC_RELAXED);
	__atomic_store_n(&q->seen_nr, nr, __ATOMIC_RELAXED);
	__atomic_store_n(&q->seen_magic, magic, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q->lock);
	for (uint32_t i = 0; i < nr; i++)
		if (omx_drv_peer_info(drv, i, &pi) == 0 && !pi.local && !pi.hostname[0])
			omx_drv_hostq_query(drv, b, i, pi.board_addr, magic, xmit, ctx);
	return OMX_DRV_HOSTQ_PERIOD_MS;
}
