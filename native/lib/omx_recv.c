/*
 * omx_recv.c - the receive side: seqnum ordering and early packets,
 * matching, the unexpected queue and handler, medium reassembly, irecv.
 *
 * Messages from a partner are matched strictly in seqnum order.  A message
 * ahead of its turn (inside the early window) is kept as a copy of its event
 * and payload and replayed when its turn comes; anything behind is dropped.
 * Payloads are always copied out of the recvq before the event is consumed,
 * since its slot goes back to the driver with the event.
 */
#include <stdlib.h>
#include <string.h>

#include "omx_lib.h"

/* ---- pure helpers (unit-tested) ----------------------------------------- */

omx_return_t omx__check_match_mask(uint64_t match_info, uint64_t match_mask, uint64_t ctxid_mask)
{
	if (match_info & ~match_mask)
		return OMX_BAD_MATCH_MASK;
	if ((match_mask & ctxid_mask) != ctxid_mask)
		return OMX_BAD_MATCHING_FOR_CONTEXT_ID_MASK;
	return OMX_SUCCESS;
}

struct omx__request *omx__find_posted_recv(struct omx_list *recv_q, uint64_t incoming)
{
	struct omx_list *pos;

	omx_list_for_each(pos, recv_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

		if (omx__match(incoming, req->recv.match_info, req->recv.match_mask))
			return req;
	}
	return NULL;
}

struct omx__request *omx__find_unexpected(struct omx_list *unexp_q, uint64_t match_info,
					  uint64_t match_mask)
{
	struct omx_list *pos;

	omx_list_for_each(pos, unexp_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

		if (omx__match(req->status.match_info, match_info, match_mask))
			return req;
	}
	return NULL;
}

/* Fragment n covers [n * unit, n * unit + length): every fragment but the
 * last is full, and none goes past the message. */
int omx__medium_frag_check(uint32_t msg_length, uint32_t frag_unit, uint8_t frag_seqnum,
			   uint32_t frag_length, uint32_t *offset)
{
	uint64_t off = (uint64_t)frag_seqnum * frag_unit;

	if (!frag_unit || frag_seqnum >= OMX_MEDIUM_FRAGS_MAX || frag_length > frag_unit)
		return -1;
	if (off + frag_length > msg_length || (off >= msg_length && msg_length))
		return -1;
	if (off + frag_length != msg_length && frag_length != frag_unit)
		return -1;
	*offset = (uint32_t)off;
	return 0;
}

/* Bytes of [offset, offset + length) that fit in a buffer of buffer_length. */
uint32_t omx__recv_clip(uint32_t offset, uint32_t length, uint32_t buffer_length)
{
	if (offset >= buffer_length)
		return 0;
	return buffer_length - offset < length ? buffer_length - offset : length;
}

int omx__recv_medium_frag_accept(uint32_t *received_mask, uint8_t frag_seqnum)
{
	uint32_t bit;

	if (frag_seqnum >= OMX_MEDIUM_FRAGS_MAX)
		return 0;
	bit = 1u << frag_seqnum;
	if (*received_mask & bit)
		return 0;
	*received_mask |= bit;
	return 1;
}

static uint16_t omx__event_seqnum(const union omx_abi_event *ev)
{
	return ev->recv_tiny.head.seqnum;   /* every message event starts with msg_head */
}

static uint8_t omx__event_frag_seqnum(const union omx_abi_event *ev)
{
	return ev->generic.type == OMX_ABI_EVT_RECV_MEDIUM_FRAG ? ev->recv_medium_frag.frag_seqnum : 0;
}

/* Insert in (seqnum, fragment) order relative to next_frag_recv_seq;
 * returns -1 for a duplicate, which the caller frees. */
