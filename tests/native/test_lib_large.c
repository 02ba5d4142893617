/*
 * test_lib_large.c - libopen-mx large messages end to end: two endpoints of
 * one process over the direct driver and the udp link on 127.0.0.1 (a
 * random high base port), a poller thread progressing both.
 *
 * Phase 1 (clean link): the rendezvous threshold, sizes from 32 KiB + 1 to
 * 64 MiB + 3 between unaligned buffers, issend of every size class, an
 * unexpected RNDV matched later, truncation on both sides, the unexpected
 * handler discarding a RNDV, 100 large messages in flight each way, more
 * than 128 large sends parked in order, a lost RNDV and a lost NOTIFY
 * resent well before the 500 ms resend delay, partner cleanup while pulling.
 * Phase 2 (OMX_FAULT drops, reorders, duplicates): 64 MiB byte-exact.
 * Phase 3 (short resends, OMX_RNDV_THRESHOLD=4096): the threshold override
 * and a peer endpoint closed (without lingering) in the middle of a pull;
 * then lost acks of a RNDV whose NOTIFY came first.
 * Phase 4: the intra-host path, when the driver has one.
 * Frames are lost on purpose by the lossy ops table of omx_test_util.h.
 * After each step every region is back and nothing is left in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 30000
#include "omx_test_util.h"

#define MiB (1u << 20)
#define BIG (64 * MiB + 3)

static uint8_t *sbig, *rbig;          /* big_max + 128 bytes each, used at odd offsets */
static size_t big_max = BIG;          /* OMX_TEST_LARGE_MAX raises it (up to 1 GiB and more) */
static uint32_t threshold = 32768;    /* the rendezvous threshold between A and B */

static int start(void)
{
	if (open_pair() < 0)
		return -1;
	poller_start();
	connect_pair();
	return 0;
}

static void stop(void)
{
	poller_stop();
	stop_pair();
}

static int untouched(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != 0xee)
			return 0;
	return 1;
}

/* Every region is free and nothing waits for one. */
static int quiet(omx_endpoint_t ep)
{
	int ok;

	omx__lock(ep);
	ok = ep->region_free_nr == OMX__REGION_MAX && ep->large_sends_avail == OMX__LARGE_SENDS_MAX &&
	     omx_list_empty(&ep->need_pull_q) && omx_list_empty(&ep->large_wait_q);
	omx__unlock(ep);
	return ok;
}

#define CHECK_QUIET() do { CHECK(quiet(ep_a)); CHECK(quiet(ep_b)); } while (0)

/* ---- phase 1 ---------------------------------------------------------- */

/* One message A -> B: len bytes from sbig+soff into rlen bytes at rbig+roff. */
static void transfer(size_t len, size_t rlen, size_t soff, size_t roff, int sync, int unexpected,
		     uint32_t seed)
{
	uint8_t *s = sbig + soff, *r = rbig + roff;
	uint64_t match = 0x1a00000000000000ULL | seed;
	size_t xfer = len < rlen ? len : rlen;
	omx_request_t sreq, rreq;
	omx_status_t st;
	uint32_t result;
	int before = failures;

	fill(s, len, seed);
	memset(r, 0xee, rlen + 64);
	if (!unexpected)
		CHECK_RET(omx_irecv(ep_b, r, rlen, match, ~0ULL, (void *)0x42, &rreq));
	CHECK_RET((sync ? omx_issend : omx_isend)(ep_a, s, len, addr_ab, match, (void *)0x24, &sreq));
	if (unexpected) {
		CHECK_RET(omx_probe(ep_b, match, ~0ULL, &st, &result, WAIT_MS));
		CHECK(result == 1 && st.msg_length == len && st.match_info == match);
		if (sync) {                /* not before the receiver matched it */
			usleep(2000);
			CHECK_RET(omx_test(ep_a, &sreq, &st, &result));
			CHECK(result == 0);
		}
		CHECK_RET(omx_irecv(ep_b, r, rlen, match, ~0ULL, (void *)0x42, &rreq));
	}
	CHECK(wait_req(ep_b, &rreq, &st));
	CHECK(st.msg_length == len && st.xfer_length == xfer);
	CHECK(st.code == (xfer < len ? OMX_MESSAGE_TRUNCATED : OMX_SUCCESS));
	if (failures != before)
		fprintf(stderr, "  receive: %s, %u of %u bytes\n", omx_strerror(st.code), st.xfer_length,
			st.msg_length);
	CHECK(st.match_info == match && st.context == (void *)0x42);
	CHECK(verify(r, xfer, seed));
	CHECK(untouched(r + xfer, rlen - xfer + 64));
	CHECK(wait_req(ep_a, &sreq, &st));
	if (failures != before)
		fprintf(stderr, "  send: %s, %u of %u bytes\n", omx_strerror(st.code), st.xfer_length,
			st.msg_length);
	CHECK(st.msg_length == len && st.context == (void *)0x24);
	if (sync || len > threshold) {   /* large: the sender learns what was taken */
		CHECK(st.xfer_length == xfer);
		CHECK(st.code == (xfer < len ? OMX_MESSAGE_TRUNCATED : OMX_SUCCESS));
	} else {                     /* buffered: it never learns */
		CHECK(st.code == OMX_SUCCESS && st.xfer_length == len);
	}
	if (failures != before)
		fprintf(stderr, "  (%zu into %zu, offsets %zu/%zu, %s%s)\n", len, rlen, soff, roff,
			sync ? "issend, " : "", unexpected ? "unexpected" : "expected");
}

