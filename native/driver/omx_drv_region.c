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
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

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
	if (--r->refs)
		return;
	/* Nothing of a region nobody holds lands anywhere any more. */
	if (r->batch && r->batch->region == r) {
		r->batch->region = NULL;
		r->batch->nl = r->batch->nr = 0;
		r->batch->bytes = 0;
	}
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

#define OMX_DRV_REGION_IOV 64          /* segment pieces per process_vm_* call */

/* Copy between buf and the segments of another process: iovec batches of
 * the pieces [offset, offset + len) spans; 0 or -1 (a fault, a gone process). */
static int omx_drv_region_copy_remote(const struct omx_drv_region *r, uint32_t i, uint64_t offset,
				      uint8_t *buf, uint64_t len, int into_region)
{
	struct iovec local, remote[OMX_DRV_REGION_IOV];

	while (len) {
		unsigned long n = 0;
		size_t want = 0;
		ssize_t got;

		while (len && n < OMX_DRV_REGION_IOV) {
			const struct omx_drv_region_seg *s = &r->segs[i++];
			uint64_t in = offset - s->start;
			uint64_t k = s->length - in < len ? s->length - in : len;

			remote[n].iov_base = s->addr + in;
			remote[n].iov_len = k;
			n++;
			want += k;
			offset += k;
			len -= k;
		}
		local.iov_base = buf;
		local.iov_len = want;
		got = into_region ? process_vm_writev(r->mem_pid, &local, 1, remote, n, 0)
				  : process_vm_readv(r->mem_pid, &local, 1, remote, n, 0);
		if (got < 0 && errno == ESRCH)
			return OMX_DRV_REGION_GONE;
		if (got < 0 || (size_t)got != want)
			return OMX_DRV_REGION_DEAD;
		buf += want;
	}
	return 0;
}

