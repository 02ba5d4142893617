/*
 * omx_split_front_ep.c - endpoints and regions of the frontend.
 *
 * Open: the area is our memfd (sealed, of the size the engine's layout
 * needs), passed on the bus (MEM_ADD) and granted read-write; the endpoint's
 * event channel is an eventfd (EVTCHN_ADD).  The backend's engine opens a
 * shadow endpoint on that memory, initialises it and from then on writes the
 * events there itself.  The handle the library sees is our slot index; the
 * backend's handle of the shadow travels in every request.
 *
 * Regions: one MEM_SELF grant per non-empty segment, read-write (the library
 * does not say whether a region is sent from or received into).  The spans
 * of more than OMX_SPLIT_REGION_INLINE_SPANS segments are themselves granted
 * (MEM_SELF, read) for the duration of the CREATE_REGION call.  Destroy ends
 * the grants once the backend answered (busy-aware: omx_split_front_grant.c).
 *
 * Slot lifetime: slots are allocated once and kept until the driver closes;
 * a command holds a reference (refs) while it uses the slot, and close waits
 * for refs to drain after marking the slot CLOSING, as the direct driver does.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "omx_direct.h"
#include "omx_split_front_priv.h"

struct omx_split_front_ep *omx_split_front_ep_get(struct omx_split_front *f, uint32_t handle)
{
	struct omx_split_front_ep *ep;

	if (handle >= OMX_SPLIT_FRONT_EP_MAX)
		return NULL;
	/* Pairs with the release store that publishes a new slot in open. */
	ep = __atomic_load_n(&f->eps[handle], __ATOMIC_ACQUIRE);
	if (!ep)
		return NULL;
	/* Seq-cst pair with close: it marks CLOSING then reads refs. */
	__atomic_fetch_add(&ep->refs, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) != OMX_SPLIT_FRONT_EP_OPEN) {
		__atomic_fetch_sub(&ep->refs, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	return ep;
}

void omx_split_front_ep_put(struct omx_split_front_ep *ep)
{
	/* Release: close sees every access of this command before it unmaps. */
	__atomic_fetch_sub(&ep->refs, 1, __ATOMIC_RELEASE);
}

void *omx_split_front_endpoint_area(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_split_front_ep *ep = omx_split_front_ep_get(omx_split_front_of(d), handle);
	void *area;

	if (!ep)
		return NULL;
	area = ep->area;
	omx_split_front_ep_put(ep);
	return area;
}

int omx_split_front_board_cached(struct omx_split_front *f, uint32_t board_index,
				 struct omx_abi_board_info *out)
{
	struct omx_split_req_board req;
	struct omx_split_response rsp;
	int err;

	if (board_index < OMX_SPLIT_FRONT_BOARDS && f->board_known[board_index]) {
		*out = f->boards[board_index];
		return 0;
	}
	memset(&req, 0, sizeof(req));
	req.board_index = board_index;
	err = omx_split_front_request(f, OMX_SPLIT_GET_BOARD_INFO, 0, &req, sizeof(req), &rsp);
	if (err)
		return err;
	*out = rsp.u.board_info;
	if (board_index < OMX_SPLIT_FRONT_BOARDS) {
		f->boards[board_index] = *out;
		f->board_known[board_index] = 1;
	}
	return 0;
}

/* ---- ids ------------------------------------------------------------------ */

/* A free memory object id (1..MAX-1) or 0; open_lock held. */
static uint32_t omx_split_front_mem_id_alloc(struct omx_split_front *f)
{
	for (uint32_t id = 1; id < OMX_SPLIT_MEM_OBJECTS_MAX; id++)
		if (!(f->mem_ids[id / 32] & (1u << (id % 32)))) {
			f->mem_ids[id / 32] |= 1u << (id % 32);
			return id;
		}
	return 0;
}

static void omx_split_front_mem_id_free(struct omx_split_front *f, uint32_t id)
{
	if (id)
		f->mem_ids[id / 32] &= ~(1u << (id % 32));
}

/* ---- open / close ---------------------------------------------------------- */

static struct omx_split_front_ep *omx_split_front_slot(struct omx_split_front *f)
{
	struct omx_split_front_ep *ep;
	uint32_t s;

	for (s = 0; s < OMX_SPLIT_FRONT_EP_MAX; s++) {
		ep = f->eps[s];
		if (!ep || __atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) == OMX_SPLIT_FRONT_EP_FREE)
			break;
	}
	if (s == OMX_SPLIT_FRONT_EP_MAX)
		return NULL;
	if (ep)
		return ep;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return NULL;
	ep->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep->wake_fd < 0) {
		free(ep);
		return NULL;
	}
	ep->f = f;
	ep->slot = s;
	ep->mem_fd = ep->evt_fd = -1;
	pthread_mutex_init(&ep->region_lock, NULL);
	pthread_mutex_init(&ep->wait_lock, NULL);
	/* Release: a lookup that finds the slot sees it initialised (state FREE). */
	__atomic_store_n(&f->eps[s], ep, __ATOMIC_RELEASE);
	return ep;
}