int omx__early_insert(struct omx__partner *partner, struct omx__early_packet *pkt)
{
	uint32_t key = ((uint32_t)omx__seqnum_diff(omx__event_seqnum(&pkt->ev), partner->next_frag_recv_seq)
			<< 8) | omx__event_frag_seqnum(&pkt->ev);
	struct omx_list *pos;

	omx_list_for_each(pos, &partner->early_q) {
		struct omx__early_packet *cur = omx_list_entry(pos, struct omx__early_packet, elt);
		uint32_t ckey = ((uint32_t)omx__seqnum_diff(omx__event_seqnum(&cur->ev),
							    partner->next_frag_recv_seq) << 8) |
				omx__event_frag_seqnum(&cur->ev);

		if (ckey == key)
			return -1;
		if (ckey > key)
			break;
	}
	omx_list_add_before(&pkt->elt, pos);
	partner->early_nr++;
	return 0;
}

/* ---- completion --------------------------------------------------------- */

void omx__recv_complete(struct omx_endpoint *ep, struct omx__request *req)
{
	uint32_t msg = req->status.msg_length;

	req->status.xfer_length = req->recv.length < msg ? req->recv.length : msg;
	omx__request_done(ep, req, req->status.xfer_length < msg ? OMX_MESSAGE_TRUNCATED : OMX_SUCCESS);
}

static void omx__recv_partial_done(struct omx_endpoint *ep, struct omx__request *req)
{
	omx_list_del(&req->partner_elt);
	req->state &= ~OMX__REQ_RECV_PARTIAL;
	if (req->state & OMX__REQ_UNEXPECTED_RECV)
		return;               /* complete now; waits in the unexpected queue */
	if (req->state & OMX__REQ_INTERNAL) {
		omx__request_done(ep, req, OMX_SUCCESS);
		return;
	}
	omx__recv_complete(ep, req);
}

/* A fragment of the medium this request receives.  Returns 0 if used. */
static int omx__recv_frag(struct omx_endpoint *ep, struct omx__request *req,
			  const union omx_abi_event *ev, const uint8_t *data)
{
	const __typeof__(ev->recv_medium_frag) *f = &ev->recv_medium_frag;
	uint32_t offset, n;

	if (f->msg_length != req->status.msg_length ||
	    omx__medium_frag_check(f->msg_length, req->recv.frag_unit, f->frag_seqnum, f->frag_length,
				   &offset) < 0) {
		OMX__COUNT(ep, DROP_BAD_MEDIUM);
		return -1;
	}
	if (!omx__recv_medium_frag_accept(&req->recv.frags_received_mask, f->frag_seqnum)) {
		OMX__COUNT(ep, DROP_DUPLICATE);
		return -1;
	}
	n = omx__recv_clip(offset, f->frag_length, req->recv.length);
	if (n)
		memcpy((uint8_t *)req->recv.buffer + offset, data, n);
	req->recv.accumulated += f->frag_length;
	if (req->recv.accumulated == req->status.msg_length)
		omx__recv_partial_done(ep, req);
	return 0;
}

/* ---- the message whose turn it is --------------------------------------- */

void omx__recv_update_frag_seq(struct omx_endpoint *ep, struct omx__partner *partner)
{
	uint16_t old = partner->next_frag_recv_seq;

	if (omx_list_empty(&partner->partial_q))
		partner->next_frag_recv_seq = partner->next_match_recv_seq;
	else
		partner->next_frag_recv_seq = omx_list_first_entry(&partner->partial_q, struct omx__request,
								   partner_elt)->seqnum;
	if (partner->next_frag_recv_seq != old)
		omx__mark_received(ep, partner, 0);
}

omx_unexp_handler_action_t omx__call_unexp_handler(struct omx_endpoint *ep, struct omx__partner *partner,
						   uint64_t match_info, uint32_t msg_length,
						   const void *data)
{
	omx_unexp_handler_t handler = ep->unexp_handler;
	void *context = ep->unexp_handler_context;
	omx_unexp_handler_action_t action;
	omx_endpoint_addr_t addr;

	omx__partner_to_addr(partner, &addr);
	/* Progression stays off while the lock is dropped, so the event and its
	 * recvq slot (data) stay where they are. */
	ep->in_handler = 1;
	ep->handler_thread = pthread_self();
	ep->progression_disabled |= OMX__PROGRESSION_HANDLER;
	omx__unlock(ep);
	action = handler(context, addr, match_info, msg_length, (void *)data);
	omx__lock(ep);
	ep->in_handler = 0;
	ep->progression_disabled &= ~OMX__PROGRESSION_HANDLER;
	pthread_cond_broadcast(&ep->handler_cond);
	return action;
}