static void test_threshold(void)
{
	omx_request_t s1, s2, r1, r2;
	omx_status_t st;
	int before = failures;

	CHECK_RET(omx_irecv(ep_b, rbig, 65536, 1, ~0ULL, NULL, &r1));
	CHECK_RET(omx_irecv(ep_b, rbig + 65536, 65536, 2, ~0ULL, NULL, &r2));
	CHECK_RET(omx_isend(ep_a, sbig, threshold, addr_ab, 1, NULL, &s1));
	CHECK_RET(omx_isend(ep_a, sbig, threshold + 1, addr_ab, 2, NULL, &s2));
	CHECK(req_type(ep_a, s1) == OMX__REQ_SEND_MEDIUMSQ);
	CHECK(req_type(ep_a, s2) == OMX__REQ_SEND_LARGE);
	CHECK(wait_req(ep_b, &r1, &st) && st.xfer_length == threshold);
	CHECK(wait_req(ep_b, &r2, &st) && st.xfer_length == threshold + 1);
	CHECK(wait_req(ep_a, &s1, &st) && wait_req(ep_a, &s2, &st));
	/* The wire carries 32-bit lengths. */
	CHECK(omx_isend(ep_a, sbig, (size_t)UINT32_MAX + 1, addr_ab, 3, NULL, &s1) == OMX_NOT_IMPLEMENTED);
	CHECK_QUIET();
	printf("threshold %u: %s\n", threshold, failures == before ? "ok" : "FAILED");
}

static void test_sizes(void)
{
	static const size_t lens[] = { 32769, 100000, MiB, 4 * MiB + 1, BIG };
	int before = failures;
	struct timespec t0, t1;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		transfer(lens[i], lens[i], 1 + i % 7, 3 + i % 5, 0, 0, (uint32_t)i);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (lens[i] == BIG)
			printf("sizes: 64 MiB + 3 in %.3f s\n",
			       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
		if (lens[i] < 8 * MiB)
			transfer(lens[i], lens[i] + 100, 5, 2, 0, 1, (uint32_t)i + 100);
	}
	if (big_max > BIG) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		transfer(big_max, big_max, 1, 3, 0, 0, 111);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("sizes: %zu bytes in %.3f s\n", big_max,
		       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
	}
	CHECK_QUIET();
	printf("sizes: %s\n", failures == before ? "ok" : "FAILED");
}

static void test_issend(void)
{
	static const size_t lens[] = { 0, 1, 32, 33, 128, 129, 5000, 32768, 32769, 300000 };
	omx_request_t sreq;
	int before = failures;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		transfer(lens[i], lens[i], 1, 1, 1, 0, 200 + (uint32_t)i);
		transfer(lens[i], lens[i] + 7, 0, 3, 1, 1, 300 + (uint32_t)i);
	}
	/* Every issend is large. */
	CHECK_RET(omx_issend(ep_a, sbig, 1, addr_ab, 0x77, NULL, &sreq));
	CHECK(req_type(ep_a, sreq) == OMX__REQ_SEND_LARGE);
	CHECK_RET(omx_forget(ep_a, &sreq));
	{
		omx_request_t rreq;
		omx_status_t st;

		CHECK_RET(omx_irecv(ep_b, rbig, 1, 0x77, ~0ULL, NULL, &rreq));
		CHECK(wait_req(ep_b, &rreq, &st) && st.code == OMX_SUCCESS);
	}
	usleep(50 * 1000);
	CHECK_QUIET();
	printf("issend: %s\n", failures == before ? "ok" : "FAILED");
}

static void test_truncation(void)
{
	static const size_t lens[] = { 10, 120, 20000, 40000, MiB };
	int before = failures;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		transfer(lens[i], lens[i] / 2, 1, 2, 0, 0, 400 + (uint32_t)i);
		transfer(lens[i], lens[i] / 2, 3, 0, 0, 1, 410 + (uint32_t)i);
		transfer(lens[i], 0, 0, 0, 0, 0, 420 + (uint32_t)i);
		transfer(lens[i], lens[i] / 3, 0, 1, 1, 0, 430 + (uint32_t)i);
	}
	transfer(0, 0, 0, 0, 1, 1, 440);
	CHECK_QUIET();
	printf("truncation: %s\n", failures == before ? "ok" : "FAILED");
}

