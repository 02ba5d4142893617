/*
 * test_driver_shared.c - the direct driver's intra-host path: events and
 * payloads written straight into a local endpoint's queues, the sender-side
 * nacks, counters on the shared pseudo-board, the synchronous pull, the
 * doorbell, a full queue, a producer that dies holding the queue lock, and
 * a peer process that is SIGKILLed (nacks, then its area is unmapped).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv_shared.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

struct tep {
	uint32_t handle;
	struct omx_abi_endpoint_info info;
	uint8_t *area;
	struct omx_abi_endpoint_desc *desc;
	const union omx_abi_event *expq, *unexpq;
	uint8_t *sendq, *recvq;
	struct omx_drv_shm *shm;
	uint32_t next_exp, next_unexp;
};

static struct omx_abi_driver *drv;
static const struct omx_abi_ops *ops;
static uint64_t board;
static uint16_t board_peer;          /* our board's index in the (host-wide) peer table */

static uint32_t sctr(enum omx_abi_counter c)
{
	uint32_t v[OMX_COUNTER_INDEX_MAX];

	CHECK(ops->get_counters(drv, OMX_ABI_BOARD_SHARED, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
	return v[c];
}

static int tep_open(struct omx_abi_driver *d, struct tep *e, uint32_t index)
{
	struct omx_abi_open_endpoint cmd = { .board_index = 0, .endpoint_index = index };
	uint64_t shm_offset;
	int r;

	memset(e, 0, sizeof(*e));
	strcpy(cmd.command, "test_driver_shared");
	r = d->ops->open_endpoint(d, &cmd, &e->info);
	if (r)
		return r;
	e->handle = e->info.handle;
	e->area = d->ops->endpoint_area(d, e->handle);
	CHECK(e->area != NULL);
	e->desc = (struct omx_abi_endpoint_desc *)(e->area + e->info.layout.desc_offset);
	e->expq = (const union omx_abi_event *)(e->area + e->info.layout.exp_eventq_offset);
	e->unexpq = (const union omx_abi_event *)(e->area + e->info.layout.unexp_eventq_offset);
	e->sendq = e->area + e->info.layout.sendq_offset;
	e->recvq = e->area + e->info.layout.recvq_offset;
	CHECK(omx_drv_shared_area_size(&e->info.layout, &shm_offset) == e->info.layout.area_size);
	e->shm = (struct omx_drv_shm *)(e->area + shm_offset);
	CHECK(e->shm->magic == OMX_DRV_SHM_MAGIC && e->shm->state == OMX_DRV_SHM_OPEN);
	CHECK(e->shm->owner_pid == (uint32_t)getpid() && e->shm->session == e->info.session_id);
	return 0;
}

/* The next event of a queue (progress, then peek), or NULL after timeout_ms. */
static const union omx_abi_event *next_event_of(struct omx_abi_driver *d, struct tep *e, int unexp,
						 int timeout_ms)
{
	uint64_t deadline = d->ops->jiffies(d) + (uint64_t)timeout_ms;
	uint32_t *idx = unexp ? &e->next_unexp : &e->next_exp;

	for (;;) {
		const union omx_abi_event *ev;

		CHECK(d->ops->progress(d, e->handle) >= 0);
		ev = omx_eventq_peek(unexp ? e->unexpq : e->expq, OMX_ABI_EVENTQ_ENTRIES, *idx);
		if (ev) {
			if (++*idx % OMX_ABI_EVENTQ_RELEASE_BATCH == 0)
				CHECK((unexp ? d->ops->release_unexp_slots : d->ops->release_exp_slots)(d, e->handle) == 0);
			return ev;
		}
		if (d->ops->jiffies(d) >= deadline)
			return NULL;
		struct omx_abi_wait w = {
			.user_event_index = e->desc->user_event_index,
			.next_exp_event_index = e->next_exp,
			.next_unexp_event_index = e->next_unexp,
			.jiffies_expire = deadline,
		};
		CHECK(d->ops->wait_event(d, e->handle, &w) == 0);
	}
}

static const union omx_abi_event *next_event(struct tep *e, int unexp, int timeout_ms)
{
	return next_event_of(drv, e, unexp, timeout_ms);
}

static struct omx_abi_send_hdr hdr_to(uint32_t dst_index, uint32_t session, uint16_t seqnum, uint64_t match)
{
	struct omx_abi_send_hdr h = {
		.peer_index = board_peer, .dest_endpoint = (uint8_t)dst_index, .shared = 1,
		.session_id = session, .seqnum = seqnum, .piggyack = (uint16_t)(seqnum - 1),
		.match_info = match,
	};
	return h;
}

static void send_tiny_to(struct omx_abi_driver *d, uint32_t src, uint32_t dst_index, uint32_t session,
			 uint16_t seqnum, uint8_t fill)
{
	struct omx_abi_send_tiny t = { .hdr = hdr_to(dst_index, session, seqnum, 0x77), .length = 32 };

	memset(t.data, fill, sizeof(t.data));
	CHECK(d->ops->send_tiny(d, src, &t) == 0);
}

static void expect_nack(struct tep *e, uint8_t nacker, uint16_t seqnum, uint8_t type)
{
	const union omx_abi_event *ev = next_event(e, 1, 2000);

	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_NACK_LIB);
	CHECK(ev->recv_nack_lib.peer_index == board_peer && ev->recv_nack_lib.src_endpoint == nacker);
	CHECK(ev->recv_nack_lib.shared == 1);
	CHECK(ev->recv_nack_lib.seqnum == seqnum && ev->recv_nack_lib.nack_type == type);
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_connect(struct tep *e0, struct tep *e1)
{
	struct omx_abi_send_connect_request c = {
		.peer_index = board_peer, .dest_endpoint = (uint8_t)e1->info.endpoint_index,
		.src_session_id = e0->info.session_id, .app_key = 0x1234, .target_recv_seqnum_start = 0x4001,
		.connect_seqnum = 9,
	};
	uint32_t before = sctr(OMX_COUNTER_SHARED_CONNECT_REQUEST);
	const union omx_abi_event *ev;

	CHECK(ops->send_connect_request(drv, e0->handle, &c) == 0);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_CONNECT_REQUEST);
	CHECK(ev->recv_connect_request.shared == 1 && ev->recv_connect_request.peer_index == board_peer);
	CHECK(ev->recv_connect_request.src_endpoint == e0->info.endpoint_index);
	CHECK(ev->recv_connect_request.src_session_id == e0->info.session_id);
	CHECK(ev->recv_connect_request.app_key == 0x1234 && ev->recv_connect_request.connect_seqnum == 9);
	CHECK(ev->recv_connect_request.target_recv_seqnum_start == 0x4001);
	CHECK(sctr(OMX_COUNTER_SHARED_CONNECT_REQUEST) == before + 1);

	/* shared_disabled: the link carries it, and the event says so. */
	c.shared_disabled = 1;
	CHECK(ops->send_connect_request(drv, e0->handle, &c) == 0);
	ev = next_event(e1, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_CONNECT_REQUEST && ev->recv_connect_request.shared == 0);
	CHECK(sctr(OMX_COUNTER_SHARED_CONNECT_REQUEST) == before + 1);

	struct omx_abi_send_connect_reply r = {
		.peer_index = board_peer, .dest_endpoint = (uint8_t)e0->info.endpoint_index,
		.src_session_id = e0->info.session_id, .target_session_id = e1->info.session_id,
		.target_recv_seqnum_start = 0x4001, .connect_seqnum = 9, .status_code = 0,
	};
	CHECK(ops->send_connect_reply(drv, e1->handle, &r) == 0);
	ev = next_event(e0, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_CONNECT_REPLY && ev->recv_connect_reply.shared == 1);
	CHECK(ev->recv_connect_reply.target_session_id == e1->info.session_id);
	CHECK(ev->recv_connect_reply.src_endpoint == e1->info.endpoint_index);
	printf("connect: ok\n");
}

static void test_messages(struct tep *e0, struct tep *e1)
{
	uint32_t s1 = e1->info.session_id, dst = e1->info.endpoint_index;
	const union omx_abi_event *ev;
	uint32_t before = sctr(OMX_COUNTER_SHARED_TINY);

	send_tiny_to(drv, e0->handle, dst, s1, 1, 0x5a);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.head.shared == 1);
	CHECK(ev->recv_tiny.head.peer_index == board_peer);
	CHECK(ev->recv_tiny.head.src_endpoint == e0->info.endpoint_index);
	CHECK(ev->recv_tiny.head.seqnum == 1 && ev->recv_tiny.head.piggyack == 0);
	CHECK(ev->recv_tiny.head.match_info == 0x77);
	CHECK(ev->recv_tiny.length == 32 && ev->recv_tiny.data[0] == 0x5a && ev->recv_tiny.data[31] == 0x5a);
	CHECK(sctr(OMX_COUNTER_SHARED_TINY) == before + 1);

	struct omx_abi_send_small sm = { .hdr = hdr_to(dst, s1, 2, 0x88), .length = 128, .checksum = 3 };
	for (int i = 0; i < 128; i++)
		sm.data[i] = (uint8_t)(i * 3);
	CHECK(ops->send_small(drv, e0->handle, &sm) == 0);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_SMALL && ev->recv_small.length == 128);
	CHECK(!memcmp(e1->recvq + ev->recv_small.recvq_offset, sm.data, 128));
	/* The recvq slot is the one bound to the event's index. */
	CHECK(ev->recv_small.recvq_offset ==
	      ((e1->next_unexp - 1) % OMX_ABI_RECVQ_ENTRIES) * OMX_ABI_QUEUE_SLOT_SIZE);

	for (uint32_t i = 0; i < 8192; i++)
		e0->sendq[3 * 8192 + i] = (uint8_t)(i * 13 + 5);
	struct omx_abi_send_medium_frag mf = {
		.hdr = hdr_to(dst, s1, 3, 0x99), .sendq_offset = 3 * 8192, .msg_length = 20000,
		.frag_length = 8192, .frag_seqnum = 1, .frag_pipeline = 13,
	};
	CHECK(ops->send_medium_frag(drv, e0->handle, &mf) == 0);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_MEDIUM_FRAG);
	CHECK(ev->recv_medium_frag.msg_length == 20000 && ev->recv_medium_frag.frag_length == 8192);
	CHECK(ev->recv_medium_frag.frag_seqnum == 1 && ev->recv_medium_frag.frag_pipeline == 13);
	CHECK(!memcmp(e1->recvq + ev->recv_medium_frag.recvq_offset, e0->sendq + 3 * 8192, 8192));
	ev = next_event(e0, 0, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE);
	CHECK(ev->send_mediumsq_frag_done.sendq_offset == 3 * 8192);

	struct omx_abi_send_rndv rv = { .hdr = hdr_to(dst, s1, 4, 0xaa), .msg_length = 1 << 20,
					 .pulled_rdma_id = 17, .pulled_rdma_seqnum = 23, .pulled_rdma_offset = 5 };
	CHECK(ops->send_rndv(drv, e0->handle, &rv) == 0);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_RNDV && ev->recv_rndv.msg_length == 1 << 20);
	CHECK(ev->recv_rndv.pulled_rdma_id == 17 && ev->recv_rndv.pulled_rdma_seqnum == 23);
	CHECK(ev->recv_rndv.pulled_rdma_offset == 5 && ev->recv_rndv.head.match_info == 0xaa);

	struct omx_abi_send_notify n = { .peer_index = board_peer, .dest_endpoint = (uint8_t)dst, .shared = 1,
					 .session_id = s1, .total_length = 777, .seqnum = 5, .piggyack = 4,
					 .pulled_rdma_id = 17, .pulled_rdma_seqnum = 23 };
	CHECK(ops->send_notify(drv, e0->handle, &n) == 0);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_NOTIFY && ev->recv_notify.length == 777);
	CHECK(ev->recv_notify.head.seqnum == 5 && ev->recv_notify.pulled_rdma_seqnum == 23);

	struct omx_abi_send_liback a = { .peer_index = board_peer, .dest_endpoint = (uint8_t)dst, .shared = 1,
					 .session_id = s1, .acknum = 42, .lib_seqnum = 6, .send_seq = 6, .resent = 1 };
	CHECK(ops->send_liback(drv, e0->handle, &a) == 0);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_LIBACK && ev->recv_liback.acknum == 42);
	CHECK(ev->recv_liback.lib_seqnum == 6 && ev->recv_liback.resent == 1 && ev->recv_liback.shared == 1);
	printf("messages: ok\n");
}

