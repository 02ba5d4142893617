/*
 * test_split_hostile.c - cases of test_split_hardening.c that need more than
 * one bad field: posted commands that fail (the completion event must still
 * come), ring indices that lie, a fuzz loop of garbage entries, floods.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "test_split_cases.h"

static long sx_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sx_kick(struct sx_front *f)
{
	uint64_t one = 1;

	if (write(f->kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("kick");
}

static uint32_t sx_rand32(void)
{
	return (uint32_t)rand() << 16 ^ (uint32_t)rand();
}

/* ---- posted commands that fail ---------------------------------------------- */

static int sx_own_peer(struct sx_front *f, uint16_t *peer)
{
	struct omx_split_request req;
	struct omx_split_response rsp;
	int r;

	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_GET_BOARD_INFO;
	r = sx_call(f, &req, &rsp);
	if (r)
		return r;
	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_PEER_FROM_ADDR;
	req.u.board.board_addr = rsp.u.board_info.addr;
	r = sx_call(f, &req, &rsp);
	*peer = (uint16_t)rsp.u.peer_info.index;
	return r;
}

static int sx_frag(struct sx_front *f, uint16_t peer, uint32_t sendq_offset, uint16_t frag_length,
		   uint8_t frag_seqnum)
{
	struct omx_split_request req;
	struct omx_split_response rsp;
	struct omx_abi_send_medium_frag *m = &req.u.send_medium_frag;

	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_SEND_MEDIUM_FRAG;
	req.handle = f->ep.handle;
	m->hdr.peer_index = peer;
	m->hdr.dest_endpoint = (uint8_t)f->ep.endpoint_index;
	m->hdr.session_id = f->ep.session_id;
	m->hdr.seqnum = 1;
	m->sendq_offset = sendq_offset;
	m->msg_length = 100;
	m->frag_length = frag_length;
	m->frag_seqnum = frag_seqnum;
	return sx_call(f, &req, &rsp);
}

static int sx_pull(struct sx_front *f, uint16_t peer, uint32_t puller_rdma_id, uint32_t timeout_ms,
		   uint64_t cookie)
{
	struct omx_split_request req;
	struct omx_split_response rsp;
	struct omx_abi_pull *p = &req.u.pull;

	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_PULL;
	req.handle = f->ep.handle;
	p->peer_index = peer;
	p->dest_endpoint = (uint8_t)f->ep.endpoint_index;
	p->session_id = f->ep.session_id;
	p->length = 4096;
	p->resend_timeout_ms = timeout_ms;
	p->puller_rdma_id = puller_rdma_id;
	p->pulled_rdma_id = 3;
	p->lib_cookie = cookie;
	return sx_call(f, &req, &rsp);
}

/* A failed posted command still produces the completion the library waits
 * for: otherwise the library leaks a sendq slot or a pull handle. */
static void sx_expect_event(struct sx_front *f, const char *what, int ret, uint8_t type, uint64_t cookie)
{
	const union omx_abi_event *ev;

	if (ret == SX_GONE || !f->area)
		return;
	ev = sx_next_exp_event(f, 3000);
	CHECK(ev != NULL);
	if (!ev) {
		fprintf(stderr, "  %s: no completion event\n", what);
		return;
	}
	CHECK(ev->generic.type == type);
	if (type == OMX_ABI_EVT_PULL_DONE && ev->generic.type == type) {
		CHECK(ev->pull_done.lib_cookie == cookie);
		CHECK(ret == 0 || ev->pull_done.status != OMX_ABI_STATUS_SUCCESS);
	}
}

void sx_posted_errors(void)
{
	const uint32_t sendq_end = OMX_ABI_SENDQ_ENTRIES * OMX_ABI_QUEUE_SLOT_SIZE;
	static const struct { const char *what; uint32_t off; uint16_t len; uint8_t seq; } frags[] = {
		{ "medium frag at the sendq's end", OMX_ABI_SENDQ_ENTRIES * OMX_ABI_QUEUE_SLOT_SIZE, 100, 0 },
		{ "medium frag at offset 0xfffff000", 0xfffff000u, 100, 0 },
		{ "medium frag at an unaligned offset", 1, 100, 0 },
		{ "medium frag of 60000 bytes", 0, 60000, 0 },
		{ "medium frag seqnum 200", 0, 100, 200 },
	};
	struct sx_front f;
	uint16_t peer = 0;
	int r;

	if (sx_setup(&f, 1))
		return;
	CHECK(sx_own_peer(&f, &peer) == 0);
	for (unsigned i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		r = sx_frag(&f, peer, frags[i].off, frags[i].len, frags[i].seq);
		CHECK(sx_refused(frags[i].what, r));
		sx_expect_event(&f, frags[i].what, r, OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE, 0);
		if (r == SX_GONE && sx_setup(&f, 1))
			return;
	}
	r = sx_frag(&f, peer, sendq_end - OMX_ABI_QUEUE_SLOT_SIZE, 100, 0);
	sx_accept("medium frag in the last sendq slot (control)", r);
	sx_expect_event(&f, "control frag", r, OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE, 0);

	r = sx_pull(&f, peer, 999, 1000, 0x1111);
	CHECK(sx_refused("pull into region 999", r));
	sx_expect_event(&f, "pull 999", r, OMX_ABI_EVT_PULL_DONE, 0x1111);
	r = sx_pull(&f, peer, 5, 1000, 0x2222);
	CHECK(sx_refused("pull into a region never created", r));
	sx_expect_event(&f, "pull 5", r, OMX_ABI_EVT_PULL_DONE, 0x2222);
	r = sx_simple(&f, OMX_SPLIT_RELEASE_EXP_SLOTS, f.ep.handle, NULL, 0);
	CHECK(sx_refused("release of event slots never produced", r));
	sx_close(&f);
}

