/*
 * omx_drv_shared.h - the intra-host (shared) path of the direct driver.
 *
 * Endpoints on one host exchange events through each other's endpoint
 * areas instead of a link.  An endpoint area is a memfd named
 * "omx-ep-<board hex>-<index>" (no file anywhere: it vanishes when the
 * last process mapping it dies, SIGKILL included).  Its tail, past the
 * recvq, is struct omx_drv_shm below: identity, the producer state of the
 * unexpected queue, the consumer's sleep flag and the published regions.
 *
 * Finding a destination (omx_drv_shared.c): connect to the endpoint's
 * abstract claim socket and read SO_PEERCRED (owner pid), open a pidfd,
 * find the memfd among /proc/<pid>/fd by its name, map it and check the
 * header (magic, version, size, layout, owner pid, board, index, OPEN)
 * before trusting anything in it.  Permission model: same user, and the
 * ptrace access rules that /proc/<pid>/fd and process_vm_readv (large
 * messages) enforce anyway; when any step is refused the path falls back to
 * the link, which needs no rights.
 *
 * The unexpected queue has many producers: the owner's own receive demux
 * and every local sender.  They serialise on a lock word in the area that
 * holds the producer's thread id (no pthread object: the area may be
 * writable by a process nobody trusts, a split frontend, and a robust
 * mutex there would let it steer glibc's robust list).  A producer fills
 * the slot, release-stores its id, and only then advances unexp_next; so a
 * producer killed holding the lock leaves either an unpublished slot
 * (overwritten by the next one) or a published slot with unexp_next not yet
 * advanced, which the next producer, on finding the holder's thread gone,
 * recognises by its id and skips.  Taking the lock is timed: past the
 * deadline the producer drops its event and counts it (the sender resends).
 *
 * Shadow endpoints (omx_direct.h, the split backend): the claim holder is
 * the backend, the area is a split frontend's memfd and the published
 * region segments are addresses in that frontend (mem_pid).  A process that
 * finds no area named for the endpoint in the claim holder's fd table reads
 * it from the claim socket instead (the backend answers with the memfd);
 * such an area is untrusted: its lock is taken with a short deadline and
 * pulls from it go over the link, served by the backend from its own region
 * table, never from segments read in the area.
 *
 * Wakeups (X4): a waiter about to block increments `sleepers`, issues a full
 * fence, re-checks the queue and only then polls; a producer issues a full
 * fence after publishing and rings the owner's doorbell (a datagram to the
 * abstract socket "<claim>/bell") only when `sleepers` is non-zero.  An
 * awake receiver therefore costs its senders no syscall.
 *
 * Not guaranteed: anything to a process that does not behave.  A peer that
 * stops consuming fills its queue (senders drop and count, the library
 * resends); a dead owner is noticed by its pidfd at most
 * OMX_DRV_SHARED_CHECK_MS after the fact, and writes in between are lost.
 */
#ifndef OMX_DRV_SHARED_H
#define OMX_DRV_SHARED_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "omx_abi.h"

#define OMX_DRV_SHM_MAGIC 0x4f4d5853u     /* "OMXS" */
#define OMX_DRV_SHM_VERSION 2
#define OMX_DRV_SHM_BOARDS 8
#define OMX_DRV_SHARED_CHECK_MS 100       /* liveness re-check period per destination */

enum omx_drv_shm_state {
	OMX_DRV_SHM_INIT = 0,
	OMX_DRV_SHM_OPEN = 1,
	OMX_DRV_SHM_CLOSED = 2,
};

/* A segment of a published region: an address in the owner's address
 * space (for process_vm_readv, never dereferenced by another process). */
struct omx_drv_shm_seg {
	uint64_t addr;
	uint64_t len;
};

/* Seqlock: seq is odd while the owner rewrites the entry. */
struct omx_drv_shm_region {
	uint32_t seq;
	uint16_t present;             /* 0: no region under this id */
	uint16_t nr_segs;             /* <= OMX_ABI_REGION_SEGMENTS_MAX */
	uint64_t length;
};

struct omx_drv_shm_board {
	uint64_t addr;
	uint32_t peer_index;          /* that board's index in the owner's peer table */
	uint32_t pad;
};

/*
 * Fields name their writer.  Identity fields are written by the owner
 * before it release-stores state = OPEN and never change afterwards.
 */
