/*
 * omx_drv_pull.c - the pull engine on the puller's side: handles, blocks,
 * re-requests, the abort deadline, replies, NACK_MCP and completion.
 *
 * A pull moves msg bytes [0, length) of the data owner's region (from
 * pulled_rdma_offset on) into the puller's region (from 0).  It is cut into
 * reply frames of R = board pull_reply_max bytes, the first one shortened so
 * that the others start on R boundaries of the pulled region, and the frames
 * into blocks of OMX_PULL_REPLY_PER_BLOCK.  Up to cfg.pull_blocks blocks, and
 * no more than OMX_DRV_PULL_WINDOW_BYTES (but at least one block), are
 * requested at once; the oldest ("block 0") gates the window:
 *   - when it completes it is popped (with any complete ones behind it) and
 *     new blocks are requested; the re-request timer restarts;
 *   - when a later block completes first, the frames missing from the
 *     earlier blocks were most likely lost: they are re-requested at once,
 *     once per timer period;
 *   - when the timer fires, every missing frame of the window is
 *     re-requested and the period doubles (up to OMX_DRV_PULL_RESEND_CAP_MS),
 *     so a data owner that is away (not inside a library call) is not
 *     flooded; on progress it falls back to its base: cfg.pull_resend_ms, or
 *     twice the smoothed time a block takes to complete when that is longer,
 *     so a window that drains slowly (a slower link, a bigger MTU) is not
 *     re-requested while its replies are still on the way (blocks that were
 *     re-requested give no sample: their replies are ambiguous);
 *   - at the absolute deadline the pull completes with TIMEOUT.
 * Re-requests name only runs of missing frames (frame_index, block_length),
 * which a reference data owner serves like any block, so a lost frame costs
 * one frame, not a block.
 *
 * Timers run from progress and from the wait path, both under ep->lock;
 * ep->pull_next_due (a lower bound of every handle's next deadline) lets
 * them return at once and bounds a waiter's sleep.
 */
#include <stdlib.h>
#include <string.h>

#include "omx_drv_shared.h"

#define OMX_DRV_PULL_BLOCK_FRAMES OMX_PULL_REPLY_PER_BLOCK

static struct omx_drv_pull_block *omx_drv_pull_block(struct omx_drv_pull *p, uint32_t j)
{
	return &p->blocks[j % OMX_DRV_PULL_BLOCKS_MAX];
}

static uint64_t omx_drv_pull_frame_start(const struct omx_drv_pull *p, uint64_t i)
{
	return i ? i * p->reply_max - p->ffo : 0;
}

static uint64_t omx_drv_pull_frame_end(const struct omx_drv_pull *p, uint64_t i)
{
	uint64_t e = (i + 1) * p->reply_max - p->ffo;

	return e < p->length ? e : p->length;
}

static void omx_drv_pull_next_due_min(struct omx_drv_ep *ep, uint64_t due)
{
	if (due < __atomic_load_n(&ep->pull_next_due, __ATOMIC_RELAXED))
		__atomic_store_n(&ep->pull_next_due, due, __ATOMIC_RELAXED);
}

/* ---- handles ---------------------------------------------------------------- */

static struct omx_drv_pull *omx_drv_pull_lookup(struct omx_drv_ep *ep, uint32_t wire_id)
{
	struct omx_drv_pull *p;

	if (!ep->large)
		return NULL;
	/* 32 - 22 bits: the slot index is always below OMX_DRV_PULL_SLOTS. */
	p = ep->large->slots[wire_id >> OMX_DRV_PULL_GEN_BITS];
	return p && p->wire_id == wire_id ? p : NULL;
}

static int omx_drv_pull_slot_alloc(struct omx_drv_large *lg, uint32_t *slot)
{
	for (uint32_t n = 0; n < OMX_DRV_PULL_SLOTS; n++) {
		uint32_t s = (lg->cursor + n) % OMX_DRV_PULL_SLOTS;

		if (!lg->slots[s]) {
			lg->cursor = (s + 1) % OMX_DRV_PULL_SLOTS;
			*slot = s;
			return 0;
		}
	}
	return OMX_ABI_EAGAIN;
}

static void omx_drv_pull_free_locked(struct omx_drv_large *lg, struct omx_drv_pull *p)
{
	omx_list_del(&p->entry);
	lg->slots[p->slot] = NULL;
	/* A reply still in flight for this slot now fails the generation check. */
	lg->gens[p->slot] = (lg->gens[p->slot] + 1) & OMX_DRV_PULL_GEN_MASK;
	lg->nr_active--;
	omx_drv_region_put_locked(p->region);
	free(p);
}

