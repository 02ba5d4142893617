/*
 * omx_send.c - the send side: size classes, seqnums and throttling, posting
 * tiny/small/medium messages, parking on missing resources, resends, acks.
 *
 * Order: a send takes its seqnum first (or waits in the partner's
 * need_seqnum queue when 8191 are unacked), then posts, or parks FIFO in
 * ep->need_resources_q.  While anything is parked, later sends park behind
 * it, so messages leave in seqnum order.
 *
 * Buffering: tiny and small data are copied into the request; medium data
 * is copied once into sendq slots, which are kept until the ack so a resend
 * posts the same slots again.  These requests complete early (right after
 * posting) while fewer than OMX_ZOMBIE_SEND are zombies.
 */
#include <stdlib.h>
#include <string.h>

#include "omx_lib.h"

enum omx__send_class omx__send_class(const struct omx_endpoint *ep, const struct omx__partner *partner,
				     size_t length, int sync)
{
	uint32_t threshold = partner->shared ? ep->shared_rndv_threshold : ep->rndv_threshold;

	if (sync)
		return OMX__SEND_LARGE;
	if (length <= OMX_TINY_MSG_LENGTH_MAX)
		return OMX__SEND_TINY;
	if (length <= OMX_SMALL_MSG_LENGTH_MAX)
		return OMX__SEND_SMALL;
	if (length <= threshold)
		return OMX__SEND_MEDIUM;
	return OMX__SEND_LARGE;
}

/* ---- posting ------------------------------------------------------------ */

void omx__send_fill_hdr(const struct omx__request *req, struct omx_abi_send_hdr *hdr)
{
	const struct omx__partner *partner = req->partner;

	hdr->peer_index = partner->peer_index;
	hdr->dest_endpoint = partner->endpoint_index;
	hdr->shared = partner->shared;
	hdr->session_id = partner->true_session_id;
	hdr->seqnum = req->seqnum;
	hdr->piggyack = partner->next_frag_recv_seq;
	hdr->match_info = req->status.match_info;
}

static int omx__post_tiny(struct omx_endpoint *ep, struct omx__request *req)
{
	struct omx_abi_send_tiny cmd;

	memset(&cmd, 0, sizeof(cmd));
	omx__send_fill_hdr(req, &cmd.hdr);
	cmd.length = (uint16_t)req->send.length;
	memcpy(cmd.data, req->send.data, req->send.length);
	return ep->ops->send_tiny(ep->drv, ep->handle, &cmd);
}

static int omx__post_small(struct omx_endpoint *ep, struct omx__request *req)
{
	struct omx_abi_send_small cmd;

	memset(&cmd, 0, sizeof(cmd));
	omx__send_fill_hdr(req, &cmd.hdr);
	cmd.length = (uint16_t)req->send.length;
	memcpy(cmd.data, req->send.data, req->send.length);
	return ep->ops->send_small(ep->drv, ep->handle, &cmd);
}

static uint32_t omx__frag_length(const struct omx__request *req, uint32_t i)
{
	uint32_t offset = i * req->send.frag_max;
	uint32_t left = req->send.length - offset;

	return left < req->send.frag_max ? left : req->send.frag_max;
}

/* Post every fragment; fragments refused with EAGAIN after the first count
 * as lost and come back with the resend. */