static void omx__recv_start(struct omx__request *req, struct omx__partner *partner, uint16_t seqnum,
			    uint64_t match_info, uint32_t msg_length, uint8_t msg_type)
{
	req->partner = partner;
	req->seqnum = seqnum;
	omx__partner_to_addr(partner, &req->status.addr);
	req->status.match_info = match_info;
	req->status.msg_length = msg_length;
	req->status.xfer_length = req->recv.length < msg_length ? req->recv.length : msg_length;
	req->recv.msg_type = msg_type;
	req->recv.frags_received_mask = 0;
	req->recv.accumulated = 0;
}

static struct omx__request *omx__recv_unexpected_alloc(struct omx_endpoint *ep, uint32_t msg_length,
						       int internal)
{
	struct omx__request *req = omx__request_alloc(ep, OMX__REQ_RECV);

	if (!req)
		return NULL;
	if (internal) {
		req->state = OMX__REQ_INTERNAL;
		omx__request_zombify(ep, req);
		return req;
	}
	if (msg_length) {
		req->recv.buffer = malloc(msg_length);
		if (!req->recv.buffer) {
			omx__request_free(ep, req);
			return NULL;
		}
	}
	req->recv.length = msg_length;
	req->state = OMX__REQ_UNEXPECTED_RECV;
	return req;
}

static void omx__recv_new(struct omx_endpoint *ep, struct omx__partner *partner,
			  const union omx_abi_event *ev, const uint8_t *data)
{
	const struct omx_abi_evt_msg_head *head = &ev->recv_tiny.head;
	uint8_t type = ev->generic.type;
	uint32_t msg_length;
	const void *available = data;
	struct omx__request *req;
	uint32_t ctxid = omx__ctxid_of(ep, head->match_info);

	if (type == OMX_ABI_EVT_RECV_NOTIFY) {
		/* Not a message to match: it completes one of our large sends. */
		partner->next_match_recv_seq = omx__seqnum_increase(partner->next_match_recv_seq);
		omx__large_process_notify(ep, partner, ev);
		return;
	}
	if (type == OMX_ABI_EVT_RECV_MEDIUM_FRAG) {
		msg_length = ev->recv_medium_frag.msg_length;
		if (ev->recv_medium_frag.frag_length != msg_length)
			available = NULL;     /* only single-fragment mediums are handed over */
	} else if (type == OMX_ABI_EVT_RECV_RNDV) {
		msg_length = ev->recv_rndv.msg_length;
		available = NULL;
	} else {
		msg_length = type == OMX_ABI_EVT_RECV_TINY ? ev->recv_tiny.length : ev->recv_small.length;
	}
	partner->next_match_recv_seq = omx__seqnum_increase(partner->next_match_recv_seq);

	req = omx__find_posted_recv(&ep->ctxids[ctxid].recv_q, head->match_info);
	if (!req && ep->unexp_handler) {
		if (omx__call_unexp_handler(ep, partner, head->match_info, msg_length, available) ==
		    OMX_UNEXP_HANDLER_RECV_FINISHED) {
			/* Discarded.  A medium with fragments still to come needs
			 * an internal request to swallow them; a sender of a RNDV
			 * waits for a NOTIFY. */
			if (type == OMX_ABI_EVT_RECV_MEDIUM_FRAG && !available)
				goto discard_medium;
			if (type == OMX_ABI_EVT_RECV_RNDV)
				omx__large_discard(ep, partner, ev);
			return;
		}
		req = omx__find_posted_recv(&ep->ctxids[ctxid].recv_q, head->match_info);
	}
	if (req) {
		omx_list_del(&req->queue_elt);
		req->state &= ~OMX__REQ_RECV_NEED_MATCHING;
	} else {
		/* A RNDV keeps no data: irecv pulls it into the app's buffer. */
		req = omx__recv_unexpected_alloc(ep, type == OMX_ABI_EVT_RECV_RNDV ? 0 : msg_length, 0);
		if (!req) {
			/* Out of memory: forget we saw it, the sender resends. */
			partner->next_match_recv_seq = head->seqnum;
			return;
		}
		req->ctxid = ctxid;
		omx_list_add_tail(&req->queue_elt, &ep->ctxids[ctxid].unexp_q);
	}
	goto deliver;

discard_medium:
	req = omx__recv_unexpected_alloc(ep, 0, 1);
	if (!req) {
		partner->next_match_recv_seq = head->seqnum;
		return;
	}
deliver:
	omx__recv_start(req, partner, head->seqnum, head->match_info, msg_length, type);
	if (type == OMX_ABI_EVT_RECV_RNDV) {
		omx__large_recv_rndv(ep, req, ev);
		return;
	}
	if (type != OMX_ABI_EVT_RECV_MEDIUM_FRAG) {
		uint32_t n = omx__recv_clip(0, msg_length, req->recv.length);

		if (n)
			memcpy(req->recv.buffer, data, n);
		if (!(req->state & OMX__REQ_UNEXPECTED_RECV))
			omx__recv_complete(ep, req);
		return;
	}
	req->recv.frag_unit = ev->recv_medium_frag.frag_pipeline ?
			      1u << ev->recv_medium_frag.frag_pipeline : ep->medium_frag_max;
	req->state |= OMX__REQ_RECV_PARTIAL;
	omx_list_add_tail(&req->partner_elt, &partner->partial_q);
	(void)omx__recv_frag(ep, req, ev, data);
}

