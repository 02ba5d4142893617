/*
 * omx_info.c - omx_get_info, board/nic/hostname conversions, the peer
 * table extension and board address formatting.
 */
#include <stdio.h>
#include <string.h>

#include "omx_lib.h"

static struct omx_abi_driver *omx__drv(void)
{
	return omx__globals.initialized ? omx__globals.drv : NULL;
}

void omx_board_addr_sprintf(char *buf, uint64_t nic_id)
{
	snprintf(buf, OMX_BOARD_ADDR_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		 (unsigned)(nic_id >> 40) & 0xff, (unsigned)(nic_id >> 32) & 0xff,
		 (unsigned)(nic_id >> 24) & 0xff, (unsigned)(nic_id >> 16) & 0xff,
		 (unsigned)(nic_id >> 8) & 0xff, (unsigned)nic_id & 0xff);
}

omx_return_t omx_board_addr_sscanf(const char *buf, uint64_t *nic_id)
{
	unsigned b[6];
	uint64_t v = 0;
	char tail;
	int i;

	if (!buf || sscanf(buf, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			   &tail) != 6)
		return omx__error(NULL, OMX_BAD_ERROR, "bad board address \"%s\"", buf ? buf : "(null)");
	for (i = 0; i < 6; i++)
		v = (v << 8) | b[i];
	*nic_id = v;
	return OMX_SUCCESS;
}

omx_return_t omx_board_number_to_nic_id(uint32_t board_number, uint64_t *nic_id)
{
	struct omx_abi_driver *drv = omx__drv();
	struct omx_abi_board_info info;

	if (!drv)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_board_number_to_nic_id");
	if (drv->ops->get_board_info(drv, board_number, &info) < 0)
		return omx__error(NULL, OMX_BOARD_NOT_FOUND, "board %u not found", board_number);
	*nic_id = info.addr;
	return OMX_SUCCESS;
}

omx_return_t omx_nic_id_to_board_number(uint64_t nic_id, uint32_t *board_number)
{
	struct omx_abi_driver *drv = omx__drv();
	struct omx_abi_driver_info di;
	struct omx_abi_board_info info;
	uint32_t i;

	if (!drv)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_nic_id_to_board_number");
	if (drv->ops->get_info(drv, &di) < 0)
		return omx__error(NULL, OMX_NO_DRIVER, "omx_nic_id_to_board_number");
	for (i = 0; i < di.board_count; i++) {
		if (drv->ops->get_board_info(drv, i, &info) == 0 && info.addr == nic_id) {
			*board_number = i;
			return OMX_SUCCESS;
		}
	}
	return omx__error(NULL, OMX_NIC_ID_NOT_FOUND, "nic id 0x%012llx is not a local board",
			  (unsigned long long)nic_id);
}

omx_return_t omx_hostname_to_nic_id(const char *hostname, uint64_t *nic_id)
{
	struct omx_abi_driver *drv = omx__drv();
	struct omx_abi_peer_info peer;

	if (!drv)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_hostname_to_nic_id");
	if (!hostname || drv->ops->peer_from_hostname(drv, hostname, &peer) < 0)
		return omx__error(NULL, OMX_PEER_NOT_FOUND, "peer \"%s\" not found",
				  hostname ? hostname : "(null)");
	*nic_id = peer.board_addr;
	return OMX_SUCCESS;
}

omx_return_t omx_nic_id_to_hostname(uint64_t nic_id, char *hostname)
{
	struct omx_abi_driver *drv = omx__drv();
	struct omx_abi_peer_info peer;

	if (!drv)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_nic_id_to_hostname");
	if (drv->ops->peer_from_addr(drv, nic_id, &peer) < 0)
		return omx__error(NULL, OMX_PEER_NOT_FOUND, "nic id 0x%012llx not in the peer table",
				  (unsigned long long)nic_id);
	memcpy(hostname, peer.hostname, OMX_HOSTNAMELEN_MAX);
	hostname[OMX_HOSTNAMELEN_MAX - 1] = '\0';
	return OMX_SUCCESS;
}

omx_return_t omx_add_peer(uint64_t nic_id, const char *hostname)
{
	struct omx_abi_driver *drv = omx__drv();
	int err;

	if (!drv)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_add_peer");
	err = drv->ops->peer_add(drv, nic_id, hostname ? hostname : "");
	if (err < 0)
		return omx__error(NULL, omx__abi_to_ret(err), "omx_add_peer failed");
	return OMX_SUCCESS;
}

/* ---- omx_get_info ------------------------------------------------------- */

static omx_return_t omx__info_board_index(omx_endpoint_t ep, const void *in_val, uint32_t in_len,
					  uint32_t *board)
{
	if (ep) {
		*board = ep->board_index;
		return OMX_SUCCESS;
	}
	if (!in_val || in_len < sizeof(uint32_t))
		return OMX_BAD_INFO_LENGTH;
	memcpy(board, in_val, sizeof(*board));
	return OMX_SUCCESS;
}

