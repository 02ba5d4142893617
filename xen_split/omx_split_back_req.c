/*
 * omx_split_back_req.c - the backend's side of the ring: fetch each request
 * once, check every field, run it on the engine, answer it.
 *
 * Every request gets exactly one response, in order, in the slot the
 * request came in (rsp_prod_pvt == req_cons after each), so a response slot
 * is always free.  A posted request that the engine refuses for want of
 * resources (OMX_ABI_EAGAIN) stays unconsumed and is tried again on a
 * later pass: the requests behind it keep their order.  A posted request
 * that fails gets its error response (counted) and, where the library
 * waits for a completion event, that event: SEND_MEDIUMSQ_FRAG_DONE for a
 * fragment (its sendq slot is free again), PULL_DONE ABORTED for a pull.
 *
 * Errors: every error response is counted for the frontend; malformed ones
 * (EINVAL, EPERM) also in a one-second window, and a window past the
 * error limit disconnects that frontend: a stream of garbage costs its
 * sender the connection, never the other frontends their service.
 */
#include <string.h>
#include <unistd.h>

#include "omx_split_back_priv.h"
#include "omx_wire.h"

#define OMX_SPLIT_BACK_RETRY 1
#define OMX_SPLIT_BACK_ERR_LOG_MAX 8      /* error lines per frontend with -v */

void omx_split_back_count_error(struct omx_split_back_fe *fe, int ret)
{
	uint64_t now;

	fe->st.errors++;
	fe->b->st.errors++;
	if (ret != OMX_ABI_EINVAL && ret != OMX_ABI_EPERM)
		return;
	fe->st.malformed++;
	now = omx_split_back_now_ms();
	if (now - fe->err_window >= 1000) {
		fe->err_window = now;
		fe->err_in_window = 0;
	}
	if (++fe->err_in_window > fe->b->cfg.error_limit)
		omx_split_back_disconnect(fe, "error flood (malformed requests beyond the limit)");
}

/* A string field must end inside its array. */
static int omx_split_back_str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int omx_split_back_counters(struct omx_split_back_fe *fe, const struct omx_split_req_counters *c,
				   struct omx_split_response *rsp)
{
	struct omx_split_back *b = fe->b;
	uint32_t vals[OMX_COUNTER_INDEX_MAX];
	int ret;

	if (c->nr > OMX_SPLIT_COUNTERS_PER_RSP || c->first > OMX_COUNTER_INDEX_MAX || c->clear > 1)
		return OMX_ABI_EINVAL;
	if (c->clear && !fe->admin)
		return OMX_ABI_EPERM;
	ret = b->ops->get_counters(b->drv, c->board_index, (int)c->clear, vals, OMX_COUNTER_INDEX_MAX);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < c->nr; i++)
		rsp->u.counters[i] = c->first + i < OMX_COUNTER_INDEX_MAX ? vals[c->first + i] : 0;
	return 0;
}

/* A guest may learn a known peer's index and add a bare address (what a
 * host query learns anyway), a bounded number of times; naming a peer,
 * clearing and the table's state stay the admin's.  Returns the index, as
 * the engine does. */
static int omx_split_back_guest_peer_add(struct omx_split_back_fe *fe, uint64_t addr, const char *name)
{
	struct omx_split_back *b = fe->b;
	struct omx_abi_peer_info pi;

	if (b->ops->peer_from_addr(b->drv, addr, &pi) == 0)
		return (int)pi.index;
	if (!addr || name[0] || fe->peers_added >= OMX_SPLIT_BACK_GUEST_PEERS)
		return OMX_ABI_EPERM;
	fe->peers_added++;
	return b->ops->peer_add(b->drv, addr, "");
}

/* Requests that name no endpoint. */
static int omx_split_back_control(struct omx_split_back_fe *fe, const struct omx_split_request *req,
				  struct omx_split_response *rsp)
{
	struct omx_split_back *b = fe->b;
	struct omx_abi_driver *d = b->drv;
	const struct omx_split_req_board *rb = &req->u.board;