static void test_nacks(struct tep *e0, struct tep *e1)
{
	struct omx_abi_driver_info di;
	uint32_t drops = sctr(OMX_COUNTER_DROP_BAD_SESSION);

	CHECK(ops->get_info(drv, &di) == 0);
	send_tiny_to(drv, e0->handle, di.endpoint_max, 0, 11, 0);
	expect_nack(e0, (uint8_t)di.endpoint_max, 11, OMX_ABI_STATUS_BAD_ENDPT);
	send_tiny_to(drv, e0->handle, 5, 0, 12, 0);   /* nobody has index 5 */
	expect_nack(e0, 5, 12, OMX_ABI_STATUS_ENDPT_CLOSED);
	send_tiny_to(drv, e0->handle, e1->info.endpoint_index, e1->info.session_id ^ 1, 13, 0);
	expect_nack(e0, (uint8_t)e1->info.endpoint_index, 13, OMX_ABI_STATUS_BAD_SESSION);
	CHECK(sctr(OMX_COUNTER_DROP_BAD_SESSION) == drops + 1);

	/* A connect to a closed endpoint is nacked with seqnum 0. */
	struct omx_abi_send_connect_request c = { .peer_index = board_peer, .dest_endpoint = 5 };
	CHECK(ops->send_connect_request(drv, e0->handle, &c) == 0);
	expect_nack(e0, 5, 0, OMX_ABI_STATUS_ENDPT_CLOSED);

	/* A liback is never nacked: a bad session drops it. */
	struct omx_abi_send_liback a = { .peer_index = board_peer, .dest_endpoint = (uint8_t)e1->info.endpoint_index,
					 .shared = 1, .session_id = e1->info.session_id ^ 1 };
	CHECK(ops->send_liback(drv, e0->handle, &a) == 0);
	CHECK(sctr(OMX_COUNTER_DROP_BAD_SESSION) == drops + 2);
	CHECK(next_event(e1, 1, 50) == NULL && next_event(e0, 1, 10) == NULL);
	printf("nacks: ok\n");
}

