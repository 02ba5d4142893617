/*
 * test_split_front_fake.c - the fake backend of test_split_front.c
 * (test_split_front_fake.h).  Single-threaded like the real one: one loop
 * over the bus, the ring and the kick eventfd, sleeping in poll() after
 * omx_split_back_final_check unless told to stay awake.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "omx_direct.h"
#include "omx_eventq.h"
#include "omx_split_bus.h"
#include "test_split_front_fake.h"

int fake_get(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

void fake_set(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void fake_count(uint32_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

uint32_t fake_read(const uint32_t *c)
{
	return __atomic_load_n(c, __ATOMIC_ACQUIRE);
}

static void fake_layout(struct fake *fk)
{
	struct omx_drv_shadow_layout sl;
	struct omx_abi_endpoint_layout *l = &fk->layout;

	omx_drv_shadow_layout(&sl);
	memset(l, 0, sizeof(*l));
	l->eventq_entries = OMX_ABI_EVENTQ_ENTRIES;
	l->sendq_entries = OMX_ABI_SENDQ_ENTRIES;
	l->recvq_entries = OMX_ABI_RECVQ_ENTRIES;
	l->slot_size = OMX_ABI_QUEUE_SLOT_SIZE;
	l->exp_eventq_offset = 4096;
	l->unexp_eventq_offset = l->exp_eventq_offset + OMX_ABI_EVENTQ_ENTRIES * OMX_ABI_EVENT_SIZE;
	l->sendq_offset = l->unexp_eventq_offset + OMX_ABI_EVENTQ_ENTRIES * OMX_ABI_EVENT_SIZE;
	l->recvq_offset = l->sendq_offset + (uint64_t)OMX_ABI_SENDQ_ENTRIES * OMX_ABI_QUEUE_SLOT_SIZE;
	l->area_size = sl.area_size;
	fk->sleepers_offset = sl.sleepers_offset;
}

/* A grant the fake expects: PERMIT and the access, the memory, sizes. */
static const struct omx_split_grant *fake_grant(struct fake *fk, uint32_t ref, uint32_t mem, uint32_t access)
{
	const struct omx_split_grant *g;

	if (ref == 0 || ref >= OMX_SPLIT_GRANT_ENTRIES)
		return NULL;
	g = &fk->gnt[ref];
	if ((__atomic_load_n(&g->flags, __ATOMIC_ACQUIRE) & (OMX_SPLIT_GRANT_PERMIT | access)) !=
	    (OMX_SPLIT_GRANT_PERMIT | access) || g->mem != mem)
		return NULL;
	return g;
}

static int fake_open(struct fake *fk, const struct omx_split_request *req, struct omx_split_response *rsp)
{
	const struct omx_split_req_open_endpoint *o = &req->u.open_endpoint;
	const struct omx_split_grant *g;
	int fd, seals;

	fake_layout(fk);
	if (o->cmd.endpoint_index == 7)
		return OMX_ABI_EBUSY;
	if (fk->area || o->evtchn == 0 || o->evtchn >= FAKE_MEMS || fk->evt_fds[o->evtchn] < 0)
		return OMX_ABI_EINVAL;
	for (fd = 1; fd < FAKE_MEMS; fd++)
		if ((g = fake_grant(fk, o->area_ref, (uint32_t)fd, OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE)))
			break;
	if (fd == FAKE_MEMS || fk->mem_fds[fd] < 0 || g->offset != 0 || g->length < fk->layout.area_size) {
		fake_count(&fk->bad_grants);
		return OMX_ABI_EINVAL;
	}
	seals = fcntl(fk->mem_fds[fd], F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || !(seals & F_SEAL_GROW)) {
		fake_count(&fk->bad_grants);
		return OMX_ABI_EINVAL;
	}
	fk->area = mmap(NULL, fk->layout.area_size, PROT_READ | PROT_WRITE, MAP_SHARED, fk->mem_fds[fd], 0);
	if (fk->area == MAP_FAILED) {
		fk->area = NULL;
		return OMX_ABI_ENOMEM;
	}
	fk->area_size = fk->layout.area_size;
	fk->ep_evt = fk->evt_fds[o->evtchn];
	((struct omx_abi_endpoint_desc *)fk->area)->abi_version = OMX_ABI_VERSION;
	rsp->u.endpoint_info.handle = 1000 + o->cmd.endpoint_index;
	rsp->u.endpoint_info.board_index = o->cmd.board_index;
	rsp->u.endpoint_info.endpoint_index = o->cmd.endpoint_index;
	rsp->u.endpoint_info.session_id = 0x5e55;
	rsp->u.endpoint_info.layout = fk->layout;
	fake_count(&fk->opens);
	return 0;
}

