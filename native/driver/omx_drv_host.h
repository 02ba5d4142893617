/*
 * omx_drv_host.h - private to the host-wide state: omx_drv_host.c (the
 * file, its lock, board slots) and omx_drv_host_peers.c (peer table and its
 * commands).  The layout is shared by every process of a host: fixed-size
 * fields, indices instead of pointers, checked sizes.
 */
#ifndef OMX_DRV_HOST_H
#define OMX_DRV_HOST_H

#include <sched.h>

#include "omx_drv.h"

#define OMX_DRV_HOST_MAGIC 0x314f48584d4f4e53ull     /* "SNOMXHO1" little-endian */
#define OMX_DRV_HOST_VERSION 1
#define OMX_DRV_HOST_BOARDS 16
#define OMX_DRV_HOST_PEERS OMX_PEER_INDEX_MAX
#define OMX_DRV_HOST_COUNTERS 128
#define OMX_DRV_HOST_READ_TRIES 200

static_assert(OMX_COUNTER_INDEX_MAX <= OMX_DRV_HOST_COUNTERS, "counters fit a board slot");
static_assert(sizeof(pthread_mutex_t) <= 64, "the robust mutex fits its slot");

struct omx_drv_host_peer {
	uint64_t addr;
	uint32_t hash_next;           /* index + 1 of the next entry of the bucket, 0 = end */
	uint32_t local;
	char hostname[OMX_ABI_HOSTNAME_MAX];
};
static_assert(sizeof(struct omx_drv_host_peer) == 96, "peer entries are shared between processes");

struct omx_drv_host_board {
	uint64_t addr;
	uint32_t used;                /* release-stored once the slot is filled */
	uint32_t pad;
	char ifacename[OMX_ABI_IFNAME_MAX];
	char hostname[OMX_ABI_HOSTNAME_MAX];
	uint32_t counters[OMX_DRV_HOST_COUNTERS];
};
static_assert(sizeof(struct omx_drv_host_board) == 624, "board slots are shared between processes");

struct omx_drv_host_hdr {
	uint64_t magic;               /* release-stored last at creation */
	uint32_t version;
	uint32_t counters_max;        /* OMX_COUNTER_INDEX_MAX of the creator */
	uint64_t size;
	uint64_t netns_cookie;
	char boot_id[40];
	uint32_t peer_max;            /* fixed by the creator for every process */
	uint32_t creator_pid;
	union {
		pthread_mutex_t m;    /* process-shared, robust: writers only */
		uint8_t pad[64];
	} lock;
	uint32_t seq;                 /* seqlock of in-place changes: odd while writing */
	uint32_t peer_nr;             /* published entries */
	uint32_t query_magic;
	uint32_t board_nr;            /* published board slots */
	struct omx_abi_peer_table_state table;
	uint32_t buckets[OMX_DRV_PEER_HASH_SIZE];   /* index + 1, 0 = empty */
	uint32_t shared_counters[OMX_DRV_HOST_COUNTERS];
};

struct omx_drv_host_file {
	struct omx_drv_host_hdr hdr;
	struct omx_drv_host_board boards[OMX_DRV_HOST_BOARDS];
	struct omx_drv_host_peer peers[OMX_DRV_HOST_PEERS];
	uint16_t reverse[OMX_DRV_HOST_BOARDS][OMX_PEER_INDEX_MAX];
};

struct omx_drv_host {
	struct omx_drv_host_file *f;
	int shared;                   /* 0: private fallback mapping */
};

static inline uint32_t omx_drv_host_hash(uint64_t addr)
{
	return (uint32_t)((addr * 0x9E3779B97F4A7C15ull) >> 56) & (OMX_DRV_PEER_HASH_SIZE - 1);
}

/* ---- seqlock (readers) ---------------------------------------------------- */

static inline uint32_t omx_drv_host_read_begin(const struct omx_drv_host_file *f)
{
	uint32_t s = 0;

	for (int i = 0; i < OMX_DRV_HOST_READ_TRIES; i++) {
		/* Acquire: the data read after this is at least as new as seq. */
		s = __atomic_load_n(&f->hdr.seq, __ATOMIC_ACQUIRE);
		if (!(s & 1))
			return s;
		sched_yield();
	}
	/* A writer died mid-change: read what is there (the next writer repairs). */
	return s;
}

static inline int omx_drv_host_read_retry(const struct omx_drv_host_file *f, uint32_t s, int *tries)
{
	/* Acquire fence: the data loads above complete before seq is re-read. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&f->hdr.seq, __ATOMIC_RELAXED) == s && !(s & 1))
		return 0;
	return ++*tries < OMX_DRV_HOST_READ_TRIES;
}

static inline void omx_drv_host_write_begin(struct omx_drv_host_file *f)
{
	__atomic_store_n(&f->hdr.seq, f->hdr.seq + 1, __ATOMIC_RELAXED);
	/* Release fence: readers that see the data below see seq odd first. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void omx_drv_host_write_end(struct omx_drv_host_file *f)
{
	/* Release: the changes are visible before seq turns even. */
	__atomic_store_n(&f->hdr.seq, f->hdr.seq + 1, __ATOMIC_RELEASE);
}

/* Writers: the robust mutex (omx_drv_host.c); repaired after a dead holder. */
int omx_drv_host_lock(struct omx_drv_host *h);
void omx_drv_host_unlock(struct omx_drv_host *h);
void omx_drv_host_rehash(struct omx_drv_host_file *f);
/* Bucket walk for addr, whatever the seqlock says (callers check it). */
uint32_t omx_drv_host_find(const struct omx_drv_host_file *f, uint64_t addr);

#endif /* OMX_DRV_HOST_H */
