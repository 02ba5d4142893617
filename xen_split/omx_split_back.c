/*
 * omx_split_back.c - the backend's loop: one thread, one epoll set over
 * the listening socket, every frontend's bus socket and kick eventfd, and
 * every shadow endpoint's link port, doorbell and claim.
 *
 * A pass waits for readiness (or not at all), serves the bus, the shadow
 * endpoints whose fds are readable and the engine timers that are due,
 * then each frontend's ring, at most cfg.budget requests each, starting
 * with a different frontend every pass (round robin): a flooding frontend
 * gets its budget and no more while the others are served.
 *
 * Spin then block (2 cores): after work the loop keeps looking for
 * spin_us, the rings in memory and the fds every few microseconds,
 * yielding the processor often (the frontend or its peer may need it),
 * then arms every ring's req_event (omx_split_back_final_check: a request
 * published after that kicks) and blocks in epoll until a kick, a frame, a
 * bus message or the next engine timer.  The spin adapts: a quick wake-up
 * after blocking restores it, long sleeps halve it.  While a shadow has
 * pulls in flight the loop spins longer: its replies arrive in bursts that
 * overflow a socket buffer nobody drains.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "omx_split_back_priv.h"
#include "omx_spin.h"

#define OMX_SPLIT_BACK_EVENTS 64
#define OMX_SPLIT_BACK_BLOCK_MAX_MS 1000
#define OMX_SPLIT_BACK_PULL_SPIN_US 1000
#define OMX_SPLIT_BACK_SPIN_BURST 2        /* ring checks between two yields (2 cores: yield often) */
#define OMX_SPLIT_BACK_SPIN_POLL_US 2      /* a frame waits at most this for a spinner */

void omx_split_back_log(struct omx_split_back *b, const char *fmt, ...)
{
	FILE *f = b->cfg.log ? b->cfg.log : stderr;
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(f, "omx_backend: %s\n", line);
	fflush(f);
}

uint64_t omx_split_back_now_ms(void)
{
	return omx_drv_now_ms();
}

int omx_split_back_epoll_add(struct omx_split_back *b, int fd, struct omx_split_back_src *src)
{
	/* Kicks are edge-triggered: the eventfd's wait queue fires on every
	 * write, and the ring, not the counter, says what there is to do, so
	 * the counter is never read (a frontend that saturates it only stops
	 * its own kicks).  The rest is level-triggered: served until empty. */
	struct epoll_event ev = {
		.events = EPOLLIN | (src->kind == OMX_SPLIT_BACK_SRC_KICK ? EPOLLET : 0),
		.data.ptr = src,
	};

	return epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -1 : 0;
}