static int handler_calls, handler_data;

/* 0xd15c: discard.  0xc0de: post a 0-byte receive, forget it, continue.
 * Anything else: continue (kept as unexpected). */
static omx_unexp_handler_action_t handler(void *ctx, omx_endpoint_addr_t src, uint64_t match,
					  uint32_t msg_length, void *data)
{
	omx_request_t r;

	(void)ctx, (void)src, (void)msg_length;
	__atomic_store_n(&handler_data, data != NULL, __ATOMIC_RELAXED);
	__atomic_add_fetch(&handler_calls, 1, __ATOMIC_RELEASE);
	if (match == 0xd15c)
		return OMX_UNEXP_HANDLER_RECV_FINISHED;
	if (match == 0xc0de && omx_irecv(ep_b, NULL, 0, match, ~0ULL, NULL, &r) == OMX_SUCCESS)
		omx_forget(ep_b, &r);
	return OMX_UNEXP_HANDLER_RECV_CONTINUE;
}

/* As omx_unexp_handler_test: data is handed over only for non-sync
 * single-fragment messages; a discarded (or 0-byte received) large message
 * completes TRUNCATED at the sender, any other isend SUCCESS. */
static void test_handler(void)
{
	static const size_t lens[] = { 0, 16, 100, 1024, 10000, MiB };
	static const uint64_t modes[] = { 0xd15c, 0xc0de };
	omx_request_t sreq;
	omx_status_t st;
	uint32_t result;
	int before = failures;

	CHECK_RET(omx_register_unexp_handler(ep_b, handler, NULL));
	for (size_t m = 0; m < 2; m++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (int sync = 0; sync < 2; sync++) {
				int calls = __atomic_load_n(&handler_calls, __ATOMIC_ACQUIRE), large, t;

				large = sync || lens[i] > threshold;
				CHECK_RET((sync ? omx_issend : omx_isend)(ep_a, sbig, lens[i], addr_ab, modes[m], NULL,
									  &sreq));
				CHECK(wait_req(ep_a, &sreq, &st));
				CHECK(st.msg_length == lens[i]);
				CHECK(st.code == (large && lens[i] ? OMX_MESSAGE_TRUNCATED : OMX_SUCCESS));
				if (large)
					CHECK(st.xfer_length == 0);
				for (t = 0; t < 5000 && __atomic_load_n(&handler_calls, __ATOMIC_ACQUIRE) == calls; t++)
					usleep(1000);
				CHECK(__atomic_load_n(&handler_calls, __ATOMIC_ACQUIRE) == calls + 1);
				CHECK(__atomic_load_n(&handler_data, __ATOMIC_RELAXED) == (!sync && lens[i] <= 8192));
			}
		}
	}
	transfer(50000, 50000, 1, 1, 0, 1, 450);          /* CONTINUE: kept as unexpected */
	transfer(3000, 3000, 1, 1, 1, 1, 451);
	CHECK_RET(omx_register_unexp_handler(ep_b, NULL, NULL));
	usleep(20 * 1000);
	CHECK_RET(omx_iprobe(ep_b, 0, 0, &st, &result));
	CHECK(result == 0);
	CHECK_QUIET();
	printf("handler: %s\n", failures == before ? "ok" : "FAILED");
}