static void region(struct omx_abi_driver *d, uint32_t handle, uint32_t id, uint8_t *buf, uint64_t len,
		   int split)
{
	struct omx_abi_region_segment segs[3] = {
		{ (uint64_t)(uintptr_t)buf, split ? 1000 : len },
		{ 0, 0 },
		{ (uint64_t)(uintptr_t)(buf + 1000), len - 1000 },
	};
	struct omx_abi_create_region cr = { .id = id, .nr_segments = split ? 3 : 1,
					    .segments_offset = (uint64_t)(uintptr_t)segs };

	CHECK(d->ops->create_region(d, handle, &cr) == 0);
}

static uint32_t pull(struct tep *puller, struct tep *owner_ep, uint32_t owner_index, uint32_t session,
		     uint32_t own_id, uint32_t owner_id, uint32_t offset, uint32_t len)
{
	struct omx_abi_pull p = {
		.peer_index = board_peer, .dest_endpoint = (uint8_t)owner_index, .shared = 1,
		.session_id = session, .length = len, .resend_timeout_ms = 5000, .puller_rdma_id = own_id,
		.pulled_rdma_id = owner_id, .pulled_rdma_seqnum = 1, .pulled_rdma_offset = offset,
		.lib_cookie = 0xc00c1e,
	};
	const union omx_abi_event *ev;

	(void)owner_ep;
	CHECK(ops->pull(drv, puller->handle, &p) == 0);
	/* Synchronous: the completion is there at once. */
	ev = omx_eventq_peek(puller->expq, OMX_ABI_EVENTQ_ENTRIES, puller->next_exp);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_PULL_DONE && ev->pull_done.lib_cookie == 0xc00c1e);
	CHECK(next_event(puller, 0, 10) == ev);
	return ev->pull_done.status;
}

