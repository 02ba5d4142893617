/*
 * omx_partner.c - partners (one per remote endpoint), the connect handshake,
 * disconnect and partner cleanup.
 *
 * Sessions: each endpoint instance has a random 32-bit session.  A partner
 * keeps the peer's true_session_id (learnt from a connect reply, or from a
 * request we answered; stamped on our messages) and back_session_id (the
 * peer instance whose messages we accept, used for our acks).  A change of
 * back session means a new peer instance: the old receive state is dropped
 * and the receive seqnums restart.  A change of true session, or a request
 * or reply whose seqnum start lives in another session-bit window, makes us
 * restart our send seqnums where the peer says it expects them.  The app key
 * is checked here, by the receiving library only.
 */
#include <stdlib.h>
#include <string.h>

#include "omx_lib.h"

#define OMX__PARTNER_ROW 256   /* endpoint indices per peer (OMX_ENDPOINT_INDEX_MAX) */

void omx__partner_init_seqnums(struct omx__partner *partner, uint16_t send_start, uint16_t recv_start)
{
	partner->next_send_seq = send_start;
	partner->next_acked_send_seq = send_start;
	partner->next_match_recv_seq = recv_start;
	partner->next_frag_recv_seq = recv_start;
	partner->last_acked_recv_seq = recv_start;
}

static struct omx__partner *omx__partner_new(struct omx_endpoint *ep, uint16_t peer_index,
					     uint8_t endpoint_index)
{
	struct omx__partner *partner = calloc(1, sizeof(*partner));
	struct omx_abi_peer_info info;

	if (!partner)
		return NULL;
	partner->magic = OMX__PARTNER_MAGIC;
	partner->ep = ep;
	partner->peer_index = peer_index;
	partner->endpoint_index = endpoint_index;
	if (peer_index != 0xffff && ep->ops->peer_from_index(ep->drv, peer_index, &info) == 0)
		partner->board_addr = info.board_addr;
	omx_list_init(&partner->ack_elt);
	omx_list_init(&partner->non_acked_q);
	omx_list_init(&partner->need_seqnum_q);
	omx_list_init(&partner->partial_q);
	omx_list_init(&partner->early_q);
	omx_list_init(&partner->large_wait_elt);
	omx__partner_init_seqnums(partner, 1, 1);
	return partner;
}

struct omx__partner *omx__partner_lookup(struct omx_endpoint *ep, uint16_t peer_index,
					 uint8_t endpoint_index, int create)
{
	struct omx__partner **row;

	if (peer_index >= ep->peer_max)
		return NULL;
	row = ep->partners[peer_index];
	if (!row) {
		if (!create)
			return NULL;
		row = calloc(OMX__PARTNER_ROW, sizeof(*row));
		if (!row)
			return NULL;
		ep->partners[peer_index] = row;
	}
	if (!row[endpoint_index] && create)
		row[endpoint_index] = omx__partner_new(ep, peer_index, endpoint_index);
	return row[endpoint_index];
}

/* The partner for our own endpoint: sessions are ours, seqnums start at 1.
 * It lives in the table when our board is in the peer table, so that
 * OMX_DISABLE_SELF traffic coming back through the driver finds it. */
struct omx__partner *omx__partner_create_self(struct omx_endpoint *ep)
{
	struct omx__partner *self;

	if (ep->my_peer_index != 0xffff)
		self = omx__partner_lookup(ep, ep->my_peer_index, (uint8_t)ep->endpoint_index, 1);
	else
		self = omx__partner_new(ep, 0xffff, (uint8_t)ep->endpoint_index);
	if (!self)
		return NULL;
	self->is_self = 1;
	self->board_addr = ep->board.addr;
	self->shared = (uint8_t)ep->shared_ok;
	self->true_session_id = self->back_session_id = ep->session_id;
	self->true_session_known = self->back_session_known = 1;
	return self;
}

struct omx__partner *omx__partner_from_addr(const omx_endpoint_addr_t *addr)
{
	struct omx__partner *partner = (struct omx__partner *)(uintptr_t)addr->data[0];

	if (!partner || partner->magic != OMX__PARTNER_MAGIC)
		return NULL;
	return partner;
}

void omx__partner_to_addr(const struct omx__partner *partner, omx_endpoint_addr_t *addr)
{
	addr->data[0] = (uint64_t)(uintptr_t)partner;
	addr->data[1] = partner->true_session_id;
}

