/*
 * omx_test_util.h - the harness of test_lib_loop.c and test_lib_large.c:
 * CHECK macros, two endpoints A (index 0) and B (index 1) of one process
 * over the direct driver and the udp link on a random base port of
 * 127.0.0.1, a poller thread progressing both, data patterns, white-box
 * looks at requests, and a lossy ops table that loses chosen frames at the
 * library's driver boundary.
 *
 * Recipe: #define WAIT_MS (and POLL_US, the poller's nap, if not 20), then
 * include this file; open_pair() (retries other ports), connect_pair() for
 * addr_ab/addr_ba, poller_start()/poller_stop() around what wants
 * background progress (stop it before closing an endpoint), stop_pair().
 * lossy_install() after open_pair() puts the lossy table in front of both
 * endpoints; lossy_set() arms it.  Every helper is static: a test uses what
 * it needs.
 */
#ifndef OMX_TEST_UTIL_H
#define OMX_TEST_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "omx_lib.h"

#ifndef WAIT_MS
#error "define WAIT_MS before including omx_test_util.h"
#endif
#ifndef POLL_US
#define POLL_US 20
#endif

#define KEY 0x12345678u
#define TU_UNUSED __attribute__((unused))

static int failures, checks;

#define CHECK(cond) do { \
	checks++; \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)
#define CHECK_RET(expr) do { \
	omx_return_t r_ = (expr); \
	checks++; \
	if (r_ != OMX_SUCCESS) { \
		failures++; \
		fprintf(stderr, "%s:%d: %s returned %s\n", __FILE__, __LINE__, #expr, omx_strerror(r_)); \
	} \
} while (0)

static omx_endpoint_t ep_a, ep_b;
static uint64_t nic;
static omx_endpoint_addr_t addr_ab, addr_ba;

/* ---- poller ------------------------------------------------------------ */

static volatile int poll_run;
static pthread_t poll_thread;

static void *poller(void *arg)
{
	struct timespec ts = { 0, POLL_US * 1000 };

	(void)arg;
	while (__atomic_load_n(&poll_run, __ATOMIC_ACQUIRE)) {
		omx_progress(ep_a);
		omx_progress(ep_b);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static TU_UNUSED void poller_start(void)
{
	__atomic_store_n(&poll_run, 1, __ATOMIC_RELEASE);
	pthread_create(&poll_thread, NULL, poller, NULL);
}

static TU_UNUSED void poller_stop(void)
{
	__atomic_store_n(&poll_run, 0, __ATOMIC_RELEASE);
	pthread_join(poll_thread, NULL);
}

/* ---- the two endpoints -------------------------------------------------- */

/* omx_init plus A and B on a random even base port; another one when busy. */
static TU_UNUSED int open_pair(void)
{
	static int seeded;
	char spec[64];
	int attempt;

	if (!seeded) {
		srand((unsigned)time(NULL) ^ (unsigned)getpid());
		seeded = 1;
	}
	for (attempt = 0; attempt < 8; attempt++) {
		snprintf(spec, sizeof(spec), "127.0.0.1:%d", 20000 + (rand() % 20000) * 2);
		setenv("OMX_UDP_ADDR", spec, 1);
		if (omx_init() != OMX_SUCCESS)
			continue;
		if (omx_open_endpoint(0, 0, KEY, NULL, 0, &ep_a) == OMX_SUCCESS) {
			if (omx_open_endpoint(0, 1, KEY, NULL, 0, &ep_b) == OMX_SUCCESS) {
				omx_board_number_to_nic_id(0, &nic);
				return 0;
			}
			omx_close_endpoint(ep_a);
		}
		omx_finalize();
	}
	return -1;
}

static TU_UNUSED void connect_pair(void)
{
	CHECK_RET(omx_connect(ep_a, nic, 1, KEY, WAIT_MS, &addr_ab));
	CHECK_RET(omx_connect(ep_b, nic, 0, KEY, WAIT_MS, &addr_ba));
}

static TU_UNUSED void stop_pair(void)
{
	CHECK_RET(omx_close_endpoint(ep_b));
	CHECK_RET(omx_close_endpoint(ep_a));
	CHECK_RET(omx_finalize());
}

static TU_UNUSED int wait_req(omx_endpoint_t ep, omx_request_t *req, omx_status_t *st)
{
	uint32_t result = 0;

	if (omx_wait(ep, req, st, &result, WAIT_MS) != OMX_SUCCESS)
		return 0;
	return (int)result;
}

static TU_UNUSED double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) * 1e-6;
}

/* ---- data --------------------------------------------------------------- */

static TU_UNUSED uint8_t pattern(size_t i, uint32_t seed)
{
	return (uint8_t)((i * 2654435761u + seed) >> 11 ^ i ^ seed);
}

static TU_UNUSED void fill(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i, seed);
}

static TU_UNUSED int verify(const uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(i, seed)) {
			fprintf(stderr, "  byte %zu of %zu differs\n", i, len);
			return 0;
		}
	return 1;
}

/* ---- white-box looks at state the library owns (under the lock: the
 * poller may be changing it) ------------------------------------------- */

static TU_UNUSED uint16_t req_type(omx_endpoint_t ep, omx_request_t req)
{
	uint16_t t;

	omx__lock(ep);
	t = req->type;
	omx__unlock(ep);
	return t;
}