static int omx_drv_region_copy(struct omx_drv_region *r, uint64_t offset, uint8_t *buf,
			       uint64_t len, int into_region)
{
	uint32_t need = into_region ? OMX_DRV_SEG_WRITE : OMX_DRV_SEG_READ, first, i;
	uint64_t o = offset, l = len;

	if (!len)
		return 0;
	if (r->dead || offset + len > r->length || offset + len < offset)
		return OMX_DRV_REGION_DEAD;
	first = omx_drv_region_seg_find(r, offset);
	/* Access first, for the whole range: a refused copy moves no byte. */
	for (i = first; l; i++) {
		const struct omx_drv_region_seg *s = &r->segs[i];
		uint64_t n = s->length - (o - s->start) < l ? s->length - (o - s->start) : l;

		if (!(s->access & need))
			goto fail;
		o += n;
		l -= n;
	}
	if (r->mem_pid) {
		int e = omx_drv_region_copy_remote(r, first, offset, buf, len, into_region);

		if (e)
			r->dead = 1;
		return e;
	}
	for (i = first; len; i++) {
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
	return 0;
fail:
	/* Never again: whatever the pull does next completes ABORTED. */
	r->dead = 1;
	return OMX_DRV_REGION_DEAD;
}

int omx_drv_region_read(struct omx_drv_region *r, uint64_t offset, void *dst, uint64_t len)
{
	return omx_drv_region_copy(r, offset, dst, len, 0);
}

int omx_drv_region_write(struct omx_drv_region *r, uint64_t offset, const void *src, uint64_t len)
{
	return omx_drv_region_copy(r, offset, (uint8_t *)(uintptr_t)src, len, 1);
}

int omx_drv_wbatch_flush(struct omx_drv_wbatch *wb)
{
	struct omx_drv_region *r = wb->region;
	ssize_t got;
	int e = 0;

	if (!r)
		return 0;
	if (r->dead) {
		e = OMX_DRV_REGION_DEAD;
	} else {
		got = process_vm_writev(r->mem_pid, wb->local, wb->nl, wb->remote, wb->nr, 0);
		if (got < 0 || (uint64_t)got != wb->bytes) {
			e = got < 0 && errno == ESRCH ? OMX_DRV_REGION_GONE : OMX_DRV_REGION_DEAD;
			r->dead = 1;
		}
	}
	wb->region = NULL;
	wb->nl = wb->nr = 0;
	wb->bytes = 0;
	return e;
}

int omx_drv_region_flush(struct omx_drv_region *r)
{
	/* Nothing pending: a copy that failed earlier left the region dead,
	 * which the pull sees at its next reply or timer. */
	if (!r->batch || r->batch->region != r)
		return 0;
	return omx_drv_wbatch_flush(r->batch);
}

int omx_drv_region_write_deferred(struct omx_drv_region *r, uint64_t offset, const void *src, uint64_t len)
{
	struct omx_drv_wbatch *wb = r->batch;
	unsigned k = 0, first;
	uint64_t o = offset, l = len;

	if (!wb || !len)
		return omx_drv_region_write(r, offset, src, len);
	if (r->dead || offset + len > r->length || offset + len < offset)
		return OMX_DRV_REGION_DEAD;
	first = omx_drv_region_seg_find(r, offset);
	for (unsigned i = first; l; i++, k++) {
		const struct omx_drv_region_seg *s = &r->segs[i];
		uint64_t n = s->length - (o - s->start) < l ? s->length - (o - s->start) : l;

		if (!(s->access & OMX_DRV_SEG_WRITE)) {
			r->dead = 1;
			return OMX_DRV_REGION_DEAD;
		}
		o += n;
		l -= n;
	}
	if (k > OMX_DRV_WBATCH_IOV)
		return omx_drv_region_write(r, offset, src, len);
	if ((wb->region && wb->region != r) || wb->nl == OMX_DRV_WBATCH_IOV || wb->nr + k > OMX_DRV_WBATCH_IOV) {
		int e = omx_drv_wbatch_flush(wb);

		if (e && r->dead)
			return e;
	}
	wb->local[wb->nl].iov_base = (void *)(uintptr_t)src;
	wb->local[wb->nl++].iov_len = len;
	for (unsigned i = first; len; i++) {
		const struct omx_drv_region_seg *s = &r->segs[i];
		uint64_t in = offset - s->start, n = s->length - in < len ? s->length - in : len;

		wb->remote[wb->nr].iov_base = s->addr + in;
		wb->remote[wb->nr++].iov_len = n;
		offset += n;
		len -= n;
		wb->bytes += n;
	}
	wb->region = r;
	return 0;
}

int omx_drv_region_readv(struct omx_drv_region *r, uint64_t offset, const struct iovec *dst, unsigned n)
{
	struct iovec remote[OMX_DRV_REGION_IOV];
	uint64_t len = 0, o, l;
	unsigned long k = 0;
	uint32_t i;
	ssize_t got;

	int e;

	for (unsigned j = 0; j < n; j++)
		len += dst[j].iov_len;
	/* Local memory, or pieces beyond one call: buffer by buffer. */
	if (!r->mem_pid || !len || n > OMX_DRV_REGION_IOV)
		goto slow;
	if (r->dead || offset + len > r->length || offset + len < offset)
		return OMX_DRV_REGION_DEAD;
	/* The remote pieces need not line up with the buffers: the kernel
	 * walks both lists in order. */
	for (i = omx_drv_region_seg_find(r, offset), o = offset, l = len; l; i++) {
		const struct omx_drv_region_seg *s = &r->segs[i];
		uint64_t in = o - s->start, m = s->length - in < l ? s->length - in : l;

		if (!(s->access & OMX_DRV_SEG_READ) || k == OMX_DRV_REGION_IOV)
			goto slow;
		remote[k].iov_base = s->addr + in;
		remote[k++].iov_len = m;
		o += m;
		l -= m;
	}
	got = process_vm_readv(r->mem_pid, dst, n, remote, k, 0);
	if (got >= 0 && (uint64_t)got == len)
		return 0;
	r->dead = 1;
	return got < 0 && errno == ESRCH ? OMX_DRV_REGION_GONE : OMX_DRV_REGION_DEAD;
slow:
	for (unsigned j = 0; j < n; offset += dst[j].iov_len, j++) {
		e = omx_drv_region_read(r, offset, dst[j].iov_base, dst[j].iov_len);
		if (e)
			return e;
	}
	return 0;
}

/* Check the segments and build the region; empty segments are dropped.
 * segs is the lib's array (direct) or the host's (shadow, with access). */
static int omx_drv_region_build(uint32_t id, const struct omx_abi_region_segment *segs,
				const struct omx_drv_shadow_seg *ssegs, uint32_t nr, int32_t mem_pid,
				struct omx_drv_region **out)
{
	struct omx_drv_region *r;
	uint64_t total = 0;

	if (nr && !segs && !ssegs)
		return OMX_ABI_EINVAL;
	r = malloc(sizeof(*r) + (size_t)nr * sizeof(r->segs[0]));
	if (!r)
		return OMX_ABI_ENOMEM;
	r->id = id;
	r->refs = 1;
	r->dead = 0;
	r->mem_pid = mem_pid;
	r->batch = NULL;
	r->nr_segs = 0;
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t addr = ssegs ? ssegs[i].addr : segs[i].offset;
		uint64_t len = ssegs ? ssegs[i].length : segs[i].length;
		uint32_t access = ssegs ? ssegs[i].access & (OMX_DRV_SEG_READ | OMX_DRV_SEG_WRITE)
					: OMX_DRV_SEG_READ | OMX_DRV_SEG_WRITE;

		if (!len)
			continue;
		if (!addr || addr + len < addr || total + len < total ||
		    (ssegs && addr + len > (uint64_t)UINTPTR_MAX)) {
			free(r);
			return OMX_ABI_EINVAL;
		}
		r->segs[r->nr_segs].addr = (uint8_t *)(uintptr_t)addr;
		r->segs[r->nr_segs].start = total;
		r->segs[r->nr_segs].length = len;
		r->segs[r->nr_segs].access = access;
		r->nr_segs++;
		total += len;
	}
	r->length = total;
	*out = r;
	return 0;
}

