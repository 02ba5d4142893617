/*
 * omx_ack.c - acknowledgements in both directions, nacks, and the wakeup
 * deadline that lets a blocked wait run resends and delayed acks.
 *
 * Receiver: every seqnum'd message we send piggybacks next_frag_recv_seq
 * ("everything below is fully received").  Without traffic to carry it, a
 * LIBACK goes out at once after notacked_max unacked seqnums (or when the
 * previous seqnum shows up again: our ack was lost), else after ack_delay.
 * Sender: an ack value acknowledges the non-acked requests below it; libacks
 * carry a monotonic acknum so a reordered old liback is ignored.
 *
 * Early resends: a lost RNDV or NOTIFY stalls a whole large message, so
 * those two are resent after a timeout taken from the partner's measured
 * round trip (RFC 6298 style, Karn's rule: only frames sent once are
 * sampled), doubling each time up to resend_delay, from where the usual
 * resends go on.  The receiver acks them at once (omx_recv.c), so the
 * samples carry no ack delay; connect replies give the first one.
 */
#include <string.h>

#include "omx_lib.h"

omx_return_t omx__nack_to_ret(uint8_t nack_type, int *known)
{
	*known = 1;
	switch (nack_type) {
	case OMX_NACK_TYPE_BAD_ENDPT:
		return OMX_REMOTE_ENDPOINT_BAD_ID;
	case OMX_NACK_TYPE_ENDPT_CLOSED:
		return OMX_REMOTE_ENDPOINT_CLOSED;
	case OMX_NACK_TYPE_BAD_SESSION:
		return OMX_REMOTE_ENDPOINT_BAD_SESSION;
	default:
		*known = 0;
		return OMX_BAD_ERROR;
	}
}

/* ---- sender side -------------------------------------------------------- */

void omx__handle_ack(struct omx_endpoint *ep, struct omx__partner *partner, uint16_t ack)
{
	uint64_t now = 0;
	uint16_t new_nr;

	if (omx__sesnum(ack) != omx__sesnum(partner->next_acked_send_seq)) {
		OMX__COUNT(ep, DROP_BAD_ACK);
		return;
	}
	new_nr = omx__ack_new_count(ack, partner->next_acked_send_seq, partner->next_send_seq);
	if (!new_nr)
		return;               /* nothing new: a duplicate or an older ack */
	while (!omx_list_empty(&partner->non_acked_q)) {
		struct omx__request *req = omx_list_first_entry(&partner->non_acked_q,
								struct omx__request, partner_elt);

		if (omx__seqnum_diff(req->seqnum, partner->next_acked_send_seq) >= new_nr)
			break;
		if ((req->type == OMX__REQ_SEND_LARGE || req->type == OMX__REQ_RECV_LARGE) &&
		    !req->resends && !req->early_resends && (req->state & OMX__REQ_NEED_ACK)) {
			if (!now)
				now = omx__now(ep);
			omx__rtt_sample(ep, partner, now - req->last_send_jiffies);
		}
		omx_list_del(&req->partner_elt);
		omx__send_acked(ep, req);
	}
	partner->next_acked_send_seq = ack;
	omx__send_release_throttled(ep, partner);
}

void omx__process_liback(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	const __typeof__(ev->recv_liback) *a = &ev->recv_liback;
	struct omx__partner *partner;

	partner = omx__partner_lookup(ep, a->peer_index, a->src_endpoint, 0);
	if (!partner) {
		OMX__COUNT(ep, DROP_BAD_PARTNER);
		return;
	}
	if (omx__sesnum(a->lib_seqnum) != omx__sesnum(partner->next_acked_send_seq)) {
		OMX__COUNT(ep, DROP_BAD_ACK);
		return;
	}
	if (!omx__acknum_newer(a->acknum, partner->last_recv_acknum)) {
		OMX__COUNT(ep, DROP_STALE_ACKNUM);
		return;
	}
	partner->last_recv_acknum = a->acknum;
	omx__handle_ack(ep, partner, a->lib_seqnum);
}

