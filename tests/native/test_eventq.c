/* test_eventq.c - the event ring of omx_eventq.h: laps, ids, full queue, release, wrap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_eventq.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define ENTRIES 8
#define BATCH 4

static union omx_abi_event slots[ENTRIES];

static void produce(struct omx_eventq *q, uint32_t tag)
{
	union omx_abi_event *ev = omx_eventq_begin(q);

	memcpy(ev->generic.body, &tag, sizeof(tag));
	omx_eventq_publish(q, ev, OMX_ABI_EVT_RECV_TINY);
}

static uint32_t tag_of(const union omx_abi_event *ev)
{
	uint32_t tag;

	memcpy(&tag, ev->generic.body, sizeof(tag));
	return tag;
}

/* Producer and consumer in lock step from a given starting index: fill the
 * ring, refuse one more, consume a batch, release it, for `laps` laps. */
static void run(uint32_t start, unsigned laps)
{
	struct omx_eventq q;
	uint32_t cons = start, released_by_cons = start, produced = 0, consumed = 0;

	memset(slots, 0, sizeof(slots));
	omx_eventq_init(&q, slots, ENTRIES);
	q.next = q.released = start;
	CHECK(omx_eventq_space(&q) == ENTRIES);
	CHECK(omx_eventq_peek(slots, ENTRIES, cons) == NULL);

	while (consumed < laps * ENTRIES) {
		while (omx_eventq_space(&q) > 0) {
			uint32_t idx = q.next;

			produce(&q, produced++);
			/* The id rule: 1 + index % 255, never 0. */
			CHECK(omx_eventq_slot(&q, idx)->generic.id == omx_eventq_id(idx));
			CHECK(omx_eventq_id(idx) >= 1);
			CHECK(omx_eventq_slot(&q, idx)->generic.type == OMX_ABI_EVT_RECV_TINY);
		}
		/* Full: the producer must refuse (drop and count). */
		CHECK(omx_eventq_space(&q) == 0);
		CHECK(q.next - q.released == ENTRIES);

		for (unsigned i = 0; i < BATCH; i++) {
			const union omx_abi_event *ev = omx_eventq_peek(slots, ENTRIES, cons);

			CHECK(ev != NULL);
			CHECK(tag_of(ev) == consumed);
			cons++;
			consumed++;
		}
		/* Consumed slots still hold last lap's events: never valid at the
		 * index that will reuse them until produced again. */
		CHECK(omx_eventq_peek(slots, ENTRIES, q.next) == NULL);
		CHECK(omx_eventq_release(&q, BATCH) == 0);
		released_by_cons += BATCH;
		CHECK(q.released == released_by_cons);
		CHECK(omx_eventq_space(&q) == BATCH);
	}
	CHECK(produced - consumed == ENTRIES - BATCH);

	/* Release refuses more than was produced. */
	CHECK(omx_eventq_release(&q, q.next - q.released + 1) < 0);
	CHECK(omx_eventq_release(&q, q.next - q.released) == 0);
	CHECK(omx_eventq_space(&q) == ENTRIES);
	CHECK(omx_eventq_release(&q, 1) < 0);
}

static void test_release_fresh(void)
{
	struct omx_eventq q;

	omx_eventq_init(&q, slots, ENTRIES);
	CHECK(omx_eventq_release(&q, 1) < 0);
	CHECK(omx_eventq_release(&q, 0) == 0);
	produce(&q, 0);
	CHECK(omx_eventq_release(&q, 2) < 0);
	CHECK(omx_eventq_release(&q, 1) == 0);
}

static void test_ids(void)
{
	CHECK(omx_eventq_id(0) == 1);
	CHECK(omx_eventq_id(254) == 255);
	CHECK(omx_eventq_id(255) == 1);
	/* A u32 wrap moves the id by 2^32 % 255 = 1. */
	CHECK(omx_eventq_id(0xFFFFFFFFu) == 1);
	/* One lap of the real ring moves it by 1024 % 255 = 4: stale slots never match. */
	for (uint32_t i = 0; i < 4096; i++)
		CHECK(omx_eventq_id(i) != omx_eventq_id(i + OMX_ABI_EVENTQ_ENTRIES));
	CHECK(omx_eventq_id(0xFFFFFFFFu - 10) != omx_eventq_id(0xFFFFFFFFu - 10 + OMX_ABI_EVENTQ_ENTRIES));
}

int main(void)
{
	test_ids();
	test_release_fresh();
	run(0, 3);
	/* Laps that cross the u32 wrap of the running index. */
	run(0xFFFFFFFFu - 2 * ENTRIES + 3, 3);
	printf("test_eventq: ok\n");
	return 0;
}