/* Post PULL_DONE and free the handle; returns the number of events posted. */
static int omx_drv_pull_complete_locked(struct omx_drv_ep *ep, struct omx_drv_pull *p, uint32_t status)
{
	union omx_abi_event *ev;
	int posted = 0;

	/* Deferred copies land before the completion says the data is there. */
	if (omx_drv_region_flush(p->region) && status == OMX_ABI_STATUS_SUCCESS)
		status = OMX_ABI_STATUS_ABORTED;
	/* The lib reserved this slot before the command; no room is its bug. */
	if (omx_eventq_space(&ep->exp_q)) {
		ev = omx_eventq_begin(&ep->exp_q);
		ev->pull_done.lib_cookie = p->lib_cookie;
		ev->pull_done.puller_rdma_id = p->puller_rdma_id;
		ev->pull_done.status = status;
		ev->pull_done.pulled_length = status == OMX_ABI_STATUS_SUCCESS ? p->length : p->bytes_got;
		omx_eventq_publish(&ep->exp_q, ev, OMX_ABI_EVT_PULL_DONE);
		posted = 1;
	} else {
		omx_drv_count(ep->board, OMX_COUNTER_EXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_EXP_EVENTQ_FULL, __ATOMIC_RELAXED);
	}
	omx_drv_pull_free_locked(ep->large, p);
	return posted;
}

void omx_drv_pull_abort_all_locked(struct omx_drv_ep *ep)
{
	struct omx_list *pos, *tmp;

	omx_drv_assert_locked(&ep->lock);
	if (!ep->large)
		return;
	omx_list_for_each_safe(pos, tmp, &ep->large->active)
		omx_drv_pull_free_locked(ep->large, omx_list_entry(pos, struct omx_drv_pull, entry));
}

/* ---- requests --------------------------------------------------------------- */

/* Ask for frames [first, last]. */
static void omx_drv_pull_request(struct omx_drv_ep *ep, struct omx_drv_pull *p, uint32_t first,
				 uint32_t last)
{
	uint64_t start = omx_drv_pull_frame_start(p, first);
	uint64_t end = omx_drv_pull_frame_end(p, last);

	omx_drv_send_pull_locked(ep, p, first, first ? 0 : p->ffo, (uint32_t)(end - start));
}

/* Re-request each run of missing frames of block j. */
static void omx_drv_pull_request_missing(struct omx_drv_ep *ep, struct omx_drv_pull *p, uint32_t j)
{
	struct omx_drv_pull_block *b = omx_drv_pull_block(p, j);
	uint32_t miss = b->want & ~b->got;
	uint32_t base = j * OMX_DRV_PULL_BLOCK_FRAMES;

	b->resent = 1;
	while (miss) {
		uint32_t a = (uint32_t)__builtin_ctz(miss);
		uint32_t run = (uint32_t)__builtin_ctzll(~((uint64_t)miss >> a));

		omx_drv_pull_request(ep, p, base + a, base + a + run - 1);
		miss = a + run >= 32 ? 0 : miss & (~0u << (a + run));
	}
}

static void omx_drv_pull_block_init(struct omx_drv_pull *p, uint32_t j)
{
	struct omx_drv_pull_block *b = omx_drv_pull_block(p, j);
	uint32_t n = p->nframes - j * OMX_DRV_PULL_BLOCK_FRAMES;

	if (n > OMX_DRV_PULL_BLOCK_FRAMES)
		n = OMX_DRV_PULL_BLOCK_FRAMES;
	b->want = n == 32 ? UINT32_MAX : (1u << n) - 1;
	b->got = 0;
	b->early = 0;
	b->resent = 0;
}

static uint32_t omx_drv_pull_base_resend(const struct omx_drv_ep *ep, const struct omx_drv_pull *p)
{
	uint32_t rtt2 = p->srtt8 / 4 + 1;

	return rtt2 > ep->drv->cfg.pull_resend_ms ? rtt2 : ep->drv->cfg.pull_resend_ms;
}

