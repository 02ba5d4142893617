/*
 * omx_abi.h - the driver ABI: the one boundary between libopen-mx and a driver.
 *
 * Two implementations exist: the direct driver (native/driver, the engine in
 * process) and the xen_split frontend (forwards the same commands to a
 * backend).  The library calls a driver only through struct omx_abi_ops and
 * reads what the driver produces only from the endpoint area described by
 * struct omx_abi_endpoint_layout.  Switching drivers changes no line of the
 * library.
 *
 * Rules that make the split possible:
 *  - No struct here holds a process-local pointer: memory is named by an
 *    offset into the endpoint area (sendq/recvq slots) or by an id (endpoint
 *    handle, region id, peer index).  The function-call form of the commands
 *    (the ops table, process-local by nature) is in omx_abi_ops.h.
 *  - Every size is fixed and checked by static_assert below.
 *  - Commands return 0 or a negative OMX_ABI_E* code.  OMX_ABI_EAGAIN means
 *    "no resources now, retry later" and never means failure.
 *
 * The endpoint area (one contiguous mapping, offsets in the layout):
 *   desc      struct omx_abi_endpoint_desc (status flags, session, wakeup)
 *   exp_eventq    OMX_ABI_EVENTQ_ENTRIES x 64 B: completions of own commands
 *   unexp_eventq  OMX_ABI_EVENTQ_ENTRIES x 64 B: incoming traffic
 *   sendq     OMX_ABI_SENDQ_ENTRIES x 8 KiB: medium fragments to send (lib writes)
 *   recvq     OMX_ABI_RECVQ_ENTRIES x 8 KiB: small/medium payloads (driver writes)
 *
 * Event queues (see omx_eventq.h): the producer (driver) fills the 64-byte
 * slot, then release-stores its id byte = 1 + (index % 255); the consumer
 * (lib) acquire-loads the id of the slot at its running index.  The lib
 * reserves expected-queue slots before each command that will produce a
 * completion, so the expected queue cannot overflow.  The unexpected queue
 * can: the driver then drops the frame (the sender resends), counts
 * UNEXP_EVENTQ_FULL and sets OMX_ABI_DESC_UNEXP_EVENTQ_FULL.  A recvq slot is
 * bound to the unexpected event of the same index (recvq entries == unexp
 * eventq entries), so the lib frees both when it consumes the event.  Slots
 * are handed back in batches of OMX_ABI_EVENTQ_RELEASE_BATCH through the
 * release_*_slots commands; a driver refuses to take back more than it produced.
 */
#ifndef OMX_ABI_H
#define OMX_ABI_H

#include <assert.h>
#include <stdint.h>
#include <stddef.h>

#define OMX_ABI_VERSION 0x0100

#define OMX_ABI_EVENT_SIZE 64
#define OMX_ABI_EVENTQ_ENTRIES 1024
#define OMX_ABI_EVENTQ_RELEASE_BATCH (OMX_ABI_EVENTQ_ENTRIES / 4)
#define OMX_ABI_SENDQ_ENTRIES 1024
#define OMX_ABI_RECVQ_ENTRIES OMX_ABI_EVENTQ_ENTRIES
#define OMX_ABI_QUEUE_SLOT_SHIFT 13
#define OMX_ABI_QUEUE_SLOT_SIZE (1u << OMX_ABI_QUEUE_SLOT_SHIFT)   /* 8 KiB */
#define OMX_ABI_HOSTNAME_MAX 80
#define OMX_ABI_IFNAME_MAX 16
#define OMX_ABI_DRIVERNAME_MAX 16
#define OMX_ABI_COMMAND_MAX 32
#define OMX_ABI_BOARD_SHARED 0xfffffffeu   /* the fake "shared communication" board */
#define OMX_ABI_ENDPOINT_RAW 255

/* Negative return codes of commands. */
enum omx_abi_errno {
	OMX_ABI_OK = 0,
	OMX_ABI_EAGAIN = -1,          /* no resources right now; retry */
	OMX_ABI_EINVAL = -2,          /* malformed command (bad length, offset, index) */
	OMX_ABI_EBUSY = -3,           /* endpoint index or region id in use */
	OMX_ABI_ENODEV = -4,          /* no such board */
	OMX_ABI_ENOMEM = -5,
	OMX_ABI_EPERM = -6,           /* not allowed (rights, policy) */
	OMX_ABI_ENOENT = -7,          /* no such peer / endpoint / region */
	OMX_ABI_EIO = -8,             /* link failure */
	OMX_ABI_ENOSYS = -9,          /* not supported by this driver */
	OMX_ABI_ETIMEDOUT = -10,
	OMX_ABI_EMSGSIZE = -11,       /* frame larger than the board MTU */
	OMX_ABI_ENOSPC = -12,         /* table full (peers) */
};

