/*
 * test_lib_loop.c - libopen-mx end to end: two endpoints of one process over
 * the direct driver and the udp link on 127.0.0.1 (a random high base port).
 *
 * Phase 1 (clean link): connect, every size class byte-checked (expected and
 * unexpected), truncation, ordering, probe/iprobe, test_any, ipeek, cancel,
 * the unexpected handler, self sends, a wrong key, a closed remote endpoint.
 * Phase 2 (OMX_FAULT drops, duplicates, reorders and corrupts frames): 2000
 * random-size messages must arrive exactly once, in order, byte-exact.
 * Phase 3: a close lingers until its last sends are acked (or the peer
 * stays silent past OMX_LINGER_MS).
 *
 * A poller thread progresses both endpoints, as a second application thread
 * would; the main thread uses the blocking calls.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000
#define POLL_US 50
#include "omx_test_util.h"

static omx_endpoint_addr_t addr_aa;

/* This test exercises the network path (udp link); the intra-host shared
 * path has its own tests and would move 4 KiB+ messages to the large class. */
static int start(void)
{
	setenv("OMX_DISABLE_SHARED", "1", 1);
	return open_pair();
}

/* ---- phase 1 ---------------------------------------------------------- */

static void test_connect(void)
{
	uint64_t n;
	uint32_t e;

	connect_pair();
	CHECK_RET(omx_connect(ep_a, nic, 0, KEY, WAIT_MS, &addr_aa));    /* self: at once */
	CHECK_RET(omx_decompose_endpoint_addr(addr_ab, &n, &e));
	CHECK(n == nic && e == 1);
	CHECK_RET(omx_decompose_endpoint_addr(addr_ba, &n, &e));
	CHECK(n == nic && e == 0);
	/* Connecting again changes nothing in flight. */
	CHECK_RET(omx_connect(ep_a, nic, 1, KEY, WAIT_MS, &addr_ab));
}

/* One message A -> B of len bytes into a buffer of rlen bytes. */
static void one_message(size_t len, size_t rlen, int unexpected, uint32_t seed)
{
	uint8_t *sbuf = malloc(len + 1), *rbuf = malloc(rlen + 64);
	uint64_t match = 0xabc0000000000000ULL | seed;
	omx_request_t sreq, rreq;
	omx_status_t st;
	uint32_t result, e;
	uint64_t n;

	fill(sbuf, len, seed);
	memset(rbuf, 0xee, rlen + 64);
	if (!unexpected)
		CHECK_RET(omx_irecv(ep_b, rbuf, rlen, match, ~0ULL, (void *)0x42, &rreq));
	CHECK_RET(omx_isend(ep_a, sbuf, len, addr_ab, match, (void *)0x24, &sreq));
	if (unexpected) {
		CHECK_RET(omx_probe(ep_b, match, ~0ULL, &st, &result, WAIT_MS));
		CHECK(result == 1 && st.msg_length == len && st.match_info == match);
		CHECK_RET(omx_irecv(ep_b, rbuf, rlen, match, ~0ULL, (void *)0x42, &rreq));
	}
	CHECK(wait_req(ep_b, &rreq, &st));
	CHECK(st.msg_length == len);
	CHECK(st.xfer_length == (len < rlen ? len : rlen));
	CHECK(st.code == (rlen < len ? OMX_MESSAGE_TRUNCATED : OMX_SUCCESS));
	CHECK(st.match_info == match && st.context == (void *)0x42);
	CHECK(omx_decompose_endpoint_addr(st.addr, &n, &e) == OMX_SUCCESS && n == nic && e == 0);
	CHECK(verify(rbuf, len < rlen ? len : rlen, seed));
	if (rlen > len)
		CHECK(rbuf[len] == 0xee);
	CHECK(rbuf[rlen] == 0xee && rbuf[rlen + 63] == 0xee);   /* never past the buffer */
	CHECK(wait_req(ep_a, &sreq, &st));
	CHECK(st.code == OMX_SUCCESS && st.msg_length == len && st.context == (void *)0x24);
	if (failures)
		fprintf(stderr, "  (size %zu into %zu, %s)\n", len, rlen, unexpected ? "unexpected" : "expected");
	free(sbuf);
	free(rbuf);
}

static void test_sizes(void)
{
	static const size_t edges[] = { 0, 1, 2, 3, 7, 31, 32, 33, 63, 100, 127, 128, 129, 130, 255, 1000,
					4095, 4096, 4097, 8191, 8192, 8193, 8194, 12345, 16383, 16384,
					16385, 24575, 24576, 24577, 32767, 32768 };
	size_t i, len;
	int before = failures;

	for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		one_message(edges[i], edges[i] + 1, 0, (uint32_t)i);
		one_message(edges[i], edges[i], 1, (uint32_t)i + 1000);
	}
	for (len = 5; len <= 32768; len += 613)
		one_message(len, 32768, (int)(len & 1), (uint32_t)len);
	printf("sizes: %s\n", failures == before ? "ok" : "FAILED");
}