/* ---- ring indices that lie ----------------------------------------------------- */

static void sx_lie(const char *what, uint32_t delta, int absolute, int with_ep)
{
	struct sx_front f;
	int gone;

	if (sx_setup(&f, with_ep))
		return;
	for (int i = 0; i < 3; i++)
		CHECK(sx_simple(&f, OMX_SPLIT_GET_INFO, 0, NULL, 0) == 0);
	__atomic_store_n(&f.sring->req_prod, absolute ? delta : f.sring->req_prod + delta, __ATOMIC_RELEASE);
	sx_kick(&f);
	gone = sx_gone(&f, 3000);
	printf("  %-56s -> %s\n", what, gone ? "disconnected" : "NOT DISCONNECTED");
	CHECK(gone);
	sx_close(&f);
}

void sx_ring_lies(void)
{
	struct sx_front f;

	sx_lie("req_prod 65 past the responses", OMX_SPLIT_RING_SLOTS + 1, 0, 0);
	sx_lie("req_prod 1000 past the responses", 1000, 0, 1);
	sx_lie("req_prod moved backwards (0xfffffff0)", 0xfffffff0u, 1, 1);
	sx_lie("req_prod 2^31 ahead", 0x80000000u, 0, 1);
	/* Event indices only steer notifications: garbage there costs the
	 * liar its wakeups, never the backend anything. */
	if (sx_setup(&f, 1))
		return;
	__atomic_store_n(&f.sring->req_event, 0xdeadbeefu, __ATOMIC_RELEASE);
	__atomic_store_n(&f.sring->rsp_event, 0x12345678u, __ATOMIC_RELEASE);
	sx_kick(&f);
	sx_accept("GET_INFO after garbage event indices", sx_simple(&f, OMX_SPLIT_GET_INFO, 0, NULL, 0));
	sx_close(&f);
}

/* ---- garbage entries --------------------------------------------------------------- */

static const uint16_t sx_funcs[] = {
	OMX_SPLIT_GET_INFO, OMX_SPLIT_GET_BOARD_INFO, OMX_SPLIT_GET_ENDPOINT_STATE, OMX_SPLIT_GET_COUNTERS,
	OMX_SPLIT_SET_HOSTNAME, OMX_SPLIT_PEER_ADD, OMX_SPLIT_PEER_TABLE_CLEAR,
	OMX_SPLIT_PEER_TABLE_GET_STATE, OMX_SPLIT_PEER_TABLE_SET_STATE, OMX_SPLIT_PEER_FROM_INDEX,
	OMX_SPLIT_PEER_FROM_ADDR, OMX_SPLIT_PEER_FROM_HOSTNAME, OMX_SPLIT_OPEN_ENDPOINT,
	OMX_SPLIT_CLOSE_ENDPOINT, OMX_SPLIT_CREATE_REGION, OMX_SPLIT_DESTROY_REGION,
	OMX_SPLIT_SEND_TINY, OMX_SPLIT_SEND_SMALL, OMX_SPLIT_SEND_MEDIUM_FRAG, OMX_SPLIT_SEND_RNDV,
	OMX_SPLIT_SEND_NOTIFY, OMX_SPLIT_SEND_CONNECT_REQUEST, OMX_SPLIT_SEND_CONNECT_REPLY,
	OMX_SPLIT_SEND_LIBACK, OMX_SPLIT_PULL, OMX_SPLIT_RELEASE_EXP_SLOTS, OMX_SPLIT_RELEASE_UNEXP_SLOTS,
};

