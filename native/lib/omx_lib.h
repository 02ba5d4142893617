/*
 * omx_lib.h - libopen-mx internals (omx__ prefix), shared by the .c files of native/lib
 * and the library's unit tests.
 *
 * Locking: one mutex per endpoint (ep->lock).  Every public entry point
 * takes it through omx__lock(); every function here that takes an
 * endpoint expects it held unless its comment says otherwise.  A blocking
 * wait drops it before ops->wait_event and takes it again afterwards.  The
 * unexpected handler runs with the lock dropped and progression disabled,
 * so the event being handled (and its recvq slot) stays in place.
 *
 * Request queues: a request sits in at most one "network state" queue
 * through queue_elt (need_resources, need_pull, resend or resend_early,
 * connect, recv posted, unexpected, a partner's need_seqnum), in at most one partner
 * queue through partner_elt (non-acked sends and notifies in seqnum order,
 * partial medium receives in seqnum order), and in the done queues
 * (done_elt for its ctxid, done_any_elt for the endpoint) once completed.
 * A large receive turns into a seqnum'd send (its NOTIFY) once pulled.  Every list element
 * is kept self-linked when unused, so omx_list_del() is always safe.
 */
#ifndef OMX_LIB_H
#define OMX_LIB_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>

#include "omx_abi_ops.h"
#include "open-mx.h"
#include "omx_abi.h"
#include "omx_eventq.h"
#include "omx_list.h"
#include "omx_wire.h"

/* ---- configuration (omx_init.c reads every OMX_ variable once) ---------- */

struct omx__config {
	uint32_t rndv_threshold;
	uint32_t shared_rndv_threshold;
	uint32_t resends_max;
	uint32_t resend_delay_ms;
	uint32_t notacked_max;
	uint32_t ack_delay_ms;
	uint32_t zombie_max;
	uint32_t linger_ms;
	uint32_t disable_self;
	uint32_t disable_shared;
	uint8_t ctxid_bits;
	uint8_t ctxid_shift;
	uint32_t fatal_errors;
	uint32_t verbose;
};

struct omx__globals {
	int initialized;
	struct omx_abi_driver *drv;
	struct omx_abi_driver_info info;
	struct omx__config cfg;
	omx_error_handler_t error_handler;
	pthread_mutex_t lock;         /* init/finalize and the endpoint list */
	struct omx_list endpoints;
};

extern struct omx__globals omx__globals;

#define omx__verbose(...) \
	do { if (omx__globals.cfg.verbose) omx__log(__VA_ARGS__); } while (0)