static void omx__early_free_all(struct omx__partner *partner)
{
	struct omx_list *pos, *tmp;

	omx_list_for_each_safe(pos, tmp, &partner->early_q) {
		omx_list_del(pos);
		free(omx_list_entry(pos, struct omx__early_packet, elt));
	}
	partner->early_nr = 0;
}

void omx__partners_free(struct omx_endpoint *ep)
{
	struct omx__partner *lone_self = NULL;
	uint32_t p, e;

	if (ep->myself && ep->myself->peer_index == 0xffff)
		lone_self = ep->myself;         /* not in the table */
	ep->myself = NULL;
	for (p = 0; p < ep->peer_max; p++) {
		struct omx__partner **row = ep->partners[p];

		if (!row)
			continue;
		for (e = 0; e < OMX__PARTNER_ROW; e++) {
			if (!row[e])
				continue;
			omx__early_free_all(row[e]);
			row[e]->magic = 0;
			free(row[e]);
		}
		free(row);
	}
	if (lone_self) {
		omx__early_free_all(lone_self);
		lone_self->magic = 0;
		free(lone_self);
	}
	free(ep->partners);
	ep->partners = NULL;
}

/* ---- cleanup ------------------------------------------------------------ */

static void omx__partner_abort_sends(struct omx_endpoint *ep, struct omx__partner *partner,
				     omx_return_t code)
{
	while (!omx_list_empty(&partner->non_acked_q))
		omx__send_abort(ep, omx_list_first_entry(&partner->non_acked_q, struct omx__request,
							 partner_elt), code);
	while (!omx_list_empty(&partner->need_seqnum_q))
		omx__send_abort(ep, omx_list_first_entry(&partner->need_seqnum_q, struct omx__request,
							 queue_elt), code);
}

/*
 * Forget what is in flight with a partner.  disconnect=1 (omx_disconnect, or
 * resends exhausted) also fails the pending connects and bumps the session
 * bits of every seqnum, so stale traffic of the old numbering is dropped.
 */
void omx__partner_cleanup(struct omx_endpoint *ep, struct omx__partner *partner, int disconnect,
			  omx_return_t code)
{
	struct omx_list *pos, *tmp;

	omx__partner_abort_sends(ep, partner, code);
	omx__large_partner_cleanup(ep, partner, code);
	if (disconnect) {
		omx_list_for_each_safe(pos, tmp, &ep->connect_q) {
			struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

			if (req->partner == partner)
				omx__connect_complete(ep, req, code);
		}
	}
	omx__partner_recv_cleanup(ep, partner);
	omx__early_free_all(partner);
	omx__ack_dequeue(partner);
	if (disconnect && !partner->is_self) {
		partner->next_send_seq = omx__sesnum_bump(partner->next_send_seq);
		partner->next_acked_send_seq = partner->next_send_seq;
		partner->next_match_recv_seq = omx__sesnum_bump(partner->next_match_recv_seq);
		partner->next_frag_recv_seq = partner->next_match_recv_seq;
		partner->last_acked_recv_seq = partner->next_match_recv_seq;
	}
}

/* The driver is gone (interface removed, split backend dead): nothing it
 * holds will ever complete, so fail every request that waits for it or for
 * a partner, as resends exhausted would, but now. */
void omx__partners_driver_gone(struct omx_endpoint *ep)
{
	uint32_t p, e;

	/* Fragments the driver will never report sent. */
	for (uint32_t slot = 0; slot < ep->layout.sendq_entries; slot++) {
		struct omx__request *req = ep->sendq_owner[slot];

		if (req && (req->state & OMX__REQ_MEDIUMSQ_SENDING)) {
			req->state &= ~OMX__REQ_MEDIUMSQ_SENDING;
			req->send.frags_pending_nr = 0;
		}
	}
	for (p = 0; p < ep->peer_max; p++) {
		struct omx__partner **row = ep->partners[p];

		if (!row)
			continue;
		for (e = 0; e < OMX__PARTNER_ROW; e++)
			if (row[e])
				omx__partner_cleanup(ep, row[e], 1, OMX_REMOTE_ENDPOINT_UNREACHABLE);
	}
}