static int fake_region(struct fake *fk, const struct omx_split_request *req)
{
	const struct omx_split_req_create_region *c = &req->u.create_region;
	const struct omx_split_grant_span *spans = c->spans;

	if (c->nr_segments > OMX_SPLIT_REGION_INLINE_SPANS) {
		const struct omx_split_grant *g = fake_grant(fk, c->spans_ref, OMX_SPLIT_MEM_SELF, OMX_SPLIT_GRANT_READ);

		/* In process, a MEM_SELF grant is directly readable. */
		if (!g || g->length < (uint64_t)c->nr_segments * sizeof(*spans))
			return OMX_ABI_EINVAL;
		spans = (const void *)(uintptr_t)g->offset;
	}
	fk->nr_region_refs = 0;
	for (uint32_t i = 0; i < c->nr_segments && i < 16; i++) {
		const struct omx_split_grant *g = fake_grant(fk, spans[i].ref, OMX_SPLIT_MEM_SELF,
							     OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE);

		if (!g || spans[i].offset + spans[i].length > g->length) {
			fake_count(&fk->bad_grants);
			return OMX_ABI_EINVAL;
		}
		/* The segment's first byte, as process_vm_readv would read it. */
		if (*(const uint8_t *)(uintptr_t)g->offset != (uint8_t)(0xa0 + i))
			fake_count(&fk->bad_grants);
		__atomic_fetch_add(&fk->gnt[spans[i].ref].busy, 1, __ATOMIC_SEQ_CST);
		fk->region_refs[fk->nr_region_refs++] = spans[i].ref;
	}
	fake_count(&fk->regions);
	return 0;
}

static void fake_tiny(struct fake *fk, const struct omx_split_request *req)
{
	uint64_t mi = req->u.send_tiny.hdr.match_info;
	uint32_t t = (uint32_t)(mi >> 32) % FAKE_THREADS;

	fake_count(&fk->tinies);
	if (req->handle != 1000 + 3 && (mi & 0xffffffff) != fk->next_seq[t])
		fake_count(&fk->order_errors);
	fk->next_seq[t] = (mi & 0xffffffff) + 1;
}

static void fake_answer(struct fake *fk, const struct omx_split_request *req, struct omx_split_response *rsp)
{
	memset(rsp, 0, sizeof(*rsp));
	rsp->func = req->func;
	rsp->id = req->id;
	switch (req->func) {
	case OMX_SPLIT_GET_INFO:
		rsp->u.driver_info.abi_version = OMX_ABI_VERSION;
		rsp->u.driver_info.board_count = 2;
		rsp->u.driver_info.endpoint_max = 8;
		rsp->u.driver_info.hz = 1000;
		break;
	case OMX_SPLIT_GET_BOARD_INFO:
		if (req->u.board.board_index >= 64) {
			rsp->ret = OMX_ABI_ENODEV;
			break;
		}
		rsp->u.board_info.addr = 0x100 + req->u.board.board_index;
		rsp->u.board_info.medium_frag_length_max = 4096;
		snprintf(rsp->u.board_info.hostname, sizeof(rsp->u.board_info.hostname), "fake:%u",
			 req->u.board.board_index);
		break;
	case OMX_SPLIT_GET_COUNTERS:
		for (uint32_t i = 0; i < req->u.counters.nr && i < OMX_SPLIT_COUNTERS_PER_RSP; i++)
			rsp->u.counters[i] = req->u.counters.first + i + (req->u.counters.clear ? 1000 : 0);
		break;
	case OMX_SPLIT_OPEN_ENDPOINT:
		rsp->ret = fake_open(fk, req, rsp);
		break;
	case OMX_SPLIT_CLOSE_ENDPOINT:
		if (fk->area)
			munmap(fk->area, fk->area_size);
		fk->area = NULL;
		fake_count(&fk->closes);
		break;
	case OMX_SPLIT_CREATE_REGION:
		rsp->ret = fake_region(fk, req);
		break;
	case OMX_SPLIT_DESTROY_REGION:
		if (!fake_get(&fk->keep_busy))
			for (uint32_t i = 0; i < fk->nr_region_refs; i++)
				__atomic_fetch_sub(&fk->gnt[fk->region_refs[i]].busy, 1, __ATOMIC_SEQ_CST);
		fake_count(&fk->destroys);
		break;
	case OMX_SPLIT_SEND_TINY:
		fake_tiny(fk, req);
		break;
	case OMX_SPLIT_SEND_SMALL:
		rsp->ret = OMX_ABI_EINVAL;    /* a posted error: counted by the frontend */
		break;
	default:
		rsp->ret = omx_split_func_is_posted(req->func) ? 0 : OMX_ABI_ENOSYS;
		break;
	}
}

