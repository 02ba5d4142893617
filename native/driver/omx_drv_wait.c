/*
 * omx_drv_wait.c - sleeping on an endpoint: wait_event and wakeup.
 *
 * A waiter first spins (below), then blocks in poll() on the port, the
 * endpoint's eventfd, its claim socket and its doorbell, never holding
 * ep->lock.
 *
 * Spinning.  The rings are checked in memory (an event at the lib's next
 * index, as the lib itself would see it), so local senders reach a spinning
 * receiver with no syscall on either side.  The port is polled only every
 * OMX_DRV_SPIN_PORT_NS, and the processor is yielded between checks: on two
 * cores the peer we wait for is often runnable on our own processor (the
 * scheduler places a wakee beside its waker), and a spinner that does not
 * yield delays it by its whole budget.  The budget adapts per endpoint
 * between 0 and OMX_WAITSPIN_US: it doubles when an event arrives while
 * spinning or soon after blocking, and halves when the spin ran out and
 * the block lasted long, so that processes that wait long (8 ranks on 2
 * cores) stop burning the processor the others need.
 *
 * Blocking (X4).  Local senders ring the doorbell only when shm->sleepers
 * is non-zero: the waiter increments it, fences, re-checks, then polls.
 *
 * Wakeup protocol.  Every signal (wakeup, close, events posted by another
 * thread's progress) bumps wait_seq under wait_lock and writes the eventfd
 * if anyone waits; wakeup and close also bump wake_gen.  A waiter captures
 * both when it registers.  The eventfd is level-triggered and stays readable
 * until it is drained, and it is drained only when no registered waiter
 * still holds an older wait_seq (waiters_old == 0): so every waiter that was
 * registered when a signal was sent sees the eventfd readable, however late
 * it reaches poll(), and none can lose a wakeup to another's drain.  A thread
 * that drains the doorbell passes it on to the others through that signal.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv_shared.h"
#include "omx_spin.h"

struct omx_drv_waiter {
	uint32_t seq;                 /* wait_seq when last refreshed */
	uint32_t gen;                 /* wake_gen at registration */
};