static void test_truncation(void)
{
	static const size_t lens[] = { 10, 120, 20000, 32768 };
	size_t i;
	int before = failures;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		one_message(lens[i], lens[i] / 2, 0, 77 + (uint32_t)i);
		one_message(lens[i], lens[i] / 2, 1, 88 + (uint32_t)i);
		one_message(lens[i], 0, 0, 99 + (uint32_t)i);
	}
	printf("truncation: %s\n", failures == before ? "ok" : "FAILED");
}

/* Many messages in flight without waiting: matched in send order. */
static void test_ordering(void)
{
	enum { N = 200 };
	static uint8_t sbufs[N][3000], rbufs[N][3000];
	omx_request_t sreq[N], rreq[N];
	omx_status_t st;
	int i, before = failures;

	for (i = 0; i < N; i++) {
		size_t len = (size_t)(i * 37) % 3000;

		fill(sbufs[i], len, (uint32_t)i);
		CHECK_RET(omx_isend(ep_a, sbufs[i], len, addr_ab, 0x55, NULL, &sreq[i]));
	}
	for (i = 0; i < N; i++)
		CHECK_RET(omx_irecv(ep_b, rbufs[i], sizeof(rbufs[i]), 0x55, ~0ULL, NULL, &rreq[i]));
	for (i = 0; i < N; i++) {
		CHECK(wait_req(ep_b, &rreq[i], &st));
		CHECK(st.msg_length == (uint32_t)((i * 37) % 3000) && verify(rbufs[i], st.msg_length, (uint32_t)i));
		CHECK(wait_req(ep_a, &sreq[i], &st) && st.code == OMX_SUCCESS);
	}
	printf("ordering: %s\n", failures == before ? "ok" : "FAILED");
}

static void test_probe_any_peek(void)
{
	char buf[16] = "probe";
	omx_request_t sreq, rreq, r1, r2, peeked;
	omx_status_t st;
	uint32_t result;
	int before = failures;

	/* The reference unexpected test. */
	CHECK_RET(omx_isend(ep_a, buf, 6, addr_ab, 1, NULL, &sreq));
	CHECK_RET(omx_probe(ep_b, 1, ~0ULL, &st, &result, WAIT_MS));
	CHECK(result == 1 && st.msg_length == 6);
	CHECK_RET(omx_iprobe(ep_b, 2, ~0ULL, &st, &result));
	CHECK(result == 0);
	CHECK_RET(omx_iprobe(ep_b, 0, ~1ULL, &st, &result));
	CHECK(result == 1);
	CHECK(omx_iprobe(ep_b, 2, 1, &st, &result) == OMX_BAD_MATCH_MASK);
	CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0, ~1ULL, NULL, &rreq));
	CHECK_RET(omx_iprobe(ep_b, 0, ~1ULL, &st, &result));
	CHECK(result == 0);
	CHECK(wait_req(ep_b, &rreq, &st) && st.match_info == 1);
	CHECK(wait_req(ep_a, &sreq, &st));

	/* test_any picks by match/mask among done requests. */
	CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0x100, ~0ULL, (void *)1, &r1));
	CHECK_RET(omx_irecv(ep_b, buf + 8, 8, 0x200, ~0ULL, (void *)2, &r2));
	CHECK_RET(omx_isend(ep_a, "x", 1, addr_ab, 0x200, NULL, NULL));
	CHECK_RET(omx_wait_any(ep_b, 0x200, ~0ULL, &st, &result, WAIT_MS));
	CHECK(result == 1 && st.context == (void *)2);
	CHECK_RET(omx_test_any(ep_b, 0x100, ~0ULL, &st, &result));
	CHECK(result == 0);
	CHECK_RET(omx_isend(ep_a, "y", 1, addr_ab, 0x100, NULL, NULL));
	CHECK_RET(omx_peek(ep_b, &peeked, &result, WAIT_MS));
	CHECK(result == 1 && peeked == r1);
	CHECK_RET(omx_test_any(ep_b, 0x100, 0xf00, &st, &result));
	CHECK(result == 1 && st.context == (void *)1);
	CHECK_RET(omx_ipeek(ep_b, &peeked, &result));
	CHECK(result == 0);
	CHECK(omx_test_any(ep_b, 1, 0, &st, &result) == OMX_BAD_MATCH_MASK);
	printf("probe/test_any/peek: %s\n", failures == before ? "ok" : "FAILED");
}