/* Serve the ring once; returns the number of requests answered. */
static int fake_serve(struct fake *fk)
{
	int64_t n = omx_split_back_unconsumed_requests(&fk->ring);
	uint64_t one = 1;

	if (n < 0) {
		fake_count(&fk->lies);
		return 0;
	}
	for (int64_t i = 0; i < n; i++) {
		struct omx_split_request req;
		struct omx_split_response rsp;

		memcpy(&req, &omx_split_ring_slot(fk->sring, fk->ring.req_cons)->req, sizeof(req));
		fk->ring.req_cons++;
		fake_answer(fk, &req, &rsp);
		memcpy(&omx_split_ring_slot(fk->sring, fk->ring.rsp_prod_pvt)->rsp, &rsp, sizeof(rsp));
		fk->ring.rsp_prod_pvt++;
	}
	if (n && omx_split_back_push_responses(&fk->ring) && write(fk->notify, &one, sizeof(one)) < 0)
		fake_count(&fk->lies);
	return (int)n;
}

static void fake_ack(struct fake *fk, const struct omx_split_bus_msg *m, int ret)
{
	struct omx_split_bus_msg a;

	memset(&a, 0, sizeof(a));
	a.type = OMX_SPLIT_BUS_ACK;
	a.state = m->type;
	a.id = m->id;
	a.ret = ret;
	omx_split_bus_send(fk->sock, &a, NULL, 0);
}

/* One bus message; 1 when the frontend said Closing. */
static int fake_bus(struct fake *fk)
{
	struct omx_split_bus_msg m;
	int fds[4];
	unsigned nr;
	int r = omx_split_bus_recv(fk->sock, &m, fds, 4, &nr, 0);

	if (r <= 0)
		return r < 0;
	if ((m.type == OMX_SPLIT_BUS_MEM_ADD || m.type == OMX_SPLIT_BUS_EVTCHN_ADD) &&
	    (nr != 1 || m.id == 0 || m.id >= FAKE_MEMS)) {
		omx_split_bus_close_fds(fds, nr);
		fake_ack(fk, &m, OMX_ABI_EINVAL);
		return 0;
	}
	switch (m.type) {
	case OMX_SPLIT_BUS_MEM_ADD:
		fk->mem_fds[m.id] = fds[0];
		fake_count(&fk->mem_adds);
		break;
	case OMX_SPLIT_BUS_EVTCHN_ADD:
		fk->evt_fds[m.id] = fds[0];
		fake_count(&fk->evt_adds);
		break;
	case OMX_SPLIT_BUS_MEM_DEL:
	case OMX_SPLIT_BUS_EVTCHN_DEL: {
		int *t = m.type == OMX_SPLIT_BUS_MEM_DEL ? fk->mem_fds : fk->evt_fds;

		if (m.id < FAKE_MEMS && t[m.id] >= 0) {
			close(t[m.id]);
			t[m.id] = -1;
		}
		fake_count(m.type == OMX_SPLIT_BUS_MEM_DEL ? &fk->mem_dels : &fk->evt_dels);
		break;
	}
	case OMX_SPLIT_BUS_STATE:
		if (m.state == OMX_SPLIT_STATE_CLOSING) {
			struct omx_split_bus_msg c;

			fake_count(&fk->closing);
			__atomic_store_n(&fk->closed_eps, fake_read(&fk->closes), __ATOMIC_RELEASE);
			memset(&c, 0, sizeof(c));
			c.type = OMX_SPLIT_BUS_STATE;
			c.state = OMX_SPLIT_STATE_CLOSED;
			omx_split_bus_send(fk->sock, &c, NULL, 0);
			return 1;
		}
		return 0;
	default:
		omx_split_bus_close_fds(fds, nr);
		return 0;
	}
	fake_ack(fk, &m, 0);
	return 0;
}

static void fake_post_event(struct fake *fk)
{
	union omx_abi_event *ev = (void *)(fk->area + fk->layout.exp_eventq_offset);
	uint32_t *sleepers = (uint32_t *)(fk->area + fk->sleepers_offset);
	uint64_t one = 1;

	ev += fk->next_exp % fk->layout.eventq_entries;
	ev->generic.type = OMX_ABI_EVT_IGNORE;
	/* Release: the frontend's acquire of the id sees the body. */
	__atomic_store_n(&ev->generic.id, omx_eventq_id(fk->next_exp), __ATOMIC_RELEASE);
	fk->next_exp++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) && write(fk->ep_evt, &one, sizeof(one)) < 0)
		fake_count(&fk->lies);
}

