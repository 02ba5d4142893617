/* omx_strerror.c - a message for every return and status code of open-mx.h. */
#include "omx_lib.h"

const char *omx_strerror(omx_return_t ret)
{
	switch (ret) {
	case OMX_SUCCESS:
		return "Success";
	case OMX_BAD_ERROR:
		return "Bad (internal) error";
	case OMX_ALREADY_INITIALIZED:
		return "Already initialized";
	case OMX_NOT_INITIALIZED:
		return "Not initialized";
	case OMX_NO_DEVICE_FILE:
		return "No device file";
	case OMX_NO_DRIVER:
		return "No driver";
	case OMX_ACCESS_DENIED:
		return "Access denied";
	case OMX_BOARD_NOT_FOUND:
		return "Board not found";
	case OMX_BAD_ENDPOINT:
		return "Bad endpoint";
	case OMX_SEGMENTS_BAD_COUNT:
		return "Segments bad count";
	case OMX_BAD_REQUEST:
		return "Bad request";
	case OMX_BAD_MATCH_MASK:
		return "Bad match mask";
	case OMX_NO_RESOURCES:
		return "No resources";
	case OMX_BUSY:
		return "Resource busy";
	case OMX_BAD_INFO_KEY:
		return "Bad info key";
	case OMX_BAD_INFO_ADDRESS:
		return "Bad info address";
	case OMX_ENDPOINT_PARAMS_BAD_LIST:
		return "Endpoint parameters bad list";
	case OMX_ENDPOINT_PARAM_BAD_KEY:
		return "Endpoint parameter bad key";
	case OMX_ENDPOINT_PARAM_BAD_VALUE:
		return "Endpoint parameter bad value";
	case OMX_PEER_NOT_FOUND:
		return "Peer not found";
	case OMX_TIMEOUT:
		return "Timeout";
	case OMX_REMOTE_ENDPOINT_BAD_ID:
		return "Remote endpoint bad id";
	case OMX_REMOTE_ENDPOINT_CLOSED:
		return "Remote endpoint closed";
	case OMX_REMOTE_ENDPOINT_BAD_CONNECTION_KEY:
		return "Remote endpoint bad connection key";
	case OMX_BAD_INFO_LENGTH:
		return "Bad info length";
	case OMX_NIC_ID_NOT_FOUND:
		return "NIC ID not found";
	case OMX_BAD_KERNEL_ABI:
		return "Bad kernel ABI";
	case OMX_BAD_LIB_ABI:
		return "Bad library ABI";
	case OMX_BAD_MATCHING_FOR_CONTEXT_ID_MASK:
		return "Bad matching for context id mask";
	case OMX_CANCELLED:
		return "Cancelled";
	case OMX_REMOTE_RDMA_WINDOW_BAD_ID:
		return "Remote RDMA window bad id";
	case OMX_REMOTE_ENDPOINT_UNREACHABLE:
		return "Remote endpoint unreachable";
	case OMX_REMOTE_ENDPOINT_BAD_SESSION:
		return "Remote endpoint bad session";
	case OMX_MESSAGE_ABORTED:
		return "Message aborted";
	case OMX_MESSAGE_TRUNCATED:
		return "Message truncated";
	case OMX_NOT_SUPPORTED_IN_HANDLER:
		return "Not supported in handler";
	case OMX_NO_SYSTEM_RESOURCES:
		return "No system resources";
	case OMX_NOT_IMPLEMENTED:
		return "Not implemented";
	case OMX_RETURN_CODE_MAX:
		break;
	}
	return "Unknown error code";
}

const char *omx__counter_name(unsigned index)
{
	static const char *const names[] = {
#define OMX__COUNTER_NAME(name) #name,
		OMX__LIB_COUNTERS(OMX__COUNTER_NAME)
#undef OMX__COUNTER_NAME
	};

	return index < OMX__CNT_MAX ? names[index] : "unknown";
}