/* ---- descriptors ---------------------------------------------------------- */

struct omx_abi_driver_info {
	uint32_t abi_version;
	uint32_t features;            /* OMX_ABI_FEATURE_* */
	uint32_t board_count;
	uint32_t board_max;
	uint32_t endpoint_max;        /* per board */
	uint32_t peer_max;
	uint32_t hz;                  /* ticks per second of the driver clock */
	uint32_t pad;
};
static_assert(sizeof(struct omx_abi_driver_info) == 32, "driver info is part of the ABI");

#define OMX_ABI_FEATURE_SHARED 0x2   /* the driver has an intra-host path */
#define OMX_ABI_FEATURE_LARGE  0x4   /* regions and pull are implemented */

#define OMX_ABI_BOARD_STATUS_DOWN 0x1
#define OMX_ABI_BOARD_STATUS_BAD_MTU 0x2

struct omx_abi_board_info {
	uint64_t addr;                /* board address: MAC, or IPv4<<16|base port for udp */
	uint32_t mtu;                 /* largest frame the link carries, head included */
	uint32_t medium_frag_length_max;
	uint32_t pull_reply_length_max;
	uint32_t status;              /* OMX_ABI_BOARD_STATUS_* */
	int32_t numa_node;
	uint32_t pad;
	char hostname[OMX_ABI_HOSTNAME_MAX];
	char ifacename[OMX_ABI_IFNAME_MAX];
	char drivername[OMX_ABI_DRIVERNAME_MAX];
};
static_assert(sizeof(struct omx_abi_board_info) == 144, "board info is part of the ABI");

/* Endpoint desc, the first bytes of the endpoint area.  Fields name their writer. */
#define OMX_ABI_DESC_EXP_EVENTQ_FULL   0x1
#define OMX_ABI_DESC_UNEXP_EVENTQ_FULL 0x2
#define OMX_ABI_DESC_IFACE_DOWN        0x4
#define OMX_ABI_DESC_IFACE_BAD_MTU     0x8
#define OMX_ABI_DESC_IFACE_REMOVED     0x10

struct omx_abi_endpoint_desc {
	uint32_t abi_version;         /* driver */
	uint32_t owner_pid;           /* driver */
	uint64_t status;              /* driver sets flags (atomic or), lib clears them */
	uint64_t wakeup_jiffies;      /* lib: earliest ack/resend deadline, 0 = none */
	uint32_t session_id;          /* driver: random per open */
	uint32_t user_event_index;    /* lib: bumped to wake waiters of other threads */
	uint64_t pad[4];
};
static_assert(sizeof(struct omx_abi_endpoint_desc) == 64, "desc is one cache line");

struct omx_abi_endpoint_layout {
	uint64_t area_size;
	uint64_t desc_offset;
	uint64_t exp_eventq_offset;
	uint64_t unexp_eventq_offset;
	uint64_t sendq_offset;
	uint64_t recvq_offset;
	uint32_t eventq_entries;
	uint32_t sendq_entries;
	uint32_t recvq_entries;
	uint32_t slot_size;
};
static_assert(sizeof(struct omx_abi_endpoint_layout) == 64, "layout is part of the ABI");

struct omx_abi_open_endpoint {
	uint32_t board_index;
	uint32_t endpoint_index;
	char command[OMX_ABI_COMMAND_MAX];   /* for omx_endpoint_info */
};

/* What omx_open_endpoint learns. */
struct omx_abi_endpoint_info {
	uint32_t handle;              /* driver-chosen id used by every later command */
	uint32_t board_index;
	uint32_t endpoint_index;
	uint32_t session_id;
	struct omx_abi_endpoint_layout layout;
};

struct omx_abi_endpoint_state {
	uint32_t closed;              /* 1 when the index is free */
	uint32_t pid;
	char command[OMX_ABI_COMMAND_MAX];
};

/* ---- peers ---------------------------------------------------------------- */

struct omx_abi_peer_info {
	uint64_t board_addr;
	uint32_t index;
	uint32_t local;               /* 1 when the address is one of this host's boards */
	char hostname[OMX_ABI_HOSTNAME_MAX];
};
static_assert(sizeof(struct omx_abi_peer_info) == 96, "peer info is part of the ABI");

