/*
 * omx_split_proto.h - what crosses between a split frontend (the domU role,
 * linked into the application) and the backend daemon (the dom0 role, owns
 * the boards and runs the driver engine).
 *
 * Three channels, as in Xen:
 *
 *  bus (xenstore/xenbus): a Unix SOCK_SEQPACKET connection to the backend's
 *    socket.  Carries the xenbus state walk, the ring and grant-table memory
 *    and the event channels (fds passed with SCM_RIGHTS), memory objects,
 *    and the refusal reason of the access policy.  Its end is the death
 *    notice: when the frontend process dies the backend sees EOF and tears
 *    the frontend down (shadow endpoints closed, grants unmapped).
 *
 *  ring (omx_split_ring.h): one request/response ring for every command of
 *    the driver ABI.  Commands whose completion the library learns from an
 *    event (sends, pull, release of slots) are posted without waiting; the
 *    others wait for their response.
 *
 *  event channels: eventfds.  `kick` (frontend -> backend: requests
 *    published), `notify` (backend -> frontend: responses published), and one
 *    per endpoint (backend -> frontend: events published in that endpoint's
 *    queues, only while a frontend thread sleeps on it).
 *
 * Endpoint events do not travel on the ring: the backend's engine writes them
 * straight into the endpoint area (event queues and recvq), memory that the
 * frontend owns and grants, exactly as the direct driver writes them into its
 * own area.  The library therefore reads the same area layout whatever the
 * driver.
 *
 * Grants.  The frontend owns a grant table (OMX_SPLIT_GRANT_ENTRIES entries
 * in memory shared with the backend).  An entry names memory and the access
 * the backend gets to it:
 *   mem == OMX_SPLIT_MEM_SELF: the frontend's own address space, offset = an
 *     address.  The backend reaches it only by copying with
 *     process_vm_readv/writev (Xen's grant copy), never by mapping, and only
 *     inside [offset, offset + length).  Used for the buffers of regions
 *     (user memory, zero extra copies).
 *   mem == k > 0: memory object k, a sealed memfd the frontend passed on the
 *     bus (MEM_ADD).  The backend maps it.  Used for endpoint areas.
 * The backend snapshots an entry when it starts using it, checks every
 * reference, offset, length and access against the snapshot, and counts
 * its use in the entry's `busy` field (Xen's GTF_reading/GTF_writing): the
 * frontend refuses to end a grant while busy != 0.  A frontend that edits a
 * busy entry anyway changes nothing the backend uses.
 */
#ifndef OMX_SPLIT_PROTO_H
#define OMX_SPLIT_PROTO_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "omx_abi.h"

#define OMX_SPLIT_PROTO_VERSION 1

/* ---- ring geometry --------------------------------------------------------- */

#define OMX_SPLIT_SLOT_SIZE 256
#define OMX_SPLIT_RING_SLOTS 64                     /* power of two */
#define OMX_SPLIT_RING_BYTES (64 + OMX_SPLIT_RING_SLOTS * OMX_SPLIT_SLOT_SIZE)

/* ---- grant table ------------------------------------------------------------ */

#define OMX_SPLIT_GRANT_ENTRIES 4096
#define OMX_SPLIT_GRANT_NONE 0u                     /* ref 0 is never valid */

#define OMX_SPLIT_GRANT_PERMIT 0x1                  /* the entry is in use */
#define OMX_SPLIT_GRANT_READ 0x2                    /* the backend may read */
#define OMX_SPLIT_GRANT_WRITE 0x4                   /* the backend may write */

#define OMX_SPLIT_MEM_SELF 0u
#define OMX_SPLIT_MEM_OBJECTS_MAX 1024              /* memory objects per frontend */

struct omx_split_grant {
	uint32_t flags;               /* frontend: OMX_SPLIT_GRANT_* */
	uint32_t mem;                 /* frontend: OMX_SPLIT_MEM_SELF or a memory object id */
	uint64_t offset;              /* frontend: address (SELF) or offset in the object */
	uint64_t length;              /* frontend */
	uint32_t busy;                /* backend: uses in progress (atomic) */
	uint32_t pad;
};
static_assert(sizeof(struct omx_split_grant) == 32, "a grant entry is 32 bytes");

#define OMX_SPLIT_GRANT_TABLE_BYTES (OMX_SPLIT_GRANT_ENTRIES * sizeof(struct omx_split_grant))

/* A piece of granted memory: bytes [offset, offset + length) of grant ref. */
struct omx_split_grant_span {
	uint32_t ref;
	uint32_t pad;
	uint64_t offset;              /* relative to the grant's start */
	uint64_t length;
};
static_assert(sizeof(struct omx_split_grant_span) == 24, "a grant span is 24 bytes");

/* ---- requests (frontend -> backend) ---------------------------------------- */