void omx__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Route an API error through the endpoint's (or the global) error handler. */
omx_return_t omx__error(struct omx_endpoint *ep, omx_return_t ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
omx_return_t omx__abi_to_ret(int abi_err);
uint64_t omx__ms_to_jiffies(uint32_t ms);
uint32_t omx__timeout_to_resends(uint32_t ms);

/* ---- sequence numbers: 2 session bits + 14 seqnum bits ------------------ */

#define OMX__SEQNUM_BITS 14
#define OMX__SEQNUM_MASK 0x3fffu
#define OMX__SESNUM_MASK 0xc000u
#define OMX__SESNUM_ONE 0x4000u
#define OMX__THROTTLING_OFFSET_MAX (OMX__SEQNUM_MASK / 2)   /* 8191 */
#define OMX__EARLY_PACKET_OFFSET_MAX 255

static inline uint16_t omx__seqnum(uint16_t s) { return s & OMX__SEQNUM_MASK; }
static inline uint16_t omx__sesnum(uint16_t s) { return s & OMX__SESNUM_MASK; }
/* Distance from b up to a, modulo 2^14 (session bits ignored). */
static inline uint16_t omx__seqnum_diff(uint16_t a, uint16_t b)
{
	return (uint16_t)(a - b) & OMX__SEQNUM_MASK;
}
/* Advance by n inside the same session: the 14-bit part wraps alone. */
static inline uint16_t omx__seqnum_add(uint16_t s, uint16_t n)
{
	return (uint16_t)(omx__sesnum(s) | ((s + n) & OMX__SEQNUM_MASK));
}
static inline uint16_t omx__seqnum_increase(uint16_t s) { return omx__seqnum_add(s, 1); }
static inline uint16_t omx__sesnum_bump(uint16_t s)
{
	return (uint16_t)(((s + OMX__SESNUM_ONE) & OMX__SESNUM_MASK) | omx__seqnum(s));
}

/* Where an incoming seqnum falls for a partner (see omx__recv_classify). */
enum omx__recv_order {
	OMX__RECV_MATCH,              /* the next message to match */
	OMX__RECV_PARTIAL,            /* a fragment of an already matched medium */
	OMX__RECV_EARLY,              /* ahead, inside the early window: keep a copy */
	OMX__RECV_OBSOLETE,           /* behind or too far ahead: drop */
	OMX__RECV_OBSOLETE_PREVIOUS,  /* the previous seqnum again: our ack was lost */
	OMX__RECV_BAD_SESNUM,         /* another session: drop */
};

static inline enum omx__recv_order
omx__recv_classify(uint16_t seq, uint16_t next_frag, uint16_t next_match)
{
	uint16_t index, max;

	if (omx__sesnum(seq) != omx__sesnum(next_match))
		return OMX__RECV_BAD_SESNUM;
	index = omx__seqnum_diff(seq, next_frag);
	max = omx__seqnum_diff(next_match, next_frag);
	if (index == max)
		return OMX__RECV_MATCH;
	if (index < max)
		return OMX__RECV_PARTIAL;
	if (index <= max + OMX__EARLY_PACKET_OFFSET_MAX)
		return OMX__RECV_EARLY;
	if (omx__seqnum(seq) == omx__seqnum((uint16_t)(next_frag - 1)))
		return OMX__RECV_OBSOLETE_PREVIOUS;
	return OMX__RECV_OBSOLETE;
}

/* How many seqnums an ack value newly acknowledges; 0 when the ack is stale,
 * from another session, or beyond what was sent. */
static inline uint16_t omx__ack_new_count(uint16_t ack, uint16_t next_acked, uint16_t next_send)
{
	uint16_t new_nr, missing;

	if (omx__sesnum(ack) != omx__sesnum(next_acked))
		return 0;
	new_nr = omx__seqnum_diff(ack, next_acked);
	missing = omx__seqnum_diff(next_send, next_acked);
	if (new_nr == 0 || new_nr > missing)
		return 0;
	return new_nr;
}

/* True when a partner has too many unacked seqnums to take one more. */
static inline int omx__seqnum_throttled(uint16_t next_send, uint16_t next_acked)
{
	return omx__seqnum_diff(next_send, next_acked) >= OMX__THROTTLING_OFFSET_MAX;
}

/* acknum comparison across u32 wraparound. */
static inline int omx__acknum_newer(uint32_t acknum, uint32_t last)
{
	return (int32_t)(acknum - last) > 0;
}

/* ---- lib counters: bad input is dropped and counted, never fatal ------- */

#define OMX__LIB_COUNTERS(X) \
	X(DROP_UNKNOWN_EVENT) \
	X(DROP_BAD_PARTNER) \
	X(DROP_BAD_SESNUM) \
	X(DROP_OBSOLETE) \
	X(DROP_DUPLICATE) \
	X(DROP_EARLY_DUPLICATE) \
	X(DROP_BAD_SMALL) \
	X(DROP_BAD_MEDIUM) \
	X(DROP_BAD_NOTIFY) \
	X(DROP_BAD_PULL_DONE) \
	X(DROP_STALE_PULL_DONE) \
	X(DROP_BAD_ACK) \
	X(DROP_STALE_ACKNUM) \
	X(DROP_UNKNOWN_NACK) \
	X(DROP_NACK_NO_REQUEST) \
	X(DROP_CONNECT_REPLY) \
	X(DROP_BAD_FRAG_DONE) \
	X(EARLY_STORED) \
	X(RESEND) \
	X(RESEND_EARLY) \
	X(CONNECT_RESEND) \
	X(ACK_SENT) \
	X(ACK_IMMEDIATE) \
	X(PARTNER_TIMEOUT) \
	X(LARGE_SEND_WAIT) \
	X(PULL_WAIT) \
	X(PULL_FAILED) \
	X(EXP_EVENTQ_FULL_FLAG) \
	X(UNEXP_EVENTQ_FULL_FLAG)

enum omx__counter {
#define OMX__COUNTER_ENUM(name) OMX__CNT_##name,
	OMX__LIB_COUNTERS(OMX__COUNTER_ENUM)
#undef OMX__COUNTER_ENUM
	OMX__CNT_MAX,
};
const char *omx__counter_name(unsigned index);

/* ---- partners ----------------------------------------------------------- */

#define OMX__PARTNER_MAGIC 0x50415254u
#define OMX__ENDPOINT_MAGIC 0x454e4450u
#define OMX__REQUEST_MAGIC 0x52455155u

enum omx__ack_state {
	OMX__ACK_NONE = 0,
	OMX__ACK_DELAYED,
	OMX__ACK_IMMEDIATE,
};

struct omx__partner {
	uint32_t magic;
	struct omx_endpoint *ep;
	uint64_t board_addr;
	uint16_t peer_index;
	uint8_t endpoint_index;
	uint8_t shared;               /* reached through the driver's intra-host path */
	uint8_t is_self;
	uint8_t true_session_known;
	uint8_t back_session_known;
	uint8_t connect_seqnum;
	uint32_t true_session_id;     /* the peer's session: stamped on our sends */
	uint32_t back_session_id;     /* the peer's session seen in its requests: acks */
	uint16_t next_send_seq;
	uint16_t next_acked_send_seq;
	uint16_t next_match_recv_seq;
	uint16_t next_frag_recv_seq;  /* every seqnum below is fully received */
	uint16_t last_acked_recv_seq; /* what we last told the peer */
	uint32_t last_send_acknum;
	uint32_t last_recv_acknum;
	uint32_t srtt8;               /* smoothed round trip, jiffies * 8 (rtt_known) */
	uint32_t rttvar4;             /* its mean deviation, jiffies * 4 */
	uint8_t rtt_known;
	enum omx__ack_state ack_state;
	uint64_t ack_deadline;
	struct omx_list ack_elt;      /* ep->ack_q */
	struct omx_list non_acked_q;  /* partner_elt: sends holding a seqnum, in order */
	struct omx_list need_seqnum_q;/* queue_elt: throttled sends, FIFO */
	struct omx_list partial_q;    /* partner_elt: partial medium receives, in order */
	struct omx_list early_q;      /* struct omx__early_packet, in seqnum order */
	uint32_t early_nr;
	struct omx_list large_wait_elt; /* ep->large_wait_q: a large send waits for a region */
	uint8_t large_waiting;
	void *user_context;
};

/* A message that arrived ahead of its turn: a copy of its event and data. */
struct omx__early_packet {
	struct omx_list elt;
	union omx_abi_event ev;
	uint32_t data_length;
	uint8_t data[];
};

/* ---- requests ----------------------------------------------------------- */

struct omx__region;

enum omx__request_type {
	OMX__REQ_CONNECT = 1,
	OMX__REQ_SEND_TINY,
	OMX__REQ_SEND_SMALL,
	OMX__REQ_SEND_MEDIUMSQ,
	OMX__REQ_SEND_LARGE,
	OMX__REQ_SEND_SELF,
	OMX__REQ_RECV,
	OMX__REQ_RECV_LARGE,
};

#define OMX__REQ_NEED_RESOURCES     0x0001u
#define OMX__REQ_NEED_SEQNUM        0x0002u
#define OMX__REQ_MEDIUMSQ_SENDING   0x0004u  /* FRAG_DONE events outstanding */
#define OMX__REQ_NEED_ACK           0x0008u
#define OMX__REQ_NEED_REPLY         0x0010u
#define OMX__REQ_RECV_NEED_MATCHING 0x0020u
#define OMX__REQ_RECV_PARTIAL       0x0040u
#define OMX__REQ_DRIVER_PULLING     0x0080u
#define OMX__REQ_UNEXPECTED_RECV    0x0100u
#define OMX__REQ_UNEXPECTED_SELF    0x0200u  /* a self issend waiting for its match */
#define OMX__REQ_DONE               0x0400u
#define OMX__REQ_ZOMBIE             0x0800u  /* the app is done with it; free when idle */
#define OMX__REQ_INTERNAL           0x1000u  /* never reported (discarded message) */

/* States that keep a request alive in the library. */
#define OMX__REQ_BUSY (OMX__REQ_NEED_RESOURCES | OMX__REQ_NEED_SEQNUM | \
		       OMX__REQ_MEDIUMSQ_SENDING | OMX__REQ_NEED_ACK | OMX__REQ_NEED_REPLY | \
		       OMX__REQ_RECV_NEED_MATCHING | OMX__REQ_RECV_PARTIAL | \
		       OMX__REQ_DRIVER_PULLING | OMX__REQ_UNEXPECTED_RECV | \
		       OMX__REQ_UNEXPECTED_SELF)

