/*
 * omx_drv_endpoint.c - endpoint lifecycle: host-wide claim, link port,
 * endpoint area, handles, and the slot-release commands.
 *
 * An endpoint index is claimed host-wide by binding a listening socket in
 * the abstract Unix namespace: the kernel frees the name when the process
 * dies, so a crash leaves nothing stale and no file to clean up.  Other
 * processes learn the owner by connecting and reading SO_PEERCRED.
 *
 * Handles are board * endpoint_max + index.  Slots are allocated on first
 * open and live until the driver closes, so a lookup is lock-free: take a
 * reference, then check the state.  Close publishes CLOSING first and waits
 * for the references to drain; both sides use sequentially consistent
 * atomics, so either the lookup sees CLOSING or close sees the reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv_shared.h"

#define OMX_DRV_CLAIM_BACKLOG 64

struct omx_drv_ep *omx_drv_ep_get(struct omx_drv *drv, uint32_t handle)
{
	struct omx_drv_ep *ep;

	if (handle >= drv->board_count * drv->cfg.endpoint_max)
		return NULL;
	/* Pairs with the release store that publishes a new slot in open. */
	ep = __atomic_load_n(&drv->eps[handle], __ATOMIC_ACQUIRE);
	if (!ep)
		return NULL;
	__atomic_fetch_add(&ep->refs, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) != OMX_DRV_EP_OK) {
		__atomic_fetch_sub(&ep->refs, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	return ep;
}

void omx_drv_ep_put(struct omx_drv_ep *ep)
{
	/* Release: close must see every access of this command before it frees. */
	__atomic_fetch_sub(&ep->refs, 1, __ATOMIC_RELEASE);
}

/* ---- host-wide claim ------------------------------------------------------ */

socklen_t omx_drv_claim_addr(uint64_t board_addr, uint32_t index, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "omx-transport/%012" PRIx64 "/%u",
		     board_addr, index);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int omx_drv_claim(const struct omx_drv_board *b, uint32_t index, int *fd_out)
{
	struct sockaddr_un sa;
	socklen_t len = omx_drv_claim_addr(b->addr, index, &sa);
	int fd, e;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return OMX_ABI_ENOMEM;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		e = errno;
		close(fd);
		if (e == EADDRINUSE)
			return OMX_ABI_EBUSY;
		omx_drv_warn("endpoint", "cannot claim endpoint %u: %s", index, strerror(e));
		return OMX_ABI_EIO;
	}
	if (listen(fd, OMX_DRV_CLAIM_BACKLOG) < 0) {
		omx_drv_warn("endpoint", "cannot listen on the claim of endpoint %u: %s", index,
			     strerror(errno));
		close(fd);
		return OMX_ABI_EIO;
	}
	*fd_out = fd;
	return 0;
}

static void omx_drv_read_comm(pid_t pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	memset(out, 0, size);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, size - 1);
	close(fd);
	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

int omx_drv_get_endpoint_state(struct omx_abi_driver *d, uint32_t board_index,
			       uint32_t endpoint_index, struct omx_abi_endpoint_state *out)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_ep *ep;
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t len, clen = sizeof(cred);
	int fd, r;

	if (board_index >= drv->board_count)
		return OMX_ABI_ENODEV;
	if (endpoint_index >= drv->cfg.endpoint_max)
		return OMX_ABI_EINVAL;
	memset(out, 0, sizeof(*out));

	ep = omx_drv_ep_get(drv, board_index * drv->cfg.endpoint_max + endpoint_index);
	if (ep) {
		out->pid = ep->shadow ? (uint32_t)ep->mem_pid : (uint32_t)getpid();
		memcpy(out->command, ep->command, sizeof(out->command));
		omx_drv_ep_put(ep);
		return 0;
	}

	len = omx_drv_claim_addr(drv->boards[board_index].addr, endpoint_index, &sa);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return OMX_ABI_ENOMEM;
	r = connect(fd, (struct sockaddr *)&sa, len);
	if (r < 0) {
		int e = errno;
		close(fd);
		if (e == ECONNREFUSED || e == ENOENT) {
			out->closed = 1;
			return 0;
		}
		/* A full backlog still proves that someone listens. */
		if (e == EAGAIN)
			return 0;
		return OMX_ABI_EIO;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid > 0) {
		out->pid = (uint32_t)cred.pid;
		omx_drv_read_comm(cred.pid, out->command, sizeof(out->command));
	}
	close(fd);
	return 0;
}

