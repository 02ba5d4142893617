/*
 * omx_drv_region.c - user regions: the memory a pull reads from (data owner)
 * or writes into (puller).
 *
 * In the direct driver a segment's offset is an address in this process and
 * the command names the segment array by its address; the array is copied,
 * so the lib may reuse it as soon as the command returns.
 *
 * Lifetime: the region table holds one reference, every pull handle using the
 * region another.  Destroy unlinks the id (free again at once), marks the
 * region dead and drops the table's reference; the last holder frees it.  A
 * dead region is never copied to or from: a pull holding one completes
 * ABORTED at its next reply or timer, so nothing touches the user's memory
 * after the lib destroyed the region, whatever the lib does with it next.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omx_drv_shared.h"

struct omx_drv_large *omx_drv_large_get_locked(struct omx_drv_ep *ep)
{
	struct omx_drv_large *lg = ep->large;

	omx_drv_assert_locked(&ep->lock);
	if (lg)
		return lg;
	lg = calloc(1, sizeof(*lg));
	if (!lg)
		return NULL;
	for (uint32_t i = 0; i < OMX_DRV_PULL_SLOTS; i++)
		lg->gens[i] = OMX_DRV_PULL_GEN_START;
	omx_list_init(&lg->active);
	ep->large = lg;
	return lg;
}

struct omx_drv_region *omx_drv_region_get_locked(struct omx_drv_ep *ep, uint32_t id)
{
	struct omx_drv_region *r;

	omx_drv_assert_locked(&ep->lock);
	if (!ep->large || id >= OMX_ABI_REGION_ID_MAX)
		return NULL;
	r = ep->large->regions[id];
	if (!r)
		return NULL;
	r->refs++;
	return r;
}

void omx_drv_region_put_locked(struct omx_drv_region *r)
{
	if (--r->refs == 0)
		free(r);
}

/* Index of the segment holding byte offset (offset < r->length). */
static uint32_t omx_drv_region_seg_find(const struct omx_drv_region *r, uint64_t offset)
{
	uint32_t lo = 0, hi = r->nr_segs - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		if (r->segs[mid].start <= offset)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

static void omx_drv_region_copy(const struct omx_drv_region *r, uint64_t offset, uint8_t *buf,
				uint64_t len, int into_region)
{
	uint32_t i;

	if (!len)
		return;
	assert(!r->dead && offset + len <= r->length);
	for (i = omx_drv_region_seg_find(r, offset); len; i++) {
		const struct omx_drv_region_seg *s = &r->segs[i];
		uint64_t in = offset - s->start;
		uint64_t n = s->length - in < len ? s->length - in : len;

		if (into_region)
			memcpy(s->addr + in, buf, n);
		else
			memcpy(buf, s->addr + in, n);
		buf += n;
		offset += n;
		len -= n;
	}
}

void omx_drv_region_read(const struct omx_drv_region *r, uint64_t offset, void *dst, uint64_t len)
{
	omx_drv_region_copy(r, offset, dst, len, 0);
}

void omx_drv_region_write(struct omx_drv_region *r, uint64_t offset, const void *src, uint64_t len)
{
	omx_drv_region_copy(r, offset, (uint8_t *)(uintptr_t)src, len, 1);
}

/* Copy and check the lib's segment array; empty segments are dropped. */
static int omx_drv_region_build(const struct omx_abi_create_region *cmd, struct omx_drv_region **out)
{
	const struct omx_abi_region_segment *segs =
		(const struct omx_abi_region_segment *)(uintptr_t)cmd->segments_offset;
	struct omx_drv_region *r;
	uint64_t total = 0;

	if (cmd->nr_segments && !segs)
		return OMX_ABI_EINVAL;
	r = malloc(sizeof(*r) + (size_t)cmd->nr_segments * sizeof(r->segs[0]));
	if (!r)
		return OMX_ABI_ENOMEM;
	r->id = cmd->id;
	r->refs = 1;
	r->dead = 0;
	r->nr_segs = 0;
	for (uint32_t i = 0; i < cmd->nr_segments; i++) {
		uint64_t addr = segs[i].offset, len = segs[i].length;

		if (!len)
			continue;
		if (!addr || addr + len < addr || total + len < total) {
			free(r);
			return OMX_ABI_EINVAL;
		}
		r->segs[r->nr_segs].addr = (uint8_t *)(uintptr_t)addr;
		r->segs[r->nr_segs].start = total;
		r->segs[r->nr_segs].length = len;
		r->nr_segs++;
		total += len;
	}
	r->length = total;
	*out = r;
	return 0;
}

int omx_drv_create_region(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_create_region *cmd)
{
	struct omx_drv_ep *ep;
	struct omx_drv_large *lg;
	struct omx_drv_region *r;
	int err;

	if (cmd->id >= OMX_ABI_REGION_ID_MAX || cmd->nr_segments > OMX_ABI_REGION_SEGMENTS_MAX)
		return OMX_ABI_EINVAL;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	err = omx_drv_region_build(cmd, &r);
	if (err)
		goto out;

	pthread_mutex_lock(&ep->lock);
	lg = omx_drv_large_get_locked(ep);
	if (!lg)
		err = OMX_ABI_ENOMEM;
	else if (lg->regions[cmd->id])
		err = OMX_ABI_EBUSY;
	else
		lg->regions[cmd->id] = r;
	/* Local pullers read it from the endpoint area (omx_drv_shared.h). */
	if (!err)
		omx_drv_shared_region_publish(ep, r);
	pthread_mutex_unlock(&ep->lock);
	if (err)
		free(r);
out:
	omx_drv_ep_put(ep);
	return err;
}

static void omx_drv_region_unlink_locked(struct omx_drv_large *lg, uint32_t id)
{
	struct omx_drv_region *r = lg->regions[id];

	lg->regions[id] = NULL;
	r->dead = 1;
	omx_drv_region_put_locked(r);
}

int omx_drv_destroy_region(struct omx_abi_driver *d, uint32_t handle, uint32_t region_id)
{
	struct omx_drv_ep *ep;
	int err = 0;

	if (region_id >= OMX_ABI_REGION_ID_MAX)
		return OMX_ABI_ENOENT;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	pthread_mutex_lock(&ep->lock);
	if (ep->large && ep->large->regions[region_id]) {
		omx_drv_shared_region_unpublish(ep, region_id);
		omx_drv_region_unlink_locked(ep->large, region_id);
	} else
		err = OMX_ABI_ENOENT;
	pthread_mutex_unlock(&ep->lock);
	omx_drv_ep_put(ep);
	return err;
}

void omx_drv_large_close(struct omx_drv_ep *ep)
{
	struct omx_drv_large *lg;

	pthread_mutex_lock(&ep->lock);
	lg = ep->large;
	if (lg) {
		/* Pulls first: they drop their region references. */
		omx_drv_pull_abort_all_locked(ep);
		for (uint32_t id = 0; id < OMX_ABI_REGION_ID_MAX; id++)
			if (lg->regions[id]) {
				omx_drv_shared_region_unpublish(ep, id);
				omx_drv_region_unlink_locked(lg, id);
			}
		free(lg->reply_bufs);
		lg->reply_bufs = NULL;
	}
	__atomic_store_n(&ep->pull_next_due, UINT64_MAX, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ep->lock);
}

void omx_drv_large_free(struct omx_drv_ep *ep)
{
	free(ep->large);
	ep->large = NULL;
}
