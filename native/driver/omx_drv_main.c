/*
 * omx_drv_main.c - the direct driver: tunables, boards, driver-wide queries
 * and the ABI ops table.
 *
 * Boards: OMX_IFNAMES names them (board i = i-th name); without it the
 * packet link takes every Ethernet interface that is up, then lo (board
 * "localhost"), and the udp link its one board.  Names, counters and peers
 * are host-wide (omx_drv_host.c); the links are this process's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv.h"

void omx_drv_warn(const char *subsys, const char *fmt, ...)
{
	va_list ap;
	char line[512];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "omx-transport driver: %s: %s\n", subsys, line);
}

/* The coarse clock is read through the vDSO: no syscall, millisecond ticks. */
uint64_t omx_drv_now_jiffies(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * OMX_DRV_HZ + (uint64_t)ts.tv_nsec / (1000000000 / OMX_DRV_HZ);
}

/* ---- tunables ------------------------------------------------------------- */

struct omx_drv_tunable {
	const char *name;
	const char *help;
	uint32_t def, min, max;
	size_t offset;                /* into struct omx_drv_config */
};

/* Peer indices are u16 on the wire and 0xffff means "unknown", hence 65535. */
static const struct omx_drv_tunable omx_drv_tunables[] = {
	{ "OMX_ENDPOINT_MAX", "endpoint indices per board (default 32, 1..256)",
	  32, 1, OMX_ENDPOINT_INDEX_MAX, offsetof(struct omx_drv_config, endpoint_max) },
	{ "OMX_PEER_MAX", "peer table entries (default 1024, 1..65535)",
	  1024, 1, OMX_PEER_INDEX_MAX - 1, offsetof(struct omx_drv_config, peer_max) },
	{ "OMX_WAITSPIN_US",
	  "most microseconds a wait spins before it blocks; adapts below (default 50, 0..100000)",
	  50, 0, 100000, offsetof(struct omx_drv_config, waitspin_us) },
	/* Pull defaults measured on udp loopback (2 processes, 64 MiB): without
	 * loss any window of 2+ blocks runs the same; under 5% loss 8 blocks
	 * beat 4 by 1.3-2x, and a 10 ms re-request floor adds no duplicates
	 * beyond the injected ones where 5 ms sometimes flooded a loaded host. */
	{ "OMX_PULL_BLOCKS", "pull blocks of 32 replies requested at once, at most 4 MiB (default 8, 1..16)",
	  8, 1, OMX_DRV_PULL_BLOCKS_MAX, offsetof(struct omx_drv_config, pull_blocks) },
	{ "OMX_PULL_RESEND_MS", "least pull re-request delay, ms; doubles up to 1 s (default 10, 1..60000)",
	  10, 1, 60000, offsetof(struct omx_drv_config, pull_resend_ms) },
};

static uint32_t omx_drv_tunable_read(const struct omx_drv_tunable *t)
{
	const char *s = getenv(t->name);
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return t->def;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || *s == '-') {
		omx_drv_warn("env", "%s=\"%s\" is not a number; using %u (%s)", t->name, s, t->def, t->help);
		return t->def;
	}
	if (v < t->min || v > t->max) {
		uint32_t c = v < t->min ? t->min : t->max;
		omx_drv_warn("env", "%s=%llu out of range; clamped to %u (%s)", t->name, v, c, t->help);
		return c;
	}
	return (uint32_t)v;
}

static void omx_drv_read_env(struct omx_drv_config *cfg, const char **peers_file, const char **state_dir)
{
	for (size_t i = 0; i < sizeof(omx_drv_tunables) / sizeof(omx_drv_tunables[0]); i++) {
		const struct omx_drv_tunable *t = &omx_drv_tunables[i];
		*(uint32_t *)((char *)cfg + t->offset) = omx_drv_tunable_read(t);
	}
	/* OMX_PEERS_FILE: optional omx_init_peers file ("xx:xx:xx:xx:xx:xx host" lines). */
	*peers_file = getenv("OMX_PEERS_FILE");
	if (*peers_file && !**peers_file)
		*peers_file = NULL;
	/* OMX_STATE_DIR: where the host-wide state lives (default /run/omx-transport-<uid>). */
	*state_dir = getenv("OMX_STATE_DIR");
}