static void test_pull(struct tep *e0, struct tep *e1)
{
	const uint64_t len = 3u << 20;
	uint8_t *src = malloc(len), *dst = calloc(1, len);
	uint32_t s1 = e1->info.session_id, dst_index = e1->info.endpoint_index;

	for (uint64_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i * 2654435761u >> 11);
	region(drv, e1->handle, 3, src, len, 1);
	region(drv, e0->handle, 4, dst, len, 1);
	CHECK(pull(e0, e1, dst_index, s1, 4, 3, 77, (uint32_t)(len - 77)) == OMX_ABI_STATUS_SUCCESS);
	CHECK(!memcmp(dst, src + 77, len - 77));
	CHECK(pull(e0, e1, dst_index, s1 ^ 1, 4, 3, 0, 10) == OMX_ABI_STATUS_BAD_SESSION);
	CHECK(pull(e0, e1, dst_index, s1, 4, 9, 0, 10) == OMX_ABI_STATUS_BAD_RDMAWIN);
	CHECK(pull(e0, e1, dst_index, s1, 4, 3, 10, (uint32_t)len) == OMX_ABI_STATUS_ABORTED);
	CHECK(pull(e0, e1, 5, 0, 4, 3, 0, 10) == OMX_ABI_STATUS_ENDPT_CLOSED);
	CHECK(ops->destroy_region(drv, e1->handle, 3) == 0);
	CHECK(pull(e0, e1, dst_index, s1, 4, 3, 0, 10) == OMX_ABI_STATUS_BAD_RDMAWIN);
	CHECK(ops->destroy_region(drv, e0->handle, 4) == 0);
	free(src);
	free(dst);
	printf("pull: ok\n");
}

