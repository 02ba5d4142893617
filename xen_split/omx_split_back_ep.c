/*
 * omx_split_back_ep.c - shadow endpoints and their regions.
 *
 * A frontend's endpoint is a shadow endpoint of the engine whose area is
 * the frontend's memfd (granted read-write) and whose waiters are woken
 * through the frontend's event channel.  A region is built from grant
 * spans checked against their snapshots: segments are addresses in the
 * frontend (OMX_SPLIT_MEM_SELF grants only), copied by the engine with
 * process_vm_readv/writev and only with the entry's access.  Every grant a
 * shadow uses has its busy count raised until the shadow lets it go; the
 * refs to lower are kept here, never read back from the table.
 */
#include <stdlib.h>
#include <string.h>

#include "omx_split_back_priv.h"

static int omx_split_back_policy_ok(const struct omx_split_back *b, uint32_t board, uint32_t index)
{
	return board < 32 && (b->cfg.boards_mask >> board & 1) && index < 256 &&
	       (b->cfg.endpoints[index / 64] >> (index % 64) & 1);
}

/* Another open endpoint whose area shares bytes with [off, off + len) of
 * memory m (by identity: any frontend, any id): the engine would write two
 * endpoints' queues over each other. */
static int omx_split_back_area_taken(const struct omx_split_back *b, const struct omx_split_back_mem *m,
				     uint64_t off, uint64_t len)
{
	for (uint32_t h = 0; h < b->nr_handles; h++) {
		const struct omx_split_back_ep *ep = b->eps[h];
		const struct omx_split_back_mem *o;

		if (!ep)
			continue;
		o = &ep->fe->mems[ep->mem];
		if (o->dev == m->dev && o->ino == m->ino && off < ep->area_off + len && ep->area_off < off + len)
			return 1;
	}
	return 0;
}

int omx_split_back_ep_open(struct omx_split_back_fe *fe, const struct omx_split_req_open_endpoint *r,
			   struct omx_abi_endpoint_info *out)
{
	struct omx_split_back *b = fe->b;
	struct omx_drv_shadow_layout l;
	struct omx_drv_shadow_open o;
	struct omx_split_back_ep *ep;
	struct omx_split_grant g;
	int err, n;

	if (!omx_split_back_policy_ok(b, r->cmd.board_index, r->cmd.endpoint_index))
		return OMX_ABI_EPERM;
	if (r->cmd.board_index >= b->info.board_count)
		return OMX_ABI_ENODEV;
	if (r->cmd.endpoint_index >= b->info.endpoint_max)
		return OMX_ABI_EINVAL;
	omx_drv_shadow_layout(&l);
	if (omx_split_back_grant_take(fe, r->area_ref, OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE, &g))
		return OMX_ABI_EINVAL;
	if (g.mem == OMX_SPLIT_MEM_SELF || g.offset % 4096 || g.length < l.area_size ||
	    r->evtchn >= OMX_SPLIT_BACK_EVTCHN_MAX || fe->evtchns[r->evtchn] < 0) {
		err = OMX_ABI_EINVAL;
		goto err_grant;
	}
	if (omx_split_back_area_taken(b, &fe->mems[g.mem], g.offset, l.area_size)) {
		err = OMX_ABI_EBUSY;
		goto err_grant;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		err = OMX_ABI_ENOMEM;
		goto err_grant;
	}