/* N large messages each way at once, receives posted for half of them. */
static void test_in_flight(void)
{
	enum { N = 100, LEN = 65536 + 5 };
	uint8_t *abuf = sbig, *bbuf = sbig + (size_t)N * LEN, *ra = rbig, *rb = rbig + (size_t)N * LEN;
	omx_request_t sa[N], sb[N], rqa[N], rqb[N];
	omx_status_t st;
	int i, before = failures;

	for (i = 0; i < N; i++) {
		fill(abuf + (size_t)i * LEN, LEN, 1000 + (uint32_t)i);
		fill(bbuf + (size_t)i * LEN, LEN, 2000 + (uint32_t)i);
	}
	for (i = 0; i < N / 2; i++) {
		CHECK_RET(omx_irecv(ep_b, rb + (size_t)i * LEN, LEN, (uint64_t)i, ~0ULL, NULL, &rqb[i]));
		CHECK_RET(omx_irecv(ep_a, ra + (size_t)i * LEN, LEN, (uint64_t)i, ~0ULL, NULL, &rqa[i]));
	}
	for (i = 0; i < N; i++) {
		CHECK_RET(omx_isend(ep_a, abuf + (size_t)i * LEN, LEN, addr_ab, (uint64_t)i, NULL, &sa[i]));
		CHECK_RET(omx_isend(ep_b, bbuf + (size_t)i * LEN, LEN, addr_ba, (uint64_t)i, NULL, &sb[i]));
	}
	for (i = N / 2; i < N; i++) {
		CHECK_RET(omx_irecv(ep_b, rb + (size_t)i * LEN, LEN, (uint64_t)i, ~0ULL, NULL, &rqb[i]));
		CHECK_RET(omx_irecv(ep_a, ra + (size_t)i * LEN, LEN, (uint64_t)i, ~0ULL, NULL, &rqa[i]));
	}
	for (i = 0; i < N; i++) {
		CHECK(wait_req(ep_b, &rqb[i], &st) && st.code == OMX_SUCCESS);
		CHECK(verify(rb + (size_t)i * LEN, LEN, 1000 + (uint32_t)i));
		CHECK(wait_req(ep_a, &rqa[i], &st) && st.code == OMX_SUCCESS);
		CHECK(verify(ra + (size_t)i * LEN, LEN, 2000 + (uint32_t)i));
	}
	for (i = 0; i < N; i++) {
		CHECK(wait_req(ep_a, &sa[i], &st) && st.code == OMX_SUCCESS && st.xfer_length == LEN);
		CHECK(wait_req(ep_b, &sb[i], &st) && st.code == OMX_SUCCESS && st.xfer_length == LEN);
	}
	CHECK_QUIET();
	printf("%d large in flight each way: %s\n", N, failures == before ? "ok" : "FAILED");
}

/* More large sends than regions allow, all unexpected at first, small
 * sends in between: the excess waits for regions and order holds. */
static void test_parked_order(void)
{
	enum { N = 300, LEN = 40000 };
	static omx_request_t sreq[N], rreq[N];
	omx_status_t st;
	uint32_t waits;
	int i, before = failures;

	omx__lock(ep_a);
	waits = ep_a->counters[OMX__CNT_LARGE_SEND_WAIT];
	omx__unlock(ep_a);
	for (i = 0; i < N; i++) {
		size_t len = i % 3 == 2 ? 17 : LEN;

		CHECK_RET(omx_isend(ep_a, sbig + (size_t)i * 7, len, addr_ab, (uint64_t)i, NULL, &sreq[i]));
	}
	omx__lock(ep_a);
	CHECK(ep_a->large_sends_avail == 0 && ep_a->counters[OMX__CNT_LARGE_SEND_WAIT] > waits);
	omx__unlock(ep_a);
	for (i = 0; i < N; i++)   /* wildcard receives: matched in send order */
		CHECK_RET(omx_irecv(ep_b, rbig + (size_t)i * LEN, LEN, 0, 0, NULL, &rreq[i]));
	for (i = 0; i < N; i++) {
		CHECK(wait_req(ep_b, &rreq[i], &st) && st.code == OMX_SUCCESS);
		CHECK(st.match_info == (uint64_t)i && st.msg_length == (i % 3 == 2 ? 17u : LEN));
		CHECK(!memcmp(rbig + (size_t)i * LEN, sbig + (size_t)i * 7, st.msg_length));
	}
	for (i = 0; i < N; i++)
		CHECK(wait_req(ep_a, &sreq[i], &st) && st.code == OMX_SUCCESS);
	CHECK_QUIET();
	printf("%d sends past the region limit, in order: %s\n", N, failures == before ? "ok" : "FAILED");
}

/*
 * A lost RNDV (or NOTIFY) stalls a large message (or its sender's
 * completion) until it is resent: at the default resend delay of 500 ms,
 * that resend must come from the measured round trip instead.  Best of 3
 * against a noisy host; the delay itself is the bound.
 */
static void test_lost_rndv_notify(void)
{
	static const int kinds[2][2] = { { 0, LOSE_RNDV }, { 1, LOSE_NOTIFY } };
	double best[2] = { 1e9, 1e9 };
	uint32_t early = counter(ep_a, OMX__CNT_RESEND_EARLY) + counter(ep_b, OMX__CNT_RESEND_EARLY);
	int before = failures;

	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 3; i++) {
			struct timespec t0;
			double ms;

			lossy_set(kinds[k][0], (enum lose_kind)kinds[k][1], 1);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			transfer(100000, 100000, 1, 1, 0, 0, 470 + (uint32_t)(k * 3 + i));
			ms = elapsed_ms(&t0);
			CHECK(lossy_lost(kinds[k][0], (enum lose_kind)kinds[k][1]) == 1);
			if (ms < best[k])
				best[k] = ms;
		}
	}
	CHECK(best[0] < 400 && best[1] < 400);
	CHECK(counter(ep_a, OMX__CNT_RESEND_EARLY) + counter(ep_b, OMX__CNT_RESEND_EARLY) > early);
	CHECK_QUIET();
	printf("lost RNDV: done in %.0f ms, lost NOTIFY: %.0f ms (resend delay 500 ms): %s\n", best[0], best[1],
	       failures == before ? "ok" : "FAILED");
}

