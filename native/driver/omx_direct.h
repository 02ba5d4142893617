/* The direct driver: the engine linked into the process (the default driver). */
#ifndef OMX_DIRECT_H
#define OMX_DIRECT_H

#include <stdint.h>

#include "omx_abi_ops.h"

/* Open the direct driver: attaches the boards named by the environment
 * (OMX_LINK and friends) and returns the ABI handle. */
int omx_drv_direct_open(struct omx_abi_driver **out);

/* Forget every non-local peer name (they are queried again); stale host
 * replies are then dropped.  Direct driver only. */
int omx_drv_peer_table_clear_names(struct omx_abi_driver *d);

/*
 * The raw interface of a board (packet link only; OMX_ABI_ENOSYS otherwise),
 * for the peer discovery daemon: one opener per board on the host
 * (OMX_ABI_EBUSY), which sends complete Ethernet frames of its own making and
 * receives the RAW-type frames (packet type 1) sent to the board or to the
 * broadcast address.  While it is open, this opener also answers the
 * board's host queries and sends its own (omx_drv_raw_recv runs them).
 * The opener shows as endpoint OMX_ABI_ENDPOINT_RAW in get_endpoint_state.
 */
struct omx_drv_raw;
int omx_drv_raw_open(struct omx_abi_driver *d, uint32_t board_index, struct omx_drv_raw **out);
void omx_drv_raw_close(struct omx_drv_raw *raw);
/* A whole frame, head included (padded to 60 bytes); len <= the board MTU. */
int omx_drv_raw_send(struct omx_drv_raw *raw, const void *frame, uint32_t len);
/* Wait up to timeout_ms (< 0: forever) for a RAW frame: 1 with *len set,
 * 0 on timeout, or a negative OMX_ABI_E*. */
int omx_drv_raw_recv(struct omx_drv_raw *raw, void *buf, uint32_t *len, int timeout_ms);

/*
 * Shadow endpoints: hosting another process's endpoints (the split
 * backend).  The host opens a shadow endpoint on an area the other process
 * (the frontend) created: the engine maps it, initialises it as it would its
 * own and from then on writes events into it.  Recipe:
 *
 *   omx_drv_shadow_layout(&l);         // the frontend sizes its memfd with l
 *   omx_drv_shadow_open(d, &o, &info); // then every ABI command on info.handle
 *   loop: poll omx_drv_shadow_fds(), sleep until omx_drv_shadow_next_due(),
 *         omx_drv_shadow_progress() when either says so, and
 *         omx_drv_shadow_ring() after the commands of a batch;
 *   ops->close_endpoint(d, info.handle);
 *
 * The frontend sleeps by incrementing the area's u32 at l.sleepers_offset
 * (full fence, re-check, poll its notify eventfd, decrement); the engine
 * writes notify_fd after posting events only while that is non-zero.
 * Regions of a shadow endpoint name memory of mem_pid, copied with
 * process_vm_readv/writev and only with each segment's access.  The host is
 * single- or multi-threaded as it likes: these calls lock like the others.
 * Everything the area holds is the frontend's to scribble on: the engine
 * masks each index it reads there, never blocks on its producer lock past
 * OMX_DRV_UQ_SHADOW_WAIT_US (the event is dropped and counted) and never
 * uses addresses read from it.
 */

struct omx_drv_shadow_layout {
	uint64_t area_size;           /* bytes of the endpoint area */
	uint64_t sleepers_offset;     /* of the u32 sleepers counter in the area */
};
void omx_drv_shadow_layout(struct omx_drv_shadow_layout *out);
/* The whole layout every endpoint area has (the open response repeats it). */
void omx_drv_endpoint_layout(struct omx_abi_endpoint_layout *l);

/* Prepare the engine to host shadow endpoints: what the first open would
 * allocate (so the host's fd count is flat from here), and the short
 * producer-lock bound for every area.  Optional; idempotent. */
int omx_drv_shadow_host_init(struct omx_abi_driver *d);

struct omx_drv_shadow_open {
	struct omx_abi_open_endpoint cmd;   /* board, index, command shown by tools */
	int mem_fd;                   /* memfd sealed F_SEAL_SHRINK (the engine keeps a dup) */
	uint64_t mem_offset;          /* page-aligned start of the area in it */
	int notify_fd;                /* eventfd (the engine keeps a dup) */
	int32_t mem_pid;              /* the frontend process */
};
int omx_drv_shadow_open(struct omx_abi_driver *d, const struct omx_drv_shadow_open *o,
			struct omx_abi_endpoint_info *out);

#define OMX_DRV_SHADOW_SEG_READ 0x1
#define OMX_DRV_SHADOW_SEG_WRITE 0x2
struct omx_drv_shadow_seg {
	uint64_t addr;                /* in mem_pid */
	uint64_t length;
	uint32_t access;              /* OMX_DRV_SHADOW_SEG_* */
	uint32_t pad;
};
/* Like create_region, with the segments in mem_pid (at most
 * OMX_ABI_REGION_SEGMENTS_MAX). */
int omx_drv_shadow_create_region(struct omx_abi_driver *d, uint32_t handle, uint32_t id,
				 const struct omx_drv_shadow_seg *segs, uint32_t nr);

/* The fds to poll for readability, in this order: link port, doorbell,
 * claim; up to max stored, the count returned (negative: no such shadow
 * endpoint).  Bit i of progress's `ready` stands for fds[i]. */
#define OMX_DRV_SHADOW_READY_PORT 0x1
#define OMX_DRV_SHADOW_READY_BELL 0x2
#define OMX_DRV_SHADOW_READY_CLAIM 0x4
int omx_drv_shadow_fds(struct omx_abi_driver *d, uint32_t handle, int *fds, unsigned max);
/* When progress is due without any fd readable, in jiffies of
 * omx_drv_now_ms() (pull timers, shared-path upkeep, host queries, a link
 * that holds frames); UINT64_MAX when never. */
uint64_t omx_drv_shadow_next_due(struct omx_abi_driver *d, uint32_t handle);
uint64_t omx_drv_now_ms(void);
/* 1 while pulls of the shadow endpoint are in flight: their replies pour
 * into its port, which the host should keep draining rather than sleep. */
int omx_drv_shadow_pulling(struct omx_abi_driver *d, uint32_t handle);
/* Serve what `ready` says polled readable, and receive and run the timers
 * when the port is ready or next_due has come; rings the frontend.  Returns
 * the number of events posted (>= 0) or a negative OMX_ABI_E*. */
int omx_drv_shadow_progress(struct omx_abi_driver *d, uint32_t handle, unsigned ready);
/* Write notify_fd if events may have been posted and a frontend sleeps. */
void omx_drv_shadow_ring(struct omx_abi_driver *d, uint32_t handle);
/* Post a completion into the expected queue for a command that failed after
 * the frontend returned: only SEND_MEDIUMSQ_FRAG_DONE and PULL_DONE (type
 * in ev->generic.type).  0, OMX_ABI_EAGAIN (queue full) or OMX_ABI_EINVAL. */
int omx_drv_shadow_complete(struct omx_abi_driver *d, uint32_t handle, const union omx_abi_event *ev);

#endif /* OMX_DIRECT_H */
