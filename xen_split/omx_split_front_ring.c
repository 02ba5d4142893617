/*
 * omx_split_front_ring.c - requests out, responses in.
 *
 * Producer: any thread, under f->lock: fill the next slot, remember the
 * waiter (if the command waits) in calls[], publish, and write the kick
 * eventfd only when omx_split_front_push_requests says the backend sleeps:
 * a posted send to an awake backend costs no syscall.
 *
 * Consumer: whoever holds f->lock reaps every published response (the
 * backend answers in slot order, so response i sits in slot i): a waited
 * one is copied to its waiter and marked done, a posted one is counted if
 * it failed.  Reaping before each request keeps the ring drained without a
 * thread of its own, and no response can be lost: it belongs to calls[],
 * not to whichever thread happens to read it.
 *
 * Waiting (for a response, or for a free slot when the ring is full): one
 * thread at a time is the poller; it spins on rsp_prod without the lock,
 * then sets rsp_event (final check) and blocks in poll() on the notify
 * eventfd and the dead eventfd.  The other waiters sleep on f->cond, which
 * every reap that completes something and every poller change broadcast.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "omx_split_front_priv.h"

int omx_split_front_memfd(const char *name, size_t size, void **map)
{
	void *p;
	int fd;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return OMX_ABI_ENOMEM;
	/* Sealed size: the backend maps it and must never fault on a shrink. */
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto err;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto err;
	/* A forked child must not inherit a writable view of live shared state. */
	madvise(p, size, MADV_DONTFORK);
	*map = p;
	return fd;
err:
	close(fd);
	return OMX_ABI_ENOMEM;
}

int omx_split_front_ring_setup(struct omx_split_front *f)
{
	void *p;
	int fd;

	fd = omx_split_front_memfd("omx-split-ring", OMX_SPLIT_RING_BYTES, &p);
	if (fd < 0)
		return fd;
	f->ring_fd = fd;
	f->sring = p;
	omx_split_front_ring_init(&f->ring, f->sring);
	f->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->kick_fd < 0 || f->notify_fd < 0)
		return OMX_ABI_ENOMEM;
	return 0;
}

void omx_split_front_ring_teardown(struct omx_split_front *f)
{
	if (f->sring)
		munmap(f->sring, OMX_SPLIT_RING_BYTES);
	f->sring = NULL;
	if (f->ring_fd >= 0)
		close(f->ring_fd);
	if (f->kick_fd >= 0)
		close(f->kick_fd);
	if (f->notify_fd >= 0)
		close(f->notify_fd);
	f->ring_fd = f->kick_fd = f->notify_fd = -1;
}

/* ---- consumer ---------------------------------------------------------------- */

/* Take every published response.  Called with f->lock held. */
static void omx_split_front_reap_locked(struct omx_split_front *f)
{
	struct omx_split_front_ring *r = &f->ring;
	uint32_t n = omx_split_front_unconsumed_responses(r);

	if (!n)
		return;
	/* More responses than requests outstanding: the backend is broken. */
	if (n > r->req_prod_pvt - r->rsp_cons) {
		omx_split_front_die(f, "the backend published more responses than requests", 1);
		return;
	}
	for (; n; n--) {
		const struct omx_split_response *rsp = &omx_split_ring_slot(r->sring, r->rsp_cons)->rsp;
		struct omx_split_front_call **call = &f->calls[r->rsp_cons & (OMX_SPLIT_RING_SLOTS - 1)];

		if (rsp->id != r->rsp_cons) {
			omx_split_front_die(f, "a response does not match its request", 1);
			return;
		}
		if (*call) {
			memcpy((*call)->rsp, rsp, sizeof(*rsp));
			(*call)->done = 1;
			*call = NULL;
		} else if (rsp->ret < 0) {
			/* A posted command failed; the backend posted the completion
			 * event the lib needs, if any.  Only counted here. */
			if (f->posted_errors++ == 0 && f->verbose)
				omx_split_front_log("split driver: the backend refused a posted command "
						    "(func %u, error %d); further ones are only counted",
						    rsp->func, rsp->ret);
		}
		r->rsp_cons++;
	}
	/* Slots came free and maybe a waiter's response in. */
	if (f->cond_waiters)
		pthread_cond_broadcast(&f->cond);
}

#define OMX_SPLIT_FRONT_SPIN_BURST 32
#define OMX_SPLIT_FRONT_POLL_MS 1000   /* the poller re-checks the backend's silence this often */

/*
 * A backend that leaves requests unanswered for timeout_ms (hung, stopped)
 * is as good as gone: declare it lost, so that every pending request fails
 * instead of hanging the guest.  Called with f->lock held by whoever waits:
 * the response poller, and endpoint waiters (omx_split_front_stall_check).
 */
void omx_split_front_stall_check_locked(struct omx_split_front *f)
{
	uint64_t now;

	omx_split_front_reap_locked(f);
	if (!f->timeout_ms || omx_split_front_dead(f))
		return;
	now = omx_clock_ns();
	if (!f->stall_since || f->ring.rsp_cons != f->stall_seen ||
	    f->ring.req_prod_pvt == f->ring.rsp_cons) {
		f->stall_seen = f->ring.rsp_cons;
		f->stall_since = now;
	} else if (now - f->stall_since > (uint64_t)f->timeout_ms * 1000000) {
		omx_split_front_die(f, "no response within OMX_SPLIT_TIMEOUT_MS", 1);
	}
}