/*
 * Partner cleanup: B gives up on A while pulling (its buffer must not change
 * afterwards), A gives up on B while waiting for the NOTIFY, and an
 * unexpected RNDV whose send was aborted pulls BAD_RDMAWIN.  No poller:
 * this test decides who progresses.
 */
static void test_cleanup(void)
{
	omx_request_t sreq, rreq;
	omx_status_t st;
	uint32_t result, sum0, sum1;
	int i, before = failures;

	poller_stop();
	fill(sbig, BIG, 7);
	memset(rbig, 0xee, BIG);
	CHECK_RET(omx_irecv(ep_b, rbig, BIG, 0xc1, ~0ULL, NULL, &rreq));
	CHECK_RET(omx_isend(ep_a, sbig, BIG, addr_ab, 0xc1, NULL, &sreq));
	for (i = 0; i < 20000 && !(req_state(ep_b, rreq) & OMX__REQ_DRIVER_PULLING); i++) {
		omx_progress(ep_a);
		omx_progress(ep_b);
	}
	CHECK(req_state(ep_b, rreq) & OMX__REQ_DRIVER_PULLING);
	omx_progress(ep_a);
	omx_progress(ep_b);
	CHECK_RET(omx_disconnect(ep_b, addr_ba));
	CHECK_RET(omx_test(ep_b, &rreq, &st, &result));
	CHECK(result == 1 && st.code == OMX_REMOTE_ENDPOINT_UNREACHABLE && st.xfer_length == 0);
	sum0 = 0;
	for (size_t k = 0; k < BIG; k += 4096)
		sum0 = sum0 * 31 + rbig[k];
	for (i = 0; i < 300; i++) {            /* replies in flight land nowhere */
		omx_progress(ep_a);
		omx_progress(ep_b);
		usleep(200);
	}
	sum1 = 0;
	for (size_t k = 0; k < BIG; k += 4096)
		sum1 = sum1 * 31 + rbig[k];
	CHECK(sum0 == sum1);
	CHECK_RET(omx_test(ep_a, &sreq, &st, &result));
	CHECK(result == 0);                    /* still waiting for the NOTIFY */
	CHECK_RET(omx_disconnect(ep_a, addr_ab));
	CHECK_RET(omx_test(ep_a, &sreq, &st, &result));
	CHECK(result == 1 && st.code == OMX_REMOTE_ENDPOINT_UNREACHABLE);
	CHECK_QUIET();
	poller_start();
	connect_pair();

	/* A RNDV left unexpected whose sender gave up: the pull is refused. */
	CHECK_RET(omx_isend(ep_a, sbig, 100000, addr_ab, 0xc2, NULL, &sreq));
	CHECK_RET(omx_probe(ep_b, 0xc2, ~0ULL, &st, &result, WAIT_MS));
	CHECK(result == 1);
	usleep(100 * 1000);                   /* the ack reaches A: only the NOTIFY is missing */
	CHECK_RET(omx_disconnect(ep_a, addr_ab));
	CHECK(wait_req(ep_a, &sreq, &st) && st.code == OMX_REMOTE_ENDPOINT_UNREACHABLE);
	CHECK_RET(omx_irecv(ep_b, rbig, 100000, 0xc2, ~0ULL, NULL, &rreq));
	CHECK(wait_req(ep_b, &rreq, &st) && st.code == OMX_REMOTE_RDMA_WINDOW_BAD_ID);
	CHECK(st.msg_length == 100000 && st.xfer_length == 0);
	connect_pair();
	transfer(MiB, MiB, 1, 1, 0, 0, 460);
	CHECK_QUIET();
	printf("partner cleanup: %s\n", failures == before ? "ok" : "FAILED");
}

/* ---- phase 2: faults -------------------------------------------------- */

/* OMX_DISABLE_SELF=1: a large message to ourselves takes the driver, which
 * pulls from the endpoint's own region. */