/* Restart our send numbering where the peer expects it. */
static void omx__partner_reset_send(struct omx_endpoint *ep, struct omx__partner *partner,
				    uint16_t start)
{
	omx__partner_abort_sends(ep, partner, OMX_REMOTE_ENDPOINT_UNREACHABLE);
	partner->next_send_seq = start;
	partner->next_acked_send_seq = start;
}

static int omx__send_restart_needed(const struct omx__partner *partner, uint32_t session,
				    uint16_t start)
{
	return !partner->true_session_known || partner->true_session_id != session ||
	       omx__sesnum(start) != omx__sesnum(partner->next_send_seq);
}

/* ---- connect: replier side ---------------------------------------------- */

void omx__process_connect_request(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	const __typeof__(ev->recv_connect_request) *r = &ev->recv_connect_request;
	struct omx_abi_send_connect_reply reply;
	struct omx__partner *partner;
	uint8_t status;

	partner = omx__partner_lookup(ep, r->peer_index, r->src_endpoint, 1);
	if (!partner) {
		OMX__COUNT(ep, DROP_BAD_PARTNER);
		return;
	}
	status = r->app_key == ep->app_key ? OMX_CONNECT_STATUS_SUCCESS : OMX_CONNECT_STATUS_BAD_KEY;
	partner->shared = (uint8_t)(r->shared && ep->shared_ok);

	/* The state follows the request even when the key is wrong (as the
	 * reference does): the requester only learns the status. */
	if (!partner->is_self &&
	    (!partner->back_session_known || partner->back_session_id != r->src_session_id)) {
		if (partner->back_session_known)
			omx__partner_cleanup(ep, partner, 0, OMX_REMOTE_ENDPOINT_UNREACHABLE);
		partner->next_match_recv_seq = (uint16_t)(omx__sesnum(partner->next_match_recv_seq) | 1);
		partner->next_frag_recv_seq = partner->next_match_recv_seq;
		partner->last_acked_recv_seq = partner->next_match_recv_seq;
		partner->last_recv_acknum = 0;
	}
	if (!partner->is_self &&
	    omx__send_restart_needed(partner, r->src_session_id, r->target_recv_seqnum_start))
		omx__partner_reset_send(ep, partner, r->target_recv_seqnum_start);
	partner->true_session_id = partner->back_session_id = r->src_session_id;
	partner->true_session_known = partner->back_session_known = 1;

	memset(&reply, 0, sizeof(reply));
	reply.peer_index = r->peer_index;
	reply.dest_endpoint = r->src_endpoint;
	reply.shared_disabled = (uint8_t)!ep->shared_ok;
	reply.src_session_id = r->src_session_id;
	reply.target_session_id = ep->session_id;
	reply.target_recv_seqnum_start = partner->next_match_recv_seq;
	reply.connect_seqnum = r->connect_seqnum;
	reply.status_code = status;
	/* A lost reply is recovered by the requester's resend. */
	(void)ep->ops->send_connect_reply(ep->drv, ep->handle, &reply);
}

/* ---- connect: requester side -------------------------------------------- */

void omx__connect_complete(struct omx_endpoint *ep, struct omx__request *req, omx_return_t code)
{
	omx_list_del(&req->queue_elt);
	req->state &= ~OMX__REQ_NEED_REPLY;
	omx__request_done(ep, req, code);
}

