/*
 * omx_split_front_bus.c - the frontend's side of the bus: the xenbus state
 * walk, the watcher thread, bus calls, and the backend's death.
 *
 * The walk (omx_split_proto.h), frontend view:
 *
 *   Initialising --send--> (backend: policy) --InitWait--> create ring, grant
 *   table, kick, notify --RING, Initialised--> --Connected--> [commands]
 *   --Closing--> --Closed--> done
 *
 *   REFUSED at any step: OMX_ABI_EPERM (reason kept, printed when verbose).
 *   EOF or silence for OMX_SPLIT_FRONT_HANDSHAKE_MS: OMX_ABI_EIO.
 *
 * Once Connected, one watcher thread owns the socket's receive side: it
 * hands ACKs to the thread that made the bus call and turns EOF (the backend
 * died), a Closing from the backend or a malformed message into the death of
 * the connection.  It sleeps in recvmsg, so it costs nothing meanwhile, and
 * it is what lets a process that only posts sends learn of the death.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "omx_split_bus.h"
#include "omx_split_front_priv.h"

static char omx_split_front_refusal_text[OMX_SPLIT_BUS_TEXT_MAX];

const char *omx_split_front_refusal(void)
{
	return omx_split_front_refusal_text;
}

static int omx_split_front_bus_send(struct omx_split_front *f, uint32_t type, uint32_t state,
				    const int *fds, unsigned nr_fds)
{
	struct omx_split_bus_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	msg.state = state;
	msg.version = OMX_SPLIT_PROTO_VERSION;
	return omx_split_bus_send(f->sock, &msg, fds, nr_fds);
}

/* One handshake step: wait for STATE want; the backend passes no fds. */
static int omx_split_front_expect(struct omx_split_front *f, struct omx_split_bus_msg *msg,
				  uint32_t want, const char *step)
{
	int fds[OMX_SPLIT_BUS_FDS_MAX];
	unsigned nr = 0;
	int r;

	r = omx_split_bus_recv(f->sock, msg, fds, OMX_SPLIT_BUS_FDS_MAX, &nr, OMX_SPLIT_FRONT_HANDSHAKE_MS);
	omx_split_bus_close_fds(fds, nr);
	if (r == 0) {
		omx_split_front_log("split driver: %s: no answer from the backend in %d ms", step,
				    OMX_SPLIT_FRONT_HANDSHAKE_MS);
		return OMX_ABI_EIO;
	}
	if (r < 0) {
		if (f->verbose)
			omx_split_front_log("split driver: %s: the backend closed the connection", step);
		return OMX_ABI_EIO;
	}
	if (msg->type == OMX_SPLIT_BUS_REFUSED) {
		snprintf(omx_split_front_refusal_text, sizeof(omx_split_front_refusal_text), "%s",
			 msg->text);
		if (f->verbose)
			omx_split_front_log("split driver: the backend refused this process: %s", msg->text);
		return OMX_ABI_EPERM;
	}
	if (msg->type != OMX_SPLIT_BUS_STATE || msg->state != want) {
		omx_split_front_log("split driver: %s: unexpected bus message (type %u state %u)", step,
				    msg->type, msg->state);
		return OMX_ABI_EIO;
	}
	return 0;
}

static int omx_split_front_socket(struct omx_split_front *f, const char *path)
{
	struct sockaddr_un sa;
	int fd, e;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		omx_split_front_log("split driver: bad backend socket path \"%s\"", path);
		return OMX_ABI_EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return OMX_ABI_ENOMEM;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		f->sock = fd;
		return 0;
	}
	e = errno;
	close(fd);
	if (f->verbose)
		omx_split_front_log("split driver: cannot reach a backend at %s (%s)", path, strerror(e));
	if (e == EACCES || e == EPERM) {
		snprintf(omx_split_front_refusal_text, sizeof(omx_split_front_refusal_text),
			 "no permission to connect to %s", path);
		return OMX_ABI_EPERM;
	}
	/* Nothing listens there: the split counterpart of a missing device. */
	return OMX_ABI_ENODEV;
}