static void omx__recv_partial(struct omx_endpoint *ep, struct omx__partner *partner,
			      const union omx_abi_event *ev, const uint8_t *data)
{
	uint16_t seqnum = omx__event_seqnum(ev);
	struct omx_list *pos;

	if (ev->generic.type == OMX_ABI_EVT_RECV_MEDIUM_FRAG) {
		omx_list_for_each(pos, &partner->partial_q) {
			struct omx__request *req = omx_list_entry(pos, struct omx__request, partner_elt);

			if (req->seqnum == seqnum) {
				(void)omx__recv_frag(ep, req, ev, data);
				return;
			}
		}
	}
	OMX__COUNT(ep, DROP_DUPLICATE);   /* that message is already complete */
}

static const uint8_t *omx__early_data(const struct omx__early_packet *pkt)
{
	return pkt->ev.generic.type == OMX_ABI_EVT_RECV_TINY ? pkt->ev.recv_tiny.data : pkt->data;
}

static void omx__early_store(struct omx_endpoint *ep, struct omx__partner *partner,
			     const union omx_abi_event *ev, const uint8_t *data)
{
	uint32_t len = 0;
	struct omx__early_packet *pkt;

	if (ev->generic.type == OMX_ABI_EVT_RECV_SMALL)
		len = ev->recv_small.length;
	else if (ev->generic.type == OMX_ABI_EVT_RECV_MEDIUM_FRAG)
		len = ev->recv_medium_frag.frag_length;
	pkt = malloc(sizeof(*pkt) + len);
	if (!pkt)
		return;               /* dropped: the sender resends */
	pkt->ev = *ev;
	pkt->data_length = len;
	if (len)
		memcpy(pkt->data, data, len);
	if (omx__early_insert(partner, pkt) < 0) {
		OMX__COUNT(ep, DROP_EARLY_DUPLICATE);
		free(pkt);
		return;
	}
	OMX__COUNT(ep, EARLY_STORED);
}

