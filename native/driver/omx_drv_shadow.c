/*
 * omx_drv_shadow.c - shadow endpoints: endpoints whose area is another
 * process's memfd (a split frontend's), hosted by this engine (the split
 * backend).  The API is in omx_direct.h; what changes elsewhere is small:
 * the area is mapped from the caller's memfd (here), regions name the
 * frontend's memory (omx_drv_region.c), waiters are the frontend's threads,
 * woken through its eventfd (here, from omx_drv_kick_waiters), and the
 * claim is served: a local process that wants to write into the endpoint
 * gets the area's memfd from the claim socket, since the backend holds no
 * memfd named for it (omx_drv_shared.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omx_drv_shared.h"

#define OMX_DRV_CLAIM_MAGIC 0x4f4d5843u    /* "OMXC" */
#define OMX_DRV_HOSTQ_DUE_CAP_MS 1000      /* a grown peer table is queried this soon */

/* What the claim holder of a shadow endpoint sends, with the memfd. */
struct omx_drv_claim_msg {
	uint32_t magic;
	uint32_t version;             /* OMX_DRV_SHM_VERSION */
	uint64_t offset;              /* of the area in the memfd */
};

uint64_t omx_drv_now_ms(void)
{
	return omx_drv_now_jiffies();
}

void omx_drv_endpoint_layout(struct omx_abi_endpoint_layout *l)
{
	omx_drv_layout(l);
}

void omx_drv_shadow_layout(struct omx_drv_shadow_layout *out)
{
	struct omx_abi_endpoint_layout l;
	uint64_t shm_offset;

	omx_drv_layout(&l);
	omx_drv_shared_area_size(&l, &shm_offset);
	out->area_size = l.area_size;
	out->sleepers_offset = shm_offset + offsetof(struct omx_drv_shm, sleepers);
}

