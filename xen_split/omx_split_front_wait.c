/*
 * omx_split_front_wait.c - sleeping on an endpoint: wait_event and wakeup.
 *
 * The backend's engine writes events straight into the area, so a waiter
 * first spins on the event queues in memory (yielding between bursts: on
 * two cores the backend may need our processor), with a budget that adapts
 * per endpoint as the direct driver's does.  Then it blocks: increment the
 * area's `sleepers`, full fence, re-check, poll() the endpoint's event
 * channel (written by the backend only while sleepers != 0) and its local
 * wakeup eventfd, with the timeout of the lib's deadline and of
 * desc->wakeup_jiffies.  A backend that posted between our re-check and our
 * poll saw sleepers != 0 and wrote the event channel.
 *
 * Local wakeups (omx_wakeup, close, backend death) bump wake_gen and
 * wait_seq under wait_lock and write wake_fd while waiters exist.  wake_fd
 * is drained only once no registered waiter still holds an older wait_seq,
 * so no waiter can lose a wakeup to another's drain (the direct driver's
 * rule, omx_drv_wait.c).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "omx_eventq.h"
#include "omx_split_front_priv.h"

struct omx_split_front_waiter {
	uint32_t seq;
	uint32_t gen;
};

#define OMX_SPLIT_FRONT_WAIT_NONE (-1)
#define OMX_SPLIT_FRONT_WAIT_BURST 32

/* Called with wait_lock held. */
static void omx_split_front_signal_locked(struct omx_split_front_ep *ep)
{
	uint64_t one = 1;

	ep->wait_seq++;
	ep->waiters_old = ep->waiters;
	if (ep->waiters && write(ep->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: saturated, readable anyway */
	}
}

static void omx_split_front_drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained */
	}
}

void omx_split_front_ep_wake_all(struct omx_split_front_ep *ep)
{
	pthread_mutex_lock(&ep->wait_lock);
	/* Release: a waiter that acquires the new gen returns WAKEUP. */
	__atomic_store_n(&ep->wake_gen, ep->wake_gen + 1, __ATOMIC_RELEASE);
	omx_split_front_signal_locked(ep);
	pthread_mutex_unlock(&ep->wait_lock);
}

static void omx_split_front_waiter_register(struct omx_split_front_ep *ep, struct omx_split_front_waiter *w)
{
	pthread_mutex_lock(&ep->wait_lock);
	ep->waiters++;
	w->seq = ep->wait_seq;
	w->gen = ep->wake_gen;
	pthread_mutex_unlock(&ep->wait_lock);
}

static void omx_split_front_waiter_refresh(struct omx_split_front_ep *ep, struct omx_split_front_waiter *w)
{
	int owed;

	pthread_mutex_lock(&ep->wait_lock);
	if (w->seq != ep->wait_seq) {
		w->seq = ep->wait_seq;
		ep->waiters_old--;
	}
	owed = ep->waiters_old != 0;
	if (!owed)
		omx_split_front_drain(ep->wake_fd);
	pthread_mutex_unlock(&ep->wait_lock);
	if (owed)
		sched_yield();
}

static void omx_split_front_waiter_leave(struct omx_split_front_ep *ep, struct omx_split_front_waiter *w)
{
	pthread_mutex_lock(&ep->wait_lock);
	ep->waiters--;
	if (w->seq != ep->wait_seq && --ep->waiters_old == 0)
		omx_split_front_drain(ep->wake_fd);
	if (!ep->waiters)
		ep->waiters_old = 0;
	pthread_mutex_unlock(&ep->wait_lock);
}

/* ---- conditions -------------------------------------------------------------- */

static int omx_split_front_indices_moved(const struct omx_split_front_ep *ep, const struct omx_abi_wait *wait)
{
	const union omx_abi_event *exp = (const void *)(ep->area + ep->layout.exp_eventq_offset);
	const union omx_abi_event *unexp = (const void *)(ep->area + ep->layout.unexp_eventq_offset);

	return omx_eventq_peek(exp, ep->layout.eventq_entries, wait->next_exp_event_index) ||
	       omx_eventq_peek(unexp, ep->layout.eventq_entries, wait->next_unexp_event_index);
}

