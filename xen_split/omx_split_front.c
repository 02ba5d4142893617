/*
 * omx_split_front.c - the split frontend's ops table: driver-wide queries
 * and peer commands (waited), endpoint sends, pull and slot releases
 * (posted), open and close of the driver.
 *
 * Posted commands return 0 as soon as they are on the ring; whatever the
 * frontend can check without the backend (lengths, offsets and indices
 * against the endpoint's layout, the local region table) is checked first
 * and refused synchronously with OMX_ABI_EINVAL, as the direct driver
 * would, so the backend's error path only sees what only it can know.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "omx_log.h"
#include "omx_split_front_priv.h"
#include "omx_wire.h"

void omx_split_front_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	omx_log_vline(fmt, ap);
	va_end(ap);
}

/* The engine's clock: CLOCK_MONOTONIC_COARSE in ms, through the vDSO. */
uint64_t omx_split_front_jiffies_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- driver-wide queries (waited) ------------------------------------------ */

static int omx_split_front_get_info(struct omx_abi_driver *d, struct omx_abi_driver_info *out)
{
	struct omx_split_response rsp;
	int err;

	err = omx_split_front_request(omx_split_front_of(d), OMX_SPLIT_GET_INFO, 0, NULL, 0, &rsp);
	if (!err)
		*out = rsp.u.driver_info;
	return err;
}

/* A query naming a board (and maybe an endpoint, a hostname, an address). */
static int omx_split_front_board_query(struct omx_abi_driver *d, uint16_t func, uint32_t board_index,
				       uint32_t endpoint_index, const char *hostname, uint64_t addr,
				       uint32_t peer_index, struct omx_split_response *rsp)
{
	struct omx_split_req_board req;

	memset(&req, 0, sizeof(req));
	req.board_index = board_index;
	req.endpoint_index = endpoint_index;
	req.board_addr = addr;
	req.peer_index = peer_index;
	if (hostname) {
		size_t n = strnlen(hostname, sizeof(req.hostname));

		if (n == sizeof(req.hostname))
			return OMX_ABI_EINVAL;
		memcpy(req.hostname, hostname, n);
	}
	return omx_split_front_request(omx_split_front_of(d), func, 0, &req, sizeof(req), rsp);
}

static int omx_split_front_get_board_info(struct omx_abi_driver *d, uint32_t board_index,
					  struct omx_abi_board_info *out)
{
	struct omx_split_response rsp;
	int err = omx_split_front_board_query(d, OMX_SPLIT_GET_BOARD_INFO, board_index, 0, NULL, 0, 0, &rsp);

	if (!err)
		*out = rsp.u.board_info;
	return err;
}

static int omx_split_front_get_endpoint_state(struct omx_abi_driver *d, uint32_t board_index,
					      uint32_t endpoint_index, struct omx_abi_endpoint_state *out)
{
	struct omx_split_response rsp;
	int err = omx_split_front_board_query(d, OMX_SPLIT_GET_ENDPOINT_STATE, board_index, endpoint_index,
					      NULL, 0, 0, &rsp);

	if (!err)
		*out = rsp.u.endpoint_state;
	return err;
}

/* Counters travel in chunks; the last chunk carries the clear. */
static int omx_split_front_get_counters(struct omx_abi_driver *d, uint32_t board_index, int clear,
					uint32_t *values, uint32_t nr_values)
{
	uint32_t n = nr_values < OMX_COUNTER_INDEX_MAX ? nr_values : OMX_COUNTER_INDEX_MAX;
	struct omx_split_req_counters req;
	struct omx_split_response rsp;
	uint32_t first = 0;

	if (!values && nr_values)
		return OMX_ABI_EINVAL;
	do {
		uint32_t chunk = n - first < OMX_SPLIT_COUNTERS_PER_RSP ? n - first : OMX_SPLIT_COUNTERS_PER_RSP;
		int err;

		memset(&req, 0, sizeof(req));
		req.board_index = board_index;
		req.first = first;
		req.nr = chunk;
		req.clear = clear && first + chunk == n;
		err = omx_split_front_request(omx_split_front_of(d), OMX_SPLIT_GET_COUNTERS, 0, &req,
					      sizeof(req), &rsp);
		if (err)
			return err;
		memcpy(values + first, rsp.u.counters, (size_t)chunk * sizeof(uint32_t));
		first += chunk;
	} while (first < n);
	for (uint32_t i = n; i < nr_values; i++)
		values[i] = 0;
	return 0;
}

