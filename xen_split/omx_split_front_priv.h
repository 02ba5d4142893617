/*
 * omx_split_front_priv.h - internals of the split frontend, shared by its
 * files:
 *   omx_split_front.c        ops table, queries, posted sends, open/close
 *   omx_split_front_bus.c    the bus: state walk, watcher thread, bus calls, death
 *   omx_split_front_ring.c   request submission, response reaping, waiting
 *   omx_split_front_grant.c  the grant table
 *   omx_split_front_ep.c     endpoints, regions, wait_event and wakeup
 *   omx_split_front_select.c omx_abi_driver_open (OMX_DRIVER)
 *
 * Locking (outer to inner):
 *   open_lock     serialises endpoint open/close and the slot table; held
 *                 across bus and ring calls
 *   bus_call_lock one bus call (MEM_*, EVTCHN_*, Closing) at a time, held
 *                 while its ACK is awaited
 *   ep->region_lock  an endpoint's region table
 *   lock          the ring: producer cursor, consumer cursor, pending
 *                 calls, poller flag; never held in poll() nor across a bus call
 *   bus_lock      the ACK mailbox the watcher fills
 *   gnt_lock      grant refs free list
 *   ep->wait_lock waiter accounting of one endpoint; innermost
 */
#ifndef OMX_SPLIT_FRONT_PRIV_H
#define OMX_SPLIT_FRONT_PRIV_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "omx_abi_ops.h"
#include "omx_list.h"
#include "omx_spin.h"
#include "omx_split_front.h"
#include "omx_split_proto.h"
#include "omx_split_ring.h"

#define OMX_SPLIT_FRONT_EP_MAX 256           /* endpoints one process opens at once */
#define OMX_SPLIT_FRONT_BOARDS 8
#define OMX_SPLIT_FRONT_HANDSHAKE_MS 10000   /* each handshake step */
#define OMX_SPLIT_FRONT_CLOSE_MS 5000        /* Closing -> Closed */
#define OMX_SPLIT_FRONT_POLL_GAP_NS 5000     /* progress calls closer than this: a polling loop */
#define OMX_SPLIT_FRONT_POLLS_BEFORE_YIELD 8
#define OMX_SPLIT_FRONT_NAP_NS 20000         /* a polling loop's nap, plus timer slack */

/* A waited command: the reaper copies the response here and sets done. */
struct omx_split_front_call {
	struct omx_split_response *rsp;
	int done;
};

/* A region: the grants of its segments (one per non-empty segment). */
struct omx_split_front_region {
	uint32_t nr;
	uint32_t refs[];
};

enum omx_split_front_ep_state {
	OMX_SPLIT_FRONT_EP_FREE = 0,
	OMX_SPLIT_FRONT_EP_OPEN = 1,
	OMX_SPLIT_FRONT_EP_CLOSING = 2,
};

struct omx_split_front;

/* One endpoint slot; its index is the handle the library sees.  Slots live
 * until the driver closes, so a lookup needs no lock (state + refs). */
struct omx_split_front_ep {
	struct omx_split_front *f;
	uint32_t slot;
	uint32_t state;               /* enum omx_split_front_ep_state; atomic */
	uint32_t refs;                /* commands in flight; atomic */
	uint32_t back_handle;         /* the backend engine's handle of the shadow */
	uint32_t board_index;
	uint32_t endpoint_index;
	uint32_t medium_frag_max;

	uint8_t *area;
	struct omx_abi_endpoint_layout layout;
	struct omx_abi_endpoint_desc *desc;
	uint32_t *sleepers;           /* in the area's shared tail (omx_drv_shm) */
	int mem_fd;                   /* the area memfd (memory object mem_id) */
	int evt_fd;                   /* event channel evtchn_id: backend -> us */
	uint32_t mem_id, evtchn_id, area_ref;

	pthread_mutex_t region_lock;
	struct omx_split_front_region *regions[OMX_ABI_REGION_ID_MAX];

