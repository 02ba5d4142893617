/*
 * omx_test.c - request completion and the completion API: test/wait,
 * test_any/wait_any, peek, probe, ibuffered, cancel, forget, context,
 * request timeouts.
 *
 * A request is DONE once its status is final for the application.  Buffered
 * sends become DONE right after posting while still waiting for their ack;
 * when the application then consumes one, it turns into a ZOMBIE that the
 * library frees when the ack arrives.  A ZOMBIE is never reported.
 */
#include "omx_lib.h"

void omx__request_set_error(struct omx__request *req, omx_return_t code)
{
	if (code != OMX_SUCCESS && req->status.code == OMX_SUCCESS)
		req->status.code = code;      /* the first error wins */
}

void omx__request_zombify(struct omx_endpoint *ep, struct omx__request *req)
{
	if (!(req->state & OMX__REQ_ZOMBIE)) {
		req->state |= OMX__REQ_ZOMBIE;
		ep->zombies++;
	}
}

void omx__request_done(struct omx_endpoint *ep, struct omx__request *req, omx_return_t code)
{
	omx__assert_locked(ep);
	omx__request_set_error(req, code);
	if (req->state & (OMX__REQ_DONE | OMX__REQ_ZOMBIE)) {
		req->state |= OMX__REQ_DONE;
		if ((req->state & OMX__REQ_ZOMBIE) && !(req->state & OMX__REQ_BUSY))
			omx__request_free(ep, req);
		return;
	}
	req->state |= OMX__REQ_DONE;
	if (!(req->state & OMX__REQ_INTERNAL)) {
		omx_list_add_tail(&req->done_elt, &ep->ctxids[req->ctxid].done_q);
		omx_list_add_tail(&req->done_any_elt, &ep->done_any_q);
	}
	ep->completions++;
}

/* The application is done with the request. */
void omx__request_consume(struct omx_endpoint *ep, struct omx__request *req)
{
	omx_list_del(&req->done_elt);
	omx_list_del(&req->done_any_elt);
	if ((req->state & OMX__REQ_BUSY) || !(req->state & OMX__REQ_DONE))
		omx__request_zombify(ep, req);
	else
		omx__request_free(ep, req);
}

static int omx__request_valid(const struct omx_endpoint *ep, const omx_request_t *request)
{
	return request && *request && (*request)->magic == OMX__REQUEST_MAGIC && (*request)->ep == ep &&
	       !((*request)->state & (OMX__REQ_ZOMBIE | OMX__REQ_INTERNAL));
}

static void omx__report(struct omx_endpoint *ep, omx_request_t *request, omx_status_t *status)
{
	if (status)
		*status = (*request)->status;
	omx__request_consume(ep, *request);
	*request = NULL;
}

/* ---- test / wait -------------------------------------------------------- */

static int omx__req_done_check(struct omx_endpoint *ep, void *arg)
{
	(void)ep;
	return (((struct omx__request *)arg)->state & OMX__REQ_DONE) != 0;
}

omx_return_t omx_test(omx_endpoint_t ep, omx_request_t *request, omx_status_t *status, uint32_t *result)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_test: bad endpoint");
	omx__lock(ep);
	if (!omx__request_valid(ep, request)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_BAD_REQUEST, "omx_test: bad request");
	}
	omx__progress(ep);
	*result = 0;
	if ((*request)->state & OMX__REQ_DONE) {
		omx__report(ep, request, status);
		*result = 1;
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_wait(omx_endpoint_t ep, omx_request_t *request, omx_status_t *status, uint32_t *result,
		      uint32_t timeout_ms)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_wait: bad endpoint");
	omx__lock(ep);
	if (!omx__request_valid(ep, request)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_BAD_REQUEST, "omx_wait: bad request");
	}
	if (omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_wait in handler");
	}
	*result = 0;
	if (omx__wait_loop(ep, omx__req_done_check, *request, timeout_ms)) {
		omx__report(ep, request, status);
		*result = 1;
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}

/* ---- test_any / wait_any ------------------------------------------------ */

struct omx__any_arg {
	uint64_t match_info;
	uint64_t match_mask;
	struct omx__request *found;
};

