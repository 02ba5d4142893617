/*
 * omx_info.c - the boards, the peer table state and the peers of this host,
 * in the reference's format:
 *
 *   Open-MX version 0.1.0
 *    build: ...
 *
 *   Found 2 boards (8 max) supporting 32 endpoints each:
 *    host:0 (board #0 name veth0 addr 02:00:00:00:01:01)
 *      managed by driver 'veth'
 *
 *   Peer table is ready, mapper is 00:00:00:00:00:00
 *   ================================================
 *     0) 02:00:00:00:01:01 host:0
 *     1) 02:00:00:00:01:02 <unknown>
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "omx_tools.h"

static int omx_info_verbose = 1;

static void omx_info_usage(const char *argv0)
{
	fprintf(stderr, "%s [options]\n", argv0);
	fprintf(stderr, " -b <n>\tonly display board id <n>\n");
	fprintf(stderr, " -q\tdo not display verbose messages\n");
	fprintf(stderr, " -v\tdisplay verbose messages\n");
}

static void omx_info_board(struct omx_abi_driver *drv, uint32_t index)
{
	struct omx_abi_board_info bi;
	char line[256];

	if (drv->ops->get_board_info(drv, index, &bi) < 0)
		return;
	omx_tools_board_line(line, sizeof(line), index, &bi);
	printf(" %s\n", line);
	if (omx_info_verbose && bi.drivername[0])
		printf("   managed by driver '%s'\n", bi.drivername);
	if (omx_info_verbose && bi.numa_node >= 0)
		printf("   attached to numa node %d\n", bi.numa_node);
	if (bi.status & OMX_ABI_BOARD_STATUS_DOWN)
		printf("   WARNING: interface is currently DOWN.\n");
	if (bi.status & OMX_ABI_BOARD_STATUS_BAD_MTU)
		printf("   WARNING: MTU=%ld invalid\n", (long)bi.mtu);
}

static void omx_info_peers(struct omx_abi_driver *drv, uint32_t peer_max)
{
	char addr[OMX_TOOLS_ADDR_STRLEN];
	struct omx_abi_peer_info pi;

	for (uint32_t i = 0; i < peer_max; i++) {
		if (drv->ops->peer_from_index(drv, i, &pi) < 0)
			break;
		omx_tools_addr(addr, pi.board_addr);
		printf("  %u) %s %s\n", i, addr, pi.hostname[0] ? pi.hostname : "<unknown>");
	}
}

int main(int argc, char *argv[])
{
	struct omx_abi_peer_table_state st;
	struct omx_abi_driver_info di;
	struct omx_abi_driver *drv;
	char addr[OMX_TOOLS_ADDR_STRLEN];
	uint32_t bid = UINT32_MAX;
	int c;

	while ((c = getopt(argc, argv, "b:qvh")) != -1)
		switch (c) {
		case 'b':
			if (omx_tools_parse_index(optarg, &bid) < 0)
				return 1;
			break;
		case 'q':
			omx_info_verbose = 0;
			break;
		case 'v':
			omx_info_verbose = 1;
			break;
		case 'h':
			omx_info_usage(argv[0]);
			return 0;
		default:
			omx_info_usage(argv[0]);
			return 1;
		}

	if (omx_info_verbose) {
		printf("Open-MX version %s\n", OMX_TOOLS_VERSION);
		printf(" build: %s\n", OMX_TOOLS_BUILD);
		printf("\n");
	}
	if (omx_tools_open(&drv) < 0)
		return 1;
	drv->ops->get_info(drv, &di);
	printf("Found %lu boards (%lu max) supporting %lu endpoints each:\n", (unsigned long)di.board_count,
	       (unsigned long)di.board_max, (unsigned long)di.endpoint_max);
	if (bid == UINT32_MAX)
		for (uint32_t i = 0; i < di.board_max; i++)
			omx_info_board(drv, i);
	else
		omx_info_board(drv, bid);

	drv->ops->peer_table_get_state(drv, &st);
	if (omx_info_verbose) {
		printf("\n");
		if (st.status & OMX_ABI_PEER_TABLE_CONFIGURED) {
			omx_tools_addr(addr, st.mapper_id);
			printf("Peer table is ready, mapper is %s\n", addr);
		} else {
			printf("Peer table is not configured yet\n");
		}
		printf("================================================\n");
		omx_info_peers(drv, di.peer_max);
	}
	if (st.status & OMX_ABI_PEER_TABLE_FULL)
		printf("WARNING: peer table is full, some peers could not be added.\n");
	drv->ops->close(drv);
	return 0;
}
