/*
 * omx_drv_shared_send.c - commands on the intra-host path: the sender's
 * driver validates the destination as a receiving driver would (endpoint
 * index, open, session) and writes the event, and the payload into the
 * recvq slot bound to it, straight into the destination's unexpected
 * queue.  Refusals become NACK_LIB events in the sender's own queue; a
 * liback is never nacked.  Large messages are pulled with one
 * process_vm_readv from the data owner's published region, synchronously.
 *
 * Counters go to the "shared" pseudo-board of the sending driver.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "omx_drv_shared.h"

#define OMX_DRV_SHARED_IOV 64         /* segment pairs per process_vm_readv */

static void omx_drv_shared_own_full(struct omx_drv_ep *ep)
{
	omx_drv_count_shared(ep->drv, OMX_COUNTER_UNEXP_EVENTQ_FULL);
	__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_UNEXP_EVENTQ_FULL, __ATOMIC_RELAXED);
}

/* A NACK_LIB from (peer_index, nacker) into our own unexpected queue. */
static int omx_drv_shared_nack(struct omx_drv_ep *ep, uint32_t peer_index, uint8_t nacker,
			       uint16_t seqnum, uint8_t type)
{
	union omx_abi_event *ev;

	omx_drv_count_shared(ep->drv, type == OMX_NACK_TYPE_BAD_SESSION ? OMX_COUNTER_DROP_BAD_SESSION
									: OMX_COUNTER_DROP_BAD_ENDPOINT);
	ev = omx_drv_uq_begin(ep->shm, ep->unexp_q.slots, ep->unexp_q.entries);
	if (!ev) {
		/* Lost like a nack frame: the library's resend asks again. */
		omx_drv_shared_own_full(ep);
		return 0;
	}
	ev->recv_nack_lib.peer_index = (uint16_t)peer_index;
	ev->recv_nack_lib.src_endpoint = nacker;
	ev->recv_nack_lib.shared = 1;
	ev->recv_nack_lib.seqnum = seqnum;
	ev->recv_nack_lib.nack_type = type;
	omx_drv_uq_publish(ep->shm, ev, OMX_ABI_EVT_RECV_NACK_LIB);
	omx_drv_count_shared(ep->drv, OMX_COUNTER_SHARED_NACK_LIB);
	omx_drv_kick_waiters(ep);
	return 0;
}

/* Resolve the destination: 0 (reference held), OMX_DRV_SHARED_FALLBACK,
 * OMX_DRV_SHARED_DONE (refused and nacked, or lost: the library resends)
 * or OMX_ABI_EINVAL for an unknown peer index. */
#define OMX_DRV_SHARED_DONE 3

static int omx_drv_shared_dest(struct omx_drv_ep *ep, uint32_t peer_index, uint8_t dst,
			       uint16_t seqnum, int nackable, struct omx_drv_sdest *d)
{
	uint8_t nack = 0;
	int r = omx_drv_sdest_get(ep, peer_index, dst, d, &nack);

	if (r == 0 || r == OMX_DRV_SHARED_FALLBACK || r == OMX_ABI_EINVAL)
		return r;
	if (r == OMX_DRV_SHARED_NACK && nackable)
		omx_drv_shared_nack(ep, peer_index, dst, seqnum, nack);
	else if (r == OMX_DRV_SHARED_NACK)
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_BAD_ENDPOINT);
	else    /* EAGAIN (the claim's backlog is full) or ENOMEM: as a lost frame */
		omx_drv_count_shared(ep->drv, OMX_COUNTER_SEND_LINK_ERROR);
	return OMX_DRV_SHARED_DONE;
}

/* The destination's next unexpected slot, or NULL (counted, flagged) when full. */
static union omx_abi_event *omx_drv_shared_begin(struct omx_drv_ep *ep, struct omx_drv_sdest *d)
{
	union omx_abi_event *ev = omx_drv_uq_begin_timed(d->shm, d->unexp, ep->layout.eventq_entries, d->wait_us);

	if (!ev) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_UNEXP_EVENTQ_FULL);
		__atomic_fetch_or(&d->desc->status, OMX_ABI_DESC_UNEXP_EVENTQ_FULL, __ATOMIC_RELAXED);
	}
	return ev;
}