/* ---- boards --------------------------------------------------------------- */

/* Open board index's link; OMX_ABI_ENODEV past the last board. */
static int omx_drv_board_open(struct omx_drv *drv, uint32_t index)
{
	struct omx_drv_board *b = &drv->boards[index];
	struct omx_link *link;
	int err;

	err = omx_link_open_from_env(index, drv->cfg.endpoint_max, &link);
	if (err == OMX_ABI_ENODEV && index > 0)
		return err;
	if (err) {
		if (err == OMX_ABI_EPERM)
			omx_drv_warn("board", "board %u: no right to open raw sockets (needs root or "
				     "CAP_NET_RAW); OMX_LINK=udp needs none", index);
		else
			omx_drv_warn("board", "cannot open the link of board %u (%d)", index, err);
		return err < 0 ? err : OMX_ABI_EIO;
	}
	/* The largest header plus the trailer must fit, or nothing can be sent. */
	if (link->mtu < OMX_WIRE_MIN_FRAME + OMX_WIRE_FCS_LEN) {
		omx_drv_warn("board", "link %s has MTU %u, below the %u-byte minimum frame",
			     link->ifacename, link->mtu, OMX_WIRE_MIN_FRAME + OMX_WIRE_FCS_LEN);
		link->ops->close(link);
		return OMX_ABI_EINVAL;
	}
	if (link->endpoint_max && link->endpoint_max < drv->cfg.endpoint_max) {
		omx_drv_warn("board", "link %s carries %u endpoints; OMX_ENDPOINT_MAX lowered from %u",
			     link->ifacename, link->endpoint_max, drv->cfg.endpoint_max);
		drv->cfg.endpoint_max = link->endpoint_max;
	}
	b->link = link;
	b->index = index;
	b->addr = link->addr;
	b->mtu = link->mtu;
	b->medium_frag_max = omx_wire_medium_frag_max(link->mtu);
	if (b->medium_frag_max > OMX_ABI_QUEUE_SLOT_SIZE)
		b->medium_frag_max = OMX_ABI_QUEUE_SLOT_SIZE;
	b->pull_reply_max = omx_wire_pull_reply_max(link->mtu);
	omx_drv_hostq_init(b);
	drv->board_count = index + 1;
	return 0;
}

/* Every board the environment names: OMX_IFNAMES, else each Ethernet
 * interface that is up and lo (packet), or the one udp board. */
static int omx_drv_boards_open(struct omx_drv *drv)
{
	int err = 0;

	for (uint32_t i = 0; i < OMX_DRV_BOARD_MAX && !err; i++)
		err = omx_drv_board_open(drv, i);
	return drv->board_count ? 0 : err;
}

/* A board's slot in the host state, its name, and its place in the peer table. */
static int omx_drv_board_register(struct omx_drv *drv, struct omx_drv_board *b)
{
	char host[OMX_ABI_HOSTNAME_MAX], name[OMX_ABI_HOSTNAME_MAX];
	int err;

	if (b->addr == 0 && strcmp(b->link->drivername, "udp")) {
		snprintf(name, sizeof(name), "localhost");
	} else {
		if (gethostname(host, sizeof(host) - 8) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 8] = '\0';
		snprintf(name, sizeof(name), "%s:%u", host, b->index);
	}
	err = omx_drv_host_board_attach(drv, b, name);
	if (err)
		return err;
	omx_drv_host_board_hostname(drv, b, name);
	err = omx_drv_peers_add(drv, b->addr, name, 1);
	return err < 0 ? err : 0;
}

