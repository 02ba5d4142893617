/*
 * omx_split_bus.h - the bus (xenstore/xenbus role): one message per
 * SOCK_SEQPACKET packet, with up to OMX_SPLIT_BUS_FDS_MAX fds attached.
 */
#ifndef OMX_SPLIT_BUS_H
#define OMX_SPLIT_BUS_H

#include "omx_split_proto.h"

/* Send msg with nr_fds fds; 0 or a negative OMX_ABI_E* (EIO: peer gone). */
int omx_split_bus_send(int sock, const struct omx_split_bus_msg *msg, const int *fds, unsigned nr_fds);

/*
 * Receive one message, waiting up to timeout_ms (< 0: forever).  Received
 * fds are stored in fds[] (close-on-exec), *nr_fds is set; fds beyond
 * max_fds, or any fd when the message is malformed, are closed.  Returns 1
 * with a message, 0 on timeout, OMX_ABI_EIO on EOF or error, OMX_ABI_EINVAL
 * for a packet that is not exactly one message (the fds are then closed).
 */
int omx_split_bus_recv(int sock, struct omx_split_bus_msg *msg, int *fds, unsigned max_fds,
		       unsigned *nr_fds, int timeout_ms);

/* Close the nr fds of a received message. */
void omx_split_bus_close_fds(int *fds, unsigned nr);

#endif /* OMX_SPLIT_BUS_H */
