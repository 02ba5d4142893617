/*
 * omx_endpoint_info.c - who holds the endpoints of a board (pid and
 * command of the claiming process), the raw one included:
 *
 *   host:0 (board #0 name veth0 addr 02:00:00:00:01:01)
 *   ==============================================
 *     raw	open by pid 412 (omxoed)
 *     0	open by pid 977 (omx_perf)
 *   1 regular endpoints open (out of 32)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "omx_tools.h"

static void omx_endpoint_info_usage(const char *argv0)
{
	fprintf(stderr, "%s [options]\n", argv0);
	fprintf(stderr, " -b <n>\tchange board id [0]\n");
	fprintf(stderr, " -a\tdisplay all boards\n");
	fprintf(stderr, " -v\talso display endpoints that are not open\n");
}

static int omx_endpoint_info_board(struct omx_abi_driver *drv, uint32_t index, uint32_t emax, int verbose)
{
	struct omx_abi_endpoint_state st;
	struct omx_abi_board_info bi;
	char line[256];
	uint32_t open = 0;
	int err;

	err = drv->ops->get_board_info(drv, index, &bi);
	if (err < 0) {
		fprintf(stderr, "Failed to read board #%d id, %s\n", (int)index, omx_tools_strerror(err));
		return err;
	}
	omx_tools_board_line(line, sizeof(line), index, &bi);
	printf("%s\n", line);
	printf("==============================================\n");
	if (drv->ops->get_endpoint_state(drv, index, OMX_ABI_ENDPOINT_RAW, &st) == 0) {
		if (!st.closed)
			printf("  raw\topen by pid %ld (%s)\n", (long)st.pid, st.command);
		else if (verbose)
			printf("  raw\tnot open\n");
	}
	for (uint32_t i = 0; i < emax; i++) {
		err = drv->ops->get_endpoint_state(drv, index, i, &st);
		if (err < 0) {
			fprintf(stderr, "Failed to read endpoint %u of board #%d, %s\n", i, (int)index,
				omx_tools_strerror(err));
			return err;
		}
		if (!st.closed) {
			printf("  %u\topen by pid %ld (%s)\n", i, (long)st.pid, st.command);
			open++;
		} else if (verbose) {
			printf("  %u\tnot open\n", i);
		}
	}
	printf("%u regular endpoints open (out of %u)\n", open, emax);
	return 0;
}

int main(int argc, char *argv[])
{
	struct omx_abi_driver_info di;
	struct omx_abi_driver *drv;
	uint32_t board = 0;
	int all = 0, verbose = 0, err = 0, c;

	while ((c = getopt(argc, argv, "b:avh")) != -1)
		switch (c) {
		case 'b':
			if (omx_tools_parse_index(optarg, &board) < 0)
				return 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			omx_endpoint_info_usage(argv[0]);
			return 0;
		default:
			omx_endpoint_info_usage(argv[0]);
			return 1;
		}
	if (omx_tools_open(&drv) < 0)
		return 1;
	drv->ops->get_info(drv, &di);
	if (!all) {
		err = omx_endpoint_info_board(drv, board, di.endpoint_max, verbose);
	} else {
		for (uint32_t i = 0; !err && i < di.board_count; i++) {
			if (i)
				printf("\n");
			err = omx_endpoint_info_board(drv, i, di.endpoint_max, verbose);
		}
	}
	drv->ops->close(drv);
	return err ? 1 : 0;
}