static int omx_split_front_set_hostname(struct omx_abi_driver *d, uint32_t board_index, const char *hostname)
{
	struct omx_split_response rsp;

	return omx_split_front_board_query(d, OMX_SPLIT_SET_HOSTNAME, board_index, 0, hostname ? hostname : "",
					   0, 0, &rsp);
}

static int omx_split_front_peer_add(struct omx_abi_driver *d, uint64_t board_addr, const char *hostname)
{
	struct omx_split_response rsp;

	return omx_split_front_board_query(d, OMX_SPLIT_PEER_ADD, 0, 0, hostname ? hostname : "", board_addr,
					   0, &rsp);
}

static int omx_split_front_peer_table_clear(struct omx_abi_driver *d)
{
	struct omx_split_response rsp;

	return omx_split_front_request(omx_split_front_of(d), OMX_SPLIT_PEER_TABLE_CLEAR, 0, NULL, 0, &rsp);
}

static int omx_split_front_peer_table_get_state(struct omx_abi_driver *d, struct omx_abi_peer_table_state *out)
{
	struct omx_split_response rsp;
	int err = omx_split_front_request(omx_split_front_of(d), OMX_SPLIT_PEER_TABLE_GET_STATE, 0, NULL, 0, &rsp);

	if (!err)
		*out = rsp.u.peer_table_state;
	return err;
}

static int omx_split_front_peer_table_set_state(struct omx_abi_driver *d,
						const struct omx_abi_peer_table_state *in)
{
	struct omx_split_response rsp;

	return omx_split_front_request(omx_split_front_of(d), OMX_SPLIT_PEER_TABLE_SET_STATE, 0, in,
				       sizeof(*in), &rsp);
}

static int omx_split_front_peer_reply(int err, const struct omx_split_response *rsp, struct omx_abi_peer_info *out)
{
	if (!err)
		*out = rsp->u.peer_info;
	return err;
}

static int omx_split_front_peer_from_index(struct omx_abi_driver *d, uint32_t index, struct omx_abi_peer_info *out)
{
	struct omx_split_response rsp;

	return omx_split_front_peer_reply(omx_split_front_board_query(d, OMX_SPLIT_PEER_FROM_INDEX, 0, 0, NULL,
								      0, index, &rsp), &rsp, out);
}

static int omx_split_front_peer_from_addr(struct omx_abi_driver *d, uint64_t board_addr,
					  struct omx_abi_peer_info *out)
{
	struct omx_split_response rsp;

	return omx_split_front_peer_reply(omx_split_front_board_query(d, OMX_SPLIT_PEER_FROM_ADDR, 0, 0, NULL,
								      board_addr, 0, &rsp), &rsp, out);
}

static int omx_split_front_peer_from_hostname(struct omx_abi_driver *d, const char *hostname,
					      struct omx_abi_peer_info *out)
{
	struct omx_split_response rsp;

	if (!hostname)
		return OMX_ABI_EINVAL;
	return omx_split_front_peer_reply(omx_split_front_board_query(d, OMX_SPLIT_PEER_FROM_HOSTNAME, 0, 0,
								      hostname, 0, 0, &rsp), &rsp, out);
}

/* ---- posted endpoint commands ------------------------------------------------ */

/* Post func on the endpoint handle, after the local check (0 = fine). */
static int omx_split_front_post(struct omx_abi_driver *d, uint32_t handle, uint16_t func, const void *cmd,
				size_t len, int (*check)(const struct omx_split_front_ep *, const void *))
{
	struct omx_split_front *f = omx_split_front_of(d);
	struct omx_split_front_ep *ep = omx_split_front_ep_get(f, handle);
	int err;

	if (!ep)
		return OMX_ABI_EINVAL;
	err = check ? check(ep, cmd) : 0;
	if (!err)
		err = omx_split_front_request(f, func, ep->back_handle, cmd, len, NULL);
	omx_split_front_ep_put(ep);
	return err;
}

static int omx_split_front_check_tiny(const struct omx_split_front_ep *ep, const void *c)
{
	(void)ep;
	return ((const struct omx_abi_send_tiny *)c)->length > OMX_TINY_MSG_LENGTH_MAX ? OMX_ABI_EINVAL : 0;
}

static int omx_split_front_check_small(const struct omx_split_front_ep *ep, const void *c)
{
	(void)ep;
	return ((const struct omx_abi_send_small *)c)->length > OMX_SMALL_MSG_LENGTH_MAX ? OMX_ABI_EINVAL : 0;
}

