/*
 * omx_counters.c - the host-wide counters of the boards, in the reference's
 * format: a header line, a 55-'=' rule, then "%03d: % 9ld <label>" for every
 * counter that is not zero (all of them with -v).  By default the fake
 * "shared" board (intra-host traffic) and then every board.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "omx_tools.h"

static void omx_counters_usage(const char *argv0)
{
	fprintf(stderr, "%s [options]\n", argv0);
	fprintf(stderr, " -b <n>\treport the counters of board <n> only\n");
	fprintf(stderr, " -a\treport the shared communication counters and every board [default]\n");
	fprintf(stderr, " -s\treport shared communication counters only\n");
	fprintf(stderr, " -c\tclear counters\n");
	fprintf(stderr, " -q\tonly display non-null counters [default]\n");
	fprintf(stderr, " -v\talso display null counters\n");
}

static int omx_counters_board(struct omx_abi_driver *drv, uint32_t index, int clear, int verbose)
{
	uint32_t v[OMX_COUNTER_INDEX_MAX];
	struct omx_abi_board_info bi;
	char line[256];
	int err;

	err = drv->ops->get_board_info(drv, index, &bi);
	if (err < 0) {
		fprintf(stderr, "Failed to read board #%d id, %s\n", (int)index, omx_tools_strerror(err));
		return err;
	}
	err = drv->ops->get_counters(drv, index, clear, v, OMX_COUNTER_INDEX_MAX);
	if (err < 0) {
		fprintf(stderr, "Failed to read the counters of board #%d, %s\n", (int)index,
			omx_tools_strerror(err));
		return err;
	}
	omx_tools_board_line(line, sizeof(line), index, &bi);
	printf("%s\n", line);
	printf("=======================================================\n");
	for (uint32_t i = 0; i < OMX_COUNTER_INDEX_MAX; i++)
		if (v[i] || verbose)
			printf("%03d: % 9ld %s\n", (int)i, (long)v[i], omx_abi_counter_label(i));
	return 0;
}

int main(int argc, char *argv[])
{
	struct omx_abi_driver_info di;
	struct omx_abi_driver *drv;
	uint32_t board = 0;
	int mode = 'a', clear = 0, verbose = 0, err = 0, c;

	while ((c = getopt(argc, argv, "b:ascqvh")) != -1)
		switch (c) {
		case 'b':
			if (omx_tools_parse_index(optarg, &board) < 0)
				return 1;
			mode = 'b';
			break;
		case 'a':
		case 's':
			mode = c;
			break;
		case 'c':
			clear = 1;
			break;
		case 'q':
			verbose = 0;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			omx_counters_usage(argv[0]);
			return 0;
		default:
			omx_counters_usage(argv[0]);
			return 1;
		}
	if (omx_tools_open(&drv) < 0)
		return 1;
	if (mode == 'b') {
		err = omx_counters_board(drv, board, clear, verbose);
	} else {
		err = omx_counters_board(drv, OMX_ABI_BOARD_SHARED, clear, verbose);
		drv->ops->get_info(drv, &di);
		for (uint32_t i = 0; mode == 'a' && !err && i < di.board_count; i++) {
			printf("\n");
			err = omx_counters_board(drv, i, clear, verbose);
		}
	}
	drv->ops->close(drv);
	return err ? 1 : 0;
}
