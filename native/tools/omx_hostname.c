/*
 * omx_hostname.c - show or set a board's hostname (host-wide: every
 * process and every peer's host query sees the new name), or forget the
 * names of the peers so that they are queried again.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "omx_tools.h"

static void omx_hostname_usage(const char *argv0)
{
	fprintf(stderr, "%s [options]\n", argv0);
	fprintf(stderr, " -b <n>\t\toperate on board [0]\n");
	fprintf(stderr, " -n <hostname>\tset the board hostname\n");
	fprintf(stderr, " -c\t\tclear all (non-local) peer names\n");
	fprintf(stderr, " -v\t\tverbose messages\n");
}

int main(int argc, char *argv[])
{
	char addr[OMX_TOOLS_ADDR_STRLEN];
	struct omx_abi_board_info bi;
	struct omx_abi_driver *drv;
	const char *hostname = NULL;
	uint32_t board = 0;
	int clear = 0, verbose = 0, ret = 0, err, c;

	while ((c = getopt(argc, argv, "b:n:cvh")) != -1)
		switch (c) {
		case 'b':
			if (omx_tools_parse_index(optarg, &board) < 0)
				return 1;
			break;
		case 'n':
			hostname = optarg;
			break;
		case 'c':
			clear = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			omx_hostname_usage(argv[0]);
			return 0;
		default:
			omx_hostname_usage(argv[0]);
			return 1;
		}
	if (omx_tools_open(&drv) < 0)
		return 1;
	err = drv->ops->get_board_info(drv, board, &bi);
	if (err == OMX_ABI_ENODEV) {
		fprintf(stderr, "Cannot find board #%d\n", (int)board);
		ret = 1;
		goto out;
	}
	if (err < 0) {
		fprintf(stderr, "Failed to read board #%d id, %s\n", (int)board, omx_tools_strerror(err));
		ret = 1;
		goto out;
	}
	omx_tools_addr(addr, bi.addr);
	if (verbose || (!clear && !hostname))
		printf("Board #%d (%s %s) hostname was %s\n", (int)board, bi.ifacename, addr, bi.hostname);
	if (hostname) {
		if (verbose)
			printf("Changing board #%d (%s %s) hostname into %s\n", (int)board, bi.ifacename, addr,
			       hostname);
		err = drv->ops->set_hostname(drv, board, hostname);
		if (err < 0) {
			fprintf(stderr, "Failed to change hostname, %s\n", omx_tools_strerror(err));
			ret = 1;
		}
	}
	if (clear && omx_tools_require_direct(drv, "omx_hostname -c (clearing peer names)") < 0) {
		ret = 1;
	} else if (clear) {
		if (verbose)
			printf("Clearing peer names\n");
		err = omx_drv_peer_table_clear_names(drv);
		if (err < 0) {
			fprintf(stderr, "Failed to clear peer names, %s\n", omx_tools_strerror(err));
			ret = 1;
		}
	}
out:
	drv->ops->close(drv);
	return ret;
}
