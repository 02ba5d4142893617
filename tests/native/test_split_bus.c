/*
 * test_split_bus.c - the split backend against bus-level abuse: packets of
 * the wrong size, fds of the wrong kind (a pipe for a memfd, an unsealed or
 * too small memfd, a memfd for an eventfd), the xenbus state walk out of
 * order, and the access policy (a refused uid with its reason, endpoint
 * indices outside --endpoints, admin commands from a non-admin).
 *
 * Each abuse must end with a refusal (REFUSED, an error ACK or the bus
 * closed), never with Connected or a success; beside each, the correct
 * message is accepted (positive control).  A well-behaved pair of frontends
 * transfers all along and must finish byte-exact; at the end the backend
 * holds exactly the fds it held before and maps none of our memfds.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "open-mx.h"
#include "test_split_cases.h"

struct sx_backend sx_be;
static int sx_was_root;
static const unsigned sx_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

/* Read the backend's answers for a while: 1 when it refused (REFUSED or the
 * bus closed) without ever saying Connected, 0 otherwise. */
static int sx_verdict(struct sx_front *f, const char *what)
{
	int connected = 0, refused = 0, closed = 0;

	for (int i = 0; i < 50 && !closed; i++) {
		struct omx_split_bus_msg m;
		int fds[OMX_SPLIT_BUS_FDS_MAX];
		unsigned nr;
		int r = omx_split_bus_recv(f->sock, &m, fds, OMX_SPLIT_BUS_FDS_MAX, &nr, 3000);

		if (r == 1) {
			omx_split_bus_close_fds(fds, nr);
			connected |= m.type == OMX_SPLIT_BUS_STATE && m.state == OMX_SPLIT_STATE_CONNECTED;
			refused |= m.type == OMX_SPLIT_BUS_REFUSED;
			continue;
		}
		closed = r != 0;
		break;
	}
	printf("  %-56s -> %s%s%s\n", what, connected ? "CONNECTED " : "", refused ? "refused " : "",
	       closed ? "closed" : "(still open)");
	f->gone = 1;
	return !connected && (closed || refused);
}

