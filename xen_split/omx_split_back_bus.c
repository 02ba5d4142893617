/*
 * omx_split_back_bus.c - the bus (xenbus/xenstore role) on the backend's
 * side: accept, the access policy, the state walk, memory objects and
 * event channels, and the teardown of a frontend.
 *
 *   Unknown --Initialising--> (policy) --REFUSED--> gone
 *      |                         |
 *      |                         +--> InitWait --RING--> (ring mapped)
 *      |                                               --Initialised--> Connected
 *   Connected: MEM_ADD/DEL, EVTCHN_ADD/DEL (each ACKed) --Closing--> Closed --> gone
 *   EOF anywhere: gone.  A message out of turn, a malformed one, fds where
 *   none belong: disconnected (REFUSED with the reason first, best effort).
 *
 * "gone" means: marked dead now, torn down at the end of the loop's pass
 * (omx_split_back_fe_destroy), so that nothing of the pass dangles.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "omx_split_back_priv.h"
#include "omx_split_bus.h"

static void omx_split_back_gone(struct omx_split_back_fe *fe, const char *why)
{
	if (fe->dead)
		return;
	fe->dead = 1;
	snprintf(fe->why, sizeof(fe->why), "%s", why);
}

/* Requests published before the end are the frontend's last sends: the
 * direct driver would have put them on the wire inside the call, so serve
 * them before the teardown (at most one ring's worth). */
static void omx_split_back_drain(struct omx_split_back_fe *fe)
{
	int dead = fe->dead;

	if (fe->state != OMX_SPLIT_STATE_CONNECTED)
		return;
	fe->dead = 0;
	(void)omx_split_back_ring_serve(fe, OMX_SPLIT_RING_SLOTS);
	fe->dead |= dead;
}

void omx_split_back_disconnect(struct omx_split_back_fe *fe, const char *why)
{
	struct omx_split_bus_msg m;

	if (fe->dead)
		return;
	omx_split_back_gone(fe, why);
	fe->b->st.disconnected++;
	omx_split_back_log(fe->b, "frontend %u (pid %d uid %u) disconnected: %s", fe->id, (int)fe->pid,
			   (unsigned)fe->uid, why);
	memset(&m, 0, sizeof(m));
	m.type = OMX_SPLIT_BUS_REFUSED;
	snprintf(m.text, sizeof(m.text), "disconnected by the backend: %s", why);
	(void)omx_split_bus_send(fe->sock, &m, NULL, 0);
}

static void omx_split_back_refuse(struct omx_split_back_fe *fe, const char *why)
{
	struct omx_split_bus_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OMX_SPLIT_BUS_REFUSED;
	snprintf(m.text, sizeof(m.text), "%s", why);
	(void)omx_split_bus_send(fe->sock, &m, NULL, 0);
	fe->b->st.refused++;
	omx_split_back_log(fe->b, "frontend %u (pid %d uid %u) refused: %s", fe->id, (int)fe->pid,
			   (unsigned)fe->uid, why);
	omx_split_back_gone(fe, "refused");
}

static int omx_split_back_uid_allowed(const struct omx_split_back *b, uid_t uid)
{
	if (!b->cfg.nr_allow_uids)
		return uid == 0 || uid == getuid();
	for (uint32_t i = 0; i < b->cfg.nr_allow_uids && i < OMX_SPLIT_BACK_UIDS_MAX; i++)
		if (b->cfg.allow_uids[i] == uid)
			return 1;
	return 0;
}