static void test_cancel(void)
{
	char buf[8];
	omx_request_t r1, r2, c;
	omx_status_t st;
	uint32_t result;
	int before = failures;

	CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0xdead, ~0ULL, NULL, &r1));
	CHECK_RET(omx_cancel(ep_b, &r1, &result));
	CHECK(result == 1);
	CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0xdead, ~0ULL, (void *)7, &r2));
	CHECK_RET(omx_cancel_notest(ep_b, &r2, &result));
	CHECK(result == 1);
	CHECK_RET(omx_test_any(ep_b, 0xdead, ~0ULL, &st, &result));
	CHECK(result == 1 && st.code == OMX_CANCELLED && st.context == (void *)7);

	/* An unanswered connect, made deterministic by stopping progression. */
	CHECK_RET(omx_disable_progression(ep_a));
	CHECK_RET(omx_iconnect(ep_a, nic, 1, KEY, 0x77, NULL, &c));
	CHECK_RET(omx_cancel(ep_a, &c, &result));
	CHECK(result == 1);
	CHECK_RET(omx_iconnect(ep_a, nic, 1, KEY, 0x78, (void *)9, &c));
	CHECK_RET(omx_cancel_notest(ep_a, &c, &result));
	CHECK(result == 1);
	CHECK_RET(omx_reenable_progression(ep_a));
	CHECK_RET(omx_test_any(ep_a, 0x78, ~0ULL, &st, &result));
	CHECK(result == 1 && st.code == OMX_CANCELLED && st.context == (void *)9);
	/* A send cannot be cancelled. */
	CHECK_RET(omx_isend(ep_a, buf, 4, addr_ab, 0xdead, NULL, &c));
	CHECK_RET(omx_cancel(ep_a, &c, &result));
	CHECK(result == 0);
	CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0xdead, ~0ULL, NULL, &r1));
	CHECK(wait_req(ep_b, &r1, &st));
	CHECK(wait_req(ep_a, &c, &st));
	printf("cancel: %s\n", failures == before ? "ok" : "FAILED");
}

static omx_unexp_handler_action_t handler(void *ctx, omx_endpoint_addr_t src, uint64_t match,
					  uint32_t len, void *data)
{
	int *calls = ctx;

	(void)src;
	(*calls)++;
	if (match == 0x77 && len == 5 && data && !memcmp(data, "drop", 5))
		return OMX_UNEXP_HANDLER_RECV_FINISHED;
	return OMX_UNEXP_HANDLER_RECV_CONTINUE;
}

static void test_handler_and_self(void)
{
	static uint8_t big[20000], rbig[20000];
	char buf[16];
	omx_request_t s, r;
	omx_status_t st;
	uint32_t result;
	int calls = 0, before = failures;

	CHECK_RET(omx_register_unexp_handler(ep_b, handler, &calls));
	CHECK_RET(omx_isend(ep_a, "drop", 5, addr_ab, 0x77, NULL, &s));
	CHECK(wait_req(ep_a, &s, &st));
	CHECK_RET(omx_isend(ep_a, "keep", 5, addr_ab, 0x78, NULL, &s));
	CHECK_RET(omx_probe(ep_b, 0x78, ~0ULL, &st, &result, WAIT_MS));
	CHECK(result == 1);
	CHECK_RET(omx_iprobe(ep_b, 0x77, ~0ULL, &st, &result));
	CHECK(result == 0);                               /* discarded by the handler */
	CHECK(calls == 2);
	CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0x78, ~0ULL, NULL, &r));
	CHECK(wait_req(ep_b, &r, &st) && !strcmp(buf, "keep"));
	CHECK(wait_req(ep_a, &s, &st));
	CHECK_RET(omx_register_unexp_handler(ep_b, NULL, NULL));

	/* Self: expected and unexpected, tiny and medium. */
	fill(big, sizeof(big), 5);
	CHECK_RET(omx_irecv(ep_a, rbig, sizeof(rbig), 9, ~0ULL, NULL, &r));
	CHECK_RET(omx_isend(ep_a, big, sizeof(big), addr_aa, 9, NULL, &s));
	CHECK(wait_req(ep_a, &r, &st) && st.xfer_length == sizeof(big) && verify(rbig, sizeof(big), 5));
	CHECK(wait_req(ep_a, &s, &st) && st.code == OMX_SUCCESS);
	memset(rbig, 0, sizeof(rbig));
	CHECK_RET(omx_isend(ep_a, big, 100, addr_aa, 10, NULL, &s));
	CHECK(wait_req(ep_a, &s, &st));
	CHECK_RET(omx_irecv(ep_a, rbig, 50, 10, ~0ULL, NULL, &r));
	CHECK(wait_req(ep_a, &r, &st) && st.code == OMX_MESSAGE_TRUNCATED && st.xfer_length == 50);
	CHECK(verify(rbig, 50, 5) && rbig[50] == 0);
	printf("handler/self: %s\n", failures == before ? "ok" : "FAILED");
}

