/*
 * omx_progress.c - the progression engine and blocking waits.
 *
 * One pass: let the driver move frames into the event rings, drain the
 * unexpected ring (handing slots back every OMX_ABI_EVENTQ_RELEASE_BATCH),
 * drain the expected ring, resend what is due, retry parked pulls and sends
 * (and large sends waiting for a region), send due
 * acks, look at the desc flags once per second, and publish the next
 * resend/ack deadline so a sleeping wait comes back for it.
 */
#include <sched.h>
#include <time.h>

#include "omx_lib.h"

int omx__in_handler(const struct omx_endpoint *ep)
{
	return ep->in_handler && pthread_equal(ep->handler_thread, pthread_self());
}

static void omx__process_unexp_event(struct omx_endpoint *ep, const union omx_abi_event *ev)
{
	switch (ev->generic.type) {
	case OMX_ABI_EVT_RECV_CONNECT_REQUEST:
		omx__process_connect_request(ep, ev);
		break;
	case OMX_ABI_EVT_RECV_CONNECT_REPLY:
		omx__process_connect_reply(ep, ev);
		break;
	case OMX_ABI_EVT_RECV_TINY:
	case OMX_ABI_EVT_RECV_SMALL:
	case OMX_ABI_EVT_RECV_MEDIUM_FRAG:
	case OMX_ABI_EVT_RECV_RNDV:
	case OMX_ABI_EVT_RECV_NOTIFY:
		omx__process_recv_event(ep, ev);
		break;
	case OMX_ABI_EVT_RECV_LIBACK:
		omx__process_liback(ep, ev);
		break;
	case OMX_ABI_EVT_RECV_NACK_LIB:
		omx__process_nack_lib(ep, ev);
		break;
	case OMX_ABI_EVT_IGNORE:
		break;
	default:
		OMX__COUNT(ep, DROP_UNKNOWN_EVENT);
		break;
	}
}

static void omx__drain_unexp(struct omx_endpoint *ep)
{
	const uint32_t entries = ep->layout.eventq_entries;
	const union omx_abi_event *ev;

	while ((ev = omx_eventq_peek(ep->unexp_eventq, entries, ep->next_unexp_index))) {
		/* Handlers copy payloads out of the recvq before we move on:
		 * the slot returns to the driver with its event. */
		omx__process_unexp_event(ep, ev);
		ep->next_unexp_index++;
		if (++ep->unexp_unreleased >= OMX_ABI_EVENTQ_RELEASE_BATCH &&
		    ep->ops->release_unexp_slots(ep->drv, ep->handle) == 0)
			ep->unexp_unreleased -= OMX_ABI_EVENTQ_RELEASE_BATCH;
	}
}

static void omx__drain_exp(struct omx_endpoint *ep)
{
	const uint32_t entries = ep->layout.eventq_entries;
	const union omx_abi_event *ev;

	while ((ev = omx_eventq_peek(ep->exp_eventq, entries, ep->next_exp_index))) {
		switch (ev->generic.type) {
		case OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE:
			omx__process_frag_done(ep, ev);
			break;
		case OMX_ABI_EVT_PULL_DONE:
			omx__large_process_pull_done(ep, ev);
			break;
		case OMX_ABI_EVT_IGNORE:
			break;
		default:
			OMX__COUNT(ep, DROP_UNKNOWN_EVENT);
			break;
		}
		ep->next_exp_index++;
		if (ep->exp_outstanding)
			ep->exp_outstanding--;
		if (++ep->exp_unreleased >= OMX_ABI_EVENTQ_RELEASE_BATCH &&
		    ep->ops->release_exp_slots(ep->drv, ep->handle) == 0)
			ep->exp_unreleased -= OMX_ABI_EVENTQ_RELEASE_BATCH;
	}
}

static void omx__check_desc(struct omx_endpoint *ep, uint64_t now)
{
	uint64_t status;

	ep->last_desc_check = now;
	status = __atomic_exchange_n(&ep->desc->status, 0, __ATOMIC_ACQ_REL);
	if (!status)
		return;
	if (status & OMX_ABI_DESC_EXP_EVENTQ_FULL) {
		OMX__COUNT(ep, EXP_EVENTQ_FULL_FLAG);
		omx__log("endpoint %u: expected event queue overflowed (library bug)", ep->endpoint_index);
	}
	if (status & OMX_ABI_DESC_UNEXP_EVENTQ_FULL) {
		OMX__COUNT(ep, UNEXP_EVENTQ_FULL_FLAG);
		omx__verbose("endpoint %u: unexpected event queue was full, frames dropped",
			     ep->endpoint_index);
	}
	if (status & OMX_ABI_DESC_IFACE_REMOVED) {
		omx__log("endpoint %u: interface %s was removed: pending requests fail",
			 ep->endpoint_index, ep->board.ifacename);
		omx__partners_driver_gone(ep);
	} else if (status & OMX_ABI_DESC_IFACE_DOWN)
		omx__log("endpoint %u: interface %s is down", ep->endpoint_index, ep->board.ifacename);
	if (status & OMX_ABI_DESC_IFACE_BAD_MTU)
		omx__log("endpoint %u: interface %s has a bad MTU", ep->endpoint_index,
			 ep->board.ifacename);
}