static void test_self_large(void)
{
	omx_endpoint_addr_t addr_aa;
	omx_request_t s, r;
	omx_status_t st;

	CHECK_RET(omx_connect(ep_a, nic, 0, KEY, WAIT_MS, &addr_aa));
	fill(sbig + 1, 2 * MiB + 1, 540);
	memset(rbig, 0xee, 2 * MiB + 64);
	CHECK_RET(omx_irecv(ep_a, rbig, 2 * MiB + 1, 0x5e1f, ~0ULL, NULL, &r));
	CHECK_RET(omx_isend(ep_a, sbig + 1, 2 * MiB + 1, addr_aa, 0x5e1f, NULL, &s));
	CHECK(req_type(ep_a, s) == OMX__REQ_SEND_LARGE);
	CHECK(wait_req(ep_a, &r, &st) && st.code == OMX_SUCCESS && st.xfer_length == 2 * MiB + 1);
	CHECK(verify(rbig, 2 * MiB + 1, 540) && untouched(rbig + 2 * MiB + 1, 63));
	CHECK(wait_req(ep_a, &s, &st) && st.code == OMX_SUCCESS);
	CHECK_RET(omx_irecv(ep_a, rbig, 5, 0x5e1f, ~0ULL, NULL, &r));
	CHECK_RET(omx_issend(ep_a, sbig + 1, 10, addr_aa, 0x5e1f, NULL, &s));
	CHECK(wait_req(ep_a, &r, &st) && st.code == OMX_MESSAGE_TRUNCATED && st.xfer_length == 5);
	CHECK(wait_req(ep_a, &s, &st) && st.code == OMX_MESSAGE_TRUNCATED && st.xfer_length == 5);
}

static void test_faults(void)
{
	static uint32_t c[OMX_COUNTER_INDEX_MAX];
	int before = failures;
	time_t t0 = time(NULL);
	uint32_t rereq;

	transfer(BIG, BIG, 3, 1, 0, 0, 500);
	/* Stop at the first failure: the next ones would only wait out WAIT_MS. */
	for (uint32_t i = 0; i < 20 && failures == before; i++)
		transfer(i * 7919 + 32769 * (i & 1), 70000, i % 4, 1, (int)(i % 3 == 0), (int)(i & 2), 510 + i);
	if (failures != before) {
		dump_counters(ep_a, "A");
		dump_counters(ep_b, "B");
		if (omx_get_info(ep_b, OMX_INFO_COUNTER_VALUES, NULL, 0, c, sizeof(c)) == OMX_SUCCESS)
			for (unsigned k = 0; k < OMX_COUNTER_INDEX_MAX; k++)
				if (c[k])
					fprintf(stderr, "  driver: %s %u\n", omx_abi_counter_label(k), c[k]);
		fprintf(stderr, "  after %lds\n", (long)(time(NULL) - t0));
		return;
	}
	transfer(MiB, MiB / 2, 0, 0, 0, 1, 530);
	test_self_large();
	CHECK_QUIET();
	CHECK_RET(omx_get_info(ep_b, OMX_INFO_COUNTER_VALUES, NULL, 0, c, sizeof(c)));
	rereq = c[OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK] + c[OMX_COUNTER_PULL_TIMEOUT_HANDLER_NONFIRST_BLOCK] +
		c[OMX_COUNTER_PULL_REQUEST_NOTONLYFIRST_BLOCKS];
	CHECK(rereq > 0);             /* the faults really hit the pulls */
	printf("faults: 64 MiB + 3 and 22 others in %lds, lib resends %u+%u, pull re-requests %u, "
	       "duplicate replies %u: %s\n", (long)(time(NULL) - t0), ep_a->counters[OMX__CNT_RESEND],
	       ep_b->counters[OMX__CNT_RESEND], rereq, c[OMX_COUNTER_DROP_PULL_REPLY_DUPLICATE],
	       failures == before ? "ok" : "FAILED");
}

/* ---- phase 3: short resends ------------------------------------------ */

static void test_threshold_env(void)
{
	omx_request_t s;
	omx_status_t st;
	int before = failures;

	CHECK_RET(omx_isend(ep_a, sbig, 4096, addr_ab, 0x7e, NULL, &s));
	CHECK(req_type(ep_a, s) == OMX__REQ_SEND_MEDIUMSQ);
	CHECK_RET(omx_forget(ep_a, &s));
	CHECK_RET(omx_isend(ep_a, sbig, 4097, addr_ab, 0x7e, NULL, &s));
	CHECK(req_type(ep_a, s) == OMX__REQ_SEND_LARGE);
	CHECK_RET(omx_forget(ep_a, &s));
	CHECK_RET(omx_irecv(ep_b, rbig, 4096, 0x7e, ~0ULL, NULL, &s));
	CHECK(wait_req(ep_b, &s, &st) && st.msg_length == 4096);
	CHECK_RET(omx_irecv(ep_b, rbig, 4097, 0x7e, ~0ULL, NULL, &s));
	CHECK(wait_req(ep_b, &s, &st) && st.msg_length == 4097);
	transfer(4096, 4096, 0, 0, 0, 1, 600);
	transfer(4097, 4097, 0, 0, 0, 1, 601);
	printf("OMX_RNDV_THRESHOLD=4096: %s\n", failures == before ? "ok" : "FAILED");
}