#define OMX_ABI_PEER_TABLE_CONFIGURED 0x1
#define OMX_ABI_PEER_TABLE_FULL 0x2

struct omx_abi_peer_table_state {
	uint32_t status;
	uint32_t version;
	uint32_t size;
	uint32_t pad;
	uint64_t mapper_id;
};

/* ---- send commands -------------------------------------------------------- */

/* Fields every seqnum'd lib message carries (TINY, SMALL, MEDIUM, RNDV). */
struct omx_abi_send_hdr {
	uint16_t peer_index;          /* destination peer */
	uint8_t dest_endpoint;
	uint8_t shared;               /* 1: take the intra-host path */
	uint32_t session_id;          /* destination session (partner true session) */
	uint16_t seqnum;
	uint16_t piggyack;
	uint32_t pad;
	uint64_t match_info;
};
static_assert(sizeof(struct omx_abi_send_hdr) == 24, "send header is part of the ABI");

struct omx_abi_send_tiny {
	struct omx_abi_send_hdr hdr;
	uint16_t length;              /* <= OMX_TINY_MSG_LENGTH_MAX */
	uint16_t checksum;
	uint32_t pad;
	uint8_t data[32];
};

struct omx_abi_send_small {
	struct omx_abi_send_hdr hdr;
	uint16_t length;              /* <= OMX_SMALL_MSG_LENGTH_MAX */
	uint16_t checksum;
	uint32_t pad;
	uint8_t data[128];            /* inline: no user pointer crosses the ABI */
};

/* One medium fragment whose payload the lib wrote into a sendq slot.  The
 * driver reads the slot during the call or later; it posts
 * OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE {sendq_offset} to the expected queue
 * when the slot may be reused (the lib reserved that event slot). */
struct omx_abi_send_medium_frag {
	struct omx_abi_send_hdr hdr;
	uint32_t sendq_offset;        /* slot offset inside sendq, slot-aligned */
	uint32_t msg_length;
	uint16_t frag_length;         /* <= board medium_frag_length_max */
	uint8_t frag_seqnum;          /* < OMX_MEDIUM_FRAGS_MAX */
	uint8_t frag_pipeline;
	uint16_t checksum;
	uint16_t pad;
};

struct omx_abi_send_rndv {
	struct omx_abi_send_hdr hdr;
	uint32_t msg_length;
	uint8_t pulled_rdma_id;
	uint8_t pulled_rdma_seqnum;
	uint16_t pulled_rdma_offset;
};

struct omx_abi_send_notify {
	uint16_t peer_index;
	uint8_t dest_endpoint;
	uint8_t shared;
	uint32_t session_id;          /* partner back session */
	uint32_t total_length;
	uint16_t seqnum;
	uint16_t piggyack;
	uint8_t pulled_rdma_id;
	uint8_t pulled_rdma_seqnum;
	uint16_t pad;
};

struct omx_abi_send_connect_request {
	uint16_t peer_index;
	uint8_t dest_endpoint;
	uint8_t shared_disabled;
	uint32_t src_session_id;
	uint32_t app_key;
	uint16_t target_recv_seqnum_start;
	uint8_t connect_seqnum;
	uint8_t pad;
};

struct omx_abi_send_connect_reply {
	uint16_t peer_index;
	uint8_t dest_endpoint;
	uint8_t shared_disabled;
	uint32_t src_session_id;      /* echo of the requester's session */
	uint32_t target_session_id;   /* own session */
	uint16_t target_recv_seqnum_start;
	uint8_t connect_seqnum;
	uint8_t status_code;
};

struct omx_abi_send_liback {
	uint16_t peer_index;
	uint8_t dest_endpoint;
	uint8_t shared;
	uint32_t session_id;          /* partner back session */
	uint32_t acknum;
	uint16_t lib_seqnum;
	uint16_t send_seq;
	uint8_t resent;
	uint8_t pad[3];
};

/* ---- regions and pull (large messages) ----------------------------------- */

struct omx_abi_region_segment {
	uint64_t offset;              /* direct driver: address in the lib's space; split: grant-relative */
	uint64_t length;
};

#define OMX_ABI_REGION_ID_MAX 256
#define OMX_ABI_REGION_SEGMENTS_MAX 256

struct omx_abi_create_region {
	uint32_t id;
	uint32_t nr_segments;
	uint64_t segments_offset;     /* where the segment array lies (same convention as segment.offset) */
};