static omx_return_t omx__put_u32(void *out_val, uint32_t out_len, uint32_t v)
{
	if (out_len < sizeof(v))
		return OMX_BAD_INFO_LENGTH;
	memcpy(out_val, &v, sizeof(v));
	return OMX_SUCCESS;
}

static omx_return_t omx__put_str(void *out_val, uint32_t out_len, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (out_len < n + 1)
		return OMX_BAD_INFO_LENGTH;
	memcpy(out_val, s, n);
	((char *)out_val)[n] = '\0';
	return OMX_SUCCESS;
}

static omx_return_t omx__get_info(struct omx_abi_driver *drv, omx_endpoint_t ep, omx_info_key_t key,
				  const void *in_val, uint32_t in_len, void *out_val, uint32_t out_len)
{
	struct omx_abi_driver_info di;
	struct omx_abi_board_info board;
	omx_return_t ret;
	uint32_t index, i;

	if (drv->ops->get_info(drv, &di) < 0)
		return OMX_NO_DRIVER;
	switch (key) {
	case OMX_INFO_BOARD_MAX:
		return omx__put_u32(out_val, out_len, di.board_max);
	case OMX_INFO_ENDPOINT_MAX:
		return omx__put_u32(out_val, out_len, di.endpoint_max);
	case OMX_INFO_BOARD_COUNT:
		return omx__put_u32(out_val, out_len, di.board_count);
	case OMX_INFO_BOARD_IDS:
		if (out_len < sizeof(uint64_t))
			return OMX_BAD_INFO_LENGTH;
		memset(out_val, 0, out_len);
		for (i = 0; i < di.board_count && (i + 1) * sizeof(uint64_t) <= out_len; i++)
			if (drv->ops->get_board_info(drv, i, &board) == 0)
				memcpy((uint8_t *)out_val + i * sizeof(uint64_t), &board.addr, sizeof(uint64_t));
		return OMX_SUCCESS;
	case OMX_INFO_BOARD_HOSTNAME:
	case OMX_INFO_BOARD_IFACENAME:
	case OMX_INFO_BOARD_NUMA_NODE:
		ret = omx__info_board_index(ep, in_val, in_len, &index);
		if (ret != OMX_SUCCESS)
			return ret;
		if (drv->ops->get_board_info(drv, index, &board) < 0)
			return OMX_BOARD_NOT_FOUND;
		if (key == OMX_INFO_BOARD_HOSTNAME)
			return omx__put_str(out_val, out_len, board.hostname, sizeof(board.hostname));
		if (key == OMX_INFO_BOARD_IFACENAME)
			return omx__put_str(out_val, out_len, board.ifacename, sizeof(board.ifacename));
		return omx__put_u32(out_val, out_len, (uint32_t)board.numa_node);
	case OMX_INFO_COUNTER_MAX:
		return omx__put_u32(out_val, out_len, OMX_COUNTER_INDEX_MAX);
	case OMX_INFO_COUNTER_VALUES:
		ret = omx__info_board_index(ep, in_val, in_len, &index);
		if (ret != OMX_SUCCESS)
			return ret;
		if (out_len < OMX_COUNTER_INDEX_MAX * sizeof(uint32_t))
			return OMX_BAD_INFO_LENGTH;
		if (drv->ops->get_counters(drv, index, 0, out_val, OMX_COUNTER_INDEX_MAX) < 0)
			return OMX_BOARD_NOT_FOUND;
		return OMX_SUCCESS;
	case OMX_INFO_COUNTER_LABEL:
		if (!in_val || in_len < sizeof(uint32_t))
			return OMX_BAD_INFO_LENGTH;
		memcpy(&index, in_val, sizeof(index));
		if (index >= OMX_COUNTER_INDEX_MAX)
			return OMX_BAD_INFO_KEY;
		return omx__put_str(out_val, out_len, omx_abi_counter_label(index), 128);
	}
	return OMX_BAD_INFO_KEY;
}

omx_return_t omx_get_info(omx_endpoint_t ep, omx_info_key_t key, const void *in_val, uint32_t in_len,
			  void *out_val, uint32_t out_len)
{
	struct omx_abi_driver *drv = omx__drv();
	omx_return_t ret;

	if (!drv)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_get_info before omx_init");
	if (ep && !omx__endpoint_valid(ep))
		return omx__error(NULL, OMX_BAD_ENDPOINT, "omx_get_info: bad endpoint");
	if (!out_val)
		return omx__error(ep, OMX_BAD_INFO_ADDRESS, "omx_get_info: NULL output");
	ret = omx__get_info(drv, ep, key, in_val, in_len, out_val, out_len);
	return omx__error(ep, ret, "omx_get_info(key %d)", (int)key);
}
