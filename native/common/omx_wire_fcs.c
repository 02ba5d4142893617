/* CRC32C (Castagnoli), the optional frame check sequence of omx_wire.h. */
#include "omx_wire.h"

static uint32_t omx_wire_crc32c_table[256];

static void omx_wire_crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		omx_wire_crc32c_table[i] = c;
	}
}

uint32_t omx_wire_crc32c(const void *data, size_t len)
{
	/* The table is built once; a racing second builder writes identical values. */
	if (!__atomic_load_n(&omx_wire_crc32c_table[1], __ATOMIC_ACQUIRE))
		omx_wire_crc32c_init();
	const uint8_t *p = data;
	uint32_t crc = 0xFFFFFFFFu;
	while (len--)
		crc = omx_wire_crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}