/* A block completed: fold its round trip into the smoothed one (gain 1/8). */
static void omx_drv_pull_rtt_sample(struct omx_drv_pull *p, const struct omx_drv_pull_block *b, uint64_t now)
{
	uint64_t sample = now - b->requested;

	if (b->resent)
		return;
	if (sample > OMX_DRV_PULL_RESEND_CAP_MS)
		sample = OMX_DRV_PULL_RESEND_CAP_MS;
	p->srtt8 = p->srtt8 ? p->srtt8 - p->srtt8 / 8 + (uint32_t)sample : 8 * (uint32_t)sample;
}

/* Pop the complete blocks at the head of the window, fill the window with
 * new blocks and restart the re-request timer. */
static void omx_drv_pull_advance(struct omx_drv_ep *ep, struct omx_drv_pull *p, uint64_t now)
{
	while (p->first_block < p->next_block) {
		struct omx_drv_pull_block *b = omx_drv_pull_block(p, p->first_block);
		if (b->got != b->want)
			break;
		p->first_block++;
	}
	while (p->next_block < p->nblocks && p->next_block - p->first_block < p->window) {
		uint32_t first = p->next_block * OMX_DRV_PULL_BLOCK_FRAMES;
		uint32_t last = first + OMX_DRV_PULL_BLOCK_FRAMES - 1;

		omx_drv_pull_block_init(p, p->next_block);
		omx_drv_pull_block(p, p->next_block)->requested = now;
		omx_drv_pull_request(ep, p, first, last < p->nframes ? last : p->nframes - 1);
		p->next_block++;
	}
	p->resend_ms = omx_drv_pull_base_resend(ep, p);
	p->next_resend = now + p->resend_ms;
	omx_drv_pull_next_due_min(ep, p->next_resend);
}

/* ---- the command -------------------------------------------------------------- */

int omx_drv_pull(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_pull *cmd)
{
	struct omx_drv_ep *ep;
	struct omx_drv_large *lg;
	struct omx_drv_region *region = NULL;
	struct omx_drv_pull *p;
	struct omx_wire_head head;
	uint32_t slot;
	uint64_t now;
	int err, posted = 0;

	if (cmd->puller_rdma_id >= OMX_ABI_REGION_ID_MAX || cmd->pulled_rdma_id >= OMX_ABI_REGION_ID_MAX ||
	    cmd->pulled_rdma_seqnum > UINT8_MAX || cmd->resend_timeout_ms == 0)
		return OMX_ABI_EINVAL;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	/* A local data owner is copied from at once (omx_drv_shared_send.c). */
	err = cmd->shared ? omx_drv_shared_pull(ep, cmd) : OMX_DRV_SHARED_FALLBACK;
	if (err != OMX_DRV_SHARED_FALLBACK)
		goto out;
	err = omx_drv_tx_head(ep, cmd->peer_index, &head);
	if (err)
		goto out;
	p = calloc(1, sizeof(*p));
	if (!p) {
		err = OMX_ABI_ENOMEM;
		goto out;
	}

	pthread_mutex_lock(&ep->lock);
	lg = omx_drv_large_get_locked(ep);
	if (!lg) {
		err = OMX_ABI_ENOMEM;
		goto err_unlock;
	}
	region = omx_drv_region_get_locked(ep, cmd->puller_rdma_id);
	if (!region) {
		err = OMX_ABI_ENOENT;
		goto err_unlock;
	}
	if (cmd->length > region->length) {
		err = OMX_ABI_EINVAL;
		goto err_unlock;
	}
	/* Every active pull owns one reserved expected slot. */
	if (omx_eventq_space(&ep->exp_q) <= lg->nr_active) {
		omx_drv_count(ep->board, OMX_COUNTER_EXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_EXP_EVENTQ_FULL, __ATOMIC_RELAXED);
		err = OMX_ABI_EAGAIN;
		goto err_unlock;
	}
	err = omx_drv_pull_slot_alloc(lg, &slot);
	if (err)
		goto err_unlock;

	p->slot = slot;
	p->wire_id = slot << OMX_DRV_PULL_GEN_BITS | lg->gens[slot];
	p->lib_cookie = cmd->lib_cookie;
	p->puller_rdma_id = cmd->puller_rdma_id;
	p->region = region;
	p->head = head;
	p->dst_endpoint = cmd->dest_endpoint;
	p->session = cmd->session_id;
	p->length = cmd->length;
	p->pulled_rdma_id = cmd->pulled_rdma_id;
	p->pulled_rdma_seqnum = (uint8_t)cmd->pulled_rdma_seqnum;
	p->pulled_rdma_offset = cmd->pulled_rdma_offset;
	p->reply_max = ep->board->pull_reply_max;
	p->ffo = cmd->pulled_rdma_offset % p->reply_max;
	p->nframes = (uint32_t)(((uint64_t)p->length + p->ffo + p->reply_max - 1) / p->reply_max);
	p->nblocks = (p->nframes + OMX_DRV_PULL_BLOCK_FRAMES - 1) / OMX_DRV_PULL_BLOCK_FRAMES;
	p->window = OMX_DRV_PULL_WINDOW_BYTES / (OMX_DRV_PULL_BLOCK_FRAMES * p->reply_max);
	if (p->window > ep->drv->cfg.pull_blocks)
		p->window = ep->drv->cfg.pull_blocks;
	if (p->window == 0)
		p->window = 1;
	lg->slots[slot] = p;
	omx_list_add_tail(&p->entry, &lg->active);
	lg->nr_active++;

	now = omx_drv_now_jiffies();
	/* hz is 1000: a millisecond is a jiffy. */
	p->deadline = now + cmd->resend_timeout_ms;
	if (p->nframes == 0) {
		posted = omx_drv_pull_complete_locked(ep, p, OMX_ABI_STATUS_SUCCESS);
	} else {
		omx_drv_pull_advance(ep, p, now);
		omx_drv_pull_next_due_min(ep, p->deadline);
	}
	pthread_mutex_unlock(&ep->lock);
	if (posted)
		omx_drv_kick_waiters(ep);
	omx_drv_ep_put(ep);
	return 0;

err_unlock:
	if (region)
		omx_drv_region_put_locked(region);
	pthread_mutex_unlock(&ep->lock);
	free(p);
out:
	omx_drv_ep_put(ep);
	return err;
}