static void omx_drv_board_detach(struct omx_drv_board *b)
{
	if (b->link) {
		b->link->ops->close(b->link);
		omx_drv_hostq_fini(b);
	}
	b->link = NULL;
	b->counters = NULL;
	b->reverse_peer_index = NULL;
}

/* ---- driver-wide queries -------------------------------------------------- */

static int omx_drv_get_info(struct omx_abi_driver *d, struct omx_abi_driver_info *out)
{
	struct omx_drv *drv = omx_drv_of(d);

	memset(out, 0, sizeof(*out));
	out->abi_version = OMX_ABI_VERSION;
	out->features = OMX_ABI_FEATURE_LARGE | OMX_ABI_FEATURE_SHARED;
	out->board_count = drv->board_count;
	out->board_max = OMX_DRV_BOARD_MAX;
	out->endpoint_max = drv->cfg.endpoint_max;
	out->peer_max = drv->cfg.peer_max;
	out->hz = OMX_DRV_HZ;
	return 0;
}

/* The fake board of intra-host traffic: counters only. */
static void omx_drv_shared_board_info(struct omx_abi_board_info *out)
{
	char host[OMX_ABI_HOSTNAME_MAX];

	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(out->hostname, sizeof(out->hostname), "%s", host);
	snprintf(out->ifacename, sizeof(out->ifacename), "shared");
	snprintf(out->drivername, sizeof(out->drivername), "shared");
	out->mtu = OMX_ABI_QUEUE_SLOT_SIZE;
	out->numa_node = -1;
}

static int omx_drv_get_board_info(struct omx_abi_driver *d, uint32_t board_index,
				  struct omx_abi_board_info *out)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_board *b;

	memset(out, 0, sizeof(*out));
	if (board_index == OMX_ABI_BOARD_SHARED) {
		omx_drv_shared_board_info(out);
		return 0;
	}
	if (board_index >= drv->board_count)
		return OMX_ABI_ENODEV;
	b = &drv->boards[board_index];
	out->addr = b->addr;
	out->mtu = b->mtu;
	out->medium_frag_length_max = b->medium_frag_max;
	out->pull_reply_length_max = b->pull_reply_max;
	out->status = __atomic_load_n(&b->link->status, __ATOMIC_RELAXED);
	if (b->mtu < OMX_DRV_GOOD_MTU)
		out->status |= OMX_ABI_BOARD_STATUS_BAD_MTU;
	out->numa_node = -1;
	omx_drv_host_board_hostname(drv, b, out->hostname);
	snprintf(out->ifacename, sizeof(out->ifacename), "%s", b->link->ifacename);
	snprintf(out->drivername, sizeof(out->drivername), "%s", b->link->drivername);
	return 0;
}

/* Host-wide counters: clearing takes each value with an exchange, so an
 * increment by another process between read and clear is never lost. */
static int omx_drv_get_counters(struct omx_abi_driver *d, uint32_t board_index, int clear,
				uint32_t *values, uint32_t nr_values)
{
	struct omx_drv *drv = omx_drv_of(d);
	uint32_t n = nr_values < OMX_COUNTER_INDEX_MAX ? nr_values : OMX_COUNTER_INDEX_MAX;
	uint32_t *c;

	if (board_index == OMX_ABI_BOARD_SHARED)
		c = drv->shared_counters;
	else if (board_index < drv->board_count)
		c = drv->boards[board_index].counters;
	else
		return OMX_ABI_ENODEV;
	if (!values && nr_values)
		return OMX_ABI_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		values[i] = clear ? __atomic_exchange_n(&c[i], 0, __ATOMIC_RELAXED)
				  : __atomic_load_n(&c[i], __ATOMIC_RELAXED);
	if (clear)
		for (uint32_t i = n; i < OMX_COUNTER_INDEX_MAX; i++)
			__atomic_store_n(&c[i], 0, __ATOMIC_RELAXED);
	for (uint32_t i = n; i < nr_values; i++)
		values[i] = 0;
	return 0;
}

static uint64_t omx_drv_jiffies(struct omx_abi_driver *d)
{
	(void)d;
	return omx_drv_now_jiffies();
}