static void test_errors(void)
{
	omx_endpoint_addr_t addr;
	omx_endpoint_t ep_c;
	omx_request_t s;
	omx_status_t st;
	uint32_t result;
	uint64_t t0;
	int before = failures;

	CHECK(omx_connect(ep_a, nic, 1, KEY + 1, WAIT_MS, &addr) == OMX_REMOTE_ENDPOINT_BAD_CONNECTION_KEY);
	CHECK(omx_connect(ep_a, nic, 7, KEY, WAIT_MS, &addr) == OMX_REMOTE_ENDPOINT_CLOSED);
	CHECK(omx_connect(ep_a, nic ^ 0x10000, 1, KEY, 1000, &addr) == OMX_PEER_NOT_FOUND);
	CHECK(omx_irecv(ep_b, NULL, 0, 3, 1, NULL, &s) == OMX_BAD_MATCH_MASK);
	/* A silent peer: the connect gives up after its timeout. */
	CHECK_RET(omx_disable_progression(ep_b));
	CHECK(omx_connect(ep_a, nic, 1, KEY, 300, &addr) == OMX_TIMEOUT);
	CHECK_RET(omx_reenable_progression(ep_b));

	/* A message to an endpoint that closed: the done-early status turns
	 * into REMOTE_ENDPOINT_CLOSED when the nack comes back. */
	CHECK_RET(omx_open_endpoint(0, 2, KEY, NULL, 0, &ep_c));
	CHECK_RET(omx_iconnect(ep_a, nic, 2, KEY, 0, NULL, &s));
	t0 = (uint64_t)time(NULL);
	result = 0;
	while (!result && (uint64_t)time(NULL) - t0 < 5) {
		omx_progress(ep_c);       /* the poller does not know ep_c */
		CHECK_RET(omx_test(ep_a, &s, &st, &result));
		usleep(100);
	}
	CHECK(result == 1 && st.code == OMX_SUCCESS);
	addr = st.addr;
	CHECK_RET(omx_close_endpoint(ep_c));
	if (!result)
		return;
	CHECK_RET(omx_isend(ep_a, "gone", 4, addr, 0, NULL, &s));
	t0 = (uint64_t)time(NULL);
	while (req_code(ep_a, s) == OMX_SUCCESS && (uint64_t)time(NULL) - t0 < 5) {
		omx_progress(ep_a);
		usleep(1000);
	}
	CHECK_RET(omx_test(ep_a, &s, &st, &result));
	CHECK(result == 1 && st.code == OMX_REMOTE_ENDPOINT_CLOSED);
	printf("errors: %s\n", failures == before ? "ok" : "FAILED");
}

static void *blocked_waiter(void *arg)
{
	omx_request_t req;
	omx_status_t st;
	uint32_t result = 2;
	char buf[4];

	omx_irecv(ep_b, buf, sizeof(buf), 0xfeed, ~0ULL, NULL, &req);
	omx_wait(ep_b, &req, &st, &result, OMX_TIMEOUT_INFINITE);
	if (!result)
		omx_cancel(ep_b, &req, &result);
	*(uint32_t *)arg = result;
	return NULL;
}

/* omx_wakeup returns a blocked omx_wait with result 0. */
static void test_wakeup(void)
{
	pthread_t t;
	uint32_t result = 2;
	int before = failures;

	pthread_create(&t, NULL, blocked_waiter, &result);
	usleep(100 * 1000);
	CHECK_RET(omx_wakeup(ep_b));
	pthread_join(t, NULL);
	CHECK(result == 1);               /* woken with result 0, then cancelled */
	printf("wakeup: %s\n", failures == before ? "ok" : "FAILED");
}

/* After omx_disconnect and a new connect both directions flow again. */
static void test_disconnect(void)
{
	char buf[64];
	omx_request_t s, r;
	omx_status_t st;
	int round, before = failures;

	for (round = 0; round < 2; round++) {
		CHECK_RET(omx_disconnect(ep_a, addr_ab));
		CHECK_RET(omx_connect(ep_a, nic, 1, KEY, WAIT_MS, &addr_ab));
		CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0xd1, ~0ULL, NULL, &r));
		CHECK_RET(omx_isend(ep_a, "after", 6, addr_ab, 0xd1, NULL, &s));
		CHECK(wait_req(ep_b, &r, &st) && st.code == OMX_SUCCESS && !strcmp(buf, "after"));
		CHECK(wait_req(ep_a, &s, &st));
		CHECK_RET(omx_irecv(ep_a, buf, sizeof(buf), 0xd2, ~0ULL, NULL, &r));
		CHECK_RET(omx_isend(ep_b, "back", 5, addr_ba, 0xd2, NULL, &s));
		CHECK(wait_req(ep_a, &r, &st) && st.code == OMX_SUCCESS && !strcmp(buf, "back"));
		CHECK(wait_req(ep_b, &s, &st));
	}
	printf("disconnect/reconnect: %s\n", failures == before ? "ok" : "FAILED");
}

/* The peer restarts (new session on the same index): old-session traffic
 * is nacked BAD_SESSION, and its connect resets both directions. */
