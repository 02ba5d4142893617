/*
 * omx_split_back.h - the split backend (the dom0 role) as a library: the
 * daemon omx_backend is a main() around it, and tests run it in process.
 *
 * Recipe:
 *   struct omx_split_back_config c;
 *   omx_split_back_config_init(&c);        // defaults: see the fields
 *   c.socket_path = "/run/omx.sock";
 *   omx_split_back_create(&c, &b);         // opens the engine, listens
 *   omx_split_back_run(b, &stop);          // until stop != 0 (a signal)
 *   omx_split_back_destroy(b);             // frontends torn down, socket removed
 * or drive it by hand: omx_split_back_poll(b, timeout_ms) runs one pass.
 *
 * One thread runs the backend; the calls are not thread-safe, except that
 * *stop may be set from anywhere (a signal handler included).
 */
#ifndef OMX_SPLIT_BACK_H
#define OMX_SPLIT_BACK_H

#include <stdint.h>
#include <stdio.h>

#include "omx_abi_ops.h"

#define OMX_SPLIT_BACK_UIDS_MAX 32

struct omx_split_back_config {
	const char *socket_path;      /* required; an existing socket file is replaced */
	/* Access policy, checked against SO_PEERCRED and on every request. */
	uint32_t allow_uids[OMX_SPLIT_BACK_UIDS_MAX];
	uint32_t nr_allow_uids;       /* 0: the backend's own uid and root */
	uint32_t boards_mask;         /* bit b: board b may be opened (default all) */
	uint64_t endpoints[4];        /* bit i: endpoint index i may be opened (default all) */
	uint32_t admin_uid;           /* peer table writes, hostname, counter clear (and root) */
	/* Fairness and hardening. */
	uint32_t budget;              /* requests of one frontend per pass (default 16) */
	uint32_t error_limit;         /* malformed requests per second that disconnect (default 1000) */
	uint32_t frontends_max;       /* connections at once (default 256) */
	uint32_t handshake_ms;        /* to reach Connected (default 10000) */
	uint32_t spin_us;             /* spin after work before blocking (default 100) */
	int verbose;                  /* 1: one line per frontend event and its stats at the end */
	FILE *log;                    /* verbose and warning lines (default stderr) */
	/* The engine; NULL opens the direct driver from the environment (and
	 * closes it in destroy).  A caller's engine is not closed. */
	struct omx_abi_driver *drv;
};

struct omx_split_back;

/* Counters over the backend's life (tests and the -v summary). */
struct omx_split_back_stats {
	uint64_t frontends;           /* connected now */
	uint64_t accepted;
	uint64_t refused;             /* by the policy or the frontend limit */
	uint64_t disconnected;        /* for a lie, a bad bus message or an error flood */
	uint64_t requests;
	uint64_t errors;              /* error responses */
	uint64_t endpoints;           /* shadow endpoints open now */
};

void omx_split_back_config_init(struct omx_split_back_config *c);
/* "0-3,7" into a bitmap of max bits; 0 or OMX_ABI_EINVAL. */
int omx_split_back_parse_ranges(const char *s, uint64_t *bits, uint32_t max);

int omx_split_back_create(const struct omx_split_back_config *c, struct omx_split_back **out);
/* Spin-then-block loop until *stop; 0 or a negative OMX_ABI_E*. */
int omx_split_back_run(struct omx_split_back *b, volatile int *stop);
/* One pass: wait up to timeout_ms (0: not at all, < 0: until something
 * happens) for readiness, then serve it; returns >= 0 (work done) or an error. */
int omx_split_back_poll(struct omx_split_back *b, int timeout_ms);
void omx_split_back_get_stats(const struct omx_split_back *b, struct omx_split_back_stats *out);
/* An fd that polls readable when the backend has something to do (its
 * epoll set), for a caller's own poll around omx_split_back_poll. */
int omx_split_back_fd(const struct omx_split_back *b);
void omx_split_back_destroy(struct omx_split_back *b);

#endif /* OMX_SPLIT_BACK_H */