/* ---- the endpoint area ---------------------------------------------------- */

static uint64_t omx_drv_align(uint64_t v)
{
	return (v + OMX_DRV_AREA_ALIGN - 1) & ~(uint64_t)(OMX_DRV_AREA_ALIGN - 1);
}

void omx_drv_layout(struct omx_abi_endpoint_layout *l)
{
	uint64_t shm_offset;

	memset(l, 0, sizeof(*l));
	l->eventq_entries = OMX_ABI_EVENTQ_ENTRIES;
	l->sendq_entries = OMX_ABI_SENDQ_ENTRIES;
	l->recvq_entries = OMX_ABI_RECVQ_ENTRIES;
	l->slot_size = OMX_ABI_QUEUE_SLOT_SIZE;
	l->desc_offset = 0;
	l->exp_eventq_offset = omx_drv_align(sizeof(struct omx_abi_endpoint_desc));
	l->unexp_eventq_offset = omx_drv_align(l->exp_eventq_offset +
					       (uint64_t)l->eventq_entries * OMX_ABI_EVENT_SIZE);
	l->sendq_offset = omx_drv_align(l->unexp_eventq_offset +
					(uint64_t)l->eventq_entries * OMX_ABI_EVENT_SIZE);
	l->recvq_offset = omx_drv_align(l->sendq_offset + (uint64_t)l->sendq_entries * l->slot_size);
	/* The tail past the recvq is the intra-host header (omx_drv_shared.h). */
	l->area_size = omx_drv_shared_area_size(l, &shm_offset);
}

/* The area: our own memfd, or a shadow's (o != NULL). */
static int omx_drv_area_map(struct omx_drv_ep *ep, const struct omx_drv_shadow_open *o)
{
	struct omx_abi_endpoint_layout *l = &ep->layout;
	uint8_t *a;
	int err;

	omx_drv_layout(l);
	err = o ? omx_drv_shadow_area_map(ep, o->mem_fd, o->mem_offset) : omx_drv_shared_area_create(ep);
	if (err)
		return err;
	a = ep->area;
	/* A shadow's queues start empty whatever its frontend left there. */
	if (o)
		memset(a, 0, l->sendq_offset);
	ep->desc = (struct omx_abi_endpoint_desc *)(a + l->desc_offset);
	omx_eventq_init(&ep->exp_q, (union omx_abi_event *)(a + l->exp_eventq_offset), l->eventq_entries);
	omx_eventq_init(&ep->unexp_q, (union omx_abi_event *)(a + l->unexp_eventq_offset),
			l->eventq_entries);
	ep->sendq = a + l->sendq_offset;
	ep->recvq = a + l->recvq_offset;
	return 0;
}

static void omx_drv_area_unmap(struct omx_drv_ep *ep)
{
	omx_drv_shared_area_destroy(ep);
	ep->desc = NULL;
	ep->sendq = ep->recvq = NULL;
}

/* ---- open / close --------------------------------------------------------- */

static struct omx_drv_ep *omx_drv_ep_slot(struct omx_drv *drv, uint32_t board, uint32_t index)
{
	uint32_t handle = board * drv->cfg.endpoint_max + index;
	struct omx_drv_ep *ep = drv->eps[handle];

