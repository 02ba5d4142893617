/* The direct driver: the engine linked into the process (the default driver). */
#ifndef OMX_DIRECT_H
#define OMX_DIRECT_H

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

#endif /* OMX_DIRECT_H */