void omx_split_back_epoll_del(struct omx_split_back *b, int fd)
{
	(void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- configuration ------------------------------------------------------------- */

void omx_split_back_config_init(struct omx_split_back_config *c)
{
	memset(c, 0, sizeof(*c));
	c->boards_mask = UINT32_MAX;
	memset(c->endpoints, 0xff, sizeof(c->endpoints));
	c->admin_uid = 0;
	c->budget = 16;
	c->error_limit = 1000;
	c->frontends_max = 256;
	c->handshake_ms = 10000;
	c->spin_us = 100;
}

int omx_split_back_parse_ranges(const char *s, uint64_t *bits, uint32_t max)
{
	memset(bits, 0, (max + 63) / 64 * sizeof(uint64_t));
	while (*s) {
		char *end;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;

		if (end == s || lo >= max)
			return OMX_ABI_EINVAL;
		s = end;
		if (*s == '-') {
			hi = strtoul(++s, &end, 10);
			if (end == s || hi >= max || hi < lo)
				return OMX_ABI_EINVAL;
			s = end;
		}
		for (unsigned long i = lo; i <= hi; i++)
			bits[i / 64] |= 1ull << (i % 64);
		if (*s == ',')
			s++;
		else if (*s)
			return OMX_ABI_EINVAL;
	}
	return 0;
}

/* ---- create / destroy ------------------------------------------------------------- */

static int omx_split_back_listen(struct omx_split_back *b)
{
	struct sockaddr_un sa;
	struct stat st;

	if (strlen(b->path) >= sizeof(sa.sun_path))
		return OMX_ABI_EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, b->path, strlen(b->path));
	/* A stale socket of a dead backend; never any other file. */
	if (lstat(b->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return OMX_ABI_EBUSY;
		unlink(b->path);
	}
	b->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (b->listen_fd < 0)
		return OMX_ABI_ENOMEM;
	if (bind(b->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		omx_split_back_log(b, "cannot bind %s: %s", b->path, strerror(errno));
		return OMX_ABI_EIO;
	}
	/* Anyone may knock: SO_PEERCRED and the policy decide who gets in. */
	chmod(b->path, 0666);
	if (listen(b->listen_fd, 64) < 0)
		return OMX_ABI_EIO;
	b->listen_src = (struct omx_split_back_src){ OMX_SPLIT_BACK_SRC_LISTEN, 0, b };
	return omx_split_back_epoll_add(b, b->listen_fd, &b->listen_src) ? OMX_ABI_ENOMEM : 0;
}

int omx_split_back_create(const struct omx_split_back_config *c, struct omx_split_back **out)
{
	struct omx_split_back *b;
	int err;

	if (!c->socket_path || !*c->socket_path || !c->budget)
		return OMX_ABI_EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return OMX_ABI_ENOMEM;
	b->cfg = *c;
	b->listen_fd = b->epfd = -1;
	omx_list_init(&b->fes);
	omx_list_init(&b->ready);
	b->spin_us = c->spin_us;
	b->path = strdup(c->socket_path);
	if (!b->path) {
		err = OMX_ABI_ENOMEM;
		goto err;
	}
	if (c->drv) {
		b->drv = c->drv;
	} else {
		err = omx_drv_direct_open(&b->drv);
		if (err)
			goto err;
		b->own_drv = 1;
	}
	b->ops = b->drv->ops;
	err = b->ops->get_info(b->drv, &b->info);
	if (!err)
		err = omx_drv_shadow_host_init(b->drv);
	if (err)
		goto err;
	b->nr_handles = b->info.board_count * b->info.endpoint_max;
	b->eps = calloc(b->nr_handles ? b->nr_handles : 1, sizeof(*b->eps));
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!b->eps || b->epfd < 0) {
		err = OMX_ABI_ENOMEM;
		goto err;
	}
	err = omx_split_back_listen(b);
	if (err)
		goto err;
	*out = b;
	return 0;
err:
	omx_split_back_destroy(b);
	return err;
}

void omx_split_back_destroy(struct omx_split_back *b)
{
	if (!b)
		return;
	while (!omx_list_empty(&b->fes)) {
		struct omx_split_back_fe *fe = omx_list_first_entry(&b->fes, struct omx_split_back_fe, entry);

		if (!fe->dead)
			snprintf(fe->why, sizeof(fe->why), "backend shutting down");
		omx_split_back_fe_destroy(fe);
	}
	if (b->listen_fd >= 0) {
		close(b->listen_fd);
		unlink(b->path);
	}
	if (b->epfd >= 0)
		close(b->epfd);
	if (b->own_drv)
		b->ops->close(b->drv);
	free(b->eps);
	free(b->path);
	free(b);
}

void omx_split_back_get_stats(const struct omx_split_back *b, struct omx_split_back_stats *out)
{
	*out = b->st;
}

int omx_split_back_fd(const struct omx_split_back *b)
{
	return b->epfd;
}

/* ---- one pass ------------------------------------------------------------------------ */

static void omx_split_back_event(struct omx_split_back *b, const struct epoll_event *ev)
{
	struct omx_split_back_src *src = ev->data.ptr;
	struct omx_split_back_fe *fe;
	struct omx_split_back_ep *ep;

	switch (src->kind) {
	case OMX_SPLIT_BACK_SRC_LISTEN:
		omx_split_back_accept(b);
		break;
	case OMX_SPLIT_BACK_SRC_BUS:
		fe = src->obj;
		if (!fe->dead)
			omx_split_back_bus_ready(fe);
		break;
	case OMX_SPLIT_BACK_SRC_KICK:
		/* The ring pass below serves it (edge-triggered, never read). */
		break;
	case OMX_SPLIT_BACK_SRC_SHADOW:
		ep = src->obj;
		if (!ep->ready)
			omx_list_add_tail(&ep->ready_entry, &b->ready);
		ep->ready |= src->bit;
		break;
	}
}

/* Every ring, budget requests each, from a new first frontend each pass. */
static uint32_t omx_split_back_rings(struct omx_split_back *b)
{
	struct omx_list *pos;
	uint32_t total = 0;

	omx_list_for_each(pos, &b->fes) {
		struct omx_split_back_fe *fe = omx_list_entry(pos, struct omx_split_back_fe, entry);

		total += omx_split_back_ring_serve(fe, b->cfg.budget);
	}
	if (!omx_list_empty(&b->fes)) {
		struct omx_list *first = b->fes.next;

		omx_list_del(first);
		omx_list_add_tail(first, &b->fes);
	}
	if (total)
		b->next_due = 0;     /* commands may have started timers */
	return total;
}

static void omx_split_back_reap(struct omx_split_back *b)
{
	struct omx_list *pos, *tmp;

	omx_list_for_each_safe(pos, tmp, &b->fes) {
		struct omx_split_back_fe *fe = omx_list_entry(pos, struct omx_split_back_fe, entry);

		if (fe->dead)
			omx_split_back_fe_destroy(fe);
	}
}

int omx_split_back_poll(struct omx_split_back *b, int timeout_ms)
{
	struct epoll_event evs[OMX_SPLIT_BACK_EVENTS];
	uint32_t work = 0;
	uint64_t now;
	int n;

	n = epoll_wait(b->epfd, evs, OMX_SPLIT_BACK_EVENTS, timeout_ms);
	if (n < 0 && errno != EINTR)
		return OMX_ABI_EIO;
	/* Shadow readiness first: a bus message below may close endpoints
	 * (Closing, the last requests of a dead frontend), which unlinks them
	 * from the ready list; no later event of this batch may name them. */
	for (int i = 0; i < n; i++)
		if (((struct omx_split_back_src *)evs[i].data.ptr)->kind == OMX_SPLIT_BACK_SRC_SHADOW)
			omx_split_back_event(b, &evs[i]);
	for (int i = 0; i < n; i++)
		if (((struct omx_split_back_src *)evs[i].data.ptr)->kind != OMX_SPLIT_BACK_SRC_SHADOW)
			omx_split_back_event(b, &evs[i]);
	if (n > 0)
		work += (uint32_t)n;
	now = omx_split_back_now_ms();
	if (b->accept_paused && now >= b->accept_paused && !omx_split_back_epoll_add(b, b->listen_fd, &b->listen_src))
		b->accept_paused = 0;
	work += omx_split_back_eps_serve(b, now);
	work += omx_split_back_rings(b);
	omx_split_back_check_deadlines(b, now);
	omx_split_back_reap(b);
	return (int)(work > INT32_MAX ? INT32_MAX : work);
}

/* ---- the loop ------------------------------------------------------------------------- */

/* Arm every ring; 0 when one already has requests (do not sleep). */
static int omx_split_back_arm(struct omx_split_back *b)
{
	struct omx_list *pos;
	int idle = 1;

	omx_list_for_each(pos, &b->fes) {
		struct omx_split_back_fe *fe = omx_list_entry(pos, struct omx_split_back_fe, entry);

		/* A request waiting for resources (retry) is tried again when
		 * the block times out (1 ms), not in a hot loop. */
		if (omx_split_back_ring_final_check(fe) == 0)
			idle = 0;
	}
	return idle && omx_list_empty(&b->ready);
}

static int omx_split_back_block_ms(struct omx_split_back *b)
{
	uint64_t now = omx_split_back_now_ms(), t = OMX_SPLIT_BACK_BLOCK_MAX_MS;
	struct omx_list *pos;

	if (b->next_due != UINT64_MAX)
		t = b->next_due > now ? b->next_due - now : 0;
	if (b->accept_paused && (b->accept_paused > now ? b->accept_paused - now : 0) < t)
		t = b->accept_paused > now ? b->accept_paused - now : 0;
	omx_list_for_each(pos, &b->fes) {
		struct omx_split_back_fe *fe = omx_list_entry(pos, struct omx_split_back_fe, entry);

		if (fe->retry && t > 1)
			t = 1;
		if (fe->state != OMX_SPLIT_STATE_CONNECTED && fe->deadline > now && fe->deadline - now < t)
			t = fe->deadline - now + 1;
	}
	return t > OMX_SPLIT_BACK_BLOCK_MAX_MS ? OMX_SPLIT_BACK_BLOCK_MAX_MS : (int)t;
}

/* Requests published on any ring (memory only, no syscall). */
static int omx_split_back_rings_pending(struct omx_split_back *b)
{
	struct omx_list *pos;

	omx_list_for_each(pos, &b->fes) {
		struct omx_split_back_fe *fe = omx_list_entry(pos, struct omx_split_back_fe, entry);

		if (fe->state == OMX_SPLIT_STATE_CONNECTED && !fe->dead &&
		    omx_split_back_unconsumed_requests(&fe->ring) != 0)
			return 1;
	}
	return 0;
}

/* Spin until spin_us after idle_since: rings checked in memory in bursts,
 * the fds (epoll) every OMX_SPLIT_BACK_SPIN_POLL_US, the processor yielded
 * between bursts.  Returns > 0 when work was found, 0 when the spin ran
 * out, < 0 on an error. */
static int omx_split_back_spin(struct omx_split_back *b, volatile int *stop, uint64_t idle_since, uint32_t spin_us)
{
	uint64_t now = omx_clock_us(), next_poll = now;
	int r;

	while (!*stop && now - idle_since < spin_us) {
		for (int i = 0; i < OMX_SPLIT_BACK_SPIN_BURST; i++) {
			if (omx_split_back_rings_pending(b))
				return omx_split_back_poll(b, 0) < 0 ? OMX_ABI_EIO : 1;
			omx_cpu_relax();
		}
		now = omx_clock_us();
		if (now >= next_poll) {
			next_poll = now + OMX_SPLIT_BACK_SPIN_POLL_US;
			r = omx_split_back_poll(b, 0);
			if (r)
				return r;
		}
		/* Let a frontend or its peer that shares our processor run. */
		sched_yield();
		now = omx_clock_us();
	}
	return 0;
}

int omx_split_back_run(struct omx_split_back *b, volatile int *stop)
{
	uint64_t idle_since = omx_clock_us(), t0;
	int r;

	while (!*stop) {
		/* Pull replies pour in: sleeping would let the port's buffer overflow. */
		uint32_t spin = b->pulling ? OMX_SPLIT_BACK_PULL_SPIN_US : b->spin_us;

		r = omx_split_back_poll(b, 0);
		if (r == 0 && spin)
			r = omx_split_back_spin(b, stop, idle_since, spin);
		if (r < 0)
			return r;
		if (r > 0) {
			idle_since = omx_clock_us();
			continue;
		}
		if (*stop)
			break;
		if (!omx_split_back_arm(b)) {
			r = omx_split_back_poll(b, 0);
			if (r < 0)
				return r;
			idle_since = omx_clock_us();
			continue;
		}
		t0 = omx_clock_us();
		r = omx_split_back_poll(b, omx_split_back_block_ms(b));
		if (r < 0)
			return r;
		/* Adapt: a quick wake-up deserved the spin, a long sleep did not. */
		if (r > 0 && omx_clock_us() - t0 <= b->cfg.spin_us)
			b->spin_us = b->cfg.spin_us;
		else if (b->spin_us > 1)
			b->spin_us /= 2;
		idle_since = omx_clock_us();
	}
	return 0;
}