/* Process one message of the ordered stream; returns 1 if it was in order. */
static int omx__recv_ordered(struct omx_endpoint *ep, struct omx__partner *partner,
			     const union omx_abi_event *ev, const uint8_t *data, int stored)
{
	int urgent = 0;

	switch (omx__recv_classify(omx__event_seqnum(ev), partner->next_frag_recv_seq,
				   partner->next_match_recv_seq)) {
	case OMX__RECV_MATCH:
		omx__recv_new(ep, partner, ev, data);
		urgent = ev->generic.type == OMX_ABI_EVT_RECV_RNDV ||
			 ev->generic.type == OMX_ABI_EVT_RECV_NOTIFY;
		break;
	case OMX__RECV_PARTIAL:
		omx__recv_partial(ep, partner, ev, data);
		break;
	case OMX__RECV_EARLY:
		if (!stored)
			omx__early_store(ep, partner, ev, data);
		return 0;
	case OMX__RECV_OBSOLETE_PREVIOUS:
		OMX__COUNT(ep, DROP_OBSOLETE);
		omx__mark_received(ep, partner, 1);
		return 0;
	case OMX__RECV_OBSOLETE:
		OMX__COUNT(ep, DROP_OBSOLETE);
		return 0;
	case OMX__RECV_BAD_SESNUM:
		OMX__COUNT(ep, DROP_BAD_SESNUM);
		return 0;
	}
	omx__recv_update_frag_seq(ep, partner);
	/* Their sender resends them early and times that on our ack. */
	if (urgent && partner->next_frag_recv_seq != partner->last_acked_recv_seq)
		omx__mark_received(ep, partner, 1);
	return 1;
}

static void omx__early_replay(struct omx_endpoint *ep, struct omx__partner *partner)
{
	while (!omx_list_empty(&partner->early_q)) {
		struct omx__early_packet *pkt = omx_list_first_entry(&partner->early_q,
								     struct omx__early_packet, elt);
		enum omx__recv_order order = omx__recv_classify(omx__event_seqnum(&pkt->ev),
								partner->next_frag_recv_seq,
								partner->next_match_recv_seq);

		if (order == OMX__RECV_EARLY)
			break;
		omx_list_del(&pkt->elt);
		partner->early_nr--;
		if (order == OMX__RECV_MATCH || order == OMX__RECV_PARTIAL)
			(void)omx__recv_ordered(ep, partner, &pkt->ev, omx__early_data(pkt), 1);
		else
			OMX__COUNT(ep, DROP_OBSOLETE);
		free(pkt);
	}
}

/* ---- event entry -------------------------------------------------------- */

static int omx__recvq_offset_valid(const struct omx_endpoint *ep, uint32_t offset)
{
	return !(offset % ep->layout.slot_size) &&
	       offset / ep->layout.slot_size < ep->layout.recvq_entries;
}

void omx__process_recv_event(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	const struct omx_abi_evt_msg_head *head = &ev->recv_tiny.head;
	const uint8_t *data = NULL;
	struct omx__partner *partner;

	switch (ev->generic.type) {
	case OMX_ABI_EVT_RECV_TINY:
		if (ev->recv_tiny.length > OMX_TINY_MSG_LENGTH_MAX) {
			OMX__COUNT(ep, DROP_BAD_SMALL);
			return;
		}
		data = ev->recv_tiny.data;
		break;
	case OMX_ABI_EVT_RECV_SMALL:
		if (ev->recv_small.length > OMX_SMALL_MSG_LENGTH_MAX ||
		    !omx__recvq_offset_valid(ep, ev->recv_small.recvq_offset)) {
			OMX__COUNT(ep, DROP_BAD_SMALL);
			return;
		}
		data = ep->recvq + ev->recv_small.recvq_offset;
		break;
	case OMX_ABI_EVT_RECV_MEDIUM_FRAG: {
		const __typeof__(ev->recv_medium_frag) *f = &ev->recv_medium_frag;
		uint32_t offset;

		/* Checked before ordering: a bad first fragment must not take
		 * the message's seqnum and a posted receive with it. */
		if (f->frag_pipeline > OMX_ABI_QUEUE_SLOT_SHIFT ||
		    omx__medium_frag_check(f->msg_length, f->frag_pipeline ? 1u << f->frag_pipeline
									   : ep->medium_frag_max,
					   f->frag_seqnum, f->frag_length, &offset) < 0 ||
		    !omx__recvq_offset_valid(ep, f->recvq_offset)) {
			OMX__COUNT(ep, DROP_BAD_MEDIUM);
			return;
		}
		data = ep->recvq + f->recvq_offset;
		break;
	}
	case OMX_ABI_EVT_RECV_RNDV:
	case OMX_ABI_EVT_RECV_NOTIFY:
		break;                /* no payload; every field is checked where used */
	default:
		OMX__COUNT(ep, DROP_UNKNOWN_EVENT);
		return;
	}
	partner = omx__partner_lookup(ep, head->peer_index, head->src_endpoint, 0);
	if (!partner || !partner->back_session_known) {
		OMX__COUNT(ep, DROP_BAD_PARTNER);
		return;
	}
	if (omx__sesnum(head->piggyack) == omx__sesnum(partner->next_acked_send_seq))
		omx__handle_ack(ep, partner, head->piggyack);
	if (omx__recv_ordered(ep, partner, ev, data, 0))
		omx__early_replay(ep, partner);
}