static void omx_drv_shared_publish(struct omx_drv_ep *ep, struct omx_drv_sdest *d, union omx_abi_event *ev,
				   uint8_t type, enum omx_abi_counter counter)
{
	omx_drv_uq_publish(d->shm, ev, type);
	omx_drv_sdest_ring(ep, d);
	omx_drv_count_shared(ep->drv, counter);
}

/* ---- TINY, SMALL, MEDIUM, RNDV ------------------------------------------- */

static void omx_drv_shared_frag_done(struct omx_drv_ep *ep, uint32_t sendq_offset)
{
	union omx_abi_event *ev;

	pthread_mutex_lock(&ep->lock);
	if (omx_eventq_space(&ep->exp_q)) {
		ev = omx_eventq_begin(&ep->exp_q);
		ev->send_mediumsq_frag_done.sendq_offset = sendq_offset;
		omx_eventq_publish(&ep->exp_q, ev, OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE);
	} else {
		omx_drv_count(ep->board, OMX_COUNTER_EXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_EXP_EVENTQ_FULL, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&ep->lock);
}

static int omx_drv_shared_exp_space(struct omx_drv_ep *ep)
{
	int ok;

	pthread_mutex_lock(&ep->lock);
	ok = omx_eventq_space(&ep->exp_q) != 0;
	pthread_mutex_unlock(&ep->lock);
	if (!ok) {
		omx_drv_count(ep->board, OMX_COUNTER_EXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_EXP_EVENTQ_FULL, __ATOMIC_RELAXED);
	}
	return ok;
}

int omx_drv_shared_tx_msg(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_msg *m,
			  const void *payload, uint32_t payload_len, uint32_t sendq_offset)
{
	int medium = m->ptype == OMX_PKT_TYPE_MEDIUM;
	struct omx_drv_sdest d;
	union omx_abi_event *ev;
	uint32_t off;
	int r;

	if (medium && !omx_drv_shared_exp_space(ep))
		return OMX_ABI_EAGAIN;
	r = omx_drv_shared_dest(ep, peer_index, m->dst_endpoint, m->lib_seqnum, 1, &d);
	if (r == OMX_DRV_SHARED_DONE)
		goto done;
	if (r)
		return r;
	if (m->session != d.shm->session) {
		omx_drv_sdest_put(ep, &d);
		omx_drv_shared_nack(ep, peer_index, m->dst_endpoint, m->lib_seqnum, OMX_NACK_TYPE_BAD_SESSION);
		goto done;
	}
	ev = omx_drv_shared_begin(ep, &d);
	if (!ev) {
		omx_drv_sdest_put(ep, &d);
		goto done;
	}
	/* recv_tiny/small/medium_frag/rndv share the message head. */
	ev->recv_tiny.head.peer_index = d.src_peer_index;
	ev->recv_tiny.head.src_endpoint = (uint8_t)ep->index;
	ev->recv_tiny.head.shared = 1;
	ev->recv_tiny.head.seqnum = m->lib_seqnum;
	ev->recv_tiny.head.piggyack = m->lib_piggyack;
	ev->recv_tiny.head.match_info = m->match_info;
	off = (omx_drv_uq_index(d.shm) & (ep->layout.recvq_entries - 1)) * ep->layout.slot_size;
	switch (m->ptype) {
	case OMX_PKT_TYPE_TINY:
		ev->recv_tiny.length = (uint16_t)payload_len;
		ev->recv_tiny.checksum = m->checksum;
		memcpy(ev->recv_tiny.data, payload, payload_len);
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_TINY, OMX_COUNTER_SHARED_TINY);
		break;
	case OMX_PKT_TYPE_SMALL:
		memcpy(d.recvq + off, payload, payload_len);
		ev->recv_small.recvq_offset = off;
		ev->recv_small.length = (uint16_t)payload_len;
		ev->recv_small.checksum = m->checksum;
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_SMALL, OMX_COUNTER_SHARED_SMALL);
		break;
	case OMX_PKT_TYPE_MEDIUM:
		memcpy(d.recvq + off, payload, payload_len);
		ev->recv_medium_frag.recvq_offset = off;
		ev->recv_medium_frag.msg_length = m->length;
		ev->recv_medium_frag.frag_length = m->frag_length;
		ev->recv_medium_frag.frag_seqnum = m->frag_seqnum;
		ev->recv_medium_frag.frag_pipeline = m->frag_pipeline;
		ev->recv_medium_frag.checksum = m->checksum;
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_MEDIUM_FRAG, OMX_COUNTER_SHARED_MEDIUMSQ_FRAG);
		break;
	default:
		ev->recv_rndv.msg_length = m->msg_length;
		ev->recv_rndv.pulled_rdma_id = m->pulled_rdma_id;
		ev->recv_rndv.pulled_rdma_seqnum = m->pulled_rdma_seqnum;
		ev->recv_rndv.pulled_rdma_offset = m->pulled_rdma_offset;
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_RNDV, OMX_COUNTER_SHARED_RNDV);
		break;
	}
	omx_drv_sdest_put(ep, &d);
