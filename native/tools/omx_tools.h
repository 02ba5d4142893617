/*
 * omx_tools.h - what the command-line tools share.  Every tool opens the
 * driver OMX_DRIVER names, as the library does: the direct driver (the boards
 * the environment names) by default, whose host-wide state is what every
 * process of the host sees, whichever process changed it; or with
 * OMX_DRIVER=split:<socket> the backend's, through the split frontend.
 *
 *   struct omx_abi_driver *drv;
 *   if (omx_tools_open(&drv) < 0)
 *           return 1;                      (message printed)
 *   ... drv->ops->get_board_info(drv, 0, &bi) ...
 *   drv->ops->close(drv);
 */
#ifndef OMX_TOOLS_H
#define OMX_TOOLS_H

#include <stdint.h>

#include "omx_abi_ops.h"
#include "omx_abi.h"
#include "omx_direct.h"

#define OMX_TOOLS_ADDR_STRLEN 18

/* Open the driver OMX_DRIVER names; prints "Failed to initialize (...)" on error. */
int omx_tools_open(struct omx_abi_driver **out);
/* 0 when drv is the direct driver; else prints that what needs it, -1. */
int omx_tools_require_direct(struct omx_abi_driver *drv, const char *what);
const char *omx_tools_strerror(int err);
/* "xx:xx:xx:xx:xx:xx" */
void omx_tools_addr(char buf[OMX_TOOLS_ADDR_STRLEN], uint64_t addr);
/* Parse "xx:xx:xx:xx:xx:xx" (nothing after it); 0 or -1. */
int omx_tools_parse_addr(const char *s, uint64_t *addr);
/* Parse a board or endpoint number; 0 or -1 (message printed). */
int omx_tools_parse_index(const char *s, uint32_t *out);
/* "<hostname> (board #<i> name <iface> addr <mac>)", or for the shared
 * board "<hostname> (addr <mac>)"; no newline. */
void omx_tools_board_line(char *buf, size_t size, uint32_t index, const struct omx_abi_board_info *bi);

#endif /* OMX_TOOLS_H */