static int omx_drv_region_insert(struct omx_drv_ep *ep, struct omx_drv_region *r)
{
	struct omx_drv_large *lg;
	int err = 0;

	pthread_mutex_lock(&ep->lock);
	lg = omx_drv_large_get_locked(ep);
	if (!lg)
		err = OMX_ABI_ENOMEM;
	else if (lg->regions[r->id])
		err = OMX_ABI_EBUSY;
	else
		lg->regions[r->id] = r;
	/* Local pullers read it from the endpoint area (omx_drv_shared.h). */
	if (!err)
		omx_drv_shared_region_publish(ep, r);
	pthread_mutex_unlock(&ep->lock);
	if (err)
		free(r);
	return err;
}

int omx_drv_create_region(struct omx_abi_driver *d, uint32_t handle, const struct omx_abi_create_region *cmd)
{
	struct omx_drv_ep *ep;
	struct omx_drv_region *r;
	int err;

	if (cmd->id >= OMX_ABI_REGION_ID_MAX || cmd->nr_segments > OMX_ABI_REGION_SEGMENTS_MAX)
		return OMX_ABI_EINVAL;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	/* A shadow's segment array would be an address in its frontend. */
	err = ep->shadow ? OMX_ABI_EINVAL
			 : omx_drv_region_build(cmd->id, (const struct omx_abi_region_segment *)(uintptr_t)
						cmd->segments_offset, NULL, cmd->nr_segments, 0, &r);
	if (!err)
		err = omx_drv_region_insert(ep, r);
	omx_drv_ep_put(ep);
	return err;
}

int omx_drv_shadow_create_region(struct omx_abi_driver *d, uint32_t handle, uint32_t id,
				 const struct omx_drv_shadow_seg *segs, uint32_t nr)
{
	struct omx_drv_ep *ep;
	struct omx_drv_region *r;
	int err;

	if (id >= OMX_ABI_REGION_ID_MAX || nr > OMX_ABI_REGION_SEGMENTS_MAX)
		return OMX_ABI_EINVAL;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	err = !ep->shadow ? OMX_ABI_EINVAL : omx_drv_region_build(id, NULL, segs, nr, ep->mem_pid, &r);
	if (!err) {
		r->batch = ep->wbatch;
		err = omx_drv_region_insert(ep, r);
	}
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