void omx__process_connect_reply(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	const __typeof__(ev->recv_connect_reply) *r = &ev->recv_connect_reply;
	struct omx__request *req = NULL;
	struct omx__partner *partner;
	struct omx_list *pos;
	omx_return_t code;

	partner = omx__partner_lookup(ep, r->peer_index, r->src_endpoint, 0);
	if (!partner || r->src_session_id != ep->session_id) {
		OMX__COUNT(ep, DROP_CONNECT_REPLY);
		return;
	}
	omx_list_for_each(pos, &ep->connect_q) {
		struct omx__request *c = omx_list_entry(pos, struct omx__request, queue_elt);

		if (c->partner == partner && c->connect.connect_seqnum == r->connect_seqnum) {
			req = c;
			break;
		}
	}
	if (!req) {
		OMX__COUNT(ep, DROP_CONNECT_REPLY);   /* a duplicate, or a cancelled connect */
		return;
	}
	if (r->status_code == OMX_CONNECT_STATUS_SUCCESS) {
		code = OMX_SUCCESS;
	} else if (r->status_code == OMX_CONNECT_STATUS_BAD_KEY) {
		code = OMX_REMOTE_ENDPOINT_BAD_CONNECTION_KEY;
	} else {
		OMX__COUNT(ep, DROP_CONNECT_REPLY);   /* unknown status: ignored */
		return;
	}
	if (code == OMX_SUCCESS && !partner->is_self) {
		partner->shared = (uint8_t)(r->shared && ep->shared_ok);
		/* The peer already numbers its sends from the start we gave in
		 * our request, so our receive seqnums stay as they are. */
		if (partner->back_session_known && partner->back_session_id != r->target_session_id) {
			omx__partner_cleanup(ep, partner, 0, OMX_REMOTE_ENDPOINT_UNREACHABLE);
			partner->last_recv_acknum = 0;
		}
		if (omx__send_restart_needed(partner, r->target_session_id, r->target_recv_seqnum_start))
			omx__partner_reset_send(ep, partner, r->target_recv_seqnum_start);
		partner->true_session_id = partner->back_session_id = r->target_session_id;
		partner->true_session_known = partner->back_session_known = 1;
		if (!req->resends)
			omx__rtt_sample(ep, partner, omx__now(ep) - req->last_send_jiffies);
	}
	req->status.addr.data[0] = (uint64_t)(uintptr_t)partner;
	req->status.addr.data[1] = r->target_session_id;
	omx__connect_complete(ep, req, code);
	omx__send_retry_parked(ep);
}

int omx__connect_post(struct omx_endpoint *ep, struct omx__request *req)
{
	struct omx__partner *partner = req->partner;
	struct omx_abi_send_connect_request cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.peer_index = partner->peer_index;
	cmd.dest_endpoint = partner->endpoint_index;
	cmd.shared_disabled = (uint8_t)!ep->shared_ok;
	cmd.src_session_id = ep->session_id;
	cmd.app_key = req->connect.key;
	cmd.target_recv_seqnum_start = partner->next_match_recv_seq;
	cmd.connect_seqnum = req->connect.connect_seqnum;
	req->last_send_jiffies = omx__now(ep);
	return ep->ops->send_connect_request(ep->drv, ep->handle, &cmd);
}

/* Connect requests are resent every resend delay, up to the request's
 * resends_max; the queue is kept in last-send order. */
void omx__connect_resend(struct omx_endpoint *ep, uint64_t now)
{
	struct omx_list *pos, *tmp;

	omx_list_for_each_safe(pos, tmp, &ep->connect_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

		if (now - req->last_send_jiffies < ep->resend_delay)
			break;
		if (req->resends >= req->resends_max) {
			omx__connect_complete(ep, req, OMX_REMOTE_ENDPOINT_UNREACHABLE);
			continue;
		}
		if (omx__connect_post(ep, req) == OMX_ABI_EAGAIN) {
			req->last_send_jiffies = now - ep->resend_delay;   /* due again */
			break;
		}
		req->resends++;
		OMX__COUNT(ep, CONNECT_RESEND);
		omx_list_del(&req->queue_elt);
		omx_list_add_tail(&req->queue_elt, &ep->connect_q);
	}
}

static omx_return_t omx__iconnect_locked(struct omx_endpoint *ep, uint64_t nic_id, uint32_t endpoint_id,
					 uint32_t key, uint64_t match_info, void *context,
					 struct omx__request **out)
{
	struct omx_abi_peer_info peer;
	struct omx__partner *partner;
	struct omx__request *req;
	int err;