static int omx__post_medium(struct omx_endpoint *ep, struct omx__request *req)
{
	struct omx_abi_send_medium_frag cmd;
	uint32_t i, posted = 0, slot_size = ep->layout.slot_size;
	int err = 0;

	if (!req->send.slots_ready) {
		if (omx__sendq_alloc(ep, req->send.frags_nr, req->send.slots) < 0)
			return OMX__ENORES;
		for (i = 0; i < req->send.frags_nr; i++) {
			memcpy(ep->sendq + (size_t)req->send.slots[i] * slot_size,
			       (const uint8_t *)req->send.buffer + (size_t)i * req->send.frag_max,
			       omx__frag_length(req, i));
			ep->sendq_owner[req->send.slots[i]] = req;
		}
		req->send.slots_ready = 1;
	}
	if (omx__exp_events_avail(ep) < req->send.frags_nr)
		return OMX__ENORES;

	memset(&cmd, 0, sizeof(cmd));
	omx__send_fill_hdr(req, &cmd.hdr);
	cmd.msg_length = req->send.length;
	cmd.frag_pipeline = req->send.frag_pipeline;
	for (i = 0; i < req->send.frags_nr; i++) {
		cmd.sendq_offset = (uint32_t)req->send.slots[i] * slot_size;
		cmd.frag_length = (uint16_t)omx__frag_length(req, i);
		cmd.frag_seqnum = (uint8_t)i;
		ep->exp_outstanding++;
		err = ep->ops->send_medium_frag(ep->drv, ep->handle, &cmd);
		if (err < 0) {
			ep->exp_outstanding--;
			break;
		}
		posted++;
	}
	if (!posted)
		return err;
	req->send.frags_pending_nr = posted;
	req->state |= OMX__REQ_MEDIUMSQ_SENDING;
	return 0;
}

static int omx__post(struct omx_endpoint *ep, struct omx__request *req)
{
	int err;

	switch (req->type) {
	case OMX__REQ_SEND_TINY:
		err = omx__post_tiny(ep, req);
		break;
	case OMX__REQ_SEND_SMALL:
		err = omx__post_small(ep, req);
		break;
	case OMX__REQ_SEND_MEDIUMSQ:
		err = omx__post_medium(ep, req);
		break;
	case OMX__REQ_SEND_LARGE:
		err = omx__large_post_rndv(ep, req);
		break;
	case OMX__REQ_RECV_LARGE:
		err = omx__large_post_notify(ep, req);
		break;
	default:
		err = OMX_ABI_ENOSYS;
		break;
	}
	if (err == 0)
		omx__piggyacked(ep, req->partner);
	return err;
}

/* Posted: wait for the ack on the queue that matches its resend timeout. */
static void omx__send_wait_ack(struct omx_endpoint *ep, struct omx__request *req, uint64_t now)
{
	req->last_send_jiffies = now;
	omx_list_del(&req->queue_elt);
	if (omx__resend_timeout(ep, req) < ep->resend_delay)
		omx_list_add_tail(&req->queue_elt, &ep->resend_early_q);
	else
		omx_list_add_tail(&req->queue_elt, &ep->resend_q);
}

static void omx__send_park(struct omx_endpoint *ep, struct omx__request *req, int err, int at_head)
{
	req->state |= OMX__REQ_NEED_RESOURCES;
	omx_list_del(&req->queue_elt);
	if (at_head)
		omx_list_add_head(&req->queue_elt, &ep->need_resources_q);
	else
		omx_list_add_tail(&req->queue_elt, &ep->need_resources_q);
	/* Driver back-pressure has no event to wake us: retry on a timer. */
	if (err == OMX_ABI_EAGAIN)
		ep->retry_deadline = omx__now(ep) + 1;
}