static int omx_split_front_wait_check(struct omx_split_front_ep *ep, const struct omx_abi_wait *wait,
				      const struct omx_split_front_waiter *w, int first)
{
	uint64_t now, wk;

	/* Acquire pairs with the release in omx_split_front_ep_wake_all. */
	if (__atomic_load_n(&ep->wake_gen, __ATOMIC_ACQUIRE) != w->gen ||
	    __atomic_load_n(&ep->state, __ATOMIC_SEQ_CST) != OMX_SPLIT_FRONT_EP_OPEN)
		return OMX_ABI_WAIT_WAKEUP;
	if (__atomic_load_n(&ep->desc->user_event_index, __ATOMIC_ACQUIRE) != wait->user_event_index)
		return OMX_ABI_WAIT_RACE;
	if (omx_split_front_indices_moved(ep, wait))
		return first ? OMX_ABI_WAIT_RACE : OMX_ABI_WAIT_EVENT;
	now = omx_split_front_jiffies_now();
	if (wait->jiffies_expire != UINT64_MAX && now >= wait->jiffies_expire)
		return OMX_ABI_WAIT_TIMEOUT;
	/* Relaxed: a deadline the lib set late only moves the next check. */
	wk = __atomic_load_n(&ep->desc->wakeup_jiffies, __ATOMIC_RELAXED);
	if (wk && now >= wk)
		return OMX_ABI_WAIT_PROGRESS;
	return OMX_SPLIT_FRONT_WAIT_NONE;
}

