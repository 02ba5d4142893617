/*
 * omx_drv_wait.c - sleeping on an endpoint: wait_event and wakeup.
 *
 * A waiter spins briefly (OMX_WAITSPIN_US), then blocks in poll() on the
 * port, the endpoint's eventfd and its claim socket, never holding ep->lock.
 *
 * Wakeup protocol.  Every signal (wakeup, close, events posted by another
 * thread's progress) bumps wait_seq under wait_lock and writes the eventfd
 * if anyone waits; wakeup and close also bump wake_gen.  A waiter captures
 * both when it registers.  The eventfd is level-triggered and stays readable
 * until it is drained, and it is drained only when no registered waiter
 * still holds an older wait_seq (waiters_old == 0): so every waiter that was
 * registered when a signal was sent sees the eventfd readable, however late
 * it reaches poll(), and none can lose a wakeup to another's drain.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv.h"

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

static int omx_drv_indices_moved(struct omx_drv_ep *ep, const struct omx_abi_wait *wait)
{
	int moved;

	pthread_mutex_lock(&ep->lock);
	moved = ep->exp_q.next != wait->next_exp_event_index ||
		ep->unexp_q.next != wait->next_unexp_event_index;
	pthread_mutex_unlock(&ep->lock);
	return moved;
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

	while ((fd = accept4(ep->claim_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
		close(fd);
}

static uint64_t omx_drv_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int omx_drv_wait_spin(struct omx_drv_ep *ep, const struct omx_abi_wait *wait,
			     const struct omx_drv_waiter *w)
{
	uint64_t end = omx_drv_now_us() + ep->drv->cfg.waitspin_us;
	struct pollfd pfd = { .fd = ep->port_fd, .events = POLLIN };
	int st;

	while (omx_drv_now_us() < end) {
		if (poll(&pfd, 1, 0) > 0 && omx_drv_wait_rx(ep))
			return OMX_ABI_WAIT_EVENT;
		st = omx_drv_wait_check(ep, wait, w, 0);
		if (st != OMX_DRV_WAIT_NONE)
			return st;
	}
	return OMX_DRV_WAIT_NONE;
}

static int omx_drv_wait_block(struct omx_drv_ep *ep, const struct omx_abi_wait *wait,
			      struct omx_drv_waiter *w)
{
	struct pollfd pfd[3];
	int st, r, timeout;

	for (;;) {
		timeout = omx_drv_wait_timeout_ms(ep, wait);
		pfd[0] = (struct pollfd){ .fd = ep->port_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = ep->wake_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = ep->claim_fd, .events = POLLIN };
		r = poll(pfd, 3, timeout);
		if (r < 0) {
			if (errno == EINTR)
				return OMX_ABI_WAIT_INTR;
			return OMX_ABI_EIO;
		}
		if (pfd[2].revents)
			omx_drv_wait_drop_queries(ep);
		/* A link that holds frames (poll_interval_ms) must be called on time
		 * even when its fd stays quiet, and pull timers may be due, so a
		 * timeout runs rx too. */
		if ((pfd[0].revents || r == 0) && omx_drv_wait_rx(ep))
			return OMX_ABI_WAIT_EVENT;
		st = omx_drv_wait_check(ep, wait, w, 0);
		if (st != OMX_DRV_WAIT_NONE)
			return st;
		if (pfd[1].revents)
			omx_drv_waiter_refresh(ep, w);
	}
}

int omx_drv_wait_event(struct omx_abi_driver *d, uint32_t handle, struct omx_abi_wait *wait)
{
	struct omx_drv_ep *ep = omx_drv_ep_get(omx_drv_of(d), handle);
	struct omx_drv_waiter w;
	int st;

	if (!ep)
		return OMX_ABI_EINVAL;
	/* Register before the first check: a wakeup after this point is seen
	 * either by the check (gen moved) or by poll (eventfd readable). */
	omx_drv_waiter_register(ep, &w);
	st = omx_drv_wait_check(ep, wait, &w, 1);
	if (st == OMX_DRV_WAIT_NONE)
		st = omx_drv_wait_spin(ep, wait, &w);
	if (st == OMX_DRV_WAIT_NONE)
		st = omx_drv_wait_block(ep, wait, &w);
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