/* Undo what open set up, in reverse; open_lock held. */
static void omx_split_front_ep_release(struct omx_split_front *f, struct omx_split_front_ep *ep,
				       uint64_t area_size)
{
	uint64_t v;

	if (ep->area_ref)
		omx_split_front_grant_end(f, ep->area_ref);
	ep->area_ref = 0;
	if (ep->evtchn_id) {
		int err = omx_split_front_bus_call(f, OMX_SPLIT_BUS_EVTCHN_DEL, ep->evtchn_id, -1);

		if (err && err != OMX_ABI_EIO && f->verbose)
			omx_split_front_log("split driver: EVTCHN_DEL %u refused (%d)", ep->evtchn_id, err);
	}
	ep->evtchn_id = 0;
	if (ep->mem_id) {
		int err = omx_split_front_bus_call(f, OMX_SPLIT_BUS_MEM_DEL, ep->mem_id, -1);

		if (err && err != OMX_ABI_EIO && f->verbose)
			omx_split_front_log("split driver: MEM_DEL %u refused (%d)", ep->mem_id, err);
		omx_split_front_mem_id_free(f, ep->mem_id);
	}
	ep->mem_id = 0;
	if (ep->evt_fd >= 0)
		close(ep->evt_fd);
	if (ep->mem_fd >= 0)
		close(ep->mem_fd);
	ep->evt_fd = ep->mem_fd = -1;
	if (ep->area)
		munmap(ep->area, area_size);
	ep->area = NULL;
	ep->desc = NULL;
	ep->sleepers = NULL;
	/* A wakeup of the previous life must not end the next one's first wait. */
	if (read(ep->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending */
	}
	ep->waiters = ep->waiters_old = 0;
}

/* Whether the backend's answer fits the area we sized: we read the desc,
 * both event queues and sleepers ourselves (the lib checks the rest). */
static int omx_split_front_layout_ok(const struct omx_abi_endpoint_info *info,
				     const struct omx_abi_open_endpoint *cmd,
				     const struct omx_drv_shadow_layout *sl)
{
	const struct omx_abi_endpoint_layout *l = &info->layout;
	uint64_t qsz = (uint64_t)l->eventq_entries * OMX_ABI_EVENT_SIZE;

	return info->board_index == cmd->board_index && info->endpoint_index == cmd->endpoint_index &&
	       l->area_size <= sl->area_size && sl->sleepers_offset + sizeof(uint32_t) <= sl->area_size &&
	       l->desc_offset + sizeof(struct omx_abi_endpoint_desc) <= l->area_size &&
	       l->eventq_entries && !(l->eventq_entries & (l->eventq_entries - 1)) &&
	       l->exp_eventq_offset + qsz <= l->area_size && l->unexp_eventq_offset + qsz <= l->area_size &&
	       l->slot_size == OMX_ABI_QUEUE_SLOT_SIZE && l->sendq_entries &&
	       l->sendq_offset + (uint64_t)l->sendq_entries * l->slot_size <= l->area_size;
}

int omx_split_front_open_endpoint(struct omx_abi_driver *d, const struct omx_abi_open_endpoint *cmd,
				  struct omx_abi_endpoint_info *out)
{
	struct omx_split_front *f = omx_split_front_of(d);
	struct omx_split_req_open_endpoint req;
	struct omx_drv_shadow_layout sl;
	struct omx_abi_board_info bi;
	struct omx_split_response rsp;
	struct omx_split_front_ep *ep;
	void *area;
	int err, ref;

	if (omx_split_front_dead(f))
		return OMX_ABI_EIO;
	pthread_mutex_lock(&f->open_lock);
	err = omx_split_front_board_cached(f, cmd->board_index, &bi);
	if (err)
		goto out_unlock;
	ep = omx_split_front_slot(f);
	if (!ep) {
		err = OMX_ABI_ENOMEM;
		goto out_unlock;
	}
	omx_drv_shadow_layout(&sl);
	err = omx_split_front_memfd("omx-split-area", sl.area_size, &area);
	if (err < 0)
		goto out_unlock;
	ep->mem_fd = err;
	ep->area = area;
	ep->evt_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ep->mem_id = omx_split_front_mem_id_alloc(f);
	if (ep->evt_fd < 0 || !ep->mem_id) {
		err = OMX_ABI_ENOMEM;
		goto err_release;
	}
	err = omx_split_front_bus_call(f, OMX_SPLIT_BUS_MEM_ADD, ep->mem_id, ep->mem_fd);
	if (err) {
		omx_split_front_mem_id_free(f, ep->mem_id);
		ep->mem_id = 0;
		goto err_release;
	}
	ep->evtchn_id = ++f->next_evtchn;
	err = omx_split_front_bus_call(f, OMX_SPLIT_BUS_EVTCHN_ADD, ep->evtchn_id, ep->evt_fd);
	if (err) {
		ep->evtchn_id = 0;
		goto err_release;
	}
	ref = omx_split_front_grant(f, ep->mem_id, 0, sl.area_size, OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE);
	if (ref < 0) {
		err = ref;
		goto err_release;
	}
	ep->area_ref = (uint32_t)ref;

	memset(&req, 0, sizeof(req));
	req.cmd = *cmd;
	req.cmd.command[sizeof(req.cmd.command) - 1] = '\0';
	req.area_ref = ep->area_ref;
	req.evtchn = ep->evtchn_id;
	err = omx_split_front_request(f, OMX_SPLIT_OPEN_ENDPOINT, 0, &req, sizeof(req), &rsp);
	if (err)
		goto err_release;
	if (!omx_split_front_layout_ok(&rsp.u.endpoint_info, cmd, &sl)) {
		omx_split_front_log("split driver: the backend opened endpoint %u with a layout that does "
				    "not fit the area", cmd->endpoint_index);
		(void)omx_split_front_request(f, OMX_SPLIT_CLOSE_ENDPOINT, rsp.u.endpoint_info.handle,
					      NULL, 0, &rsp);
		err = OMX_ABI_EIO;
		goto err_release;
	}
	*out = rsp.u.endpoint_info;
	ep->back_handle = out->handle;
	ep->board_index = out->board_index;
	ep->endpoint_index = out->endpoint_index;
	ep->layout = out->layout;
	ep->medium_frag_max = bi.medium_frag_length_max;
	ep->desc = (struct omx_abi_endpoint_desc *)(ep->area + ep->layout.desc_offset);
	ep->sleepers = (uint32_t *)(ep->area + sl.sleepers_offset);
	ep->waitspin_us = f->waitspin_us;
	ep->scan_exp = ep->scan_unexp = ep->polls = 0;
	ep->last_poll_ns = ep->idle_since_ns = 0;
	out->handle = ep->slot;
	/* Seq-cst: lookups that see OPEN see the fields above. */
	__atomic_store_n(&ep->state, OMX_SPLIT_FRONT_EP_OPEN, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&f->open_lock);
	return 0;

err_release:
	omx_split_front_ep_release(f, ep, sl.area_size);
out_unlock:
	pthread_mutex_unlock(&f->open_lock);
	return err;
}

static void omx_split_front_regions_drop(struct omx_split_front *f, struct omx_split_front_ep *ep)
{
	pthread_mutex_lock(&ep->region_lock);
	for (uint32_t id = 0; id < OMX_ABI_REGION_ID_MAX; id++) {
		struct omx_split_front_region *r = ep->regions[id];

		if (!r)
			continue;
		for (uint32_t i = 0; i < r->nr; i++)
			omx_split_front_grant_end(f, r->refs[i]);
		__atomic_store_n(&ep->regions[id], NULL, __ATOMIC_RELAXED);
		free(r);
	}
	pthread_mutex_unlock(&ep->region_lock);
}

/* Close a slot in state OPEN; open_lock held.  0 or the backend's error. */
static int omx_split_front_ep_teardown(struct omx_split_front *f, struct omx_split_front_ep *ep)
{
	struct omx_split_response rsp;
	struct omx_drv_shadow_layout sl;
	int err = 0;

	__atomic_store_n(&ep->state, OMX_SPLIT_FRONT_EP_CLOSING, __ATOMIC_SEQ_CST);
	omx_split_front_ep_wake_all(ep);
	/* Waiters return on the wakeup; posted commands finish quickly. */
	/* Acquire pairs with the puts' release: their accesses are done. */
	while (__atomic_load_n(&ep->refs, __ATOMIC_ACQUIRE))
		sched_yield();
	if (!omx_split_front_dead(f))
		err = omx_split_front_request(f, OMX_SPLIT_CLOSE_ENDPOINT, ep->back_handle, NULL, 0, &rsp);
	/* The shadow is gone (or the backend is): its regions' grants end. */
	omx_split_front_regions_drop(f, ep);
	omx_drv_shadow_layout(&sl);
	omx_split_front_ep_release(f, ep, sl.area_size);
	/* The next open may take the slot: nothing above touches it any more. */
	__atomic_store_n(&ep->state, OMX_SPLIT_FRONT_EP_FREE, __ATOMIC_SEQ_CST);
	return err == OMX_ABI_EIO ? 0 : err;
}

int omx_split_front_close_endpoint(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_split_front *f = omx_split_front_of(d);
	struct omx_split_front_ep *ep;
	int err = OMX_ABI_EINVAL;

	if (handle >= OMX_SPLIT_FRONT_EP_MAX)
		return OMX_ABI_EINVAL;
	pthread_mutex_lock(&f->open_lock);
	ep = f->eps[handle];
	if (ep && __atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) == OMX_SPLIT_FRONT_EP_OPEN)
		err = omx_split_front_ep_teardown(f, ep);
	pthread_mutex_unlock(&f->open_lock);
	return err;
}

