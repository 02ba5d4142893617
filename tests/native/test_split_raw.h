/*
 * test_split_raw.h - helpers of the split driver's hardening tests: a
 * backend daemon run as a child process on the udp link (127.0.0.1, a
 * random base port, a private state directory), a hand-written frontend that
 * speaks the raw protocol (bus, ring, grants) so that it can lie, and a
 * well-behaved pair of frontends (two child processes linked with
 * libopen-mx, OMX_DRIVER=split:<socket>) whose transfers must complete
 * byte-exact whatever the raw frontend does meanwhile.
 *
 *   struct sx_backend b;  sx_backend_start(&b, exe, args);
 *   struct sx_good g;     sx_good_start(&g, b.sock);     (first round done)
 *   struct sx_front f;    sx_connect(&f, b.sock); ... lie ...; sx_close(&f);
 *   sx_good_finish(&g) == 0;  sx_backend_alive(&b);  sx_backend_stop(&b);
 */
#ifndef TEST_SPLIT_RAW_H
#define TEST_SPLIT_RAW_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "omx_split_bus.h"
#include "omx_split_proto.h"
#include "omx_split_ring.h"

extern int sx_failures, sx_checks;

#define CHECK(cond) do { \
	sx_checks++; \
	if (!(cond)) { \
		sx_failures++; \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

/* Results of the raw frontend's calls besides the ABI codes (-1..-12). */
#define SX_TIMEOUT (-100)             /* no answer in time */
#define SX_GONE (-101)                /* the backend closed this frontend's bus */
#define SX_BADRSP (-102)              /* an answer that does not match the request */
#define SX_REFUSED (-103)             /* REFUSED at the handshake (reason in refused[]) */

#define SX_WAIT_MS 5000

long sx_now_ms(void);
void sx_sleep_ms(long ms);

/* ---- the backend ------------------------------------------------------------ */

struct sx_backend {
	pid_t pid;
	int port;                     /* udp base port of its board */
	char dir[64];                 /* private directory: socket and state */
	char sock[100];
};

/* Start `exe --socket <dir>/backend.sock args...` (args NULL-terminated);
 * returns once the socket accepts a connection.  0 or -1. */
int sx_backend_start(struct sx_backend *b, const char *exe, const char *const *args);
int sx_backend_alive(struct sx_backend *b);
/* SIGTERM and reap; returns the wait status (or -1 when it does not stop). */
int sx_backend_stop(struct sx_backend *b);
/* Open fds of a process (/proc/<pid>/fd), -1 on error. */
int sx_fd_count(pid_t pid);

/*
 * Run as an unprivileged guest from here on: when root, the socket is
 * opened to everybody and the process becomes uid SX_GUEST_UID (saved uid
 * root, so sx_root can take root back for what only root may do to the
 * root backend: signals, /proc/<pid>/fd).  Frontends are then neither root
 * nor admins.  Returns the uid the frontends have.
 */
#define SX_GUEST_UID 65534
uid_t sx_become_guest(struct sx_backend *b);
/* The backend's policy options for guests: allow SX_GUEST_UID when root, an
 * admin uid nobody has (4242), then extra (NULL-terminated); into args[16]. */
void sx_backend_args(const char **args, const char *const *extra);
void sx_root(int on);

/* ---- the raw frontend -------------------------------------------------------- */

struct sx_front {
	int sock, ring_fd, gnt_fd, kick, notify;
	struct omx_split_sring *sring;
	struct omx_split_grant *gnt;
	struct omx_split_front_ring fr;
	struct omx_split_bus_msg initwait;
	uint32_t next_id;
	int gone;                     /* the backend closed the bus */
	int with_ep;                  /* the test's setup opened an endpoint */
	char refused[OMX_SPLIT_BUS_TEXT_MAX];
	/* the endpoint of sx_open_endpoint */
	int area_fd, evt_fd;
	uint8_t *area;
	uint64_t area_size;
	struct omx_abi_endpoint_info ep;
	uint32_t next_exp;
};

/* Size of an endpoint area (the engine's layout). */
uint64_t sx_area_size(void);

/* A memfd of `size` bytes with the given F_SEAL_* (0: unsealed); -1 on error. */
int sx_memfd(uint64_t size, unsigned seals);

/* Connect and send Initialising (version); 0 with f->initwait, SX_REFUSED, SX_GONE. */
int sx_hello(struct sx_front *f, const char *path, uint32_t version);
/* The whole walk up to Connected; 0 or an SX_* code. */
int sx_connect(struct sx_front *f, const char *path);
void sx_close(struct sx_front *f);

int sx_bus_send(struct sx_front *f, uint32_t type, uint32_t state, uint32_t id, const int *fds, unsigned nr);
/* 1 when the backend closed the bus within timeout_ms (other messages are read and dropped). */
int sx_gone(struct sx_front *f, int timeout_ms);
/* MEM_ADD / EVTCHN_ADD / *_DEL and the ACK: its ret, or SX_GONE / SX_TIMEOUT / SX_BADRSP. */
int sx_bus_call(struct sx_front *f, uint32_t type, uint32_t id, int fd);

void sx_grant(struct sx_front *f, uint32_t ref, uint32_t flags, uint32_t mem, uint64_t offset, uint64_t length);

/* Publish one request (id assigned, returned) and kick; -1 when the ring is full. */
int64_t sx_post(struct sx_front *f, struct omx_split_request *req);
/* Next response: 1, or SX_TIMEOUT / SX_GONE. */
int sx_wait_rsp(struct sx_front *f, struct omx_split_response *rsp, int timeout_ms);
/* Post and wait for its response: rsp.ret, or an SX_* code. */
int sx_call(struct sx_front *f, struct omx_split_request *req, struct omx_split_response *rsp);
/* Same, the request being a func with handle and a raw payload. */
int sx_simple(struct sx_front *f, uint16_t func, uint32_t handle, const void *payload, size_t len);

/* Open an endpoint on a fresh sealed area (memory object 1, grant ref 1,
 * event channel 1); returns the call's result; the area is mapped on 0. */
int sx_open_endpoint(struct sx_front *f, uint32_t board, uint32_t index);
/* The next expected event of the open endpoint within timeout_ms, or NULL. */
const union omx_abi_event *sx_next_exp_event(struct sx_front *f, int timeout_ms);

/* A refusal: an error response (ret < 0) or a disconnect.  Prints what happened. */
int sx_refused(const char *what, int ret);
/* CHECK a success (positive controls). */
int sx_accept(const char *what, int ret);
/* 1 once the process holds `baseline` fds and maps none of our memfds
 * (waits a few seconds for asynchronous teardown). */
int sx_settle(pid_t pid, int baseline);
/* Only the socket, connected, nothing said yet: 0 or SX_GONE. */
int sx_raw_connect(struct sx_front *f, const char *path);

/* ---- the well-behaved pair ---------------------------------------------------- */

struct sx_good {
	pid_t sender, receiver;
	int ready_rd;                 /* one byte per finished round */
	int stop_wr;                  /* closed: finish the round, send END */
	int rounds;
};

/* Start the pair on the backend's socket; returns 0 once a first round
 * went through byte-exact, -1 otherwise. */
int sx_good_start(struct sx_good *g, const char *sock);
/* Rounds finished so far (reads what is there without blocking). */
int sx_good_rounds(struct sx_good *g);
/* Stop after the round in progress; 0 when both processes exited cleanly
 * (every byte checked) and at least one more round finished. */
int sx_good_finish(struct sx_good *g);

#endif /* TEST_SPLIT_RAW_H */