/* A nack names the message by seqnum; seqnum 0 is a connect request. */
void omx__process_nack_lib(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	const __typeof__(ev->recv_nack_lib) *n = &ev->recv_nack_lib;
	struct omx__partner *partner;
	struct omx_list *pos;
	omx_return_t code;
	int known;

	code = omx__nack_to_ret(n->nack_type, &known);
	if (!known) {
		OMX__COUNT(ep, DROP_UNKNOWN_NACK);
		return;
	}
	partner = omx__partner_lookup(ep, n->peer_index, n->src_endpoint, 0);
	if (!partner) {
		OMX__COUNT(ep, DROP_NACK_NO_REQUEST);
		return;
	}
	if (n->seqnum == 0) {
		omx_list_for_each(pos, &ep->connect_q) {
			struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

			if (req->partner == partner) {
				omx__connect_complete(ep, req, code);
				return;
			}
		}
	}
	omx_list_for_each(pos, &partner->non_acked_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, partner_elt);

		if (req->seqnum == n->seqnum) {
			omx__send_abort(ep, req, code);
			return;
		}
	}
	OMX__COUNT(ep, DROP_NACK_NO_REQUEST);
}

/* ---- receiver side ------------------------------------------------------ */

void omx__ack_dequeue(struct omx__partner *partner)
{
	omx_list_del(&partner->ack_elt);
	partner->ack_state = OMX__ACK_NONE;
}

/* A seqnum'd message to this partner just carried next_frag_recv_seq. */
void omx__piggyacked(struct omx_endpoint *ep, struct omx__partner *partner)
{
	(void)ep;
	partner->last_acked_recv_seq = partner->next_frag_recv_seq;
	omx__ack_dequeue(partner);
}

void omx__mark_received(struct omx_endpoint *ep, struct omx__partner *partner, int immediate)
{
	uint16_t unacked = omx__seqnum_diff(partner->next_frag_recv_seq, partner->last_acked_recv_seq);

	if (immediate || unacked >= omx__globals.cfg.notacked_max || !ep->ack_delay) {
		if (!immediate && !unacked)
			return;
		if (partner->ack_state == OMX__ACK_NONE)
			omx_list_add_tail(&partner->ack_elt, &ep->ack_q);
		partner->ack_state = OMX__ACK_IMMEDIATE;
		OMX__COUNT(ep, ACK_IMMEDIATE);
	} else if (unacked && partner->ack_state == OMX__ACK_NONE) {
		partner->ack_state = OMX__ACK_DELAYED;
		partner->ack_deadline = omx__now(ep) + ep->ack_delay;
		omx_list_add_tail(&partner->ack_elt, &ep->ack_q);
	}
}

