/*
 * omx_tools.c - helpers of the command-line tools (omx_tools.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_split_front.h"
#include "omx_tools.h"

const char *omx_tools_strerror(int err)
{
	switch (err) {
	case OMX_ABI_OK:
		return "Success";
	case OMX_ABI_EAGAIN:
		return "Resources temporarily unavailable";
	case OMX_ABI_EINVAL:
		return "Invalid parameter";
	case OMX_ABI_EBUSY:
		return "Busy";
	case OMX_ABI_ENODEV:
		return "Board not found";
	case OMX_ABI_ENOMEM:
		return "No system resources";
	case OMX_ABI_EPERM:
		return "Access denied (raw sockets need root or CAP_NET_RAW; OMX_LINK=udp needs none)";
	case OMX_ABI_ENOENT:
		return "Not found";
	case OMX_ABI_EIO:
		return "Input/output error";
	case OMX_ABI_ENOSYS:
		return "Not supported by this link";
	case OMX_ABI_ETIMEDOUT:
		return "Timeout";
	case OMX_ABI_EMSGSIZE:
		return "Message too large";
	case OMX_ABI_ENOSPC:
		return "Table full";
	default:
		return "Unknown error";
	}
}

/* The driver OMX_DRIVER names (omx_abi_driver_open), as libopen-mx opens it. */
int omx_tools_open(struct omx_abi_driver **out)
{
	const char *name = getenv("OMX_DRIVER");
	int err = omx_abi_driver_open(out);

	if (err >= 0)
		return 0;
	if (name && !strncmp(name, "split:", 6)) {
		const char *why = omx_split_front_refusal();

		if (err == OMX_ABI_EPERM)
			fprintf(stderr, "Failed to initialize (the backend at %s refused access%s%s)\n",
				name + 6, *why ? ": " : "", why);
		else if (err == OMX_ABI_ENODEV)
			fprintf(stderr, "Failed to initialize (no split backend listens at %s)\n", name + 6);
		else
			fprintf(stderr, "Failed to initialize (split backend at %s: %s)\n", name + 6,
				omx_tools_strerror(err));
		return err;
	}
	fprintf(stderr, "Failed to initialize (%s)\n", omx_tools_strerror(err));
	return err;
}

int omx_tools_require_direct(struct omx_abi_driver *drv, const char *what)
{
	if (!strcmp(drv->ops->name, "direct"))
		return 0;
	fprintf(stderr, "%s needs the direct driver (OMX_DRIVER=%s selects the %s driver); run it "
		"on the backend's host without OMX_DRIVER\n", what, getenv("OMX_DRIVER"), drv->ops->name);
	return -1;
}

void omx_tools_addr(char buf[OMX_TOOLS_ADDR_STRLEN], uint64_t addr)
{
	snprintf(buf, OMX_TOOLS_ADDR_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		 (unsigned)(addr >> 40) & 0xff, (unsigned)(addr >> 32) & 0xff,
		 (unsigned)(addr >> 24) & 0xff, (unsigned)(addr >> 16) & 0xff,
		 (unsigned)(addr >> 8) & 0xff, (unsigned)addr & 0xff);
}

int omx_tools_parse_addr(const char *s, uint64_t *addr)
{
	uint64_t v = 0;

	for (int i = 0; i < 6; i++) {
		for (int k = 0; k < 2; k++) {
			int c = (unsigned char)*s++, d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return -1;
			v = (v << 4) | (uint64_t)d;
		}
		if (i < 5 && *s++ != ':')
			return -1;
	}
	if (*s)
		return -1;
	*addr = v;
	return 0;
}

int omx_tools_parse_index(const char *s, uint32_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (!*s || *end || errno || *s == '-' || v > UINT32_MAX) {
		fprintf(stderr, "'%s' is not a number\n", s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

void omx_tools_board_line(char *buf, size_t size, uint32_t index, const struct omx_abi_board_info *bi)
{
	char addr[OMX_TOOLS_ADDR_STRLEN];

	omx_tools_addr(addr, bi->addr);
	if (index == OMX_ABI_BOARD_SHARED)
		snprintf(buf, size, "%s (addr %s)", bi->hostname, addr);
	else
		snprintf(buf, size, "%s (board #%u name %s addr %s)", bi->hostname, index, bi->ifacename, addr);
}
