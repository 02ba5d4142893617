/*
 * test_driver.c - the direct driver over the udp link on 127.0.0.1: every
 * send path, the receive demux and its drops and nacks, the host-wide claim,
 * the peer table, counters and wait_event.  The whole run is done twice,
 * without and with the CRC32C trailer (OMX_CHECKSUM).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "omx_abi.h"
#include "omx_direct.h"
#include "omx_eventq.h"
#include "omx_wire.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define RAW_EP 9                      /* the raw socket sits on this (unopened) endpoint port */

struct tep {
	uint32_t handle;
	struct omx_abi_endpoint_info info;
	uint8_t *area;
	struct omx_abi_endpoint_desc *desc;
	const union omx_abi_event *expq, *unexpq;
	uint8_t *sendq, *recvq;
	uint32_t next_exp, next_unexp;
};

static struct omx_abi_driver *drv;
static const struct omx_abi_ops *ops;
static unsigned base_port;
static uint64_t board;
static int fcs;
static int raw_fd = -1;

static uint32_t rnd(void)
{
	return (uint32_t)random();
}

static uint32_t ctr(enum omx_abi_counter c)
{
	uint32_t v[OMX_COUNTER_INDEX_MAX];

	CHECK(ops->get_counters(drv, 0, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
	return v[c];
}

static int ep_open(struct tep *e, uint32_t index)
{
	struct omx_abi_open_endpoint cmd = { .board_index = 0, .endpoint_index = index };
	int r;

	memset(e, 0, sizeof(*e));
	strcpy(cmd.command, "test_driver");
	r = ops->open_endpoint(drv, &cmd, &e->info);
	if (r)
		return r;
	e->handle = e->info.handle;
	e->area = ops->endpoint_area(drv, e->handle);
	CHECK(e->area != NULL);
	e->desc = (struct omx_abi_endpoint_desc *)(e->area + e->info.layout.desc_offset);
	e->expq = (const union omx_abi_event *)(e->area + e->info.layout.exp_eventq_offset);
	e->unexpq = (const union omx_abi_event *)(e->area + e->info.layout.unexp_eventq_offset);
	e->sendq = e->area + e->info.layout.sendq_offset;
	e->recvq = e->area + e->info.layout.recvq_offset;
	CHECK(e->desc->session_id == e->info.session_id);
	CHECK(e->desc->owner_pid == (uint32_t)getpid());
	CHECK(e->desc->abi_version == OMX_ABI_VERSION);
	return 0;
}

/* The next event of a queue, progressing and waiting up to timeout_ms;
 * releases a batch every OMX_ABI_EVENTQ_RELEASE_BATCH events, as the lib does. */
static const union omx_abi_event *next_event(struct tep *e, int unexp, int timeout_ms)
{
	uint64_t deadline = ops->jiffies(drv) + (uint64_t)timeout_ms;
	uint32_t *idx = unexp ? &e->next_unexp : &e->next_exp;

	for (;;) {
		const union omx_abi_event *ev;

		CHECK(ops->progress(drv, e->handle) >= 0);
		ev = omx_eventq_peek(unexp ? e->unexpq : e->expq, OMX_ABI_EVENTQ_ENTRIES, *idx);
		if (ev) {
			if (++*idx % OMX_ABI_EVENTQ_RELEASE_BATCH == 0)
				CHECK((unexp ? ops->release_unexp_slots : ops->release_exp_slots)(drv, e->handle) == 0);
			return ev;
		}
		if (ops->jiffies(drv) >= deadline)
			return NULL;
		struct omx_abi_wait w = {
			.user_event_index = e->desc->user_event_index,
			.next_exp_event_index = e->next_exp,
			.next_unexp_event_index = e->next_unexp,
			.jiffies_expire = deadline,
		};
		CHECK(ops->wait_event(drv, e->handle, &w) == 0);
	}
}

static struct omx_abi_send_hdr hdr_to(const struct tep *dst, uint16_t seqnum, uint64_t match)
{
	struct omx_abi_send_hdr h = {
		.peer_index = 0, .dest_endpoint = (uint8_t)dst->info.endpoint_index,
		.session_id = dst->info.session_id, .seqnum = seqnum, .piggyack = (uint16_t)(seqnum - 1),
		.match_info = match,
	};
	return h;
}

static void send_tiny(struct tep *src, struct omx_abi_send_hdr h, uint16_t len)
{
	struct omx_abi_send_tiny t = { .hdr = h, .length = len, .checksum = 0x4242 };

	for (unsigned i = 0; i < len; i++)
		t.data[i] = (uint8_t)(i * 7 + 1);
	CHECK(ops->send_tiny(drv, src->handle, &t) == 0);
}

#define expect_nack(e, nacker, seqnum, type) expect_nack_at(__LINE__, e, nacker, seqnum, type)
static void expect_nack_at(int line, struct tep *e, uint8_t nacker, uint16_t seqnum, uint8_t type)
{
	const union omx_abi_event *ev = next_event(e, 1, 2000);

	if (!ev || ev->generic.type != OMX_ABI_EVT_RECV_NACK_LIB)
		fprintf(stderr, "line %d: no nack (event %p type 0x%x)\n", line, (const void *)ev,
			ev ? ev->generic.type : 0);

	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_NACK_LIB);
	CHECK(ev->recv_nack_lib.peer_index == 0 && ev->recv_nack_lib.src_endpoint == nacker);
	CHECK(ev->recv_nack_lib.seqnum == seqnum && ev->recv_nack_lib.nack_type == type);
}

/* ---- raw frames into endpoint ports ---------------------------------------- */

static void raw_open(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	raw_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(raw_fd >= 0);
	sa.sin_addr.s_addr = htonl(0x7f000001);
	sa.sin_port = htons((uint16_t)(base_port + RAW_EP));
	CHECK(bind(raw_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
}

/* Send len bytes to endpoint port ep, with a valid trailer when the link wants one. */
static void raw_send(uint8_t *f, uint32_t len, unsigned ep, int good_fcs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	if (fcs && len >= 4) {
		uint32_t crc = omx_wire_crc32c(f, len - 4);
		omx_wire_put32(f, len - 4, good_fcs ? crc : ~crc);
	}
	sa.sin_addr.s_addr = htonl(0x7f000001);
	sa.sin_port = htons((uint16_t)(base_port + ep));
	CHECK(sendto(raw_fd, f, len, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)len);
}

/* A frame with a valid head and a lib-message body; returns its length
 * (padded, trailer room included). */
static uint32_t craft_msg(uint8_t *f, uint64_t src, uint16_t hint, const struct omx_wire_msg *m,
			  uint32_t payload)
{
	struct omx_wire_head h = { .dst_addr = board, .src_addr = src, .dst_src_peer_index = hint };
	uint32_t hl = m->ptype == OMX_PKT_TYPE_MEDIUM ? OMX_WIRE_MEDIUM_LEN : OMX_WIRE_MSG_LEN;
	uint32_t len = OMX_WIRE_HEAD_LEN + hl + payload;

	memset(f, 0, 9000);
	omx_wire_head_encode(f, &h);
	omx_wire_msg_encode(omx_wire_body(f), m);
	if (len < OMX_WIRE_MIN_FRAME)
		len = OMX_WIRE_MIN_FRAME;
	return len + (fcs ? 4 : 0);
}

/* Run the demux of endpoint e once and check that counter c moved by one. */
static void expect_drop(struct tep *e, uint8_t *f, uint32_t len, enum omx_abi_counter c)
{
	uint32_t before = ctr(c);

	raw_send(f, len, e->info.endpoint_index, 1);
	CHECK(ops->progress(drv, e->handle) == 0);
	if (ctr(c) != before + 1)
		fprintf(stderr, "counter %s: %u -> %u\n", omx_abi_counter_label(c), before, ctr(c)), exit(1);
}

/* ---- tests ------------------------------------------------------------------- */

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void test_info(void)
{
	struct omx_abi_driver_info di;
	struct omx_abi_board_info bi;
	struct omx_abi_peer_info pi;

	CHECK(ops->size == sizeof(struct omx_abi_ops) && !strcmp(ops->name, "direct"));
	CHECK(ops->get_info(drv, &di) == 0);
	CHECK(di.abi_version == OMX_ABI_VERSION && di.board_count == 1 && di.endpoint_max == 32);
	CHECK(di.peer_max == 1024 && di.hz == 1000);
	CHECK(ops->get_board_info(drv, 0, &bi) == 0);
	CHECK(bi.addr == board && bi.mtu == 9000 && bi.medium_frag_length_max == 8192);
	CHECK(bi.pull_reply_length_max == omx_wire_pull_reply_max(9000) && bi.status == 0);
	CHECK(strlen(bi.hostname) > 2 && !strcmp(bi.hostname + strlen(bi.hostname) - 2, ":0"));
	CHECK(ops->get_board_info(drv, 1, &bi) == OMX_ABI_ENODEV);
	CHECK(ops->peer_from_index(drv, 0, &pi) == 0 && pi.board_addr == board && pi.local == 1);
	/* Large messages: covered by test_driver_pull. */
	CHECK(di.features & OMX_ABI_FEATURE_LARGE);
	CHECK(ops->destroy_region(drv, 0, 7) == OMX_ABI_ENOENT);
	uint64_t j0 = ops->jiffies(drv);
	nap_ms(30);
	CHECK(ops->jiffies(drv) - j0 >= 20 && ops->jiffies(drv) - j0 < 1000);
}

static void test_claim(void)
{
	struct omx_abi_endpoint_state st;
	struct omx_abi_open_endpoint cmd = { .board_index = 0, .endpoint_index = 1 };
	struct omx_abi_endpoint_info info;
	int to_child[2], to_parent[2];
	char c;
	pid_t pid;
	int r;

	CHECK(ops->open_endpoint(drv, &cmd, &info) == OMX_ABI_EBUSY);
	cmd.endpoint_index = 32;
	CHECK(ops->open_endpoint(drv, &cmd, &info) == OMX_ABI_EINVAL);
	cmd.board_index = 1;
	cmd.endpoint_index = 2;
	CHECK(ops->open_endpoint(drv, &cmd, &info) == OMX_ABI_ENODEV);
	CHECK(ops->get_endpoint_state(drv, 0, 1, &st) == 0);
	CHECK(!st.closed && st.pid == (uint32_t)getpid() && !strcmp(st.command, "test_driver"));
	CHECK(ops->get_endpoint_state(drv, 0, 5, &st) == 0 && st.closed == 1);
	CHECK(ops->get_endpoint_state(drv, 0, 32, &st) == OMX_ABI_EINVAL);

	/* Another process: same index is busy there, and its own claim is visible here. */
	CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct omx_abi_driver *d2;
		struct omx_abi_open_endpoint c2 = { .board_index = 0, .endpoint_index = 1 };
		int ok = omx_drv_direct_open(&d2) == 0;
		ok = ok && d2->ops->open_endpoint(d2, &c2, &info) == OMX_ABI_EBUSY;
		c2.endpoint_index = 7;
		strcpy(c2.command, "claimer");
		ok = ok && d2->ops->open_endpoint(d2, &c2, &info) == 0;
		c = ok ? 'y' : 'n';
		if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	CHECK(read(to_parent[0], &c, 1) == 1 && c == 'y');
	CHECK(ops->get_endpoint_state(drv, 0, 7, &st) == 0);
	CHECK(!st.closed && st.pid == (uint32_t)pid);
	cmd.board_index = 0;
	cmd.endpoint_index = 7;
	CHECK(ops->open_endpoint(drv, &cmd, &info) == OMX_ABI_EBUSY);
	CHECK(write(to_child[1], "x", 1) == 1);
	CHECK(waitpid(pid, &r, 0) == pid && WIFEXITED(r) && WEXITSTATUS(r) == 0);
	/* The claim died with the process. */
	CHECK(ops->get_endpoint_state(drv, 0, 7, &st) == 0 && st.closed == 1);
	close(to_child[0]), close(to_child[1]), close(to_parent[0]), close(to_parent[1]);
}

static void test_messages(struct tep *e0, struct tep *e1)
{
	const union omx_abi_event *ev;
	uint32_t s_tiny = ctr(OMX_COUNTER_SEND_TINY), r_tiny = ctr(OMX_COUNTER_RECV_TINY);

	send_tiny(e0, hdr_to(e1, 5, 0x1122334455667788ull), 13);
	ev = next_event(e1, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY);
	CHECK(ev->recv_tiny.head.peer_index == 0 && ev->recv_tiny.head.src_endpoint == 0);
	CHECK(ev->recv_tiny.head.seqnum == 5 && ev->recv_tiny.head.piggyack == 4);
	CHECK(ev->recv_tiny.head.match_info == 0x1122334455667788ull);
	CHECK(ev->recv_tiny.length == 13 && ev->recv_tiny.checksum == 0x4242);
	for (unsigned i = 0; i < 13; i++)
		CHECK(ev->recv_tiny.data[i] == (uint8_t)(i * 7 + 1));
	CHECK(ctr(OMX_COUNTER_SEND_TINY) == s_tiny + 1 && ctr(OMX_COUNTER_RECV_TINY) == r_tiny + 1);

	struct omx_abi_send_small sm = { .hdr = hdr_to(e1, 6, 77), .length = 128 };
	for (unsigned i = 0; i < 128; i++)
		sm.data[i] = (uint8_t)(255 - i);
	CHECK(ops->send_small(drv, e0->handle, &sm) == 0);
	uint32_t idx = e1->next_unexp;
	ev = next_event(e1, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_SMALL && ev->recv_small.length == 128);
	CHECK(ev->recv_small.head.seqnum == 6 && ev->recv_small.head.match_info == 77);
	CHECK(ev->recv_small.recvq_offset == (idx % OMX_ABI_RECVQ_ENTRIES) * OMX_ABI_QUEUE_SLOT_SIZE);
	CHECK(!memcmp(e1->recvq + ev->recv_small.recvq_offset, sm.data, 128));

	/* Two medium fragments from sendq slots 3 and 1023. */
	uint32_t frag_len[2] = { 8192, 20000 - 8192 * 2 }, slot[2] = { 3, 1023 };
	for (unsigned k = 0; k < 2; k++) {
		struct omx_abi_send_medium_frag mf = {
			.hdr = hdr_to(e1, 7, 0xfeedull), .sendq_offset = slot[k] * OMX_ABI_QUEUE_SLOT_SIZE,
			.msg_length = 20000, .frag_length = (uint16_t)frag_len[k], .frag_seqnum = (uint8_t)(k + 1),
			.frag_pipeline = 13, .checksum = 9,
		};
		for (unsigned i = 0; i < frag_len[k]; i++)
			e0->sendq[mf.sendq_offset + i] = (uint8_t)(i * 31 + k);
		CHECK(ops->send_medium_frag(drv, e0->handle, &mf) == 0);
		ev = next_event(e0, 0, 100);
		CHECK(ev && ev->generic.type == OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE);
		CHECK(ev->send_mediumsq_frag_done.sendq_offset == mf.sendq_offset);
		idx = e1->next_unexp;
		ev = next_event(e1, 1, 2000);
		CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_MEDIUM_FRAG);
		CHECK(ev->recv_medium_frag.msg_length == 20000 && ev->recv_medium_frag.frag_length == frag_len[k]);
		CHECK(ev->recv_medium_frag.frag_seqnum == k + 1 && ev->recv_medium_frag.frag_pipeline == 13);
		CHECK(ev->recv_medium_frag.head.seqnum == 7 && ev->recv_medium_frag.head.match_info == 0xfeed);
		CHECK(ev->recv_medium_frag.recvq_offset == (idx % 1024) * OMX_ABI_QUEUE_SLOT_SIZE);
		CHECK(!memcmp(e1->recvq + ev->recv_medium_frag.recvq_offset, e0->sendq + mf.sendq_offset,
			      frag_len[k]));
	}

	struct omx_abi_send_connect_request cr = {
		.peer_index = 0, .dest_endpoint = 1, .src_session_id = e0->info.session_id,
		.app_key = 0xabcd, .target_recv_seqnum_start = 1, .connect_seqnum = 3,
	};
	CHECK(ops->send_connect_request(drv, e0->handle, &cr) == 0);
	ev = next_event(e1, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_CONNECT_REQUEST);
	CHECK(ev->recv_connect_request.peer_index == 0 && ev->recv_connect_request.src_endpoint == 0);
	CHECK(ev->recv_connect_request.src_session_id == e0->info.session_id);
	CHECK(ev->recv_connect_request.app_key == 0xabcd && ev->recv_connect_request.connect_seqnum == 3);
	CHECK(ev->recv_connect_request.target_recv_seqnum_start == 1);

	struct omx_abi_send_connect_reply rp = {
		.peer_index = 0, .dest_endpoint = 0, .src_session_id = e0->info.session_id,
		.target_session_id = e1->info.session_id, .target_recv_seqnum_start = 1,
		.connect_seqnum = 3, .status_code = OMX_CONNECT_STATUS_BAD_KEY,
	};
	CHECK(ops->send_connect_reply(drv, e1->handle, &rp) == 0);
	ev = next_event(e0, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_CONNECT_REPLY);
	CHECK(ev->recv_connect_reply.src_endpoint == 1 && ev->recv_connect_reply.status_code == 11);
	CHECK(ev->recv_connect_reply.target_session_id == e1->info.session_id);
	CHECK(ev->recv_connect_reply.src_session_id == e0->info.session_id);

	struct omx_abi_send_liback la = {
		.peer_index = 0, .dest_endpoint = 1, .session_id = e1->info.session_id,
		.acknum = 99, .lib_seqnum = 8, .send_seq = 8, .resent = 1,
	};
	CHECK(ops->send_liback(drv, e0->handle, &la) == 0);
	ev = next_event(e1, 1, 2000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_LIBACK && ev->recv_liback.acknum == 99);
	CHECK(ev->recv_liback.lib_seqnum == 8 && ev->recv_liback.send_seq == 8 && ev->recv_liback.resent == 1);
	uint32_t bad_session = ctr(OMX_COUNTER_DROP_BAD_SESSION), nacks = ctr(OMX_COUNTER_SEND_NACK_LIB);
	la.session_id ^= 1;
	CHECK(ops->send_liback(drv, e0->handle, &la) == 0);
	CHECK(next_event(e1, 1, 50) == NULL && next_event(e0, 1, 50) == NULL);
	CHECK(ctr(OMX_COUNTER_DROP_BAD_SESSION) == bad_session + 1);
	CHECK(ctr(OMX_COUNTER_SEND_NACK_LIB) == nacks);
}

static void test_nacks(struct tep *e0, struct tep *e1)
{
	struct omx_abi_send_hdr h = hdr_to(e1, 21, 1);
	uint32_t bad_session = ctr(OMX_COUNTER_DROP_BAD_SESSION), nacks = ctr(OMX_COUNTER_SEND_NACK_LIB);
	uint32_t bad_ep = ctr(OMX_COUNTER_DROP_BAD_ENDPOINT);
	uint8_t f[9000];

	h.session_id ^= 0x5a5a;
	send_tiny(e0, h, 4);
	/* Endpoint 1's demux refuses it (each endpoint drains only its own port). */
	CHECK(ops->progress(drv, e1->handle) == 0);
	expect_nack(e0, 1, 21, OMX_NACK_TYPE_BAD_SESSION);
	CHECK(next_event(e1, 1, 20) == NULL);
	CHECK(ctr(OMX_COUNTER_DROP_BAD_SESSION) == bad_session + 1);
	CHECK(ctr(OMX_COUNTER_SEND_NACK_LIB) == nacks + 1 && ctr(OMX_COUNTER_RECV_NACK_LIB) >= 1);

	/* Closed index and an index past endpoint_max: the udp link synthesises
	 * the nack from the ICMP port unreachable. */
	h = hdr_to(e1, 22, 1);
	h.dest_endpoint = 5;
	send_tiny(e0, h, 0);
	expect_nack(e0, 5, 22, OMX_NACK_TYPE_ENDPT_CLOSED);
	h.dest_endpoint = 200;
	h.seqnum = 23;
	send_tiny(e0, h, 0);
	expect_nack(e0, 200, 23, OMX_NACK_TYPE_BAD_ENDPT);

	/* The same refusals made by the receiving driver: frames reach endpoint
	 * 1's port naming endpoint 200 and 3. */
	struct omx_wire_msg m = { .ptype = OMX_PKT_TYPE_TINY, .dst_endpoint = 200, .src_endpoint = 0,
				  .lib_seqnum = 24, .session = e1->info.session_id };
	raw_send(f, craft_msg(f, board, 0, &m, 0), 1, 1);
	CHECK(ops->progress(drv, e1->handle) == 0);
	expect_nack(e0, 200, 24, OMX_NACK_TYPE_BAD_ENDPT);
	m.dst_endpoint = 3, m.lib_seqnum = 25;
	raw_send(f, craft_msg(f, board, 0, &m, 0), 1, 1);
	CHECK(ops->progress(drv, e1->handle) == 0);
	expect_nack(e0, 3, 25, OMX_NACK_TYPE_ENDPT_CLOSED);
	CHECK(ctr(OMX_COUNTER_DROP_BAD_ENDPOINT) == bad_ep + 2);
	/* A connect to a closed endpoint is nacked with seqnum 0. */
	struct omx_abi_send_connect_request cr = { .peer_index = 0, .dest_endpoint = 6, .connect_seqnum = 1 };
	CHECK(ops->send_connect_request(drv, e0->handle, &cr) == 0);
	expect_nack(e0, 6, 0, OMX_NACK_TYPE_ENDPT_CLOSED);
}

static void test_bad_commands(struct tep *e0, struct tep *e1)
{
	struct omx_abi_send_tiny t = { .hdr = hdr_to(e1, 1, 0), .length = 33 };
	struct omx_abi_send_small s = { .hdr = hdr_to(e1, 1, 0), .length = 129 };
	struct omx_abi_send_medium_frag mf = { .hdr = hdr_to(e1, 1, 0), .msg_length = 9000,
					       .frag_length = 8193 };
	struct omx_abi_send_liback la = { .peer_index = 77 };

	CHECK(ops->send_tiny(drv, e0->handle, &t) == OMX_ABI_EINVAL);
	CHECK(ops->send_small(drv, e0->handle, &s) == OMX_ABI_EINVAL);
	CHECK(ops->send_medium_frag(drv, e0->handle, &mf) == OMX_ABI_EINVAL);
	mf.frag_length = 100, mf.frag_seqnum = 32;
	CHECK(ops->send_medium_frag(drv, e0->handle, &mf) == OMX_ABI_EINVAL);
	mf.frag_seqnum = 0, mf.sendq_offset = 100;
	CHECK(ops->send_medium_frag(drv, e0->handle, &mf) == OMX_ABI_EINVAL);
	mf.sendq_offset = 1024 * OMX_ABI_QUEUE_SLOT_SIZE;
	CHECK(ops->send_medium_frag(drv, e0->handle, &mf) == OMX_ABI_EINVAL);
	mf.sendq_offset = 0, mf.msg_length = 50;
	CHECK(ops->send_medium_frag(drv, e0->handle, &mf) == OMX_ABI_EINVAL);
	t.length = 1, t.hdr.peer_index = 500;
	CHECK(ops->send_tiny(drv, e0->handle, &t) == OMX_ABI_EINVAL);
	CHECK(ops->send_liback(drv, e0->handle, &la) == OMX_ABI_EINVAL);
	t.hdr.peer_index = 0;
	CHECK(ops->send_tiny(drv, 31, &t) == OMX_ABI_EINVAL);
	CHECK(ops->send_tiny(drv, 12345, &t) == OMX_ABI_EINVAL);
	CHECK(ops->release_unexp_slots(drv, e1->handle) == OMX_ABI_EINVAL);
	CHECK(ops->release_exp_slots(drv, e0->handle) == OMX_ABI_EINVAL);
	CHECK(next_event(e0, 0, 10) == NULL && next_event(e1, 1, 10) == NULL);
}

static void test_garbage(struct tep *e0, struct tep *e1)
{
	static uint8_t f[9000];
	struct omx_wire_msg m = { .ptype = OMX_PKT_TYPE_TINY, .dst_endpoint = 1,
				  .session = e1->info.session_id };
	struct omx_wire_head h = { .dst_addr = board, .src_addr = board };
	uint32_t len;

	memset(f, 0, sizeof(f));
	omx_wire_head_encode(f, &h);
	expect_drop(e1, f, 16 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_put16(f, 12, 0x0800);
	expect_drop(e1, f, 60, OMX_COUNTER_DROP_BAD_ETHERTYPE);
	h.dst_addr = board + 1;
	omx_wire_head_encode(f, &h);
	expect_drop(e1, f, 60, OMX_COUNTER_DROP_NOT_FOR_US);
	if (fcs) {
		len = craft_msg(f, board, 0, &m, 0);
		uint32_t before = ctr(OMX_COUNTER_DROP_BAD_CHECKSUM);
		raw_send(f, len, 1, 0);
		CHECK(ops->progress(drv, e1->handle) == 0);
		CHECK(ctr(OMX_COUNTER_DROP_BAD_CHECKSUM) == before + 1);
	}
	static const struct { uint8_t ptype; enum omx_abi_counter c; } types[] = {
		{ 0, OMX_COUNTER_DROP_UNKNOWN_TYPE }, { 5, OMX_COUNTER_DROP_UNKNOWN_TYPE },
		{ 255, OMX_COUNTER_DROP_UNKNOWN_TYPE }, { 2, OMX_COUNTER_DROP_INVALID_TYPE },
		{ 33, OMX_COUNTER_DROP_INVALID_TYPE }, { 1, OMX_COUNTER_DROP_NOSYS_TYPE },
		{ 3, OMX_COUNTER_RECV_HOST_QUERY },
	};
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		len = craft_msg(f, board, 0, &m, 0);
		f[16] = types[i].ptype;
		f[17] = 1;
		expect_drop(e1, f, len, types[i].c);
	}

	/* Lib messages: header, declared lengths, peer. */
	len = craft_msg(f, board, 0, &m, 0);
	expect_drop(e1, f, 16 + 20 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_SKBLEN);
	m.length = 33;
	expect_drop(e1, f, craft_msg(f, board, 0, &m, 0), OMX_COUNTER_DROP_BAD_DATALEN);
	m.length = 32;
	expect_drop(e1, f, craft_msg(f, board, 0, &m, 0), OMX_COUNTER_DROP_BAD_SKBLEN);
	m.ptype = OMX_PKT_TYPE_SMALL;
	m.length = 129;
	expect_drop(e1, f, craft_msg(f, board, 0, &m, 129), OMX_COUNTER_DROP_BAD_DATALEN);
	m.ptype = OMX_PKT_TYPE_MEDIUM;
	m.length = 100;
	m.frag_length = 101;
	expect_drop(e1, f, craft_msg(f, board, 0, &m, 101), OMX_COUNTER_DROP_BAD_DATALEN);
	m.frag_length = 8193;
	m.length = 90000;
	expect_drop(e1, f, craft_msg(f, board, 0, &m, 8193), OMX_COUNTER_DROP_BAD_DATALEN);
	m.frag_length = 10;
	m.frag_seqnum = 32;
	expect_drop(e1, f, craft_msg(f, board, 0, &m, 10), OMX_COUNTER_DROP_BAD_DATALEN);
	m.frag_seqnum = 0;
	m.frag_length = 1000;
	expect_drop(e1, f, craft_msg(f, board, 0, &m, 10), OMX_COUNTER_DROP_BAD_SKBLEN);
	m.ptype = OMX_PKT_TYPE_TINY;
	m.length = 1;
	/* A source of the right host and port range that is not in the table. */
	uint64_t stranger = board + 1;
	expect_drop(e1, f, craft_msg(f, stranger, 0xffff, &m, 1), OMX_COUNTER_DROP_BAD_PEER_ADDR);
	expect_drop(e1, f, craft_msg(f, stranger, 0, &m, 1), OMX_COUNTER_DROP_BAD_PEER_ADDR);
	expect_drop(e1, f, craft_msg(f, stranger, 600, &m, 1), OMX_COUNTER_DROP_BAD_PEER_INDEX);
	/* A stale hint naming a known address is corrected by the address. */
	raw_send(f, craft_msg(f, board, 600, &m, 1), 1, 1);
	const union omx_abi_event *ev = next_event(e1, 1, 1000);
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.head.peer_index == 0);

	/* Control messages. */
	struct omx_wire_connect c = { .dst_endpoint = 1 };
	omx_wire_head_encode(f, &(struct omx_wire_head){ .dst_addr = board, .src_addr = board });
	omx_wire_connect_encode(omx_wire_body(f), &c);
	expect_drop(e1, f, 16 + 31 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_SKBLEN);
	omx_wire_head_encode(f, &(struct omx_wire_head){ .dst_addr = board, .src_addr = stranger });
	expect_drop(e1, f, 60 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_PEER_ADDR);
	struct omx_wire_liback a = { .dst_endpoint = 1, .length = 16, .type = 0x56,
				     .session = e1->info.session_id, .session_id = e1->info.session_id };
	omx_wire_head_encode(f, &(struct omx_wire_head){ .dst_addr = board, .src_addr = board });
	omx_wire_liback_encode(omx_wire_body(f), &a);
	expect_drop(e1, f, 60 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_DATALEN);
	a.type = 0x55;
	a.session_id ^= 1;
	omx_wire_liback_encode(omx_wire_body(f), &a);
	expect_drop(e1, f, 60 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_SESSION);
	a.session_id ^= 1;
	a.dst_endpoint = 4;
	omx_wire_liback_encode(omx_wire_body(f), &a);
	expect_drop(e1, f, 60 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_ENDPOINT);
	struct omx_wire_nack_lib n = { .src_endpoint = 0, .nack_type = 7, .dst_endpoint = 1 };
	omx_wire_nack_lib_encode(omx_wire_body(f), &n);
	expect_drop(e1, f, 60 + (fcs ? 4 : 0), OMX_COUNTER_DROP_BAD_DATALEN);

	/* A burst of noise: random lengths and bytes, half with a plausible head. */
	uint32_t posted = 0;
	for (int i = 0; i < 3000; i++) {
		len = rnd() % 400;
		for (uint32_t k = 0; k < len; k++)
			f[k] = (uint8_t)rnd();
		if (len >= 16 && (rnd() & 1)) {
			omx_wire_head_encode(f, &(struct omx_wire_head){ .dst_addr = board, .src_addr = board,
				.dst_src_peer_index = (uint16_t)(rnd() % 3) });
			if (len > 17 && (rnd() & 1))
				f[17] = 1;
		}
		raw_send(f, len, 1, rnd() & 1);
		if (i % 50 == 0) {
			int r = ops->progress(drv, e1->handle);
			CHECK(r >= 0);
			posted += (uint32_t)r;
		}
	}
	int r = ops->progress(drv, e1->handle);
	CHECK(r >= 0);
	posted += (uint32_t)r;
	/* Whatever noise was posted (a random NACK_LIB can pass) is consumed. */
	while (posted--)
		CHECK(next_event(e1, 1, 10) != NULL);
	while (next_event(e0, 1, 10))
		;
	/* The endpoint still works.  Noise frames still queued in the socket may
	 * be posted first (a plausible NACK_LIB): skip them, within a deadline. */
	send_tiny(e0, hdr_to(e1, 30, 3), 2);
	for (int skipped = 0; skipped < 64; skipped++) {
		ev = next_event(e1, 1, 2000);
		if (!ev || (ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.head.seqnum == 30))
			break;
	}
	CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.head.seqnum == 30);
}

