/*
 * omx_split_front_select.c - driver selection (omx_abi_ops.h), shared by
 * libopen-mx and the command-line tools: OMX_DRIVER unset, empty or
 * "direct" opens the engine in process; "split:<socket path>" the split
 * frontend.  It lives here because it is the one place that links both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_direct.h"
#include "omx_split_front.h"

int omx_abi_driver_open(struct omx_abi_driver **out)
{
	const char *name = getenv("OMX_DRIVER");

	if (!name || !*name || !strcmp(name, "direct"))
		return omx_drv_direct_open(out);
	if (!strncmp(name, "split:", 6))
		return omx_split_front_open(name + 6, out);
	fprintf(stderr, "Open-MX: OMX_DRIVER=\"%s\" is unknown (use \"direct\" or \"split:<path>\")\n", name);
	return OMX_ABI_EINVAL;
}
