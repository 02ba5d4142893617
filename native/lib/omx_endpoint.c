/*
 * omx_endpoint.c - endpoint open/close, the endpoint area, sendq slots,
 * request allocation and endpoint addresses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omx_lib.h"

/* ---- locking ------------------------------------------------------------ */

void omx__lock(struct omx_endpoint *ep)
{
	pthread_mutex_lock(&ep->lock);
}

/*
 * Requests completed while other threads sleep in ops->wait_event: bump
 * user_event_index first (a thread about to sleep then gets RACE), then wake
 * the sleepers so they re-check their requests.
 */
void omx__unlock(struct omx_endpoint *ep)
{
	if (ep->completions && ep->sleepers) {
		__atomic_add_fetch(&ep->desc->user_event_index, 1, __ATOMIC_RELEASE);
		ep->ops->wakeup(ep->drv, ep->handle);
	}
	ep->completions = 0;
	pthread_mutex_unlock(&ep->lock);
}

int omx__endpoint_valid(const struct omx_endpoint *ep)
{
	return ep && ep->magic == OMX__ENDPOINT_MAGIC;
}

uint64_t omx__now(const struct omx_endpoint *ep)
{
	return ep->ops->jiffies(ep->drv);
}

/* ---- resources ---------------------------------------------------------- */

/* Expected events we may still reserve: the ring holds the outstanding
 * reservations plus the consumed slots not yet handed back. */
uint32_t omx__exp_events_avail(const struct omx_endpoint *ep)
{
	uint32_t used = ep->exp_outstanding + ep->exp_unreleased;

	return used >= ep->layout.eventq_entries ? 0 : ep->layout.eventq_entries - used;
}

int omx__sendq_alloc(struct omx_endpoint *ep, uint32_t nr, uint16_t *slots)
{
	uint32_t i;

	if (ep->sendq_free_nr < nr)
		return -1;
	for (i = 0; i < nr; i++)
		slots[i] = ep->sendq_free[--ep->sendq_free_nr];
	return 0;
}

void omx__sendq_free(struct omx_endpoint *ep, uint32_t nr, const uint16_t *slots)
{
	uint32_t i;

	for (i = 0; i < nr; i++) {
		ep->sendq_owner[slots[i]] = NULL;
		ep->sendq_free[ep->sendq_free_nr++] = slots[i];
	}
}

/* ---- requests ----------------------------------------------------------- */

struct omx__request *omx__request_alloc(struct omx_endpoint *ep, enum omx__request_type type)
{
	struct omx__request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->magic = OMX__REQUEST_MAGIC;
	req->type = (uint16_t)type;
	req->ep = ep;
	omx_list_init(&req->queue_elt);
	omx_list_init(&req->partner_elt);
	omx_list_init(&req->done_elt);
	omx_list_init(&req->done_any_elt);
	omx_list_add_tail(&req->all_elt, &ep->all_req_q);
	req->resends_max = ep->resends_max;
	return req;
}

void omx__request_free(struct omx_endpoint *ep, struct omx__request *req)
{
	if (req->state & OMX__REQ_ZOMBIE)
		ep->zombies--;
	omx_list_del(&req->all_elt);
	omx_list_del(&req->queue_elt);
	omx_list_del(&req->partner_elt);
	omx_list_del(&req->done_elt);
	omx_list_del(&req->done_any_elt);
	if (req->type == OMX__REQ_RECV && (req->state & OMX__REQ_UNEXPECTED_RECV))
		free(req->recv.buffer);
	req->magic = 0;
	free(req);
}

uint32_t omx__ctxid_of(const struct omx_endpoint *ep, uint64_t match_info)
{
	if (!ep->ctxid_bits)
		return 0;
	return (uint32_t)((match_info >> ep->ctxid_shift) & (ep->ctxid_max - 1));
}

/* ---- open --------------------------------------------------------------- */

static omx_return_t omx__parse_params(struct omx_endpoint *ep, const omx_endpoint_param_t *params,
				      uint32_t count)
{
	uint32_t i;

	if (count && !params)
		return OMX_ENDPOINT_PARAMS_BAD_LIST;
	for (i = 0; i < count; i++) {
		switch (params[i].key) {
		case OMX_ENDPOINT_PARAM_ERROR_HANDLER:
			ep->error_handler = params[i].val.error_handler;
			break;
		case OMX_ENDPOINT_PARAM_UNEXP_QUEUE_MAX:
			break;                /* the unexpected queue is unbounded */
		case OMX_ENDPOINT_PARAM_CONTEXT_ID:
			if (params[i].val.context_id.bits > OMX_ENDPOINT_CONTEXT_ID_BITS_MAX ||
			    params[i].val.context_id.bits + params[i].val.context_id.shift > 64)
				return OMX_ENDPOINT_PARAM_BAD_VALUE;
			ep->ctxid_bits = params[i].val.context_id.bits;
			ep->ctxid_shift = params[i].val.context_id.shift;
			break;
		default:
			return OMX_ENDPOINT_PARAM_BAD_KEY;
		}
	}
	return OMX_SUCCESS;
}