struct omx_abi_pull {
	uint16_t peer_index;
	uint8_t dest_endpoint;
	uint8_t shared;
	uint32_t session_id;          /* partner back session */
	uint32_t length;
	uint32_t resend_timeout_ms;   /* absolute abort after this long */
	uint32_t puller_rdma_id;
	uint32_t pulled_rdma_id;
	uint32_t pulled_rdma_seqnum;
	uint32_t pulled_rdma_offset;
	uint64_t lib_cookie;          /* echoed in PULL_DONE */
};

/* ---- waiting -------------------------------------------------------------- */

enum omx_abi_wait_status {
	OMX_ABI_WAIT_EVENT = 0,       /* an event arrived */
	OMX_ABI_WAIT_TIMEOUT = 1,     /* jiffies_expire passed */
	OMX_ABI_WAIT_PROGRESS = 2,    /* desc->wakeup_jiffies passed: run resends/acks */
	OMX_ABI_WAIT_INTR = 3,        /* a signal */
	OMX_ABI_WAIT_WAKEUP = 4,      /* omx_wakeup or endpoint close */
	OMX_ABI_WAIT_RACE = 5,        /* an index moved before sleeping */
};

struct omx_abi_wait {
	uint32_t status;              /* out: OMX_ABI_WAIT_* */
	uint32_t user_event_index;    /* in: the lib's view of desc->user_event_index */
	uint32_t next_exp_event_index;   /* in: the lib's next expected index */
	uint32_t next_unexp_event_index; /* in */
	uint64_t jiffies_expire;      /* in: absolute; UINT64_MAX = none */
};

/* ---- events ------------------------------------------------------------- */

enum omx_abi_event_type {
	OMX_ABI_EVT_NONE = 0x00,
	OMX_ABI_EVT_IGNORE = 0x01,
	OMX_ABI_EVT_RECV_CONNECT_REQUEST = 0x11,
	OMX_ABI_EVT_RECV_CONNECT_REPLY = 0x12,
	OMX_ABI_EVT_RECV_TINY = 0x13,
	OMX_ABI_EVT_RECV_SMALL = 0x14,
	OMX_ABI_EVT_RECV_MEDIUM_FRAG = 0x15,
	OMX_ABI_EVT_RECV_RNDV = 0x16,
	OMX_ABI_EVT_RECV_NOTIFY = 0x17,
	OMX_ABI_EVT_RECV_LIBACK = 0x18,
	OMX_ABI_EVT_RECV_NACK_LIB = 0x19,
	OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE = 0x20,
	OMX_ABI_EVT_PULL_DONE = 0x21,
	OMX_ABI_EVT_TYPE_MAX = 0x22,
};

/* PULL_DONE and NACK_LIB statuses (== OMX_NACK_TYPE_* for 1..4). */
enum omx_abi_nack_status {
	OMX_ABI_STATUS_SUCCESS = 0,
	OMX_ABI_STATUS_BAD_ENDPT = 1,
	OMX_ABI_STATUS_ENDPT_CLOSED = 2,
	OMX_ABI_STATUS_BAD_SESSION = 3,
	OMX_ABI_STATUS_BAD_RDMAWIN = 4,
	OMX_ABI_STATUS_ABORTED = 5,
	OMX_ABI_STATUS_TIMEOUT = 6,
};

/* Common head of every received-message event. */
struct omx_abi_evt_msg_head {
	uint16_t peer_index;
	uint8_t src_endpoint;
	uint8_t shared;               /* 1 if it came through the intra-host path */
	uint16_t seqnum;
	uint16_t piggyack;
	uint64_t match_info;
};