done:
	/* A fragment refused or lost still gives its sendq slot back, as on the link. */
	if (medium)
		omx_drv_shared_frag_done(ep, sendq_offset);
	return 0;
}

/* ---- NOTIFY, CONNECT, LIBACK ---------------------------------------------- */

int omx_drv_shared_tx_notify(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_notify *n)
{
	struct omx_drv_sdest d;
	union omx_abi_event *ev;
	int r;

	r = omx_drv_shared_dest(ep, peer_index, n->dst_endpoint, n->lib_seqnum, 1, &d);
	if (r)
		return r == OMX_DRV_SHARED_DONE ? 0 : r;
	if (n->session != d.shm->session) {
		omx_drv_sdest_put(ep, &d);
		return omx_drv_shared_nack(ep, peer_index, n->dst_endpoint, n->lib_seqnum,
					   OMX_NACK_TYPE_BAD_SESSION);
	}
	ev = omx_drv_shared_begin(ep, &d);
	if (ev) {
		ev->recv_notify.head.peer_index = d.src_peer_index;
		ev->recv_notify.head.src_endpoint = (uint8_t)ep->index;
		ev->recv_notify.head.shared = 1;
		ev->recv_notify.head.seqnum = n->lib_seqnum;
		ev->recv_notify.head.piggyack = n->lib_piggyack;
		ev->recv_notify.length = n->total_length;
		ev->recv_notify.pulled_rdma_id = n->pulled_rdma_id;
		ev->recv_notify.pulled_rdma_seqnum = n->pulled_rdma_seqnum;
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_NOTIFY, OMX_COUNTER_SHARED_NOTIFY);
	}
	omx_drv_sdest_put(ep, &d);
	return 0;
}

/* Connects skip the session check; a refused one is nacked with seqnum 0. */
int omx_drv_shared_tx_connect(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_connect *c)
{
	struct omx_drv_sdest d;
	union omx_abi_event *ev;
	int r;

	r = omx_drv_shared_dest(ep, peer_index, c->dst_endpoint, c->lib_seqnum, 1, &d);
	if (r)
		return r == OMX_DRV_SHARED_DONE ? 0 : r;
	ev = omx_drv_shared_begin(ep, &d);
	if (ev && c->is_reply) {
		ev->recv_connect_reply.peer_index = d.src_peer_index;
		ev->recv_connect_reply.src_endpoint = (uint8_t)ep->index;
		ev->recv_connect_reply.shared = 1;
		ev->recv_connect_reply.src_session_id = c->src_session_id;
		ev->recv_connect_reply.target_session_id = c->target_session_id;
		ev->recv_connect_reply.target_recv_seqnum_start = c->target_recv_seqnum_start;
		ev->recv_connect_reply.connect_seqnum = c->connect_seqnum;
		ev->recv_connect_reply.status_code = c->status_code;
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_CONNECT_REPLY,
				       OMX_COUNTER_SHARED_CONNECT_REPLY);
	} else if (ev) {
		ev->recv_connect_request.peer_index = d.src_peer_index;
		ev->recv_connect_request.src_endpoint = (uint8_t)ep->index;
		ev->recv_connect_request.shared = 1;
		ev->recv_connect_request.src_session_id = c->src_session_id;
		ev->recv_connect_request.app_key = c->app_key;
		ev->recv_connect_request.target_recv_seqnum_start = c->target_recv_seqnum_start;
		ev->recv_connect_request.connect_seqnum = c->connect_seqnum;
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_CONNECT_REQUEST,
				       OMX_COUNTER_SHARED_CONNECT_REQUEST);
	}
	omx_drv_sdest_put(ep, &d);
	return 0;
}