void omx__progress(struct omx_endpoint *ep)
{
	uint64_t now;

	omx__assert_locked(ep);
	if (ep->progression_disabled)
		return;
	ep->ops->progress(ep->drv, ep->handle);
	omx__drain_unexp(ep);
	omx__drain_exp(ep);
	now = omx__now(ep);
	ep->retry_deadline = 0;      /* set again below by whatever meets EAGAIN */
	omx__send_resend(ep, now);
	omx__connect_resend(ep, now);
	omx__large_progress(ep);
	omx__send_retry_parked(ep);
	omx__process_acks(ep, now, 0);
	if (now - ep->last_desc_check >= ep->hz)
		omx__check_desc(ep, now);
	omx__update_wakeup(ep, now);
}

static void omx__short_sleep(struct omx_endpoint *ep)
{
	struct timespec ts = { 0, 1000000 };

	pthread_mutex_unlock(&ep->lock);
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&ep->lock);
}

/*
 * The blocking loop: {progress; check; sleep in the driver}.  The endpoint
 * lock is never held while asleep.  The three indices passed to wait_event
 * let the driver return RACE if anything arrived (or another thread bumped
 * user_event_index) since we looked.
 */
int omx__wait_loop(struct omx_endpoint *ep, omx__wait_check_t check, void *arg, uint32_t timeout_ms)
{
	uint64_t deadline = UINT64_MAX;
	uint32_t gen = ep->wakeup_gen;

	omx__assert_locked(ep);
	if (timeout_ms != OMX_TIMEOUT_INFINITE)
		deadline = omx__now(ep) + (timeout_ms ? omx__ms_to_jiffies(timeout_ms) : 0);
	for (;;) {
		struct omx_abi_wait wait = { 0 };
		int err;

		omx__progress(ep);
		if (check(ep, arg))
			return 1;
		if (ep->wakeup_gen != gen || omx__now(ep) >= deadline)
			return 0;
		if (ep->progression_disabled) {
			/* Nobody drains the rings: sleeping on them would spin. */
			omx__short_sleep(ep);
			continue;
		}
		if (ep->completions && ep->sleepers) {
			__atomic_add_fetch(&ep->desc->user_event_index, 1, __ATOMIC_RELEASE);
			ep->ops->wakeup(ep->drv, ep->handle);
		}
		ep->completions = 0;
		wait.user_event_index = __atomic_load_n(&ep->desc->user_event_index, __ATOMIC_ACQUIRE);
		wait.next_exp_event_index = ep->next_exp_index;
		wait.next_unexp_event_index = ep->next_unexp_index;
		wait.jiffies_expire = deadline;
		ep->sleepers++;
		pthread_mutex_unlock(&ep->lock);
		err = ep->ops->wait_event(ep->drv, ep->handle, &wait);
		pthread_mutex_lock(&ep->lock);
		ep->sleepers--;
		if (err < 0)
			omx__short_sleep(ep);
	}
}

/* ---- API ---------------------------------------------------------------- */

omx_return_t omx_progress(omx_endpoint_t ep)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_progress: bad endpoint");
	omx__lock(ep);
	omx__progress(ep);
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_disable_progression(omx_endpoint_t ep)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_disable_progression: bad endpoint");
	omx__lock(ep);
	if (omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_disable_progression in handler");
	}
	/* A handler running in another thread finishes first. */
	while (ep->in_handler)
		pthread_cond_wait(&ep->handler_cond, &ep->lock);
	ep->progression_disabled |= OMX__PROGRESSION_USER;
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_reenable_progression(omx_endpoint_t ep)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_reenable_progression: bad endpoint");
	omx__lock(ep);
	if (omx__in_handler(ep)) {
		omx__unlock(ep);
		return omx__error(ep, OMX_NOT_SUPPORTED_IN_HANDLER, "omx_reenable_progression in handler");
	}
	ep->progression_disabled &= ~OMX__PROGRESSION_USER;
	omx__progress(ep);
	omx__unlock(ep);
	return OMX_SUCCESS;
}

omx_return_t omx_wakeup(omx_endpoint_t ep)
{
	if (!omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_wakeup: bad endpoint");
	omx__lock(ep);
	ep->wakeup_gen++;
	__atomic_add_fetch(&ep->desc->user_event_index, 1, __ATOMIC_RELEASE);
	ep->ops->wakeup(ep->drv, ep->handle);
	omx__unlock(ep);
	return OMX_SUCCESS;
}