union omx_abi_event {
	struct {
		uint8_t body[62];
		uint8_t type;         /* enum omx_abi_event_type */
		uint8_t id;           /* 1 + (index % 255); 0 = empty; written last */
	} generic;
	struct {
		struct omx_abi_evt_msg_head head;
		uint16_t length;
		uint16_t checksum;
		uint8_t data[32];
	} recv_tiny;
	struct {
		struct omx_abi_evt_msg_head head;
		uint32_t recvq_offset;
		uint16_t length;
		uint16_t checksum;
	} recv_small;
	struct {
		struct omx_abi_evt_msg_head head;
		uint32_t recvq_offset;
		uint32_t msg_length;
		uint16_t frag_length;
		uint8_t frag_seqnum;
		uint8_t frag_pipeline;
		uint16_t checksum;
	} recv_medium_frag;
	struct {
		struct omx_abi_evt_msg_head head;
		uint32_t msg_length;
		uint8_t pulled_rdma_id;
		uint8_t pulled_rdma_seqnum;
		uint16_t pulled_rdma_offset;
	} recv_rndv;
	struct {
		struct omx_abi_evt_msg_head head;
		uint32_t length;
		uint8_t pulled_rdma_id;
		uint8_t pulled_rdma_seqnum;
	} recv_notify;
	struct {
		uint16_t peer_index;
		uint8_t src_endpoint;
		uint8_t shared;
		uint32_t src_session_id;
		uint32_t app_key;
		uint16_t target_recv_seqnum_start;
		uint8_t connect_seqnum;
		uint8_t pad;
	} recv_connect_request;
	struct {
		uint16_t peer_index;
		uint8_t src_endpoint;
		uint8_t shared;
		uint32_t src_session_id;
		uint32_t target_session_id;
		uint16_t target_recv_seqnum_start;
		uint8_t connect_seqnum;
		uint8_t status_code;
	} recv_connect_reply;
	struct {
		uint16_t peer_index;
		uint8_t src_endpoint;
		uint8_t shared;
		uint32_t acknum;
		uint16_t lib_seqnum;
		uint16_t send_seq;
		uint8_t resent;
	} recv_liback;
	struct {
		uint16_t peer_index;
		uint8_t src_endpoint;
		uint8_t shared;
		uint16_t seqnum;
		uint8_t nack_type;    /* OMX_ABI_STATUS_BAD_ENDPT..BAD_SESSION */
	} recv_nack_lib;
	struct {
		uint32_t sendq_offset;
	} send_mediumsq_frag_done;
	struct {
		uint64_t lib_cookie;
		uint32_t puller_rdma_id;
		uint32_t status;      /* OMX_ABI_STATUS_* */
		uint32_t pulled_length;
	} pull_done;
};
static_assert(sizeof(union omx_abi_event) == OMX_ABI_EVENT_SIZE,
	      "an event is exactly one 64-byte slot: type at 62, id at 63");

/* ---- counters ------------------------------------------------------------- */