	switch (req->func) {
	case OMX_SPLIT_GET_INFO:
		return b->ops->get_info(d, &rsp->u.driver_info);
	case OMX_SPLIT_GET_BOARD_INFO:
		return b->ops->get_board_info(d, rb->board_index, &rsp->u.board_info);
	case OMX_SPLIT_GET_ENDPOINT_STATE:
		return b->ops->get_endpoint_state(d, rb->board_index, rb->endpoint_index, &rsp->u.endpoint_state);
	case OMX_SPLIT_GET_COUNTERS:
		return omx_split_back_counters(fe, &req->u.counters, rsp);
	case OMX_SPLIT_SET_HOSTNAME:
		if (!fe->admin)
			return OMX_ABI_EPERM;
		if (!omx_split_back_str_ok(rb->hostname, sizeof(rb->hostname)))
			return OMX_ABI_EINVAL;
		return b->ops->set_hostname(d, rb->board_index, rb->hostname);
	case OMX_SPLIT_PEER_ADD:
		if (!omx_split_back_str_ok(rb->hostname, sizeof(rb->hostname)))
			return OMX_ABI_EINVAL;
		b->next_due = 0;     /* endpoint 0 queries the new peer's name */
		return fe->admin ? b->ops->peer_add(d, rb->board_addr, rb->hostname)
				 : omx_split_back_guest_peer_add(fe, rb->board_addr, rb->hostname);
	case OMX_SPLIT_PEER_TABLE_CLEAR:
		return fe->admin ? b->ops->peer_table_clear(d) : OMX_ABI_EPERM;
	case OMX_SPLIT_PEER_TABLE_GET_STATE:
		return b->ops->peer_table_get_state(d, &rsp->u.peer_table_state);
	case OMX_SPLIT_PEER_TABLE_SET_STATE:
		return fe->admin ? b->ops->peer_table_set_state(d, &req->u.peer_table_state) : OMX_ABI_EPERM;
	case OMX_SPLIT_PEER_FROM_INDEX:
		return b->ops->peer_from_index(d, rb->peer_index, &rsp->u.peer_info);
	case OMX_SPLIT_PEER_FROM_ADDR:
		return b->ops->peer_from_addr(d, rb->board_addr, &rsp->u.peer_info);
	case OMX_SPLIT_PEER_FROM_HOSTNAME:
		if (!omx_split_back_str_ok(rb->hostname, sizeof(rb->hostname)))
			return OMX_ABI_EINVAL;
		return b->ops->peer_from_hostname(d, rb->hostname, &rsp->u.peer_info);
	case OMX_SPLIT_OPEN_ENDPOINT:
		return omx_split_back_ep_open(fe, &req->u.open_endpoint, &rsp->u.endpoint_info);
	default:
		return OMX_ABI_EINVAL;
	}
}

/* The fields the engine would otherwise be first to see; it checks them
 * again, and what only it can judge (peer indices, regions) stays its own. */
static int omx_split_back_posted_ok(const struct omx_split_back *b, const struct omx_split_request *req)
{
	const struct omx_abi_send_medium_frag *m = &req->u.send_medium_frag;
	const struct omx_abi_pull *p = &req->u.pull;

	switch (req->func) {
	case OMX_SPLIT_SEND_TINY:
		return req->u.send_tiny.length <= OMX_TINY_MSG_LENGTH_MAX && req->u.send_tiny.hdr.shared <= 1;
	case OMX_SPLIT_SEND_SMALL:
		return req->u.send_small.length <= OMX_SMALL_MSG_LENGTH_MAX && req->u.send_small.hdr.shared <= 1;
	case OMX_SPLIT_SEND_MEDIUM_FRAG:
		return m->sendq_offset % OMX_ABI_QUEUE_SLOT_SIZE == 0 &&
		       m->sendq_offset / OMX_ABI_QUEUE_SLOT_SIZE < OMX_ABI_SENDQ_ENTRIES &&
		       m->frag_length <= OMX_ABI_QUEUE_SLOT_SIZE && m->frag_length <= m->msg_length &&
		       m->frag_seqnum < OMX_MEDIUM_FRAGS_MAX && m->hdr.shared <= 1;
	case OMX_SPLIT_SEND_RNDV:
		return req->u.send_rndv.hdr.shared <= 1;
	case OMX_SPLIT_SEND_NOTIFY:
		return req->u.send_notify.shared <= 1;
	case OMX_SPLIT_SEND_CONNECT_REQUEST:
		return req->u.send_connect_request.shared_disabled <= 1;
	case OMX_SPLIT_SEND_CONNECT_REPLY:
		return req->u.send_connect_reply.shared_disabled <= 1;
	case OMX_SPLIT_SEND_LIBACK:
		return req->u.send_liback.shared <= 1 && req->u.send_liback.resent <= 1;
	case OMX_SPLIT_PULL:
		return p->puller_rdma_id < OMX_ABI_REGION_ID_MAX && p->pulled_rdma_id < OMX_ABI_REGION_ID_MAX &&
		       p->pulled_rdma_seqnum <= UINT8_MAX && p->resend_timeout_ms > 0 && p->shared <= 1 &&
		       p->peer_index < b->info.peer_max;
	default:
		return 1;
	}
}