	/* wakeup protocol (omx_split_front_ep.c), under wait_lock */
	pthread_mutex_t wait_lock;
	int wake_fd;                  /* eventfd: omx_wakeup, close, backend death */
	uint32_t wait_seq;
	uint32_t wake_gen;            /* atomic reads */
	uint32_t waiters;
	uint32_t waiters_old;
	uint32_t waitspin_us;         /* adaptive spin budget; atomic */
	/* polling loops (omx_split_front_progress), under the lib's endpoint lock */
	uint32_t scan_exp, scan_unexp;   /* next event index each queue will publish */
	uint32_t polls;               /* back-to-back progress calls without a new event */
	uint64_t idle_since_ns;       /* first of them */
	uint64_t last_poll_ns;        /* end of the last progress call */
};

struct omx_split_front {
	struct omx_abi_driver base;   /* first: ops recover the frontend with container_of */
	int verbose;
	uint32_t waitspin_us;         /* OMX_WAITSPIN_US */
	uint32_t timeout_ms;          /* OMX_SPLIT_TIMEOUT_MS: a backend silent this long is lost; 0 = never */

	/* bus */
	int sock;
	pid_t backend_pid;
	struct omx_abi_driver_info info;   /* from InitWait */
	pthread_t watcher;
	int watcher_started;
	pthread_mutex_t bus_call_lock;
	pthread_mutex_t bus_lock;
	pthread_cond_t bus_cond;
	struct omx_split_bus_msg bus_ack;  /* under bus_lock */
	int bus_ack_ready;                 /* under bus_lock */
	int closing;                       /* under bus_lock: we sent Closing */
	int closed;                        /* under bus_lock: the backend said Closed */
	uint32_t dead;                /* atomic: backend gone, everything fails with EIO */
	int dead_fd;                  /* eventfd, readable forever once dead */
	uint32_t mem_ids[OMX_SPLIT_MEM_OBJECTS_MAX / 32];   /* under open_lock; bit = in use */
	uint32_t next_evtchn;                               /* under open_lock */

	/* ring */
	int ring_fd, kick_fd, notify_fd;
	struct omx_split_sring *sring;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct omx_split_front_ring ring;  /* under lock */
	struct omx_split_front_call *calls[OMX_SPLIT_RING_SLOTS];   /* under lock */
	uint32_t stall_seen;          /* under lock: rsp_cons at the last sign of life */
	uint64_t stall_since;         /* under lock: ns of that sign */
	int poller;                   /* under lock: a thread blocks on notify */
	uint32_t cond_waiters;        /* under lock */
	uint64_t posted_errors;       /* under lock */

	/* grants */
	int gnt_fd;
	struct omx_split_grant *gnt;
	pthread_mutex_t gnt_lock;
	uint32_t gnt_free_nr;         /* under gnt_lock */
	uint32_t gnt_deferred_nr;     /* under gnt_lock: ends refused while busy */
	uint32_t gnt_free[OMX_SPLIT_GRANT_ENTRIES];
	uint32_t gnt_deferred[OMX_SPLIT_GRANT_ENTRIES];

	/* endpoints */
	pthread_mutex_t open_lock;
	struct omx_split_front_ep *eps[OMX_SPLIT_FRONT_EP_MAX];   /* published with release */
	struct omx_abi_board_info boards[OMX_SPLIT_FRONT_BOARDS]; /* under open_lock */
	uint8_t board_known[OMX_SPLIT_FRONT_BOARDS];              /* under open_lock */
};

static inline struct omx_split_front *omx_split_front_of(struct omx_abi_driver *d)
{
	return omx_container_of(d, struct omx_split_front, base);
}

static inline int omx_split_front_dead(struct omx_split_front *f)
{
	return __atomic_load_n(&f->dead, __ATOMIC_ACQUIRE) != 0;
}

void omx_split_front_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t omx_split_front_jiffies_now(void);