void omx_split_front_endpoints_close(struct omx_split_front *f)
{
	pthread_mutex_lock(&f->open_lock);
	for (uint32_t h = 0; h < OMX_SPLIT_FRONT_EP_MAX; h++) {
		struct omx_split_front_ep *ep = f->eps[h];

		if (ep && __atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) == OMX_SPLIT_FRONT_EP_OPEN)
			(void)omx_split_front_ep_teardown(f, ep);
	}
	pthread_mutex_unlock(&f->open_lock);
}

/* Once the watcher is gone: nothing can look a slot up any more. */
void omx_split_front_endpoints_free(struct omx_split_front *f)
{
	for (uint32_t h = 0; h < OMX_SPLIT_FRONT_EP_MAX; h++) {
		struct omx_split_front_ep *ep = f->eps[h];

		if (!ep)
			continue;
		close(ep->wake_fd);
		pthread_mutex_destroy(&ep->wait_lock);
		pthread_mutex_destroy(&ep->region_lock);
		f->eps[h] = NULL;
		free(ep);
	}
}

/* ---- regions ----------------------------------------------------------------- */

static void omx_split_front_region_ungrant(struct omx_split_front *f, struct omx_split_front_region *r)
{
	for (uint32_t i = 0; i < r->nr; i++)
		omx_split_front_grant_end(f, r->refs[i]);
	free(r);
}