enum omx_split_func {
	OMX_SPLIT_NONE = 0,
	/* answered with a response the frontend waits for */
	OMX_SPLIT_GET_INFO = 1,
	OMX_SPLIT_GET_BOARD_INFO = 2,
	OMX_SPLIT_GET_ENDPOINT_STATE = 3,
	OMX_SPLIT_GET_COUNTERS = 4,
	OMX_SPLIT_SET_HOSTNAME = 5,
	OMX_SPLIT_PEER_ADD = 6,
	OMX_SPLIT_PEER_TABLE_CLEAR = 7,
	OMX_SPLIT_PEER_TABLE_GET_STATE = 8,
	OMX_SPLIT_PEER_TABLE_SET_STATE = 9,
	OMX_SPLIT_PEER_FROM_INDEX = 10,
	OMX_SPLIT_PEER_FROM_ADDR = 11,
	OMX_SPLIT_PEER_FROM_HOSTNAME = 12,
	OMX_SPLIT_OPEN_ENDPOINT = 13,
	OMX_SPLIT_CLOSE_ENDPOINT = 14,
	OMX_SPLIT_CREATE_REGION = 15,
	OMX_SPLIT_DESTROY_REGION = 16,
	/* posted: the frontend does not wait; an error response is counted
	 * (and the backend posts the completion event the library waits for,
	 * e.g. SEND_MEDIUMSQ_FRAG_DONE or PULL_DONE ABORTED) */
	OMX_SPLIT_SEND_TINY = 32,
	OMX_SPLIT_SEND_SMALL = 33,
	OMX_SPLIT_SEND_MEDIUM_FRAG = 34,
	OMX_SPLIT_SEND_RNDV = 35,
	OMX_SPLIT_SEND_NOTIFY = 36,
	OMX_SPLIT_SEND_CONNECT_REQUEST = 37,
	OMX_SPLIT_SEND_CONNECT_REPLY = 38,
	OMX_SPLIT_SEND_LIBACK = 39,
	OMX_SPLIT_PULL = 40,
	OMX_SPLIT_RELEASE_EXP_SLOTS = 41,
	OMX_SPLIT_RELEASE_UNEXP_SLOTS = 42,
	OMX_SPLIT_FUNC_MAX = 43,
};

static inline int omx_split_func_is_posted(uint32_t func)
{
	return func >= OMX_SPLIT_SEND_TINY && func < OMX_SPLIT_FUNC_MAX;
}

#define OMX_SPLIT_COUNTERS_PER_RSP 48
#define OMX_SPLIT_REGION_INLINE_SPANS 8

struct omx_split_req_open_endpoint {
	struct omx_abi_open_endpoint cmd;
	uint32_t area_ref;            /* grant of the whole area: a memory object, read-write */
	uint32_t evtchn;              /* event channel id (bus EVTCHN_ADD) */
};

/* Segment i of the region is spans[i]; more than the inline ones lie in
 * granted memory (spans_ref, read access), nr_segments entries from its
 * start. */
struct omx_split_req_create_region {
	uint32_t id;
	uint32_t nr_segments;         /* <= OMX_ABI_REGION_SEGMENTS_MAX */
	uint32_t spans_ref;           /* OMX_SPLIT_GRANT_NONE: the spans are inline */
	uint32_t pad;
	struct omx_split_grant_span spans[OMX_SPLIT_REGION_INLINE_SPANS];
};

struct omx_split_req_counters {
	uint32_t board_index;
	uint32_t clear;               /* clear after reading (with the last chunk) */
	uint32_t first;               /* first counter index of this chunk */
	uint32_t nr;                  /* <= OMX_SPLIT_COUNTERS_PER_RSP */
};

struct omx_split_req_board {
	uint32_t board_index;
	uint32_t endpoint_index;      /* GET_ENDPOINT_STATE */
	char hostname[OMX_ABI_HOSTNAME_MAX];   /* SET_HOSTNAME, PEER_ADD, PEER_FROM_HOSTNAME */
	uint64_t board_addr;          /* PEER_ADD, PEER_FROM_ADDR */
	uint32_t peer_index;          /* PEER_FROM_INDEX */
	uint32_t pad;
};

struct omx_split_request {
	uint16_t func;                /* enum omx_split_func */
	uint16_t pad0;
	uint32_t id;                  /* echoed in the response */
	uint32_t handle;              /* endpoint handle (endpoint commands) */
	uint32_t pad1;
	union {
		struct omx_split_req_board board;
		struct omx_split_req_counters counters;
		struct omx_abi_peer_table_state peer_table_state;
		struct omx_split_req_open_endpoint open_endpoint;
		struct omx_split_req_create_region create_region;
		uint32_t region_id;   /* DESTROY_REGION */
		struct omx_abi_send_tiny send_tiny;
		struct omx_abi_send_small send_small;
		struct omx_abi_send_medium_frag send_medium_frag;
		struct omx_abi_send_rndv send_rndv;
		struct omx_abi_send_notify send_notify;
		struct omx_abi_send_connect_request send_connect_request;
		struct omx_abi_send_connect_reply send_connect_reply;
		struct omx_abi_send_liback send_liback;
		struct omx_abi_pull pull;
		uint8_t raw[OMX_SPLIT_SLOT_SIZE - 16];
	} u;
};