static int omx_split_front_check_medium(const struct omx_split_front_ep *ep, const void *c)
{
	const struct omx_abi_send_medium_frag *cmd = c;
	const struct omx_abi_endpoint_layout *l = &ep->layout;

	if ((ep->medium_frag_max && cmd->frag_length > ep->medium_frag_max) ||
	    cmd->frag_length > l->slot_size || cmd->frag_length > cmd->msg_length ||
	    cmd->frag_seqnum >= OMX_MEDIUM_FRAGS_MAX || cmd->sendq_offset % l->slot_size ||
	    cmd->sendq_offset / l->slot_size >= l->sendq_entries)
		return OMX_ABI_EINVAL;
	return 0;
}

static int omx_split_front_check_pull(const struct omx_split_front_ep *ep, const void *c)
{
	const struct omx_abi_pull *cmd = c;

	if (cmd->puller_rdma_id >= OMX_ABI_REGION_ID_MAX || cmd->pulled_rdma_id >= OMX_ABI_REGION_ID_MAX ||
	    cmd->pulled_rdma_seqnum > UINT8_MAX || cmd->resend_timeout_ms == 0)
		return OMX_ABI_EINVAL;
	/* The region the pull writes into must be ours (the lib created it). */
	if (!__atomic_load_n(&ep->regions[cmd->puller_rdma_id], __ATOMIC_ACQUIRE))
		return OMX_ABI_ENOENT;
	return 0;
}

#define OMX_SPLIT_FRONT_POSTED(name, type, func, check) \
	static int omx_split_front_##name(struct omx_abi_driver *d, uint32_t handle, const type *cmd) \
	{ \
		return omx_split_front_post(d, handle, func, cmd, sizeof(*cmd), check); \
	}

OMX_SPLIT_FRONT_POSTED(send_tiny, struct omx_abi_send_tiny, OMX_SPLIT_SEND_TINY, omx_split_front_check_tiny)
OMX_SPLIT_FRONT_POSTED(send_small, struct omx_abi_send_small, OMX_SPLIT_SEND_SMALL, omx_split_front_check_small)
OMX_SPLIT_FRONT_POSTED(send_medium_frag, struct omx_abi_send_medium_frag, OMX_SPLIT_SEND_MEDIUM_FRAG,
		       omx_split_front_check_medium)
OMX_SPLIT_FRONT_POSTED(send_rndv, struct omx_abi_send_rndv, OMX_SPLIT_SEND_RNDV, NULL)
OMX_SPLIT_FRONT_POSTED(send_notify, struct omx_abi_send_notify, OMX_SPLIT_SEND_NOTIFY, NULL)
OMX_SPLIT_FRONT_POSTED(send_connect_request, struct omx_abi_send_connect_request,
		       OMX_SPLIT_SEND_CONNECT_REQUEST, NULL)
OMX_SPLIT_FRONT_POSTED(send_connect_reply, struct omx_abi_send_connect_reply, OMX_SPLIT_SEND_CONNECT_REPLY,
		       NULL)
OMX_SPLIT_FRONT_POSTED(send_liback, struct omx_abi_send_liback, OMX_SPLIT_SEND_LIBACK, NULL)
OMX_SPLIT_FRONT_POSTED(pull, struct omx_abi_pull, OMX_SPLIT_PULL, omx_split_front_check_pull)

static int omx_split_front_release_exp_slots(struct omx_abi_driver *d, uint32_t handle)
{
	return omx_split_front_post(d, handle, OMX_SPLIT_RELEASE_EXP_SLOTS, NULL, 0, NULL);
}

static int omx_split_front_release_unexp_slots(struct omx_abi_driver *d, uint32_t handle)
{
	return omx_split_front_post(d, handle, OMX_SPLIT_RELEASE_UNEXP_SLOTS, NULL, 0, NULL);
}

static uint64_t omx_split_front_jiffies(struct omx_abi_driver *d)
{
	(void)d;
	return omx_split_front_jiffies_now();
}

/* ---- open / close ------------------------------------------------------------- */

static void omx_split_front_free(struct omx_split_front *f)
{
	omx_split_front_bus_stop(f);
	omx_split_front_endpoints_free(f);
	omx_split_front_grant_fini(f);
	omx_split_front_ring_teardown(f);
	if (f->dead_fd >= 0)
		close(f->dead_fd);
	pthread_cond_destroy(&f->cond);
	pthread_cond_destroy(&f->bus_cond);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->bus_lock);
	pthread_mutex_destroy(&f->bus_call_lock);
	pthread_mutex_destroy(&f->gnt_lock);
	pthread_mutex_destroy(&f->open_lock);
	free(f);
}