/* Called with wait_lock held. */
static void omx_drv_signal_locked(struct omx_drv_ep *ep)
{
	uint64_t one = 1;

	ep->wait_seq++;
	ep->waiters_old = ep->waiters;
	if (ep->waiters && write(ep->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the fd is readable anyway. */
	}
}

/* Called with wait_lock held. */
static void omx_drv_drain_eventfd_locked(struct omx_drv_ep *ep)
{
	uint64_t v;

	if (read(ep->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained. */
	}
}

void omx_drv_wake_all(struct omx_drv_ep *ep)
{
	pthread_mutex_lock(&ep->wait_lock);
	/* Release: a waiter that sees the new gen returns WAKEUP. */
	__atomic_store_n(&ep->wake_gen, ep->wake_gen + 1, __ATOMIC_RELEASE);
	omx_drv_signal_locked(ep);
	pthread_mutex_unlock(&ep->wait_lock);
}

/* Called after posting events, ep->lock released.  A relaxed read of waiters
 * is enough: a waiter registers before it takes ep->lock to compare indices,
 * so either it saw our events there or its registration is visible here. */
void omx_drv_kick_waiters(struct omx_drv_ep *ep)
{
	/* A shadow's waiters are its frontend's threads (omx_drv_shadow.c). */
	if (ep->shadow)
		omx_drv_shadow_ring_ep(ep);
	if (!__atomic_load_n(&ep->waiters, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&ep->wait_lock);
	if (ep->waiters)
		omx_drv_signal_locked(ep);
	pthread_mutex_unlock(&ep->wait_lock);
}

static void omx_drv_waiter_register(struct omx_drv_ep *ep, struct omx_drv_waiter *w)
{
	pthread_mutex_lock(&ep->wait_lock);
	__atomic_store_n(&ep->waiters, ep->waiters + 1, __ATOMIC_RELAXED);
	w->seq = ep->wait_seq;
	w->gen = ep->wake_gen;
	pthread_mutex_unlock(&ep->wait_lock);
}

/* Catch up with the latest signal; drain the eventfd once nobody is owed it. */
static void omx_drv_waiter_refresh(struct omx_drv_ep *ep, struct omx_drv_waiter *w)
{
	int owed;

	pthread_mutex_lock(&ep->wait_lock);
	if (w->seq != ep->wait_seq) {
		w->seq = ep->wait_seq;
		ep->waiters_old--;
	}
	owed = ep->waiters_old != 0;
	if (!owed)
		omx_drv_drain_eventfd_locked(ep);
	pthread_mutex_unlock(&ep->wait_lock);
	/* Others still have to see the signal: let them run before polling again. */
	if (owed)
		sched_yield();
}

static void omx_drv_waiter_leave(struct omx_drv_ep *ep, struct omx_drv_waiter *w)
{
	pthread_mutex_lock(&ep->wait_lock);
	__atomic_store_n(&ep->waiters, ep->waiters - 1, __ATOMIC_RELAXED);
	if (w->seq != ep->wait_seq && --ep->waiters_old == 0)
		omx_drv_drain_eventfd_locked(ep);
	if (!ep->waiters)
		ep->waiters_old = 0;
	pthread_mutex_unlock(&ep->wait_lock);
}

/* ---- conditions ------------------------------------------------------------ */

#define OMX_DRV_WAIT_NONE (-1)

/* An event at the lib's next index of either ring: what the lib would see. */
static int omx_drv_indices_moved(struct omx_drv_ep *ep, const struct omx_abi_wait *wait)
{
	return omx_eventq_peek(ep->exp_q.slots, ep->exp_q.entries, wait->next_exp_event_index) ||
	       omx_eventq_peek(ep->unexp_q.slots, ep->unexp_q.entries, wait->next_unexp_event_index);
}

/* What ends the wait now, or OMX_DRV_WAIT_NONE.  first: at entry, a moved
 * index is a RACE (the lib missed an event); later it is an EVENT. */
static int omx_drv_wait_check(struct omx_drv_ep *ep, const struct omx_abi_wait *wait,
			      const struct omx_drv_waiter *w, int first)
{
	uint64_t now, wk;

	/* Acquire pairs with the release store in omx_drv_wake_all. */
	if (__atomic_load_n(&ep->wake_gen, __ATOMIC_ACQUIRE) != w->gen ||
	    __atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) != OMX_DRV_EP_OK)
		return OMX_ABI_WAIT_WAKEUP;
	if (__atomic_load_n(&ep->desc->user_event_index, __ATOMIC_ACQUIRE) != wait->user_event_index)
		return OMX_ABI_WAIT_RACE;
	if (omx_drv_indices_moved(ep, wait))
		return first ? OMX_ABI_WAIT_RACE : OMX_ABI_WAIT_EVENT;
	now = omx_drv_now_jiffies();
	if (wait->jiffies_expire != UINT64_MAX && now >= wait->jiffies_expire)
		return OMX_ABI_WAIT_TIMEOUT;
	wk = __atomic_load_n(&ep->desc->wakeup_jiffies, __ATOMIC_RELAXED);
	if (wk && now >= wk)
		return OMX_ABI_WAIT_PROGRESS;
	return OMX_DRV_WAIT_NONE;
}

static int omx_drv_wait_timeout_ms(struct omx_drv_ep *ep, const struct omx_abi_wait *wait)
{
	uint64_t now = omx_drv_now_jiffies(), t = UINT64_MAX, wk;
	uint32_t interval = ep->board->link->poll_interval_ms;

	if (wait->jiffies_expire != UINT64_MAX)
		t = wait->jiffies_expire > now ? wait->jiffies_expire - now : 0;
	wk = __atomic_load_n(&ep->desc->wakeup_jiffies, __ATOMIC_RELAXED);
	if (wk && (wk > now ? wk - now : 0) < t)
		t = wk > now ? wk - now : 0;
	/* Pull re-requests and aborts are due while the process sleeps here. */
	wk = __atomic_load_n(&ep->pull_next_due, __ATOMIC_RELAXED);
	if (wk != UINT64_MAX && (wk > now ? wk - now : 0) < t)
		t = wk > now ? wk - now : 0;
	if (interval && interval < t)
		t = interval;
	if (t == UINT64_MAX)
		return -1;
	/* The coarse clock lags poll()'s by up to a tick: never 0, the next
	 * check decides; hz is 1000, so jiffies are milliseconds. */
	if (t == 0)
		t = 1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

/* Run the rx demux for a readable port, and the pull timers; 1 if they
 * posted events. */
static int omx_drv_wait_rx(struct omx_drv_ep *ep)
{
	int posted;

	pthread_mutex_lock(&ep->lock);
	posted = omx_drv_rx_drain_locked(ep);
	posted += omx_drv_pull_timers_locked(ep, omx_drv_now_jiffies());
	pthread_mutex_unlock(&ep->lock);
	if (posted && __atomic_load_n(&ep->waiters, __ATOMIC_RELAXED) > 1)
		omx_drv_kick_waiters(ep);
	return posted > 0;
}

/* State queries (omx_drv_get_endpoint_state) connect and never get accepted:
 * accept and drop them so the backlog stays usable. */
static void omx_drv_wait_drop_queries(struct omx_drv_ep *ep)
{
	int fd;

	if (ep->shadow) {
		omx_drv_shadow_claim_serve(ep);
		return;
	}
	while ((fd = accept4(ep->claim_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
		close(fd);
}

#define OMX_DRV_SPIN_PORT_NS 2000     /* a frame on the link waits at most this for a spinner */
#define OMX_DRV_SPIN_BURST 32         /* memory checks between two yields */

static int omx_drv_wait_spin(struct omx_drv_ep *ep, const struct omx_abi_wait *wait,
			     const struct omx_drv_waiter *w, uint32_t budget_us)
{
	struct pollfd pfd = { .fd = ep->port_fd, .events = POLLIN };
	uint64_t now = omx_clock_ns(), end = now + (uint64_t)budget_us * 1000, next_port = now;
	int st;

	for (;;) {
		for (int i = 0; i < OMX_DRV_SPIN_BURST; i++) {
			if (omx_drv_indices_moved(ep, wait))
				return OMX_ABI_WAIT_EVENT;
			omx_cpu_relax();
		}
		st = omx_drv_wait_check(ep, wait, w, 0);
		if (st != OMX_DRV_WAIT_NONE)
			return st;
		now = omx_clock_ns();
		if (now >= next_port) {
			next_port = now + OMX_DRV_SPIN_PORT_NS;
			if (poll(&pfd, 1, 0) > 0 && omx_drv_wait_rx(ep))
				return OMX_ABI_WAIT_EVENT;
		}
		if (now >= end)
			return OMX_DRV_WAIT_NONE;
		/* Let a peer that shares our processor run (see the top). */
		sched_yield();
	}
}

static int omx_drv_wait_block(struct omx_drv_ep *ep, const struct omx_abi_wait *wait,
			      struct omx_drv_waiter *w)
{
	struct pollfd pfd[4];
	int st, r, timeout;

	for (;;) {
		timeout = omx_drv_wait_timeout_ms(ep, wait);
		pfd[0] = (struct pollfd){ .fd = ep->port_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = ep->wake_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = ep->claim_fd, .events = POLLIN };
		pfd[3] = (struct pollfd){ .fd = ep->bell_fd, .events = POLLIN };
		/* Seq-cst increment, then the re-check: pairs with the producer's
		 * fence between its publish and its read of sleepers, so either
		 * the check sees the event or the producer rings (omx_drv_sdest_ring). */
		__atomic_fetch_add(&ep->shm->sleepers, 1, __ATOMIC_SEQ_CST);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		st = omx_drv_wait_check(ep, wait, w, 0);
		r = st == OMX_DRV_WAIT_NONE ? poll(pfd, 4, timeout) : 0;
		/* Awake again: producers stop ringing (a late ring only costs a poll). */
		__atomic_fetch_sub(&ep->shm->sleepers, 1, __ATOMIC_RELEASE);
		if (st != OMX_DRV_WAIT_NONE)
			return st;
		if (r < 0) {
			if (errno == EINTR)
				return OMX_ABI_WAIT_INTR;
			return OMX_ABI_EIO;
		}
		if (pfd[2].revents)
			omx_drv_wait_drop_queries(ep);
		/* Another thread of ours may sleep on the same doorbell: pass it on. */
		if (pfd[3].revents && omx_drv_shared_bell_drain(ep) &&
		    __atomic_load_n(&ep->waiters, __ATOMIC_RELAXED) > 1)
			omx_drv_kick_waiters(ep);
		/* A link that holds frames (poll_interval_ms) must be called on time
		 * even when its fd stays quiet, and pull timers may be due, so a
		 * timeout runs rx too. */
		if ((pfd[0].revents || r == 0) && omx_drv_wait_rx(ep))
			return OMX_ABI_WAIT_EVENT;
		omx_drv_shared_tick(ep);
		st = omx_drv_wait_check(ep, wait, w, 0);
		if (st != OMX_DRV_WAIT_NONE)
			return st;
		if (pfd[1].revents)
			omx_drv_waiter_refresh(ep, w);
	}
}

/* The next spin budget from how this wait ended (see the top). */
static void omx_drv_wait_adapt(struct omx_drv_ep *ep, uint32_t budget, int spun_out, int st,
			       uint64_t blocked_ns)
{
	uint32_t next;

	if (st != OMX_ABI_WAIT_EVENT)
		return;
	next = omx_waitspin_next(budget, ep->drv->cfg.waitspin_us, spun_out, blocked_ns);
	if (next != budget)
		__atomic_store_n(&ep->waitspin_us, next, __ATOMIC_RELAXED);
}

int omx_drv_wait_event(struct omx_abi_driver *d, uint32_t handle, struct omx_abi_wait *wait)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	struct omx_drv_waiter w;
	uint32_t budget;
	uint64_t t0 = 0;
	int st, spun_out = 0;

	if (!ep)
		return OMX_ABI_EINVAL;
	/* Register before the first check: a wakeup after this point is seen
	 * either by the check (gen moved) or by poll (eventfd readable). */
	omx_drv_waiter_register(ep, &w);
	budget = __atomic_load_n(&ep->waitspin_us, __ATOMIC_RELAXED);
	st = omx_drv_wait_check(ep, wait, &w, 1);
	if (st == OMX_DRV_WAIT_NONE && budget)
		st = omx_drv_wait_spin(ep, wait, &w, budget);
	if (st == OMX_DRV_WAIT_NONE) {
		spun_out = 1;
		t0 = omx_clock_ns();
		st = omx_drv_wait_block(ep, wait, &w);
	}
	omx_drv_wait_adapt(ep, budget, spun_out, st, spun_out ? omx_clock_ns() - t0 : 0);
	omx_drv_waiter_leave(ep, &w);
	omx_drv_ep_put(ep);
	if (st < 0)
		return st;
	wait->status = (uint32_t)st;
	return 0;
}

int omx_drv_wakeup(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);

	if (!ep)
		return OMX_ABI_EINVAL;
	omx_drv_wake_all(ep);
	omx_drv_ep_put(ep);
	return 0;
}
