/*
 * test_split_raw.c - the backend child, the raw (lying) frontend and the
 * well-behaved pair of the split driver's hardening tests (test_split_raw.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "omx_direct.h"
#include "omx_eventq.h"
#include "test_split_raw.h"

int sx_failures, sx_checks;

long sx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void sx_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- the backend ------------------------------------------------------------ */

static int sx_try_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

int sx_backend_start(struct sx_backend *b, const char *exe, const char *const *args)
{
	char state[96], addr[32];

	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "/tmp/omx-split-test-XXXXXX");
	if (!mkdtemp(b->dir))
		return -1;
	snprintf(b->sock, sizeof(b->sock), "%s/backend.sock", b->dir);
	snprintf(state, sizeof(state), "%s/state", b->dir);
	for (int attempt = 0; attempt < 6; attempt++) {
		const char *argv[32] = { exe, "--socket", b->sock };
		unsigned n = 3;
		long end;

		b->port = 20000 + (int)((unsigned)rand() % 19000u) * 2;
		for (; args && *args && n < 31; args++)
			argv[n++] = *args;
		argv[n] = NULL;
		b->pid = fork();
		if (b->pid < 0)
			return -1;
		if (b->pid == 0) {
			snprintf(addr, sizeof(addr), "127.0.0.1:%d", b->port);
			setenv("OMX_LINK", "udp", 1);
			setenv("OMX_UDP_ADDR", addr, 1);
			setenv("OMX_STATE_DIR", state, 1);
			unsetenv("OMX_IFNAMES");
			unsetenv("OMX_DRIVER");
			execv(exe, (char *const *)argv);
			fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
			_exit(127);
		}
		for (end = sx_now_ms() + 10000; sx_now_ms() < end;) {
			int s;

			if (!sx_backend_alive(b))
				break;
			s = sx_try_connect(b->sock);
			if (s >= 0) {
				close(s);
				return 0;
			}
			sx_sleep_ms(5);
		}
		if (sx_backend_alive(b)) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, NULL, 0);
		}
		b->pid = 0;
		unlink(b->sock);
	}
	return -1;
}

int sx_backend_alive(struct sx_backend *b)
{
	int st;
	pid_t r;

	if (b->pid <= 0)
		return 0;
	r = waitpid(b->pid, &st, WNOHANG);
	if (r == 0)
		return 1;
	if (r == b->pid)
		fprintf(stderr, "backend %d is gone: %s %d\n", (int)b->pid,
			WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	b->pid = 0;
	return 0;
}

static int sx_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

int sx_backend_stop(struct sx_backend *b)
{
	int st = -1;

	sx_root(1);
	if (b->pid > 0) {
		long end = sx_now_ms() + 10000;

		kill(b->pid, SIGTERM);
		while (waitpid(b->pid, &st, WNOHANG) == 0) {
			if (sx_now_ms() > end) {
				fprintf(stderr, "backend %d ignores SIGTERM\n", (int)b->pid);
				kill(b->pid, SIGKILL);
				waitpid(b->pid, NULL, 0);
				st = -1;
				break;
			}
			sx_sleep_ms(5);
		}
		b->pid = 0;
	}
	nftw(b->dir, sx_rm, 8, FTW_DEPTH | FTW_PHYS);
	return st;
}

uid_t sx_become_guest(struct sx_backend *b)
{
	char state[96];

	if (geteuid() != 0)
		return geteuid();
	snprintf(state, sizeof(state), "%s/front-state", b->dir);
	mkdir(state, 0777);
	chmod(state, 0777);
	setenv("OMX_STATE_DIR", state, 1);
	chmod(b->dir, 0711);
	chmod(b->sock, 0666);
	if (setresuid(SX_GUEST_UID, SX_GUEST_UID, 0)) {
		perror("setresuid");
		exit(1);
	}
	return SX_GUEST_UID;
}

void sx_backend_args(const char **args, const char *const *extra)
{
	unsigned n = 0;

	if (geteuid() == 0) {
		args[n++] = "--allow-uid";
		args[n++] = "65534";
	}
	args[n++] = "--admin-uid";
	args[n++] = "4242";
	while (extra && *extra && n < 15)
		args[n++] = *extra++;
	args[n] = NULL;
}

void sx_root(int on)
{
	uid_t r, e, s;

	if (getresuid(&r, &e, &s) || s != 0 || r == 0)
		return;
	if (seteuid(on ? 0 : r))
		perror("seteuid");
}

int sx_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	sx_root(1);
	dir = opendir(path);
	if (dir) {
		while ((d = readdir(dir)))
			if (d->d_name[0] != '.')
				n++;
		closedir(dir);
	}
	sx_root(0);
	return dir ? n : -1;
}

