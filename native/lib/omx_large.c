/*
 * omx_large.c - large messages: regions, rendezvous, pull and notify.
 *
 * Sender: a large message (above the rendezvous threshold, or any issend)
 * first registers its buffer as a region, then takes its seqnum and posts a
 * RNDV naming the region.  It completes once the RNDV is acked and the
 * receiver's NOTIFY has said how many bytes it pulled.
 * Receiver: the RNDV is matched in seqnum order like any message.  The
 * matched receive registers min(buffer, message) bytes of its buffer,
 * reserves one expected event and has the driver pull; on PULL_DONE the
 * region goes away and the receive turns into a seqnum'd NOTIFY, completing
 * early like a buffered send.  Nothing is pulled when that length is 0.
 *
 * A large send short of a region has no seqnum yet: it waits in its
 * partner's need_seqnum queue (later sends to that partner queue behind it,
 * so their order holds) while notifies go past it.  A seqnum taken before
 * the region would leave a hole the peer's matching waits on, and the
 * notifies that free regions would then be stuck behind holes on both sides.
 */
#include <string.h>

#include "omx_lib.h"

/* ---- region ids --------------------------------------------------------- */

void omx__large_init(struct omx_endpoint *ep)
{
	uint32_t i;

	for (i = 0; i < OMX__REGION_MAX; i++) {
		ep->regions[i].id = (uint8_t)i;
		ep->regions[i].last_seqnum = OMX__REGION_SEQNUM_START;
		ep->region_free[i] = (uint8_t)i;
	}
	ep->region_free_head = 0;
	ep->region_free_nr = OMX__REGION_MAX;
	ep->large_sends_avail = OMX__LARGE_SENDS_MAX;
	omx_list_init(&ep->large_wait_q);
	omx_list_init(&ep->need_pull_q);
}

/* Ids are reused in FIFO order: the longest-freed first, so a late frame
 * naming an old id most likely finds it still free. */
static struct omx__region *omx__region_alloc(struct omx_endpoint *ep)
{
	uint8_t id;

	if (!ep->region_free_nr)
		return NULL;
	id = ep->region_free[ep->region_free_head];
	ep->region_free_head = (ep->region_free_head + 1) % OMX__REGION_MAX;
	ep->region_free_nr--;
	return &ep->regions[id];
}

static void omx__region_unalloc(struct omx_endpoint *ep, struct omx__region *r)
{
	r->holder = NULL;
	r->cookie = 0;
	ep->region_free[(ep->region_free_head + ep->region_free_nr) % OMX__REGION_MAX] = r->id;
	ep->region_free_nr++;
}

static int omx__region_create(struct omx_endpoint *ep, struct omx__region *r, const void *buffer,
			      uint32_t length)
{
	struct omx_abi_region_segment seg = { (uint64_t)(uintptr_t)buffer, length };
	struct omx_abi_create_region cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.id = r->id;
	cmd.nr_segments = length ? 1 : 0;
	cmd.segments_offset = (uint64_t)(uintptr_t)&seg;
	return ep->ops->create_region(ep->drv, ep->handle, &cmd);
}

/* The driver never touches the memory again once destroy returns (a pull
 * still running into it completes ABORTED). */
static void omx__region_release(struct omx_endpoint *ep, struct omx__region *r)
{
	(void)ep->ops->destroy_region(ep->drv, ep->handle, r->id);
	omx__region_unalloc(ep, r);
	ep->large_released = 1;
}

void omx__large_close(struct omx_endpoint *ep)
{
	uint32_t i;

	for (i = 0; i < OMX__REGION_MAX; i++)
		if (ep->regions[i].holder)
			omx__region_release(ep, &ep->regions[i]);
}

/* ---- sender ------------------------------------------------------------- */