int omx_drv_shared_tx_liback(struct omx_drv_ep *ep, uint32_t peer_index, const struct omx_wire_liback *a)
{
	struct omx_drv_sdest d;
	union omx_abi_event *ev;
	int r;

	r = omx_drv_shared_dest(ep, peer_index, a->dst_endpoint, 0, 0, &d);
	if (r)
		return r == OMX_DRV_SHARED_DONE ? 0 : r;
	if (a->session != d.shm->session) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_BAD_SESSION);
		omx_drv_sdest_put(ep, &d);
		return 0;
	}
	ev = omx_drv_shared_begin(ep, &d);
	if (ev) {
		ev->recv_liback.peer_index = d.src_peer_index;
		ev->recv_liback.src_endpoint = (uint8_t)ep->index;
		ev->recv_liback.shared = 1;
		ev->recv_liback.acknum = a->acknum;
		ev->recv_liback.lib_seqnum = a->lib_seqnum;
		ev->recv_liback.send_seq = a->send_seq;
		ev->recv_liback.resent = a->resent;
		omx_drv_shared_publish(ep, &d, ev, OMX_ABI_EVT_RECV_LIBACK, OMX_COUNTER_SHARED_LIBACK);
	}
	omx_drv_sdest_put(ep, &d);
	return 0;
}

/* ---- regions and the synchronous pull ------------------------------------ */