int omx__send_liback(struct omx_endpoint *ep, struct omx__partner *partner)
{
	struct omx_abi_send_liback cmd;
	int err;

	if (!partner->back_session_known) {
		omx__ack_dequeue(partner);
		return 0;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.peer_index = partner->peer_index;
	cmd.dest_endpoint = partner->endpoint_index;
	cmd.shared = partner->shared;
	cmd.session_id = partner->back_session_id;
	cmd.acknum = ++partner->last_send_acknum;
	cmd.lib_seqnum = partner->next_frag_recv_seq;
	cmd.send_seq = partner->next_frag_recv_seq;
	err = ep->ops->send_liback(ep->drv, ep->handle, &cmd);
	if (err == OMX_ABI_EAGAIN) {
		ep->retry_deadline = omx__now(ep) + 1;
		return err;
	}
	/* Any other failure is a lost ack: the peer's resend brings it back. */
	OMX__COUNT(ep, ACK_SENT);
	omx__piggyacked(ep, partner);
	return err;
}

void omx__process_acks(struct omx_endpoint *ep, uint64_t now, int flush)
{
	struct omx_list *pos, *tmp;

	omx_list_for_each_safe(pos, tmp, &ep->ack_q) {
		struct omx__partner *partner = omx_list_entry(pos, struct omx__partner, ack_elt);

		if (flush || partner->ack_state == OMX__ACK_IMMEDIATE || now >= partner->ack_deadline)
			(void)omx__send_liback(ep, partner);
	}
}

/* ---- round trip and early resends ------------------------------------- */

void omx__rtt_sample(struct omx_endpoint *ep, struct omx__partner *partner, uint64_t sample)
{
	uint32_t r = (uint32_t)(sample < ep->resend_delay ? sample : ep->resend_delay);
	uint32_t srtt = partner->srtt8 >> 3, dev;

	if (!partner->rtt_known) {
		partner->srtt8 = r << 3;
		partner->rttvar4 = r << 1;
		partner->rtt_known = 1;
		return;
	}
	dev = srtt > r ? srtt - r : r - srtt;
	partner->rttvar4 = partner->rttvar4 - (partner->rttvar4 >> 2) + dev;
	partner->srtt8 = partner->srtt8 - (partner->srtt8 >> 3) + r;
}

/* When a posted request is due again: resend_delay, or for a RNDV or a
 * NOTIFY on its backoff the partner's timeout doubled per early resend.
 * Before any sample the backoff starts at rto_min * 4. */
uint64_t omx__resend_timeout(const struct omx_endpoint *ep, const struct omx__request *req)
{
	const struct omx__partner *partner = req->partner;
	uint64_t rto;

	if ((req->type != OMX__REQ_SEND_LARGE && req->type != OMX__REQ_RECV_LARGE) || req->resends)
		return ep->resend_delay;
	if (partner->rtt_known)
		rto = (partner->srtt8 >> 3) + partner->rttvar4;
	else
		rto = ep->rto_min * 4;
	if (rto < ep->rto_min)
		rto = ep->rto_min;
	rto <<= req->early_resends < 32 ? req->early_resends : 32;
	return rto < ep->resend_delay ? rto : ep->resend_delay;
}

/* ---- wakeup deadline ---------------------------------------------------- */

static void omx__deadline_min(uint64_t *best, uint64_t d, uint64_t now)
{
	if (d <= now)
		d = now + 1;          /* overdue: come back at the next tick */
	if (!*best || d < *best)
		*best = d;
}

/*
 * Tell the driver when a sleeping wait must come back to run resends and
 * delayed acks (OMX_ABI_WAIT_PROGRESS).  Sends blocked on FRAG_DONE events
 * or exp slots are skipped: those events wake the waiter anyway.
 */
void omx__update_wakeup(struct omx_endpoint *ep, uint64_t now)
{
	uint64_t best = 0;
	struct omx_list *pos;

	omx_list_for_each(pos, &ep->ack_q) {
		struct omx__partner *partner = omx_list_entry(pos, struct omx__partner, ack_elt);

		omx__deadline_min(&best, partner->ack_state == OMX__ACK_IMMEDIATE ? now
										    : partner->ack_deadline, now);
	}
	omx_list_for_each(pos, &ep->resend_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);
		uint64_t d = req->last_send_jiffies + ep->resend_delay;

		if (d > now) {
			omx__deadline_min(&best, d, now);
			break;
		}
	}
	omx_list_for_each(pos, &ep->resend_early_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

		omx__deadline_min(&best, req->last_send_jiffies + omx__resend_timeout(ep, req), now);
	}
	if (!omx_list_empty(&ep->connect_q)) {
		struct omx__request *req = omx_list_first_entry(&ep->connect_q, struct omx__request,
							       queue_elt);

		omx__deadline_min(&best, req->last_send_jiffies + ep->resend_delay, now);
	}
	if (ep->retry_deadline)
		omx__deadline_min(&best, ep->retry_deadline, now);
	__atomic_store_n(&ep->desc->wakeup_jiffies, best, __ATOMIC_RELAXED);
}