static void test_restart(void)
{
	char buf[64];
	omx_request_t s, r;
	omx_status_t st;
	uint32_t result;
	time_t t0;
	int before = failures;

	poller_stop();
	CHECK_RET(omx_close_endpoint(ep_b));
	CHECK_RET(omx_open_endpoint(0, 1, KEY, NULL, 0, &ep_b));
	poller_start();

	CHECK_RET(omx_isend(ep_a, "stale", 6, addr_ab, 0xe1, NULL, &s));
	t0 = time(NULL);
	while (req_code(ep_a, s) == OMX_SUCCESS && time(NULL) - t0 < 5)
		usleep(1000);
	CHECK_RET(omx_test(ep_a, &s, &st, &result));
	CHECK(result == 1 && st.code == OMX_REMOTE_ENDPOINT_BAD_SESSION);

	CHECK_RET(omx_connect(ep_b, nic, 0, KEY, WAIT_MS, &addr_ba));
	CHECK_RET(omx_irecv(ep_b, buf, sizeof(buf), 0xe2, ~0ULL, NULL, &r));
	CHECK_RET(omx_isend(ep_a, "fresh", 6, addr_ab, 0xe2, NULL, &s));
	CHECK(wait_req(ep_b, &r, &st) && st.code == OMX_SUCCESS && !strcmp(buf, "fresh"));
	CHECK(wait_req(ep_a, &s, &st));
	CHECK_RET(omx_irecv(ep_a, buf, sizeof(buf), 0xe3, ~0ULL, NULL, &r));
	CHECK_RET(omx_isend(ep_b, "hello", 6, addr_ba, 0xe3, NULL, &s));
	CHECK(wait_req(ep_a, &r, &st) && st.code == OMX_SUCCESS && !strcmp(buf, "hello"));
	CHECK(wait_req(ep_b, &s, &st));
	CHECK_RET(omx_connect(ep_a, nic, 1, KEY, WAIT_MS, &addr_ab));
	one_message(20000, 20000, 0, 4242);
	printf("peer restart: %s\n", failures == before ? "ok" : "FAILED");
}

/* Context ids: per-ctxid queues, and masks must cover the ctxid bits. */
static void test_ctxids(void)
{
	omx_endpoint_param_t param = { .key = OMX_ENDPOINT_PARAM_CONTEXT_ID };
	const uint64_t cmask = 0xffULL << 56;
	omx_endpoint_addr_t self;
	omx_endpoint_t ep_d;
	omx_request_t r1, r2, s;
	omx_status_t st;
	uint32_t result;
	char b1[8], b2[8];
	int before = failures;

	param.val.context_id.bits = 17;
	CHECK(omx_open_endpoint(0, 3, KEY, &param, 1, &ep_d) == OMX_ENDPOINT_PARAM_BAD_VALUE);
	param.val.context_id.bits = 8;
	param.val.context_id.shift = 56;
	CHECK_RET(omx_open_endpoint(0, 3, KEY, &param, 1, &ep_d));
	CHECK_RET(omx_get_endpoint_addr(ep_d, &self));
	CHECK(omx_irecv(ep_d, b1, 8, 0, 0, NULL, &r1) == OMX_BAD_MATCHING_FOR_CONTEXT_ID_MASK);
	CHECK_RET(omx_irecv(ep_d, b1, 8, 1ULL << 56, cmask, (void *)1, &r1));
	CHECK_RET(omx_irecv(ep_d, b2, 8, 2ULL << 56, cmask, (void *)2, &r2));
	CHECK_RET(omx_isend(ep_d, "two", 4, self, (2ULL << 56) | 5, NULL, &s));
	CHECK(wait_req(ep_d, &s, &st));
	CHECK_RET(omx_test_any(ep_d, 1ULL << 56, cmask, &st, &result));
	CHECK(result == 0);                               /* ctxid 1 has nothing done */
	CHECK_RET(omx_test_any(ep_d, 2ULL << 56, cmask, &st, &result));
	CHECK(result == 1 && st.context == (void *)2 && !strcmp(b2, "two"));
	CHECK_RET(omx_cancel(ep_d, &r1, &result));
	CHECK(result == 1);
	CHECK_RET(omx_close_endpoint(ep_d));
	printf("context ids: %s\n", failures == before ? "ok" : "FAILED");
}