void omx_split_front_stall_check(struct omx_split_front *f)
{
	/* Best effort: a thread holding the lock checks on its own. */
	if (pthread_mutex_trylock(&f->lock))
		return;
	omx_split_front_stall_check_locked(f);
	pthread_mutex_unlock(&f->lock);
}

/* The poller's turn: spin on rsp_prod, then block on notify.  Entered and
 * left with f->lock held; drops it meanwhile. */
static void omx_split_front_poll_locked(struct omx_split_front *f)
{
	struct pollfd pfd[2] = {
		{ .fd = f->notify_fd, .events = POLLIN },
		{ .fd = f->dead_fd, .events = POLLIN },
	};
	uint32_t seen = f->ring.rsp_cons;
	uint64_t end = omx_clock_ns() + (uint64_t)f->waitspin_us * 1000;
	uint64_t v;
	int r;

	pthread_mutex_unlock(&f->lock);
	/* Acquire pairs with the backend's release of rsp_prod (as in reaping). */
	do {
		for (int i = 0; i < OMX_SPLIT_FRONT_SPIN_BURST; i++) {
			if (omx_split_ring_load(&f->sring->rsp_prod) != seen || omx_split_front_dead(f))
				goto relock;
			omx_cpu_relax();
		}
		/* Two cores: the backend may need ours. */
		sched_yield();
	} while (omx_clock_ns() < end);
	pthread_mutex_lock(&f->lock);
	/* Another thread may have reaped meanwhile (our response among them):
	 * then there is nothing to sleep for.  Else, under the lock rsp_cons
	 * is stable, and final_check orders rsp_event before the re-read of
	 * rsp_prod against the backend's push. */
	if (f->ring.rsp_cons != seen || omx_split_front_final_check(&f->ring) || omx_split_front_dead(f))
		return;
	pthread_mutex_unlock(&f->lock);
	do
		r = poll(pfd, 2, OMX_SPLIT_FRONT_POLL_MS);
	while (r < 0 && errno == EINTR);
	if (pfd[0].revents && read(f->notify_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: another read drained it */
	}
relock:
	pthread_mutex_lock(&f->lock);
}

/* Wait until the call is done (call) or a slot is free (!call), with
 * f->lock held; 0 or OMX_ABI_EIO once the backend is gone. */
static int omx_split_front_wait_locked(struct omx_split_front *f, const struct omx_split_front_call *call)
{
	for (;;) {
		omx_split_front_reap_locked(f);
		if (call ? call->done : omx_split_front_free_requests(&f->ring) > 0)
			return 0;
		omx_split_front_stall_check_locked(f);
		if (omx_split_front_dead(f))
			return OMX_ABI_EIO;
		if (f->poller) {
			f->cond_waiters++;
			pthread_cond_wait(&f->cond, &f->lock);
			f->cond_waiters--;
			continue;
		}
		f->poller = 1;
		omx_split_front_poll_locked(f);
		f->poller = 0;
		/* Someone else may have to take the poller's turn. */
		if (f->cond_waiters)
			pthread_cond_broadcast(&f->cond);
	}
}

/* ---- producer ---------------------------------------------------------------- */

int omx_split_front_request(struct omx_split_front *f, uint16_t func, uint32_t handle,
			    const void *payload, size_t len, struct omx_split_response *rsp)
{
	struct omx_split_front_call call = { .rsp = rsp, .done = 0 };
	struct omx_split_request *req;
	uint32_t idx;
	uint64_t one = 1;
	int err = 0;

	if (len > sizeof(req->u))
		return OMX_ABI_EINVAL;
	pthread_mutex_lock(&f->lock);
	omx_split_front_reap_locked(f);
	/* Flow control: a full ring waits for responses, never overwrites. */
	if (omx_split_front_free_requests(&f->ring) == 0)
		err = omx_split_front_wait_locked(f, NULL);
	if (!err && omx_split_front_dead(f))
		err = OMX_ABI_EIO;
	if (err)
		goto out;
	idx = f->ring.req_prod_pvt;
	req = &omx_split_ring_slot(f->sring, idx)->req;
	req->func = func;
	req->pad0 = 0;
	req->id = idx;
	req->handle = handle;
	req->pad1 = 0;
	if (len)
		memcpy(&req->u, payload, len);
	f->calls[idx & (OMX_SPLIT_RING_SLOTS - 1)] = rsp ? &call : NULL;
	f->ring.req_prod_pvt = idx + 1;
	/* Release store of req_prod inside: the backend sees the slot filled. */
	if (omx_split_front_push_requests(&f->ring) && write(f->kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the backend is kicked anyway */
	}
	if (rsp) {
		err = omx_split_front_wait_locked(f, &call);
		if (err) {
			/* Dead backend: the slot's waiter is going away. */
			f->calls[idx & (OMX_SPLIT_RING_SLOTS - 1)] = NULL;
		} else {
			/* Passed through: some commands answer >= 0 (peer_add: the index). */
			err = rsp->ret;
		}
	}
out:
	pthread_mutex_unlock(&f->lock);
	return err;
}