static void omx_split_front_close(struct omx_abi_driver *d)
{
	struct omx_split_front *f = omx_split_front_of(d);

	/* The shadows first (the lib closed its endpoints; tools have none),
	 * then Closing -> Closed. */
	omx_split_front_endpoints_close(f);
	if (f->verbose && f->posted_errors)
		omx_split_front_log("split driver: %llu posted commands were refused by the backend",
				    (unsigned long long)f->posted_errors);
	omx_split_front_free(f);
}

static const struct omx_abi_ops omx_split_front_ops = {
	.size = sizeof(struct omx_abi_ops),
	.name = "split",
	.close = omx_split_front_close,
	.get_info = omx_split_front_get_info,
	.get_board_info = omx_split_front_get_board_info,
	.get_endpoint_state = omx_split_front_get_endpoint_state,
	.get_counters = omx_split_front_get_counters,
	.set_hostname = omx_split_front_set_hostname,
	.peer_add = omx_split_front_peer_add,
	.peer_table_clear = omx_split_front_peer_table_clear,
	.peer_table_get_state = omx_split_front_peer_table_get_state,
	.peer_table_set_state = omx_split_front_peer_table_set_state,
	.peer_from_index = omx_split_front_peer_from_index,
	.peer_from_addr = omx_split_front_peer_from_addr,
	.peer_from_hostname = omx_split_front_peer_from_hostname,
	.open_endpoint = omx_split_front_open_endpoint,
	.endpoint_area = omx_split_front_endpoint_area,
	.close_endpoint = omx_split_front_close_endpoint,
	.send_tiny = omx_split_front_send_tiny,
	.send_small = omx_split_front_send_small,
	.send_medium_frag = omx_split_front_send_medium_frag,
	.send_rndv = omx_split_front_send_rndv,
	.send_notify = omx_split_front_send_notify,
	.send_connect_request = omx_split_front_send_connect_request,
	.send_connect_reply = omx_split_front_send_connect_reply,
	.send_liback = omx_split_front_send_liback,
	.create_region = omx_split_front_create_region,
	.destroy_region = omx_split_front_destroy_region,
	.pull = omx_split_front_pull,
	.progress = omx_split_front_progress,
	.wait_event = omx_split_front_wait_event,
	.wakeup = omx_split_front_wakeup,
	.release_exp_slots = omx_split_front_release_exp_slots,
	.release_unexp_slots = omx_split_front_release_unexp_slots,
	.jiffies = omx_split_front_jiffies,
};

/* A number from the environment, clamped to max; bad values: the default. */
static uint32_t omx_split_front_env_uint(const char *name, uint32_t def, uint32_t max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return def;
	v = strtoul(s, &end, 0);
	if (*end)
		return def;
	return v > max ? max : (uint32_t)v;
}

/* OMX_VERBOSE and OMX_WAITSPIN_US as the library and the direct driver read
 * them, and OMX_SPLIT_TIMEOUT_MS. */
static void omx_split_front_read_env(struct omx_split_front *f)
{
	f->verbose = omx_split_front_env_uint("OMX_VERBOSE", 0, 1) > 0;
	f->waitspin_us = omx_split_front_env_uint("OMX_WAITSPIN_US", 50, 100000);
	f->timeout_ms = omx_split_front_env_uint("OMX_SPLIT_TIMEOUT_MS", 30000, 3600000);
}

int omx_split_front_open(const char *socket_path, struct omx_abi_driver **out)
{
	struct omx_split_front *f;
	pthread_condattr_t ca;
	int err;

	if (!socket_path)
		return OMX_ABI_EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return OMX_ABI_ENOMEM;
	f->sock = f->ring_fd = f->kick_fd = f->notify_fd = f->gnt_fd = -1;
	omx_split_front_read_env(f);
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->bus_lock, NULL);
	pthread_mutex_init(&f->bus_call_lock, NULL);
	pthread_mutex_init(&f->gnt_lock, NULL);
	pthread_mutex_init(&f->open_lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	/* Closing waits with a monotonic deadline. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->bus_cond, &ca);
	pthread_condattr_destroy(&ca);
	f->dead_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->dead_fd < 0) {
		err = OMX_ABI_ENOMEM;
		goto err;
	}
	err = omx_split_front_bus_connect(f, socket_path);
	if (err)
		goto err;
	err = omx_split_front_bus_start(f);
	if (err)
		goto err;
	f->base.ops = &omx_split_front_ops;
	*out = &f->base;
	return 0;
err:
	omx_split_front_free(f);
	return err;
}