struct omx__request {
	uint32_t magic;
	uint16_t type;                /* enum omx__request_type */
	uint32_t state;               /* OMX__REQ_* */
	struct omx_endpoint *ep;
	struct omx_list all_elt;      /* ep->all_req_q, for teardown */
	struct omx_list queue_elt;
	struct omx_list partner_elt;
	struct omx_list done_elt;
	struct omx_list done_any_elt;
	omx_status_t status;
	struct omx__partner *partner;
	uint32_t ctxid;
	uint16_t seqnum;
	uint64_t last_send_jiffies;
	uint32_t resends;
	uint32_t resends_max;
	uint32_t early_resends;       /* RNDV/NOTIFY resends before resend_delay applies */
	union {
		struct {
			const void *buffer;
			uint32_t length;
			uint32_t frags_nr;
			uint32_t frags_pending_nr;
			uint32_t frag_max;
			uint8_t frag_pipeline;
			uint8_t slots_ready;  /* sendq slots hold the data (copied once) */
			uint16_t slots[OMX_MEDIUM_FRAGS_MAX];
			uint8_t data[OMX_SMALL_MSG_LENGTH_MAX];
			struct omx__region *region; /* large: what the receiver pulls from */
			uint8_t region_id;    /* kept after the NOTIFY frees the region */
			uint8_t region_seqnum;
		} send;
		struct {
			void *buffer;         /* the app's buffer, or the unexpected copy */
			uint32_t length;      /* usable bytes of buffer */
			uint64_t match_info;  /* what the app posted */
			uint64_t match_mask;
			uint32_t frags_received_mask;
			uint32_t accumulated;
			uint32_t frag_unit;   /* offset of frag n = n * frag_unit */
			uint8_t msg_type;     /* OMX_ABI_EVT_RECV_* of the message */
			struct omx__request *self_send; /* a self issend to complete on match */
			/* large: the sender's region, ours while pulling, the notify */
			struct omx__region *region;
			uint8_t pulled_rdma_id;
			uint8_t pulled_rdma_seqnum;
			uint16_t pulled_rdma_offset;
			uint32_t notify_length;
		} recv;
		struct {
			uint32_t key;
			uint8_t connect_seqnum;
		} connect;
	};
};

