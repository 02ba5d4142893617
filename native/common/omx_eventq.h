/*
 * omx_eventq.h - the 64-byte event rings between a driver and the library.
 *
 * Recipe:
 *   producer (driver):  if (omx_eventq_space(q) == 0) drop-and-count;
 *                       ev = omx_eventq_slot(q, q->next); fill ev except id;
 *                       omx_eventq_publish(q, ev, type);
 *   consumer (lib):     while ((ev = omx_eventq_peek(slots, entries, idx))) {
 *                         handle(ev); idx++; every RELEASE_BATCH: release;
 *                       }
 *   release:            the consumer tells the producer (release_*_slots
 *                       command) that one batch of slots may be reused;
 *                       the producer advances q->released by that batch.
 *
 * An event at running index i is valid when its id byte equals
 * 1 + (i % 255).  Stale slots never match: one ring lap moves the id by
 * entries % 255 (1024 % 255 = 4), and so does a u32 wrap (2^32 % 255 = 1).
 * Only the producer writes slots; the consumer never writes the ring, so the
 * ring may be mapped read-only on the consumer side.
 *
 * Not done here: locking.  One producer per ring (the driver's endpoint lock)
 * and one consumer (the lib's endpoint lock).
 */
#ifndef OMX_EVENTQ_H
#define OMX_EVENTQ_H

#include <stdint.h>
#include <string.h>
#include "omx_abi.h"

static inline uint8_t omx_eventq_id(uint32_t index)
{
	return (uint8_t)(1 + index % 255);
}

/* Producer-side state (private to the producer). */
struct omx_eventq {
	union omx_abi_event *slots;
	uint32_t entries;             /* power of two */
	uint32_t next;                /* next index to produce */
	uint32_t released;            /* slots below released + entries are free */
};

static inline void omx_eventq_init(struct omx_eventq *q, union omx_abi_event *slots, uint32_t entries)
{
	q->slots = slots;
	q->entries = entries;
	q->next = 0;
	q->released = 0;
}

static inline uint32_t omx_eventq_space(const struct omx_eventq *q)
{
	return q->entries - (q->next - q->released);
}

static inline union omx_abi_event *omx_eventq_slot(struct omx_eventq *q, uint32_t index)
{
	return &q->slots[index & (q->entries - 1)];
}

/* Fill a slot: zero it, then the caller writes the body. */
static inline union omx_abi_event *omx_eventq_begin(struct omx_eventq *q)
{
	union omx_abi_event *ev = omx_eventq_slot(q, q->next);
	memset(ev->generic.body, 0, sizeof(ev->generic.body));
	return ev;
}

/* Publish the slot at q->next.  The release store orders the body before the
 * id: a consumer that acquire-loads the id sees the whole body. */
static inline void omx_eventq_publish(struct omx_eventq *q, union omx_abi_event *ev, uint8_t type)
{
	ev->generic.type = type;
	__atomic_store_n(&ev->generic.id, omx_eventq_id(q->next), __ATOMIC_RELEASE);
	q->next++;
}

/* Take back one batch; refuses (returns -1) more than was produced. */
static inline int omx_eventq_release(struct omx_eventq *q, uint32_t count)
{
	if (q->next - q->released < count)
		return -1;
	q->released += count;
	return 0;
}

/* Consumer: the event at index, or NULL when not yet produced.  The acquire
 * load pairs with the producer's release store of the id. */
static inline const union omx_abi_event *
omx_eventq_peek(const union omx_abi_event *slots, uint32_t entries, uint32_t index)
{
	const union omx_abi_event *ev = &slots[index & (entries - 1)];
	if (__atomic_load_n(&ev->generic.id, __ATOMIC_ACQUIRE) != omx_eventq_id(index))
		return NULL;
	return ev;
}

#endif /* OMX_EVENTQ_H */