/* ---- replies and nacks -------------------------------------------------------- */

static int omx_drv_pull_drop(struct omx_drv_ep *ep, enum omx_abi_counter c)
{
	omx_drv_count(ep->board, c);
	return 0;
}

/* A later block completed before the earlier ones: re-request their holes. */
static void omx_drv_pull_early(struct omx_drv_ep *ep, struct omx_drv_pull *p, uint32_t done_block)
{
	for (uint32_t j = p->first_block; j < done_block; j++) {
		struct omx_drv_pull_block *b = omx_drv_pull_block(p, j);

		if (b->got == b->want || b->early)
			continue;
		b->early = 1;
		omx_drv_pull_request_missing(ep, p, j);
		omx_drv_count(ep->board, OMX_COUNTER_PULL_REQUEST_NOTONLYFIRST_BLOCKS);
	}
}

int omx_drv_pull_reply_locked(struct omx_drv_ep *ep, uint64_t src_addr,
			      const struct omx_wire_pull_reply *r, const uint8_t *payload)
{
	struct omx_drv_pull_block *b;
	struct omx_drv_pull *p;
	uint64_t i, start, end;
	uint32_t j, bit;

	if ((r->dst_magic ^ OMX_PULL_MAGIC_XOR) != ep->index)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_BAD_MAGIC_ENDPOINT);
	p = omx_drv_pull_lookup(ep, r->dst_pull_handle);
	if (!p)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_BAD_WIRE_HANDLE);
	/* Replies carry no session: at least they must come from the pulled board. */
	if (src_addr != p->head.dst_addr)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_BAD_PEER_ADDR);
	if (r->msg_offset >= p->length)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM);
	i = ((uint64_t)r->msg_offset + p->ffo) / p->reply_max;
	if ((uint8_t)i != r->frame_seqnum)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM_WRAPAROUND);
	start = omx_drv_pull_frame_start(p, i);
	end = omx_drv_pull_frame_end(p, i);
	if (start != r->msg_offset)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM);
	j = (uint32_t)(i / OMX_DRV_PULL_BLOCK_FRAMES);
	if (j < p->first_block)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_DUPLICATE);
	if (j >= p->next_block)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_BAD_SEQNUM);
	b = omx_drv_pull_block(p, j);
	bit = 1u << (i % OMX_DRV_PULL_BLOCK_FRAMES);
	if (b->got & bit)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_PULL_REPLY_DUPLICATE);
	/* The frame must be exactly the one computed, which lies inside the
	 * pull and therefore inside the puller's region. */
	if (r->frame_length != end - start)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_BAD_DATALEN);
	if (p->region->dead)
		return omx_drv_pull_complete_locked(ep, p, OMX_ABI_STATUS_ABORTED);

	/* A region whose memory went away (a split frontend's) kills the pull;
	 * a frontend's copies wait for the end of the receive batch. */
	if (omx_drv_region_write_deferred(p->region, start, payload, r->frame_length))
		return omx_drv_pull_complete_locked(ep, p, OMX_ABI_STATUS_ABORTED);
	omx_drv_count(ep->board, OMX_COUNTER_RECV_PULL_REPLY);
	b->got |= bit;
	p->frames_got++;
	p->bytes_got += r->frame_length;
	if (p->frames_got == p->nframes)
		return omx_drv_pull_complete_locked(ep, p, OMX_ABI_STATUS_SUCCESS);
	if (b->got == b->want) {
		uint64_t now = omx_drv_now_jiffies();

		omx_drv_pull_rtt_sample(p, b, now);
		if (j == p->first_block)
			omx_drv_pull_advance(ep, p, now);
		else
			omx_drv_pull_early(ep, p, j);
	}
	return 0;
}