static int omx_split_front_wait_timeout_ms(struct omx_split_front_ep *ep, const struct omx_abi_wait *wait)
{
	uint64_t now = omx_split_front_jiffies_now(), t = UINT64_MAX, wk;

	if (wait->jiffies_expire != UINT64_MAX)
		t = wait->jiffies_expire > now ? wait->jiffies_expire - now : 0;
	wk = __atomic_load_n(&ep->desc->wakeup_jiffies, __ATOMIC_RELAXED);
	if (wk && (wk > now ? wk - now : 0) < t)
		t = wk > now ? wk - now : 0;
	if (t == UINT64_MAX)
		return -1;
	/* The coarse clock lags poll()'s: never 0, the next check decides. */
	if (t == 0)
		t = 1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

static int omx_split_front_wait_spin(struct omx_split_front_ep *ep, const struct omx_abi_wait *wait,
				     const struct omx_split_front_waiter *w, uint32_t budget_us)
{
	uint64_t end = omx_clock_ns() + (uint64_t)budget_us * 1000;
	int st;

	for (;;) {
		for (int i = 0; i < OMX_SPLIT_FRONT_WAIT_BURST; i++) {
			if (omx_split_front_indices_moved(ep, wait))
				return OMX_ABI_WAIT_EVENT;
			omx_cpu_relax();
		}
		st = omx_split_front_wait_check(ep, wait, w, 0);
		if (st != OMX_SPLIT_FRONT_WAIT_NONE)
			return st;
		if (omx_clock_ns() >= end)
			return OMX_SPLIT_FRONT_WAIT_NONE;
		sched_yield();
	}
}

static int omx_split_front_wait_block(struct omx_split_front_ep *ep, const struct omx_abi_wait *wait,
				      struct omx_split_front_waiter *w)
{
	struct pollfd pfd[2];
	int st, r;

	for (;;) {
		int timeout = omx_split_front_wait_timeout_ms(ep, wait);

		pfd[0] = (struct pollfd){ .fd = ep->evt_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = ep->wake_fd, .events = POLLIN };
		/* Seq-cst increment and fence, then the re-check: pairs with the
		 * engine's fence between publishing and reading sleepers. */
		__atomic_fetch_add(ep->sleepers, 1, __ATOMIC_SEQ_CST);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		st = omx_split_front_wait_check(ep, wait, w, 0);
		r = st == OMX_SPLIT_FRONT_WAIT_NONE ? poll(pfd, 2, timeout) : 0;
		__atomic_fetch_sub(ep->sleepers, 1, __ATOMIC_RELEASE);
		if (st != OMX_SPLIT_FRONT_WAIT_NONE)
			return st;
		if (r < 0)
			return errno == EINTR ? OMX_ABI_WAIT_INTR : OMX_ABI_EIO;
		/* Late rings after we stopped sleeping only cost one more pass. */
		if (pfd[0].revents)
			omx_split_front_drain(ep->evt_fd);
		st = omx_split_front_wait_check(ep, wait, w, 0);
		if (st != OMX_SPLIT_FRONT_WAIT_NONE)
			return st;
		if (pfd[1].revents)
			omx_split_front_waiter_refresh(ep, w);
	}
}

/* Next spin budget (omx_spin.h's rule). */
static void omx_split_front_wait_adapt(struct omx_split_front_ep *ep, uint32_t budget, int spun_out, int st,
				       uint64_t blocked_ns)
{
	uint32_t next;

	if (st != OMX_ABI_WAIT_EVENT)
		return;
	next = omx_waitspin_next(budget, ep->f->waitspin_us, spun_out, blocked_ns);
	if (next != budget)
		__atomic_store_n(&ep->waitspin_us, next, __ATOMIC_RELAXED);
}

int omx_split_front_wait_event(struct omx_abi_driver *d, uint32_t handle, struct omx_abi_wait *wait)
{
	struct omx_split_front_ep *ep = omx_split_front_ep_get(omx_split_front_of(d), handle);
	struct omx_split_front_waiter w;
	uint64_t t0 = 0;
	uint32_t budget;
	int st, spun_out = 0;

	if (!ep)
		return OMX_ABI_EINVAL;
	/* The lib comes back here at least at every resend deadline. */
	omx_split_front_stall_check(ep->f);
	/* Register before the first check: a later wakeup moves gen or makes
	 * wake_fd readable. */
	omx_split_front_waiter_register(ep, &w);
	budget = __atomic_load_n(&ep->waitspin_us, __ATOMIC_RELAXED);
	st = omx_split_front_wait_check(ep, wait, &w, 1);
	if (st == OMX_SPLIT_FRONT_WAIT_NONE && budget)
		st = omx_split_front_wait_spin(ep, wait, &w, budget);
	if (st == OMX_SPLIT_FRONT_WAIT_NONE) {
		spun_out = 1;
		t0 = omx_clock_ns();
		st = omx_split_front_wait_block(ep, wait, &w);
	}
	omx_split_front_wait_adapt(ep, budget, spun_out, st, spun_out ? omx_clock_ns() - t0 : 0);
	omx_split_front_waiter_leave(ep, &w);
	omx_split_front_ep_put(ep);
	if (st < 0)
		return st;
	wait->status = (uint32_t)st;
	return 0;
}

int omx_split_front_wakeup(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_split_front_ep *ep = omx_split_front_ep_get(omx_split_front_of(d), handle);

	if (!ep)
		return OMX_ABI_EINVAL;
	omx_split_front_ep_wake_all(ep);
	omx_split_front_ep_put(ep);
	return 0;
}

/* ---- polling loops --------------------------------------------------------------- */

/* Move the scan cursors over what the engine published; 1 if anything. */
static int omx_split_front_scan(struct omx_split_front_ep *ep)
{
	const union omx_abi_event *exp = (const void *)(ep->area + ep->layout.exp_eventq_offset);
	const union omx_abi_event *unexp = (const void *)(ep->area + ep->layout.unexp_eventq_offset);
	uint32_t n = ep->layout.eventq_entries, e = ep->scan_exp, u = ep->scan_unexp;

	/* The producer runs at most one ring ahead of the lib, which drains
	 * after every progress call: a cursor never falls a lap behind. */
	while (omx_eventq_peek(exp, n, e))
		e++;
	while (omx_eventq_peek(unexp, n, u))
		u++;
	if (e == ep->scan_exp && u == ep->scan_unexp)
		return 0;
	ep->scan_exp = e;
	ep->scan_unexp = u;
	return 1;
}

/* Sleep on the event channel for at most OMX_SPLIT_FRONT_NAP_NS. */
static void omx_split_front_nap(struct omx_split_front_ep *ep)
{
	struct timespec ts = { 0, OMX_SPLIT_FRONT_NAP_NS };
	struct pollfd pfd = { .fd = ep->evt_fd, .events = POLLIN };

	/* The sleepers protocol of wait_event: increment, fence, re-check. */
	__atomic_fetch_add(ep->sleepers, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!omx_split_front_scan(ep) && ppoll(&pfd, 1, &ts, NULL) > 0)
		omx_split_front_drain(ep->evt_fd);
	__atomic_fetch_sub(ep->sleepers, 1, __ATOMIC_RELEASE);
}

/*
 * The engine runs in the backend: nothing to move here.  But an application
 * polling omx_test in a loop would spin on its processor without a syscall
 * while the backend needs a processor to bring its events (two cores).  So
 * back-to-back calls that see no new event first yield the processor, and
 * once the queues stayed empty for the wait spin budget, nap on the event
 * channel (woken by the next event, as a blocked wait is).
 */
int omx_split_front_progress(struct omx_abi_driver *d, uint32_t handle)
{
	struct omx_split_front_ep *ep = omx_split_front_ep_get(omx_split_front_of(d), handle);
	uint64_t now;

	if (!ep)
		return 0;
	now = omx_clock_ns();
	if (omx_split_front_scan(ep) || now - ep->last_poll_ns > OMX_SPLIT_FRONT_POLL_GAP_NS) {
		ep->polls = 0;
		ep->idle_since_ns = now;
	} else if (++ep->polls >= OMX_SPLIT_FRONT_POLLS_BEFORE_YIELD) {
		if (now - ep->idle_since_ns > (uint64_t)ep->f->waitspin_us * 1000) {
			omx_split_front_stall_check(ep->f);
			omx_split_front_nap(ep);
		} else
			sched_yield();
		now = omx_clock_ns();
	}
	ep->last_poll_ns = now;
	omx_split_front_ep_put(ep);
	return 0;
}