/* A producer that dies holding the queue lock, after publishing its slot but
 * before advancing the index: the next producer recovers and goes on. */
static void *dying_producer(void *arg)
{
	struct tep *e = arg;
	union omx_abi_event *slots = (union omx_abi_event *)(uintptr_t)e->unexpq;
	union omx_abi_event *ev = omx_drv_uq_begin(e->shm, slots, OMX_ABI_EVENTQ_ENTRIES);

	CHECK(ev);
	ev->recv_tiny.length = 1;
	ev->recv_tiny.data[0] = 0xde;
	ev->generic.type = OMX_ABI_EVT_RECV_TINY;
	__atomic_store_n(&ev->generic.id, omx_eventq_id(omx_drv_uq_index(e->shm)), __ATOMIC_RELEASE);
	return NULL;                 /* exits holding the robust mutex */
}

static void test_dead_producer(struct tep *e0, struct tep *e1)
{
	const union omx_abi_event *ev;
	pthread_t t;

	CHECK(pthread_create(&t, NULL, dying_producer, e1) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	send_tiny_to(drv, e0->handle, e1->info.endpoint_index, e1->info.session_id, 20, 0x11);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.data[0] == 0xde);
	ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.data[0] == 0x11);
	printf("dead producer: ok\n");
}

static void test_unexp_full(struct tep *e0, struct tep *e1)
{
	uint32_t full = sctr(OMX_COUNTER_UNEXP_EVENTQ_FULL);
	uint32_t room = OMX_ABI_EVENTQ_ENTRIES - (e1->next_unexp % OMX_ABI_EVENTQ_RELEASE_BATCH);

	/* The consumer holds back (next_unexp % batch) consumed slots. */
	for (uint32_t i = 0; i < room; i++)
		send_tiny_to(drv, e0->handle, e1->info.endpoint_index, e1->info.session_id, (uint16_t)(100 + i), 1);
	CHECK(sctr(OMX_COUNTER_UNEXP_EVENTQ_FULL) == full);
	send_tiny_to(drv, e0->handle, e1->info.endpoint_index, e1->info.session_id, 1, 2);
	CHECK(sctr(OMX_COUNTER_UNEXP_EVENTQ_FULL) == full + 1);
	CHECK(e1->desc->status & OMX_ABI_DESC_UNEXP_EVENTQ_FULL);
	__atomic_fetch_and(&e1->desc->status, ~(uint64_t)OMX_ABI_DESC_UNEXP_EVENTQ_FULL, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < room; i++) {
		const union omx_abi_event *ev = next_event(e1, 1, 100);
		CHECK(ev && ev->recv_tiny.head.seqnum == (uint16_t)(100 + i));
	}
	CHECK(next_event(e1, 1, 10) == NULL);
	printf("full queue: ok\n");
}