static int fake_handshake(struct fake *fk)
{
	struct omx_split_bus_msg m;
	int fds[4];
	unsigned nr;

	if (omx_split_bus_recv(fk->sock, &m, fds, 4, &nr, 5000) != 1 || m.type != OMX_SPLIT_BUS_STATE ||
	    m.state != OMX_SPLIT_STATE_INITIALISING)
		return -1;
	memset(&m, 0, sizeof(m));
	if (fk->refuse) {
		m.type = OMX_SPLIT_BUS_REFUSED;
		snprintf(m.text, sizeof(m.text), "%s", fk->refuse);
		omx_split_bus_send(fk->sock, &m, NULL, 0);
		return -1;
	}
	m.type = OMX_SPLIT_BUS_STATE;
	m.state = OMX_SPLIT_STATE_INITWAIT;
	m.version = OMX_SPLIT_PROTO_VERSION;
	m.backend_pid = (uint32_t)getpid();
	m.ring_slots = OMX_SPLIT_RING_SLOTS;
	m.grant_entries = OMX_SPLIT_GRANT_ENTRIES;
	m.driver_info.hz = 1000;
	omx_split_bus_send(fk->sock, &m, NULL, 0);
	if (omx_split_bus_recv(fk->sock, &m, fds, 4, &nr, 5000) != 1 || m.type != OMX_SPLIT_BUS_RING || nr != 4)
		return -1;
	fk->sring = mmap(NULL, OMX_SPLIT_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	fk->gnt = mmap(NULL, OMX_SPLIT_GRANT_TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	close(fds[0]);
	close(fds[1]);
	fk->kick = fds[2];
	fk->notify = fds[3];
	if (fk->sring == MAP_FAILED || fk->gnt == MAP_FAILED)
		return -1;
	omx_split_back_ring_attach(&fk->ring, fk->sring);
	if (omx_split_bus_recv(fk->sock, &m, fds, 4, &nr, 5000) != 1 || m.type != OMX_SPLIT_BUS_STATE ||
	    m.state != OMX_SPLIT_STATE_INITIALISED)
		return -1;
	memset(&m, 0, sizeof(m));
	m.type = OMX_SPLIT_BUS_STATE;
	m.state = OMX_SPLIT_STATE_CONNECTED;
	return omx_split_bus_send(fk->sock, &m, NULL, 0);
}

static void *fake_main(void *arg)
{
	struct fake *fk = arg;
	uint64_t v;

	fk->sock = accept4(fk->lsock, NULL, NULL, SOCK_CLOEXEC);
	if (fk->sock < 0 || fake_handshake(fk) < 0)
		goto out;
	for (;;) {
		struct pollfd pfd[2] = { { .fd = fk->sock, .events = POLLIN }, { .fd = fk->kick, .events = POLLIN } };

		if (fake_get(&fk->die))
			break;
		if (fake_get(&fk->post_event) && fk->area) {
			fake_post_event(fk);
			fake_set(&fk->post_event, 0);
		}
		if (fake_bus(fk))
			break;
		if (!fake_get(&fk->stall) && fake_serve(fk))
			continue;
		if (fake_get(&fk->awake) || fake_get(&fk->stall)) {
			sched_yield();
			if (fake_get(&fk->stall))
				usleep(1000);
			continue;
		}
		if (omx_split_back_final_check(&fk->ring))
			continue;
		if (poll(pfd, 2, 5) > 0 && pfd[1].revents && read(fk->kick, &v, sizeof(v)) == sizeof(v))
			__atomic_fetch_add(&fk->kicks, (uint32_t)v, __ATOMIC_RELAXED);
	}
out:
	if (fk->sock >= 0)
		close(fk->sock);
	fk->sock = -1;
	return NULL;
}

void fake_start(struct fake *fk, const char *name, const char *refuse)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(fk, 0, sizeof(*fk));
	fk->sock = -1;
	fk->refuse = refuse;
	for (int i = 0; i < FAKE_MEMS; i++)
		fk->mem_fds[i] = fk->evt_fds[i] = -1;
	snprintf(fk->path, sizeof(fk->path), "/tmp/omx-split-front-%d-%s.sock", (int)getpid(), name);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fk->path);
	unlink(fk->path);
	fk->lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fk->lsock < 0 || bind(fk->lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fk->lsock, 4) < 0) {
		perror("fake backend socket");
		exit(1);
	}
	pthread_create(&fk->thr, NULL, fake_main, fk);
}

void fake_stop(struct fake *fk)
{
	fake_set(&fk->die, 1);
	pthread_join(fk->thr, NULL);
	close(fk->lsock);
	unlink(fk->path);
	for (int i = 0; i < FAKE_MEMS; i++) {
		if (fk->mem_fds[i] >= 0)
			close(fk->mem_fds[i]);
		if (fk->evt_fds[i] >= 0)
			close(fk->evt_fds[i]);
	}
	if (fk->sring)
		munmap(fk->sring, OMX_SPLIT_RING_BYTES);
	if (fk->gnt)
		munmap(fk->gnt, OMX_SPLIT_GRANT_TABLE_BYTES);
	if (fk->kick > 0)
		close(fk->kick);
	if (fk->notify > 0)
		close(fk->notify);
}