static omx_return_t omx__open_map_error(int err)
{
	switch (err) {
	case OMX_ABI_EBUSY:
		return OMX_BUSY;
	case OMX_ABI_ENODEV:
		return OMX_BOARD_NOT_FOUND;
	case OMX_ABI_EINVAL:
		return OMX_BAD_ENDPOINT;
	default:
		return omx__abi_to_ret(err);
	}
}

/* OMX_ANY_*: the endpoint index is the outer loop, the board the inner one;
 * a busy index or a missing board moves on to the next candidate. */
static int omx__open_driver_endpoint(struct omx_endpoint *ep, uint32_t board_index,
				     uint32_t endpoint_index, struct omx_abi_endpoint_info *info)
{
	const struct omx_abi_driver_info *di = &omx__globals.info;
	uint32_t b0 = board_index, b1 = board_index + 1, e0 = endpoint_index, e1 = endpoint_index + 1;
	struct omx_abi_open_endpoint cmd;
	int err = OMX_ABI_ENODEV, any;
	uint32_t b, e;

	if (board_index == OMX_ANY_NIC) {
		b0 = 0;
		b1 = di->board_count;
	}
	if (endpoint_index == OMX_ANY_ENDPOINT) {
		e0 = 0;
		e1 = di->endpoint_max;
	}
	any = board_index == OMX_ANY_NIC || endpoint_index == OMX_ANY_ENDPOINT;
	memset(&cmd, 0, sizeof(cmd));
	strncpy(cmd.command, program_invocation_short_name, sizeof(cmd.command) - 1);
	for (e = e0; e < e1; e++) {
		for (b = b0; b < b1; b++) {
			cmd.board_index = b;
			cmd.endpoint_index = e;
			err = ep->ops->open_endpoint(ep->drv, &cmd, info);
			if (err == 0)
				return 0;
			if (!any || (err != OMX_ABI_EBUSY && err != OMX_ABI_ENODEV))
				return err;
		}
	}
	return err;
}

static int omx__layout_valid(const struct omx_abi_endpoint_layout *l)
{
	uint64_t qsz = (uint64_t)l->eventq_entries * OMX_ABI_EVENT_SIZE;

	return l->eventq_entries >= OMX_ABI_EVENTQ_RELEASE_BATCH &&
	       !(l->eventq_entries & (l->eventq_entries - 1)) &&
	       l->recvq_entries == l->eventq_entries && l->sendq_entries &&
	       l->sendq_entries <= 65536 && l->slot_size == OMX_ABI_QUEUE_SLOT_SIZE &&
	       l->desc_offset + sizeof(struct omx_abi_endpoint_desc) <= l->area_size &&
	       l->exp_eventq_offset + qsz <= l->area_size &&
	       l->unexp_eventq_offset + qsz <= l->area_size &&
	       l->sendq_offset + (uint64_t)l->sendq_entries * l->slot_size <= l->area_size &&
	       l->recvq_offset + (uint64_t)l->recvq_entries * l->slot_size <= l->area_size;
}

