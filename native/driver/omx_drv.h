/*
 * omx_drv.h - private header of the direct driver (the engine an Open-MX
 * kernel module ran, hosted in the process).
 *
 * Objects:
 *   struct omx_drv        one per omx_drv_direct_open(); embeds struct
 *                         omx_abi_driver first (ops recover it with container_of)
 *   struct omx_drv_board  one attached link; counters and reverse peer indices
 *   struct omx_drv_host   the host-wide state: peer table (local boards
 *                         first), board hostnames, counters (omx_drv_host.c)
 *   struct omx_drv_ep     one endpoint slot; slots live until the driver closes
 *                         so a handle lookup needs no global lock
 *   struct omx_drv_large  an endpoint slot's regions and pull handles (large
 *                         messages), created on first use, kept with the slot
 *                         so pull-handle generations never restart
 *
 * Locking (outer to inner):
 *   drv->open_lock   serialises open/close of endpoints (slot state changes)
 *   ep->lock         the endpoint's producer state: event queues, tx frame
 *                    buffer, rx buffers, the rx demux, regions, pull handles
 *                    and their timers.  Never held while blocking in poll().
 *   b->hostq.lock    a board's discovery role and query rounds (process-local)
 *   host writer lock process-shared robust mutex of the host state, writers
 *                    only (add/clear/hostname/state); readers take none
 *   ep->wait_lock    waiter accounting for the wakeup generation; innermost,
 *                    never held across a syscall other than the eventfd I/O
 *   shared->lock     the table of mapped local destinations (omx_drv_shared.c);
 *                    never held with an endpoint or queue lock
 *   shm->lock        an endpoint area's unexpected-queue producer lock, shared
 *                    by processes (robust); taken after ep->lock if at all,
 *                    never two at once
 * Counters and reverse peer indices are plain atomics (no lock).
 */
#ifndef OMX_DRV_H
#define OMX_DRV_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "omx_abi.h"
#include "omx_direct.h"
#include "omx_eventq.h"
#include "omx_link.h"
#include "omx_list.h"
#include "omx_wire.h"

#define OMX_DRV_BOARD_MAX 8
#define OMX_DRV_HZ 1000
#define OMX_DRV_RX_BATCH 32
#define OMX_DRV_RX_BATCHES_MAX 16      /* per drain: bounds the time spent under ep->lock */
#define OMX_DRV_PEER_HASH_SIZE 256
#define OMX_DRV_PEER_NONE UINT32_MAX
#define OMX_DRV_AREA_ALIGN 4096u
#define OMX_DRV_GOOD_MTU (1500 + OMX_WIRE_ETH_HLEN)   /* below it (a 1500-byte Ethernet MTU): BAD_MTU */