static void sx_garbage(struct sx_front *f, struct omx_split_request *req)
{
	uint8_t *raw = req->u.raw;
	int small = rand() % 2;

	memset(req, 0, sizeof(*req));
	switch (rand() % 10) {
	case 0:
		req->func = (uint16_t)sx_rand32();
		break;
	case 1:
		req->func = (uint16_t)(rand() % 64);
		break;
	default:
		req->func = sx_funcs[(unsigned)rand() % (sizeof(sx_funcs) / sizeof(sx_funcs[0]))];
	}
	req->handle = rand() % 10 < 7 ? f->ep.handle : (rand() % 4 ? (uint32_t)rand() % 64 : sx_rand32());
	req->pad0 = (uint16_t)(rand() % 8 ? 0 : rand());
	/* Small numbers reach deeper than uniform garbage: indices, ids, refs. */
	for (size_t i = 0; i + 4 <= sizeof(req->u.raw); i += 4) {
		uint32_t v = small ? (uint32_t)rand() % (rand() % 2 ? 8 : 300) : sx_rand32();

		memcpy(raw + i, &v, 4);
	}
	if (req->func == OMX_SPLIT_CREATE_REGION && rand() % 2) {
		struct omx_split_req_create_region *c = &req->u.create_region;

		c->spans_ref = rand() % 3 ? 0 : SX_SELF_REF;
		for (unsigned i = 0; i < OMX_SPLIT_REGION_INLINE_SPANS; i++) {
			c->spans[i].ref = rand() % 4 ? SX_SELF_REF : (uint32_t)rand() % 8;
			c->spans[i].offset = (uint64_t)rand() % (SX_BUF_SIZE + 4096);
			c->spans[i].length = (uint64_t)rand() % (SX_BUF_SIZE / 4);
		}
	}
}

struct sx_fuzz_stats {
	long requests, responses, errors, gone, lies, bus, timeouts;
};

static void sx_fuzz_bus(struct sx_front *f, struct sx_fuzz_stats *st)
{
	int fd = -1;
	unsigned nr = 0;

	switch (rand() % 4) {
	case 0:
		fd = sx_memfd(4096u * (1 + rand() % 8), rand() % 2 ? SX_SEALS : 0);
		break;
	case 1:
		fd = eventfd_cloexec();
		break;
	}
	nr = fd >= 0;
	struct omx_split_bus_msg m;
	for (size_t i = 0; i < sizeof(m); i++)
		((uint8_t *)&m)[i] = (uint8_t)rand();
	m.type = (uint32_t)rand() % 10;
	m.state = (uint32_t)rand() % 8;
	m.id = (uint32_t)rand() % (rand() % 2 ? 4 : 2000);
	if (omx_split_bus_send(f->sock, &m, &fd, nr))
		f->gone = 1;
	if (fd >= 0)
		close(fd);
	st->bus++;
}

void sx_fuzz(void)
{
	const char *env = getenv("SX_FUZZ_MS");
	long ms = env ? atol(env) : 4000, end = sx_ms() + ms, batches = 0;
	struct sx_fuzz_stats st = { 0 };
	struct sx_front f;

	srand((unsigned)sx_rand32());
	if (sx_setup(&f, 1))
		return;
	while (sx_ms() < end) {
		int action = rand() % 100;
		unsigned n, posted = 0;

		/* A fresh frontend now and then: the old one may have closed its
		 * own endpoint or wedged its grants. */
		if (f.gone || ++batches % 150 == 0) {
			st.gone += f.gone;
			sx_close(&f);
			if (sx_setup(&f, 1))
				return;
		}
		if (action < 2) {
			__atomic_store_n(&f.sring->req_prod, sx_rand32(), __ATOMIC_RELEASE);
			sx_kick(&f);
			st.lies++;
			sx_gone(&f, 2000);
			f.gone = 1;
			continue;
		}
		if (action < 5) {
			sx_fuzz_bus(&f, &st);
			if (sx_gone(&f, 20))
				f.gone = 1;
			continue;
		}
		n = 1 + (unsigned)rand() % omx_split_front_free_requests(&f.fr);
		for (unsigned i = 0; i < n; i++) {
			struct omx_split_request req;

			sx_garbage(&f, &req);
			if (sx_post(&f, &req) < 0)
				break;
			posted++;
			st.requests++;
		}
		for (unsigned i = 0; i < posted; i++) {
			struct omx_split_response rsp;
			int r = sx_wait_rsp(&f, &rsp, SX_WAIT_MS);

			if (r == SX_GONE) {
				f.gone = 1;
				break;
			}
			if (r != 1) {
				st.timeouts++;
				f.gone = 1;   /* its ring is out of step now: start over */
				break;
			}
			st.responses++;
			st.errors += rsp.ret < 0;
		}
		/* Events the garbage produced are consumed, never released. */
		while (f.area && sx_next_exp_event(&f, 0))
			;
	}
	sx_close(&f);
	printf("  %ld garbage requests, %ld responses (%ld errors), %ld disconnects, "
	       "%ld index lies, %ld bus messages, %ld unanswered\n",
	       st.requests, st.responses, st.errors, st.gone, st.lies, st.bus, st.timeouts);
	CHECK(st.timeouts == 0);
	CHECK(st.responses > 100);
	CHECK(sx_backend_alive(&sx_be));
}

