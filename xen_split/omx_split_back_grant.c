/*
 * omx_split_back_grant.c - the grant table seen from the backend: entry
 * snapshots, span checks, the busy count, and the checks on memory the
 * frontend passes (memfds, eventfds).
 *
 * An entry is read field by field exactly once into a snapshot and only
 * the snapshot is used: a frontend that rewrites the entry afterwards
 * changes nothing the backend does (no double fetch).  Ordering: the
 * frontend fills an entry before it publishes the request naming it, and
 * the backend read req_prod with an acquire load before the slot, so the
 * relaxed loads here see the entry as it was at publication (or later).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "omx_split_back_priv.h"

#define OMX_SPLIT_BACK_DIRECT_AREA "/memfd:omx-ep-"

int omx_split_back_grant_get(struct omx_split_back_fe *fe, uint32_t ref, uint32_t need,
			     struct omx_split_grant *snap)
{
	const struct omx_split_grant *g;
	uint32_t want = OMX_SPLIT_GRANT_PERMIT | need;

	if (!fe->grants || ref == OMX_SPLIT_GRANT_NONE || ref >= OMX_SPLIT_GRANT_ENTRIES)
		return OMX_ABI_EINVAL;
	g = &fe->grants[ref];
	/* Seq-cst: after our busy increment in grant_take (see there). */
	snap->flags = __atomic_load_n(&g->flags, __ATOMIC_SEQ_CST);
	snap->mem = __atomic_load_n(&g->mem, __ATOMIC_RELAXED);
	snap->offset = __atomic_load_n(&g->offset, __ATOMIC_RELAXED);
	snap->length = __atomic_load_n(&g->length, __ATOMIC_RELAXED);
	snap->busy = 0;
	snap->pad = 0;
	if ((snap->flags & want) != want || !snap->length || snap->offset + snap->length < snap->offset)
		return OMX_ABI_EINVAL;
	if (snap->mem == OMX_SPLIT_MEM_SELF)
		return 0;
	if (snap->mem > OMX_SPLIT_MEM_OBJECTS_MAX || fe->mems[snap->mem].fd < 0 ||
	    snap->offset + snap->length > fe->mems[snap->mem].size)
		return OMX_ABI_EINVAL;
	return 0;
}

/*
 * A use of ref: busy first, then the snapshot.  The frontend ends a grant
 * by clearing its flags and then reading busy (both seq-cst), parking the
 * ref while busy != 0; we raise busy and then read the flags (seq-cst): one
 * of the two sees the other, so either the grant is refused here or it
 * cannot end (nor be granted anew) while we hold it.
 */
int omx_split_back_grant_take(struct omx_split_back_fe *fe, uint32_t ref, uint32_t need,
			      struct omx_split_grant *snap)
{
	int err;

	if (!fe->grants || ref == OMX_SPLIT_GRANT_NONE || ref >= OMX_SPLIT_GRANT_ENTRIES)
		return OMX_ABI_EINVAL;
	__atomic_fetch_add(&fe->grants[ref].busy, 1, __ATOMIC_SEQ_CST);
	fe->busy_held++;
	err = omx_split_back_grant_get(fe, ref, need, snap);
	if (err)
		omx_split_back_grant_busy(fe, ref, -1);
	return err;
}

int omx_split_back_span_check(const struct omx_split_grant *snap, uint64_t offset, uint64_t length)
{
	if (offset > snap->length || length > snap->length - offset)
		return OMX_ABI_EINVAL;
	return 0;
}

void omx_split_back_grant_busy(struct omx_split_back_fe *fe, uint32_t ref, int delta)
{
	/* Relaxed: busy only tells the frontend not to end the grant; our own
	 * table (busy_held, the regions' refs) is what we undo from. */
	__atomic_fetch_add(&fe->grants[ref].busy, (uint32_t)delta, __ATOMIC_RELAXED);
	fe->busy_held += (uint64_t)(int64_t)delta;
}

static int omx_split_back_fd_link(int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, size - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

uint64_t omx_split_back_memfd_check(int fd, uint64_t min)
{
	char link[256];
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || (uint64_t)st.st_size < min)
		return 0;
	/* Local processes find direct endpoint areas by that name in a claim
	 * holder's fd table (omx_drv_shared.h): none may be ours. */
	if (omx_split_back_fd_link(fd, link, sizeof(link)) ||
	    !strncmp(link, OMX_SPLIT_BACK_DIRECT_AREA, strlen(OMX_SPLIT_BACK_DIRECT_AREA)))
		return 0;
	return (uint64_t)st.st_size;
}

void omx_split_back_fd_id(int fd, uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		*dev = *ino = 0;
		return;
	}
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
}

int omx_split_back_is_eventfd(int fd)
{
	char link[64];

	return omx_split_back_fd_link(fd, link, sizeof(link)) == 0 && !strcmp(link, "anon_inode:[eventfd]");
}

int omx_split_back_grant_read(struct omx_split_back_fe *fe, const struct omx_split_grant *snap,
			      uint64_t offset, void *buf, size_t n)
{
	uint8_t *p = buf;

	if (omx_split_back_span_check(snap, offset, n))
		return OMX_ABI_EINVAL;
	if (snap->mem == OMX_SPLIT_MEM_SELF) {
		struct iovec l = { .iov_base = buf, .iov_len = n };
		struct iovec r = { .iov_base = (void *)(uintptr_t)(snap->offset + offset), .iov_len = n };

		return process_vm_readv(fe->pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : OMX_ABI_EINVAL;
	}
	while (n) {
		ssize_t got = pread(fe->mems[snap->mem].fd, p, n, (off_t)(snap->offset + offset));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return OMX_ABI_EINVAL;
		p += got;
		offset += (uint64_t)got;
		n -= (size_t)got;
	}
	return 0;
}
