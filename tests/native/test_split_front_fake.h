/*
 * test_split_front_fake.h - a fake split backend for test_split_front.c: a
 * thread of the test process that speaks the bus and ring protocol by hand,
 * hosts one endpoint, answers a few commands with recognisable values and
 * can be told to stall, stay awake (never ask for a kick), keep grants
 * busy, post an event, or hang up the bus.
 *
 *   struct fake fk;  fake_start(&fk, "name", NULL or "refusal reason");
 *   omx_split_front_open(fk.path, &d); ... fake_set(&fk.stall, 1); ...
 *   fake_stop(&fk);
 */
#ifndef TEST_SPLIT_FRONT_FAKE_H
#define TEST_SPLIT_FRONT_FAKE_H

#include <pthread.h>
#include <stdint.h>

#include "omx_split_proto.h"
#include "omx_split_ring.h"

#define FAKE_MEMS 16
#define FAKE_THREADS 4

struct fake {
	char path[108];
	int lsock, sock;
	const char *refuse;           /* non-NULL: refuse with this reason */
	pthread_t thr;
	struct omx_split_sring *sring;
	struct omx_split_grant *gnt;
	int kick, notify;
	struct omx_split_back_ring ring;
	int mem_fds[FAKE_MEMS], evt_fds[FAKE_MEMS];
	/* controls (atomic) */
	int stall, awake, die, keep_busy, post_event;
	/* what it saw (atomic) */
	uint32_t tinies, order_errors, lies, kicks, opens, closes, regions, destroys, closing, closed_eps;
	uint32_t mem_adds, mem_dels, evt_adds, evt_dels, bad_grants;
	uint64_t next_seq[FAKE_THREADS];  /* SEND_TINY match_info: thread << 32 | seq */
	/* the one endpoint it hosts (endpoint index 7 is refused EBUSY) */
	uint8_t *area;
	uint64_t area_size;
	struct omx_abi_endpoint_layout layout;
	uint64_t sleepers_offset;
	int ep_evt;
	uint32_t next_exp;            /* post_event's next expected-queue index */
	uint32_t region_refs[16], nr_region_refs;   /* the last region's segment grants */
};

void fake_start(struct fake *fk, const char *name, const char *refuse);
void fake_stop(struct fake *fk);
int fake_get(const int *p);
void fake_set(int *p, int v);
uint32_t fake_read(const uint32_t *c);

#endif /* TEST_SPLIT_FRONT_FAKE_H */
