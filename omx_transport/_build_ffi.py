"""Emit the C source of the ``omx_transport._omx_cffi`` extension (cffi API mode).

Run by the Meson build as ``python _build_ffi.py OUT.c``; Meson compiles the
output and links it against the static libopen-mx.  Not installed.
"""

import sys

import cffi

CDEF = """
typedef struct omx_endpoint *omx_endpoint_t;
typedef struct omx__request *omx_request_t;
typedef int omx_return_t;

#define OMX_SUCCESS ...
#define OMX_TIMEOUT ...
#define OMX_MESSAGE_TRUNCATED ...
#define OMX_RETURN_CODE_MAX ...
#define OMX_ANY_NIC ...
#define OMX_ANY_ENDPOINT ...
#define OMX_TIMEOUT_INFINITE ...
#define OMX_HOSTNAMELEN_MAX ...
#define OMX_BOARD_ADDR_STRLEN ...
#define OMX_INFO_BOARD_MAX ...
#define OMX_INFO_ENDPOINT_MAX ...
#define OMX_INFO_BOARD_COUNT ...
#define OMX_INFO_BOARD_HOSTNAME ...
#define OMX_INFO_BOARD_IFACENAME ...
#define OMX_INFO_COUNTER_MAX ...
#define OMX_INFO_COUNTER_VALUES ...
#define OMX_INFO_COUNTER_LABEL ...
#define OMX_ENDPOINT_PARAM_CONTEXT_ID ...

typedef struct omx_endpoint_addr { uint64_t data[2]; } omx_endpoint_addr_t;

typedef struct omx_status {
    omx_return_t code;
    omx_endpoint_addr_t addr;
    uint64_t match_info;
    uint32_t msg_length;
    uint32_t xfer_length;
    void *context;
} omx_status_t;

typedef struct omx_endpoint_param {
    int key;
    union {
        void *error_handler;
        uint32_t unexp_queue_max;
        struct { uint8_t bits; uint8_t shift; } context_id;
    } val;
} omx_endpoint_param_t;

omx_return_t omx_init(void);
omx_return_t omx_finalize(void);
const char *omx_strerror(omx_return_t ret);

omx_return_t omx_board_number_to_nic_id(uint32_t board_number, uint64_t *nic_id);
omx_return_t omx_nic_id_to_board_number(uint64_t nic_id, uint32_t *board_number);
omx_return_t omx_hostname_to_nic_id(const char *hostname, uint64_t *nic_id);
omx_return_t omx_nic_id_to_hostname(uint64_t nic_id, char *hostname);
omx_return_t omx_get_info(omx_endpoint_t ep, int key, const void *in_val, uint32_t in_len,
                          void *out_val, uint32_t out_len);
omx_return_t omx_add_peer(uint64_t nic_id, const char *hostname);
void omx_board_addr_sprintf(char *buf, uint64_t nic_id);
omx_return_t omx_board_addr_sscanf(const char *buf, uint64_t *nic_id);

omx_return_t omx_open_endpoint(uint32_t board_index, uint32_t endpoint_index, uint32_t key,
                               omx_endpoint_param_t *param_array, uint32_t param_count,
                               omx_endpoint_t *epp);
omx_return_t omx_close_endpoint(omx_endpoint_t ep);
omx_return_t omx_wakeup(omx_endpoint_t ep);
omx_return_t omx_get_endpoint_addr(omx_endpoint_t ep, omx_endpoint_addr_t *addr);
omx_return_t omx_decompose_endpoint_addr_with_session(omx_endpoint_addr_t addr, uint64_t *nic_id,
                                                      uint32_t *endpoint_id, uint32_t *session_id);

omx_return_t omx_connect(omx_endpoint_t ep, uint64_t nic_id, uint32_t endpoint_id, uint32_t key,
                         uint32_t timeout_ms, omx_endpoint_addr_t *addr);
omx_return_t omx_disconnect(omx_endpoint_t ep, omx_endpoint_addr_t addr);

omx_return_t omx_isend(omx_endpoint_t ep, const void *buffer, size_t length,
                       omx_endpoint_addr_t dest, uint64_t match_info, void *context,
                       omx_request_t *request);
omx_return_t omx_issend(omx_endpoint_t ep, const void *buffer, size_t length,
                        omx_endpoint_addr_t dest, uint64_t match_info, void *context,
                        omx_request_t *request);
omx_return_t omx_irecv(omx_endpoint_t ep, void *buffer, size_t length, uint64_t match_info,
                       uint64_t match_mask, void *context, omx_request_t *request);

omx_return_t omx_test(omx_endpoint_t ep, omx_request_t *request, omx_status_t *status,
                      uint32_t *result);
omx_return_t omx_wait(omx_endpoint_t ep, omx_request_t *request, omx_status_t *status,
                      uint32_t *result, uint32_t timeout_ms);
omx_return_t omx_test_any(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
                          omx_status_t *status, uint32_t *result);
omx_return_t omx_wait_any(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
                          omx_status_t *status, uint32_t *result, uint32_t timeout_ms);
omx_return_t omx_iprobe(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
                        omx_status_t *status, uint32_t *result);
omx_return_t omx_probe(omx_endpoint_t ep, uint64_t match_info, uint64_t match_mask,
                       omx_status_t *status, uint32_t *result, uint32_t timeout_ms);
omx_return_t omx_cancel(omx_endpoint_t ep, omx_request_t *request, uint32_t *result);
omx_return_t omx_forget(omx_endpoint_t ep, omx_request_t *request);
omx_return_t omx_progress(omx_endpoint_t ep);
omx_return_t omx_set_request_timeout(omx_endpoint_t ep, omx_request_t request,
                                     uint32_t milliseconds);
"""


def main(out_path: str) -> None:
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("omx_transport._omx_cffi", '#include "open-mx.h"\n')
    ffi.emit_c_code(out_path)


if __name__ == "__main__":
    main(sys.argv[1])