	memset(&o, 0, sizeof(o));
	o.cmd = r->cmd;
	o.cmd.command[OMX_ABI_COMMAND_MAX - 1] = '\0';
	o.mem_fd = fe->mems[g.mem].fd;
	o.mem_offset = g.offset;
	o.notify_fd = fe->evtchns[r->evtchn];
	o.mem_pid = fe->pid;
	err = omx_drv_shadow_open(b->drv, &o, out);
	if (err)
		goto err_free;
	if (out->handle >= b->nr_handles || b->eps[out->handle]) {
		err = OMX_ABI_EIO;
		goto err_close;
	}
	ep->fe = fe;
	ep->handle = out->handle;
	n = omx_drv_shadow_fds(b->drv, ep->handle, ep->fds, OMX_SPLIT_BACK_SHADOW_FDS);
	if (n < 0) {
		err = n;
		goto err_close;
	}
	ep->nr_fds = n;
	omx_list_init(&ep->ready_entry);
	for (int i = 0; i < n; i++) {
		ep->src[i] = (struct omx_split_back_src){ OMX_SPLIT_BACK_SRC_SHADOW, 1u << i, ep };
		if (omx_split_back_epoll_add(b, ep->fds[i], &ep->src[i])) {
			while (i--)
				omx_split_back_epoll_del(b, ep->fds[i]);
			err = OMX_ABI_ENOMEM;
			goto err_close;
		}
	}
	ep->area_ref = r->area_ref;
	ep->mem = g.mem;
	ep->area_off = g.offset;
	ep->evtchn = r->evtchn;
	fe->mems[g.mem].users++;
	fe->evtchn_users[r->evtchn]++;
	omx_list_add_tail(&ep->entry, &fe->eps);
	fe->nr_eps++;
	b->eps[ep->handle] = ep;
	b->st.endpoints++;
	fe->st.opened++;
	b->next_due = 0;
	if (b->cfg.verbose)
		omx_split_back_log(b, "frontend %u: endpoint %u:%u open (handle %u)", fe->id,
				   r->cmd.board_index, r->cmd.endpoint_index, ep->handle);
	return 0;

err_close:
	b->ops->close_endpoint(b->drv, out->handle);
err_free:
	free(ep);
err_grant:
	omx_split_back_grant_busy(fe, r->area_ref, -1);
	return err;
}

struct omx_split_back_ep *omx_split_back_ep_find(struct omx_split_back_fe *fe, uint32_t handle)
{
	struct omx_split_back_ep *ep;

	if (handle >= fe->b->nr_handles)
		return NULL;
	ep = fe->b->eps[handle];
	return ep && ep->fe == fe ? ep : NULL;
}

static void omx_split_back_region_release(struct omx_split_back_ep *ep, uint32_t id)
{
	struct omx_split_back_region *r = ep->regions[id];

	for (uint32_t i = 0; i < r->nr_refs; i++)
		omx_split_back_grant_busy(ep->fe, r->refs[i], -1);
	free(r);
	ep->regions[id] = NULL;
}

void omx_split_back_ep_close(struct omx_split_back_ep *ep)
{
	struct omx_split_back_fe *fe = ep->fe;
	struct omx_split_back *b = fe->b;

	for (int i = 0; i < ep->nr_fds; i++)
		omx_split_back_epoll_del(b, ep->fds[i]);
	omx_list_del(&ep->ready_entry);
	/* The engine stops every copy before it returns: the grants are free after. */
	b->ops->close_endpoint(b->drv, ep->handle);
	for (uint32_t id = 0; id < OMX_ABI_REGION_ID_MAX; id++)
		if (ep->regions[id])
			omx_split_back_region_release(ep, id);
	omx_split_back_grant_busy(fe, ep->area_ref, -1);
	fe->mems[ep->mem].users--;
	fe->evtchn_users[ep->evtchn]--;
	b->eps[ep->handle] = NULL;
	omx_list_del(&ep->entry);
	fe->nr_eps--;
	b->st.endpoints--;
	fe->st.closed++;
	if (b->cfg.verbose)
		omx_split_back_log(b, "frontend %u: endpoint handle %u closed", fe->id, ep->handle);
	free(ep);
}

/* ---- regions ------------------------------------------------------------------- */

static int omx_split_back_spans(struct omx_split_back_fe *fe, const struct omx_split_req_create_region *r,
				struct omx_split_grant_span *spans)
{
	struct omx_split_grant g;

	if (r->spans_ref == OMX_SPLIT_GRANT_NONE) {
		if (r->nr_segments > OMX_SPLIT_REGION_INLINE_SPANS)
			return OMX_ABI_EINVAL;
		memcpy(spans, r->spans, r->nr_segments * sizeof(*spans));
		return 0;
	}
	int err;

	if (omx_split_back_grant_take(fe, r->spans_ref, OMX_SPLIT_GRANT_READ, &g))
		return OMX_ABI_EINVAL;
	err = omx_split_back_grant_read(fe, &g, 0, spans, r->nr_segments * sizeof(*spans));
	/* Read once into our copy: the frontend may end this grant at once. */
	omx_split_back_grant_busy(fe, r->spans_ref, -1);
	return err;
}

