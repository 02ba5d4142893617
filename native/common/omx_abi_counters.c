#include "omx_abi.h"

static const char *const omx_abi_counter_labels[OMX_COUNTER_INDEX_MAX] = {
#define OMX_ABI_COUNTER_LABEL(name, label) [OMX_COUNTER_##name] = label,
	OMX_ABI_COUNTERS(OMX_ABI_COUNTER_LABEL)
#undef OMX_ABI_COUNTER_LABEL
};

const char *omx_abi_counter_label(uint32_t index)
{
	return index < OMX_COUNTER_INDEX_MAX ? omx_abi_counter_labels[index] : "**Unknown**";
}