void omx_drv_shared_region_publish(struct omx_drv_ep *ep, const struct omx_drv_region *r)
{
	struct omx_drv_shm_region *e = &ep->shm->regions[r->id];
	uint32_t seq = e->seq;

	omx_drv_assert_locked(&ep->lock);
	__atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
	/* Readers that see the new segments also see the odd seq (and retry). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t i = 0; i < r->nr_segs; i++) {
		ep->shm->segs[r->id][i].addr = (uint64_t)(uintptr_t)r->segs[i].addr;
		ep->shm->segs[r->id][i].len = r->segs[i].length;
	}
	e->nr_segs = (uint16_t)r->nr_segs;
	e->length = r->length;
	e->present = 1;
	/* Release: a reader that sees the even seq sees the whole entry. */
	__atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

void omx_drv_shared_region_unpublish(struct omx_drv_ep *ep, uint32_t id)
{
	struct omx_drv_shm_region *e = &ep->shm->regions[id];
	uint32_t seq = e->seq;

	omx_drv_assert_locked(&ep->lock);
	__atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	e->present = 0;
	e->nr_segs = 0;
	e->length = 0;
	__atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

struct omx_drv_shared_rsnap {
	uint32_t seq;
	uint32_t nr;
	uint64_t length;
	struct omx_drv_shm_seg segs[OMX_ABI_REGION_SEGMENTS_MAX];
};

/* A consistent copy of a published region; 0, or -1 when absent or malformed. */
static int omx_drv_shared_region_read(const struct omx_drv_shm *shm, uint32_t id,
				      struct omx_drv_shared_rsnap *s)
{
	const struct omx_drv_shm_region *e = &shm->regions[id];

	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		uint64_t total = 0;
		int present;

		if (s1 & 1)
			continue;
		present = e->present;
		s->nr = e->nr_segs;
		s->length = e->length;
		if (s->nr > OMX_ABI_REGION_SEGMENTS_MAX)
			return -1;
		memcpy(s->segs, shm->segs[id], s->nr * sizeof(s->segs[0]));
		/* Acquire: the copies above happen before the re-read of seq. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s1)
			continue;
		if (!present)
			return -1;
		for (uint32_t i = 0; i < s->nr; i++)
			total += s->segs[i].len;
		s->seq = s1;
		return total == s->length ? 0 : -1;
	}
	return -1;
}

/* Copy len bytes from the owner's region at src_off into ours at 0, in
 * batches of matched segment pieces.  0 or the errno of the failure. */
static int omx_drv_shared_copy(pid_t pid, const struct omx_drv_shared_rsnap *src, uint64_t src_off,
			       const struct omx_drv_region *dst, uint64_t len)
{
	struct iovec liov[OMX_DRV_SHARED_IOV], riov[OMX_DRV_SHARED_IOV];
	uint32_t si = 0, di = 0;
	uint64_t sin, din = 0;

	while (si < src->nr && src_off >= src->segs[si].len)
		src_off -= src->segs[si++].len;
	sin = src_off;
	while (len) {
		size_t want = 0;
		ssize_t got;
		int n = 0;

		while (len && n < OMX_DRV_SHARED_IOV) {
			uint64_t a = src->segs[si].len - sin, b = dst->segs[di].length - din;
			uint64_t k = a < b ? a : b;

			if (k > len)
				k = len;
			riov[n].iov_base = (void *)(uintptr_t)(src->segs[si].addr + sin);
			riov[n].iov_len = k;
			liov[n].iov_base = dst->segs[di].addr + din;
			liov[n].iov_len = k;
			n++;
			want += k;
			len -= k;
			sin += k;
			din += k;
			if (sin == src->segs[si].len) {
				si++;
				sin = 0;
			}
			if (din == dst->segs[di].length) {
				di++;
				din = 0;
			}
		}
		got = process_vm_readv(pid, liov, (unsigned long)n, riov, (unsigned long)n, 0);
		if (got < 0)
			return errno;
		/* Partial: the next element faulted; report it as a fault. */
		if ((size_t)got != want)
			return EFAULT;
	}
	return 0;
}

#define OMX_DRV_SHARED_BOUNCE (1u << 20)   /* bytes per step of a two-process copy */

/* Read n bytes of the owner's published region at off into buf. */
static int omx_drv_shared_read_snap(pid_t pid, const struct omx_drv_shared_rsnap *src, uint64_t off,
				    uint8_t *buf, size_t n)
{
	struct iovec liov = { .iov_base = buf, .iov_len = n }, riov[OMX_DRV_SHARED_IOV];
	uint32_t si = 0;

	while (si < src->nr && off >= src->segs[si].len)
		off -= src->segs[si++].len;
	while (n) {
		unsigned long k = 0;
		size_t want = 0;
		ssize_t got;

		while (n && k < OMX_DRV_SHARED_IOV && si < src->nr) {
			uint64_t a = src->segs[si].len - off;

			if (a > n)
				a = n;
			riov[k].iov_base = (void *)(uintptr_t)(src->segs[si].addr + off);
			riov[k].iov_len = a;
			k++;
			want += a;
			n -= a;
			off += a;
			if (off == src->segs[si].len) {
				si++;
				off = 0;
			}
		}
		liov.iov_len = want;
		got = process_vm_readv(pid, &liov, 1, riov, k, 0);
		if (got < 0)
			return errno;
		if ((size_t)got != want)
			return EFAULT;
		liov.iov_base = (uint8_t *)liov.iov_base + want;
	}
	return 0;
}

/* Our region lives in a frontend (we are a shadow): through a buffer. */
static int omx_drv_shared_copy_bounce(pid_t pid, const struct omx_drv_shared_rsnap *src, uint64_t src_off,
				      struct omx_drv_region *dst, uint64_t len)
{
	size_t step = len < OMX_DRV_SHARED_BOUNCE ? (size_t)len : OMX_DRV_SHARED_BOUNCE;
	uint8_t *buf = malloc(step ? step : 1);
	int e = 0;

	if (!buf)
		return ENOMEM;
	for (uint64_t pos = 0; pos < len && !e; pos += step) {
		size_t n = len - pos < step ? (size_t)(len - pos) : step;

		e = omx_drv_shared_read_snap(pid, src, src_off + pos, buf, n);
		if (!e && omx_drv_region_write(dst, pos, buf, n))
			e = EFAULT;
	}
	free(buf);
	return e;
}

/* The data owner is one of our own shadow endpoints: its regions are read
 * from our table, never from what its frontend may have written in the
 * area's tail (that would copy whatever the frontend points at). */
static uint32_t omx_drv_shared_pull_local(struct omx_drv_ep *ep, const struct omx_abi_pull *cmd,
					  const struct omx_drv_sdest *d, struct omx_drv_region *own)
{
	struct omx_drv_ep *src = omx_drv_ep_get(ep->drv, d->local->handle);
	struct omx_drv_region *sr = NULL;
	uint32_t status = OMX_ABI_STATUS_SUCCESS;
	size_t step = cmd->length < OMX_DRV_SHARED_BOUNCE ? cmd->length : OMX_DRV_SHARED_BOUNCE;
	uint8_t *buf = NULL;

	if (!src || __atomic_load_n(&src->open_gen, __ATOMIC_ACQUIRE) != d->local_gen) {
		status = OMX_ABI_STATUS_ENDPT_CLOSED;
		goto out;
	}
	if (cmd->session_id != src->session) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_BAD_SESSION);
		status = OMX_ABI_STATUS_BAD_SESSION;
		goto out;
	}
	pthread_mutex_lock(&src->lock);
	sr = omx_drv_region_get_locked(src, cmd->pulled_rdma_id);
	pthread_mutex_unlock(&src->lock);
	if (!sr || sr->dead) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_PULL_BAD_REGION);
		status = OMX_ABI_STATUS_BAD_RDMAWIN;
		goto out;
	}
	if ((uint64_t)cmd->pulled_rdma_offset + cmd->length > sr->length) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_PULL_BAD_OFFSET_LENGTH);
		status = OMX_ABI_STATUS_ABORTED;
		goto out;
	}
	buf = malloc(step ? step : 1);
	if (!buf) {
		status = OMX_ABI_STATUS_ABORTED;
		goto out;
	}
	for (uint64_t pos = 0; pos < cmd->length; pos += step) {
		size_t n = cmd->length - pos < step ? (size_t)(cmd->length - pos) : step;

		int e = omx_drv_region_read(sr, cmd->pulled_rdma_offset + pos, buf, n);

		if (e || omx_drv_region_write(own, pos, buf, n)) {
			/* A data owner that died is a closed endpoint, as over the link. */
			status = e == OMX_DRV_REGION_GONE ? OMX_ABI_STATUS_ENDPT_CLOSED : OMX_ABI_STATUS_ABORTED;
			goto out;
		}
	}
	omx_drv_count_shared(ep->drv, OMX_COUNTER_SHARED_DMA_LARGE);
