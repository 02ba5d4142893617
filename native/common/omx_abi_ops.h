/*
 * omx_abi_ops.h - the driver ABI as function calls: the ops table a driver
 * implements and the library calls.
 *
 * Process-local by nature (function pointers, the driver instance): nothing
 * here crosses a process boundary.  Everything the commands carry is in the
 * pointer-free structs of omx_abi.h; a split frontend forwards those.
 */
#ifndef OMX_ABI_OPS_H
#define OMX_ABI_OPS_H

#include "omx_abi.h"

/* ---- the ops table -------------------------------------------------------- */

struct omx_abi_driver;   /* opaque, owned by the implementation */

/*
 * Every command takes the driver and (for endpoint commands) the handle
 * returned by open_endpoint.  Commands are safe to call from several threads
 * at once; the lib serialises per endpoint anyway.
 *
 * progress: move whatever the driver has received into the endpoint's event
 *   queues without blocking (the direct driver drains its link here; a split
 *   frontend has nothing to do).  Returns the number of events posted (>= 0).
 * wait_event: block until an event, the deadline, the desc wakeup deadline,
 *   a wakeup or a signal (see struct omx_abi_wait).  Spins briefly first.
 *   Never called with the lib's endpoint lock held.
 */
struct omx_abi_ops {
	size_t size;                  /* sizeof(struct omx_abi_ops), for checking */
	const char *name;             /* "direct", "split" */

	void (*close)(struct omx_abi_driver *drv);
	int (*get_info)(struct omx_abi_driver *drv, struct omx_abi_driver_info *out);
	int (*get_board_info)(struct omx_abi_driver *drv, uint32_t board_index,
			      struct omx_abi_board_info *out);
	int (*get_endpoint_state)(struct omx_abi_driver *drv, uint32_t board_index,
				  uint32_t endpoint_index, struct omx_abi_endpoint_state *out);
	int (*get_counters)(struct omx_abi_driver *drv, uint32_t board_index, int clear,
			    uint32_t *values, uint32_t nr_values);
	int (*set_hostname)(struct omx_abi_driver *drv, uint32_t board_index, const char *hostname);

	int (*peer_add)(struct omx_abi_driver *drv, uint64_t board_addr, const char *hostname);
	int (*peer_table_clear)(struct omx_abi_driver *drv);
	int (*peer_table_get_state)(struct omx_abi_driver *drv, struct omx_abi_peer_table_state *out);
	int (*peer_table_set_state)(struct omx_abi_driver *drv, const struct omx_abi_peer_table_state *in);
	int (*peer_from_index)(struct omx_abi_driver *drv, uint32_t index, struct omx_abi_peer_info *out);
	int (*peer_from_addr)(struct omx_abi_driver *drv, uint64_t board_addr, struct omx_abi_peer_info *out);
	int (*peer_from_hostname)(struct omx_abi_driver *drv, const char *hostname,
				  struct omx_abi_peer_info *out);

	int (*open_endpoint)(struct omx_abi_driver *drv, const struct omx_abi_open_endpoint *cmd,
			     struct omx_abi_endpoint_info *out);
	/* The endpoint area in this process (layout from open_endpoint). */
	void *(*endpoint_area)(struct omx_abi_driver *drv, uint32_t handle);
	int (*close_endpoint)(struct omx_abi_driver *drv, uint32_t handle);

	int (*send_tiny)(struct omx_abi_driver *drv, uint32_t handle, const struct omx_abi_send_tiny *cmd);
	int (*send_small)(struct omx_abi_driver *drv, uint32_t handle, const struct omx_abi_send_small *cmd);
	int (*send_medium_frag)(struct omx_abi_driver *drv, uint32_t handle,
				const struct omx_abi_send_medium_frag *cmd);
	int (*send_rndv)(struct omx_abi_driver *drv, uint32_t handle, const struct omx_abi_send_rndv *cmd);
	int (*send_notify)(struct omx_abi_driver *drv, uint32_t handle, const struct omx_abi_send_notify *cmd);
	int (*send_connect_request)(struct omx_abi_driver *drv, uint32_t handle,
				    const struct omx_abi_send_connect_request *cmd);
	int (*send_connect_reply)(struct omx_abi_driver *drv, uint32_t handle,
				  const struct omx_abi_send_connect_reply *cmd);
	int (*send_liback)(struct omx_abi_driver *drv, uint32_t handle, const struct omx_abi_send_liback *cmd);
	int (*create_region)(struct omx_abi_driver *drv, uint32_t handle, const struct omx_abi_create_region *cmd);
	int (*destroy_region)(struct omx_abi_driver *drv, uint32_t handle, uint32_t region_id);
	int (*pull)(struct omx_abi_driver *drv, uint32_t handle, const struct omx_abi_pull *cmd);

	int (*progress)(struct omx_abi_driver *drv, uint32_t handle);
	int (*wait_event)(struct omx_abi_driver *drv, uint32_t handle, struct omx_abi_wait *wait);
	int (*wakeup)(struct omx_abi_driver *drv, uint32_t handle);
	int (*release_exp_slots)(struct omx_abi_driver *drv, uint32_t handle);
	int (*release_unexp_slots)(struct omx_abi_driver *drv, uint32_t handle);

	/* The driver clock, in jiffies of driver_info.hz; readable without a syscall. */
	uint64_t (*jiffies)(struct omx_abi_driver *drv);
};

/* A driver instance: implementations embed this first and recover their own
 * struct with container_of. */
struct omx_abi_driver {
	const struct omx_abi_ops *ops;
};

/* Open the driver named by OMX_DRIVER ("direct" by default). */
int omx_abi_driver_open(struct omx_abi_driver **out);

#endif /* OMX_ABI_OPS_H */