/* ---- the raw frontend -------------------------------------------------------- */

uint64_t sx_area_size(void)
{
	struct omx_drv_shadow_layout l;

	omx_drv_shadow_layout(&l);
	return l.area_size;
}

int sx_memfd(uint64_t size, unsigned seals)
{
	int fd = memfd_create("sx-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 || (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void sx_init(struct sx_front *f)
{
	memset(f, 0, sizeof(*f));
	f->sock = f->ring_fd = f->gnt_fd = f->kick = f->notify = f->area_fd = f->evt_fd = -1;
	f->next_id = 1;
}

int sx_bus_send(struct sx_front *f, uint32_t type, uint32_t state, uint32_t id, const int *fds, unsigned nr)
{
	struct omx_split_bus_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.state = state;
	m.id = id;
	m.version = OMX_SPLIT_PROTO_VERSION;
	if (omx_split_bus_send(f->sock, &m, fds, nr)) {
		f->gone = 1;
		return SX_GONE;
	}
	return 0;
}

/* One bus message within timeout_ms: 1, SX_TIMEOUT or SX_GONE. */
static int sx_bus_recv(struct sx_front *f, struct omx_split_bus_msg *m, int timeout_ms)
{
	int fds[OMX_SPLIT_BUS_FDS_MAX];
	unsigned nr;
	int r = omx_split_bus_recv(f->sock, m, fds, OMX_SPLIT_BUS_FDS_MAX, &nr, timeout_ms);

	if (r == 1) {
		omx_split_bus_close_fds(fds, nr);
		return 1;
	}
	if (r == 0)
		return SX_TIMEOUT;
	f->gone = 1;
	return SX_GONE;
}

int sx_hello(struct sx_front *f, const char *path, uint32_t version)
{
	struct omx_split_bus_msg m;
	int r;

	sx_init(f);
	f->sock = sx_try_connect(path);
	if (f->sock < 0)
		return SX_GONE;
	memset(&m, 0, sizeof(m));
	m.type = OMX_SPLIT_BUS_STATE;
	m.state = OMX_SPLIT_STATE_INITIALISING;
	m.version = version;
	if (omx_split_bus_send(f->sock, &m, NULL, 0))
		return SX_GONE;
	r = sx_bus_recv(f, &f->initwait, SX_WAIT_MS);
	if (r != 1)
		return r;
	if (f->initwait.type == OMX_SPLIT_BUS_REFUSED) {
		snprintf(f->refused, sizeof(f->refused), "%s", f->initwait.text);
		return SX_REFUSED;
	}
	if (f->initwait.type != OMX_SPLIT_BUS_STATE || f->initwait.state != OMX_SPLIT_STATE_INITWAIT)
		return SX_BADRSP;
	return 0;
}

int sx_connect(struct sx_front *f, const char *path)
{
	const unsigned seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	struct omx_split_bus_msg m;
	int r = sx_hello(f, path, OMX_SPLIT_PROTO_VERSION);
	int fds[4];

	if (r)
		return r;
	prctl(PR_SET_PTRACER, (unsigned long)f->initwait.backend_pid, 0, 0, 0);
	f->ring_fd = sx_memfd(OMX_SPLIT_RING_BYTES, seals);
	f->gnt_fd = sx_memfd(OMX_SPLIT_GRANT_TABLE_BYTES, seals);
	f->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->notify = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->ring_fd < 0 || f->gnt_fd < 0 || f->kick < 0 || f->notify < 0)
		return SX_BADRSP;
	f->sring = mmap(NULL, OMX_SPLIT_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, f->ring_fd, 0);
	f->gnt = mmap(NULL, OMX_SPLIT_GRANT_TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, f->gnt_fd, 0);
	if (f->sring == MAP_FAILED || f->gnt == MAP_FAILED) {
		f->sring = NULL;
		f->gnt = NULL;
		return SX_BADRSP;
	}
	omx_split_front_ring_init(&f->fr, f->sring);
	fds[0] = f->ring_fd, fds[1] = f->gnt_fd, fds[2] = f->kick, fds[3] = f->notify;
	if (sx_bus_send(f, OMX_SPLIT_BUS_RING, 0, 0, fds, 4) ||
	    sx_bus_send(f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_INITIALISED, 0, NULL, 0))
		return SX_GONE;
	r = sx_bus_recv(f, &m, SX_WAIT_MS);
	if (r != 1)
		return r;
	if (m.type != OMX_SPLIT_BUS_STATE || m.state != OMX_SPLIT_STATE_CONNECTED)
		return SX_BADRSP;
	return 0;
}

void sx_close(struct sx_front *f)
{
	/* Politely when possible: Closing -> Closed tears the frontend down
	 * synchronously, so the next test finds its endpoint index free. */
	if (f->sock >= 0 && !f->gone && f->sring &&
	    sx_bus_send(f, OMX_SPLIT_BUS_STATE, OMX_SPLIT_STATE_CLOSING, 0, NULL, 0) == 0) {
		struct omx_split_bus_msg m;
		long end = sx_now_ms() + 2000;

		while (sx_now_ms() < end) {
			int r = sx_bus_recv(f, &m, 100);

			if (r == SX_GONE ||
			    (r == 1 && m.type == OMX_SPLIT_BUS_STATE && m.state == OMX_SPLIT_STATE_CLOSED))
				break;
		}
	}
	if (f->area)
		munmap(f->area, f->area_size);
	if (f->sring)
		munmap(f->sring, OMX_SPLIT_RING_BYTES);
	if (f->gnt)
		munmap(f->gnt, OMX_SPLIT_GRANT_TABLE_BYTES);
	int fds[] = { f->sock, f->ring_fd, f->gnt_fd, f->kick, f->notify, f->area_fd, f->evt_fd };
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	sx_init(f);
}

int sx_gone(struct sx_front *f, int timeout_ms)
{
	long end = sx_now_ms() + timeout_ms;

	for (;;) {
		struct omx_split_bus_msg m;
		long left = end - sx_now_ms();
		int r;

		if (left < 0)
			return 0;
		r = sx_bus_recv(f, &m, (int)left);
		if (r == SX_GONE)
			return 1;
		if (r == SX_TIMEOUT)
			return 0;
	}
}

int sx_bus_call(struct sx_front *f, uint32_t type, uint32_t id, int fd)
{
	struct omx_split_bus_msg m;
	int r;

	if (sx_bus_send(f, type, 0, id, &fd, fd >= 0 ? 1 : 0))
		return SX_GONE;
	r = sx_bus_recv(f, &m, SX_WAIT_MS);
	if (r != 1)
		return r;
	if (m.type == OMX_SPLIT_BUS_REFUSED) {
		/* The backend says why, then closes: a disconnect. */
		sx_gone(f, 1000);
		f->gone = 1;
		return SX_GONE;
	}
	if (m.type != OMX_SPLIT_BUS_ACK || m.state != type || m.id != id)
		return SX_BADRSP;
	return m.ret;
}

void sx_grant(struct sx_front *f, uint32_t ref, uint32_t flags, uint32_t mem, uint64_t offset, uint64_t length)
{
	struct omx_split_grant *g = &f->gnt[ref];

	g->mem = mem;
	g->offset = offset;
	g->length = length;
	__atomic_store_n(&g->flags, flags, __ATOMIC_RELEASE);
}

int64_t sx_post(struct sx_front *f, struct omx_split_request *req)
{
	if (!omx_split_front_free_requests(&f->fr))
		return -1;
	req->id = f->next_id++;
	memcpy(omx_split_ring_slot(f->sring, f->fr.req_prod_pvt), req, sizeof(*req));
	f->fr.req_prod_pvt++;
	if (omx_split_front_push_requests(&f->fr)) {
		uint64_t one = 1;

		if (write(f->kick, &one, sizeof(one)) != sizeof(one))
			return -1;
	}
	return req->id;
}

int sx_wait_rsp(struct sx_front *f, struct omx_split_response *rsp, int timeout_ms)
{
	long end = sx_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p[2] = { { .fd = f->notify, .events = POLLIN }, { .fd = f->sock, .events = POLLIN } };
		long left;

		if (omx_split_front_final_check(&f->fr)) {
			memcpy(rsp, omx_split_ring_slot(f->sring, f->fr.rsp_cons), sizeof(*rsp));
			f->fr.rsp_cons++;
			return 1;
		}
		left = end - sx_now_ms();
		if (left < 0)
			return SX_TIMEOUT;
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			return SX_TIMEOUT;
		if (p[0].revents) {
			uint64_t v;

			if (read(f->notify, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return SX_TIMEOUT;
		}
		if (p[1].revents) {
			struct omx_split_bus_msg m;

			if (sx_bus_recv(f, &m, 0) == SX_GONE) {
				/* Responses published before the close still count. */
				if (omx_split_front_unconsumed_responses(&f->fr))
					continue;
				return SX_GONE;
			}
		}
	}
}

int sx_call(struct sx_front *f, struct omx_split_request *req, struct omx_split_response *rsp)
{
	int64_t id = sx_post(f, req);
	int r;

	if (id < 0)
		return SX_BADRSP;
	r = sx_wait_rsp(f, rsp, SX_WAIT_MS);
	if (r != 1)
		return r;
	if (rsp->id != (uint32_t)id || rsp->func != req->func) {
		fprintf(stderr, "response id %u func %u to request id %u func %u\n",
			rsp->id, rsp->func, (unsigned)id, req->func);
		return SX_BADRSP;
	}
	return rsp->ret;
}

int sx_simple(struct sx_front *f, uint16_t func, uint32_t handle, const void *payload, size_t len)
{
	struct omx_split_request req;
	struct omx_split_response rsp;

	memset(&req, 0, sizeof(req));
	req.func = func;
	req.handle = handle;
	if (payload)
		memcpy(req.u.raw, payload, len < sizeof(req.u.raw) ? len : sizeof(req.u.raw));
	return sx_call(f, &req, &rsp);
}

int sx_open_endpoint(struct sx_front *f, uint32_t board, uint32_t index)
{
	struct omx_split_request req;
	struct omx_split_response rsp;
	int r;

	f->area_size = sx_area_size();
	f->area_fd = sx_memfd(f->area_size, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	f->evt_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->area_fd < 0 || f->evt_fd < 0)
		return SX_BADRSP;
	r = sx_bus_call(f, OMX_SPLIT_BUS_MEM_ADD, 1, f->area_fd);
	if (r)
		return r;
	r = sx_bus_call(f, OMX_SPLIT_BUS_EVTCHN_ADD, 1, f->evt_fd);
	if (r)
		return r;
	sx_grant(f, 1, OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE, 1, 0, f->area_size);
	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_OPEN_ENDPOINT;
	req.u.open_endpoint.cmd.board_index = board;
	req.u.open_endpoint.cmd.endpoint_index = index;
	snprintf(req.u.open_endpoint.cmd.command, OMX_ABI_COMMAND_MAX, "sx-raw");
	req.u.open_endpoint.area_ref = 1;
	req.u.open_endpoint.evtchn = 1;
	r = sx_call(f, &req, &rsp);
	if (r)
		return r;
	f->ep = rsp.u.endpoint_info;
	f->area = mmap(NULL, f->area_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->area_fd, 0);
	if (f->area == MAP_FAILED) {
		f->area = NULL;
		return SX_BADRSP;
	}
	return 0;
}

const union omx_abi_event *sx_next_exp_event(struct sx_front *f, int timeout_ms)
{
	const union omx_abi_event *q = (const union omx_abi_event *)(f->area + f->ep.layout.exp_eventq_offset);
	long end = sx_now_ms() + timeout_ms;

	if (!f->area || f->ep.layout.exp_eventq_offset + (uint64_t)OMX_ABI_EVENTQ_ENTRIES * 64 > f->area_size)
		return NULL;
	do {
		const union omx_abi_event *ev = omx_eventq_peek(q, OMX_ABI_EVENTQ_ENTRIES, f->next_exp);

		if (ev) {
			f->next_exp++;
			return ev;
		}
		sx_sleep_ms(1);
	} while (sx_now_ms() < end);
	return NULL;
}

int sx_refused(const char *what, int ret)
{
	if (ret == SX_GONE)
		printf("  %-56s -> disconnected\n", what);
	else if (ret < 0 && ret >= OMX_ABI_ENOSPC)
		printf("  %-56s -> error %d\n", what, ret);
	else
		printf("  %-56s -> NOT REFUSED (%d)\n", what, ret);
	return ret == SX_GONE || (ret < 0 && ret >= OMX_ABI_ENOSPC);
}

int sx_accept(const char *what, int ret)
{
	printf("  %-56s -> %s (%d)\n", what, ret ? "REFUSED" : "ok", ret);
	CHECK(ret == 0);
	return ret == 0;
}

int sx_settle(pid_t pid, int baseline)
{
	char path[64], line[512];
	int fds = -1, maps = -1;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	for (long end = sx_now_ms() + 5000; sx_now_ms() < end; usleep(20000)) {
		FILE *m;

		fds = sx_fd_count(pid);
		maps = 0;
		sx_root(1);
		m = fopen(path, "r");
		if (m) {
			while (fgets(line, sizeof(line), m))
				maps += strstr(line, "memfd:sx-test") != NULL;
			fclose(m);
		}
		sx_root(0);
		if (!m)
			break;
		if (fds == baseline && maps == 0)
			return 1;
	}
	fprintf(stderr, "backend holds %d fds (baseline %d) and %d mappings of test memfds\n",
		fds, baseline, maps);
	return 0;
}

int sx_raw_connect(struct sx_front *f, const char *path)
{
	sx_init(f);
	f->sock = sx_try_connect(path);
	return f->sock < 0 ? SX_GONE : 0;
}
