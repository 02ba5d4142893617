/*
 * omx_drv_shared.c - the intra-host path: endpoint areas as memfds, the
 * multi-producer unexpected queue, doorbells, and the table of mapped
 * destinations with their liveness checks.  The protocol is described in
 * omx_drv_shared.h.
 *
 * Locking: shared->lock guards the destination table and each mapping's
 * reference count (a send holds a reference while it writes, so a mapping
 * found dead is unmapped only by its last user).  It is never held with an
 * endpoint lock or a queue lock, and no queue lock is held with another.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "omx_drv_shared.h"

#define OMX_DRV_SHARED_BUCKETS 64
#define OMX_DRV_CLAIM_FETCH_MS 20       /* a backend answers its claim at once; else the link */

struct omx_drv_shared_att {
	struct omx_drv_shared_att *next;  /* hash chain */
	uint64_t board_addr;
	uint32_t index;
	uint32_t refs;                /* under shared->lock: the table's one plus users' */
	pid_t pid;
	int pidfd;                    /* -1: liveness by kill(pid, 0) */
	uint8_t *area;
	uint64_t area_size;
	struct omx_drv_shm *shm;
	struct sockaddr_un bell;
	socklen_t bell_len;
	uint64_t next_check;          /* jiffies of the next pidfd check */
	int shadow;                   /* handed out by a backend: untrusted */
	struct omx_drv_ep *local;     /* our own shadow endpoint, alive while open_gen holds */
	uint32_t gen;
};

struct omx_drv_shared {
	pthread_mutex_t lock;
	struct omx_drv_shared_att *buckets[OMX_DRV_SHARED_BUCKETS];
	uint32_t nr_atts;
	int bell_tx;                  /* unbound datagram socket that rings doorbells */
	uint64_t next_sweep;          /* jiffies; read without the lock */
};

static uint32_t omx_drv_shared_bucket(uint64_t addr, uint32_t index)
{
	return (uint32_t)((addr * 0x9E3779B97F4A7C15ull) >> 40 ^ index) % OMX_DRV_SHARED_BUCKETS;
}

int omx_drv_shared_init(struct omx_drv *drv)
{
	struct omx_drv_shared *s = calloc(1, sizeof(*s));

	if (!s)
		return OMX_ABI_ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->bell_tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->bell_tx < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return OMX_ABI_ENOMEM;
	}
	drv->shared = s;
	return 0;
}

static void omx_drv_att_free(struct omx_drv_shared_att *a)
{
	munmap(a->area, a->area_size);
	if (a->pidfd >= 0)
		close(a->pidfd);
	free(a);
}

void omx_drv_shared_fini(struct omx_drv *drv)
{
	struct omx_drv_shared *s = drv->shared;

	if (!s)
		return;
	for (uint32_t b = 0; b < OMX_DRV_SHARED_BUCKETS; b++) {
		while (s->buckets[b]) {
			struct omx_drv_shared_att *a = s->buckets[b];
			s->buckets[b] = a->next;
			omx_drv_att_free(a);
		}
	}
	close(s->bell_tx);
	pthread_mutex_destroy(&s->lock);
	free(s);
	drv->shared = NULL;
}

/* ---- the endpoint area ------------------------------------------------------- */

uint64_t omx_drv_shared_area_size(const struct omx_abi_endpoint_layout *l, uint64_t *shm_offset)
{
	uint64_t end = l->recvq_offset + (uint64_t)l->recvq_entries * l->slot_size;
	uint64_t off = (end + OMX_DRV_AREA_ALIGN - 1) & ~(uint64_t)(OMX_DRV_AREA_ALIGN - 1);

	*shm_offset = off;
	return (off + sizeof(struct omx_drv_shm) + OMX_DRV_AREA_ALIGN - 1) &
	       ~(uint64_t)(OMX_DRV_AREA_ALIGN - 1);
}

static void omx_drv_shared_name(char *buf, size_t size, uint64_t addr, uint32_t index)
{
	snprintf(buf, size, "omx-ep-%012" PRIx64 "-%u", addr, index);
}