static int omx_split_back_posted(struct omx_split_back_fe *fe, uint32_t h, const struct omx_split_request *req)
{
	struct omx_split_back *b = fe->b;
	const struct omx_abi_ops *ops = b->ops;
	struct omx_abi_driver *d = b->drv;

	if (!omx_split_back_posted_ok(b, req))
		return OMX_ABI_EINVAL;
	switch (req->func) {
	case OMX_SPLIT_SEND_TINY:
		return ops->send_tiny(d, h, &req->u.send_tiny);
	case OMX_SPLIT_SEND_SMALL:
		return ops->send_small(d, h, &req->u.send_small);
	case OMX_SPLIT_SEND_MEDIUM_FRAG:
		return ops->send_medium_frag(d, h, &req->u.send_medium_frag);
	case OMX_SPLIT_SEND_RNDV:
		return ops->send_rndv(d, h, &req->u.send_rndv);
	case OMX_SPLIT_SEND_NOTIFY:
		return ops->send_notify(d, h, &req->u.send_notify);
	case OMX_SPLIT_SEND_CONNECT_REQUEST:
		return ops->send_connect_request(d, h, &req->u.send_connect_request);
	case OMX_SPLIT_SEND_CONNECT_REPLY:
		return ops->send_connect_reply(d, h, &req->u.send_connect_reply);
	case OMX_SPLIT_SEND_LIBACK:
		return ops->send_liback(d, h, &req->u.send_liback);
	case OMX_SPLIT_PULL:
		b->next_due = 0;     /* a new pull timer */
		return ops->pull(d, h, &req->u.pull);
	case OMX_SPLIT_RELEASE_EXP_SLOTS:
		return ops->release_exp_slots(d, h);
	case OMX_SPLIT_RELEASE_UNEXP_SLOTS:
		return ops->release_unexp_slots(d, h);
	default:
		return OMX_ABI_EINVAL;
	}
}

/* The event the library waits for after a posted request it thinks went out. */
static void omx_split_back_complete(struct omx_split_back_fe *fe, uint32_t h, const struct omx_split_request *req)
{
	union omx_abi_event ev;

	memset(&ev, 0, sizeof(ev));
	if (req->func == OMX_SPLIT_SEND_MEDIUM_FRAG) {
		ev.send_mediumsq_frag_done.sendq_offset = req->u.send_medium_frag.sendq_offset;
		ev.generic.type = OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE;
	} else if (req->func == OMX_SPLIT_PULL) {
		ev.pull_done.lib_cookie = req->u.pull.lib_cookie;
		ev.pull_done.puller_rdma_id = req->u.pull.puller_rdma_id;
		ev.pull_done.status = OMX_ABI_STATUS_ABORTED;
		ev.generic.type = OMX_ABI_EVT_PULL_DONE;
	} else {
		return;
	}
	if (omx_drv_shadow_complete(fe->b->drv, h, &ev) == 0)
		fe->st.completions++;
}