struct waiter {
	struct tep *e;
	int status;
	uint64_t ms;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	uint64_t t0 = ops->jiffies(drv);
	struct omx_abi_wait wt = {
		.user_event_index = w->e->desc->user_event_index,
		.next_exp_event_index = w->e->next_exp,
		.next_unexp_event_index = w->e->next_unexp,
		.jiffies_expire = t0 + 5000,
	};

	CHECK(ops->wait_event(drv, w->e->handle, &wt) == 0);
	w->status = (int)wt.status;
	w->ms = ops->jiffies(drv) - t0;
	return NULL;
}

/* A sleeping receiver is rung by a shared-path sender. */
static void test_doorbell(struct tep *e0, struct tep *e1)
{
	struct waiter w = { .e = e1 };
	pthread_t t;

	CHECK(pthread_create(&t, NULL, wait_thread, &w) == 0);
	nap_ms(200);                 /* past any spin: the waiter blocks */
	CHECK(__atomic_load_n(&e1->shm->sleepers, __ATOMIC_RELAXED) == 1);
	send_tiny_to(drv, e0->handle, e1->info.endpoint_index, e1->info.session_id, 30, 3);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(w.status == OMX_ABI_WAIT_EVENT && w.ms < 1000);
	CHECK(e1->shm->sleepers == 0);
	CHECK(next_event(e1, 1, 100) != NULL);
	printf("doorbell: ok\n");
}

/* ---- another process ------------------------------------------------------- */

static int mapped(uint32_t index)
{
	char want[64], line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	snprintf(want, sizeof(want), "omx-ep-%012llx-%u ", (unsigned long long)board, index);
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, want))
			found = 1;
	fclose(f);
	return found;
}

#define CHILD_EP 7

/* The child opens endpoint 7 with a region, tells us its session, echoes
 * one tiny message back to e0, then waits to be killed. */
static void child(int wfd, int rfd, uint32_t parent_index, uint32_t parent_session)
{
	struct omx_abi_driver *d;
	struct tep e;
	static uint8_t buf[1 << 20];
	const union omx_abi_event *ev;
	char c;

	for (uint32_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0x5a);
	CHECK(omx_drv_direct_open(&d) == 0);
	CHECK(tep_open(d, &e, CHILD_EP) == 0);
	region(d, e.handle, 1, buf, sizeof(buf), 0);
	CHECK(write(wfd, &e.info.session_id, 4) == 4);
	ev = next_event_of(d, &e, 1, 10000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.data[0] == 0x42);
	send_tiny_to(d, e.handle, parent_index, parent_session, 1, 0x43);
	CHECK(read(rfd, &c, 1) == 1);    /* never returns: the parent kills us */
	_exit(0);
}