/* ---- regions (omx_large.c) ---------------------------------------------- */

/*
 * A region is the driver's window on a large message buffer: the sender's
 * (pulled by the receiver until its NOTIFY) or the receiver's (written by
 * the pull until PULL_DONE).  Its holder is a busy request (NEED_REPLY or
 * DRIVER_PULLING), so a region never outlives the request that names it.
 * Sends hold at most OMX__LARGE_SENDS_MAX of the ids, so receives always
 * find one eventually and two peers sending to each other cannot deadlock.
 */
#define OMX__REGION_MAX OMX_ABI_REGION_ID_MAX
#define OMX__LARGE_SENDS_MAX 128
#define OMX__REGION_SEQNUM_START 23

struct omx__region {
	struct omx__request *holder;  /* NULL when the id is free */
	uint64_t cookie;              /* PULL_DONE lib_cookie while pulled into */
	uint8_t id;
	uint8_t last_seqnum;          /* bumped by every send using the id */
};

/* ---- endpoints ---------------------------------------------------------- */

struct omx__ctxid {
	struct omx_list recv_q;       /* posted, not yet matched (FIFO) */
	struct omx_list unexp_q;      /* arrived, not yet matched (arrival order) */
	struct omx_list done_q;
};

#define OMX__PROGRESSION_USER 0x1
#define OMX__PROGRESSION_HANDLER 0x2