	if (endpoint_id >= OMX_ENDPOINT_INDEX_MAX)
		return OMX_BAD_ENDPOINT;
	if (nic_id == ep->board.addr && endpoint_id == ep->endpoint_index) {
		partner = ep->myself;
	} else {
		err = ep->ops->peer_from_addr(ep->drv, nic_id, &peer);
		if (err < 0)
			return OMX_PEER_NOT_FOUND;
		partner = omx__partner_lookup(ep, (uint16_t)peer.index, (uint8_t)endpoint_id, 1);
		if (!partner)
			return peer.index >= ep->peer_max ? OMX_PEER_NOT_FOUND : OMX_NO_SYSTEM_RESOURCES;
	}
	req = omx__request_alloc(ep, OMX__REQ_CONNECT);
	if (!req)
		return OMX_NO_SYSTEM_RESOURCES;
	req->partner = partner;
	req->status.match_info = match_info;
	req->status.context = context;
	req->ctxid = omx__ctxid_of(ep, match_info);
	omx__partner_to_addr(partner, &req->status.addr);
	req->connect.key = key;
	*out = req;
	if (partner == ep->myself) {
		omx__request_done(ep, req, key == ep->app_key ? OMX_SUCCESS
							       : OMX_REMOTE_ENDPOINT_BAD_CONNECTION_KEY);
		return OMX_SUCCESS;
	}
	req->connect.connect_seqnum = partner->connect_seqnum++;
	req->state = OMX__REQ_NEED_REPLY;
	omx_list_add_tail(&req->queue_elt, &ep->connect_q);
	err = omx__connect_post(ep, req);
	if (err == OMX_ABI_EAGAIN)
		req->last_send_jiffies -= ep->resend_delay;   /* due at the next pass */
	else if (err < 0)
		omx__connect_complete(ep, req, omx__abi_to_ret(err));
	return OMX_SUCCESS;
}

omx_return_t omx_iconnect(omx_endpoint_t ep, uint64_t nic_id, uint32_t endpoint_id, uint32_t key,
			  uint64_t match_info, void *context, omx_request_t *request)
{
	struct omx__request *req = NULL;
	omx_return_t ret;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_iconnect: bad endpoint");
	omx__lock(ep);
	ret = omx__iconnect_locked(ep, nic_id, endpoint_id, key, match_info, context, &req);
	if (ret == OMX_SUCCESS) {
		if (request)
			*request = req;
		else
			omx__request_consume(ep, req);   /* nobody will test it */
		omx__progress(ep);
	}
	omx__unlock(ep);
	return omx__error(ep, ret, "omx_iconnect to endpoint %u", endpoint_id);
}

static int omx__connect_done(struct omx_endpoint *ep, void *arg)
{
	(void)ep;
	return (((struct omx__request *)arg)->state & OMX__REQ_DONE) != 0;
}

omx_return_t omx_connect(omx_endpoint_t ep, uint64_t nic_id, uint32_t endpoint_id, uint32_t key,
			 uint32_t timeout_ms, omx_endpoint_addr_t *addr)
{
	struct omx__request *req = NULL;
	omx_return_t ret;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_connect: bad endpoint");
	omx__lock(ep);
	if (omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_connect in handler");
	}
	ret = omx__iconnect_locked(ep, nic_id, endpoint_id, key, 0, NULL, &req);
	if (ret != OMX_SUCCESS)
		goto out;
	/* Internal: completed without entering the done queues. */
	req->state |= OMX__REQ_INTERNAL;
	omx_list_del(&req->done_elt);
	omx_list_del(&req->done_any_elt);
	if (timeout_ms != OMX_TIMEOUT_INFINITE)
		req->resends_max = omx__timeout_to_resends(timeout_ms);
	if (!omx__wait_loop(ep, omx__connect_done, req, timeout_ms)) {
		omx_list_del(&req->queue_elt);
		omx__request_free(ep, req);
		ret = OMX_TIMEOUT;
		goto out;
	}
	ret = req->status.code;
	if (ret == OMX_REMOTE_ENDPOINT_UNREACHABLE)
		ret = OMX_TIMEOUT;
	if (ret == OMX_SUCCESS && addr)
		*addr = req->status.addr;
	omx__request_free(ep, req);
out:
	omx__unlock(ep);
	return omx__error(ep, ret, "omx_connect to endpoint %u", endpoint_id);
}

omx_return_t omx_disconnect(omx_endpoint_t ep, omx_endpoint_addr_t addr)
{
	struct omx__partner *partner = omx__partner_from_addr(&addr);

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_disconnect: bad endpoint");
	if (!partner || partner->ep != ep)
		return omx__error(ep, OMX_BAD_ENDPOINT, "omx_disconnect: bad address");
	omx__lock(ep);
	if (!partner->is_self) {
		/* Acknowledge what we got so the peer does not resend it forever. */
		if (partner->ack_state != OMX__ACK_NONE)
			(void)omx__send_liback(ep, partner);
		omx__partner_cleanup(ep, partner, 1, OMX_REMOTE_ENDPOINT_UNREACHABLE);
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}