int omx_drv_shadow_area_map(struct omx_drv_ep *ep, int fd, uint64_t offset)
{
	uint64_t shm_offset, size = omx_drv_shared_area_size(&ep->layout, &shm_offset);
	struct stat st;
	int seals, dup;
	uint8_t *a;

	if (size != ep->layout.area_size || offset % OMX_DRV_AREA_ALIGN)
		return OMX_ABI_EINVAL;
	/* Sealed against shrinking: the mapping can never fault past the end. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < offset || (uint64_t)st.st_size - offset < size)
		return OMX_ABI_EINVAL;
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return OMX_ABI_ENOMEM;
	a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dup, (off_t)offset);
	if (a == MAP_FAILED) {
		close(dup);
		return OMX_ABI_EINVAL;
	}
	madvise(a, size, MADV_DONTFORK);
	ep->mem_fd = dup;
	ep->area = a;
	ep->shm = (struct omx_drv_shm *)(a + shm_offset);
	return 0;
}

/* ---- the claim ---------------------------------------------------------------- */

void omx_drv_shadow_claim_serve(struct omx_drv_ep *ep)
{
	struct omx_drv_claim_msg m = { OMX_DRV_CLAIM_MAGIC, OMX_DRV_SHM_VERSION, ep->mem_offset };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	struct ucred cred;
	socklen_t clen;
	int fd;

	while ((fd = accept4(ep->claim_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		clen = sizeof(cred);
		/* The uid the shared path trusts anyway (omx_drv_att_owner); a
		 * state query of another user only wanted SO_PEERCRED. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.uid == getuid()) {
			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &ep->mem_fd, sizeof(int));
			(void)sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		close(fd);
	}
}

int omx_drv_shadow_claim_fetch(int conn, uint64_t *offset, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct omx_drv_claim_msg m;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct pollfd pfd = { .fd = conn, .events = POLLIN };
	int fd = -1, nfds = 0, r;
	ssize_t n;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return OMX_DRV_SHARED_FALLBACK;
	n = recvmsg(conn, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				fd = f;
			else
				close(f);
		}
	}
	if (n == (ssize_t)sizeof(m) && nfds == 1 && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    m.magic == OMX_DRV_CLAIM_MAGIC && m.version == OMX_DRV_SHM_VERSION) {
		*offset = m.offset;
		return fd;
	}
	if (fd >= 0)
		close(fd);
	return OMX_DRV_SHARED_NACK;
}

/* ---- waking the frontend -------------------------------------------------------- */

void omx_drv_shadow_ring_ep(struct omx_drv_ep *ep)
{
	uint64_t one = 1;

	/* Full fence: the events we published come before the read of
	 * sleepers, as the frontend's increment comes before its re-check. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&ep->shm->sleepers, __ATOMIC_RELAXED))
		return;
	if (write(ep->notify_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so it is readable anyway. */
	}
}

void omx_drv_shadow_ring(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);

	if (!ep)
		return;
	if (ep->shadow)
		omx_drv_shadow_ring_ep(ep);
	omx_drv_ep_put(ep);
}

struct omx_drv_ep *omx_drv_shadow_local(struct omx_drv *drv, uint64_t addr, uint32_t index)
{
	struct omx_drv_ep *ep;

	if (index >= drv->cfg.endpoint_max)
		return NULL;
	for (uint32_t b = 0; b < drv->board_count; b++) {
		if (drv->boards[b].addr != addr)
			continue;
		ep = omx_drv_ep_get(drv, b * drv->cfg.endpoint_max + index);
		if (ep && ep->shadow)
			return ep;
		if (ep)
			omx_drv_ep_put(ep);
		return NULL;
	}
	return NULL;
}

/* ---- the host's loop ------------------------------------------------------------ */

int omx_drv_shadow_fds(struct omx_abi_driver *d, uint32_t handle, int *fds, unsigned max)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	int all[3], n = 0;

	if (!ep)
		return OMX_ABI_EINVAL;
	if (!ep->shadow) {
		omx_drv_ep_put(ep);
		return OMX_ABI_EINVAL;
	}
	all[0] = ep->port_fd;
	all[1] = ep->bell_fd;
	all[2] = ep->claim_fd;
	for (unsigned i = 0; i < 3 && (unsigned)n < max; i++)
		fds[n++] = all[i];
	omx_drv_ep_put(ep);
	return n;
}

static uint64_t omx_drv_shadow_due(const struct omx_drv_ep *ep)
{
	uint64_t due = __atomic_load_n(&ep->hostq_next_due, __ATOMIC_RELAXED), t;

	t = __atomic_load_n(&ep->pull_next_due, __ATOMIC_RELAXED);
	if (t < due)
		due = t;
	t = __atomic_load_n(&ep->shared_next_tick, __ATOMIC_RELAXED);
	return t < due ? t : due;
}

uint64_t omx_drv_shadow_next_due(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	uint64_t due;

	if (!ep)
		return UINT64_MAX;
	due = omx_drv_shadow_due(ep);
	omx_drv_ep_put(ep);
	return due;
}

int omx_drv_shadow_pulling(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	int r;

	if (!ep)
		return 0;
	/* Finite while any pull has a timer (omx_drv_pull.c). */
	r = __atomic_load_n(&ep->pull_next_due, __ATOMIC_RELAXED) != UINT64_MAX;
	omx_drv_ep_put(ep);
	return r;
}

int omx_drv_shadow_progress(struct omx_abi_driver *d, uint32_t handle, unsigned ready)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	uint32_t every;
	uint64_t now, due;
	int posted = 0;

	if (!ep)
		return OMX_ABI_EINVAL;
	if (!ep->shadow) {
		omx_drv_ep_put(ep);
		return OMX_ABI_EINVAL;
	}
	now = omx_drv_now_jiffies();
	/* Receive, pull timers, host queries, shared upkeep; rings the frontend. */
	if ((ready & OMX_DRV_SHADOW_READY_PORT) || now >= omx_drv_shadow_due(ep))
		posted = omx_drv_progress(d, handle);
	/* A local sender rang because the frontend sleeps: pass it on. */
	if ((ready & OMX_DRV_SHADOW_READY_BELL) && omx_drv_shared_bell_drain(ep))
		omx_drv_shadow_ring_ep(ep);
	if (ready & OMX_DRV_SHADOW_READY_CLAIM)
		omx_drv_shadow_claim_serve(ep);
	if (posted < 0)
		posted = 0;

	due = UINT64_MAX;
	if (ep->index == 0) {
		due = __atomic_load_n(&ep->board->hostq.next_round, __ATOMIC_RELAXED);
		if (due > now + OMX_DRV_HOSTQ_DUE_CAP_MS)
			due = now + OMX_DRV_HOSTQ_DUE_CAP_MS;
	}
	every = ep->board->link->poll_interval_ms;
	if (every && now + every < due)
		due = now + every;
	__atomic_store_n(&ep->hostq_next_due, due, __ATOMIC_RELAXED);
	omx_drv_ep_put(ep);
	return posted;
}

int omx_drv_shadow_complete(struct omx_abi_driver *d, uint32_t handle, const union omx_abi_event *ev)
{
	struct omx_drv_ep *ep;
	union omx_abi_event *slot;
	uint8_t type = ev->generic.type;
	int err = 0;

	if (type != OMX_ABI_EVT_SEND_MEDIUMSQ_FRAG_DONE && type != OMX_ABI_EVT_PULL_DONE)
		return OMX_ABI_EINVAL;
	ep = omx_drv_ep_get(omx_drv_of(d), handle);
	if (!ep)
		return OMX_ABI_EINVAL;
	pthread_mutex_lock(&ep->lock);
	if (omx_eventq_space(&ep->exp_q)) {
		slot = omx_eventq_begin(&ep->exp_q);
		memcpy(slot->generic.body, ev->generic.body, sizeof(slot->generic.body));
		omx_eventq_publish(&ep->exp_q, slot, type);
	} else {
		omx_drv_count(ep->board, OMX_COUNTER_EXP_EVENTQ_FULL);
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_EXP_EVENTQ_FULL, __ATOMIC_RELAXED);
		err = OMX_ABI_EAGAIN;
	}
	pthread_mutex_unlock(&ep->lock);
	if (!err)
		omx_drv_kick_waiters(ep);
	omx_drv_ep_put(ep);
	return err;
}