struct omx_drv_shm {
	uint32_t magic;               /* owner */
	uint32_t version;             /* owner */
	uint32_t state;               /* owner: enum omx_drv_shm_state, release store */
	uint32_t owner_pid;           /* owner */
	uint64_t board_addr;          /* owner */
	uint32_t endpoint_index;      /* owner */
	uint32_t session;             /* owner */
	uint64_t shm_size;            /* owner: sizeof(struct omx_drv_shm) */
	uint64_t shm_offset;          /* owner: offset of this struct in the area */
	uint32_t nr_boards;           /* owner */
	uint32_t mem_pid;             /* owner: whose address space the published segments name */
	struct omx_abi_endpoint_layout layout;        /* owner */
	struct omx_drv_shm_board boards[OMX_DRV_SHM_BOARDS]; /* owner */

	/* Producers of the unexpected queue (every local sender, the owner's rx). */
	_Alignas(64) uint32_t lock;   /* producers: thread id of the holder, 0 = free */
	uint32_t unexp_next;          /* producers, under lock; read atomically by the owner */
	uint32_t unexp_released;      /* owner's release command, under lock */

	/* Owner's waiters: threads about to block; read by producers. */
	_Alignas(64) uint32_t sleepers;

	_Alignas(64) struct omx_drv_shm_region regions[OMX_ABI_REGION_ID_MAX];   /* owner */
	struct omx_drv_shm_seg segs[OMX_ABI_REGION_ID_MAX][OMX_ABI_REGION_SEGMENTS_MAX]; /* owner */
};

static_assert(sizeof(struct omx_drv_shm_region) == 16, "a published region head is 16 bytes");
static_assert(sizeof(struct omx_drv_shm_seg) == 16, "a published segment is 16 bytes");
static_assert(offsetof(struct omx_drv_shm, layout) % 8 == 0, "layout is read as u64 fields");

/* ---- driver internals of the shared path -------------------------------- */

#include "omx_drv.h"

/* Results of resolving a shared destination, besides 0 and OMX_ABI_E*. */
#define OMX_DRV_SHARED_FALLBACK 1         /* not reachable in memory: take the link */
#define OMX_DRV_SHARED_NACK 2             /* refused: *nack holds the NACK_LIB type */

/* A mapped local destination endpoint (another process, or this one). */
struct omx_drv_shared_att;

struct omx_drv_sdest {
	struct omx_drv_shared_att *att;
	struct omx_drv_shm *shm;
	union omx_abi_event *unexp;
	struct omx_abi_endpoint_desc *desc;
	uint8_t *recvq;
	uint16_t src_peer_index;      /* the sender's board in the destination's peer table */
	uint32_t wait_us;             /* bound on its producer lock */
	int shadow;                   /* an untrusted area (a split frontend's) */
	struct omx_drv_ep *local;     /* a shadow endpoint of this process, else NULL */
	uint32_t local_gen;           /* its open_gen when mapped */
};

/* omx_drv_shared.c */
int omx_drv_shared_init(struct omx_drv *drv);
void omx_drv_shared_fini(struct omx_drv *drv);
/* Rate-limited upkeep from progress and waits: drop dead or closed
 * destinations, accept-and-drop queries on this endpoint's claim. */
void omx_drv_shared_tick(struct omx_drv_ep *ep);
uint64_t omx_drv_shared_area_size(const struct omx_abi_endpoint_layout *l, uint64_t *shm_offset);
int omx_drv_shared_area_create(struct omx_drv_ep *ep);
void omx_drv_shared_area_destroy(struct omx_drv_ep *ep);
int omx_drv_shared_ep_open(struct omx_drv_ep *ep);
void omx_drv_shared_ep_close(struct omx_drv_ep *ep);
int omx_drv_shared_bell_drain(struct omx_drv_ep *ep);
/* Producer side of any endpoint's unexpected queue: begin takes the lock
 * and returns the zeroed next slot, or NULL (lock released) when the queue
 * is full or the lock could not be had in time (the caller counts a full
 * queue either way); index is the slot's running index while the lock is
 * held; publish stores the type and id, advances the producer index,
 * unlocks.  begin waits at most the process default: OMX_DRV_UQ_WAIT_US in
 * a direct process, OMX_DRV_UQ_SHADOW_WAIT_US once it hosts shadow
 * endpoints (every area it touches is then another's); begin_timed takes
 * the bound from the caller. */