static void test_info(void)
{
	char str[128], addr_str[OMX_BOARD_ADDR_STRLEN];
	uint32_t v, count = 0, index, *values;
	uint64_t ids[4], parsed;
	omx_endpoint_addr_t addr;
	int before = failures;
	omx_return_t ret;

	CHECK_RET(omx_get_info(NULL, OMX_INFO_BOARD_COUNT, NULL, 0, &count, sizeof(count)));
	CHECK(count >= 1);
	CHECK_RET(omx_get_info(NULL, OMX_INFO_ENDPOINT_MAX, NULL, 0, &v, sizeof(v)));
	CHECK(v >= 4);
	CHECK_RET(omx_get_info(NULL, OMX_INFO_BOARD_IDS, NULL, 0, ids, sizeof(ids)));
	CHECK(ids[0] == nic);
	CHECK_RET(omx_get_info(ep_a, OMX_INFO_BOARD_HOSTNAME, NULL, 0, str, sizeof(str)));
	CHECK(str[0] != '\0');
	index = 0;
	CHECK_RET(omx_get_info(NULL, OMX_INFO_BOARD_IFACENAME, &index, sizeof(index), str, sizeof(str)));
	CHECK(omx_get_info(NULL, OMX_INFO_BOARD_IFACENAME, NULL, 0, str, sizeof(str)) == OMX_BAD_INFO_LENGTH);
	CHECK(omx_get_info(NULL, OMX_INFO_BOARD_COUNT, NULL, 0, str, 2) == OMX_BAD_INFO_LENGTH);
	CHECK(omx_get_info(NULL, (omx_info_key_t)99, NULL, 0, str, sizeof(str)) == OMX_BAD_INFO_KEY);
	CHECK_RET(omx_get_info(NULL, OMX_INFO_COUNTER_MAX, NULL, 0, &v, sizeof(v)));
	CHECK(v == OMX_COUNTER_INDEX_MAX);
	index = OMX_COUNTER_SEND_TINY;
	CHECK_RET(omx_get_info(NULL, OMX_INFO_COUNTER_LABEL, &index, sizeof(index), str, sizeof(str)));
	CHECK(!strcmp(str, "Send Tiny"));
	values = calloc(OMX_COUNTER_INDEX_MAX, sizeof(*values));
	CHECK_RET(omx_get_info(ep_a, OMX_INFO_COUNTER_VALUES, NULL, 0, values,
			       OMX_COUNTER_INDEX_MAX * sizeof(*values)));
	CHECK(values[OMX_COUNTER_SEND_TINY] > 0 && values[OMX_COUNTER_RECV_TINY] > 0);
	free(values);

	omx_board_addr_sprintf(addr_str, nic);
	CHECK(strlen(addr_str) == 17);
	CHECK_RET(omx_board_addr_sscanf(addr_str, &parsed));
	CHECK(parsed == nic);
	CHECK(omx_board_addr_sscanf("12:34", &parsed) != OMX_SUCCESS);
	CHECK_RET(omx_nic_id_to_board_number(nic, &index));
	CHECK(index == 0);
	CHECK(omx_nic_id_to_board_number(nic + 1, &index) == OMX_NIC_ID_NOT_FOUND);
	CHECK_RET(omx_nic_id_to_hostname(nic, str));
	CHECK_RET(omx_hostname_to_nic_id(str, &parsed));
	CHECK(parsed == nic);
	CHECK(omx_hostname_to_nic_id("no-such-host", &parsed) == OMX_PEER_NOT_FOUND);

	/* A peer added by hand: 127.0.0.2 on our base port, where nobody listens. */
	CHECK_RET(omx_add_peer(nic + (1ULL << 16), "fakepeer"));
	CHECK_RET(omx_hostname_to_nic_id("fakepeer", &parsed));
	CHECK(parsed == nic + (1ULL << 16));
	ret = omx_connect(ep_a, parsed, 0, KEY, 500, &addr);
	CHECK(ret == OMX_REMOTE_ENDPOINT_CLOSED || ret == OMX_TIMEOUT);
	printf("info: %s\n", failures == before ? "ok" : "FAILED");
}

/* ---- phase 2: faults ---------------------------------------------------- */

static void test_faults(int count)
{
	enum { WINDOW = 16, MAXLEN = 32768 };
	static uint8_t sbuf[WINDOW][MAXLEN], rbuf[WINDOW][MAXLEN];
	uint32_t *lens = calloc((size_t)count, sizeof(*lens));
	omx_request_t sreq[WINDOW], rreq[WINDOW];
	int sent = 0, posted = 0, received = 0, sdone = 0, i, before = failures;
	omx_status_t st;
	uint32_t result;
	time_t t0 = time(NULL);

	srand(1);
	for (i = 0; i < count; i++)
		lens[i] = (uint32_t)(rand() % 8 == 0 ? rand() % (MAXLEN + 1) : rand() % 9000);
	while (received < count && time(NULL) - t0 < 90) {
		while (posted < count && posted - received < WINDOW) {
			CHECK_RET(omx_irecv(ep_b, rbuf[posted % WINDOW], MAXLEN, 0, 0, NULL, &rreq[posted % WINDOW]));
			posted++;
		}
		while (sent < count && sent - sdone < WINDOW) {
			fill(sbuf[sent % WINDOW], lens[sent], (uint32_t)sent);
			CHECK_RET(omx_isend(ep_a, sbuf[sent % WINDOW], lens[sent], addr_ab, (uint64_t)sent, NULL,
					    &sreq[sent % WINDOW]));
			sent++;
		}
		result = 0;
		omx_wait(ep_b, &rreq[received % WINDOW], &st, &result, 100);
		if (result) {
			CHECK(st.code == OMX_SUCCESS && st.match_info == (uint64_t)received);
			CHECK(st.msg_length == lens[received]);
			CHECK(verify(rbuf[received % WINDOW], lens[received], (uint32_t)received));
			received++;
		}
		while (sdone < sent) {
			omx_test(ep_a, &sreq[sdone % WINDOW], &st, &result);
			if (!result)
				break;
			CHECK(st.code == OMX_SUCCESS);
			sdone++;
		}
		if (failures > before + 10)
			break;
	}
	CHECK(received == count);
	/* Exactly once: nothing else shows up. */
	usleep(200 * 1000);
	omx_progress(ep_b);
	CHECK_RET(omx_iprobe(ep_b, 0, 0, &st, &result));
	CHECK(result == 0);
	printf("faults: %d messages in %lds, resends %u early %u dup %u obsolete %u: %s\n", received,
	       (long)(time(NULL) - t0), ep_a->counters[OMX__CNT_RESEND], ep_b->counters[OMX__CNT_EARLY_STORED],
	       ep_b->counters[OMX__CNT_DROP_DUPLICATE] + ep_b->counters[OMX__CNT_DROP_EARLY_DUPLICATE],
	       ep_b->counters[OMX__CNT_DROP_OBSOLETE], failures == before ? "ok" : "FAILED");
	free(lens);
}