void omx_split_back_accept(struct omx_split_back *b)
{
	struct omx_split_back_fe *fe;
	struct ucred cred;
	socklen_t clen;
	int fd;

	for (;;) {
		fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			/* Out of fds: the pending connection would keep the
			 * (level-triggered) socket readable; stop listening a while. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
				omx_split_back_epoll_del(b, b->listen_fd);
				b->accept_paused = omx_split_back_now_ms() + OMX_SPLIT_BACK_ACCEPT_PAUSE_MS;
				omx_split_back_log(b, "cannot accept frontends: %s", strerror(errno));
			}
			return;
		}
		/* Far past the limit: no state at all, the refusal and the close. */
		if (b->st.frontends >= (uint64_t)b->cfg.frontends_max + OMX_SPLIT_BACK_BUS_BURST) {
			struct omx_split_bus_msg m;

			memset(&m, 0, sizeof(m));
			m.type = OMX_SPLIT_BUS_REFUSED;
			snprintf(m.text, sizeof(m.text), "too many frontends connected to the backend");
			(void)omx_split_bus_send(fd, &m, NULL, 0);
			close(fd);
			b->st.refused++;
			continue;
		}
		clen = sizeof(cred);
		fe = calloc(1, sizeof(*fe));
		if (!fe || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			free(fe);
			close(fd);
			continue;
		}
		fe->b = b;
		fe->id = ++b->next_id;
		fe->sock = fd;
		fe->pid = cred.pid;
		fe->uid = cred.uid;
		fe->admin = cred.uid == 0 || cred.uid == b->cfg.admin_uid;
		fe->state = OMX_SPLIT_STATE_UNKNOWN;
		fe->deadline = omx_split_back_now_ms() + b->cfg.handshake_ms;
		fe->kick_fd = fe->notify_fd = -1;
		for (uint32_t i = 0; i <= OMX_SPLIT_MEM_OBJECTS_MAX; i++)
			fe->mems[i].fd = -1;
		for (uint32_t i = 0; i < OMX_SPLIT_BACK_EVTCHN_MAX; i++)
			fe->evtchns[i] = -1;
		omx_list_init(&fe->eps);
		fe->bus_src = (struct omx_split_back_src){ OMX_SPLIT_BACK_SRC_BUS, 0, fe };
		fe->kick_src = (struct omx_split_back_src){ OMX_SPLIT_BACK_SRC_KICK, 0, fe };
		if (omx_split_back_epoll_add(b, fd, &fe->bus_src)) {
			free(fe);
			close(fd);
			continue;
		}
		omx_list_add_tail(&fe->entry, &b->fes);
		b->st.frontends++;
		b->st.accepted++;
		if (b->cfg.verbose)
			omx_split_back_log(b, "frontend %u: connection from pid %d uid %u", fe->id, (int)fe->pid,
					   (unsigned)fe->uid);
	}
}

/* ---- the walk ------------------------------------------------------------------ */

static int omx_split_back_send_state(struct omx_split_back_fe *fe, uint32_t state)
{
	struct omx_split_bus_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OMX_SPLIT_BUS_STATE;
	m.state = state;
	if (state == OMX_SPLIT_STATE_INITWAIT) {
		m.version = OMX_SPLIT_PROTO_VERSION;
		m.backend_pid = (uint32_t)getpid();
		m.ring_slots = OMX_SPLIT_RING_SLOTS;
		m.grant_entries = OMX_SPLIT_GRANT_ENTRIES;
		m.driver_info = fe->b->info;
	}
	return omx_split_bus_send(fe->sock, &m, NULL, 0);
}

static void omx_split_back_initialising(struct omx_split_back_fe *fe, const struct omx_split_bus_msg *m)
{
	struct omx_split_back *b = fe->b;
	char why[OMX_SPLIT_BUS_TEXT_MAX];

	if (!omx_split_back_uid_allowed(b, fe->uid)) {
		snprintf(why, sizeof(why), "uid %u is not allowed by the backend's policy (--allow-uid)",
			 (unsigned)fe->uid);
		omx_split_back_refuse(fe, why);
	} else if (b->st.frontends > b->cfg.frontends_max) {
		omx_split_back_refuse(fe, "too many frontends connected to the backend");
	} else if (m->version != OMX_SPLIT_PROTO_VERSION) {
		snprintf(why, sizeof(why), "protocol version %u, the backend speaks %u", m->version,
			 OMX_SPLIT_PROTO_VERSION);
		omx_split_back_refuse(fe, why);
	} else if (omx_split_back_send_state(fe, OMX_SPLIT_STATE_INITWAIT)) {
		omx_split_back_gone(fe, "bus send failed");
	} else {
		fe->state = OMX_SPLIT_STATE_INITWAIT;
	}
}