struct omx_endpoint {
	uint32_t magic;
	pthread_mutex_t lock;
	pthread_cond_t handler_cond;  /* signalled when an unexpected handler returns */
	struct omx_list ep_elt;       /* omx__globals.endpoints */
	struct omx_abi_driver *drv;
	const struct omx_abi_ops *ops;
	uint32_t handle;
	uint32_t board_index;
	uint32_t endpoint_index;
	uint32_t session_id;
	uint32_t app_key;
	uint16_t my_peer_index;
	struct omx_abi_board_info board;
	struct omx_abi_endpoint_layout layout;

	uint8_t *area;
	struct omx_abi_endpoint_desc *desc;
	const union omx_abi_event *exp_eventq;
	const union omx_abi_event *unexp_eventq;
	uint8_t *sendq;
	const uint8_t *recvq;
	uint32_t next_exp_index;
	uint32_t next_unexp_index;
	uint32_t exp_unreleased;      /* consumed, not yet handed back */
	uint32_t unexp_unreleased;
	uint32_t exp_outstanding;     /* reserved for commands, not yet consumed */

	uint16_t *sendq_free;         /* stack of free sendq slot indices */
	uint32_t sendq_free_nr;
	struct omx__request **sendq_owner;

	struct omx__partner ***partners; /* [peer_index][endpoint_index], lazy */
	uint32_t peer_max;
	struct omx__partner *myself;

	uint8_t ctxid_bits;
	uint8_t ctxid_shift;
	uint32_t ctxid_max;
	uint64_t ctxid_match_mask;    /* the ctxid bits inside match info */
	struct omx__ctxid *ctxids;
	struct omx_list done_any_q;
	struct omx_list all_req_q;
	struct omx_list need_resources_q; /* queue_elt: FIFO, later sends queue behind */
	struct omx_list resend_q;     /* queue_elt: posted sends awaiting ack, by last send */
	struct omx_list resend_early_q; /* queue_elt: RNDVs and NOTIFYs on their backoff */
	struct omx_list connect_q;    /* queue_elt: connects awaiting a reply, by last send */
	struct omx_list ack_q;        /* partners owing an ack */
	uint32_t zombies;

	struct omx__region regions[OMX__REGION_MAX];
	uint8_t region_free[OMX__REGION_MAX]; /* FIFO of free region ids, from region_free_head */
	uint32_t region_free_head;
	uint32_t region_free_nr;
	uint32_t large_sends_avail;   /* OMX__LARGE_SENDS_MAX - sends holding a region */
	uint32_t pull_generation;     /* high bits of PULL_DONE cookies */
	int large_released;           /* a region came back: retry large waiters */
	struct omx_list large_wait_q; /* partners whose next send waits for a region */
	struct omx_list need_pull_q;  /* queue_elt: matched large receives short of resources */

	uint32_t rndv_threshold;
	uint32_t shared_rndv_threshold;
	uint32_t medium_frag_max;
	uint8_t frag_pipeline;
	int shared_ok;                /* the driver has an intra-host path we may use */
	uint64_t hz;
	uint64_t resend_delay;        /* jiffies */
	uint64_t rto_min;             /* floor of the early resend timeout */
	uint64_t ack_delay;
	uint32_t resends_max;         /* default per request */
	uint64_t last_desc_check;
	uint64_t retry_deadline;      /* a parked send hit driver EAGAIN: retry at */

	omx_error_handler_t error_handler;
	omx_unexp_handler_t unexp_handler;
	void *unexp_handler_context;
	int in_handler;
	int closing;                  /* in omx_close_endpoint: others leave it alone */
	pthread_t handler_thread;
	uint32_t progression_disabled; /* OMX__PROGRESSION_* */
	uint32_t sleepers;            /* threads inside ops->wait_event */
	uint32_t wakeup_gen;          /* bumped by omx_wakeup */
	uint32_t completions;         /* since the last notification of sleepers */
	uint32_t counters[OMX__CNT_MAX];
};

#define OMX__COUNT(ep, name) ((ep)->counters[OMX__CNT_##name]++)

/* Lock precondition of the internals (held by someone: what a default
 * mutex can tell). */
#define omx__assert_locked(ep) assert(pthread_mutex_trylock(&(ep)->lock) == EBUSY)