/* Returns 1 when posted, 0 when parked, -1 when the request failed. */
static int omx__send_try_post(struct omx_endpoint *ep, struct omx__request *req, int at_head)
{
	int err = omx__post(ep, req);

	if (err == 0) {
		req->state &= ~OMX__REQ_NEED_RESOURCES;
		req->state |= OMX__REQ_NEED_ACK;
		omx__send_wait_ack(ep, req, omx__now(ep));
		/* Buffered data and notifies complete early; a large send waits
		 * for its NOTIFY. */
		if (req->type != OMX__REQ_SEND_LARGE && ep->zombies < omx__globals.cfg.zombie_max)
			omx__request_done(ep, req, OMX_SUCCESS);
		return 1;
	}
	if (err == OMX_ABI_EAGAIN || err == OMX__ENORES) {
		omx__send_park(ep, req, err, at_head);
		return 0;
	}
	/* A refused seqnum must not leave a hole the receiver waits on: take it
	 * back when it is the last one given, else let the resend fill it. */
	if (omx__seqnum_increase(req->seqnum) == req->partner->next_send_seq) {
		req->partner->next_send_seq = req->seqnum;
		omx__send_abort(ep, req, err == OMX_ABI_EINVAL ? OMX_BAD_ERROR : omx__abi_to_ret(err));
		return -1;
	}
	req->state &= ~OMX__REQ_NEED_RESOURCES;
	req->state |= OMX__REQ_NEED_ACK;
	omx__send_wait_ack(ep, req, omx__now(ep));
	return 1;
}

static void omx__send_assign_seqnum(struct omx__request *req)
{
	struct omx__partner *partner = req->partner;

	req->state &= ~OMX__REQ_NEED_SEQNUM;
	req->seqnum = partner->next_send_seq;
	partner->next_send_seq = omx__seqnum_increase(partner->next_send_seq);
	omx_list_add_tail(&req->partner_elt, &partner->non_acked_q);
}

static void omx__send_post_or_park(struct omx_endpoint *ep, struct omx__request *req)
{
	if (!omx_list_empty(&ep->need_resources_q))
		omx__send_park(ep, req, 0, 0);
	else
		(void)omx__send_try_post(ep, req, 0);
}

/* A large send takes its region before its seqnum (see omx_large.c).
 * Returns 0 to go on, 1 when it must wait, -1 when it failed. */
static int omx__send_large_ready(struct omx_endpoint *ep, struct omx__request *req)
{
	int err;

	if (req->type != OMX__REQ_SEND_LARGE)
		return 0;
	err = omx__large_send_reserve(ep, req);
	if (err == 0)
		return 0;
	if (err == OMX__ENORES)
		return 1;
	omx__send_abort(ep, req, err == OMX_ABI_EINVAL ? OMX_BAD_ERROR : omx__abi_to_ret(err));
	return -1;
}

static void omx__send_wait_seqnum(struct omx__request *req)
{
	req->state |= OMX__REQ_NEED_SEQNUM;
	omx_list_add_tail(&req->queue_elt, &req->partner->need_seqnum_q);
}

/*
 * Notifies are not messages of the application: they only wait for
 * throttling, never behind the partner's sends, so a large send waiting for
 * a region (that a notify would free) cannot hold them.
 */
void omx__send_submit(struct omx_endpoint *ep, struct omx__request *req)
{
	struct omx__partner *partner = req->partner;
	int ready;

	omx__assert_locked(ep);
	if (omx__seqnum_throttled(partner->next_send_seq, partner->next_acked_send_seq) ||
	    (req->type != OMX__REQ_RECV_LARGE && !omx_list_empty(&partner->need_seqnum_q))) {
		omx__send_wait_seqnum(req);
		return;
	}
	/* Partners already waiting for a region get it first; the next
	 * progress pass hands out what is free in waiting order. */
	if (req->type == OMX__REQ_SEND_LARGE && !omx_list_empty(&ep->large_wait_q)) {
		ready = 1;
		ep->large_released = 1;
	} else {
		ready = omx__send_large_ready(ep, req);
	}
	if (ready < 0)
		return;
	if (ready > 0) {
		omx__send_wait_seqnum(req);
		omx__large_wait_update(ep, partner, 1);
		return;
	}
	omx__send_assign_seqnum(req);
	omx__send_post_or_park(ep, req);
}

/* Called when acks open the window or a region comes back.  Application
 * sends leave in order and stop at a large one short of a region; notifies
 * behind it go on. */