int omx_drv_pull_nack_locked(struct omx_drv_ep *ep, uint64_t src_addr, const struct omx_wire_nack_mcp *n)
{
	struct omx_drv_pull *p;

	if ((n->src_magic ^ OMX_PULL_MAGIC_XOR) != ep->index)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_NACK_MCP_BAD_MAGIC_ENDPOINT);
	p = omx_drv_pull_lookup(ep, n->src_pull_handle);
	if (!p)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_NACK_MCP_BAD_WIRE_HANDLE);
	if (src_addr != p->head.dst_addr || n->src_endpoint != p->dst_endpoint)
		return omx_drv_pull_drop(ep, OMX_COUNTER_DROP_BAD_PEER_ADDR);
	omx_drv_count(ep->board, OMX_COUNTER_RECV_NACK_MCP);
	return omx_drv_pull_complete_locked(ep, p, n->nack_type);
}

/* ---- timers ----------------------------------------------------------------- */

static void omx_drv_pull_resend(struct omx_drv_ep *ep, struct omx_drv_pull *p, uint64_t now)
{
	uint32_t cap = ep->drv->cfg.pull_resend_ms > OMX_DRV_PULL_RESEND_CAP_MS
		       ? ep->drv->cfg.pull_resend_ms : OMX_DRV_PULL_RESEND_CAP_MS;

	for (uint32_t j = p->first_block; j < p->next_block; j++) {
		struct omx_drv_pull_block *b = omx_drv_pull_block(p, j);

		b->early = 0;
		if (b->got == b->want)
			continue;
		omx_drv_pull_request_missing(ep, p, j);
		omx_drv_count(ep->board, j == p->first_block ? OMX_COUNTER_PULL_TIMEOUT_HANDLER_FIRST_BLOCK
							     : OMX_COUNTER_PULL_TIMEOUT_HANDLER_NONFIRST_BLOCK);
	}
	p->resend_ms = p->resend_ms * 2 < cap ? p->resend_ms * 2 : cap;
	p->next_resend = now + p->resend_ms;
}

int omx_drv_pull_timers_locked(struct omx_drv_ep *ep, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct omx_list *pos, *tmp;
	int posted = 0;

	omx_drv_assert_locked(&ep->lock);
	if (now < __atomic_load_n(&ep->pull_next_due, __ATOMIC_RELAXED))
		return 0;
	if (!ep->large) {
		__atomic_store_n(&ep->pull_next_due, next, __ATOMIC_RELAXED);
		return 0;
	}
	omx_list_for_each_safe(pos, tmp, &ep->large->active) {
		struct omx_drv_pull *p = omx_list_entry(pos, struct omx_drv_pull, entry);

		if (now >= p->deadline) {
			omx_drv_count(ep->board, OMX_COUNTER_PULL_TIMEOUT_ABORT);
			posted += omx_drv_pull_complete_locked(ep, p, OMX_ABI_STATUS_TIMEOUT);
			continue;
		}
		if (p->region->dead) {
			posted += omx_drv_pull_complete_locked(ep, p, OMX_ABI_STATUS_ABORTED);
			continue;
		}
		if (now >= p->next_resend)
			omx_drv_pull_resend(ep, p, now);
		if (p->next_resend < next)
			next = p->next_resend;
		if (p->deadline < next)
			next = p->deadline;
	}
	__atomic_store_n(&ep->pull_next_due, next, __ATOMIC_RELAXED);
	return posted;
}