/* omx_endpoint.c */
void omx__lock(struct omx_endpoint *ep);
void omx__unlock(struct omx_endpoint *ep);
int omx__endpoint_valid(const struct omx_endpoint *ep);
uint64_t omx__now(const struct omx_endpoint *ep);
uint32_t omx__exp_events_avail(const struct omx_endpoint *ep);
int omx__sendq_alloc(struct omx_endpoint *ep, uint32_t nr, uint16_t *slots);
void omx__sendq_free(struct omx_endpoint *ep, uint32_t nr, const uint16_t *slots);
struct omx__request *omx__request_alloc(struct omx_endpoint *ep, enum omx__request_type type);
void omx__request_free(struct omx_endpoint *ep, struct omx__request *req);
uint32_t omx__ctxid_of(const struct omx_endpoint *ep, uint64_t match_info);
void omx__close_all_endpoints(void);

/* omx_partner.c */
struct omx__partner *omx__partner_lookup(struct omx_endpoint *ep, uint16_t peer_index,
					 uint8_t endpoint_index, int create);
struct omx__partner *omx__partner_create_self(struct omx_endpoint *ep);
struct omx__partner *omx__partner_from_addr(const omx_endpoint_addr_t *addr);
void omx__partner_to_addr(const struct omx__partner *partner, omx_endpoint_addr_t *addr);
void omx__partner_init_seqnums(struct omx__partner *partner, uint16_t send_start, uint16_t recv_start);
void omx__partner_cleanup(struct omx_endpoint *ep, struct omx__partner *partner, int disconnect,
			  omx_return_t code);
void omx__partners_free(struct omx_endpoint *ep);
void omx__partners_driver_gone(struct omx_endpoint *ep);
void omx__process_connect_request(struct omx_endpoint *ep, const union omx_abi_event *ev);
void omx__process_connect_reply(struct omx_endpoint *ep, const union omx_abi_event *ev);
int omx__connect_post(struct omx_endpoint *ep, struct omx__request *req);
void omx__connect_complete(struct omx_endpoint *ep, struct omx__request *req, omx_return_t code);
void omx__connect_resend(struct omx_endpoint *ep, uint64_t now);

/* omx_ack.c */
void omx__handle_ack(struct omx_endpoint *ep, struct omx__partner *partner, uint16_t ack);
void omx__process_liback(struct omx_endpoint *ep, const union omx_abi_event *ev);
void omx__process_nack_lib(struct omx_endpoint *ep, const union omx_abi_event *ev);
void omx__piggyacked(struct omx_endpoint *ep, struct omx__partner *partner);
void omx__mark_received(struct omx_endpoint *ep, struct omx__partner *partner, int immediate);
int omx__send_liback(struct omx_endpoint *ep, struct omx__partner *partner);
void omx__process_acks(struct omx_endpoint *ep, uint64_t now, int flush);
void omx__ack_dequeue(struct omx__partner *partner);
void omx__update_wakeup(struct omx_endpoint *ep, uint64_t now);
void omx__rtt_sample(struct omx_endpoint *ep, struct omx__partner *partner, uint64_t sample);
uint64_t omx__resend_timeout(const struct omx_endpoint *ep, const struct omx__request *req);
omx_return_t omx__nack_to_ret(uint8_t nack_type, int *known);

/* omx_send.c */
enum omx__send_class {
	OMX__SEND_TINY,
	OMX__SEND_SMALL,
	OMX__SEND_MEDIUM,
	OMX__SEND_LARGE,
};
enum omx__send_class omx__send_class(const struct omx_endpoint *ep, const struct omx__partner *partner,
				     size_t length, int sync);
void omx__send_retry_parked(struct omx_endpoint *ep);
void omx__send_resend(struct omx_endpoint *ep, uint64_t now);
void omx__send_acked(struct omx_endpoint *ep, struct omx__request *req);
void omx__send_try_finish(struct omx_endpoint *ep, struct omx__request *req);
void omx__send_abort(struct omx_endpoint *ep, struct omx__request *req, omx_return_t code);
void omx__send_release_throttled(struct omx_endpoint *ep, struct omx__partner *partner);
void omx__process_frag_done(struct omx_endpoint *ep, const union omx_abi_event *ev);
omx_return_t omx__self_send(struct omx_endpoint *ep, const void *buffer, size_t length,
			    uint64_t match_info, void *context, int sync, struct omx__request **out);

/* The floor of the early RNDV/NOTIFY resend timeout (omx_ack.c). */
#define OMX__RTO_MIN_MS 10