void omx__send_release_throttled(struct omx_endpoint *ep, struct omx__partner *partner)
{
	struct omx_list *pos, *tmp;
	int blocked = 0;

	omx_list_for_each_safe(pos, tmp, &partner->need_seqnum_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

		if (omx__seqnum_throttled(partner->next_send_seq, partner->next_acked_send_seq))
			break;
		if (req->type != OMX__REQ_RECV_LARGE) {
			int ready;

			if (blocked)
				continue;
			ready = omx__send_large_ready(ep, req);
			if (ready < 0)
				continue;     /* failed, and off the queue */
			if (ready > 0) {
				blocked = 1;
				continue;
			}
		}
		omx_list_del(&req->queue_elt);
		omx__send_assign_seqnum(req);
		omx__send_post_or_park(ep, req);
	}
	omx__large_wait_update(ep, partner, blocked);
}

/* Parked sends go out in FIFO order; the first one still short stops us. */
void omx__send_retry_parked(struct omx_endpoint *ep)
{
	while (!omx_list_empty(&ep->need_resources_q)) {
		struct omx__request *req = omx_list_first_entry(&ep->need_resources_q,
								struct omx__request, queue_elt);

		omx_list_del(&req->queue_elt);
		if (omx__send_try_post(ep, req, 1) == 0)
			break;
	}
}

/* ---- completion --------------------------------------------------------- */

/* A send is finished once acked, posted and its fragments are out. */
void omx__send_try_finish(struct omx_endpoint *ep, struct omx__request *req)
{
	if (req->state & (OMX__REQ_MEDIUMSQ_SENDING | OMX__REQ_NEED_ACK | OMX__REQ_NEED_RESOURCES |
			  OMX__REQ_NEED_SEQNUM | OMX__REQ_NEED_REPLY))
		return;
	if (req->type == OMX__REQ_SEND_MEDIUMSQ && req->send.slots_ready) {
		omx__sendq_free(ep, req->send.frags_nr, req->send.slots);
		req->send.slots_ready = 0;
	}
	omx__request_done(ep, req, OMX_SUCCESS);
}

void omx__send_acked(struct omx_endpoint *ep, struct omx__request *req)
{
	req->state &= ~OMX__REQ_NEED_ACK;
	omx_list_del(&req->queue_elt);
	omx__send_try_finish(ep, req);
}

/* Fail a send or a notify (nack, partner cleanup, driver error).  A medium
 * whose fragments are still with the driver keeps its slots until FRAG_DONE. */
void omx__send_abort(struct omx_endpoint *ep, struct omx__request *req, omx_return_t code)
{
	omx_list_del(&req->partner_elt);
	omx_list_del(&req->queue_elt);
	req->state &= ~(OMX__REQ_NEED_ACK | OMX__REQ_NEED_RESOURCES | OMX__REQ_NEED_SEQNUM);
	if (req->type == OMX__REQ_SEND_LARGE) {
		/* A receiver still pulling from it gets BAD_RDMAWIN. */
		omx__large_send_release(ep, req);
		req->state &= ~OMX__REQ_NEED_REPLY;
	}
	omx__request_set_error(req, code);
	omx__send_try_finish(ep, req);
}

void omx__process_frag_done(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	uint32_t offset = ev->send_mediumsq_frag_done.sendq_offset;
	uint32_t slot = offset / ep->layout.slot_size;
	struct omx__request *req;

	if (offset % ep->layout.slot_size || slot >= ep->layout.sendq_entries) {
		OMX__COUNT(ep, DROP_BAD_FRAG_DONE);
		return;
	}
	req = ep->sendq_owner[slot];
	if (!req || !(req->state & OMX__REQ_MEDIUMSQ_SENDING) || !req->send.frags_pending_nr) {
		OMX__COUNT(ep, DROP_BAD_FRAG_DONE);
		return;
	}
	if (--req->send.frags_pending_nr)
		return;
	req->state &= ~OMX__REQ_MEDIUMSQ_SENDING;
	omx__send_try_finish(ep, req);
}