out:
	free(buf);
	if (sr) {
		pthread_mutex_lock(&src->lock);
		omx_drv_region_put_locked(sr);
		pthread_mutex_unlock(&src->lock);
	}
	if (src)
		omx_drv_ep_put(src);
	return status;
}

static void omx_drv_shared_pull_done(struct omx_drv_ep *ep, const struct omx_abi_pull *cmd,
				     uint32_t status, uint32_t length)
{
	union omx_abi_event *ev;

	omx_drv_assert_locked(&ep->lock);
	if (!omx_eventq_space(&ep->exp_q)) {
		omx_drv_count(ep->board, OMX_COUNTER_EXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_EXP_EVENTQ_FULL, __ATOMIC_RELAXED);
		return;
	}
	ev = omx_eventq_begin(&ep->exp_q);
	ev->pull_done.lib_cookie = cmd->lib_cookie;
	ev->pull_done.puller_rdma_id = cmd->puller_rdma_id;
	ev->pull_done.status = status;
	ev->pull_done.pulled_length = length;
	omx_eventq_publish(&ep->exp_q, ev, OMX_ABI_EVT_PULL_DONE);
}

/* Validate like a data owner would, then copy; the PULL_DONE status. */
static uint32_t omx_drv_shared_pull_copy(struct omx_drv_ep *ep, const struct omx_abi_pull *cmd,
					 struct omx_drv_sdest *d, struct omx_drv_region *own, int *fallback)
{
	struct omx_drv_shared_rsnap snap;
	int e;