/* ---- responses (backend -> frontend) --------------------------------------- */

struct omx_split_response {
	uint16_t func;                /* the request's */
	uint16_t pad0;
	uint32_t id;                  /* the request's */
	int32_t ret;                  /* the command's: >= 0 (PEER_ADD: the index) or OMX_ABI_E* */
	uint32_t pad1;
	union {
		struct omx_abi_driver_info driver_info;
		struct omx_abi_board_info board_info;
		struct omx_abi_endpoint_info endpoint_info;
		struct omx_abi_endpoint_state endpoint_state;
		struct omx_abi_peer_info peer_info;
		struct omx_abi_peer_table_state peer_table_state;
		uint32_t counters[OMX_SPLIT_COUNTERS_PER_RSP];
		uint8_t raw[OMX_SPLIT_SLOT_SIZE - 16];
	} u;
};

union omx_split_slot {
	struct omx_split_request req;
	struct omx_split_response rsp;
};

static_assert(sizeof(struct omx_split_request) == OMX_SPLIT_SLOT_SIZE, "a request fills one slot");
static_assert(sizeof(struct omx_split_response) == OMX_SPLIT_SLOT_SIZE, "a response fills one slot");
static_assert(sizeof(union omx_split_slot) == OMX_SPLIT_SLOT_SIZE, "a slot is 256 bytes");

/* ---- bus (Unix SOCK_SEQPACKET, one message per packet) ---------------------- */

/* Xen's XenbusState numbers. */
enum omx_split_bus_state {
	OMX_SPLIT_STATE_UNKNOWN = 0,
	OMX_SPLIT_STATE_INITIALISING = 1,
	OMX_SPLIT_STATE_INITWAIT = 2,
	OMX_SPLIT_STATE_INITIALISED = 3,
	OMX_SPLIT_STATE_CONNECTED = 4,
	OMX_SPLIT_STATE_CLOSING = 5,
	OMX_SPLIT_STATE_CLOSED = 6,
};

/*
 * The walk (F = frontend, B = backend):
 *   F connects, sends STATE Initialising {version}.
 *   B checks SO_PEERCRED against its access policy: outside it, B sends
 *     REFUSED {reason} and closes.  Otherwise B sends STATE InitWait with
 *     its parameters (version, backend pid for PR_SET_PTRACER, ring slots,
 *     grant entries, driver info).
 *   F creates the ring and grant table (sealed memfds) and the kick and
 *     notify eventfds, sends RING with the four fds, then STATE Initialised.
 *   B maps and checks them, sends STATE Connected.  F is Connected.
 *   While connected, F may send MEM_ADD {id} + memfd, MEM_DEL {id},
 *     EVTCHN_ADD {id} + eventfd, EVTCHN_DEL {id}; B answers each with ACK
 *     {same type, id, ret} before F uses the id on the ring.
 *   F sends STATE Closing; B closes the frontend's endpoints, unmaps
 *     everything and sends STATE Closed.  EOF at any point: B tears down.
 */
enum omx_split_bus_type {
	OMX_SPLIT_BUS_STATE = 1,
	OMX_SPLIT_BUS_REFUSED = 2,
	OMX_SPLIT_BUS_RING = 3,       /* fds: ring memfd, grant table memfd, kick, notify */
	OMX_SPLIT_BUS_MEM_ADD = 4,    /* fd: a memfd sealed against shrinking */
	OMX_SPLIT_BUS_MEM_DEL = 5,
	OMX_SPLIT_BUS_EVTCHN_ADD = 6, /* fd: an eventfd */
	OMX_SPLIT_BUS_EVTCHN_DEL = 7,
	OMX_SPLIT_BUS_ACK = 8,
};

#define OMX_SPLIT_BUS_FDS_MAX 4
#define OMX_SPLIT_BUS_TEXT_MAX 160

struct omx_split_bus_msg {
	uint32_t type;                /* enum omx_split_bus_type */
	uint32_t state;               /* STATE: enum omx_split_bus_state; ACK: the acked type */
	uint32_t id;                  /* MEM_*, EVTCHN_*, ACK */
	int32_t ret;                  /* ACK: 0 or OMX_ABI_E* */
	uint32_t version;             /* STATE Initialising / InitWait */
	uint32_t backend_pid;         /* STATE InitWait */
	uint32_t ring_slots;          /* STATE InitWait */
	uint32_t grant_entries;       /* STATE InitWait */
	struct omx_abi_driver_info driver_info;   /* STATE InitWait */
	char text[OMX_SPLIT_BUS_TEXT_MAX];        /* REFUSED: the reason, NUL-terminated */
};
static_assert(sizeof(struct omx_split_bus_msg) == 224, "a bus message is 224 bytes");

#endif /* OMX_SPLIT_PROTO_H */