static void test_process(struct tep *e0)
{
	int up[2], down[2];
	uint32_t session;
	uint8_t *dst = calloc(1, 1 << 20);
	const union omx_abi_event *ev;
	pid_t pid;

	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		child(up[1], down[0], e0->info.endpoint_index, e0->info.session_id);
	}
	close(up[1]);
	close(down[0]);
	CHECK(read(up[0], &session, 4) == 4);
	send_tiny_to(drv, e0->handle, CHILD_EP, session, 1, 0x42);
	ev = next_event(e0, 1, 5000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.data[0] == 0x43);
	CHECK(ev->recv_tiny.head.src_endpoint == CHILD_EP && ev->recv_tiny.head.shared == 1);
	CHECK(mapped(CHILD_EP));

	/* One copy from the other process's memory. */
	region(drv, e0->handle, 5, dst, 1 << 20, 0);
	CHECK(pull(e0, NULL, CHILD_EP, session, 5, 1, 0, 1 << 20) == OMX_ABI_STATUS_SUCCESS);
	for (uint32_t i = 0; i < (1 << 20); i++)
		CHECK(dst[i] == (uint8_t)(i ^ 0x5a));

	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, NULL, 0) == pid);
	/* Within OMX_DRV_SHARED_CHECK_MS a write may still land in the dead
	 * area; after it the sender nacks, and the sweep unmaps the area. */
	nap_ms(OMX_DRV_SHARED_CHECK_MS + 50);
	send_tiny_to(drv, e0->handle, CHILD_EP, session, 2, 0x44);
	expect_nack(e0, CHILD_EP, 2, OMX_ABI_STATUS_ENDPT_CLOSED);
	CHECK(pull(e0, NULL, CHILD_EP, session, 5, 1, 0, 100) == OMX_ABI_STATUS_ENDPT_CLOSED);
	CHECK(!mapped(CHILD_EP));
	CHECK(ops->destroy_region(drv, e0->handle, 5) == 0);
	close(up[0]);
	close(down[1]);
	free(dst);
	printf("peer process and its SIGKILL: ok\n");
}

static void test_close(struct tep *e0, struct tep *e1)
{
	uint32_t index = e1->info.endpoint_index, session = e1->info.session_id;

	CHECK(ops->close_endpoint(drv, e1->handle) == 0);
	/* A graceful close is seen at once. */
	send_tiny_to(drv, e0->handle, index, session, 40, 0);
	expect_nack(e0, (uint8_t)index, 40, OMX_ABI_STATUS_ENDPT_CLOSED);
	/* A new instance of the index: the old session is refused. */
	CHECK(tep_open(drv, e1, index) == 0);
	send_tiny_to(drv, e0->handle, index, session, 41, 0);
	expect_nack(e0, (uint8_t)index, 41, OMX_ABI_STATUS_BAD_SESSION);
	send_tiny_to(drv, e0->handle, index, e1->info.session_id, 42, 0x42);
	CHECK(next_event(e1, 1, 1000) != NULL);
	printf("close and reopen: ok\n");
}

int main(void)
{
	char spec[64], dir[] = "/tmp/omx_test_shared_XXXXXX", cmd[128];
	struct omx_abi_peer_info pi;
	struct tep e0, e1;
	unsigned base_port;

	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	CHECK(mkdtemp(dir));
	setenv("OMX_STATE_DIR", dir, 1);
	unsetenv("OMX_FAULT");
	unsetenv("OMX_ENDPOINT_MAX");
	for (int attempt = 0;; attempt++) {
		CHECK(attempt < 50);
		base_port = 20000 + (unsigned)random() % 40000;
		snprintf(spec, sizeof(spec), "127.0.0.1:%u", base_port);
		setenv("OMX_UDP_ADDR", spec, 1);
		CHECK(omx_drv_direct_open(&drv) == 0);
		ops = drv->ops;
		if (tep_open(drv, &e0, 0) == 0) {
			if (tep_open(drv, &e1, 1) == 0)
				break;
			ops->close_endpoint(drv, e0.handle);
		}
		ops->close(drv);
	}
	board = ((uint64_t)0x7f000001 << 16) | base_port;
	CHECK(ops->peer_from_addr(drv, board, &pi) == 0 && pi.local);
	board_peer = (uint16_t)pi.index;

	test_connect(&e0, &e1);
	test_messages(&e0, &e1);
	test_nacks(&e0, &e1);
	test_pull(&e0, &e1);
	test_dead_producer(&e0, &e1);
	test_unexp_full(&e0, &e1);
	test_doorbell(&e0, &e1);
	test_process(&e0);
	test_close(&e0, &e1);

	CHECK(ops->close_endpoint(drv, e1.handle) == 0);
	CHECK(ops->close_endpoint(drv, e0.handle) == 0);
	ops->close(drv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	printf("test_driver_shared: ok\n");
	return 0;
}