	if (d->local)
		return omx_drv_shared_pull_local(ep, cmd, d, own);
	/* Segments of another process than the owner's are not for us to follow. */
	if (d->shm->mem_pid != (uint32_t)omx_drv_sdest_pid(d)) {
		*fallback = 1;
		return OMX_ABI_STATUS_ABORTED;
	}
	if (cmd->session_id != d->shm->session) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_BAD_SESSION);
		return OMX_ABI_STATUS_BAD_SESSION;
	}
	if (omx_drv_shared_region_read(d->shm, cmd->pulled_rdma_id, &snap)) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_PULL_BAD_REGION);
		return OMX_ABI_STATUS_BAD_RDMAWIN;
	}
	if ((uint64_t)cmd->pulled_rdma_offset + cmd->length > snap.length) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_PULL_BAD_OFFSET_LENGTH);
		return OMX_ABI_STATUS_ABORTED;
	}
	e = own->mem_pid ? omx_drv_shared_copy_bounce(omx_drv_sdest_pid(d), &snap, cmd->pulled_rdma_offset,
						     own, cmd->length)
			 : omx_drv_shared_copy(omx_drv_sdest_pid(d), &snap, cmd->pulled_rdma_offset, own,
					       cmd->length);
	if (e == EPERM) {
		*fallback = 1;
		return OMX_ABI_STATUS_ABORTED;
	}
	if (e)
		return e == ESRCH ? OMX_ABI_STATUS_ENDPT_CLOSED : OMX_ABI_STATUS_ABORTED;
	/* The owner replaced the region while we copied: what we read is not the message. */
	if (__atomic_load_n(&d->shm->regions[cmd->pulled_rdma_id].seq, __ATOMIC_ACQUIRE) != snap.seq)
		return OMX_ABI_STATUS_ABORTED;
	omx_drv_count_shared(ep->drv, OMX_COUNTER_SHARED_DMA_LARGE);
	return OMX_ABI_STATUS_SUCCESS;
}

int omx_drv_shared_pull(struct omx_drv_ep *ep, const struct omx_abi_pull *cmd)
{
	struct omx_drv_region *own;
	struct omx_drv_sdest d;
	uint32_t status, active;
	uint8_t nack = 0;
	int r, fallback = 0;

	r = omx_drv_sdest_get(ep, cmd->peer_index, cmd->dest_endpoint, &d, &nack);
	if (r != 0 && r != OMX_DRV_SHARED_NACK)
		return r;
	/* Another process's shadow: its backend serves the pull over the link. */
	if (r == 0 && d.shadow && !d.local) {
		omx_drv_sdest_put(ep, &d);
		return OMX_DRV_SHARED_FALLBACK;
	}
	pthread_mutex_lock(&ep->lock);
	own = omx_drv_region_get_locked(ep, cmd->puller_rdma_id);
	active = ep->large ? ep->large->nr_active : 0;
	if (!own || cmd->length > own->length || omx_eventq_space(&ep->exp_q) <= active) {
		int err = !own ? OMX_ABI_ENOENT : cmd->length > own->length ? OMX_ABI_EINVAL : OMX_ABI_EAGAIN;

		if (own)
			omx_drv_region_put_locked(own);
		pthread_mutex_unlock(&ep->lock);
		if (r == 0)
			omx_drv_sdest_put(ep, &d);
		return err;
	}
	pthread_mutex_unlock(&ep->lock);

	omx_drv_count_shared(ep->drv, OMX_COUNTER_SHARED_PULL);
	if (r == OMX_DRV_SHARED_NACK) {
		omx_drv_count_shared(ep->drv, OMX_COUNTER_DROP_BAD_ENDPOINT);
		status = nack;
	} else {
		/* The region reference keeps our segments; the copy runs unlocked. */
		status = omx_drv_shared_pull_copy(ep, cmd, &d, own, &fallback);
		omx_drv_sdest_put(ep, &d);
	}

	pthread_mutex_lock(&ep->lock);
	if (!fallback) {
		if (own->dead)
			status = OMX_ABI_STATUS_ABORTED;
		omx_drv_shared_pull_done(ep, cmd, status, status == OMX_ABI_STATUS_SUCCESS ? cmd->length : 0);
	}
	omx_drv_region_put_locked(own);
	pthread_mutex_unlock(&ep->lock);
	if (fallback)
		return OMX_DRV_SHARED_FALLBACK;
	omx_drv_kick_waiters(ep);
	return 0;
}