/* Fill the unexpected queue: frames beyond it are dropped and flagged; after
 * the lib releases, traffic flows again. */
static void test_unexp_full(struct tep *e0, struct tep *e1)
{
	uint32_t full = ctr(OMX_COUNTER_UNEXP_EVENTQ_FULL), space;
	int posted = 0;

	/* Realign so that the consumed events below fill whole release batches. */
	while (e1->next_unexp % OMX_ABI_EVENTQ_RELEASE_BATCH) {
		send_tiny(e0, hdr_to(e1, 1, 0), 0);
		CHECK(next_event(e1, 1, 2000) != NULL);
	}
	space = OMX_ABI_EVENTQ_ENTRIES;
	for (int i = 0; i < 1100; i++) {
		send_tiny(e0, hdr_to(e1, (uint16_t)i, (uint64_t)i), 1);
		if (i % 64 == 63)
			posted += ops->progress(drv, e1->handle);
	}
	posted += ops->progress(drv, e1->handle);
	CHECK(posted == (int)space);
	CHECK(ctr(OMX_COUNTER_UNEXP_EVENTQ_FULL) > full);
	CHECK(e1->desc->status & OMX_ABI_DESC_UNEXP_EVENTQ_FULL);
	for (uint32_t i = 0; i < space; i++) {
		const union omx_abi_event *ev = omx_eventq_peek(e1->unexpq, 1024, e1->next_unexp);
		CHECK(ev && ev->generic.type == OMX_ABI_EVT_RECV_TINY && ev->recv_tiny.head.match_info == i);
		if (++e1->next_unexp % OMX_ABI_EVENTQ_RELEASE_BATCH == 0)
			CHECK(ops->release_unexp_slots(drv, e1->handle) == 0);
	}
	CHECK(ops->release_unexp_slots(drv, e1->handle) == OMX_ABI_EINVAL);
	e1->desc->status = 0;
	send_tiny(e0, hdr_to(e1, 40, 40), 1);
	const union omx_abi_event *ev = next_event(e1, 1, 2000);
	CHECK(ev && ev->recv_tiny.head.match_info == 40);
}