/* ---- floods ------------------------------------------------------------------------ */

/* Keep its ring full: fill the free slots, then take what was answered. */
static long sx_flood_pass(struct sx_front *f, uint16_t func, uint32_t handle)
{
	struct omx_split_request req;
	struct omx_split_response rsp;
	long got = 0;

	while (omx_split_front_free_requests(&f->fr)) {
		memset(&req, 0, sizeof(req));
		req.func = func;
		req.handle = handle;
		if (sx_post(f, &req) < 0)
			break;
	}
	while (omx_split_front_unconsumed_responses(&f->fr) && sx_wait_rsp(f, &rsp, 0) == 1)
		got++;
	return got;
}

static int sx_half_open(const char *path, int hello)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct omx_split_bus_msg m;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	if (hello) {
		memset(&m, 0, sizeof(m));
		m.type = OMX_SPLIT_BUS_STATE;
		m.state = OMX_SPLIT_STATE_INITIALISING;
		m.version = OMX_SPLIT_PROTO_VERSION;
		omx_split_bus_send(s, &m, NULL, 0);
	}
	return s;
}

void sx_flood(void)
{
	enum { HALF = 150 };
	struct sx_front a, b, c, probe;
	int half[HALF], nhalf = 0, rounds0, rounds1;
	long served_a = 0, served_b = 0, kicks = 0, gone_b = 0, end;

	if (sx_setup(&a, 0) || sx_setup(&b, 1) || sx_setup(&c, 0))
		return;
	for (int i = 0; i < HALF; i++) {
		half[nhalf] = sx_half_open(sx_be.sock, i % 2);
		nhalf += half[nhalf] >= 0;
	}
	/* c fills its ring once and never takes a response. */
	sx_flood_pass(&c, OMX_SPLIT_GET_INFO, 0);
	rounds0 = sx_good_rounds(sx_cur_good);
	end = sx_ms() + 3000;
	while (sx_ms() < end) {
		served_a += sx_flood_pass(&a, OMX_SPLIT_GET_INFO, 0);
		served_b += sx_flood_pass(&b, OMX_SPLIT_SEND_TINY, 0xfffffff0u);
		if (b.gone || sx_gone(&b, 0)) {
			/* Over the error limit: that frontend only is cut off. */
			gone_b++;
			sx_close(&b);
			if (sx_setup(&b, 1))
				break;
		}
		for (int i = 0; i < 64; i++, kicks++)
			sx_kick(&c);
		sched_yield();
	}
	rounds1 = sx_good_rounds(sx_cur_good);
	printf("  flooders served %ld + %ld requests (%ld cut off), %ld empty kicks, %d half-open "
	       "connections; good pair finished %d rounds meanwhile\n",
	       served_a, served_b, gone_b, kicks, nhalf, rounds1 - rounds0);
	CHECK(rounds1 - rounds0 >= 1);
	CHECK(served_a > 0);
	/* An error flood costs the flooder its connection (--error-limit). */
	CHECK(gone_b >= 1);
	/* A newcomer still gets in while all of that is held open. */
	if (sx_setup(&probe, 1) == 0)
		sx_accept("a new frontend during the flood", sx_simple(&probe, OMX_SPLIT_GET_INFO, 0, NULL, 0));
	sx_close(&probe);
	for (int i = 0; i < nhalf; i++)
		close(half[i]);
	sx_close(&a);
	sx_close(&b);
	sx_close(&c);

	/* Bus flood: memory objects past the per-frontend limit. */
	if (sx_setup(&a, 0))
		return;
	int refused = 0, accepted = 0;
	for (uint32_t id = 1; id <= OMX_SPLIT_MEM_OBJECTS_MAX + 16 && !a.gone; id++) {
		int fd = sx_memfd(4096, SX_SEALS);
		int r = sx_bus_call(&a, OMX_SPLIT_BUS_MEM_ADD, id, fd);

		close(fd);
		accepted += r == 0;
		refused += r != 0;
	}
	printf("  MEM_ADD x %d: %d accepted, %d refused%s\n", OMX_SPLIT_MEM_OBJECTS_MAX + 16, accepted,
	       refused, a.gone ? " (then disconnected)" : "");
	CHECK(accepted <= OMX_SPLIT_MEM_OBJECTS_MAX);
	CHECK(refused > 0);
	sx_close(&a);
}