/* A (the data owner) closes while B pulls: B fails, in bounded time. */
static void test_closed_peer(void)
{
	omx_request_t rreq, sreq;
	omx_status_t st;
	time_t t0;
	int i, before = failures;

	poller_stop();
	fill(sbig, BIG, 9);
	CHECK_RET(omx_irecv(ep_b, rbig, BIG, 0xc3, ~0ULL, NULL, &rreq));
	CHECK_RET(omx_isend(ep_a, sbig, BIG, addr_ab, 0xc3, NULL, &sreq));
	for (i = 0; i < 20000 && !(req_state(ep_b, rreq) & OMX__REQ_DRIVER_PULLING); i++) {
		omx_progress(ep_a);
		omx_progress(ep_b);
	}
	CHECK(req_state(ep_b, rreq) & OMX__REQ_DRIVER_PULLING);
	omx_progress(ep_a);
	omx_progress(ep_b);
	CHECK_RET(omx_close_endpoint(ep_a));
	t0 = time(NULL);
	CHECK(wait_req(ep_b, &rreq, &st));
	CHECK(st.code == OMX_REMOTE_ENDPOINT_CLOSED || st.code == OMX_REMOTE_ENDPOINT_UNREACHABLE);
	CHECK(st.xfer_length == 0 && time(NULL) - t0 <= 10);
	CHECK(quiet(ep_b));
	printf("peer closed during a pull: %s after %lds: %s\n", omx_strerror(st.code), (long)(time(NULL) - t0),
	       failures == before ? "ok" : "FAILED");
}

/* ---- phase 3b: lost acks ----------------------------------------------- */

/*
 * A RNDV answered by a NOTIFY from inside its own processing (nothing to
 * pull: 0 bytes, a 0-byte buffer, a discard): with every liback of B lost,
 * only the NOTIFY's piggyback can ack the RNDV.
 */
static void test_notify_acks_rndv(void)
{
	omx_request_t sreq, rreq;
	omx_status_t st;
	int before = failures;

	lossy_set(1, LOSE_LIBACK, 1000000);
	CHECK_RET(omx_irecv(ep_b, rbig, 70000, 0xa0, ~0ULL, NULL, &rreq));
	CHECK_RET(omx_issend(ep_a, sbig, 0, addr_ab, 0xa0, NULL, &sreq));
	CHECK(wait_req(ep_b, &rreq, &st) && st.code == OMX_SUCCESS);
	CHECK(wait_req(ep_a, &sreq, &st) && st.code == OMX_SUCCESS);
	CHECK_RET(omx_irecv(ep_b, rbig, 0, 0xa1, ~0ULL, NULL, &rreq));
	CHECK_RET(omx_isend(ep_a, sbig, 70000, addr_ab, 0xa1, NULL, &sreq));
	CHECK(wait_req(ep_b, &rreq, &st) && st.code == OMX_MESSAGE_TRUNCATED);
	CHECK(wait_req(ep_a, &sreq, &st) && st.code == OMX_MESSAGE_TRUNCATED && st.xfer_length == 0);
	CHECK_RET(omx_register_unexp_handler(ep_b, handler, NULL));
	CHECK_RET(omx_isend(ep_a, sbig, 70000, addr_ab, 0xd15c, NULL, &sreq));
	CHECK(wait_req(ep_a, &sreq, &st) && st.code == OMX_MESSAGE_TRUNCATED);
	CHECK_RET(omx_register_unexp_handler(ep_b, NULL, NULL));
	lossy_set(1, LOSE_LIBACK, 0);
	transfer(70000, 70000, 1, 1, 0, 0, 700);
	CHECK_QUIET();
	printf("a NOTIFY sent at once acks its RNDV: %s\n", failures == before ? "ok" : "FAILED");
}

/*
 * The NOTIFY cannot ack the RNDV when a medium before it is incomplete
 * (a fragment lost), and B's one liback after the resent fragment is lost:
 * the RNDV, completed by its NOTIFY but unacked, must still go out again
 * so that B, seeing its last seqnum twice, acks at once.
 */