struct waiter_arg {
	struct tep *e;
	uint64_t expire;
	uint32_t status;
	int ret;
};

static void *waiter(void *p)
{
	struct waiter_arg *a = p;
	struct omx_abi_wait w = {
		.user_event_index = a->e->desc->user_event_index, .next_exp_event_index = a->e->next_exp,
		.next_unexp_event_index = a->e->next_unexp, .jiffies_expire = a->expire,
	};
	a->ret = ops->wait_event(drv, a->e->handle, &w);
	a->status = w.status;
	return NULL;
}

static void test_wait(struct tep *e0, struct tep *e1)
{
	struct waiter_arg a = { .e = e1 }, b = { .e = e1 };
	pthread_t t1, t2;
	uint64_t j;

	a.expire = ops->jiffies(drv) + 60;
	waiter(&a);
	CHECK(a.ret == 0 && a.status == OMX_ABI_WAIT_TIMEOUT && ops->jiffies(drv) >= a.expire);
	a.expire = ops->jiffies(drv) - 1;
	waiter(&a);
	CHECK(a.ret == 0 && a.status == OMX_ABI_WAIT_TIMEOUT);

	struct omx_abi_wait w = { .user_event_index = e1->desc->user_event_index,
				  .next_exp_event_index = e1->next_exp,
				  .next_unexp_event_index = e1->next_unexp - 1, .jiffies_expire = UINT64_MAX };
	CHECK(ops->wait_event(drv, e1->handle, &w) == 0 && w.status == OMX_ABI_WAIT_RACE);
	w.next_unexp_event_index++;
	w.user_event_index++;
	CHECK(ops->wait_event(drv, e1->handle, &w) == 0 && w.status == OMX_ABI_WAIT_RACE);

	j = ops->jiffies(drv);
	e1->desc->wakeup_jiffies = j + 40;
	a.expire = UINT64_MAX;
	waiter(&a);
	CHECK(a.status == OMX_ABI_WAIT_PROGRESS && ops->jiffies(drv) >= j + 40);
	e1->desc->wakeup_jiffies = 0;

	/* Two sleepers, one wakeup: both return WAKEUP. */
	a.expire = b.expire = ops->jiffies(drv) + 5000;
	CHECK(pthread_create(&t1, NULL, waiter, &a) == 0 && pthread_create(&t2, NULL, waiter, &b) == 0);
	nap_ms(50);
	CHECK(ops->wakeup(drv, e1->handle) == 0);
	CHECK(pthread_join(t1, NULL) == 0 && pthread_join(t2, NULL) == 0);
	CHECK(a.ret == 0 && a.status == OMX_ABI_WAIT_WAKEUP && b.ret == 0 && b.status == OMX_ABI_WAIT_WAKEUP);
	/* A later waiter is not woken by that old wakeup. */
	a.expire = ops->jiffies(drv) + 30;
	waiter(&a);
	CHECK(a.status == OMX_ABI_WAIT_TIMEOUT);

	/* A frame arriving during the sleep. */
	a.expire = ops->jiffies(drv) + 5000;
	CHECK(pthread_create(&t1, NULL, waiter, &a) == 0);
	nap_ms(30);
	send_tiny(e0, hdr_to(e1, 50, 50), 1);
	CHECK(pthread_join(t1, NULL) == 0);
	CHECK(a.ret == 0 && a.status == OMX_ABI_WAIT_EVENT);
	const union omx_abi_event *ev = next_event(e1, 1, 10);
	CHECK(ev && ev->recv_tiny.head.match_info == 50);

	/* Closing an endpoint wakes its sleeper. */
	struct tep e2;
	CHECK(ep_open(&e2, 2) == 0);
	struct waiter_arg c = { .e = &e2, .expire = UINT64_MAX };
	CHECK(pthread_create(&t1, NULL, waiter, &c) == 0);
	nap_ms(30);
	CHECK(ops->close_endpoint(drv, e2.handle) == 0);
	CHECK(pthread_join(t1, NULL) == 0);
	CHECK(c.ret == 0 && c.status == OMX_ABI_WAIT_WAKEUP);
	CHECK(ops->close_endpoint(drv, e2.handle) == OMX_ABI_EINVAL);
	CHECK(ops->endpoint_area(drv, e2.handle) == NULL);
}

