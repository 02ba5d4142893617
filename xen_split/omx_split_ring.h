/*
 * omx_split_ring.h - the request/response ring between a split frontend and
 * its backend, with the semantics of Xen's io/ring.h.
 *
 * One shared ring (struct omx_split_sring, in memory the frontend owns and
 * grants) holds OMX_SPLIT_RING_SLOTS slots; a slot carries a request or,
 * once the backend consumed it, the response to it.  Four free-running u32
 * indices live in the shared header; each side keeps its private cursor:
 *
 *   req_prod   frontend: requests published        (backend reads)
 *   rsp_prod   backend:  responses published       (frontend reads)
 *   req_event  backend:  "notify me when req_prod passes this"
 *   rsp_event  frontend: "notify me when rsp_prod passes this"
 *
 * Indices only grow and wrap at 2^32; a slot is index & (SLOTS - 1).  A side
 * publishes with a release store after writing the slots, and the other side
 * reads the index with an acquire load before reading the slots.
 *
 * Notification suppression (push_*_and_check_notify): after publishing, a
 * producer notifies (writes the other side's event channel) only if the new
 * producer index passed the consumer's event index during this push.  A
 * consumer about to sleep sets its event index to cons + 1 and then checks
 * once more (final_check_*), with a full fence in between, so that no
 * publication can slip between its last check and its sleep.
 *
 * Flow control: the frontend never has more than SLOTS requests whose
 * responses it has not consumed (free_requests); the backend answers every
 * request exactly once, in slot order, so a response slot is always free.
 *
 * Trust: the frontend writes req_prod and rsp_event, so the backend treats
 * them as hostile.  unconsumed_requests reports a lie (req_prod more than
 * SLOTS ahead of the responses the backend produced) as -1, after which the
 * backend disconnects that frontend; event indices only steer notifications
 * and cannot make the backend touch memory outside the ring.
 */
#ifndef OMX_SPLIT_RING_H
#define OMX_SPLIT_RING_H

#include <stdint.h>

#include "omx_split_proto.h"

struct omx_split_sring {
	uint32_t req_prod;
	uint32_t req_event;
	uint32_t rsp_prod;
	uint32_t rsp_event;
	uint8_t pad[64 - 16];         /* the slots start on their own cache line */
	union omx_split_slot slots[OMX_SPLIT_RING_SLOTS];
};
static_assert(sizeof(struct omx_split_sring) == OMX_SPLIT_RING_BYTES,
	      "the shared ring is exactly its pages");

/* Private cursors of each side. */
struct omx_split_front_ring {
	struct omx_split_sring *sring;
	uint32_t req_prod_pvt;        /* next request slot to fill */
	uint32_t rsp_cons;            /* next response to consume */
};

struct omx_split_back_ring {
	struct omx_split_sring *sring;
	uint32_t rsp_prod_pvt;        /* next response slot to fill */
	uint32_t req_cons;            /* next request to consume */
};

static inline uint32_t omx_split_ring_load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void omx_split_ring_store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline union omx_split_slot *omx_split_ring_slot(struct omx_split_sring *s, uint32_t index)
{
	return &s->slots[index & (OMX_SPLIT_RING_SLOTS - 1)];
}

/* ---- frontend ------------------------------------------------------------ */

/* Called once by the frontend on zeroed memory. */
static inline void omx_split_front_ring_init(struct omx_split_front_ring *r, struct omx_split_sring *s)
{
	s->req_prod = s->rsp_prod = 0;
	s->req_event = s->rsp_event = 1;
	r->sring = s;
	r->req_prod_pvt = 0;
	r->rsp_cons = 0;
}

static inline uint32_t omx_split_front_free_requests(const struct omx_split_front_ring *r)
{
	return OMX_SPLIT_RING_SLOTS - (r->req_prod_pvt - r->rsp_cons);
}

/* Publish the requests filled since the last push; returns 1 when the
 * backend asked to be notified. */
static inline int omx_split_front_push_requests(struct omx_split_front_ring *r)
{
	uint32_t old = r->sring->req_prod, new = r->req_prod_pvt;

	omx_split_ring_store(&r->sring->req_prod, new);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);   /* req_prod before req_event */
	return (uint32_t)(new - omx_split_ring_load(&r->sring->req_event)) <
	       (uint32_t)(new - old);
}

/* Responses published and not consumed yet. */
static inline uint32_t omx_split_front_unconsumed_responses(const struct omx_split_front_ring *r)
{
	return omx_split_ring_load(&r->sring->rsp_prod) - r->rsp_cons;
}

/* Before sleeping: ask for a notification at the next response, then look
 * once more; returns the number of responses that are already there. */
static inline uint32_t omx_split_front_final_check(struct omx_split_front_ring *r)
{
	uint32_t n = omx_split_front_unconsumed_responses(r);

	if (n)
		return n;
	omx_split_ring_store(&r->sring->rsp_event, r->rsp_cons + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);   /* rsp_event before rsp_prod */
	return omx_split_front_unconsumed_responses(r);
}

/* ---- backend ------------------------------------------------------------- */

static inline void omx_split_back_ring_attach(struct omx_split_back_ring *r, struct omx_split_sring *s)
{
	r->sring = s;
	r->rsp_prod_pvt = 0;
	r->req_cons = 0;
}

/* Requests to consume now (>= 0), or -1 when the frontend's req_prod is a
 * lie (more requests than free response slots). */
static inline int64_t omx_split_back_unconsumed_requests(const struct omx_split_back_ring *r)
{
	uint32_t prod = omx_split_ring_load(&r->sring->req_prod);
	uint32_t avail = prod - r->req_cons;

	if (avail > OMX_SPLIT_RING_SLOTS - (r->req_cons - r->rsp_prod_pvt))
		return -1;
	return avail;
}

/* Publish the responses filled since the last push; returns 1 when the
 * frontend asked to be notified. */
static inline int omx_split_back_push_responses(struct omx_split_back_ring *r)
{
	uint32_t old = r->sring->rsp_prod, new = r->rsp_prod_pvt;

	omx_split_ring_store(&r->sring->rsp_prod, new);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);   /* rsp_prod before rsp_event */
	return (uint32_t)(new - omx_split_ring_load(&r->sring->rsp_event)) <
	       (uint32_t)(new - old);
}

/* Before sleeping: ask for a notification at the next request, then look
 * once more (same result convention as unconsumed_requests). */
static inline int64_t omx_split_back_final_check(struct omx_split_back_ring *r)
{
	int64_t n = omx_split_back_unconsumed_requests(r);

	if (n)
		return n;
	omx_split_ring_store(&r->sring->req_event, r->req_cons + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);   /* req_event before req_prod */
	return omx_split_back_unconsumed_requests(r);
}

#endif /* OMX_SPLIT_RING_H */