/* One line on stderr naming the subsystem ("endpoint", "peers", "env", ...). */
void omx_drv_warn(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- tunables (read once in omx_drv_main.c) ------------------------------ */

struct omx_drv_config {
	uint32_t endpoint_max;        /* OMX_ENDPOINT_MAX, 1..256 */
	uint32_t peer_max;            /* OMX_PEER_MAX */
	uint32_t waitspin_us;         /* OMX_WAITSPIN_US */
	uint32_t pull_blocks;         /* OMX_PULL_BLOCKS: blocks a pull keeps requested */
	uint32_t pull_resend_ms;      /* OMX_PULL_RESEND_MS: first re-request delay */
};

/* ---- host-wide state (omx_drv_host.c) ----------------------------------- */

/*
 * Peers, the peer table state, board hostnames and every counter live in a
 * file mapped MAP_SHARED by all processes of the host (one network
 * namespace; a udp board is a host of its own), so tools read them from
 * another process and a peer added by one process is known to all.
 * Lookups never block (seqlock and release/acquire publication); writers
 * take a process-shared robust mutex.  Peer indices are host-wide, below
 * cfg.peer_max (which the state file fixes for every process of the host).
 */
struct omx_drv;
struct omx_drv_host;

int omx_drv_host_open(struct omx_drv *drv, const char *state_dir);
void omx_drv_host_close(struct omx_drv *drv);
/* Index of the peer with that address, OMX_DRV_PEER_NONE if unknown. */
uint32_t omx_drv_peer_find(struct omx_drv *drv, uint64_t addr);
/* Address (and locality, may be NULL) of peer index; 0 or OMX_ABI_ENOENT. */
int omx_drv_peer_addr(struct omx_drv *drv, uint32_t index, uint64_t *addr, int *local);
/* Returns the peer's index (>= 0): re-adding an address gives its index back
 * (and fills an empty hostname). */
int omx_drv_peers_add(struct omx_drv *drv, uint64_t addr, const char *hostname, int local);
void omx_drv_peers_load_file(struct omx_drv *drv, const char *path);

/* ---- boards --------------------------------------------------------------- */

/* Discovery on one board, process-local (omx_drv_hostq.c).  Board-level
 * frames (HOST_QUERY, HOST_REPLY, RAW) reach endpoint 0's port and the raw
 * interface; the raw opener serves host queries when one exists on the host,
 * endpoint 0's process otherwise.  Under lock. */
struct omx_drv_hostq {
	pthread_mutex_t lock;
	int raw_open;                 /* this process has the board's raw interface */
	int raw_elsewhere;            /* another process has it (checked every second) */
	uint64_t raw_checked;         /* jiffies of that check */
	uint64_t next_round;          /* jiffies of the next round of queries */
	uint32_t seen_nr, seen_magic; /* table size and magic at the last round */
};

struct omx_drv_board {
	struct omx_link *link;
	uint32_t index;
	uint64_t addr;
	uint32_t mtu;
	uint32_t medium_frag_max;
	uint32_t pull_reply_max;
	uint32_t slot;                /* board slot in the host state */
	uint32_t *counters;           /* host-wide, OMX_COUNTER_INDEX_MAX atomics */
	/* reverse_peer_index[p]: our index in peer p's table (learnt from its
	 * CONNECT or host query/reply), OMX_WIRE_UNKNOWN_PEER_INDEX until then.
	 * Host-wide atomics, OMX_PEER_INDEX_MAX entries. */
	uint16_t *reverse_peer_index;
	struct omx_drv_hostq hostq;
};

static inline void omx_drv_count(struct omx_drv_board *b, enum omx_abi_counter c)
{
	__atomic_fetch_add(&b->counters[c], 1, __ATOMIC_RELAXED);
}

static inline void omx_drv_count_n(struct omx_drv_board *b, enum omx_abi_counter c, uint32_t n)
{
	__atomic_fetch_add(&b->counters[c], n, __ATOMIC_RELAXED);
}

/* ---- large messages: regions and pull handles ----------------------------- */

#define OMX_DRV_PULL_SLOTS 1024        /* handles per endpoint: the wire id's top 10 bits */
#define OMX_DRV_PULL_GEN_BITS 22
#define OMX_DRV_PULL_GEN_MASK ((1u << OMX_DRV_PULL_GEN_BITS) - 1)
#define OMX_DRV_PULL_GEN_START 0x23
#define OMX_DRV_PULL_BLOCKS_MAX 16     /* ring of block descriptors; power of two */
#define OMX_DRV_PULL_RESEND_CAP_MS 1000   /* re-request backoff stops at the reference's period */
/* Reply bytes one pull keeps requested at most (at least one block): the
 * replies of a window land in the puller's socket buffer before it drains
 * them, and at MTU 65507 four blocks (8 MiB) overflowed the udp link's. */
#define OMX_DRV_PULL_WINDOW_BYTES (4u << 20)

#define OMX_DRV_SEG_READ 0x1          /* the engine may copy from the segment */
#define OMX_DRV_SEG_WRITE 0x2         /* the engine may copy into it */
static_assert(OMX_DRV_SEG_READ == OMX_DRV_SHADOW_SEG_READ && OMX_DRV_SEG_WRITE == OMX_DRV_SHADOW_SEG_WRITE,
	      "a shadow segment's access is the engine's");

struct omx_drv_region_seg {
	uint8_t *addr;                /* in region->mem_pid's address space */
	uint64_t start;               /* offset of this segment inside the region */
	uint64_t length;              /* > 0: empty segments are not kept */
	uint32_t access;              /* OMX_DRV_SEG_*, checked on every copy */
};

/* A user region.  The table holds one reference and each pull using it one
 * more (puller: for its whole life; data owner: while it builds replies);
 * destroy unlinks it and marks it dead, the last put frees it.  A dead
 * region is never copied to or from again; a copy that fails (a segment
 * without the access, or memory of another process that is gone or
 * unmapped) kills the region too.  Segments of a shadow endpoint's region
 * live in its frontend (mem_pid) and are copied with process_vm_readv and
 * process_vm_writev: the grant copy. */
/* Grant copies into a frontend's regions gathered during one receive
 * batch (the reply payloads stay in the rx buffers until the next
 * port_recv): one process_vm_writev instead of one per frame.  Under
 * ep->lock; flushed before the next receive and before a completion. */
#define OMX_DRV_WBATCH_IOV 64
struct omx_drv_wbatch {
	struct omx_drv_region *region;    /* the one region with writes pending, or NULL */
	unsigned nl, nr;
	uint64_t bytes;
	struct iovec *local, *remote;     /* OMX_DRV_WBATCH_IOV each */
};

struct omx_drv_region {
	uint32_t id;
	uint32_t refs;                /* under ep->lock */
	int dead;
	int32_t mem_pid;              /* 0: this process */
	struct omx_drv_wbatch *batch; /* its endpoint's (shadow), else NULL */
	uint64_t length;
	uint32_t nr_segs;
	struct omx_drv_region_seg segs[];
};

/* One block of up to OMX_PULL_REPLY_PER_BLOCK reply frames. */
struct omx_drv_pull_block {
	uint32_t want;                /* bit f: frame f of the block exists */
	uint32_t got;                 /* bit f: frame f arrived */
	uint8_t early;                /* re-requested because a later block completed */
	uint8_t resent;               /* re-requested at all: its round trip is no sample */
	uint64_t requested;           /* jiffies of the first request */
};

/* A pull handle (puller side), under ep->lock.  Frame i carries message
 * bytes [start(i), end(i)) with start(0) = 0, start(i) = i*R - ffo, so that
 * every frame but the first starts on a reply boundary of the pulled region
 * (R = reply_max, ffo = pulled_rdma_offset % R); block j holds frames
 * [32j, 32j+32).  Blocks [first_block, next_block) are requested. */
struct omx_drv_pull {
	struct omx_list entry;        /* large->active */
	uint32_t slot;
	uint32_t wire_id;             /* slot << 22 | generation */
	uint64_t lib_cookie;
	uint32_t puller_rdma_id;
	struct omx_drv_region *region;    /* the puller's region (one reference) */
	struct omx_wire_head head;    /* toward the data owner */
	uint8_t dst_endpoint;
	uint32_t session;
	uint32_t length;
	uint32_t pulled_rdma_id;
	uint8_t pulled_rdma_seqnum;
	uint32_t pulled_rdma_offset;
	uint32_t reply_max;
	uint32_t ffo;
	uint32_t nframes, nblocks;
	uint32_t window;              /* blocks requested at once */
	uint32_t first_block, next_block;
	uint32_t frames_got;
	uint32_t bytes_got;
	uint64_t deadline;            /* absolute abort (jiffies) */
	uint64_t next_resend;
	uint32_t resend_ms;           /* current re-request period (backs off) */
	uint32_t srtt8;               /* 8 x smoothed block round trip (jiffies), 0 = none yet */
	struct omx_drv_pull_block blocks[OMX_DRV_PULL_BLOCKS_MAX];
};

struct omx_drv_large {
	struct omx_drv_region *regions[OMX_ABI_REGION_ID_MAX];
	struct omx_drv_pull *slots[OMX_DRV_PULL_SLOTS];
	uint32_t gens[OMX_DRV_PULL_SLOTS];
	uint32_t cursor;              /* where the next free-slot search starts */
	uint32_t nr_active;
	struct omx_list active;
	uint8_t *reply_bufs;          /* OMX_PULL_REPLY_PER_BLOCK x mtu, data owner side */
	struct omx_link_frame reply_frames[OMX_PULL_REPLY_PER_BLOCK];
};

/* ---- endpoints ------------------------------------------------------------ */

enum omx_drv_ep_state {
	OMX_DRV_EP_FREE = 0,
	OMX_DRV_EP_OK = 1,
	OMX_DRV_EP_CLOSING = 2,
};

struct omx_drv;

struct omx_drv_ep {
	struct omx_drv *drv;
	struct omx_drv_board *board;
	uint32_t handle;
	uint32_t index;
	uint32_t state;               /* enum omx_drv_ep_state; atomic */
	uint32_t refs;                /* commands in flight on this slot; atomic */

	pthread_mutex_t lock;
	uint32_t session;
	char command[OMX_ABI_COMMAND_MAX];
	int claim_fd;                 /* listening abstract Unix socket = host-wide claim */
	struct omx_link_port *port;
	int port_fd;

	void *area;
	struct omx_abi_endpoint_layout layout;
	struct omx_abi_endpoint_desc *desc;
	struct omx_eventq exp_q;
	struct omx_eventq unexp_q;    /* slots only: producer state is in shm (many producers) */
	uint8_t *sendq;
	uint8_t *recvq;

	struct omx_drv_large *large;  /* NULL until the first region or pull; under lock */
	/* Earliest pull deadline or re-request (jiffies), UINT64_MAX when none;
	 * written under lock, read atomically by waiters to bound their sleep. */
	uint64_t pull_next_due;

	/* intra-host path (omx_drv_shared.c): the area is the memfd mem_fd; its
	 * tail shm holds the unexpected queue's producer state and lock */
	int mem_fd;
	int bell_fd;                  /* doorbell: local senders ring it when we sleep */
	struct omx_drv_shm *shm;
	uint64_t shared_next_tick;    /* jiffies; atomic */
	uint32_t waitspin_us;         /* adaptive spin budget (omx_drv_wait.c); atomic */

	/* shadow endpoint (omx_direct.h): set while open, constant meanwhile */
	int shadow;
	int32_t mem_pid;              /* the frontend: regions and the owner shown by tools */
	int notify_fd;                /* eventfd the frontend sleeps on (dup of the caller's) */
	uint64_t mem_offset;          /* the area's offset in mem_fd */
	uint32_t open_gen;            /* bumped by every open of the slot; atomic */
	uint64_t hostq_next_due;      /* jiffies of the next host query round (index 0) */
	struct omx_drv_wbatch *wbatch;    /* shadow: deferred grant copies, under lock */

	uint8_t *tx_frame;            /* one reusable frame (mtu bytes), under lock */
	uint8_t *rx_bufs;             /* OMX_DRV_RX_BATCH x mtu, under lock */
	struct omx_link_frame rx_frames[OMX_DRV_RX_BATCH];

	/* wakeup protocol (omx_drv_wait.c), under wait_lock */
	pthread_mutex_t wait_lock;
	int wake_fd;                  /* eventfd */
	uint32_t wait_seq;            /* bumped by every signal (wakeup, close, kick) */
	uint32_t wake_gen;            /* bumped by wakeup/close; read atomically */
	uint32_t waiters;             /* threads inside wait_event; read atomically */
	uint32_t waiters_old;         /* of those, the ones that captured an older wake_gen */
};

struct omx_drv {
	struct omx_abi_driver base;   /* first: ops recover struct omx_drv with container_of */
	struct omx_drv_config cfg;
	pthread_mutex_t open_lock;
	uint32_t board_count;
	struct omx_drv_board boards[OMX_DRV_BOARD_MAX];
	struct omx_drv_host *host;    /* host-wide state (omx_drv_host.c) */
	uint32_t *shared_counters;    /* the fake "shared" board's, host-wide atomics */
	struct omx_drv_ep **eps;      /* board_count * endpoint_max slots, allocated on first open */
	struct omx_drv_shared *shared;  /* mapped local destinations, created on first open */
};

/* Intra-host traffic counts on the fake "shared" board (OMX_ABI_BOARD_SHARED). */
static inline void omx_drv_count_shared(struct omx_drv *drv, enum omx_abi_counter c)
{
	__atomic_fetch_add(&drv->shared_counters[c], 1, __ATOMIC_RELAXED);
}

/* Lock precondition of the *_locked functions (held by someone: the best a
 * default pthread mutex can tell). */
#define omx_drv_assert_locked(m) assert(pthread_mutex_trylock(m) == EBUSY)

static inline struct omx_drv *omx_drv_of(struct omx_abi_driver *d)
{
	return omx_container_of(d, struct omx_drv, base);
}

uint64_t omx_drv_now_jiffies(void);

/* omx_drv_host.c, omx_drv_host_peers.c: the rest of the host-wide state */
/* Find or create board b's slot (by address and interface) and point its
 * counters and reverse indices there; default_hostname names a new slot. */
int omx_drv_host_board_attach(struct omx_drv *drv, struct omx_drv_board *b, const char *default_hostname);
void omx_drv_host_board_hostname(struct omx_drv *drv, const struct omx_drv_board *b,
				 char out[OMX_ABI_HOSTNAME_MAX]);
uint32_t omx_drv_peer_count(struct omx_drv *drv);
int omx_drv_peer_info(struct omx_drv *drv, uint32_t index, struct omx_abi_peer_info *out);
/* Hostname of a peer without one (a host reply); 0 or OMX_ABI_ENOENT. */
int omx_drv_peer_set_hostname(struct omx_drv *drv, uint32_t index, const char *hostname);
/* Magic of the current host queries (bumped when names are cleared). */
uint32_t omx_drv_host_query_magic(struct omx_drv *drv);
/* The writers' lock (tests: a process that dies holding it). */
int omx_drv_host_writer_lock(struct omx_drv *drv);
void omx_drv_host_writer_unlock(struct omx_drv *drv);

/* The peer and hostname commands: omx_drv_peer.c (add, lookups) and
 * omx_drv_host_peers.c (table-wide ones). */
int omx_drv_peer_add(struct omx_abi_driver *d, uint64_t board_addr, const char *hostname);
int omx_drv_peer_table_clear(struct omx_abi_driver *d);
int omx_drv_peer_table_get_state(struct omx_abi_driver *d, struct omx_abi_peer_table_state *out);
int omx_drv_peer_table_set_state(struct omx_abi_driver *d, const struct omx_abi_peer_table_state *in);
int omx_drv_peer_from_index(struct omx_abi_driver *d, uint32_t index, struct omx_abi_peer_info *out);
int omx_drv_peer_from_addr(struct omx_abi_driver *d, uint64_t board_addr, struct omx_abi_peer_info *out);
int omx_drv_peer_from_hostname(struct omx_abi_driver *d, const char *hostname,
			       struct omx_abi_peer_info *out);
int omx_drv_set_hostname(struct omx_abi_driver *d, uint32_t board_index, const char *hostname);
int omx_drv_peer_table_clear_names(struct omx_abi_driver *d);

/* omx_drv_hostq.c: HOST_QUERY / HOST_REPLY */
void omx_drv_hostq_init(struct omx_drv_board *b);
void omx_drv_hostq_fini(struct omx_drv_board *b);
/* Frame sink of the discovery protocol: a port or the raw socket. */
typedef int (*omx_drv_hostq_xmit_t)(void *ctx, const uint8_t *frame, uint32_t len);
/* A HOST_QUERY or HOST_REPLY frame (head included, trailer stripped) that
 * reached the raw interface (raw = 1) or endpoint 0's port (raw = 0). */
void omx_drv_hostq_rx(struct omx_drv *drv, struct omx_drv_board *b, int raw, const uint8_t *frame,
		      uint32_t len, omx_drv_hostq_xmit_t xmit, void *ctx);
/* Send the queries that are due; returns ms until the next round is due. */
uint32_t omx_drv_hostq_tick(struct omx_drv *drv, struct omx_drv_board *b, int raw,
			    omx_drv_hostq_xmit_t xmit, void *ctx);
/* Whether endpoint 0's process serves the board (no raw opener on the host). */
int omx_drv_hostq_ep_serves(struct omx_drv_board *b);

/* omx_drv_raw.c: the raw interface (omx_direct.h) and RAW frames at endpoint 0 */
int omx_drv_raw_endpoint_state(struct omx_abi_driver *d, uint32_t board_index,
			       uint32_t endpoint_index, struct omx_abi_endpoint_state *out);
/* 1 when another process holds the board's raw interface. */
int omx_drv_raw_claimed(const struct omx_drv_board *b);

/* omx_drv_endpoint.c */
struct omx_drv_ep *omx_drv_ep_get(struct omx_drv *drv, uint32_t handle);
void omx_drv_ep_put(struct omx_drv_ep *ep);
void omx_drv_endpoints_fini(struct omx_drv *drv);
int omx_drv_open_endpoint(struct omx_abi_driver *d, const struct omx_abi_open_endpoint *cmd,
			  struct omx_abi_endpoint_info *out);
/* The layout every endpoint area has. */
void omx_drv_layout(struct omx_abi_endpoint_layout *l);
int omx_drv_close_endpoint(struct omx_abi_driver *d, uint32_t handle);
void *omx_drv_endpoint_area(struct omx_abi_driver *d, uint32_t handle);
int omx_drv_get_endpoint_state(struct omx_abi_driver *d, uint32_t board_index,
			       uint32_t endpoint_index, struct omx_abi_endpoint_state *out);
int omx_drv_release_exp_slots(struct omx_abi_driver *d, uint32_t handle);
int omx_drv_release_unexp_slots(struct omx_abi_driver *d, uint32_t handle);

/* omx_drv_send.c */
int omx_drv_send_tiny(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_tiny *cmd);
int omx_drv_send_small(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_small *cmd);
int omx_drv_send_medium_frag(struct omx_abi_driver *d, uint32_t handle,
			     const struct omx_abi_send_medium_frag *cmd);
int omx_drv_send_connect_request(struct omx_abi_driver *d, uint32_t handle,
				 const struct omx_abi_send_connect_request *cmd);
int omx_drv_send_connect_reply(struct omx_abi_driver *d, uint32_t handle,
			       const struct omx_abi_send_connect_reply *cmd);
int omx_drv_send_liback(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_liback *cmd);
/* Called with ep->lock held, from the rx demux. */
void omx_drv_send_nack_lib(struct omx_drv_ep *ep, uint64_t dst_addr, uint32_t peer_index,
			   uint16_t head_peer_index, uint8_t nacker_endpoint,
			   uint8_t sender_endpoint, uint16_t seqnum, uint8_t nack_type);

int omx_drv_send_rndv(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_rndv *cmd);
int omx_drv_send_notify(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_send_notify *cmd);
int omx_drv_tx_head(struct omx_drv_ep *ep, uint32_t peer_index, struct omx_wire_head *head);
/* The rest are called with ep->lock held. */
void omx_drv_send_pull_locked(struct omx_drv_ep *ep, const struct omx_drv_pull *pull,
			      uint32_t frame_index, uint32_t first_frame_offset, uint32_t block_length);
void omx_drv_send_pull_replies_locked(struct omx_drv_ep *ep, const struct omx_wire_head *head,
				      const struct omx_wire_pull *p, struct omx_drv_region *region,
				      uint64_t msg_offset, uint32_t nr);
void omx_drv_send_nack_mcp_locked(struct omx_drv_ep *ep, const struct omx_wire_head *head,
				  uint8_t nacker_endpoint, uint8_t nack_type, uint32_t pull_handle,
				  uint32_t magic);

/* omx_drv_region.c */
int omx_drv_create_region(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_create_region *cmd);
int omx_drv_destroy_region(struct omx_abi_driver *d, uint32_t handle, uint32_t region_id);
/* Called with ep->lock held. */
struct omx_drv_large *omx_drv_large_get_locked(struct omx_drv_ep *ep);
struct omx_drv_region *omx_drv_region_get_locked(struct omx_drv_ep *ep, uint32_t id);
void omx_drv_region_put_locked(struct omx_drv_region *r);
/* Copy len bytes at offset; the caller checked offset + len <= r->length.
 * 0, or OMX_DRV_REGION_DEAD when the region is dead or the copy failed (it
 * is dead now), OMX_DRV_REGION_GONE when the process holding its memory is
 * gone (a split frontend that died: its endpoint is closing). */
#define OMX_DRV_REGION_DEAD (-1)
#define OMX_DRV_REGION_GONE (-2)
int omx_drv_region_read(struct omx_drv_region *r, uint64_t offset, void *dst, uint64_t len);
int omx_drv_region_write(struct omx_drv_region *r, uint64_t offset, const void *src, uint64_t len);
/* Like region_write, but the copy may wait in the region's batch until
 * omx_drv_region_flush or omx_drv_wbatch_flush: src must stay until then. */
int omx_drv_region_write_deferred(struct omx_drv_region *r, uint64_t offset, const void *src, uint64_t len);
/* The region's pending copies now: 0 or OMX_DRV_REGION_DEAD/GONE. */
int omx_drv_region_flush(struct omx_drv_region *r);
int omx_drv_wbatch_flush(struct omx_drv_wbatch *wb);
/* Read the bytes from offset on into the n buffers in turn (n <= 64). */
int omx_drv_region_readv(struct omx_drv_region *r, uint64_t offset, const struct iovec *dst, unsigned n);
/* Endpoint close (no command in flight): abort pulls, free regions and buffers. */
void omx_drv_large_close(struct omx_drv_ep *ep);
/* Endpoint slot freed at driver close. */
void omx_drv_large_free(struct omx_drv_ep *ep);

/* omx_drv_pull.c */
int omx_drv_pull(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_pull *cmd);
/* Called with ep->lock held; each returns the number of events posted. */
int omx_drv_pull_reply_locked(struct omx_drv_ep *ep, uint64_t src_addr,
			      const struct omx_wire_pull_reply *r, const uint8_t *payload);
int omx_drv_pull_nack_locked(struct omx_drv_ep *ep, uint64_t src_addr, const struct omx_wire_nack_mcp *n);
int omx_drv_pull_timers_locked(struct omx_drv_ep *ep, uint64_t now);
void omx_drv_pull_abort_all_locked(struct omx_drv_ep *ep);

/* omx_drv_recv.c */
int omx_drv_rx_drain_locked(struct omx_drv_ep *ep);
int omx_drv_progress(struct omx_abi_driver *d, uint32_t handle);

/* omx_drv_wait.c */
int omx_drv_wait_event(struct omx_abi_driver *d, uint32_t handle, struct omx_abi_wait *wait);
int omx_drv_wakeup(struct omx_abi_driver *d, uint32_t handle);
void omx_drv_wake_all(struct omx_drv_ep *ep);
void omx_drv_kick_waiters(struct omx_drv_ep *ep);

#endif /* OMX_DRV_H */