static int sx_raw_send(struct sx_front *f, size_t len)
{
	uint8_t buf[512];

	memset(buf, 0, sizeof(buf));
	((struct omx_split_bus_msg *)buf)->type = OMX_SPLIT_BUS_STATE;
	((struct omx_split_bus_msg *)buf)->state = OMX_SPLIT_STATE_INITIALISING;
	((struct omx_split_bus_msg *)buf)->version = OMX_SPLIT_PROTO_VERSION;
	return send(f->sock, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void case_sizes(void)
{
	static const size_t before[] = { 0, 10, 223, 225, 300 };
	static const size_t after[] = { 1, 223, 225 };
	struct sx_front f;
	char what[96];

	for (unsigned i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		/* A bad packet, then a good Initialising that must go unanswered. */
		CHECK(sx_raw_connect(&f, sx_be.sock) == 0);
		CHECK(sx_raw_send(&f, before[i]) == 0);
		sx_raw_send(&f, sizeof(struct omx_split_bus_msg));
		snprintf(what, sizeof(what), "a %zu-byte first packet", before[i]);
		CHECK(sx_verdict(&f, what));
		sx_close(&f);
	}
	for (unsigned i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		if (sx_connect(&f, sx_be.sock) != 0) {
			CHECK(!"connect (control)");
			sx_close(&f);
			continue;
		}
		CHECK(sx_simple(&f, OMX_SPLIT_GET_INFO, 0, NULL, 0) == 0);
		CHECK(sx_raw_send(&f, after[i]) == 0);
		snprintf(what, sizeof(what), "a %zu-byte packet once connected", after[i]);
		CHECK(sx_verdict(&f, what));
		sx_close(&f);
	}
}

enum { K_MEMFD, K_UNSEALED, K_SMALL, K_PIPE, K_EVENTFD, K_DEVNULL, K_SOCKET, K_EPNAME, K_GROWSEAL };

static int sx_fd_of(int kind, uint64_t size)
{
	int p[2], fd;

	switch (kind) {
	case K_MEMFD:
		return sx_memfd(size, sx_seals);
	case K_UNSEALED:
		return sx_memfd(size, 0);
	case K_SMALL:
		return sx_memfd(4096, sx_seals);
	case K_GROWSEAL:
		return sx_memfd(size, F_SEAL_GROW);
	case K_PIPE:
		if (pipe2(p, O_CLOEXEC))
			return -1;
		close(p[1]);
		return p[0];
	case K_EVENTFD:
		return eventfd_cloexec();
	case K_DEVNULL:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case K_SOCKET:
		return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	case K_EPNAME:
		fd = memfd_create("omx-ep-000000000000-1", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd >= 0 && (ftruncate(fd, (off_t)size) || fcntl(fd, F_ADD_SEALS, sx_seals))) {
			close(fd);
			return -1;
		}
		return fd;
	}
	return -1;
}

/* RING with fds[i] of kinds[i] (nr of them), then Initialised. */
static int sx_ring_with(const int *kinds, unsigned nr, const char *what)
{
	static const uint64_t sizes[] = { OMX_SPLIT_RING_BYTES, OMX_SPLIT_GRANT_TABLE_BYTES, 8, 8 };
	struct sx_front f;
	int fds[4] = { -1, -1, -1, -1 }, ok;

	if (sx_hello(&f, sx_be.sock, OMX_SPLIT_PROTO_VERSION)) {
		CHECK(!"hello");
		sx_close(&f);
		return 0;
	}
	for (unsigned i = 0; i < nr; i++)
		fds[i] = sx_fd_of(kinds[i], sizes[i]);
	sx_bus_send(&f, OMX_SPLIT_BUS_RING, 0, 0, fds, nr);
	sx_bus_send(&f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISED, 0, NULL, 0);
	ok = sx_verdict(&f, what);
	for (unsigned i = 0; i < nr; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	sx_close(&f);
	return ok;
}

static void case_ring_fds(void)
{
	static const struct { int k[4]; unsigned nr; const char *what; } v[] = {
		{ { K_PIPE, K_MEMFD, K_EVENTFD, K_EVENTFD }, 4, "RING: a pipe for the ring" },
		{ { K_UNSEALED, K_MEMFD, K_EVENTFD, K_EVENTFD }, 4, "RING: an unsealed ring memfd" },
		{ { K_GROWSEAL, K_MEMFD, K_EVENTFD, K_EVENTFD }, 4, "RING: a ring memfd that may shrink" },
		{ { K_SMALL, K_MEMFD, K_EVENTFD, K_EVENTFD }, 4, "RING: a ring memfd smaller than the ring" },
		{ { K_MEMFD, K_SMALL, K_EVENTFD, K_EVENTFD }, 4, "RING: a grant table memfd of 4 KiB" },
		{ { K_MEMFD, K_UNSEALED, K_EVENTFD, K_EVENTFD }, 4, "RING: an unsealed grant table" },
		{ { K_EPNAME, K_MEMFD, K_EVENTFD, K_EVENTFD }, 4, "RING: a ring memfd named omx-ep-*" },
		{ { K_DEVNULL, K_MEMFD, K_EVENTFD, K_EVENTFD }, 4, "RING: /dev/null for the ring" },
		{ { K_MEMFD, K_MEMFD, K_MEMFD, K_EVENTFD }, 4, "RING: a memfd for the kick eventfd" },
		{ { K_MEMFD, K_MEMFD, K_EVENTFD, K_PIPE }, 4, "RING: a pipe for the notify eventfd" },
		{ { K_MEMFD, K_MEMFD, K_EVENTFD, K_SOCKET }, 4, "RING: a socket for the notify eventfd" },
		{ { K_MEMFD, K_MEMFD, K_EVENTFD, 0 }, 3, "RING with 3 fds" },
		{ { 0 }, 0, "RING with no fd" },
	};
	static const int good[4] = { K_MEMFD, K_MEMFD, K_EVENTFD, K_EVENTFD };
	struct sx_front f;

	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK(sx_ring_with(v[i].k, v[i].nr, v[i].what));
	/* The control, by hand like the others: it must come up. */
	if (sx_hello(&f, sx_be.sock, OMX_SPLIT_PROTO_VERSION) == 0) {
		int fds[4];
		struct omx_split_bus_msg m;
		unsigned nr;
		int got[OMX_SPLIT_BUS_FDS_MAX];

		for (int i = 0; i < 4; i++)
			fds[i] = sx_fd_of(good[i], i == 0 ? OMX_SPLIT_RING_BYTES : OMX_SPLIT_GRANT_TABLE_BYTES);
		sx_bus_send(&f, OMX_SPLIT_BUS_RING, 0, 0, fds, 4);
		sx_bus_send(&f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISED, 0, NULL, 0);
		int r = omx_split_bus_recv(f.sock, &m, got, OMX_SPLIT_BUS_FDS_MAX, &nr, SX_WAIT_MS);
		sx_accept("RING with the right fds (control)",
			  r == 1 && m.type == OMX_SPLIT_BUS_STATE && m.state == OMX_SPLIT_STATE_CONNECTED ? 0 : -1);
		for (int i = 0; i < 4; i++)
			close(fds[i]);
	}
	sx_close(&f);
}

static void case_objects(void)
{
	static const struct { uint32_t type; int kind; uint32_t id; const char *what; } v[] = {
		{ OMX_SPLIT_BUS_MEM_ADD, K_PIPE, 1, "MEM_ADD of a pipe" },
		{ OMX_SPLIT_BUS_MEM_ADD, K_UNSEALED, 1, "MEM_ADD of an unsealed memfd" },
		{ OMX_SPLIT_BUS_MEM_ADD, K_GROWSEAL, 1, "MEM_ADD of a memfd that may shrink" },
		{ OMX_SPLIT_BUS_MEM_ADD, K_EVENTFD, 1, "MEM_ADD of an eventfd" },
		{ OMX_SPLIT_BUS_MEM_ADD, K_DEVNULL, 1, "MEM_ADD of /dev/null" },
		{ OMX_SPLIT_BUS_MEM_ADD, K_EPNAME, 1, "MEM_ADD of a memfd named omx-ep-*" },
		{ OMX_SPLIT_BUS_MEM_ADD, -1, 1, "MEM_ADD without an fd" },
		{ OMX_SPLIT_BUS_MEM_ADD, K_MEMFD, OMX_SPLIT_MEM_SELF, "MEM_ADD of id 0 (SELF)" },
		{ OMX_SPLIT_BUS_MEM_ADD, K_MEMFD, 0xffffffffu, "MEM_ADD of id 0xffffffff" },
		{ OMX_SPLIT_BUS_EVTCHN_ADD, K_MEMFD, 1, "EVTCHN_ADD of a memfd" },
		{ OMX_SPLIT_BUS_EVTCHN_ADD, K_PIPE, 1, "EVTCHN_ADD of a pipe" },
		{ OMX_SPLIT_BUS_EVTCHN_ADD, -1, 1, "EVTCHN_ADD without an fd" },
		{ OMX_SPLIT_BUS_MEM_DEL, -1, 777, "MEM_DEL of an id never added" },
		{ OMX_SPLIT_BUS_EVTCHN_DEL, -1, 777, "EVTCHN_DEL of an id never added" },
	};
	struct sx_front f;
	int fd, r;

	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (sx_connect(&f, sx_be.sock)) {
			CHECK(!"connect");
			sx_close(&f);
			continue;
		}
		fd = v[i].kind >= 0 ? sx_fd_of(v[i].kind, 1 << 20) : -1;
		r = sx_bus_call(&f, v[i].type, v[i].id, fd);
		CHECK(sx_refused(v[i].what, r));
		if (fd >= 0)
			close(fd);
		sx_close(&f);
	}
	if (sx_connect(&f, sx_be.sock) == 0) {
		fd = sx_fd_of(K_MEMFD, 1 << 20);
		sx_accept("MEM_ADD of a sealed memfd (control)", sx_bus_call(&f, OMX_SPLIT_BUS_MEM_ADD, 1, fd));
		CHECK(sx_refused("MEM_ADD of the same id again", sx_bus_call(&f, OMX_SPLIT_BUS_MEM_ADD, 1, fd)));
		close(fd);
	}
	sx_close(&f);
	if (sx_connect(&f, sx_be.sock) == 0) {
		fd = sx_fd_of(K_MEMFD, 1 << 20);
		int two[2] = { fd, fd };
		sx_bus_send(&f, OMX_SPLIT_BUS_MEM_ADD, 0, 5, two, 2);
		struct omx_split_bus_msg m;
		unsigned nr;
		int got[OMX_SPLIT_BUS_FDS_MAX];
		r = omx_split_bus_recv(f.sock, &m, got, OMX_SPLIT_BUS_FDS_MAX, &nr, SX_WAIT_MS);
		CHECK(sx_refused("MEM_ADD with two fds", r == 1 && m.type == OMX_SPLIT_BUS_ACK ? m.ret : SX_GONE));
		close(fd);
		fd = eventfd_cloexec();
		f.gone = 0;
		sx_close(&f);
		if (sx_connect(&f, sx_be.sock) == 0) {
			sx_accept("EVTCHN_ADD of an eventfd (control)", sx_bus_call(&f, OMX_SPLIT_BUS_EVTCHN_ADD, 1, fd));
			sx_accept("EVTCHN_DEL of it (control)", sx_bus_call(&f, OMX_SPLIT_BUS_EVTCHN_DEL, 1, -1));
		}
		close(fd);
	}
	sx_close(&f);
}

static void case_walk(void)
{
	static const struct { uint32_t type, state; const char *what; } after_hello[] = {
		{ OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISED, "Initialised before RING" },
		{ OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISING, "Initialising twice" },
		{ OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_CONNECTED, "Connected from the frontend" },
		{ OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITWAIT, "InitWait from the frontend" },
		{ OMX_SPLIT_BUS_STATE, 42, "state 42" },
		{ OMX_SPLIT_BUS_ACK, 0, "ACK from the frontend" },
		{ OMX_SPLIT_BUS_REFUSED, 0, "REFUSED from the frontend" },
		{ 99, 0, "message type 99" },
		{ OMX_SPLIT_BUS_MEM_DEL, 0, "MEM_DEL before Connected" },
	};
	struct sx_front f;
	struct omx_split_response rsp;

	/* RING first, before any Initialising */
	{
		int fds[4] = { sx_fd_of(K_MEMFD, OMX_SPLIT_RING_BYTES), sx_fd_of(K_MEMFD, OMX_SPLIT_GRANT_TABLE_BYTES),
			       eventfd_cloexec(), eventfd_cloexec() };

		CHECK(sx_raw_connect(&f, sx_be.sock) == 0);
		sx_bus_send(&f, OMX_SPLIT_BUS_RING, 0, 0, fds, 4);
		CHECK(sx_verdict(&f, "RING before Initialising"));
		for (int i = 0; i < 4; i++)
			close(fds[i]);
		sx_close(&f);
	}
	for (unsigned i = 0; i < sizeof(after_hello) / sizeof(after_hello[0]); i++) {
		if (sx_hello(&f, sx_be.sock, OMX_SPLIT_PROTO_VERSION)) {
			CHECK(!"hello");
			sx_close(&f);
			continue;
		}
		sx_bus_send(&f, after_hello[i].type, after_hello[i].state, 1, NULL, 0);
		CHECK(sx_verdict(&f, after_hello[i].what));
		sx_close(&f);
	}
	/* Out of order once connected. */
	static const struct { uint32_t type, state; const char *what; } after_connect[] = {
		{ OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISING, "Initialising once connected" },
		{ OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_CONNECTED, "Connected from a connected frontend" },
		{ OMX_SPLIT_BUS_RING, 0, "RING again, without fds" },
		{ 77, 0, "message type 77 once connected" },
	};
	for (unsigned i = 0; i < sizeof(after_connect) / sizeof(after_connect[0]); i++) {
		if (sx_connect(&f, sx_be.sock)) {
			CHECK(!"connect");
			sx_close(&f);
			continue;
		}
		sx_bus_send(&f, after_connect[i].type, after_connect[i].state, 1, NULL, 0);
		CHECK(sx_verdict(&f, after_connect[i].what));
		sx_close(&f);
	}
	/* Version mismatch: refused, with a reason. */
	int r = sx_hello(&f, sx_be.sock, OMX_SPLIT_PROTO_VERSION + 98);
	printf("  %-56s -> %d %s\n", "Initialising with version 99", r, f.refused);
	CHECK(r == SX_REFUSED || r == SX_GONE);
	sx_close(&f);
	/* Closing: Closed comes back and the ring is served no more. */
	if (sx_connect(&f, sx_be.sock) == 0 && sx_open_endpoint(&f, 0, 20) == 0) {
		struct omx_split_bus_msg m = { 0 };

		sx_bus_send(&f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_CLOSING, 0, NULL, 0);
		int got = 0;
		for (int i = 0; i < 10 && !got; i++) {
			int fds[OMX_SPLIT_BUS_FDS_MAX];
			unsigned nr;

			if (omx_split_bus_recv(f.sock, &m, fds, OMX_SPLIT_BUS_FDS_MAX, &nr, 1000) != 1)
				break;
			omx_split_bus_close_fds(fds, nr);
			got = m.type == OMX_SPLIT_BUS_STATE && m.state == OMX_SPLIT_STATE_CLOSED;
		}
		sx_accept("Closing answered by Closed (control)", got ? 0 : -1);
		/* Its endpoint is gone: its index opens again elsewhere. */
		struct sx_front g;
		if (sx_connect(&g, sx_be.sock) == 0)
			sx_accept("its endpoint index reopened by another frontend", sx_open_endpoint(&g, 0, 20));
		sx_close(&g);
		struct omx_split_request req = { .func = OMX_SPLIT_GET_INFO };
		if (sx_post(&f, &req) >= 0) {
			r = sx_wait_rsp(&f, &rsp, 500);
			printf("  %-56s -> %s\n", "a request after Closed", r == 1 ? "ANSWERED" : "ignored");
			CHECK(r != 1);
		}
		f.gone = 1;
	}
	sx_close(&f);
}

static int sx_counters(struct sx_front *f, uint32_t clear)
{
	struct omx_split_request req;
	struct omx_split_response rsp;

	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_GET_COUNTERS;
	req.u.counters.clear = clear;
	req.u.counters.nr = 8;
	return sx_call(f, &req, &rsp);
}

static void case_policy(void)
{
	struct omx_split_req_board b = { .board_index = 0, .board_addr = 0x020000001234ull };
	struct omx_abi_peer_table_state pts = { .status = OMX_ABI_PEER_TABLE_CONFIGURED };
	struct sx_front f;
	pid_t child;
	int st;

	snprintf(b.hostname, sizeof(b.hostname), "evil:0");
	if (sx_connect(&f, sx_be.sock) == 0) {
		int r = sx_open_endpoint(&f, 0, 40);

		printf("  %-56s -> %d\n", "OPEN_ENDPOINT index 40 outside --endpoints 0-31", r);
		CHECK(r == OMX_ABI_EPERM);
		sx_close(&f);
	}
	if (sx_connect(&f, sx_be.sock) == 0) {
		sx_accept("OPEN_ENDPOINT index 31 (control)", sx_open_endpoint(&f, 0, 31));
		sx_accept("GET_COUNTERS (control)", sx_counters(&f, 0));
		sx_accept("PEER_TABLE_GET_STATE (control)",
			  sx_simple(&f, OMX_SPLIT_PEER_TABLE_GET_STATE, 0, NULL, 0));
		CHECK(sx_counters(&f, 1) == OMX_ABI_EPERM);
		CHECK(sx_simple(&f, OMX_SPLIT_SET_HOSTNAME, 0, &b, sizeof(b)) == OMX_ABI_EPERM);
		CHECK(sx_simple(&f, OMX_SPLIT_PEER_ADD, 0, &b, sizeof(b)) == OMX_ABI_EPERM);
		CHECK(sx_simple(&f, OMX_SPLIT_PEER_TABLE_CLEAR, 0, NULL, 0) == OMX_ABI_EPERM);
		CHECK(sx_simple(&f, OMX_SPLIT_PEER_TABLE_SET_STATE, 0, &pts, sizeof(pts)) == OMX_ABI_EPERM);
		printf("  admin commands from a non-admin uid -> EPERM each\n");
	}
	sx_close(&f);

	if (!sx_was_root) {
		printf("  (refused uid: skipped, needs root to become another uid)\n");
		return;
	}
	/* A uid outside the policy (only SX_GUEST_UID is allowed): the raw
	 * walk, then the real frontend. */
	fflush(NULL);
	child = fork();
	if (child == 0) {
		sx_root(1);
		if (setresuid(65533, 65533, 65533))
			_exit(10);
		int r = sx_hello(&f, sx_be.sock, OMX_SPLIT_PROTO_VERSION);
		printf("  %-56s -> %s: \"%s\"\n", "uid 65533 says Initialising",
		       r == SX_REFUSED ? "REFUSED" : "not refused", f.refused);
		if (r != SX_REFUSED || !f.refused[0])
			_exit(11);
		char spec[160];
		snprintf(spec, sizeof(spec), "split:%s", sx_be.sock);
		setenv("OMX_DRIVER", spec, 1);
		setenv("OMX_VERBOSE", "1", 1);
		omx_return_t ret = omx_init();
		omx_endpoint_t ep;
		if (ret == OMX_SUCCESS)
			ret = omx_open_endpoint(0, OMX_ANY_ENDPOINT, 1, NULL, 0, &ep);
		printf("  %-56s -> %s\n", "libopen-mx as uid 65533", omx_strerror(ret));
		fflush(NULL);
		_exit(ret == OMX_ACCESS_DENIED ? 0 : 12);
	}
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "  refused-uid child: status %#x\n", st);
}

int main(int argc, char **argv)
{
	const char *exe = argc > 1 ? argv[1] : getenv("OMX_SPLIT_BACKEND");
	static const char *const extra[] = { "--endpoints", "0-31", NULL };
	const char *args[16];
	struct sx_good g;
	int baseline, st;

	if (!exe || access(exe, X_OK)) {
		printf("SKIP: no backend executable (argv[1] or OMX_SPLIT_BACKEND)\n");
		return 77;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	sx_backend_args(args, extra);
	sx_was_root = geteuid() == 0;
	if (sx_backend_start(&sx_be, exe, args)) {
		fprintf(stderr, "cannot start %s\n", exe);
		return 1;
	}
	sx_become_guest(&sx_be);
	if (sx_good_start(&g, sx_be.sock) || sx_good_finish(&g)) {
		fprintf(stderr, "a well-behaved pair cannot even run alone\n");
		sx_backend_stop(&sx_be);
		return 1;
	}
	usleep(500000);
	baseline = sx_fd_count(sx_be.pid);
	printf("backend pid %d on udp 127.0.0.1:%d, %d fds\n", (int)sx_be.pid, sx_be.port, baseline);
	if (sx_good_start(&g, sx_be.sock)) {
		sx_backend_stop(&sx_be);
		return 1;
	}
	printf("case packet sizes\n");
	case_sizes();
	printf("case fds of the wrong kind (RING)\n");
	case_ring_fds();
	printf("case memory objects and event channels\n");
	case_objects();
	printf("case the state walk out of order\n");
	case_walk();
	printf("case policy\n");
	case_policy();
	CHECK(sx_good_finish(&g) == 0);
	printf("good pair: %d rounds byte-exact meanwhile\n", g.rounds);
	CHECK(sx_backend_alive(&sx_be));
	CHECK(sx_settle(sx_be.pid, baseline));
	st = sx_backend_stop(&sx_be);
	CHECK(st != -1 && (st == 0 || (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)));
	printf("test_split_bus: %d checks, %d failed\n", sx_checks, sx_failures);
	return sx_failures ? 1 : 0;
}
