/* The direct driver: the engine linked into the process (the default driver). */
#ifndef OMX_DIRECT_H
#define OMX_DIRECT_H

#include "omx_abi.h"

/* Open the direct driver: attaches the boards named by the environment
 * (OMX_LINK and friends) and returns the ABI handle. */
int omx_drv_direct_open(struct omx_abi_driver **out);

#endif /* OMX_DIRECT_H */
