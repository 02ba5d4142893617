/*
 * omx_drv_peer.c - peer commands and the omx_init_peers file, over the
 * host-wide peer table (omx_drv_host.c): an ordered array of board
 * addresses, local boards first.
 *
 * Indices are handed out in order and never reused until a clear, because
 * libraries and remote drivers keep them (partners, reverse peer indices).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_drv.h"

/* ---- omx_init_peers file -------------------------------------------------- */

static int omx_drv_parse_hex2(const char *s)
{
	int v = 0;

	for (int k = 0; k < 2; k++) {
		int c = (unsigned char)s[k];
		if (c >= '0' && c <= '9')
			v = v * 16 + c - '0';
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* "xx:xx:xx:xx:xx:xx hostname" after comment stripping; 0 or -1. */
static int omx_drv_parse_peer_line(char *s, uint64_t *addr, char **hostname)
{
	uint64_t a = 0;
	char *end;

	for (int i = 0; i < 6; i++) {
		int v = omx_drv_parse_hex2(s);
		if (v < 0)
			return -1;
		a = (a << 8) | (uint64_t)v;
		s += 2;
		if (i < 5 && *s++ != ':')
			return -1;
	}
	if (!isspace((unsigned char)*s))
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return -1;
	end = s;
	while (*end && !isspace((unsigned char)*end))
		end++;
	if (*end) {
		*end++ = '\0';
		while (isspace((unsigned char)*end))
			end++;
		if (*end)
			return -1;
	}
	*addr = a;
	*hostname = s;
	return 0;
}

void omx_drv_peers_load_file(struct omx_drv *drv, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *s, *hostname;
	size_t cap = 0;
	unsigned lineno = 0;
	uint64_t addr;
	int err;

	if (!f) {
		omx_drv_warn("peers", "cannot open OMX_PEERS_FILE %s", path);
		return;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		s = strchr(line, '#');
		if (s)
			*s = '\0';
		s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			continue;
		if (omx_drv_parse_peer_line(s, &addr, &hostname) < 0) {
			omx_drv_warn("peers", "%s:%u: expected \"xx:xx:xx:xx:xx:xx hostname\"; line skipped",
				     path, lineno);
			continue;
		}
		err = omx_drv_peers_add(drv, addr, hostname, 0);
		if (err < 0)
			omx_drv_warn("peers", "%s:%u: cannot add peer (%d); line skipped", path, lineno, err);
	}
	free(line);
	fclose(f);
}

/* ---- commands ------------------------------------------------------------- */

int omx_drv_peer_add(struct omx_abi_driver *d, uint64_t board_addr, const char *hostname)
{
	return omx_drv_peers_add(omx_drv_of(d), board_addr, hostname, 0);
}

int omx_drv_peer_from_index(struct omx_abi_driver *d, uint32_t index, struct omx_abi_peer_info *out)
{
	return omx_drv_peer_info(omx_drv_of(d), index, out);
}

int omx_drv_peer_from_addr(struct omx_abi_driver *d, uint64_t board_addr, struct omx_abi_peer_info *out)
{
	struct omx_drv *drv = omx_drv_of(d);
	uint32_t i = omx_drv_peer_find(drv, board_addr);

	if (i == OMX_DRV_PEER_NONE)
		return OMX_ABI_ENOENT;
	return omx_drv_peer_info(drv, i, out);
}

int omx_drv_peer_from_hostname(struct omx_abi_driver *d, const char *hostname,
			       struct omx_abi_peer_info *out)
{
	struct omx_drv *drv = omx_drv_of(d);
	uint32_t nr = omx_drv_peer_count(drv);

	if (!hostname || !*hostname)
		return OMX_ABI_EINVAL;
	for (uint32_t i = 0; i < nr; i++)
		if (omx_drv_peer_info(drv, i, out) == 0 && !strncmp(out->hostname, hostname, OMX_ABI_HOSTNAME_MAX))
			return 0;
	return OMX_ABI_ENOENT;
}