static omx_return_t omx__endpoint_setup(struct omx_endpoint *ep)
{
	const struct omx__config *cfg = &omx__globals.cfg;
	struct omx_abi_peer_info peer;
	uint32_t i, medium_max;

	ep->desc = (struct omx_abi_endpoint_desc *)(ep->area + ep->layout.desc_offset);
	ep->exp_eventq = (const union omx_abi_event *)(ep->area + ep->layout.exp_eventq_offset);
	ep->unexp_eventq = (const union omx_abi_event *)(ep->area + ep->layout.unexp_eventq_offset);
	ep->sendq = ep->area + ep->layout.sendq_offset;
	ep->recvq = ep->area + ep->layout.recvq_offset;

	if (ep->ops->get_board_info(ep->drv, ep->board_index, &ep->board) < 0)
		return OMX_BOARD_NOT_FOUND;
	ep->my_peer_index = 0xffff;
	if (ep->ops->peer_from_addr(ep->drv, ep->board.addr, &peer) == 0)
		ep->my_peer_index = (uint16_t)peer.index;

	ep->medium_frag_max = ep->board.medium_frag_length_max;
	if (!ep->medium_frag_max || ep->medium_frag_max > ep->layout.slot_size)
		ep->medium_frag_max = ep->layout.slot_size;
	ep->frag_pipeline = 0;
	if (!(ep->medium_frag_max & (ep->medium_frag_max - 1)))
		ep->frag_pipeline = (uint8_t)__builtin_ctz(ep->medium_frag_max);
	medium_max = OMX_MEDIUM_FRAGS_MAX * ep->medium_frag_max;
	ep->rndv_threshold = cfg->rndv_threshold < medium_max ? cfg->rndv_threshold : medium_max;
	ep->shared_rndv_threshold = cfg->shared_rndv_threshold < medium_max ?
				    cfg->shared_rndv_threshold : medium_max;
	ep->shared_ok = (omx__globals.info.features & OMX_ABI_FEATURE_SHARED) && !cfg->disable_shared;
	ep->hz = omx__globals.info.hz;
	ep->resend_delay = omx__ms_to_jiffies(cfg->resend_delay_ms);
	ep->rto_min = omx__ms_to_jiffies(OMX__RTO_MIN_MS);
	ep->ack_delay = cfg->ack_delay_ms ? omx__ms_to_jiffies(cfg->ack_delay_ms) : 0;
	ep->resends_max = cfg->resends_max;

	ep->sendq_free = calloc(ep->layout.sendq_entries, sizeof(*ep->sendq_free));
	ep->sendq_owner = calloc(ep->layout.sendq_entries, sizeof(*ep->sendq_owner));
	if (!ep->sendq_free || !ep->sendq_owner)
		return OMX_NO_SYSTEM_RESOURCES;
	for (i = 0; i < ep->layout.sendq_entries; i++)
		ep->sendq_free[i] = (uint16_t)(ep->layout.sendq_entries - 1 - i);
	ep->sendq_free_nr = ep->layout.sendq_entries;

	ep->peer_max = omx__globals.info.peer_max;
	if (!ep->peer_max || ep->peer_max > OMX_PEER_INDEX_MAX)
		ep->peer_max = OMX_PEER_INDEX_MAX;
	ep->partners = calloc(ep->peer_max, sizeof(*ep->partners));
	if (!ep->partners)
		return OMX_NO_SYSTEM_RESOURCES;

	ep->ctxid_max = 1u << ep->ctxid_bits;
	ep->ctxid_match_mask = ep->ctxid_bits ?
		(((uint64_t)ep->ctxid_max - 1) << ep->ctxid_shift) : 0;
	ep->ctxids = calloc(ep->ctxid_max, sizeof(*ep->ctxids));
	if (!ep->ctxids)
		return OMX_NO_SYSTEM_RESOURCES;
	for (i = 0; i < ep->ctxid_max; i++) {
		omx_list_init(&ep->ctxids[i].recv_q);
		omx_list_init(&ep->ctxids[i].unexp_q);
		omx_list_init(&ep->ctxids[i].done_q);
	}
	ep->myself = omx__partner_create_self(ep);
	if (!ep->myself)
		return OMX_NO_SYSTEM_RESOURCES;
	__atomic_store_n(&ep->desc->wakeup_jiffies, 0, __ATOMIC_RELAXED);
	ep->last_desc_check = omx__now(ep);
	return OMX_SUCCESS;
}

static void omx__endpoint_free(struct omx_endpoint *ep)
{
	struct omx_list *pos, *tmp;

	omx_list_for_each_safe(pos, tmp, &ep->all_req_q)
		omx__request_free(ep, omx_list_entry(pos, struct omx__request, all_elt));
	if (ep->partners)
		omx__partners_free(ep);
	free(ep->ctxids);
	free(ep->sendq_free);
	free(ep->sendq_owner);
	pthread_cond_destroy(&ep->handler_cond);
	pthread_mutex_destroy(&ep->lock);
	ep->magic = 0;
	free(ep);
}

