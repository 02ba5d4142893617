/*
 * omx_split_front.h - the split driver's frontend (the domU role): the
 * driver ABI of omx_abi_ops.h implemented by forwarding every command to a
 * backend daemon over the ring of omx_split_ring.h.
 *
 *   struct omx_abi_driver *drv;
 *   int err = omx_split_front_open("/run/omx/backend.sock", &drv);
 *   if (err == OMX_ABI_EPERM)          refused by the backend's policy:
 *           fprintf(stderr, "%s\n", omx_split_front_refusal());
 *   ... drv->ops->get_board_info(drv, 0, &bi) ...
 *   drv->ops->close(drv);               walks Closing -> Closed
 *
 * Usually reached through omx_abi_driver_open() with
 * OMX_DRIVER=split:<socket path> (omx_split_front_select.c).
 *
 * Errors of omx_split_front_open: OMX_ABI_ENODEV when nothing listens at the
 * path, OMX_ABI_EPERM when the backend refuses (its reason is printed when
 * OMX_VERBOSE is set and kept for omx_split_front_refusal), OMX_ABI_EIO when
 * the handshake breaks, OMX_ABI_EINVAL for a protocol version mismatch.
 *
 * Once connected, every command may be called from several threads.
 * progress() has nothing to move (the engine runs in the backend); called
 * back to back without new events it yields the processor, and after the
 * wait spin budget (OMX_WAITSPIN_US) it naps on the event channel, so that
 * a polling application leaves the backend a processor (two cores).  When
 * the backend dies (EOF on the bus), every later command fails with
 * OMX_ABI_EIO, waiters wake, and each open endpoint's desc gets
 * OMX_ABI_DESC_IFACE_REMOVED.
 */
#ifndef OMX_SPLIT_FRONT_H
#define OMX_SPLIT_FRONT_H

#include "omx_abi_ops.h"

int omx_split_front_open(const char *socket_path, struct omx_abi_driver **out);

/* The reason the backend gave with its last refusal in this process, or ""
 * (tools print it; not synchronised: read it after a failed open). */
const char *omx_split_front_refusal(void);

#endif /* OMX_SPLIT_FRONT_H */