/* ---- self --------------------------------------------------------------- */

void omx__recv_deliver_self(struct omx_endpoint *ep, struct omx__request *send_req, int sync)
{
	uint64_t match_info = send_req->status.match_info;
	uint32_t length = send_req->send.length, n;
	uint32_t ctxid = omx__ctxid_of(ep, match_info);
	struct omx__request *req;

	req = omx__find_posted_recv(&ep->ctxids[ctxid].recv_q, match_info);
	if (!req && ep->unexp_handler) {
		if (omx__call_unexp_handler(ep, ep->myself, match_info, length, send_req->send.buffer) ==
		    OMX_UNEXP_HANDLER_RECV_FINISHED)
			return;
		req = omx__find_posted_recv(&ep->ctxids[ctxid].recv_q, match_info);
	}
	if (req) {
		omx_list_del(&req->queue_elt);
		req->state &= ~OMX__REQ_RECV_NEED_MATCHING;
	} else {
		req = omx__recv_unexpected_alloc(ep, length, 0);
		if (!req) {
			omx__request_set_error(send_req, OMX_NO_SYSTEM_RESOURCES);
			return;
		}
		req->ctxid = ctxid;
		omx_list_add_tail(&req->queue_elt, &ep->ctxids[ctxid].unexp_q);
	}
	omx__recv_start(req, ep->myself, 0, match_info, length, OMX_ABI_EVT_RECV_SMALL);
	n = omx__recv_clip(0, length, req->recv.length);
	if (n)
		memcpy(req->recv.buffer, send_req->send.buffer, n);
	if (req->state & OMX__REQ_UNEXPECTED_RECV) {
		if (sync) {
			req->recv.self_send = send_req;
			send_req->state |= OMX__REQ_UNEXPECTED_SELF;
		}
		return;
	}
	omx__recv_complete(ep, req);
}

/* ---- cleanup ------------------------------------------------------------ */

void omx__partner_recv_cleanup(struct omx_endpoint *ep, struct omx__partner *partner)
{
	while (!omx_list_empty(&partner->partial_q)) {
		struct omx__request *req = omx_list_first_entry(&partner->partial_q, struct omx__request,
								partner_elt);

		omx_list_del(&req->partner_elt);
		req->state &= ~OMX__REQ_RECV_PARTIAL;
		if (req->state & (OMX__REQ_INTERNAL | OMX__REQ_UNEXPECTED_RECV))
			omx__request_free(ep, req);
		else
			omx__request_done(ep, req, OMX_REMOTE_ENDPOINT_UNREACHABLE);
	}
}

/* ---- irecv -------------------------------------------------------------- */

/* An unexpected message becomes the app's request: copy what arrived so far
 * (clipped to the app's buffer); later fragments go straight to it. */
