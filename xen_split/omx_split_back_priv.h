/*
 * omx_split_back_priv.h - the backend's insides, shared by its files:
 *   omx_split_back.c        the loop: epoll, spin-then-block, round robin
 *   omx_split_back_bus.c    accept, policy, the xenbus walk, memory objects
 *                           and event channels, teardown
 *   omx_split_back_grant.c  grant snapshots, busy accounting, fd checks
 *   omx_split_back_req.c    the ring: fetch, validate, dispatch, answer
 *   omx_split_back_ep.c     shadow endpoints and regions
 *
 * Trust: everything a frontend wrote (ring slots and indices, grant
 * entries, bus messages, the endpoint area) is read once into a local,
 * then checked; only the backend's own tables (below) are believed.
 */
#ifndef OMX_SPLIT_BACK_PRIV_H
#define OMX_SPLIT_BACK_PRIV_H

#include <stdint.h>
#include <sys/types.h>

#include "omx_abi_ops.h"
#include "omx_direct.h"
#include "omx_list.h"
#include "omx_split_back.h"
#include "omx_split_proto.h"
#include "omx_split_ring.h"

#define OMX_SPLIT_BACK_EVTCHN_MAX 256     /* event channel ids per frontend */
#define OMX_SPLIT_BACK_BUS_BURST 32       /* bus messages of one frontend per pass */
#define OMX_SPLIT_BACK_SHADOW_FDS 3
#define OMX_SPLIT_BACK_GUEST_PEERS 64     /* peers a non-admin frontend may add */
#define OMX_SPLIT_BACK_ACCEPT_PAUSE_MS 100

/* What an epoll event points at. */
enum omx_split_back_src_kind {
	OMX_SPLIT_BACK_SRC_LISTEN = 1,
	OMX_SPLIT_BACK_SRC_BUS,
	OMX_SPLIT_BACK_SRC_KICK,
	OMX_SPLIT_BACK_SRC_SHADOW,
};

struct omx_split_back_src {
	uint32_t kind;
	uint32_t bit;                 /* SHADOW: OMX_DRV_SHADOW_READY_* of this fd */
	void *obj;
};

struct omx_split_back_fe;

/* A region of a shadow endpoint: the grant refs whose busy it holds. */
struct omx_split_back_region {
	uint32_t nr_refs;
	uint32_t refs[];
};

struct omx_split_back_ep {
	struct omx_split_back_fe *fe;
	struct omx_list entry;        /* fe->eps */
	uint32_t handle;              /* the engine's */
	uint32_t area_ref;            /* grant held busy while open */
	uint32_t mem;                 /* memory object of the area */
	uint64_t area_off;            /* the area's offset in it */
	uint32_t evtchn;
	int fds[OMX_SPLIT_BACK_SHADOW_FDS];
	int nr_fds;
	struct omx_split_back_src src[OMX_SPLIT_BACK_SHADOW_FDS];
	unsigned ready;               /* fds that polled readable, not yet served */
	struct omx_list ready_entry;  /* b->ready while ready != 0 */
	struct omx_split_back_region *regions[OMX_ABI_REGION_ID_MAX];
};

struct omx_split_back_mem {
	int fd;                       /* -1: free */
	uint64_t size;                /* at MEM_ADD; sealed against shrinking */
	uint32_t users;               /* endpoint areas on it */
	uint64_t dev, ino;            /* the memory itself, whatever id or frontend names it */
};

struct omx_split_back_fe_stats {
	uint64_t requests, posted, errors, malformed, eagain;
	uint64_t opened, closed, regions_created, regions_destroyed;
	uint64_t bus_msgs;
	uint64_t completions;         /* events posted for failed posted requests */
};

struct omx_split_back_fe {
	struct omx_split_back *b;
	struct omx_list entry;        /* b->fes */
	uint32_t id;                  /* for the log */
	int sock;
	pid_t pid;
	uid_t uid;
	int admin;
	uint32_t state;               /* enum omx_split_bus_state, ours */
	uint64_t deadline;            /* ms: Connected by then */
	int dead;                     /* tear down at the end of the pass */
	char why[96];                 /* why it was disconnected */

	struct omx_split_back_src bus_src, kick_src;
	int kick_fd, notify_fd;
	struct omx_split_sring *sring;
	struct omx_split_back_ring ring;
	struct omx_split_grant *grants;
	int retry;                    /* a posted request waits for resources */

	struct omx_split_back_mem mems[OMX_SPLIT_MEM_OBJECTS_MAX + 1];   /* [0] unused */
	int evtchns[OMX_SPLIT_BACK_EVTCHN_MAX];
	uint32_t evtchn_users[OMX_SPLIT_BACK_EVTCHN_MAX];
	struct omx_list eps;
	uint32_t nr_eps;
	uint64_t busy_held;           /* busy increments not yet undone */
	uint32_t peers_added;         /* by this non-admin frontend */