/* Two threads, each blocking on its own endpoint and nobody else
 * progressing: lost frames come back only through resends run when the
 * driver wakes a sleeping wait at desc->wakeup_jiffies. */
struct pp_arg {
	omx_endpoint_t ep;
	omx_endpoint_addr_t peer;
	int initiator;
	int rounds;
	int errors;
	volatile int *done;
};

static void *pingpong(void *arg)
{
	struct pp_arg *a = arg;
	static __thread uint8_t sbuf[20000], rbuf[20000];
	omx_request_t sreq, rreq;
	omx_status_t st;
	uint32_t result;
	int i;

	for (i = 0; i < a->rounds && a->errors < 5; i++) {
		size_t len = (size_t)(i * 7919) % sizeof(sbuf);

		fill(sbuf, len, (uint32_t)i + (a->initiator ? 0 : 50000));
		if (a->initiator) {
			omx_isend(a->ep, sbuf, len, a->peer, (uint64_t)i, NULL, &sreq);
			omx_irecv(a->ep, rbuf, sizeof(rbuf), (uint64_t)i, ~0ULL, NULL, &rreq);
			if (!wait_req(a->ep, &sreq, &st) || !wait_req(a->ep, &rreq, &st) ||
			    st.msg_length != len || !verify(rbuf, len, (uint32_t)i + 50000))
				a->errors++;
		} else {
			omx_irecv(a->ep, rbuf, sizeof(rbuf), (uint64_t)i, ~0ULL, NULL, &rreq);
			if (!wait_req(a->ep, &rreq, &st) || st.msg_length != len || !verify(rbuf, len, (uint32_t)i))
				a->errors++;
			omx_isend(a->ep, sbuf, len, a->peer, (uint64_t)i, NULL, &sreq);
			if (!wait_req(a->ep, &sreq, &st))
				a->errors++;
		}
	}
	/* Keep answering resends until the other side is done too. */
	__atomic_add_fetch(a->done, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(a->done, __ATOMIC_ACQUIRE) < 2) {
		omx_peek(a->ep, &sreq, &result, 2);
	}
	return NULL;
}

static void test_pingpong_blocking(int rounds)
{
	volatile int done = 0;
	struct pp_arg a = { ep_a, addr_ab, 1, rounds, 0, &done };
	struct pp_arg b = { ep_b, addr_ba, 0, rounds, 0, &done };
	pthread_t ta, tb;
	time_t t0 = time(NULL);

	pthread_create(&ta, NULL, pingpong, &a);
	pthread_create(&tb, NULL, pingpong, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.errors == 0 && b.errors == 0);
	printf("blocking ping-pong under faults: %d round trips in %lds, resends %u+%u: %s\n", rounds,
	       (long)(time(NULL) - t0), ep_a->counters[OMX__CNT_RESEND], ep_b->counters[OMX__CNT_RESEND],
	       a.errors || b.errors ? "FAILED" : "ok");
}

/* OMX_DISABLE_SELF=1: a message to ourselves takes the driver and the link. */
static void test_self_through_driver(void)
{
	static uint8_t sbuf[10000], rbuf[10000];
	omx_request_t s, r;
	omx_status_t st;
	int i, before = failures;

	CHECK_RET(omx_connect(ep_a, nic, 0, KEY, WAIT_MS, &addr_aa));
	for (i = 0; i < 20; i++) {
		size_t len = (size_t)(i * 499) % sizeof(sbuf);

		fill(sbuf, len, (uint32_t)i);
		CHECK_RET(omx_irecv(ep_a, rbuf, sizeof(rbuf), 0x5e1f, ~0ULL, NULL, &r));
		CHECK_RET(omx_isend(ep_a, sbuf, len, addr_aa, 0x5e1f, NULL, &s));
		CHECK(wait_req(ep_a, &r, &st) && st.msg_length == len && verify(rbuf, len, (uint32_t)i));
		CHECK(wait_req(ep_a, &s, &st));
	}
	printf("self through the driver: %s\n", failures == before ? "ok" : "FAILED");
}

/* ---- phase 3: lingering close ------------------------------------------ */

/*
 * A sends, its buffered sends complete at once, and A closes right away,
 * with its first frames lost: the close (OMX_LINGER_MS=1000) waits for the
 * resends and their acks, progressing B (nobody else does) meanwhile.
 * Then B stops answering: the close gives up after the linger time.
 */