	if (ep)
		return ep;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return NULL;
	pthread_mutex_init(&ep->lock, NULL);
	pthread_mutex_init(&ep->wait_lock, NULL);
	ep->drv = drv;
	ep->board = &drv->boards[board];
	ep->handle = handle;
	ep->index = index;
	ep->claim_fd = ep->port_fd = ep->wake_fd = ep->mem_fd = ep->bell_fd = ep->notify_fd = -1;
	ep->pull_next_due = UINT64_MAX;
	/* Lookups read the slot pointer without open_lock: publish it whole. */
	__atomic_store_n(&drv->eps[handle], ep, __ATOMIC_RELEASE);
	return ep;
}

static int omx_drv_ep_buffers(struct omx_drv_ep *ep)
{
	uint32_t mtu = ep->board->mtu;

	ep->tx_frame = malloc(mtu);
	ep->rx_bufs = malloc((size_t)OMX_DRV_RX_BATCH * mtu);
	if (!ep->tx_frame || !ep->rx_bufs) {
		free(ep->tx_frame);
		free(ep->rx_bufs);
		ep->tx_frame = ep->rx_bufs = NULL;
		return OMX_ABI_ENOMEM;
	}
	return 0;
}

static void omx_drv_ep_free_buffers(struct omx_drv_ep *ep)
{
	free(ep->tx_frame);
	free(ep->rx_bufs);
	free(ep->wbatch);
	ep->tx_frame = ep->rx_bufs = NULL;
	ep->wbatch = NULL;
}

static struct omx_drv_wbatch *omx_drv_wbatch_alloc(void)
{
	struct omx_drv_wbatch *wb = calloc(1, sizeof(*wb) + 2 * OMX_DRV_WBATCH_IOV * sizeof(struct iovec));

	if (wb) {
		wb->local = (struct iovec *)(wb + 1);
		wb->remote = wb->local + OMX_DRV_WBATCH_IOV;
	}
	return wb;
}

static int omx_drv_open_common(struct omx_drv *drv, const struct omx_abi_open_endpoint *cmd,
				const struct omx_drv_shadow_open *o, struct omx_abi_endpoint_info *out)
{
	struct omx_drv_board *b;
	struct omx_link *link;
	struct omx_drv_ep *ep;
	uint32_t session;
	int err;

	if (cmd->board_index >= drv->board_count)
		return OMX_ABI_ENODEV;
	if (cmd->endpoint_index >= drv->cfg.endpoint_max)
		return OMX_ABI_EINVAL;
	b = &drv->boards[cmd->board_index];
	link = b->link;

	pthread_mutex_lock(&drv->open_lock);
	if (!drv->shared) {
		err = omx_drv_shared_init(drv);
		if (err)
			goto err_unlock;
	}
	ep = omx_drv_ep_slot(drv, cmd->board_index, cmd->endpoint_index);
	if (!ep) {
		err = OMX_ABI_ENOMEM;
		goto err_unlock;
	}
	if (__atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) != OMX_DRV_EP_FREE) {
		err = OMX_ABI_EBUSY;
		goto err_unlock;
	}
	ep->shadow = o != NULL;
	ep->mem_pid = o ? o->mem_pid : 0;
	ep->mem_offset = o ? o->mem_offset : 0;
	if (o) {
		ep->notify_fd = fcntl(o->notify_fd, F_DUPFD_CLOEXEC, 0);
		if (ep->notify_fd < 0) {
			err = OMX_ABI_EINVAL;
			goto err_unlock;
		}
	}
	err = omx_drv_claim(b, ep->index, &ep->claim_fd);
	if (err)
		goto err_notify;
	err = link->ops->port_open(link, ep->index, &ep->port);
	if (err) {
		omx_drv_warn("endpoint", "cannot open link port %u (%d)", ep->index, err);
		if (err > 0)
			err = OMX_ABI_EIO;
		goto err_claim;
	}
	ep->port_fd = link->ops->port_fd(ep->port);
	err = omx_drv_area_map(ep, o);
	if (err)
		goto err_port;
	err = omx_drv_ep_buffers(ep);
	if (err)
		goto err_area;
	if (o && !(ep->wbatch = omx_drv_wbatch_alloc())) {
		err = OMX_ABI_ENOMEM;
		goto err_buffers;
	}
	ep->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep->wake_fd < 0) {
		err = OMX_ABI_ENOMEM;
		goto err_buffers;
	}
	if (getrandom(&session, sizeof(session), 0) != sizeof(session)) {
		err = OMX_ABI_EIO;
		goto err_wake;
	}

	ep->session = session;
	if (cmd->command[0])
		snprintf(ep->command, sizeof(ep->command), "%.*s", (int)sizeof(ep->command) - 1,
			 cmd->command);
	else
		omx_drv_read_comm(o ? o->mem_pid : getpid(), ep->command, sizeof(ep->command));
	ep->desc->abi_version = OMX_ABI_VERSION;
	ep->desc->owner_pid = o ? (uint32_t)o->mem_pid : (uint32_t)getpid();
	ep->desc->session_id = session;
	if (b->mtu < OMX_DRV_GOOD_MTU)
		ep->desc->status |= OMX_ABI_DESC_IFACE_BAD_MTU;
	ep->waiters = ep->waiters_old = 0;
	ep->shared_next_tick = 0;
	ep->hostq_next_due = 0;
	ep->waitspin_us = drv->cfg.waitspin_us;
	err = omx_drv_shared_ep_open(ep);
	if (err)
		goto err_wake;

	memset(out, 0, sizeof(*out));
	out->handle = ep->handle;
	out->board_index = cmd->board_index;
	out->endpoint_index = ep->index;
	out->session_id = session;
	out->layout = ep->layout;
	/* A mapping of this slot's previous area is stale from here on. */
	__atomic_store_n(&ep->open_gen, ep->open_gen + 1, __ATOMIC_RELEASE);
	/* Everything above is visible to a lookup that sees OK (omx_drv_ep_get). */
	__atomic_store_n(&ep->state, OMX_DRV_EP_OK, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&drv->open_lock);
	return 0;