/* Grant each non-empty segment into spans[] and r->refs[]. */
static int omx_split_front_region_grant(struct omx_split_front *f, const struct omx_abi_region_segment *segs,
					uint32_t nr, struct omx_split_front_region *r,
					struct omx_split_grant_span *spans)
{
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t addr = segs[i].offset, len = segs[i].length;
		int ref;

		if (!len)
			continue;
		if (!addr || addr + len < addr)
			return OMX_ABI_EINVAL;
		ref = omx_split_front_grant(f, OMX_SPLIT_MEM_SELF, addr, len,
					    OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE);
		if (ref < 0)
			return ref;
		spans[r->nr] = (struct omx_split_grant_span){ .ref = (uint32_t)ref, .offset = 0, .length = len };
		r->refs[r->nr++] = (uint32_t)ref;
	}
	return 0;
}

int omx_split_front_create_region(struct omx_abi_driver *d, uint32_t handle,
				  const struct omx_abi_create_region *cmd)
{
	struct omx_split_front *f = omx_split_front_of(d);
	const struct omx_abi_region_segment *segs =
		(const struct omx_abi_region_segment *)(uintptr_t)cmd->segments_offset;
	struct omx_split_req_create_region req;
	struct omx_split_grant_span *spans;
	struct omx_split_front_region *r;
	struct omx_split_response rsp;
	struct omx_split_front_ep *ep;
	int err, ref;

	if (cmd->id >= OMX_ABI_REGION_ID_MAX || cmd->nr_segments > OMX_ABI_REGION_SEGMENTS_MAX ||
	    (cmd->nr_segments && !segs))
		return OMX_ABI_EINVAL;
	ep = omx_split_front_ep_get(f, handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	memset(&req, 0, sizeof(req));
	r = calloc(1, sizeof(*r) + (size_t)cmd->nr_segments * sizeof(r->refs[0]));
	spans = cmd->nr_segments > OMX_SPLIT_REGION_INLINE_SPANS ?
		calloc(cmd->nr_segments, sizeof(*spans)) : req.spans;
	if (!r || !spans) {
		free(r);
		err = OMX_ABI_ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&ep->region_lock);
	err = ep->regions[cmd->id] ? OMX_ABI_EBUSY : 0;
	if (!err)
		err = omx_split_front_region_grant(f, segs, cmd->nr_segments, r, spans);
	if (err)
		goto err_unlock;
	req.id = cmd->id;
	req.nr_segments = r->nr;
	if (r->nr > OMX_SPLIT_REGION_INLINE_SPANS) {
		ref = omx_split_front_grant(f, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)spans,
					    (uint64_t)r->nr * sizeof(*spans), OMX_SPLIT_GRANT_READ);
		if (ref < 0) {
			err = ref;
			goto err_unlock;
		}
		req.spans_ref = (uint32_t)ref;
	} else if (spans != req.spans) {
		memcpy(req.spans, spans, (size_t)r->nr * sizeof(*spans));
	}
	err = omx_split_front_request(f, OMX_SPLIT_CREATE_REGION, ep->back_handle, &req, sizeof(req), &rsp);
	/* The backend read the spans while it answered. */
	omx_split_front_grant_end(f, req.spans_ref);
	if (err)
		goto err_unlock;
	/* Release: pairs with the pull check's acquire (omx_split_front.c). */
	__atomic_store_n(&ep->regions[cmd->id], r, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ep->region_lock);
	r = NULL;
	goto out;

err_unlock:
	pthread_mutex_unlock(&ep->region_lock);
	omx_split_front_region_ungrant(f, r);
out:
	if (spans && spans != req.spans)
		free(spans);
	omx_split_front_ep_put(ep);
	return err;
}

int omx_split_front_destroy_region(struct omx_abi_driver *d, uint32_t handle, uint32_t region_id)
{
	struct omx_split_front *f = omx_split_front_of(d);
	struct omx_split_front_region *r;
	struct omx_split_response rsp;
	struct omx_split_front_ep *ep;
	int err;

	if (region_id >= OMX_ABI_REGION_ID_MAX)
		return OMX_ABI_ENOENT;
	ep = omx_split_front_ep_get(f, handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	pthread_mutex_lock(&ep->region_lock);
	r = ep->regions[region_id];
	if (!r) {
		err = OMX_ABI_ENOENT;
		goto out;
	}
	__atomic_store_n(&ep->regions[region_id], NULL, __ATOMIC_RELAXED);
	err = omx_split_front_request(f, OMX_SPLIT_DESTROY_REGION, ep->back_handle, &region_id,
				      sizeof(region_id), &rsp);
	/* Dead region in the engine, busy dropped: the grants may end now
	 * (a busy one is parked until the backend lets go). */
	omx_split_front_region_ungrant(f, r);
out:
	pthread_mutex_unlock(&ep->region_lock);
	omx_split_front_ep_put(ep);
	return err;
}