/* 0 when the send holds a region, OMX__ENORES to wait, else a driver error. */
int omx__large_send_reserve(struct omx_endpoint *ep, struct omx__request *req)
{
	struct omx__region *r;
	int err;

	if (req->send.region)
		return 0;
	if (!ep->large_sends_avail || !(r = omx__region_alloc(ep)))
		return OMX__ENORES;
	err = omx__region_create(ep, r, req->send.buffer, req->send.length);
	if (err < 0) {
		omx__region_unalloc(ep, r);
		if (err != OMX_ABI_EAGAIN && err != OMX_ABI_ENOMEM)
			return err;
		/* No event will bring the driver's memory back: retry on a timer. */
		ep->retry_deadline = omx__now(ep) + 1;
		ep->large_released = 1;
		return OMX__ENORES;
	}
	ep->large_sends_avail--;
	r->holder = req;
	req->send.region = r;
	req->send.region_id = r->id;
	req->send.region_seqnum = r->last_seqnum++;
	req->state |= OMX__REQ_NEED_REPLY;
	return 0;
}

void omx__large_send_release(struct omx_endpoint *ep, struct omx__request *req)
{
	if (!req->send.region)
		return;
	omx__region_release(ep, req->send.region);
	req->send.region = NULL;
	ep->large_sends_avail++;
}

void omx__large_wait_update(struct omx_endpoint *ep, struct omx__partner *partner, int waiting)
{
	if (waiting && !partner->large_waiting) {
		omx_list_add_tail(&partner->large_wait_elt, &ep->large_wait_q);
		partner->large_waiting = 1;
		OMX__COUNT(ep, LARGE_SEND_WAIT);
	} else if (!waiting && partner->large_waiting) {
		omx_list_del(&partner->large_wait_elt);
		partner->large_waiting = 0;
	}
}

/*
 * Also resent after the NOTIFY freed the region, while the RNDV is still
 * unacked: the receiver drops the copy as a duplicate and, when it is its
 * last seqnum, acks at once.  Sending nothing there would leave a lost ack
 * unrepaired until the partner times out.  The stale region id and seqnum
 * cannot be pulled: the driver checks the seqnum of the region.
 */
int omx__large_post_rndv(struct omx_endpoint *ep, struct omx__request *req)
{
	struct omx_abi_send_rndv cmd;

	memset(&cmd, 0, sizeof(cmd));
	omx__send_fill_hdr(req, &cmd.hdr);
	cmd.msg_length = req->send.length;
	cmd.pulled_rdma_id = req->send.region_id;
	cmd.pulled_rdma_seqnum = req->send.region_seqnum;
	return ep->ops->send_rndv(ep->drv, ep->handle, &cmd);
}

/* A NOTIFY, in seqnum order: the receiver is done with our region. */
void omx__large_process_notify(struct omx_endpoint *ep, struct omx__partner *partner,
			       const union omx_abi_event *ev)
{
	const __typeof__(ev->recv_notify) *n = &ev->recv_notify;
	struct omx__request *req = ep->regions[n->pulled_rdma_id].holder;
	uint32_t xfer;

	if (!req || req->type != OMX__REQ_SEND_LARGE || req->partner != partner ||
	    req->send.region_seqnum != n->pulled_rdma_seqnum) {
		OMX__COUNT(ep, DROP_BAD_NOTIFY);
		return;
	}
	xfer = n->length < req->send.length ? n->length : req->send.length;
	req->status.xfer_length = xfer;
	omx__large_send_release(ep, req);
	req->state &= ~OMX__REQ_NEED_REPLY;
	if (xfer < req->send.length)
		omx__request_set_error(req, OMX_MESSAGE_TRUNCATED);
	omx__send_try_finish(ep, req);
}

/* ---- receiver ----------------------------------------------------------- */

int omx__large_post_notify(struct omx_endpoint *ep, struct omx__request *req)
{
	const struct omx__partner *partner = req->partner;
	struct omx_abi_send_notify cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.peer_index = partner->peer_index;
	cmd.dest_endpoint = partner->endpoint_index;
	cmd.shared = partner->shared;
	cmd.session_id = partner->back_session_id;
	cmd.total_length = req->recv.notify_length;
	cmd.seqnum = req->seqnum;
	cmd.piggyack = partner->next_frag_recv_seq;
	cmd.pulled_rdma_id = req->recv.pulled_rdma_id;
	cmd.pulled_rdma_seqnum = req->recv.pulled_rdma_seqnum;
	return ep->ops->send_notify(ep->drv, ep->handle, &cmd);
}