int omx_split_back_region_create(struct omx_split_back_ep *ep, const struct omx_split_req_create_region *r)
{
	struct omx_split_back_fe *fe = ep->fe;
	struct omx_split_grant_span *spans;
	struct omx_drv_shadow_seg *segs;
	struct omx_split_back_region *reg = NULL;
	uint32_t nr = r->nr_segments, taken = 0;
	int err;

	if (r->id >= OMX_ABI_REGION_ID_MAX || nr > OMX_ABI_REGION_SEGMENTS_MAX)
		return OMX_ABI_EINVAL;
	if (ep->regions[r->id])
		return OMX_ABI_EBUSY;
	spans = malloc((nr ? nr : 1) * sizeof(*spans));
	segs = calloc(nr ? nr : 1, sizeof(*segs));
	reg = malloc(sizeof(*reg) + nr * sizeof(reg->refs[0]));
	err = spans && segs && reg ? 0 : OMX_ABI_ENOMEM;
	if (!err)
		err = omx_split_back_spans(fe, r, spans);
	for (uint32_t i = 0; i < nr && !err; i++) {
		struct omx_split_grant g;

		/* User memory only, reached by copy; the access is the entry's. */
		if (omx_split_back_grant_take(fe, spans[i].ref, 0, &g)) {
			err = OMX_ABI_EINVAL;
			break;
		}
		reg->refs[taken++] = spans[i].ref;
		if (g.mem != OMX_SPLIT_MEM_SELF || !(g.flags & (OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE)) ||
		    omx_split_back_span_check(&g, spans[i].offset, spans[i].length)) {
			err = OMX_ABI_EINVAL;
			break;
		}
		segs[i].addr = g.offset + spans[i].offset;
		segs[i].length = spans[i].length;
		segs[i].access = (g.flags & OMX_SPLIT_GRANT_READ ? OMX_DRV_SHADOW_SEG_READ : 0) |
				 (g.flags & OMX_SPLIT_GRANT_WRITE ? OMX_DRV_SHADOW_SEG_WRITE : 0);
		segs[i].pad = 0;
	}
	if (!err)
		err = omx_drv_shadow_create_region(fe->b->drv, ep->handle, r->id, segs, nr);
	if (!err) {
		reg->nr_refs = nr;
		ep->regions[r->id] = reg;
		reg = NULL;
		fe->st.regions_created++;
	} else {
		while (taken)
			omx_split_back_grant_busy(fe, reg->refs[--taken], -1);
	}
	free(spans);
	free(segs);
	free(reg);
	return err;
}

int omx_split_back_region_destroy(struct omx_split_back_ep *ep, uint32_t id)
{
	struct omx_split_back *b = ep->fe->b;
	int err;

	if (id >= OMX_ABI_REGION_ID_MAX || !ep->regions[id])
		return OMX_ABI_ENOENT;
	/* Dead in the engine first: no copy touches the spans after this. */
	err = b->ops->destroy_region(b->drv, ep->handle, id);
	omx_split_back_region_release(ep, id);
	ep->fe->st.regions_destroyed++;
	return err == OMX_ABI_ENOENT ? 0 : err;
}

/* ---- progress -------------------------------------------------------------------- */

void omx_split_back_ep_progress(struct omx_split_back_ep *ep, unsigned ready)
{
	(void)omx_drv_shadow_progress(ep->fe->b->drv, ep->handle, ready);
}

uint32_t omx_split_back_eps_serve(struct omx_split_back *b, uint64_t now)
{
	struct omx_list *pos, *tmp, *p2;
	uint32_t n = 0;

	while (!omx_list_empty(&b->ready)) {
		struct omx_split_back_ep *ep = omx_list_first_entry(&b->ready, struct omx_split_back_ep, ready_entry);
		unsigned ready = ep->ready;

		omx_list_del(&ep->ready_entry);
		ep->ready = 0;
		omx_split_back_ep_progress(ep, ready);
		n++;
	}
	if (now < b->next_due)
		return n;
	b->next_due = UINT64_MAX;
	b->pulling = 0;
	omx_list_for_each_safe(pos, tmp, &b->fes) {
		struct omx_split_back_fe *fe = omx_list_entry(pos, struct omx_split_back_fe, entry);

		omx_list_for_each(p2, &fe->eps) {
			struct omx_split_back_ep *ep = omx_list_entry(p2, struct omx_split_back_ep, entry);
			uint64_t due = omx_drv_shadow_next_due(b->drv, ep->handle);

			if (due <= now) {
				omx_split_back_ep_progress(ep, 0);
				due = omx_drv_shadow_next_due(b->drv, ep->handle);
				/* A timer that stays due is looked at again next tick, not now. */
				if (due <= now)
					due = now + 1;
			}
			if (due < b->next_due)
				b->next_due = due;
			b->pulling |= omx_drv_shadow_pulling(b->drv, ep->handle);
		}
	}
	return n;
}