omx_return_t omx_open_endpoint(uint32_t board_index, uint32_t endpoint_index, uint32_t key,
			       omx_endpoint_param_t *param_array, uint32_t param_count,
			       omx_endpoint_t *epp)
{
	struct omx_abi_endpoint_info info;
	struct omx_endpoint *ep;
	omx_return_t ret;
	int err;

	if (!omx__globals.initialized)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_open_endpoint before omx_init");
	if (!epp)
		return omx__error(NULL, OMX_BAD_ERROR, "omx_open_endpoint: NULL endpoint pointer");
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return omx__error(NULL, OMX_NO_SYSTEM_RESOURCES, "omx_open_endpoint: out of memory");
	pthread_mutex_init(&ep->lock, NULL);
	pthread_cond_init(&ep->handler_cond, NULL);
	omx_list_init(&ep->ep_elt);
	omx_list_init(&ep->done_any_q);
	omx_list_init(&ep->all_req_q);
	omx_list_init(&ep->need_resources_q);
	omx_list_init(&ep->resend_q);
	omx_list_init(&ep->resend_early_q);
	omx_list_init(&ep->connect_q);
	omx_list_init(&ep->ack_q);
	omx__large_init(ep);
	ep->magic = OMX__ENDPOINT_MAGIC;
	ep->drv = omx__globals.drv;
	ep->ops = ep->drv->ops;
	ep->app_key = key;
	ep->ctxid_bits = omx__globals.cfg.ctxid_bits;
	ep->ctxid_shift = omx__globals.cfg.ctxid_shift;

	ret = omx__parse_params(ep, param_array, param_count);
	if (ret != OMX_SUCCESS)
		goto err_free;

	err = omx__open_driver_endpoint(ep, board_index, endpoint_index, &info);
	if (err < 0) {
		ret = omx__open_map_error(err);
		goto err_free;
	}
	ep->handle = info.handle;
	ep->board_index = info.board_index;
	ep->endpoint_index = info.endpoint_index;
	ep->session_id = info.session_id;
	ep->layout = info.layout;
	ep->area = ep->ops->endpoint_area(ep->drv, ep->handle);
	if (!ep->area || !omx__layout_valid(&ep->layout)) {
		ret = OMX_BAD_KERNEL_ABI;
		goto err_close;
	}
	ret = omx__endpoint_setup(ep);
	if (ret != OMX_SUCCESS)
		goto err_close;

	pthread_mutex_lock(&omx__globals.lock);
	omx_list_add_tail(&ep->ep_elt, &omx__globals.endpoints);
	pthread_mutex_unlock(&omx__globals.lock);
	*epp = ep;
	return OMX_SUCCESS;

err_close:
	ep->ops->close_endpoint(ep->drv, ep->handle);
err_free:
	{
		omx_error_handler_t handler = ep->error_handler;

		omx__endpoint_free(ep);
		if (handler && handler != omx_errors_return)
			return handler("omx_open_endpoint failed", ret);
	}
	return omx__error(NULL, ret, "omx_open_endpoint(board %u, endpoint %u) failed",
			  board_index, endpoint_index);
}

/* ---- close -------------------------------------------------------------- */

/* Nothing of ours waits for a peer any more: every seqnum'd send (and
 * NOTIFY) acked, nothing parked, no large send left to be pulled. */
static int omx__linger_done(const struct omx_endpoint *ep)
{
	return omx_list_empty(&ep->resend_q) && omx_list_empty(&ep->resend_early_q) &&
	       omx_list_empty(&ep->need_resources_q) && omx_list_empty(&ep->large_wait_q) &&
	       ep->large_sends_avail == OMX__LARGE_SENDS_MAX;
}

/*
 * The peers may be endpoints of this process that nobody else progresses
 * (an application closing its endpoints one after the other): progress
 * them too.  Endpoint locks are only tried (we hold none), and the global
 * lock keeps each one alive meanwhile, so those closing, busy in another
 * thread or with an unexpected handler (which must not run from here) are
 * left alone.
 */
static void omx__linger_progress_others(struct omx_endpoint *ep)
{
	struct omx_list *pos;

	pthread_mutex_lock(&omx__globals.lock);
	omx_list_for_each(pos, &omx__globals.endpoints) {
		struct omx_endpoint *other = omx_list_entry(pos, struct omx_endpoint, ep_elt);

		if (other == ep || pthread_mutex_trylock(&other->lock))
			continue;
		if (!other->closing && !other->unexp_handler)
			omx__progress(other);
		omx__unlock(other);
	}
	pthread_mutex_unlock(&omx__globals.lock);
}

/* OMX_LINGER_MS: a process that sends and then closes (or exits through
 * omx_finalize) must not lose its last buffered messages, which completed
 * before their ack.  Bounded: a dead peer costs the linger time. */