/* The area is a memfd so that local peers can map it; ep->layout is set. */
int omx_drv_shared_area_create(struct omx_drv_ep *ep)
{
	uint64_t shm_offset;
	char name[64];
	uint8_t *a;
	int fd;

	if (omx_drv_shared_area_size(&ep->layout, &shm_offset) != ep->layout.area_size)
		return OMX_ABI_EINVAL;
	omx_drv_shared_name(name, sizeof(name), ep->board->addr, ep->index);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return OMX_ABI_ENOMEM;
	/* Sealed size: a peer that mapped it can never fault on a shrink. */
	if (ftruncate(fd, (off_t)ep->layout.area_size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto err;
	a = mmap(NULL, ep->layout.area_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED)
		goto err;
	/* A forked child must not inherit a writable view of live queues. */
	madvise(a, ep->layout.area_size, MADV_DONTFORK);
	ep->mem_fd = fd;
	ep->area = a;
	ep->shm = (struct omx_drv_shm *)(a + shm_offset);
	return 0;
err:
	close(fd);
	return OMX_ABI_ENOMEM;
}

void omx_drv_shared_area_destroy(struct omx_drv_ep *ep)
{
	if (ep->area)
		munmap(ep->area, ep->layout.area_size);
	if (ep->mem_fd >= 0)
		close(ep->mem_fd);
	/* Waiters polled the doorbell until the references drained. */
	if (ep->bell_fd >= 0)
		close(ep->bell_fd);
	ep->mem_fd = ep->bell_fd = -1;
	ep->area = NULL;
	ep->shm = NULL;
}

static socklen_t omx_drv_bell_addr(uint64_t addr, uint32_t index, struct sockaddr_un *sa)
{
	socklen_t len = omx_drv_claim_addr(addr, index, sa);
	size_t used = len - offsetof(struct sockaddr_un, sun_path);
	int n = snprintf(sa->sun_path + used, sizeof(sa->sun_path) - used, "/bell");

	return (socklen_t)(len + (socklen_t)n);
}

/* Fill the header, bind the doorbell, then publish OPEN (called before the
 * endpoint becomes visible; the claim is already held). */
int omx_drv_shared_ep_open(struct omx_drv_ep *ep)
{
	struct omx_drv_shm *shm = ep->shm;
	struct omx_drv *drv = ep->drv;
	struct sockaddr_un sa;
	socklen_t len;
	uint64_t shm_offset;
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return OMX_ABI_ENOMEM;
	len = omx_drv_bell_addr(ep->board->addr, ep->index, &sa);
	/* The claim makes the name ours (a closing owner unbinds it before it
	 * lets the claim go), so any failure is unexpected. */
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;

		omx_drv_warn("shared", "cannot bind the doorbell of endpoint %u: %s", ep->index, strerror(e));
		close(fd);
		return e == EADDRINUSE ? OMX_ABI_EBUSY : OMX_ABI_EIO;
	}
	ep->bell_fd = fd;

	/* A shadow's area is another's memfd: start from a clean tail (the
	 * segment table is covered by the region heads being absent). */
	if (ep->shadow)
		memset(shm, 0, offsetof(struct omx_drv_shm, segs));
	shm->lock = 0;
	shm->magic = OMX_DRV_SHM_MAGIC;
	shm->version = OMX_DRV_SHM_VERSION;
	shm->owner_pid = (uint32_t)getpid();
	shm->mem_pid = ep->shadow ? (uint32_t)ep->mem_pid : (uint32_t)getpid();
	shm->board_addr = ep->board->addr;
	shm->endpoint_index = ep->index;
	shm->session = ep->session;
	shm->shm_size = sizeof(*shm);
	omx_drv_shared_area_size(&ep->layout, &shm_offset);
	shm->shm_offset = shm_offset;
	shm->layout = ep->layout;
	shm->unexp_next = shm->unexp_released = 0;
	shm->sleepers = 0;
	shm->nr_boards = 0;
	for (uint32_t b = 0; b < drv->board_count && shm->nr_boards < OMX_DRV_SHM_BOARDS; b++) {
		uint32_t i = omx_drv_peer_find(drv, drv->boards[b].addr);
		if (i == OMX_DRV_PEER_NONE)
			continue;
		shm->boards[shm->nr_boards].addr = drv->boards[b].addr;
		shm->boards[shm->nr_boards].peer_index = i;
		shm->nr_boards++;
	}
	/* Release: a peer that reads OPEN sees the whole identity above. */
	__atomic_store_n(&shm->state, OMX_DRV_SHM_OPEN, __ATOMIC_RELEASE);
	return 0;
}

/* First step of a close: local senders see CLOSED at their next message. */
void omx_drv_shared_ep_close(struct omx_drv_ep *ep)
{
	/* Release: pairs with the acquire in omx_drv_att_alive; what a sender
	 * writes after seeing OPEN may be lost, as a frame to a closing port. */
	if (ep->shm)
		__atomic_store_n(&ep->shm->state, OMX_DRV_SHM_CLOSED, __ATOMIC_RELEASE);
}

/* Empty the doorbell; 1 if it had rung. */
int omx_drv_shared_bell_drain(struct omx_drv_ep *ep)
{
	char buf[64];
	int rang = 0;

	while (recv(ep->bell_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		rang = 1;
	return rang;
}

/* ---- mapping a destination --------------------------------------------------- */

/* Connect to the claim of (addr, index): the owner's pid and the open
 * connection (a backend answers on it, omx_drv_shadow.c). */
static int omx_drv_att_owner(uint64_t addr, uint32_t index, pid_t *pid, int *conn)
{
	struct sockaddr_un sa;
	socklen_t len = omx_drv_claim_addr(addr, index, &sa), clen;
	struct ucred cred;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return OMX_ABI_ENOMEM;
	r = connect(fd, (struct sockaddr *)&sa, len);
	if (r < 0) {
		int e = errno;
		close(fd);
		if (e == ECONNREFUSED || e == ENOENT)
			return OMX_DRV_SHARED_NACK;
		return e == EAGAIN ? OMX_ABI_EAGAIN : OMX_DRV_SHARED_FALLBACK;
	}
	clen = sizeof(cred);
	r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
	/* Same user only: another user's endpoint is reached over the link. */
	if (r < 0 || cred.pid <= 0 || cred.uid != getuid()) {
		close(fd);
		return OMX_DRV_SHARED_FALLBACK;
	}
	*pid = cred.pid;
	*conn = fd;
	return 0;
}

static int omx_drv_att_check(const struct omx_drv_shm *shm, const struct omx_abi_endpoint_layout *l,
			     uint64_t shm_offset, pid_t pid, uint64_t addr, uint32_t index)
{
	return shm->magic == OMX_DRV_SHM_MAGIC && shm->version == OMX_DRV_SHM_VERSION &&
	       shm->shm_size == sizeof(*shm) && shm->shm_offset == shm_offset &&
	       !memcmp(&shm->layout, l, sizeof(*l)) && shm->owner_pid == (uint32_t)pid &&
	       shm->board_addr == addr && shm->endpoint_index == index &&
	       /* Acquire: pairs with the owner's release of OPEN (identity first);
	        * the caller reads the header again only after this. */
	       __atomic_load_n(&shm->state, __ATOMIC_ACQUIRE) == OMX_DRV_SHM_OPEN;
}

/* Map size bytes of fd at off and check the header; 0 or -1. */
static int omx_drv_att_map_fd(struct omx_drv_ep *ep, int fd, uint64_t off, uint64_t addr, uint32_t index,
			      pid_t pid, struct omx_drv_shared_att *a)
{
	const struct omx_abi_endpoint_layout *l = &ep->layout;
	uint64_t shm_offset, size = omx_drv_shared_area_size(l, &shm_offset);
	struct stat st;
	uint8_t *m;

	if (fstat(fd, &st) < 0 || off % OMX_DRV_AREA_ALIGN || (uint64_t)st.st_size < off ||
	    (uint64_t)st.st_size - off < size || (fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK) == 0)
		return -1;
	/* An area we own is exactly its size; a frontend's may sit in a bigger memfd. */
	if (!a->shadow && ((uint64_t)st.st_size != size || off))
		return -1;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (m == MAP_FAILED)
		return -1;
	if (!omx_drv_att_check((struct omx_drv_shm *)(m + shm_offset), l, shm_offset, pid, addr, index)) {
		munmap(m, size);
		return -1;
	}
	madvise(m, size, MADV_DONTFORK);
	a->area = m;
	a->area_size = size;
	a->shm = (struct omx_drv_shm *)(m + shm_offset);
	return 0;
}

/* Map the memfd of (addr, index) held by pid: 0, NACK (not open) or FALLBACK. */
static int omx_drv_att_map(struct omx_drv_ep *ep, uint64_t addr, uint32_t index, pid_t pid, int conn,
			   struct omx_drv_shared_att *a)
{
	char dir[64], path[320], want[96], name[64], link[128];
	struct dirent *de;
	int found = 0, denied = 0, fd;
	uint64_t off;
	DIR *d;

	omx_drv_shared_name(name, sizeof(name), addr, index);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? OMX_DRV_SHARED_NACK : OMX_DRV_SHARED_FALLBACK;
	while (!found && (de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, want))
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			denied = 1;
			continue;
		}
		found = omx_drv_att_map_fd(ep, fd, 0, addr, index, pid, a) == 0;
		close(fd);
	}
	closedir(d);
	if (found)
		return 0;
	if (denied)
		return OMX_DRV_SHARED_FALLBACK;
	/* No area by that name: a backend's shadow endpoint hands its own out
	 * on the claim (a backend never holds such names); a direct owner that
	 * is still opening or already closing hangs up or stays silent. */
	fd = omx_drv_shadow_claim_fetch(conn, &off, OMX_DRV_CLAIM_FETCH_MS);
	if (fd < 0)
		return fd == OMX_DRV_SHARED_NACK ? OMX_DRV_SHARED_NACK : OMX_DRV_SHARED_FALLBACK;
	a->shadow = 1;
	found = omx_drv_att_map_fd(ep, fd, off, addr, index, pid, a) == 0;
	close(fd);
	return found ? 0 : OMX_DRV_SHARED_NACK;
}

/* Our own shadow endpoint: a second mapping of its area, alive with it. */
static int omx_drv_att_map_local(struct omx_drv_ep *ep, struct omx_drv_ep *dst, struct omx_drv_shared_att *a)
{
	a->shadow = 1;
	if (omx_drv_att_map_fd(ep, dst->mem_fd, dst->mem_offset, dst->board->addr, dst->index, getpid(), a))
		return OMX_DRV_SHARED_NACK;
	a->local = dst;
	a->gen = __atomic_load_n(&dst->open_gen, __ATOMIC_ACQUIRE);
	return 0;
}

static int omx_drv_att_create(struct omx_drv_ep *ep, uint64_t addr, uint32_t index,
			      struct omx_drv_shared_att **out)
{
	struct omx_drv_shared_att *a;
	struct omx_drv_ep *dst;
	pid_t pid;
	int r, conn;

	r = omx_drv_att_owner(addr, index, &pid, &conn);
	if (r)
		return r;
	a = calloc(1, sizeof(*a));
	if (!a) {
		close(conn);
		return OMX_ABI_ENOMEM;
	}
	a->pidfd = -1;
	dst = pid == getpid() ? omx_drv_shadow_local(ep->drv, addr, index) : NULL;
	if (dst) {
		r = omx_drv_att_map_local(ep, dst, a);
		omx_drv_ep_put(dst);
	} else {
		a->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		r = a->pidfd < 0 && errno == ESRCH ? OMX_DRV_SHARED_NACK
						     : omx_drv_att_map(ep, addr, index, pid, conn, a);
	}
	close(conn);
	if (r) {
		if (a->pidfd >= 0)
			close(a->pidfd);
		free(a);
		return r;
	}
	a->board_addr = addr;
	a->index = index;
	a->pid = pid;
	a->bell_len = omx_drv_bell_addr(addr, index, &a->bell);
	a->next_check = omx_drv_now_jiffies() + OMX_DRV_SHARED_CHECK_MS;
	*out = a;
	return 0;
}

/* ---- the destination table ---------------------------------------------------- */

/* Graceful close, or the owner gone (pidfd readable, or no such pid). */
static int omx_drv_att_alive(struct omx_drv_shared_att *a, int probe)
{
	struct pollfd pfd;

	/* Our own shadow: its state is ours, not what its frontend wrote. */
	if (a->local)
		return __atomic_load_n(&a->local->state, __ATOMIC_SEQ_CST) == OMX_DRV_EP_OK &&
		       __atomic_load_n(&a->local->open_gen, __ATOMIC_ACQUIRE) == a->gen;
	if (__atomic_load_n(&a->shm->state, __ATOMIC_ACQUIRE) != OMX_DRV_SHM_OPEN)
		return 0;
	if (!probe)
		return 1;
	if (a->pidfd < 0)
		return kill(a->pid, 0) == 0 || errno != ESRCH;
	pfd.fd = a->pidfd;
	pfd.events = POLLIN;
	return poll(&pfd, 1, 0) == 0;
}

/* Called with shared->lock held. */
static void omx_drv_att_unlink_locked(struct omx_drv_shared *s, struct omx_drv_shared_att *a)
{
	struct omx_drv_shared_att **pp = &s->buckets[omx_drv_shared_bucket(a->board_addr, a->index)];

	while (*pp && *pp != a)
		pp = &(*pp)->next;
	if (*pp)
		*pp = a->next;
	s->nr_atts--;
	if (--a->refs == 0)
		omx_drv_att_free(a);
}

static struct omx_drv_shared_att *omx_drv_att_find_locked(struct omx_drv_shared *s, uint64_t addr,
							  uint32_t index)
{
	struct omx_drv_shared_att *a = s->buckets[omx_drv_shared_bucket(addr, index)];

	while (a && (a->board_addr != addr || a->index != index))
		a = a->next;
	return a;
}

/* A referenced, live mapping of (addr, index), attaching on first use. */
static int omx_drv_att_get(struct omx_drv_ep *ep, uint64_t addr, uint32_t index,
			   struct omx_drv_shared_att **out)
{
	struct omx_drv_shared *s = ep->drv->shared;
	struct omx_drv_shared_att *a;
	uint64_t now = omx_drv_now_jiffies();
	int r = 0;

	pthread_mutex_lock(&s->lock);
	a = omx_drv_att_find_locked(s, addr, index);
	if (a) {
		int probe = now >= a->next_check;

		if (probe)
			a->next_check = now + OMX_DRV_SHARED_CHECK_MS;
		if (!omx_drv_att_alive(a, probe)) {
			omx_drv_att_unlink_locked(s, a);
			a = NULL;
		}
	}
	if (!a) {
		r = omx_drv_att_create(ep, addr, index, &a);
		if (r == 0) {
			uint32_t b = omx_drv_shared_bucket(addr, index);

			a->refs = 1;
			a->next = s->buckets[b];
			s->buckets[b] = a;
			s->nr_atts++;
		}
	}
	if (r == 0) {
		a->refs++;
		*out = a;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void omx_drv_att_put(struct omx_drv *drv, struct omx_drv_shared_att *a)
{
	struct omx_drv_shared *s = drv->shared;

	pthread_mutex_lock(&s->lock);
	if (--a->refs == 0)
		omx_drv_att_free(a);
	pthread_mutex_unlock(&s->lock);
}

int omx_drv_sdest_get(struct omx_drv_ep *ep, uint32_t peer_index, uint32_t dest_endpoint,
		      struct omx_drv_sdest *d, uint8_t *nack)
{
	struct omx_drv_shared_att *a;
	struct omx_drv_shm *shm;
	uint64_t addr;
	int local = 0, r;

	if (omx_drv_peer_addr(ep->drv, peer_index, &addr, &local))
		return OMX_ABI_EINVAL;
	if (!local)
		return OMX_DRV_SHARED_FALLBACK;
	if (dest_endpoint >= ep->drv->cfg.endpoint_max) {
		*nack = OMX_NACK_TYPE_BAD_ENDPT;
		return OMX_DRV_SHARED_NACK;
	}
	r = omx_drv_att_get(ep, addr, dest_endpoint, &a);
	if (r == OMX_DRV_SHARED_NACK)
		*nack = OMX_NACK_TYPE_ENDPT_CLOSED;
	if (r)
		return r;
	shm = a->shm;
	d->src_peer_index = OMX_WIRE_UNKNOWN_PEER_INDEX;
	for (uint32_t i = 0; i < shm->nr_boards && i < OMX_DRV_SHM_BOARDS; i++)
		if (shm->boards[i].addr == ep->board->addr)
			d->src_peer_index = (uint16_t)shm->boards[i].peer_index;
	if (d->src_peer_index == OMX_WIRE_UNKNOWN_PEER_INDEX) {
		/* The destination does not know our board: only the link can tell it who we are. */
		omx_drv_att_put(ep->drv, a);
		return OMX_DRV_SHARED_FALLBACK;
	}
	d->att = a;
	d->shm = shm;
	d->shadow = a->shadow;
	d->local = a->local;
	d->local_gen = a->gen;
	d->wait_us = a->shadow ? OMX_DRV_UQ_SHADOW_WAIT_US
			       : omx_drv_uq_default_wait();
	/* Our own layout, equal to the one checked at attach: the owner may
	 * rewrite its header, never move our writes outside its area. */
	d->unexp = (union omx_abi_event *)(a->area + ep->layout.unexp_eventq_offset);
	d->desc = (struct omx_abi_endpoint_desc *)(a->area + ep->layout.desc_offset);
	d->recvq = a->area + ep->layout.recvq_offset;
	return 0;
}

void omx_drv_sdest_put(struct omx_drv_ep *ep, struct omx_drv_sdest *d)
{
	omx_drv_att_put(ep->drv, d->att);
	d->att = NULL;
}

void omx_drv_sdest_ring(struct omx_drv_ep *ep, const struct omx_drv_sdest *d)
{
	static const char bell = 1;
	struct omx_drv_shared_att *a = d->att;

	/* Full fence: our published id and index come before the read of
	 * sleepers, as the waiter's increment comes before its re-check
	 * (omx_drv_wait.c); one of the two sides sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&d->shm->sleepers, __ATOMIC_RELAXED))
		return;
	/* Our own shadow's doorbell is its frontend's eventfd. */
	if (d->local) {
		struct omx_drv_ep *l = omx_drv_ep_get(ep->drv, d->local->handle);

		if (l && __atomic_load_n(&l->open_gen, __ATOMIC_ACQUIRE) == d->local_gen)
			omx_drv_shadow_ring_ep(l);
		if (l)
			omx_drv_ep_put(l);
		return;
	}
	/* EAGAIN: the doorbell is full, so it is ringing already. */
	(void)sendto(ep->drv->shared->bell_tx, &bell, 1, MSG_DONTWAIT | MSG_NOSIGNAL,
		     (struct sockaddr *)&a->bell, a->bell_len);
}

pid_t omx_drv_sdest_pid(const struct omx_drv_sdest *d)
{
	return d->att->pid;
}

/* ---- upkeep -------------------------------------------------------------------- */

static void omx_drv_shared_sweep(struct omx_drv_shared *s)
{
	for (uint32_t b = 0; b < OMX_DRV_SHARED_BUCKETS; b++) {
		struct omx_drv_shared_att *a = s->buckets[b], *next;

		for (; a; a = next) {
			next = a->next;
			if (!omx_drv_att_alive(a, 1))
				omx_drv_att_unlink_locked(s, a);
		}
	}
}

void omx_drv_shared_tick(struct omx_drv_ep *ep)
{
	struct omx_drv_shared *s = ep->drv->shared;
	uint64_t now = omx_drv_now_jiffies();
	int fd;

	if (now >= __atomic_load_n(&ep->shared_next_tick, __ATOMIC_RELAXED)) {
		__atomic_store_n(&ep->shared_next_tick, now + OMX_DRV_SHARED_CHECK_MS, __ATOMIC_RELAXED);
		/* Owner lookups connect to our claim and are never served: drop
		 * them here too, so the backlog of an endpoint that never sleeps
		 * stays usable.  A shadow endpoint's are served. */
		if (ep->shadow)
			omx_drv_shadow_claim_serve(ep);
		else
			while ((fd = accept4(ep->claim_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
				close(fd);
	}
	if (now < __atomic_load_n(&s->next_sweep, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&s->lock);
	if (now >= s->next_sweep) {
		__atomic_store_n(&s->next_sweep, now + OMX_DRV_SHARED_CHECK_MS, __ATOMIC_RELAXED);
		omx_drv_shared_sweep(s);
	}
	pthread_mutex_unlock(&s->lock);
}