/* Run one request; OMX_SPLIT_BACK_RETRY leaves it for a later pass. */
static int omx_split_back_dispatch(struct omx_split_back_fe *fe, const struct omx_split_request *req,
				   struct omx_split_response *rsp)
{
	struct omx_split_back *b = fe->b;
	struct omx_split_back_ep *ep = NULL;
	int posted = omx_split_func_is_posted(req->func), ret;

	memset(rsp, 0, sizeof(*rsp));
	rsp->func = req->func;
	rsp->id = req->id;
	if (req->func < OMX_SPLIT_CLOSE_ENDPOINT) {
		ret = omx_split_back_control(fe, req, rsp);
	} else if (!(ep = omx_split_back_ep_find(fe, req->handle))) {
		/* Not an endpoint of this frontend, whatever the engine has there. */
		ret = OMX_ABI_EINVAL;
	} else if (req->func == OMX_SPLIT_CLOSE_ENDPOINT) {
		omx_split_back_ep_close(ep);
		ep = NULL;
		ret = 0;
	} else if (req->func == OMX_SPLIT_CREATE_REGION) {
		ret = omx_split_back_region_create(ep, &req->u.create_region);
	} else if (req->func == OMX_SPLIT_DESTROY_REGION) {
		ret = omx_split_back_region_destroy(ep, req->u.region_id);
	} else if (posted) {
		ret = omx_split_back_posted(fe, ep->handle, req);
		if (ret == OMX_ABI_EAGAIN) {
			fe->st.eagain++;
			return OMX_SPLIT_BACK_RETRY;
		}
		if (ret < 0)
			omx_split_back_complete(fe, ep->handle, req);
	} else {
		ret = OMX_ABI_EINVAL;
	}
	/* Events the command posted (FRAG_DONE, PULL_DONE, a NACK) wake a sleeper. */
	if (ep)
		omx_drv_shadow_ring(b->drv, ep->handle);
	fe->st.requests++;
	fe->st.posted += posted;
	b->st.requests++;
	rsp->ret = ret;
	if (ret < 0) {
		if (b->cfg.verbose && fe->st.errors < OMX_SPLIT_BACK_ERR_LOG_MAX)
			omx_split_back_log(b, "frontend %u: request func %u id %u: error %d", fe->id,
					   req->func, req->id, ret);
		omx_split_back_count_error(fe, ret);
	}
	return 0;
}

uint32_t omx_split_back_ring_serve(struct omx_split_back_fe *fe, uint32_t budget)
{
	struct omx_split_request req;
	struct omx_split_response rsp;
	uint32_t done = 0;
	int64_t avail;

	if (fe->state != OMX_SPLIT_STATE_CONNECTED || fe->dead)
		return 0;
	avail = omx_split_back_unconsumed_requests(&fe->ring);
	if (avail < 0) {
		omx_split_back_disconnect(fe, "ring index lie (req_prod beyond the ring)");
		return 0;
	}
	fe->retry = 0;
	while (done < budget && avail > 0 && !fe->dead) {
		/* One copy, then only the copy (X6): the slot stays writable. */
		memcpy(&req, &omx_split_ring_slot(fe->sring, fe->ring.req_cons)->req, sizeof(req));
		if (omx_split_back_dispatch(fe, &req, &rsp) == OMX_SPLIT_BACK_RETRY) {
			fe->retry = 1;
			break;
		}
		fe->ring.req_cons++;
		memcpy(&omx_split_ring_slot(fe->sring, fe->ring.rsp_prod_pvt)->rsp, &rsp, sizeof(rsp));
		fe->ring.rsp_prod_pvt++;
		done++;
		avail--;
	}
	if (done && omx_split_back_push_responses(&fe->ring)) {
		uint64_t one = 1;

		if (write(fe->notify_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN: saturated, so readable already. */
		}
	}
	return done;
}

int omx_split_back_ring_final_check(struct omx_split_back_fe *fe)
{
	int64_t n;

	if (fe->state != OMX_SPLIT_STATE_CONNECTED || fe->dead)
		return 1;
	n = omx_split_back_final_check(&fe->ring);
	if (n < 0) {
		omx_split_back_disconnect(fe, "ring index lie (req_prod beyond the ring)");
		return -1;
	}
	return n > 0 ? 0 : 1;
}