int omx_split_front_bus_connect(struct omx_split_front *f, const char *path)
{
	struct omx_split_bus_msg msg;
	int fds[4], err;

	err = omx_split_front_socket(f, path);
	if (err)
		return err;
	err = omx_split_front_bus_send(f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISING, NULL, 0);
	if (err)
		return err;
	err = omx_split_front_expect(f, &msg, OMX_SPLIT_STATE_INITWAIT, "Initialising");
	if (err)
		return err;
	if (msg.version != OMX_SPLIT_PROTO_VERSION || msg.ring_slots != OMX_SPLIT_RING_SLOTS ||
	    msg.grant_entries != OMX_SPLIT_GRANT_ENTRIES) {
		omx_split_front_log("split driver: InitWait: backend speaks version %u with %u ring slots "
				    "and %u grants, this frontend %u, %u, %u", msg.version, msg.ring_slots,
				    msg.grant_entries, OMX_SPLIT_PROTO_VERSION, OMX_SPLIT_RING_SLOTS,
				    OMX_SPLIT_GRANT_ENTRIES);
		return OMX_ABI_EINVAL;
	}
	f->backend_pid = (pid_t)msg.backend_pid;
	f->info = msg.driver_info;
	/* The backend copies into our regions with process_vm_writev: allow it
	 * where Yama restricts ptrace to descendants (EINVAL without Yama). */
	if (f->backend_pid > 0)
		(void)prctl(PR_SET_PTRACER, (unsigned long)f->backend_pid, 0, 0, 0);

	err = omx_split_front_ring_setup(f);
	if (err)
		return err;
	err = omx_split_front_grant_init(f);
	if (err)
		return err;
	fds[0] = f->ring_fd;
	fds[1] = f->gnt_fd;
	fds[2] = f->kick_fd;
	fds[3] = f->notify_fd;
	err = omx_split_front_bus_send(f, OMX_SPLIT_BUS_RING, 0, fds, 4);
	if (!err)
		err = omx_split_front_bus_send(f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISED, NULL, 0);
	if (err)
		return err;
	return omx_split_front_expect(f, &msg, OMX_SPLIT_STATE_CONNECTED, "Initialised");
}

/* ---- watcher ---------------------------------------------------------------- */

static void *omx_split_front_watch(void *arg)
{
	struct omx_split_front *f = arg;
	const char *why = "the backend closed the bus";
	char text[OMX_SPLIT_BUS_TEXT_MAX + 32];
	struct omx_split_bus_msg msg;
	int fds[OMX_SPLIT_BUS_FDS_MAX], closing;
	unsigned nr;

	for (;;) {
		int r = omx_split_bus_recv(f->sock, &msg, fds, OMX_SPLIT_BUS_FDS_MAX, &nr, -1);

		omx_split_bus_close_fds(fds, nr);
		if (r == OMX_ABI_EIO)
			break;
		if (r < 0) {
			why = "malformed bus message from the backend";
			break;
		}
		if (msg.type == OMX_SPLIT_BUS_ACK) {
			pthread_mutex_lock(&f->bus_lock);
			f->bus_ack = msg;
			f->bus_ack_ready = 1;
			pthread_cond_broadcast(&f->bus_cond);
			pthread_mutex_unlock(&f->bus_lock);
			continue;
		}
		if (msg.type == OMX_SPLIT_BUS_STATE && msg.state == OMX_SPLIT_STATE_CLOSED)
			why = "the backend closed this frontend";
		else if (msg.type == OMX_SPLIT_BUS_STATE && msg.state == OMX_SPLIT_STATE_CLOSING)
			why = "the backend is shutting down";
		else if (msg.type == OMX_SPLIT_BUS_REFUSED) {
			snprintf(text, sizeof(text), "the backend disconnected us: %s", msg.text);
			why = text;
		} else
			why = "unexpected bus message from the backend";
		break;
	}
	pthread_mutex_lock(&f->bus_lock);
	closing = f->closing;
	if (closing) {
		/* Closed or EOF after our Closing: the walk is over. */
		f->closed = 1;
		pthread_cond_broadcast(&f->bus_cond);
	}
	pthread_mutex_unlock(&f->bus_lock);
	if (!closing)
		omx_split_front_die(f, why, 0);
	return NULL;
}

int omx_split_front_bus_start(struct omx_split_front *f)
{
	if (pthread_create(&f->watcher, NULL, omx_split_front_watch, f))
		return OMX_ABI_ENOMEM;
	f->watcher_started = 1;
	return 0;
}