/* lib resources missing (sendq slots, exp events, regions): retried on events. */
#define OMX__ENORES (-100)

/* omx_send.c (continued) */
void omx__send_submit(struct omx_endpoint *ep, struct omx__request *req);
void omx__send_fill_hdr(const struct omx__request *req, struct omx_abi_send_hdr *hdr);

/* omx_large.c */
void omx__large_init(struct omx_endpoint *ep);
void omx__large_close(struct omx_endpoint *ep);
int omx__large_send_reserve(struct omx_endpoint *ep, struct omx__request *req);
void omx__large_send_release(struct omx_endpoint *ep, struct omx__request *req);
void omx__large_wait_update(struct omx_endpoint *ep, struct omx__partner *partner, int waiting);
int omx__large_post_rndv(struct omx_endpoint *ep, struct omx__request *req);
int omx__large_post_notify(struct omx_endpoint *ep, struct omx__request *req);
void omx__large_recv_rndv(struct omx_endpoint *ep, struct omx__request *req, const union omx_abi_event *ev);
void omx__large_recv_start(struct omx_endpoint *ep, struct omx__request *req);
void omx__large_discard(struct omx_endpoint *ep, struct omx__partner *partner, const union omx_abi_event *ev);
void omx__large_process_notify(struct omx_endpoint *ep, struct omx__partner *partner,
			       const union omx_abi_event *ev);
void omx__large_process_pull_done(struct omx_endpoint *ep, const union omx_abi_event *ev);
void omx__large_partner_cleanup(struct omx_endpoint *ep, struct omx__partner *partner, omx_return_t code);
void omx__large_progress(struct omx_endpoint *ep);

/* omx_recv.c */
static inline int omx__match(uint64_t incoming, uint64_t match_info, uint64_t match_mask)
{
	return (incoming & match_mask) == match_info;
}
omx_return_t omx__check_match_mask(uint64_t match_info, uint64_t match_mask, uint64_t ctxid_mask);
struct omx__request *omx__find_posted_recv(struct omx_list *recv_q, uint64_t incoming);
struct omx__request *omx__find_unexpected(struct omx_list *unexp_q, uint64_t match_info,
					  uint64_t match_mask);
int omx__medium_frag_check(uint32_t msg_length, uint32_t frag_unit, uint8_t frag_seqnum,
			   uint32_t frag_length, uint32_t *offset);
uint32_t omx__recv_clip(uint32_t offset, uint32_t length, uint32_t buffer_length);
int omx__recv_medium_frag_accept(uint32_t *received_mask, uint8_t frag_seqnum);
int omx__early_insert(struct omx__partner *partner, struct omx__early_packet *pkt);
void omx__process_recv_event(struct omx_endpoint *ep, const union omx_abi_event *ev);
/* next_frag_recv_seq follows next_match_recv_seq and the partial mediums. */
void omx__recv_update_frag_seq(struct omx_endpoint *ep, struct omx__partner *partner);
void omx__recv_complete(struct omx_endpoint *ep, struct omx__request *req);
void omx__recv_deliver_self(struct omx_endpoint *ep, struct omx__request *send_req, int sync);
void omx__partner_recv_cleanup(struct omx_endpoint *ep, struct omx__partner *partner);
omx_unexp_handler_action_t omx__call_unexp_handler(struct omx_endpoint *ep, struct omx__partner *partner,
						   uint64_t match_info, uint32_t msg_length,
						   const void *data);

/* omx_progress.c */
void omx__progress(struct omx_endpoint *ep);
typedef int (*omx__wait_check_t)(struct omx_endpoint *ep, void *arg);
/* Returns 1 when check fired, 0 on timeout or omx_wakeup.  Lock held on
 * entry and exit; dropped while asleep. */
int omx__wait_loop(struct omx_endpoint *ep, omx__wait_check_t check, void *arg, uint32_t timeout_ms);
int omx__in_handler(const struct omx_endpoint *ep);

/* omx_test.c */
void omx__request_done(struct omx_endpoint *ep, struct omx__request *req, omx_return_t code);
void omx__request_consume(struct omx_endpoint *ep, struct omx__request *req);
void omx__request_zombify(struct omx_endpoint *ep, struct omx__request *req);
void omx__request_set_error(struct omx__request *req, omx_return_t code);

#endif /* OMX_LIB_H */