err_wake:
	close(ep->wake_fd);
	ep->wake_fd = -1;
err_buffers:
	omx_drv_ep_free_buffers(ep);
err_area:
	omx_drv_area_unmap(ep);
err_port:
	link->ops->port_close(ep->port);
	ep->port = NULL;
	ep->port_fd = -1;
err_claim:
	close(ep->claim_fd);
	ep->claim_fd = -1;
err_notify:
	if (ep->notify_fd >= 0)
		close(ep->notify_fd);
	ep->notify_fd = -1;
	ep->shadow = 0;
err_unlock:
	pthread_mutex_unlock(&drv->open_lock);
	return err;
}

int omx_drv_open_endpoint(struct omx_abi_driver *d, const struct omx_abi_open_endpoint *cmd,
			  struct omx_abi_endpoint_info *out)
{
	return omx_drv_open_common(omx_drv_of(d), cmd, NULL, out);
}

int omx_drv_shadow_host_init(struct omx_abi_driver *d)
{
	struct omx_drv *drv = omx_drv_of(d);
	int err = 0;

	omx_drv_uq_set_default_wait(OMX_DRV_UQ_SHADOW_WAIT_US);
	pthread_mutex_lock(&drv->open_lock);
	if (!drv->shared)
		err = omx_drv_shared_init(drv);
	pthread_mutex_unlock(&drv->open_lock);
	return err;
}

int omx_drv_shadow_open(struct omx_abi_driver *d, const struct omx_drv_shadow_open *o,
			struct omx_abi_endpoint_info *out)
{
	if (o->mem_fd < 0 || o->notify_fd < 0 || o->mem_pid <= 0)
		return OMX_ABI_EINVAL;
	/* Every area this process touches from now on is another's. */
	omx_drv_uq_set_default_wait(OMX_DRV_UQ_SHADOW_WAIT_US);
	return omx_drv_open_common(omx_drv_of(d), &o->cmd, o, out);
}