static TU_UNUSED uint32_t req_state(omx_endpoint_t ep, omx_request_t req)
{
	uint32_t s;

	omx__lock(ep);
	s = req->state;
	omx__unlock(ep);
	return s;
}

static TU_UNUSED omx_return_t req_code(omx_endpoint_t ep, omx_request_t req)
{
	omx_return_t code;

	omx__lock(ep);
	code = req->status.code;
	omx__unlock(ep);
	return code;
}

static TU_UNUSED uint32_t counter(omx_endpoint_t ep, enum omx__counter c)
{
	uint32_t n;

	omx__lock(ep);
	n = ep->counters[c];
	omx__unlock(ep);
	return n;
}

static TU_UNUSED void dump_counters(omx_endpoint_t ep, const char *name)
{
	omx__lock(ep);
	for (unsigned i = 0; i < OMX__CNT_MAX; i++)
		if (ep->counters[i])
			fprintf(stderr, "  %s: %s %u\n", name, omx__counter_name(i), ep->counters[i]);
	omx__unlock(ep);
}

/* ---- the lossy ops table ------------------------------------------------ */

/*
 * Frames of one side (0 = A, 1 = B) to lose, by kind: the call returns
 * success and nothing goes out, as if the wire dropped it.  LOSE_FRAG1
 * instead damages fragment 1 of the next medium (its length field), so the
 * driver still completes it and the peer's library drops it.  Counters are
 * read and written under the side's endpoint lock (the ops run under it).
 */
enum lose_kind { LOSE_TINY, LOSE_FRAG1, LOSE_RNDV, LOSE_NOTIFY, LOSE_LIBACK, LOSE_KINDS };

static const struct omx_abi_ops *real_ops;
static struct omx_abi_ops lossy_ops;
static uint32_t lossy_handle[2];
static int lose[2][LOSE_KINDS], lost[2][LOSE_KINDS];

static TU_UNUSED int lossy_take(uint32_t handle, enum lose_kind kind)
{
	int side = handle == lossy_handle[0] ? 0 : handle == lossy_handle[1] ? 1 : -1;

	if (side < 0 || !lose[side][kind])
		return 0;
	lose[side][kind]--;
	lost[side][kind]++;
	return 1;
}

static TU_UNUSED int lossy_send_tiny(struct omx_abi_driver *drv, uint32_t handle,
				     const struct omx_abi_send_tiny *cmd)
{
	return lossy_take(handle, LOSE_TINY) ? 0 : real_ops->send_tiny(drv, handle, cmd);
}

static TU_UNUSED int lossy_send_medium_frag(struct omx_abi_driver *drv, uint32_t handle,
					    const struct omx_abi_send_medium_frag *cmd)
{
	struct omx_abi_send_medium_frag bad = *cmd;

	if (cmd->frag_seqnum != 1 || !lossy_take(handle, LOSE_FRAG1))
		return real_ops->send_medium_frag(drv, handle, cmd);
	bad.msg_length += cmd->frag_length;    /* well formed, but of no such message */
	return real_ops->send_medium_frag(drv, handle, &bad);
}

static TU_UNUSED int lossy_send_rndv(struct omx_abi_driver *drv, uint32_t handle,
				     const struct omx_abi_send_rndv *cmd)
{
	return lossy_take(handle, LOSE_RNDV) ? 0 : real_ops->send_rndv(drv, handle, cmd);
}

static TU_UNUSED int lossy_send_notify(struct omx_abi_driver *drv, uint32_t handle,
				       const struct omx_abi_send_notify *cmd)
{
	return lossy_take(handle, LOSE_NOTIFY) ? 0 : real_ops->send_notify(drv, handle, cmd);
}

static TU_UNUSED int lossy_send_liback(struct omx_abi_driver *drv, uint32_t handle,
				       const struct omx_abi_send_liback *cmd)
{
	return lossy_take(handle, LOSE_LIBACK) ? 0 : real_ops->send_liback(drv, handle, cmd);
}

/* Nothing is armed afterwards; the table passes everything through. */
static TU_UNUSED void lossy_install(void)
{
	omx__lock(ep_a);
	omx__lock(ep_b);
	real_ops = ep_a->ops;
	lossy_ops = *real_ops;
	lossy_ops.send_tiny = lossy_send_tiny;
	lossy_ops.send_medium_frag = lossy_send_medium_frag;
	lossy_ops.send_rndv = lossy_send_rndv;
	lossy_ops.send_notify = lossy_send_notify;
	lossy_ops.send_liback = lossy_send_liback;
	lossy_handle[0] = ep_a->handle;
	lossy_handle[1] = ep_b->handle;
	memset(lose, 0, sizeof(lose));
	memset(lost, 0, sizeof(lost));
	ep_a->ops = ep_b->ops = &lossy_ops;
	omx__unlock(ep_b);
	omx__unlock(ep_a);
}

static TU_UNUSED void lossy_set(int side, enum lose_kind kind, int count)
{
	omx_endpoint_t ep = side ? ep_b : ep_a;

	omx__lock(ep);
	lose[side][kind] = count;
	lost[side][kind] = 0;
	omx__unlock(ep);
}

static TU_UNUSED int lossy_lost(int side, enum lose_kind kind)
{
	omx_endpoint_t ep = side ? ep_b : ep_a;
	int n;

	omx__lock(ep);
	n = lost[side][kind];
	omx__unlock(ep);
	return n;
}

#endif /* OMX_TEST_UTIL_H */
