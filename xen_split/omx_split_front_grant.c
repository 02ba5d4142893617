/*
 * omx_split_front_grant.c - the frontend's grant table (omx_split_proto.h).
 *
 * Refs come from a free list (ref 0 is never valid).  Granting writes the
 * entry, then release-stores flags: a backend that acquire-loads PERMIT sees
 * mem, offset and length.  Ending clears flags first and only then reads
 * busy (both sequentially consistent): a backend that bumps busy and then
 * re-checks PERMIT either sees the grant gone, or its busy is seen here and
 * the ref is parked on the deferred list instead of the free list.  Parked
 * refs return to the free list once busy drops to 0 (checked whenever a ref
 * is ended or the free list runs dry), so a ref the backend still uses is
 * never handed out again.  Once the backend is dead nothing uses any grant.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "omx_split_front_priv.h"

int omx_split_front_grant_init(struct omx_split_front *f)
{
	void *p;
	int fd;

	fd = omx_split_front_memfd("omx-split-grants", OMX_SPLIT_GRANT_TABLE_BYTES, &p);
	if (fd < 0)
		return fd;
	f->gnt_fd = fd;
	f->gnt = p;
	/* Lowest refs first: the backend's snapshots stay in few pages. */
	f->gnt_free_nr = 0;
	for (uint32_t ref = OMX_SPLIT_GRANT_ENTRIES - 1; ref > OMX_SPLIT_GRANT_NONE; ref--)
		f->gnt_free[f->gnt_free_nr++] = ref;
	f->gnt_deferred_nr = 0;
	return 0;
}

void omx_split_front_grant_fini(struct omx_split_front *f)
{
	if (f->gnt)
		munmap(f->gnt, OMX_SPLIT_GRANT_TABLE_BYTES);
	f->gnt = NULL;
	if (f->gnt_fd >= 0)
		close(f->gnt_fd);
	f->gnt_fd = -1;
}

static int omx_split_front_grant_idle(struct omx_split_front *f, uint32_t ref)
{
	return omx_split_front_dead(f) || __atomic_load_n(&f->gnt[ref].busy, __ATOMIC_SEQ_CST) == 0;
}

/* Move the parked refs the backend let go of back to the free list. */
static void omx_split_front_grant_retry_locked(struct omx_split_front *f)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < f->gnt_deferred_nr; i++) {
		uint32_t ref = f->gnt_deferred[i];

		if (omx_split_front_grant_idle(f, ref))
			f->gnt_free[f->gnt_free_nr++] = ref;
		else
			f->gnt_deferred[kept++] = ref;
	}
	f->gnt_deferred_nr = kept;
}

int omx_split_front_grant(struct omx_split_front *f, uint32_t mem, uint64_t offset, uint64_t length,
			  uint32_t access)
{
	struct omx_split_grant *e;
	uint32_t ref;

	pthread_mutex_lock(&f->gnt_lock);
	if (!f->gnt_free_nr && f->gnt_deferred_nr)
		omx_split_front_grant_retry_locked(f);
	if (!f->gnt_free_nr) {
		pthread_mutex_unlock(&f->gnt_lock);
		return OMX_ABI_ENOMEM;
	}
	ref = f->gnt_free[--f->gnt_free_nr];
	pthread_mutex_unlock(&f->gnt_lock);
	e = &f->gnt[ref];
	e->mem = mem;
	e->offset = offset;
	e->length = length;
	/* Release: the fields above before PERMIT, for the backend's acquire. */
	__atomic_store_n(&e->flags, OMX_SPLIT_GRANT_PERMIT | (access & (OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE)),
			 __ATOMIC_RELEASE);
	return (int)ref;
}

void omx_split_front_grant_end(struct omx_split_front *f, uint32_t ref)
{
	if (ref == OMX_SPLIT_GRANT_NONE || ref >= OMX_SPLIT_GRANT_ENTRIES)
		return;
	/* Seq-cst store then seq-cst load of busy (see the top). */
	__atomic_store_n(&f->gnt[ref].flags, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&f->gnt_lock);
	if (omx_split_front_grant_idle(f, ref))
		f->gnt_free[f->gnt_free_nr++] = ref;
	else
		f->gnt_deferred[f->gnt_deferred_nr++] = ref;
	if (f->gnt_deferred_nr)
		omx_split_front_grant_retry_locked(f);
	pthread_mutex_unlock(&f->gnt_lock);
}