/* ---- open / close ---------------------------------------------------------- */

static void omx_drv_close(struct omx_abi_driver *d)
{
	struct omx_drv *drv = omx_drv_of(d);

	omx_drv_endpoints_fini(drv);
	free(drv->eps);
	for (uint32_t i = 0; i < drv->board_count; i++)
		omx_drv_board_detach(&drv->boards[i]);
	omx_drv_host_close(drv);
	pthread_mutex_destroy(&drv->open_lock);
	free(drv);
}

static const struct omx_abi_ops omx_drv_ops = {
	.size = sizeof(struct omx_abi_ops),
	.name = "direct",
	.close = omx_drv_close,
	.get_info = omx_drv_get_info,
	.get_board_info = omx_drv_get_board_info,
	.get_endpoint_state = omx_drv_raw_endpoint_state,
	.get_counters = omx_drv_get_counters,
	.set_hostname = omx_drv_set_hostname,
	.peer_add = omx_drv_peer_add,
	.peer_table_clear = omx_drv_peer_table_clear,
	.peer_table_get_state = omx_drv_peer_table_get_state,
	.peer_table_set_state = omx_drv_peer_table_set_state,
	.peer_from_index = omx_drv_peer_from_index,
	.peer_from_addr = omx_drv_peer_from_addr,
	.peer_from_hostname = omx_drv_peer_from_hostname,
	.open_endpoint = omx_drv_open_endpoint,
	.endpoint_area = omx_drv_endpoint_area,
	.close_endpoint = omx_drv_close_endpoint,
	.send_tiny = omx_drv_send_tiny,
	.send_small = omx_drv_send_small,
	.send_medium_frag = omx_drv_send_medium_frag,
	.send_rndv = omx_drv_send_rndv,
	.send_notify = omx_drv_send_notify,
	.send_connect_request = omx_drv_send_connect_request,
	.send_connect_reply = omx_drv_send_connect_reply,
	.send_liback = omx_drv_send_liback,
	.create_region = omx_drv_create_region,
	.destroy_region = omx_drv_destroy_region,
	.pull = omx_drv_pull,
	.progress = omx_drv_progress,
	.wait_event = omx_drv_wait_event,
	.wakeup = omx_drv_wakeup,
	.release_exp_slots = omx_drv_release_exp_slots,
	.release_unexp_slots = omx_drv_release_unexp_slots,
	.jiffies = omx_drv_jiffies,
};

int omx_drv_direct_open(struct omx_abi_driver **out)
{
	const char *peers_file, *state_dir;
	struct omx_drv *drv;
	int err;

	drv = calloc(1, sizeof(*drv));
	if (!drv)
		return OMX_ABI_ENOMEM;
	omx_drv_read_env(&drv->cfg, &peers_file, &state_dir);
	pthread_mutex_init(&drv->open_lock, NULL);

	err = omx_drv_boards_open(drv);
	if (err)
		goto err_boards;
	err = omx_drv_host_open(drv, state_dir);
	if (err)
		goto err_boards;
	/* Local boards take the first peer indices of a new host. */
	for (uint32_t i = 0; i < drv->board_count; i++) {
		err = omx_drv_board_register(drv, &drv->boards[i]);
		if (err)
			goto err_host;
	}
	drv->eps = calloc((size_t)drv->board_count * drv->cfg.endpoint_max, sizeof(*drv->eps));
	if (!drv->eps) {
		err = OMX_ABI_ENOMEM;
		goto err_host;
	}
	if (peers_file)
		omx_drv_peers_load_file(drv, peers_file);

	drv->base.ops = &omx_drv_ops;
	*out = &drv->base;
	return 0;

err_host:
	omx_drv_host_close(drv);
err_boards:
	for (uint32_t i = 0; i < drv->board_count; i++)
		omx_drv_board_detach(&drv->boards[i]);
	pthread_mutex_destroy(&drv->open_lock);
	free(drv);
	return err;
}