int omx_split_front_bus_call(struct omx_split_front *f, uint32_t type, uint32_t id, int fd)
{
	struct omx_split_bus_msg msg, ack;
	int err, ready;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	msg.id = id;
	pthread_mutex_lock(&f->bus_call_lock);
	if (omx_split_front_dead(f)) {
		err = OMX_ABI_EIO;
		goto out;
	}
	pthread_mutex_lock(&f->bus_lock);
	f->bus_ack_ready = 0;
	pthread_mutex_unlock(&f->bus_lock);
	err = omx_split_bus_send(f->sock, &msg, &fd, fd >= 0 ? 1 : 0);
	if (err) {
		omx_split_front_die(f, "cannot write to the bus", 0);
		goto out;
	}
	pthread_mutex_lock(&f->bus_lock);
	while (!f->bus_ack_ready && !omx_split_front_dead(f))
		pthread_cond_wait(&f->bus_cond, &f->bus_lock);
	ready = f->bus_ack_ready;
	ack = f->bus_ack;
	pthread_mutex_unlock(&f->bus_lock);
	if (!ready) {
		err = OMX_ABI_EIO;
		goto out;
	}
	if (ack.state != type || ack.id != id) {
		omx_split_front_die(f, "the backend acknowledged another bus message", 0);
		err = OMX_ABI_EIO;
		goto out;
	}
	err = ack.ret > 0 ? OMX_ABI_EIO : ack.ret;
out:
	pthread_mutex_unlock(&f->bus_call_lock);
	return err;
}

void omx_split_front_bus_stop(struct omx_split_front *f)
{
	struct timespec until;

	if (f->sock < 0)
		return;
	if (f->watcher_started) {
		pthread_mutex_lock(&f->bus_call_lock);
		pthread_mutex_lock(&f->bus_lock);
		f->closing = 1;
		pthread_mutex_unlock(&f->bus_lock);
		if (!omx_split_front_dead(f) &&
		    omx_split_front_bus_send(f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_CLOSING, NULL, 0) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += OMX_SPLIT_FRONT_CLOSE_MS / 1000;
			pthread_mutex_lock(&f->bus_lock);
			while (!f->closed && !omx_split_front_dead(f))
				if (pthread_cond_timedwait(&f->bus_cond, &f->bus_lock, &until) == ETIMEDOUT)
					break;
			if (!f->closed && f->verbose)
				omx_split_front_log("split driver: no Closed from the backend, closing anyway");
			pthread_mutex_unlock(&f->bus_lock);
		}
		pthread_mutex_unlock(&f->bus_call_lock);
		/* Wakes the watcher out of recvmsg if the backend did not hang up. */
		shutdown(f->sock, SHUT_RDWR);
		pthread_join(f->watcher, NULL);
		f->watcher_started = 0;
	}
	close(f->sock);
	f->sock = -1;
}

void omx_split_front_die(struct omx_split_front *f, const char *why, int ring_locked)
{
	uint64_t one = 1;

	/* Once: the first caller tells everyone; the acquire loads of dead
	 * (omx_split_front_dead) see it before anything below. */
	if (__atomic_exchange_n(&f->dead, 1, __ATOMIC_SEQ_CST))
		return;
	omx_split_front_log("split driver: backend lost (%s); commands fail from now on", why);
	/* Never drained: every later poll of a response waiter returns at once. */
	if (write(f->dead_fd, &one, sizeof(one)) < 0) {
		/* cannot fail on a fresh eventfd */
	}
	/* Under the locks the waiters test dead under: none can miss the broadcast. */
	if (!ring_locked)
		pthread_mutex_lock(&f->lock);
	pthread_cond_broadcast(&f->cond);
	if (!ring_locked)
		pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&f->bus_lock);
	pthread_cond_broadcast(&f->bus_cond);
	pthread_mutex_unlock(&f->bus_lock);
	for (uint32_t h = 0; h < OMX_SPLIT_FRONT_EP_MAX; h++) {
		struct omx_split_front_ep *ep = omx_split_front_ep_get(f, h);

		if (!ep)
			continue;
		/* The lib reads it at its next desc check and reports the board gone. */
		__atomic_fetch_or(&ep->desc->status, OMX_ABI_DESC_IFACE_REMOVED, __ATOMIC_RELEASE);
		omx_split_front_ep_wake_all(ep);
		omx_split_front_ep_put(ep);
	}
}