static void test_linger(void)
{
	static uint8_t med[20000], rmed[20000], rbig[100000];
	static uint8_t big[100000];
	char words[16];
	omx_request_t s, r[3];
	omx_status_t st;
	struct timespec t0;
	uint32_t result;
	double ms;
	int i, before = failures;

	poller_start();
	connect_pair();
	poller_stop();                            /* from here on, only the close progresses B */
	lossy_install();
	lossy_set(0, LOSE_TINY, 1);
	lossy_set(0, LOSE_FRAG1, 1);
	lossy_set(0, LOSE_RNDV, 1);
	fill(med, sizeof(med), 31);
	fill(big, sizeof(big), 32);
	CHECK_RET(omx_irecv(ep_b, words, sizeof(words), 0x11, ~0ULL, NULL, &r[0]));
	CHECK_RET(omx_irecv(ep_b, rmed, sizeof(rmed), 0x12, ~0ULL, NULL, &r[1]));
	CHECK_RET(omx_irecv(ep_b, rbig, sizeof(rbig), 0x13, ~0ULL, NULL, &r[2]));
	CHECK_RET(omx_isend(ep_a, "last words", 11, addr_ab, 0x11, NULL, &s));
	CHECK_RET(omx_test(ep_a, &s, &st, &result));
	CHECK(result == 1);                       /* buffered: done before its ack */
	CHECK_RET(omx_isend(ep_a, med, sizeof(med), addr_ab, 0x12, NULL, NULL));
	CHECK_RET(omx_isend(ep_a, big, sizeof(big), addr_ab, 0x13, NULL, NULL));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RET(omx_close_endpoint(ep_a));
	ms = elapsed_ms(&t0);
	CHECK(ms < 1000);
	for (i = 0; i < 3; i++) {
		result = 0;
		CHECK_RET(omx_test(ep_b, &r[i], &st, &result));
		CHECK(result == 1 && st.code == OMX_SUCCESS);
	}
	CHECK(!strcmp(words, "last words"));
	CHECK(verify(rmed, sizeof(rmed), 31) && verify(rbig, sizeof(rbig), 32));
	printf("lingering close: 3 messages with lost frames delivered, close took %.0f ms: %s\n", ms,
	       failures == before ? "ok" : "FAILED");

	/* B silent: bounded by OMX_LINGER_MS. */
	before = failures;
	CHECK_RET(omx_open_endpoint(0, 0, KEY, NULL, 0, &ep_a));
	poller_start();
	connect_pair();
	poller_stop();
	CHECK_RET(omx_disable_progression(ep_b));
	CHECK_RET(omx_isend(ep_a, "unheard", 8, addr_ab, 0x14, NULL, NULL));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RET(omx_close_endpoint(ep_a));
	ms = elapsed_ms(&t0);
	CHECK(ms >= 900 && ms < 5000);
	CHECK_RET(omx_reenable_progression(ep_b));
	printf("lingering close to a silent peer: gave up after %.0f ms: %s\n", ms,
	       failures == before ? "ok" : "FAILED");
}

int main(void)
{
	const char *n = getenv("OMX_TEST_FAULT_COUNT"), *spec;

	setvbuf(stdout, NULL, _IONBF, 0);
	unsetenv("OMX_FAULT");
	unsetenv("OMX_LINGER_MS");
	if (start() < 0) {
		printf("cannot open two endpoints over udp on 127.0.0.1: skipped\n");
		return 77;
	}
	poller_start();
	test_connect();
	test_sizes();
	test_truncation();
	test_ordering();
	test_probe_any_peek();
	test_cancel();
	test_handler_and_self();
	test_errors();
	test_disconnect();
	test_restart();
	test_ctxids();
	test_info();
	test_wakeup();
	poller_stop();
	stop_pair();

	/* OMX_TEST_FAULT overrides the fault spec for manual soak runs. */
	spec = getenv("OMX_TEST_FAULT");
	setenv("OMX_FAULT", spec ? spec : "drop=0.1,dup=0.05,reorder=0.05,corrupt=0.01,seed=1", 1);
	setenv("OMX_RESEND_DELAY_MS", "20", 1);
	setenv("OMX_DISABLE_SELF", "1", 1);
	if (start() < 0) {
		printf("cannot reopen with OMX_FAULT\n");
		return 1;
	}
	poller_start();
	connect_pair();
	test_faults(n ? atoi(n) : 2000);
	test_self_through_driver();
	poller_stop();
	test_pingpong_blocking(300);
	omx_close_endpoint(ep_b);
	omx_close_endpoint(ep_a);
	omx_finalize();

	unsetenv("OMX_FAULT");
	unsetenv("OMX_DISABLE_SELF");
	setenv("OMX_RESEND_DELAY_MS", "50", 1);
	setenv("OMX_LINGER_MS", "1000", 1);
	if (start() < 0) {
		printf("cannot reopen for the lingering close\n");
		return 1;
	}
	test_linger();
	CHECK_RET(omx_close_endpoint(ep_b));
	CHECK_RET(omx_finalize());

	printf("test_lib_loop: %d checks, %d failed\n", checks, failures);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