	uint64_t err_window;          /* ms: start of the current error second */
	uint32_t err_in_window;
	struct omx_split_back_fe_stats st;
};

struct omx_split_back {
	struct omx_split_back_config cfg;
	struct omx_abi_driver *drv;
	const struct omx_abi_ops *ops;
	int own_drv;
	struct omx_abi_driver_info info;
	char *path;
	int listen_fd;
	int epfd;
	struct omx_split_back_src listen_src;
	struct omx_list fes;          /* round robin: the head is served first */
	struct omx_list ready;        /* shadow endpoints with readable fds */
	uint32_t next_id;
	struct omx_split_back_ep **eps;   /* by engine handle */
	uint32_t nr_handles;
	uint64_t next_due;            /* ms: earliest engine timer, 0 = rescan */
	uint32_t spin_us;             /* adaptive, up to cfg.spin_us */
	int pulling;                  /* a shadow has pulls in flight (at the last rescan) */
	uint64_t accept_paused;       /* ms: out of fds, listening resumes then (0: listening) */
	struct omx_split_back_stats st;
};

/* omx_split_back.c */
void omx_split_back_log(struct omx_split_back *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t omx_split_back_now_ms(void);
int omx_split_back_epoll_add(struct omx_split_back *b, int fd, struct omx_split_back_src *src);
void omx_split_back_epoll_del(struct omx_split_back *b, int fd);

/* omx_split_back_bus.c */
void omx_split_back_accept(struct omx_split_back *b);
void omx_split_back_bus_ready(struct omx_split_back_fe *fe);
/* Mark for teardown at the end of the pass, once, with the reason. */
void omx_split_back_disconnect(struct omx_split_back_fe *fe, const char *why);
void omx_split_back_fe_destroy(struct omx_split_back_fe *fe);
void omx_split_back_check_deadlines(struct omx_split_back *b, uint64_t now);

/* omx_split_back_grant.c */
/* A snapshot of grant ref with at least the access `need` (OMX_SPLIT_GRANT_*):
 * 0, or OMX_ABI_EINVAL for a bad ref, a missing bit or an impossible entry. */
int omx_split_back_grant_get(struct omx_split_back_fe *fe, uint32_t ref, uint32_t need,
			     struct omx_split_grant *snap);
/* The same with the grant's busy raised first (the frontend cannot end it
 * while we use it); on success the caller owes a grant_busy(-1). */
int omx_split_back_grant_take(struct omx_split_back_fe *fe, uint32_t ref, uint32_t need,
			      struct omx_split_grant *snap);
/* A span inside its snapshot; 0 or OMX_ABI_EINVAL. */
int omx_split_back_span_check(const struct omx_split_grant *snap, uint64_t offset, uint64_t length);
void omx_split_back_grant_busy(struct omx_split_back_fe *fe, uint32_t ref, int delta);
/* fd is a memfd sealed against shrinking, not named like a direct area,
 * of at least min bytes: its size, or 0 when refused. */
uint64_t omx_split_back_memfd_check(int fd, uint64_t min);
/* The identity of fd's memory (for "two areas on the same bytes"). */
void omx_split_back_fd_id(int fd, uint64_t *dev, uint64_t *ino);
int omx_split_back_is_eventfd(int fd);
/* Copy n bytes of granted memory (snapshot) at offset into buf. */
int omx_split_back_grant_read(struct omx_split_back_fe *fe, const struct omx_split_grant *snap,
			      uint64_t offset, void *buf, size_t n);

/* omx_split_back_req.c */
/* Serve up to budget requests; returns how many (more may wait). */
uint32_t omx_split_back_ring_serve(struct omx_split_back_fe *fe, uint32_t budget);
/* Requests waiting (0), or 1 after arming the kick; -1: a lie (disconnected). */
int omx_split_back_ring_final_check(struct omx_split_back_fe *fe);
/* Count an error response; disconnects on a flood of malformed ones. */
void omx_split_back_count_error(struct omx_split_back_fe *fe, int ret);

/* omx_split_back_ep.c */
int omx_split_back_ep_open(struct omx_split_back_fe *fe, const struct omx_split_req_open_endpoint *r,
			   struct omx_abi_endpoint_info *out);
struct omx_split_back_ep *omx_split_back_ep_find(struct omx_split_back_fe *fe, uint32_t handle);
void omx_split_back_ep_close(struct omx_split_back_ep *ep);
int omx_split_back_region_create(struct omx_split_back_ep *ep, const struct omx_split_req_create_region *r);
int omx_split_back_region_destroy(struct omx_split_back_ep *ep, uint32_t id);
void omx_split_back_ep_progress(struct omx_split_back_ep *ep, unsigned ready);
/* Serve the shadow endpoints whose fds polled readable, and the timers due. */
uint32_t omx_split_back_eps_serve(struct omx_split_back *b, uint64_t now);

#endif /* OMX_SPLIT_BACK_PRIV_H */