/* RING: ring memfd, grant table memfd, kick and notify eventfds. */
static int omx_split_back_ring(struct omx_split_back_fe *fe, int *fds, unsigned nr)
{
	void *ring, *grants;

	if (nr != 4 || fe->sring || !omx_split_back_memfd_check(fds[0], OMX_SPLIT_RING_BYTES) ||
	    !omx_split_back_memfd_check(fds[1], OMX_SPLIT_GRANT_TABLE_BYTES) ||
	    !omx_split_back_is_eventfd(fds[2]) || !omx_split_back_is_eventfd(fds[3]))
		return -1;
	ring = mmap(NULL, OMX_SPLIT_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (ring == MAP_FAILED)
		return -1;
	grants = mmap(NULL, OMX_SPLIT_GRANT_TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	if (grants == MAP_FAILED) {
		munmap(ring, OMX_SPLIT_RING_BYTES);
		return -1;
	}
	/* Never block on the frontend's counters: a saturated notify would
	 * stall the backend in write(). */
	fcntl(fds[2], F_SETFL, fcntl(fds[2], F_GETFL) | O_NONBLOCK);
	fcntl(fds[3], F_SETFL, fcntl(fds[3], F_GETFL) | O_NONBLOCK);
	fe->sring = ring;
	fe->grants = grants;
	omx_split_back_ring_attach(&fe->ring, fe->sring);
	fe->kick_fd = fds[2];
	fe->notify_fd = fds[3];
	/* The mappings keep the memory; the memfds themselves are not needed. */
	close(fds[0]);
	close(fds[1]);
	return 0;
}

static void omx_split_back_ack(struct omx_split_back_fe *fe, uint32_t type, uint32_t id, int ret)
{
	struct omx_split_bus_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OMX_SPLIT_BUS_ACK;
	m.state = type;
	m.id = id;
	m.ret = ret;
	if (ret < 0)
		omx_split_back_count_error(fe, ret);
	if (omx_split_bus_send(fe->sock, &m, NULL, 0))
		omx_split_back_gone(fe, "bus send failed");
}

static int omx_split_back_mem_add(struct omx_split_back_fe *fe, uint32_t id, int fd)
{
	uint64_t size;

	if (id == OMX_SPLIT_MEM_SELF || id > OMX_SPLIT_MEM_OBJECTS_MAX)
		return OMX_ABI_EINVAL;
	if (fe->mems[id].fd >= 0)
		return OMX_ABI_EBUSY;
	size = omx_split_back_memfd_check(fd, 1);
	if (!size)
		return OMX_ABI_EINVAL;
	fe->mems[id].fd = fd;
	fe->mems[id].size = size;
	fe->mems[id].users = 0;
	omx_split_back_fd_id(fd, &fe->mems[id].dev, &fe->mems[id].ino);
	return 0;
}

static int omx_split_back_mem_del(struct omx_split_back_fe *fe, uint32_t id)
{
	if (id == OMX_SPLIT_MEM_SELF || id > OMX_SPLIT_MEM_OBJECTS_MAX || fe->mems[id].fd < 0)
		return OMX_ABI_ENOENT;
	if (fe->mems[id].users)
		return OMX_ABI_EBUSY;
	close(fe->mems[id].fd);
	fe->mems[id].fd = -1;
	return 0;
}

static int omx_split_back_evtchn_add(struct omx_split_back_fe *fe, uint32_t id, int fd)
{
	if (id >= OMX_SPLIT_BACK_EVTCHN_MAX)
		return OMX_ABI_EINVAL;
	if (fe->evtchns[id] >= 0)
		return OMX_ABI_EBUSY;
	if (!omx_split_back_is_eventfd(fd))
		return OMX_ABI_EINVAL;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fe->evtchns[id] = fd;
	fe->evtchn_users[id] = 0;
	return 0;
}

static int omx_split_back_evtchn_del(struct omx_split_back_fe *fe, uint32_t id)
{
	if (id >= OMX_SPLIT_BACK_EVTCHN_MAX || fe->evtchns[id] < 0)
		return OMX_ABI_ENOENT;
	if (fe->evtchn_users[id])
		return OMX_ABI_EBUSY;
	close(fe->evtchns[id]);
	fe->evtchns[id] = -1;
	return 0;
}

static void omx_split_back_closing(struct omx_split_back_fe *fe)
{
	omx_split_back_drain(fe);
	if (fe->dead)
		return;
	while (!omx_list_empty(&fe->eps))
		omx_split_back_ep_close(omx_list_first_entry(&fe->eps, struct omx_split_back_ep, entry));
	fe->state = OMX_SPLIT_STATE_CLOSED;
	(void)omx_split_back_send_state(fe, OMX_SPLIT_STATE_CLOSED);
	omx_split_back_gone(fe, "closed");
}

/* One message; fds are ours to keep or close. */
static void omx_split_back_bus_msg(struct omx_split_back_fe *fe, const struct omx_split_bus_msg *m,
				   int *fds, unsigned nr)
{
	unsigned want = m->type == OMX_SPLIT_BUS_RING ? 4
		      : m->type == OMX_SPLIT_BUS_MEM_ADD || m->type == OMX_SPLIT_BUS_EVTCHN_ADD ? 1 : 0;
	const char *bad = NULL;
	int ret;

	fe->st.bus_msgs++;
	if (nr != want) {
		bad = "bus message with the wrong number of fds";
	} else if (fe->state == OMX_SPLIT_STATE_UNKNOWN) {
		if (m->type == OMX_SPLIT_BUS_STATE && m->state == OMX_SPLIT_STATE_INITIALISING)
			omx_split_back_initialising(fe, m);
		else
			bad = "expected STATE Initialising";
	} else if (fe->state == OMX_SPLIT_STATE_INITWAIT) {
		if (m->type == OMX_SPLIT_BUS_RING) {
			if (omx_split_back_ring(fe, fds, nr))
				bad = "RING: not sealed memfds of the ring's sizes and two eventfds";
			else
				nr = 0;
		} else if (m->type == OMX_SPLIT_BUS_STATE && m->state == OMX_SPLIT_STATE_INITIALISED &&
			   fe->sring) {
			if (omx_split_back_epoll_add(fe->b, fe->kick_fd, &fe->kick_src) ||
			    omx_split_back_send_state(fe, OMX_SPLIT_STATE_CONNECTED)) {
				omx_split_back_gone(fe, "cannot connect");
			} else {
				fe->state = OMX_SPLIT_STATE_CONNECTED;
				if (fe->b->cfg.verbose)
					omx_split_back_log(fe->b, "frontend %u: connected", fe->id);
			}
		} else {
			bad = "expected RING then STATE Initialised";
		}
	} else if (fe->state == OMX_SPLIT_STATE_CONNECTED) {
		switch (m->type) {
		case OMX_SPLIT_BUS_MEM_ADD:
			ret = omx_split_back_mem_add(fe, m->id, fds[0]);
			if (!ret)
				nr = 0;
			omx_split_back_ack(fe, m->type, m->id, ret);
			break;
		case OMX_SPLIT_BUS_MEM_DEL:
			omx_split_back_ack(fe, m->type, m->id, omx_split_back_mem_del(fe, m->id));
			break;
		case OMX_SPLIT_BUS_EVTCHN_ADD:
			ret = omx_split_back_evtchn_add(fe, m->id, fds[0]);
			if (!ret)
				nr = 0;
			omx_split_back_ack(fe, m->type, m->id, ret);
			break;
		case OMX_SPLIT_BUS_EVTCHN_DEL:
			omx_split_back_ack(fe, m->type, m->id, omx_split_back_evtchn_del(fe, m->id));
			break;
		case OMX_SPLIT_BUS_STATE:
			if (m->state == OMX_SPLIT_STATE_CLOSING)
				omx_split_back_closing(fe);
			else
				bad = "unexpected STATE while connected";
			break;
		default:
			bad = "unexpected bus message while connected";
			break;
		}
	} else {
		bad = "bus message after Closed";
	}
	omx_split_bus_close_fds(fds, nr);
	if (bad)
		omx_split_back_disconnect(fe, bad);
}

void omx_split_back_bus_ready(struct omx_split_back_fe *fe)
{
	struct omx_split_bus_msg m;
	int fds[OMX_SPLIT_BUS_FDS_MAX];
	unsigned nr;

	for (int i = 0; i < OMX_SPLIT_BACK_BUS_BURST && !fe->dead; i++) {
		int r = omx_split_bus_recv(fe->sock, &m, fds, OMX_SPLIT_BUS_FDS_MAX, &nr, 0);

		if (r == 0)
			return;
		if (r == OMX_ABI_EIO) {
			omx_split_back_drain(fe);
			omx_split_back_gone(fe, "EOF");
			return;
		}
		if (r < 0) {
			omx_split_back_disconnect(fe, "malformed bus message");
			return;
		}
		omx_split_back_bus_msg(fe, &m, fds, nr);
	}
}

void omx_split_back_check_deadlines(struct omx_split_back *b, uint64_t now)
{
	struct omx_list *pos;

	omx_list_for_each(pos, &b->fes) {
		struct omx_split_back_fe *fe = omx_list_entry(pos, struct omx_split_back_fe, entry);

		if (fe->state != OMX_SPLIT_STATE_CONNECTED && !fe->dead && now > fe->deadline)
			omx_split_back_disconnect(fe, "no Connected state in time (handshake timeout)");
	}
}

/* ---- teardown --------------------------------------------------------------------- */

void omx_split_back_fe_destroy(struct omx_split_back_fe *fe)
{
	struct omx_split_back *b = fe->b;
	unsigned fds = 0;

	while (!omx_list_empty(&fe->eps))
		omx_split_back_ep_close(omx_list_first_entry(&fe->eps, struct omx_split_back_ep, entry));
	omx_split_back_epoll_del(b, fe->sock);
	if (fe->kick_fd >= 0)
		omx_split_back_epoll_del(b, fe->kick_fd);
	if (fe->sring)
		munmap(fe->sring, OMX_SPLIT_RING_BYTES);
	if (fe->grants)
		munmap(fe->grants, OMX_SPLIT_GRANT_TABLE_BYTES);
	for (uint32_t i = 0; i <= OMX_SPLIT_MEM_OBJECTS_MAX; i++)
		if (fe->mems[i].fd >= 0) {
			close(fe->mems[i].fd);
			fds++;
		}
	for (uint32_t i = 0; i < OMX_SPLIT_BACK_EVTCHN_MAX; i++)
		if (fe->evtchns[i] >= 0) {
			close(fe->evtchns[i]);
			fds++;
		}
	if (fe->kick_fd >= 0) {
		close(fe->kick_fd);
		close(fe->notify_fd);
		fds += 2;
	}
	close(fe->sock);
	fds++;
	if (b->cfg.verbose)
		omx_split_back_log(b, "frontend %u (pid %d uid %u) gone (%s): requests %llu posted %llu errors %llu "
				   "malformed %llu eagain %llu completions %llu endpoints %llu/%llu regions %llu/%llu "
				   "busy-left %llu bus %llu fds-closed %u", fe->id, (int)fe->pid, (unsigned)fe->uid,
				   fe->why[0] ? fe->why : "destroyed",
				   (unsigned long long)fe->st.requests, (unsigned long long)fe->st.posted,
				   (unsigned long long)fe->st.errors, (unsigned long long)fe->st.malformed,
				   (unsigned long long)fe->st.eagain, (unsigned long long)fe->st.completions,
				   (unsigned long long)fe->st.opened, (unsigned long long)fe->st.closed,
				   (unsigned long long)fe->st.regions_created,
				   (unsigned long long)fe->st.regions_destroyed,
				   (unsigned long long)fe->busy_held, (unsigned long long)fe->st.bus_msgs, fds);
	omx_list_del(&fe->entry);
	b->st.frontends--;
	free(fe);
}