static void test_resent_rndv_after_notify(void)
{
	omx_request_t s1, s2, r1, r2;
	omx_status_t st;
	uint32_t resends = counter(ep_a, OMX__CNT_RESEND);
	int before = failures;

	fill(sbig, 20000, 710);
	lossy_set(1, LOSE_LIBACK, 1);
	lossy_set(0, LOSE_FRAG1, 1);
	CHECK_RET(omx_irecv(ep_b, rbig, 20000, 0xb0, ~0ULL, NULL, &r1));
	CHECK_RET(omx_irecv(ep_b, rbig + 20000, 70000, 0xb1, ~0ULL, NULL, &r2));
	CHECK_RET(omx_isend(ep_a, sbig, 20000, addr_ab, 0xb0, NULL, &s1));
	CHECK(req_type(ep_a, s1) == OMX__REQ_SEND_MEDIUMSQ);
	CHECK_RET(omx_issend(ep_a, sbig, 0, addr_ab, 0xb1, NULL, &s2));
	CHECK(wait_req(ep_b, &r2, &st) && st.code == OMX_SUCCESS);
	CHECK(wait_req(ep_b, &r1, &st) && st.code == OMX_SUCCESS && verify(rbig, 20000, 710));
	CHECK(wait_req(ep_a, &s1, &st) && st.code == OMX_SUCCESS);
	CHECK(wait_req(ep_a, &s2, &st) && st.code == OMX_SUCCESS);
	CHECK(lossy_lost(0, LOSE_FRAG1) == 1 && lossy_lost(1, LOSE_LIBACK) == 1);
	CHECK(counter(ep_a, OMX__CNT_RESEND) > resends);
	transfer(70000, 70000, 1, 1, 0, 0, 720);
	CHECK_QUIET();
	printf("an unacked RNDV is resent after its NOTIFY: %s\n", failures == before ? "ok" : "FAILED");
}

/* ---- phase 4: the intra-host path -------------------------------------- */

/* Two endpoints of one host: with a driver that has a shared path, the
 * same-host threshold applies and the pull is a copy between regions. */
static void test_shared(void)
{
	struct omx__partner *partner = omx__partner_from_addr(&addr_ab);
	int before = failures, shared;

	omx__lock(ep_a);
	shared = partner->shared;
	omx__unlock(ep_a);
	if (!shared) {
		printf("shared: the driver has no intra-host path: skipped\n");
		return;
	}
	threshold = 4096;
	test_threshold();
	test_sizes();
	test_issend();
	test_truncation();
	test_handler();
	test_in_flight();
	test_parked_order();
	printf("shared: %s\n", failures == before ? "ok" : "FAILED");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (getenv("OMX_TEST_LARGE_MAX") && strtoull(getenv("OMX_TEST_LARGE_MAX"), NULL, 0) > BIG)
		big_max = strtoull(getenv("OMX_TEST_LARGE_MAX"), NULL, 0);
	sbig = malloc(big_max + 128);
	rbig = malloc(big_max + 128);
	if (!sbig || !rbig)
		return 1;
	unsetenv("OMX_FAULT");
	unsetenv("OMX_DISABLE_SELF");
	unsetenv("OMX_RESENDS_MAX");
	unsetenv("OMX_RESEND_DELAY_MS");
	unsetenv("OMX_RNDV_THRESHOLD");
	unsetenv("OMX_SHARED_RNDV_THRESHOLD");
	unsetenv("OMX_LINGER_MS");
	/* Phases 1-3 test the pull over the link; phase 4 the intra-host path. */
	setenv("OMX_DISABLE_SHARED", "1", 1);
	if (start() < 0) {
		printf("cannot open two endpoints over udp on 127.0.0.1: skipped\n");
		return 77;
	}
	test_threshold();
	test_sizes();
	test_issend();
	test_truncation();
	test_handler();
	test_in_flight();
	test_parked_order();
	lossy_install();
	test_lost_rndv_notify();
	test_cleanup();
	stop();

	setenv("OMX_FAULT", "drop=0.05,reorder=0.05,dup=0.02,seed=3", 1);
	setenv("OMX_RESEND_DELAY_MS", "20", 1);
	setenv("OMX_DISABLE_SELF", "1", 1);
	if (start() < 0)
		return 1;
	test_faults();
	stop();

	unsetenv("OMX_FAULT");
	unsetenv("OMX_DISABLE_SELF");
	setenv("OMX_RESEND_DELAY_MS", "50", 1);
	setenv("OMX_RESENDS_MAX", "20", 1);
	setenv("OMX_RNDV_THRESHOLD", "4096", 1);
	setenv("OMX_LINGER_MS", "0", 1);      /* A's close must not wait for B's pull */
	if (start() < 0)
		return 1;
	test_threshold_env();
	test_closed_peer();
	CHECK_RET(omx_close_endpoint(ep_b));
	CHECK_RET(omx_finalize());

	unsetenv("OMX_RNDV_THRESHOLD");
	unsetenv("OMX_LINGER_MS");
	if (start() < 0)
		return 1;
	lossy_install();
	test_notify_acks_rndv();
	test_resent_rndv_after_notify();
	stop();

	unsetenv("OMX_RESEND_DELAY_MS");
	unsetenv("OMX_RESENDS_MAX");
	unsetenv("OMX_DISABLE_SHARED");
	if (start() < 0)
		return 1;
	test_shared();
	stop();

	free(sbig);
	free(rbig);
	printf("test_lib_large: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