#define OMX_DRV_UQ_WAIT_US 200000
#define OMX_DRV_UQ_SHADOW_WAIT_US 2000
union omx_abi_event *omx_drv_uq_begin(struct omx_drv_shm *shm, union omx_abi_event *slots, uint32_t entries);
union omx_abi_event *omx_drv_uq_begin_timed(struct omx_drv_shm *shm, union omx_abi_event *slots,
					    uint32_t entries, uint32_t wait_us);
uint32_t omx_drv_uq_index(const struct omx_drv_shm *shm);
void omx_drv_uq_publish(struct omx_drv_shm *shm, union omx_abi_event *ev, uint8_t type);
/* The owner hands back count consumed slots (refuses more than were
 * produced; OMX_ABI_EIO when the lock could not be had in time). */
int omx_drv_uq_release(struct omx_drv_shm *shm, union omx_abi_event *slots, uint32_t entries, uint32_t count);
void omx_drv_uq_set_default_wait(uint32_t wait_us);
uint32_t omx_drv_uq_default_wait(void);
/* Resolve peer_index/dest_endpoint to a mapped destination (0, reference
 * held), OMX_DRV_SHARED_FALLBACK, OMX_DRV_SHARED_NACK or OMX_ABI_E*. */
int omx_drv_sdest_get(struct omx_drv_ep *ep, uint32_t peer_index, uint32_t dest_endpoint,
		      struct omx_drv_sdest *d, uint8_t *nack);
void omx_drv_sdest_put(struct omx_drv_ep *ep, struct omx_drv_sdest *d);
/* After publishing into d: ring its doorbell if a thread of it sleeps. */
void omx_drv_sdest_ring(struct omx_drv_ep *ep, const struct omx_drv_sdest *d);
/* The owner pid of d (for process_vm_readv). */
pid_t omx_drv_sdest_pid(const struct omx_drv_sdest *d);

/* omx_drv_shadow.c: the engine side of shadow endpoints (see the top). */
/* Map a caller's memfd as ep's area (ep->layout set): checks seals and size. */
int omx_drv_shadow_area_map(struct omx_drv_ep *ep, int fd, uint64_t offset);
/* Answer claim connections: the area memfd to peers of our uid, nothing to
 * others (a state query only wants SO_PEERCRED). */
void omx_drv_shadow_claim_serve(struct omx_drv_ep *ep);
/* A claim holder's answer on conn, waiting up to timeout_ms: the memfd
 * (>= 0, *offset set), OMX_DRV_SHARED_NACK when it closed without one,
 * OMX_DRV_SHARED_FALLBACK when none came in time. */
int omx_drv_shadow_claim_fetch(int conn, uint64_t *offset, int timeout_ms);
/* After posting into a shadow endpoint's queues: write its notify eventfd
 * if a frontend thread sleeps on it (the doorbell rule, X4). */
void omx_drv_shadow_ring_ep(struct omx_drv_ep *ep);
/* The in-process endpoint of (board address, index) if it is an open
 * shadow endpoint (reference held, omx_drv_ep_put), else NULL. */
struct omx_drv_ep *omx_drv_shadow_local(struct omx_drv *drv, uint64_t addr, uint32_t index);

/* omx_drv_shared_send.c: each returns 0, OMX_DRV_SHARED_FALLBACK or OMX_ABI_E*. */
int omx_drv_shared_tx_msg(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_msg *m,
			  const void *payload, uint32_t payload_len, uint32_t sendq_offset);
int omx_drv_shared_tx_connect(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_connect *c);
int omx_drv_shared_tx_liback(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_liback *a);
int omx_drv_shared_tx_notify(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_notify *n);
int omx_drv_shared_pull(struct omx_drv_ep *ep, const struct omx_abi_pull *cmd);
/* The owner's side of regions (ep->lock held): publish for local pullers. */
void omx_drv_shared_region_publish(struct omx_drv_ep *ep, const struct omx_drv_region *r);
void omx_drv_shared_region_unpublish(struct omx_drv_ep *ep, uint32_t id);

/* omx_drv_endpoint.c */
socklen_t omx_drv_claim_addr(uint64_t board_addr, uint32_t index, struct sockaddr_un *sa);

#endif /* OMX_DRV_SHARED_H */