/* With a mask covering the context id, only that ctxid's done queue. */
static int omx__any_check(struct omx_endpoint *ep, void *arg)
{
	struct omx__any_arg *a = arg;
	struct omx_list *pos;

	if ((a->match_mask & ep->ctxid_match_mask) == ep->ctxid_match_mask) {
		struct omx_list *q = &ep->ctxids[omx__ctxid_of(ep, a->match_info)].done_q;

		omx_list_for_each(pos, q) {
			struct omx__request *req = omx_list_entry(pos, struct omx__request, done_elt);

			if (omx__match(req->status.match_info, a->match_info, a->match_mask)) {
				a->found = req;
				return 1;
			}
		}
		return 0;
	}
	omx_list_for_each(pos, &ep->done_any_q) {
		struct omx__request *req = omx_list_entry(pos, struct omx__request, done_any_elt);

		if (omx__match(req->status.match_info, a->match_info, a->match_mask)) {
			a->found = req;
			return 1;
		}
	}
	return 0;
}

static omx_return_t omx__any(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
			     omx_status_t *status, uint32_t *result, uint32_t timeout_ms, int block)
{
	struct omx__any_arg a = { match_info, match_mask, NULL };
	int found;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_test_any: bad endpoint");
	if (match_info & ~match_mask)
		return omx__error(ep, OMX_BAD_MATCH_MASK, "omx_test_any: match outside mask");
	omx__lock(ep);
	if (block && omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_wait_any in handler");
	}
	if (block) {
		found = omx__wait_loop(ep, omx__any_check, &a, timeout_ms);
	} else {
		omx__progress(ep);
		found = omx__any_check(ep, &a);
	}
	*result = 0;
	if (found) {
		omx__report(ep, &a.found, status);
		*result = 1;
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_test_any(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
			  omx_status_t *status, uint32_t *result)
{
	return omx__any(ep, match_info, match_mask, status, result, 0, 0);
}

omx_return_t omx_wait_any(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
			  omx_status_t *status, uint32_t *result, uint32_t timeout_ms)
{
	return omx__any(ep, match_info, match_mask, status, result, timeout_ms, 1);
}

/* ---- peek --------------------------------------------------------------- */

static int omx__peek_check(struct omx_endpoint *ep, void *arg)
{
	(void)arg;
	return !omx_list_empty(&ep->done_any_q);
}

static omx_return_t omx__peek(omx_endpoint_t ep, omx_request_t *request, uint32_t *result,
			      uint32_t timeout_ms, int block)
{
	int found;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_peek: bad endpoint");
	omx__lock(ep);
	if (block && omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_peek in handler");
	}
	if (block) {
		found = omx__wait_loop(ep, omx__peek_check, NULL, timeout_ms);
	} else {
		omx__progress(ep);
		found = omx__peek_check(ep, NULL);
	}
	*result = 0;
	if (found) {
		*request = omx_list_first_entry(&ep->done_any_q, struct omx__request, done_any_elt);
		*result = 1;
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_ipeek(omx_endpoint_t ep, omx_request_t *request, uint32_t *result)
{
	return omx__peek(ep, request, result, 0, 0);
}

omx_return_t omx_peek(omx_endpoint_t ep, omx_request_t *request, uint32_t *result, uint32_t timeout_ms)
{
	return omx__peek(ep, request, result, timeout_ms, 1);
}

/* ---- probe: look into the unexpected queue without consuming ------------ */

static int omx__probe_check(struct omx_endpoint *ep, void *arg)
{
	struct omx__any_arg *a = arg;

	a->found = omx__find_unexpected(&ep->ctxids[omx__ctxid_of(ep, a->match_info)].unexp_q,
					a->match_info, a->match_mask);
	return a->found != NULL;
}

static omx_return_t omx__probe(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
			       omx_status_t *status, uint32_t *result, uint32_t timeout_ms, int block)
{
	struct omx__any_arg a = { match_info, match_mask, NULL };
	omx_return_t ret;
	int found;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_probe: bad endpoint");
	ret = omx__check_match_mask(match_info, match_mask, ep->ctxid_match_mask);
	if (ret != OMX_SUCCESS)
		return omx__error(ep, ret, "omx_probe: bad match/mask");
	omx__lock(ep);
	if (block && omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_probe in handler");
	}
	if (block) {
		found = omx__wait_loop(ep, omx__probe_check, &a, timeout_ms);
	} else {
		omx__progress(ep);
		found = omx__probe_check(ep, &a);
	}
	*result = 0;
	if (found) {
		if (status) {
			*status = a.found->status;
			status->code = OMX_SUCCESS;
			status->xfer_length = status->msg_length;
			status->context = NULL;
		}
		*result = 1;
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_iprobe(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
			omx_status_t *status, uint32_t *result)
{
	return omx__probe(ep, match_info, match_mask, status, result, 0, 0);
}

omx_return_t omx_probe(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
		       omx_status_t *status, uint32_t *result, uint32_t timeout_ms)
{
	return omx__probe(ep, match_info, match_mask, status, result, timeout_ms, 1);
}

/* ---- the rest ----------------------------------------------------------- */

omx_return_t omx_ibuffered(omx_endpoint_t ep, omx_request_t *request, uint32_t *result)
{
	struct omx__request *req;

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_ibuffered: bad endpoint");
	omx__lock(ep);
	if (!omx__request_valid(ep, request)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_BAD_REQUEST, "omx_ibuffered: bad request");
	}
	omx__progress(ep);
	req = *request;
	switch (req->type) {
	case OMX__REQ_SEND_TINY:
	case OMX__REQ_SEND_SMALL:
	case OMX__REQ_SEND_MEDIUMSQ:
		*result = !(req->state & (OMX__REQ_NEED_RESOURCES | OMX__REQ_NEED_SEQNUM));
		break;
	case OMX__REQ_SEND_SELF:
		*result = 1;
		break;
	default:
		*result = (req->state & OMX__REQ_DONE) != 0;
		break;
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}

/* Only a receive not yet matched, or a connect not yet answered, can go. */
static int omx__cancel_locked(struct omx_endpoint *ep, struct omx__request *req, int notest)
{
	if (req->state & OMX__REQ_DONE)
		return 0;
	if (req->type == OMX__REQ_RECV && (req->state & OMX__REQ_RECV_NEED_MATCHING))
		req->state &= ~OMX__REQ_RECV_NEED_MATCHING;
	else if (req->type == OMX__REQ_CONNECT && (req->state & OMX__REQ_NEED_REPLY))
		req->state &= ~OMX__REQ_NEED_REPLY;
	else
		return 0;
	omx_list_del(&req->queue_elt);
	if (notest)
		omx__request_done(ep, req, OMX_CANCELLED);
	else
		omx__request_free(ep, req);
	return 1;
}

static omx_return_t omx__cancel(omx_endpoint_t ep, omx_request_t *request, uint32_t *result, int notest)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_cancel: bad endpoint");
	omx__lock(ep);
	if (!omx__request_valid(ep, request)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_BAD_REQUEST, "omx_cancel: bad request");
	}
	*result = (uint32_t)omx__cancel_locked(ep, *request, notest);
	if (*result && !notest)
		*request = NULL;
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_cancel(omx_endpoint_t ep, omx_request_t *request, uint32_t *result)
{
	return omx__cancel(ep, request, result, 0);
}

omx_return_t omx_cancel_notest(omx_endpoint_t ep, omx_request_t *request, uint32_t *result)
{
	return omx__cancel(ep, request, result, 1);
}

omx_return_t omx_forget(omx_endpoint_t ep, omx_request_t *request)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_forget: bad endpoint");
	omx__lock(ep);
	if (!omx__request_valid(ep, request)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_BAD_REQUEST, "omx_forget: bad request");
	}
	omx__request_consume(ep, *request);
	*request = NULL;
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_context(omx_request_t *request, void **context)
{
	if (!request || !*request || (*request)->magic != OMX__REQUEST_MAGIC)
		return omx__error(NULL, OMX_BAD_REQUEST, "omx_context: bad request");
	*context = (*request)->status.context;
	return OMX_SUCCESS;
}

omx_return_t omx_set_request_timeout(omx_endpoint_t ep, omx_request_t request, uint32_t milliseconds)
{
	uint32_t resends = omx__timeout_to_resends(milliseconds);

	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_set_request_timeout: bad endpoint");
	omx__lock(ep);
	if (!request) {
		ep->resends_max = resends;
	} else if (request->magic == OMX__REQUEST_MAGIC && request->ep == ep) {
		request->resends_max = resends;
	} else {
		omx__unlock(ep);
		return omx__error(ep, OMX_BAD_REQUEST, "omx_set_request_timeout: bad request");
	}
	omx__unlock(ep);
	return OMX_SUCCESS;
}