static void test_peers_and_counters(void)
{
	struct omx_abi_peer_info pi;
	struct omx_abi_peer_table_state st = { .status = 3, .version = 4, .size = 5, .mapper_id = 6 };
	uint32_t v[OMX_COUNTER_INDEX_MAX + 8];
	int base = 3;

	/* The peers file of this run added two peers after the board. */
	CHECK(ops->peer_from_hostname(drv, "filehost1", &pi) == 0 && pi.index == 1 && pi.board_addr == 0x0a0b0c0d0e0f);
	CHECK(ops->peer_from_hostname(drv, "filehost2:3", &pi) == 0 && pi.index == 2);
	CHECK(ops->peer_add(drv, 0x112233445566ull, "hostA") == base);
	CHECK(ops->peer_add(drv, 0x112233445566ull, "other") == base);
	CHECK(ops->peer_add(drv, 0x665544332211ull, "") == base + 1);
	CHECK(ops->peer_add(drv, 0x665544332211ull, "hostB") == base + 1);
	CHECK(ops->peer_add(drv, 1ull << 48, "x") == OMX_ABI_EINVAL);
	CHECK(ops->peer_from_addr(drv, 0x665544332211ull, &pi) == 0 && !strcmp(pi.hostname, "hostB"));
	CHECK(ops->peer_from_hostname(drv, "hostA", &pi) == 0 && pi.index == (uint32_t)base && !pi.local);
	CHECK(ops->peer_from_index(drv, (uint32_t)base + 2, &pi) == OMX_ABI_ENOENT);
	CHECK(ops->peer_table_set_state(drv, &st) == 0);
	CHECK(ops->peer_table_get_state(drv, &st) == 0);
	CHECK(st.status == OMX_ABI_PEER_TABLE_CONFIGURED && st.version == 4 && st.size == 5 && st.mapper_id == 6);
	CHECK(ops->set_hostname(drv, 0, "renamed:0") == 0);
	CHECK(ops->peer_from_index(drv, 0, &pi) == 0 && !strcmp(pi.hostname, "renamed:0"));
	CHECK(ops->peer_table_clear(drv) == 0);
	CHECK(ops->peer_from_index(drv, 1, &pi) == OMX_ABI_ENOENT);
	CHECK(ops->peer_from_addr(drv, 0x112233445566ull, &pi) == OMX_ABI_ENOENT);
	CHECK(ops->peer_from_addr(drv, board, &pi) == 0 && pi.index == 0 && pi.local);
	CHECK(ops->peer_add(drv, 0x112233445566ull, "hostA") == 1);

	memset(v, 0xee, sizeof(v));
	CHECK(ops->get_counters(drv, 0, 0, v, 3) == 0 && v[3] == 0xeeeeeeee);
	CHECK(ops->get_counters(drv, 0, 0, v, OMX_COUNTER_INDEX_MAX + 8) == 0);
	CHECK(v[OMX_COUNTER_SEND_TINY] > 0 && v[OMX_COUNTER_INDEX_MAX + 7] == 0);
	CHECK(ops->get_counters(drv, 0, 1, v, 1) == 0 && ops->get_counters(drv, 0, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
	for (unsigned i = 0; i < OMX_COUNTER_INDEX_MAX; i++)
		CHECK(v[i] == 0);
	CHECK(ops->get_counters(drv, 1, 0, v, 1) == OMX_ABI_ENODEV);
}

static void run(int with_fcs)
{
	struct tep e0, e1;
	char spec[64], path[] = "/tmp/omx_test_peers_XXXXXX";
	int fd = mkstemp(path);
	const char *peers =
		"# comment line\n\n0a:0b:0c:0d:0e:0f filehost1\n"
		"not a mac line\n0a:0b:0c:0d:0e:zz bad\n"
		"  10:20:30:40:50:60   filehost2:3   # trailing comment\n"
		"10:20:30:40:50:61 two words\n";

	CHECK(fd >= 0 && write(fd, peers, strlen(peers)) == (ssize_t)strlen(peers));
	close(fd);
	fcs = with_fcs;
	setenv("OMX_CHECKSUM", with_fcs ? "1" : "0", 1);
	setenv("OMX_PEERS_FILE", path, 1);
	unsetenv("OMX_FAULT");
	unsetenv("OMX_ENDPOINT_MAX");
	for (int attempt = 0;; attempt++) {
		CHECK(attempt < 50);
		base_port = 20000 + rnd() % 40000;
		snprintf(spec, sizeof(spec), "127.0.0.1:%u", base_port);
		setenv("OMX_UDP_ADDR", spec, 1);
		CHECK(omx_drv_direct_open(&drv) == 0);
		ops = drv->ops;
		if (ep_open(&e0, 0) == 0) {
			if (ep_open(&e1, 1) == 0)
				break;
			ops->close_endpoint(drv, e0.handle);
		}
		ops->close(drv);
	}
	board = ((uint64_t)0x7f000001 << 16) | base_port;
	raw_open();

	test_info();
	test_claim();
	test_messages(&e0, &e1);
	test_nacks(&e0, &e1);
	test_bad_commands(&e0, &e1);
	test_garbage(&e0, &e1);
	test_unexp_full(&e0, &e1);
	test_wait(&e0, &e1);
	test_peers_and_counters();

	CHECK(ops->close_endpoint(drv, e1.handle) == 0);
	CHECK(ops->close_endpoint(drv, e0.handle) == 0);
	ops->close(drv);
	close(raw_fd);
	unlink(path);
	printf("test_driver: %s trailer: ok\n", with_fcs ? "with" : "without");
}

int main(void)
{
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	run(0);
	run(1);
	return 0;
}