/* The receive becomes a seqnum'd NOTIFY of length bytes; its status is
 * final from here on. */
static void omx__large_notify(struct omx_endpoint *ep, struct omx__request *req, uint32_t length,
			      omx_return_t code)
{
	/* Posted from inside the RNDV's own processing (nothing to pull, a
	 * discard, a refused pull), the NOTIFY must already piggyback the ack
	 * of that RNDV: a lost liback would otherwise leave it unacked. */
	omx__recv_update_frag_seq(ep, req->partner);
	req->recv.notify_length = length;
	omx__request_set_error(req, code);
	omx__send_submit(ep, req);
}

static uint32_t omx__pull_timeout_ms(const struct omx__request *req)
{
	uint64_t ms = (uint64_t)req->resends_max * omx__globals.cfg.resend_delay_ms;

	if (!ms)
		return 1;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* 0 when pulling, OMX__ENORES / OMX_ABI_EAGAIN to retry, else a driver error. */
static int omx__large_pull(struct omx_endpoint *ep, struct omx__request *req)
{
	const struct omx__partner *partner = req->partner;
	struct omx_abi_pull cmd;
	struct omx__region *r;
	int err;

	if (!omx__exp_events_avail(ep))
		return OMX__ENORES;
	r = omx__region_alloc(ep);
	if (!r)
		return OMX__ENORES;
	err = omx__region_create(ep, r, req->recv.buffer, req->status.xfer_length);
	if (err < 0)
		goto err_unalloc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.peer_index = partner->peer_index;
	cmd.dest_endpoint = partner->endpoint_index;
	cmd.shared = partner->shared;
	cmd.session_id = partner->back_session_id;
	cmd.length = req->status.xfer_length;
	cmd.resend_timeout_ms = omx__pull_timeout_ms(req);
	cmd.puller_rdma_id = r->id;
	cmd.pulled_rdma_id = req->recv.pulled_rdma_id;
	cmd.pulled_rdma_seqnum = req->recv.pulled_rdma_seqnum;
	cmd.pulled_rdma_offset = req->recv.pulled_rdma_offset;
	/* The id finds the region, the generation rejects a late PULL_DONE
	 * of an earlier pull that used the same id. */
	cmd.lib_cookie = ((uint64_t)++ep->pull_generation << 8) | r->id;
	ep->exp_outstanding++;
	err = ep->ops->pull(ep->drv, ep->handle, &cmd);
	if (err < 0) {
		ep->exp_outstanding--;
		(void)ep->ops->destroy_region(ep->drv, ep->handle, r->id);
		goto err_unalloc;
	}
	r->holder = req;
	r->cookie = cmd.lib_cookie;
	req->recv.region = r;
	req->state |= OMX__REQ_DRIVER_PULLING;
	return 0;

err_unalloc:
	omx__region_unalloc(ep, r);
	return err == OMX_ABI_ENOMEM ? OMX_ABI_EAGAIN : err;
}

/* The driver refused the pull: the sender, alive and waiting, is told that
 * nothing was taken. */
static void omx__large_pull_failed(struct omx_endpoint *ep, struct omx__request *req, int err)
{
	OMX__COUNT(ep, PULL_FAILED);
	omx__verbose("endpoint %u: pull of %u bytes refused by the driver (%d)", ep->endpoint_index,
		     req->status.xfer_length, err);
	req->status.xfer_length = 0;
	omx__large_notify(ep, req, 0, err == OMX_ABI_EINVAL ? OMX_BAD_ERROR : omx__abi_to_ret(err));
}

/* A receive matched to a RNDV (posted, or an unexpected one taken by irecv).
 * From here on it cannot be cancelled: the driver may be writing into it. */
void omx__large_recv_start(struct omx_endpoint *ep, struct omx__request *req)
{
	uint32_t msg = req->status.msg_length;
	uint32_t xfer = req->recv.length < msg ? req->recv.length : msg;
	int err;

	req->type = OMX__REQ_RECV_LARGE;
	req->status.xfer_length = xfer;
	if (!xfer) {
		omx__large_notify(ep, req, 0, msg ? OMX_MESSAGE_TRUNCATED : OMX_SUCCESS);
		return;
	}
	if (omx_list_empty(&ep->need_pull_q)) {
		err = omx__large_pull(ep, req);
		if (err == 0)
			return;
		if (err != OMX__ENORES && err != OMX_ABI_EAGAIN) {
			omx__large_pull_failed(ep, req, err);
			return;
		}
		if (err == OMX_ABI_EAGAIN)
			ep->retry_deadline = omx__now(ep) + 1;
	}
	req->state |= OMX__REQ_NEED_RESOURCES;
	omx_list_add_tail(&req->queue_elt, &ep->need_pull_q);
	OMX__COUNT(ep, PULL_WAIT);
}

void omx__large_recv_rndv(struct omx_endpoint *ep, struct omx__request *req, const union omx_abi_event *ev)
{
	req->recv.pulled_rdma_id = ev->recv_rndv.pulled_rdma_id;
	req->recv.pulled_rdma_seqnum = ev->recv_rndv.pulled_rdma_seqnum;
	req->recv.pulled_rdma_offset = ev->recv_rndv.pulled_rdma_offset;
	if (!(req->state & OMX__REQ_UNEXPECTED_RECV))
		omx__large_recv_start(ep, req);
}

/* The unexpected handler finished a RNDV: tell the sender nothing was
 * taken (it completes TRUNCATED) through an internal request. */
void omx__large_discard(struct omx_endpoint *ep, struct omx__partner *partner, const union omx_abi_event *ev)
{
	const struct omx_abi_evt_msg_head *head = &ev->recv_rndv.head;
	struct omx__request *req = omx__request_alloc(ep, OMX__REQ_RECV_LARGE);

	if (!req) {
		partner->next_match_recv_seq = head->seqnum;   /* the resend brings it back */
		return;
	}
	req->state = OMX__REQ_INTERNAL;
	omx__request_zombify(ep, req);
	req->partner = partner;
	req->ctxid = omx__ctxid_of(ep, head->match_info);
	omx__partner_to_addr(partner, &req->status.addr);
	req->status.match_info = head->match_info;
	req->status.msg_length = ev->recv_rndv.msg_length;
	req->recv.pulled_rdma_id = ev->recv_rndv.pulled_rdma_id;
	req->recv.pulled_rdma_seqnum = ev->recv_rndv.pulled_rdma_seqnum;
	omx__large_notify(ep, req, 0, OMX_SUCCESS);
}

static omx_return_t omx__pull_status_to_ret(uint32_t status)
{
	switch (status) {
	case OMX_ABI_STATUS_SUCCESS:
		return OMX_SUCCESS;
	case OMX_ABI_STATUS_BAD_ENDPT:
		return OMX_REMOTE_ENDPOINT_BAD_ID;
	case OMX_ABI_STATUS_ENDPT_CLOSED:
		return OMX_REMOTE_ENDPOINT_CLOSED;
	case OMX_ABI_STATUS_BAD_SESSION:
		return OMX_REMOTE_ENDPOINT_BAD_SESSION;
	case OMX_ABI_STATUS_BAD_RDMAWIN:
		return OMX_REMOTE_RDMA_WINDOW_BAD_ID;
	case OMX_ABI_STATUS_TIMEOUT:
		return OMX_REMOTE_ENDPOINT_UNREACHABLE;
	default:
		return OMX_MESSAGE_ABORTED;
	}
}

/*
 * A failed pull completes the receive without a NOTIFY: the sender is gone
 * (closed, another session, silent past the pull deadline) or its region
 * is (its send was aborted), so nobody waits for one.
 */
void omx__large_process_pull_done(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	const __typeof__(ev->pull_done) *d = &ev->pull_done;
	struct omx__region *r = &ep->regions[d->lib_cookie & (OMX__REGION_MAX - 1)];
	struct omx__request *req = r->holder;
	uint32_t xfer, msg;
	omx_return_t code;

	if (!req || r->cookie != d->lib_cookie || d->puller_rdma_id != r->id ||
	    !(req->state & OMX__REQ_DRIVER_PULLING)) {
		/* ABORTED: a pull we gave up on (partner cleanup). */
		if (d->status == OMX_ABI_STATUS_ABORTED)
			OMX__COUNT(ep, DROP_STALE_PULL_DONE);
		else
			OMX__COUNT(ep, DROP_BAD_PULL_DONE);
		return;
	}
	req->state &= ~OMX__REQ_DRIVER_PULLING;
	req->recv.region = NULL;
	omx__region_release(ep, r);
	xfer = req->status.xfer_length;
	msg = req->status.msg_length;
	if (d->status == OMX_ABI_STATUS_SUCCESS && d->pulled_length == xfer) {
		omx__large_notify(ep, req, xfer, xfer < msg ? OMX_MESSAGE_TRUNCATED : OMX_SUCCESS);
		return;
	}
	code = omx__pull_status_to_ret(d->status);
	OMX__COUNT(ep, PULL_FAILED);
	omx__verbose("endpoint %u: pull of %u bytes from partner %u:%u failed: %s", ep->endpoint_index, xfer,
		     req->partner->peer_index, req->partner->endpoint_index, omx_strerror(code));
	req->status.xfer_length = 0;
	omx__request_done(ep, req, code == OMX_SUCCESS ? OMX_MESSAGE_ABORTED : code);
}

/* ---- cleanup and progress ----------------------------------------------- */

/*
 * The partner is gone (or is another instance now).  Sends still unacked
 * were aborted with the non-acked queue; here go the acked ones waiting for
 * a NOTIFY, the receives pulling from it (their region is destroyed first,
 * so nothing lands in the buffer afterwards; the driver's ABORTED PULL_DONE
 * is then dropped as stale) and those waiting to pull.
 */
void omx__large_partner_cleanup(struct omx_endpoint *ep, struct omx__partner *partner, omx_return_t code)
{
	struct omx_list *pos, *tmp;
	uint32_t i;

	for (i = 0; i < OMX__REGION_MAX; i++) {
		struct omx__region *r = &ep->regions[i];
		struct omx__request *req = r->holder;

		if (!req || req->partner != partner)
			continue;
		if (req->type == OMX__REQ_SEND_LARGE) {
			omx__send_abort(ep, req, code);
			continue;
		}
		req->state &= ~OMX__REQ_DRIVER_PULLING;
		req->recv.region = NULL;
		omx__region_release(ep, r);
		req->status.xfer_length = 0;
		omx__request_done(ep, req, code);
	}
	omx_list_for_each_safe(pos, tmp, &ep->need_pull_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, queue_elt);

		if (req->partner != partner)
			continue;
		omx_list_del(&req->queue_elt);
		req->state &= ~OMX__REQ_NEED_RESOURCES;
		req->status.xfer_length = 0;
		omx__request_done(ep, req, code);
	}
	/* Its waiting sends were aborted with the need_seqnum queue. */
	omx__large_wait_update(ep, partner, 0);
}

/* Pulls first (they hold regions only briefly), then the large sends
 * waiting for a region, partner by partner in waiting order. */
void omx__large_progress(struct omx_endpoint *ep)
{
	struct omx_list *pos, *tmp;

	while (!omx_list_empty(&ep->need_pull_q)) {
		struct omx__request *req = omx_list_first_entry(&ep->need_pull_q, struct omx__request,
								queue_elt);
		int err = omx__large_pull(ep, req);

		if (err == OMX__ENORES || err == OMX_ABI_EAGAIN) {
			if (err == OMX_ABI_EAGAIN)
				ep->retry_deadline = omx__now(ep) + 1;
			break;
		}
		omx_list_del(&req->queue_elt);
		req->state &= ~OMX__REQ_NEED_RESOURCES;
		if (err < 0)
			omx__large_pull_failed(ep, req, err);
	}
	if (!ep->large_released)
		return;
	ep->large_released = 0;
	omx_list_for_each_safe(pos, tmp, &ep->large_wait_q) {
		if (!ep->large_sends_avail || !ep->region_free_nr)
			break;
		omx__send_release_throttled(ep, omx_list_entry(pos, struct omx__partner, large_wait_elt));
	}
}