/* ---- resend ------------------------------------------------------------- */

/* RNDVs and NOTIFYs on their backoff (see omx_ack.c); these resends do
 * not count against resends_max, which keeps its resend_delay meaning. */
static void omx__send_resend_early(struct omx_endpoint *ep, uint64_t now)
{
	struct omx_list *pos, *tmp;

	omx_list_for_each_safe(pos, tmp, &ep->resend_early_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);
		int err;

		if (now - req->last_send_jiffies < omx__resend_timeout(ep, req))
			continue;
		err = omx__post(ep, req);
		if (err == OMX_ABI_EAGAIN || err == OMX__ENORES) {
			if (err == OMX_ABI_EAGAIN)
				ep->retry_deadline = now + 1;
			continue;
		}
		req->early_resends++;
		OMX__COUNT(ep, RESEND);
		OMX__COUNT(ep, RESEND_EARLY);
		omx__send_wait_ack(ep, req, now);
	}
}

/*
 * resend_q is in last-send order: stop at the first request not yet due.
 * A medium whose previous FRAG_DONEs are not all back (or that lacks exp
 * slots) is skipped this time.  A request out of resends takes its partner
 * down: everything pending to it completes UNREACHABLE.
 */
void omx__send_resend(struct omx_endpoint *ep, uint64_t now)
{
	struct omx_list *pos, *tmp;

	omx__send_resend_early(ep, now);
restart:
	omx_list_for_each_safe(pos, tmp, &ep->resend_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);
		int err;

		if (now - req->last_send_jiffies < ep->resend_delay)
			break;
		if (req->resends >= req->resends_max) {
			OMX__COUNT(ep, PARTNER_TIMEOUT);
			omx__verbose("partner %u:%u unreachable after %u resends", req->partner->peer_index,
				     req->partner->endpoint_index, req->resends);
			omx__partner_cleanup(ep, req->partner, 1, OMX_REMOTE_ENDPOINT_UNREACHABLE);
			goto restart;
		}
		if (req->type == OMX__REQ_SEND_MEDIUMSQ &&
		    ((req->state & OMX__REQ_MEDIUMSQ_SENDING) ||
		     omx__exp_events_avail(ep) < req->send.frags_nr))
			continue;
		err = omx__post(ep, req);
		if (err == OMX_ABI_EAGAIN || err == OMX__ENORES) {
			if (err == OMX_ABI_EAGAIN)
				ep->retry_deadline = now + 1;
			continue;
		}
		req->resends++;
		OMX__COUNT(ep, RESEND);
		omx__send_wait_ack(ep, req, now);
	}
}

/* ---- the API ------------------------------------------------------------ */

static omx_return_t omx__isend_locked(struct omx_endpoint *ep, struct omx__partner *partner,
				      const void *buffer, size_t length, const omx_endpoint_addr_t *dest,
				      uint64_t match_info, void *context, int sync,
				      struct omx__request **out)
{
	enum omx__send_class cls;
	struct omx__request *req;
	static const enum omx__request_type types[] = {
		[OMX__SEND_TINY] = OMX__REQ_SEND_TINY,
		[OMX__SEND_SMALL] = OMX__REQ_SEND_SMALL,
		[OMX__SEND_MEDIUM] = OMX__REQ_SEND_MEDIUMSQ,
		[OMX__SEND_LARGE] = OMX__REQ_SEND_LARGE,
	};

	if (length && !buffer)
		return OMX_BAD_ERROR;
	if (partner->is_self && !omx__globals.cfg.disable_self)
		return omx__self_send(ep, buffer, length, match_info, context, sync, out);
	if (partner->peer_index == 0xffff)
		return OMX_PEER_NOT_FOUND;
	if (length > UINT32_MAX)
		return OMX_NOT_IMPLEMENTED;   /* the wire carries 32-bit lengths */
	cls = omx__send_class(ep, partner, length, sync);