/* Called with open_lock held on an endpoint in state OK. */
static void omx_drv_ep_teardown(struct omx_drv_ep *ep)
{
	struct timespec nap = { 0, 100000 };

	__atomic_store_n(&ep->state, OMX_DRV_EP_CLOSING, __ATOMIC_SEQ_CST);
	/* Local senders nack from now on; our mapping lives until the refs drain. */
	omx_drv_shared_ep_close(ep);
	omx_drv_wake_all(ep);
	/* Commands in flight finish quickly: waiters were just woken and see
	 * CLOSING, and nothing else blocks.  Sleep rather than spin (2 cores). */
	while (__atomic_load_n(&ep->refs, __ATOMIC_ACQUIRE))
		nanosleep(&nap, NULL);

	/* Pull handles stop here, without events: nobody reads them any more. */
	omx_drv_large_close(ep);
	ep->board->link->ops->port_close(ep->port);
	ep->port = NULL;
	ep->port_fd = -1;
	/* The area and its doorbell go before the claim: the next owner of the
	 * index binds the same doorbell name. */
	omx_drv_area_unmap(ep);
	close(ep->claim_fd);
	ep->claim_fd = -1;
	close(ep->wake_fd);
	ep->wake_fd = -1;
	if (ep->notify_fd >= 0)
		close(ep->notify_fd);
	ep->notify_fd = -1;
	ep->shadow = 0;
	ep->mem_pid = 0;
	omx_drv_ep_free_buffers(ep);
	ep->session = 0;
	memset(ep->command, 0, sizeof(ep->command));
	__atomic_store_n(&ep->state, OMX_DRV_EP_FREE, __ATOMIC_SEQ_CST);
}

int omx_drv_close_endpoint(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_ep *ep;
	int err = OMX_ABI_EINVAL;

	if (handle >= drv->board_count * drv->cfg.endpoint_max)
		return OMX_ABI_EINVAL;
	pthread_mutex_lock(&drv->open_lock);
	ep = drv->eps[handle];
	if (ep && __atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) == OMX_DRV_EP_OK) {
		omx_drv_ep_teardown(ep);
		err = 0;
	}
	pthread_mutex_unlock(&drv->open_lock);
	return err;
}

void omx_drv_endpoints_fini(struct omx_drv *drv)
{
	uint32_t n = drv->board_count * drv->cfg.endpoint_max;

	if (!drv->eps)
		return;
	pthread_mutex_lock(&drv->open_lock);
	for (uint32_t h = 0; h < n; h++) {
		struct omx_drv_ep *ep = drv->eps[h];
		if (!ep)
			continue;
		if (__atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) == OMX_DRV_EP_OK)
			omx_drv_ep_teardown(ep);
		omx_drv_large_free(ep);
		pthread_mutex_destroy(&ep->wait_lock);
		pthread_mutex_destroy(&ep->lock);
		drv->eps[h] = NULL;
		free(ep);
	}
	omx_drv_shared_fini(drv);
	pthread_mutex_unlock(&drv->open_lock);
}

void *omx_drv_endpoint_area(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	void *area;

	if (!ep)
		return NULL;
	area = ep->area;
	omx_drv_ep_put(ep);
	return area;
}

/* ---- slot release --------------------------------------------------------- */

static int omx_drv_release(struct omx_abi_driver *d, uint32_t handle, int unexp)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	int r;

	if (!ep)
		return OMX_ABI_EINVAL;
	if (unexp) {
		r = omx_drv_uq_release(ep->shm, ep->unexp_q.slots, ep->unexp_q.entries,
				       OMX_ABI_EVENTQ_RELEASE_BATCH);
	} else {
		pthread_mutex_lock(&ep->lock);
		r = omx_eventq_release(&ep->exp_q, OMX_ABI_EVENTQ_RELEASE_BATCH) ? OMX_ABI_EINVAL : 0;
		pthread_mutex_unlock(&ep->lock);
	}
	omx_drv_ep_put(ep);
	return r;
}

int omx_drv_release_exp_slots(struct omx_abi_driver *d, uint32_t handle)
{
	return omx_drv_release(d, handle, 0);
}

int omx_drv_release_unexp_slots(struct omx_abi_driver *d, uint32_t handle)
{
	return omx_drv_release(d, handle, 1);
}