static void omx__recv_take_unexpected(struct omx_endpoint *ep, struct omx__request *req, void *buffer,
				      uint32_t length, uint64_t match_info, uint64_t match_mask,
				      void *context)
{
	void *copy = req->recv.buffer;
	uint32_t msg = req->status.msg_length, i, n;

	omx_list_del(&req->queue_elt);
	if (req->recv.msg_type == OMX_ABI_EVT_RECV_RNDV) {
		req->state &= ~OMX__REQ_UNEXPECTED_RECV;
		req->recv.buffer = buffer;
		req->recv.length = length;
		req->recv.match_info = match_info;
		req->recv.match_mask = match_mask;
		req->status.context = context;
		omx__large_recv_start(ep, req);
		return;
	}
	if (req->recv.msg_type == OMX_ABI_EVT_RECV_MEDIUM_FRAG && (req->state & OMX__REQ_RECV_PARTIAL)) {
		for (i = 0; i < OMX_MEDIUM_FRAGS_MAX; i++) {
			uint32_t off = i * req->recv.frag_unit;

			if (!(req->recv.frags_received_mask & (1u << i)))
				continue;
			n = omx__recv_clip(off, msg - off < req->recv.frag_unit ? msg - off : req->recv.frag_unit,
					   length);
			if (n)
				memcpy((uint8_t *)buffer + off, (uint8_t *)copy + off, n);
		}
	} else {
		n = omx__recv_clip(0, msg, length);
		if (n)
			memcpy(buffer, copy, n);
	}
	free(copy);
	req->state &= ~OMX__REQ_UNEXPECTED_RECV;
	req->recv.buffer = buffer;
	req->recv.length = length;
	req->recv.match_info = match_info;
	req->recv.match_mask = match_mask;
	req->status.context = context;
	req->status.xfer_length = length < msg ? length : msg;
	if (req->recv.self_send) {
		struct omx__request *send_req = req->recv.self_send;

		req->recv.self_send = NULL;
		send_req->state &= ~OMX__REQ_UNEXPECTED_SELF;
		omx__request_done(ep, send_req, OMX_SUCCESS);
	}
	if (!(req->state & OMX__REQ_RECV_PARTIAL))
		omx__recv_complete(ep, req);
}

omx_return_t omx_irecv(omx_endpoint_t ep, void *buffer, size_t length, uint64_t match_info,
		       uint64_t match_mask, void *context, omx_request_t *request)
{
	struct omx__request *req;
	omx_return_t ret;
	uint32_t ctxid;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_irecv: bad endpoint");
	ret = omx__check_match_mask(match_info, match_mask, ep->ctxid_match_mask);
	if (ret != OMX_SUCCESS)
		return omx__error(ep, ret, "omx_irecv: match 0x%llx mask 0x%llx",
				  (unsigned long long)match_info, (unsigned long long)match_mask);
	if (length > UINT32_MAX)
		length = UINT32_MAX;
	omx__lock(ep);
	ctxid = omx__ctxid_of(ep, match_info);
	req = omx__find_unexpected(&ep->ctxids[ctxid].unexp_q, match_info, match_mask);
	if (req) {
		omx__recv_take_unexpected(ep, req, buffer, (uint32_t)length, match_info, match_mask, context);
	} else {
		req = omx__request_alloc(ep, OMX__REQ_RECV);
		if (!req) {
			omx__unlock(ep);
			return omx__error(ep, OMX_NO_SYSTEM_RESOURCES, "omx_irecv: out of memory");
		}
		req->state = OMX__REQ_RECV_NEED_MATCHING;
		req->ctxid = ctxid;
		req->recv.buffer = buffer;
		req->recv.length = (uint32_t)length;
		req->recv.match_info = match_info;
		req->recv.match_mask = match_mask;
		req->status.match_info = match_info;
		req->status.context = context;
		omx_list_add_tail(&req->queue_elt, &ep->ctxids[ctxid].recv_q);
	}
	if (request)
		*request = req;
	else
		omx__request_consume(ep, req);
	omx__progress(ep);
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_register_unexp_handler(omx_endpoint_t ep, omx_unexp_handler_t handler, void *context)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_register_unexp_handler: bad endpoint");
	omx__lock(ep);
	ep->unexp_handler = handler;
	ep->unexp_handler_context = context;
	omx__unlock(ep);
	return OMX_SUCCESS;
}