	req = omx__request_alloc(ep, types[cls]);
	if (!req)
		return OMX_NO_SYSTEM_RESOURCES;
	req->partner = partner;
	req->ctxid = omx__ctxid_of(ep, match_info);
	req->status.addr = *dest;
	req->status.match_info = match_info;
	req->status.msg_length = (uint32_t)length;
	req->status.xfer_length = (uint32_t)length;
	req->status.context = context;
	req->send.buffer = buffer;
	req->send.length = (uint32_t)length;
	if (cls == OMX__SEND_MEDIUM) {
		req->send.frag_max = ep->medium_frag_max;
		req->send.frag_pipeline = ep->frag_pipeline;
		req->send.frags_nr = (uint32_t)((length + ep->medium_frag_max - 1) / ep->medium_frag_max);
	} else if (length && cls != OMX__SEND_LARGE) {
		memcpy(req->send.data, buffer, length);
	}
	*out = req;
	omx__send_submit(ep, req);
	return OMX_SUCCESS;
}

static omx_return_t omx__isend_common(omx_endpoint_t ep, const void *buffer, size_t length,
				      omx_endpoint_addr_t dest, uint64_t match_info, void *context,
				      omx_request_t *request, int sync)
{
	struct omx__partner *partner = omx__partner_from_addr(&dest);
	struct omx__request *req = NULL;
	omx_return_t ret;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_isend: bad endpoint");
	if (!partner || partner->ep != ep)
		return omx__error(ep, OMX_BAD_ENDPOINT, "omx_isend: bad destination address");
	omx__lock(ep);
	ret = omx__isend_locked(ep, partner, buffer, length, &dest, match_info, context, sync, &req);
	if (ret == OMX_SUCCESS) {
		if (request)
			*request = req;
		else
			omx__request_consume(ep, req);
		omx__progress(ep);
	}
	omx__unlock(ep);
	return omx__error(ep, ret, "%s of %zu bytes", sync ? "omx_issend" : "omx_isend", length);
}

omx_return_t omx_isend(omx_endpoint_t ep, const void *buffer, size_t length, omx_endpoint_addr_t dest,
		       uint64_t match_info, void *context, omx_request_t *request)
{
	return omx__isend_common(ep, buffer, length, dest, match_info, context, request, 0);
}

omx_return_t omx_issend(omx_endpoint_t ep, const void *buffer, size_t length, omx_endpoint_addr_t dest,
			uint64_t match_info, void *context, omx_request_t *request)
{
	return omx__isend_common(ep, buffer, length, dest, match_info, context, request, 1);
}

/* ---- self ---------------------------------------------------------------- */

/* Messages to our own endpoint never reach the driver (unless
 * OMX_DISABLE_SELF): the data is copied straight to a posted receive, or
 * kept as an unexpected message. */
omx_return_t omx__self_send(struct omx_endpoint *ep, const void *buffer, size_t length,
			    uint64_t match_info, void *context, int sync, struct omx__request **out)
{
	struct omx__request *req;

	if (length > UINT32_MAX)
		return OMX_NOT_IMPLEMENTED;
	req = omx__request_alloc(ep, OMX__REQ_SEND_SELF);
	if (!req)
		return OMX_NO_SYSTEM_RESOURCES;
	req->partner = ep->myself;
	req->ctxid = omx__ctxid_of(ep, match_info);
	omx__partner_to_addr(ep->myself, &req->status.addr);
	req->status.match_info = match_info;
	req->status.msg_length = (uint32_t)length;
	req->status.xfer_length = (uint32_t)length;
	req->status.context = context;
	req->send.buffer = buffer;
	req->send.length = (uint32_t)length;
	*out = req;
	omx__recv_deliver_self(ep, req, sync);
	if (!(req->state & OMX__REQ_UNEXPECTED_SELF))
		omx__request_done(ep, req, OMX_SUCCESS);
	return OMX_SUCCESS;
}