static void omx__linger(struct omx_endpoint *ep)
{
	struct timespec nap = { 0, 1000000 };
	uint64_t deadline;

	if (!omx__globals.cfg.linger_ms) {
		omx__progress(ep);
		return;
	}
	ep->progression_disabled &= ~OMX__PROGRESSION_USER;
	deadline = omx__now(ep) + omx__ms_to_jiffies(omx__globals.cfg.linger_ms);
	for (;;) {
		omx__progress(ep);
		if (omx__linger_done(ep) || omx__now(ep) >= deadline)
			return;
		omx__unlock(ep);
		omx__linger_progress_others(ep);
		nanosleep(&nap, NULL);
		omx__lock(ep);
	}
}

static void omx__endpoint_teardown(struct omx_endpoint *ep)
{
	/* Take in what already arrived (acks included), then tell every
	 * partner what we received so it stops resending to a closed endpoint. */
	ep->closing = 1;
	omx__linger(ep);
	omx__process_acks(ep, omx__now(ep), 1);
	if (omx__globals.cfg.verbose > 1) {
		unsigned i;

		for (i = 0; i < OMX__CNT_MAX; i++)
			if (ep->counters[i])
				omx__log("endpoint %u: %s %u", ep->endpoint_index,
					 omx__counter_name(i), ep->counters[i]);
	}
	omx__large_close(ep);
	ep->ops->close_endpoint(ep->drv, ep->handle);
}

omx_return_t omx_close_endpoint(omx_endpoint_t ep)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_close_endpoint: bad endpoint");
	omx__lock(ep);
	if (omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_close_endpoint in handler");
	}
	omx__endpoint_teardown(ep);
	ep->completions = 0;
	pthread_mutex_unlock(&ep->lock);

	pthread_mutex_lock(&omx__globals.lock);
	omx_list_del(&ep->ep_elt);
	pthread_mutex_unlock(&omx__globals.lock);
	omx__endpoint_free(ep);
	return OMX_SUCCESS;
}

void omx__close_all_endpoints(void)
{
	struct omx_endpoint *ep;

	for (;;) {
		pthread_mutex_lock(&omx__globals.lock);
		if (omx_list_empty(&omx__globals.endpoints)) {
			pthread_mutex_unlock(&omx__globals.lock);
			return;
		}
		ep = omx_list_first_entry(&omx__globals.endpoints, struct omx_endpoint, ep_elt);
		pthread_mutex_unlock(&omx__globals.lock);
		omx_close_endpoint(ep);
	}
}

/* ---- addresses ---------------------------------------------------------- */

omx_return_t omx_get_endpoint_addr(omx_endpoint_t ep, omx_endpoint_addr_t *addr)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_get_endpoint_addr: bad endpoint");
	omx__lock(ep);
	omx__partner_to_addr(ep->myself, addr);
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_decompose_endpoint_addr_with_session(omx_endpoint_addr_t addr, uint64_t *nic_id,
						      uint32_t *endpoint_id, uint32_t *session_id)
{
	struct omx__partner *partner = omx__partner_from_addr(&addr);

	if (!partner)
		return omx__error(NULL, OMX_BAD_ENDPOINT, "bad endpoint address");
	if (nic_id)
		*nic_id = partner->board_addr;
	if (endpoint_id)
		*endpoint_id = partner->endpoint_index;
	if (session_id)
		*session_id = (uint32_t)addr.data[1];
	return OMX_SUCCESS;
}

omx_return_t omx_decompose_endpoint_addr(omx_endpoint_addr_t addr, uint64_t *nic_id,
					 uint32_t *endpoint_id)
{
	return omx_decompose_endpoint_addr_with_session(addr, nic_id, endpoint_id, NULL);
}

omx_return_t omx_set_endpoint_addr_context(omx_endpoint_addr_t addr, void *context)
{
	struct omx__partner *partner = omx__partner_from_addr(&addr);

	if (!partner)
		return omx__error(NULL, OMX_BAD_ENDPOINT, "bad endpoint address");
	partner->user_context = context;
	return OMX_SUCCESS;
}

omx_return_t omx_get_endpoint_addr_context(omx_endpoint_addr_t addr, void **context)
{
	struct omx__partner *partner = omx__partner_from_addr(&addr);

	if (!partner)
		return omx__error(NULL, OMX_BAD_ENDPOINT, "bad endpoint address");
	*context = partner->user_context;
	return OMX_SUCCESS;
}