/* Every per-board counter; labels in omx_abi_counter_label(). */
#define OMX_ABI_COUNTERS(X) \
	X(SEND_TINY, "Send Tiny") \
	X(SEND_SMALL, "Send Small") \
	X(SEND_MEDIUMSQ_FRAG, "Send MediumSQ Frag") \
	X(SEND_RNDV, "Send Rendez-vous") \
	X(SEND_PULL_REQ, "Send Pull Request") \
	X(SEND_PULL_REPLY, "Send Pull Reply") \
	X(SEND_NOTIFY, "Send Notify") \
	X(SEND_CONNECT_REQUEST, "Send Connect Request") \
	X(SEND_CONNECT_REPLY, "Send Connect Reply") \
	X(SEND_LIBACK, "Send LibAck") \
	X(SEND_NACK_LIB, "Send Nack Lib") \
	X(SEND_NACK_MCP, "Send Nack MCP") \
	X(SEND_RAW, "Send Raw") \
	X(SEND_HOST_QUERY, "Send Host Query") \
	X(SEND_HOST_REPLY, "Send Host Reply") \
	X(RECV_TINY, "Recv Tiny") \
	X(RECV_SMALL, "Recv Small") \
	X(RECV_MEDIUM_FRAG, "Recv Medium Frag") \
	X(RECV_RNDV, "Recv Rendez-vous") \
	X(RECV_PULL_REQ, "Recv Pull Request") \
	X(RECV_PULL_REPLY, "Recv Pull Reply") \
	X(RECV_NOTIFY, "Recv Notify") \
	X(RECV_CONNECT_REQUEST, "Recv Connect Request") \
	X(RECV_CONNECT_REPLY, "Recv Connect Reply") \
	X(RECV_LIBACK, "Recv LibAck") \
	X(RECV_NACK_LIB, "Recv Nack Lib") \
	X(RECV_NACK_MCP, "Recv Nack MCP") \
	X(RECV_RAW, "Recv Raw") \
	X(RECV_HOST_QUERY, "Recv Host Query") \
	X(RECV_HOST_REPLY, "Recv Host Reply") \
	X(EXP_EVENTQ_FULL, "Expected Event Queue Full") \
	X(UNEXP_EVENTQ_FULL, "Unexpected Event Queue Full") \
	X(SEND_NOMEM_FRAME, "Send Frame Alloc Failed") \
	X(SEND_LINK_ERROR, "Send Link Error") \
	X(PULL_TIMEOUT_HANDLER_FIRST_BLOCK, "Pull Timeout Handler Requeue First Block") \
	X(PULL_TIMEOUT_HANDLER_NONFIRST_BLOCK, "Pull Timeout Handler Requeue Non-First Block") \
	X(PULL_TIMEOUT_ABORT, "Pull Timeout Abort") \
	X(PULL_REQUEST_NOTONLYFIRST_BLOCKS, "Pull Request Not Only First Blocks") \
	X(DROP_BAD_HEADER_DATALEN, "Drop Bad Header Data Length") \
	X(DROP_BAD_DATALEN, "Drop Bad Data Length") \
	X(DROP_BAD_SKBLEN, "Drop Bad Frame Length") \
	X(DROP_BAD_PEER_ADDR, "Drop Bad Peer Address") \
	X(DROP_BAD_PEER_INDEX, "Drop Bad Peer Index") \
	X(DROP_BAD_ENDPOINT, "Drop Bad Endpoint") \
	X(DROP_BAD_SESSION, "Drop Bad Session") \
	X(DROP_BAD_CHECKSUM, "Drop Bad Checksum") \
	X(DROP_PULL_BAD_REPLIES, "Drop Pull Bad Number of Replies") \
	X(DROP_PULL_BAD_REGION, "Drop Pull Bad Region") \
	X(DROP_PULL_BAD_OFFSET_LENGTH, "Drop Pull Bad Offset/Length") \
	X(DROP_PULL_REPLY_BAD_MAGIC_ENDPOINT, "Drop Pull Reply Bad Magic Endpoint") \
	X(DROP_PULL_REPLY_BAD_WIRE_HANDLE, "Drop Pull Reply Bad Wire Handle") \
	X(DROP_PULL_REPLY_BAD_SEQNUM_WRAPAROUND, "Drop Pull Reply Bad Seqnum Wraparound") \
	X(DROP_PULL_REPLY_BAD_SEQNUM, "Drop Pull Reply Bad Seqnum") \
	X(DROP_PULL_REPLY_DUPLICATE, "Drop Pull Reply Duplicate") \
	X(DROP_NACK_MCP_BAD_MAGIC_ENDPOINT, "Drop Nack MCP Bad Magic Endpoint") \
	X(DROP_NACK_MCP_BAD_WIRE_HANDLE, "Drop Nack MCP Bad Wire Handle") \
	X(DROP_HOST_REPLY_BAD_MAGIC, "Drop Host Reply Bad Magic") \
	X(DROP_RAW_QUEUE_FULL, "Drop Raw Queue Full") \
	X(DROP_RAW_TOO_LARGE, "Drop Raw Too Large") \
	X(DROP_NOSYS_TYPE, "Drop Not Supported Type") \
	X(DROP_INVALID_TYPE, "Drop Invalid Type") \
	X(DROP_UNKNOWN_TYPE, "Drop Unknown Type") \
	X(DROP_BAD_ETHERTYPE, "Drop Bad EtherType") \
	X(DROP_NOT_FOR_US, "Drop Destination Not This Board") \
	X(SHARED_TINY, "Shared Tiny") \
	X(SHARED_SMALL, "Shared Small") \
	X(SHARED_MEDIUMSQ_FRAG, "Shared MediumSQ Frag") \
	X(SHARED_RNDV, "Shared Rendez-vous") \
	X(SHARED_NOTIFY, "Shared Notify") \
	X(SHARED_CONNECT_REQUEST, "Shared Connect Request") \
	X(SHARED_CONNECT_REPLY, "Shared Connect Reply") \
	X(SHARED_LIBACK, "Shared LibAck") \
	X(SHARED_PULL, "Shared Pull") \
	X(SHARED_NACK_LIB, "Shared Nack Lib") \
	X(SHARED_DMA_LARGE, "Shared Large Copy")

enum omx_abi_counter {
#define OMX_ABI_COUNTER_ENUM(name, label) OMX_COUNTER_##name,
	OMX_ABI_COUNTERS(OMX_ABI_COUNTER_ENUM)
#undef OMX_ABI_COUNTER_ENUM
	OMX_COUNTER_INDEX_MAX,
};

const char *omx_abi_counter_label(uint32_t index);

#endif /* OMX_ABI_H */