/* omx_split_front_bus.c */
int omx_split_front_bus_connect(struct omx_split_front *f, const char *path);
int omx_split_front_bus_start(struct omx_split_front *f);
/* Send a bus message (+ one fd or -1) and wait for its ACK; the ACK's ret. */
int omx_split_front_bus_call(struct omx_split_front *f, uint32_t type, uint32_t id, int fd);
/* Closing -> Closed, then stop the watcher (close only). */
void omx_split_front_bus_stop(struct omx_split_front *f);
/* The backend is gone or broken: fail everything from now on.  ring_locked:
 * the caller holds f->lock. */
void omx_split_front_die(struct omx_split_front *f, const char *why, int ring_locked);
/* Declare the backend lost once requests stayed unanswered for timeout_ms. */
void omx_split_front_stall_check_locked(struct omx_split_front *f);
void omx_split_front_stall_check(struct omx_split_front *f);

/* omx_split_front_ring.c */
/* A sealed memfd of size bytes mapped read-write at *map; the fd or OMX_ABI_ENOMEM. */
int omx_split_front_memfd(const char *name, size_t size, void **map);
int omx_split_front_ring_setup(struct omx_split_front *f);
void omx_split_front_ring_teardown(struct omx_split_front *f);
/* Queue a request: func, handle and len bytes of payload into the union.
 * With rsp, wait for the response and return its ret (rsp filled);
 * without, return 0 once published (posted). */
int omx_split_front_request(struct omx_split_front *f, uint16_t func, uint32_t handle,
			    const void *payload, size_t len, struct omx_split_response *rsp);

/* omx_split_front_grant.c */
int omx_split_front_grant_init(struct omx_split_front *f);
void omx_split_front_grant_fini(struct omx_split_front *f);
/* A ref (> 0) or OMX_ABI_ENOMEM when the table is full. */
int omx_split_front_grant(struct omx_split_front *f, uint32_t mem, uint64_t offset, uint64_t length,
			  uint32_t access);
/* End a grant; while the backend still uses it the end is deferred and
 * retried later (the ref stays out of the free list until then). */
void omx_split_front_grant_end(struct omx_split_front *f, uint32_t ref);

/* omx_split_front_ep.c */
struct omx_split_front_ep *omx_split_front_ep_get(struct omx_split_front *f, uint32_t handle);
void omx_split_front_ep_put(struct omx_split_front_ep *ep);
void omx_split_front_ep_wake_all(struct omx_split_front_ep *ep);
int omx_split_front_open_endpoint(struct omx_abi_driver *d, const struct omx_abi_open_endpoint *cmd,
				  struct omx_abi_endpoint_info *out);
int omx_split_front_close_endpoint(struct omx_abi_driver *d, uint32_t handle);
void *omx_split_front_endpoint_area(struct omx_abi_driver *d, uint32_t handle);
/* Close every open endpoint (driver close), then free the slots once the
 * watcher is stopped (it looks slots up when the backend dies). */
void omx_split_front_endpoints_close(struct omx_split_front *f);
void omx_split_front_endpoints_free(struct omx_split_front *f);
int omx_split_front_create_region(struct omx_abi_driver *d, uint32_t handle,
				  const struct omx_abi_create_region *cmd);
int omx_split_front_destroy_region(struct omx_abi_driver *d, uint32_t handle, uint32_t region_id);
int omx_split_front_wait_event(struct omx_abi_driver *d, uint32_t handle, struct omx_abi_wait *wait);
int omx_split_front_wakeup(struct omx_abi_driver *d, uint32_t handle);
int omx_split_front_progress(struct omx_abi_driver *d, uint32_t handle);
/* Board info through the ring, cached per board (open_lock held). */
int omx_split_front_board_cached(struct omx_split_front *f, uint32_t board_index,
				 struct omx_abi_board_info *out);

#endif /* OMX_SPLIT_FRONT_PRIV_H */
