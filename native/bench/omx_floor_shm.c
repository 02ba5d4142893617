/*
 * omx_floor_shm.c - shared-memory floor between two processes on one host.
 *
 *   omx_floor_shm --mode lat|bw --plan SIZE:ITERS,... [--cpus A,B|-] [--spin-us N]
 *
 * The parent (pinned to A) and a forked child (pinned to B) share one
 * MAP_SHARED mapping.  lat: ping-pong; each side copies the message into a
 * shared area, bumps a flag on its own cache line, and the other side copies
 * it out (the two-copy eager path every shared-memory MPI uses); one-way =
 * round trip / 2.  bw: the parent streams messages through a ring of 16
 * 64 KiB slots that the child drains (copy in, copy out, pipelined on two
 * cores); the time per message runs until the child has drained the last.
 * Waits spin for --spin-us, then block on a futex.
 */
#include "omx_floor.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define OMX_FLOOR_SHM_SLOTS 16
#define OMX_FLOOR_SHM_CHUNK (64 * 1024)

struct omx_floor_shm_ctl {
	struct omx_floor_flag ping;     /* parent -> child message count (lat) */
	struct omx_floor_flag pong;     /* child -> parent message count (lat) */
	struct omx_floor_flag prod;     /* ring slots published (bw) */
	struct omx_floor_flag cons;     /* ring slots drained (bw) */
	uint32_t slot_len[OMX_FLOOR_SHM_SLOTS];
};

struct omx_floor_shm {
	struct omx_floor_shm_ctl *ctl;
	char *fwd, *back;               /* lat: parent->child, child->parent areas */
	char *ring;                     /* bw: SLOTS x CHUNK */
	char *priv;                     /* this process's own message buffer */
	unsigned spin_us;
	enum omx_floor_mode mode;
	int parent;
	uint32_t seq;                   /* lat: messages exchanged so far */
	uint32_t prod, cons;            /* bw: private copies of the ring indices */
};

static int omx_floor_shm_wait(struct omx_floor_flag *f, uint32_t old, unsigned spin_us,
			      uint32_t *out)
{
	int err = omx_floor_flag_wait(f, old, spin_us, out);

	if (err)
		fprintf(stderr, "omx_floor_shm: peer made no progress for %d s\n", OMX_FLOOR_STALL_S);
	return err;
}

static int omx_floor_shm_pingpong(struct omx_floor_shm *s, int parent, size_t size,
				  unsigned count)
{
	struct omx_floor_shm_ctl *c = s->ctl;
	uint32_t v;

	for (unsigned i = 0; i < count; i++) {
		if (parent) {
			memcpy(s->fwd, s->priv, size);
			omx_floor_flag_post(&c->ping, ++s->seq);
			if (omx_floor_shm_wait(&c->pong, s->seq - 1, s->spin_us, &v))
				return -ETIMEDOUT;
			memcpy(s->priv, s->back, size);
		} else {
			if (omx_floor_shm_wait(&c->ping, s->seq, s->spin_us, &v))
				return -ETIMEDOUT;
			s->seq = v;
			memcpy(s->priv, s->fwd, size);
			memcpy(s->back, s->priv, size);
			omx_floor_flag_post(&c->pong, s->seq);
		}
	}
	return 0;
}

static size_t omx_floor_shm_slots(size_t size)
{
	return size ? (size + OMX_FLOOR_SHM_CHUNK - 1) / OMX_FLOOR_SHM_CHUNK : 1;
}

/* Parent side of the ring: copy count messages in, then wait until drained. */
static int omx_floor_shm_produce(struct omx_floor_shm *s, size_t size, unsigned count)
{
	struct omx_floor_shm_ctl *c = s->ctl;

	for (unsigned m = 0; m < count; m++) {
		size_t off = 0;

		do {
			size_t len = size - off < OMX_FLOOR_SHM_CHUNK ? size - off : OMX_FLOOR_SHM_CHUNK;
			uint32_t slot = s->prod % OMX_FLOOR_SHM_SLOTS;

			while (s->prod - s->cons == OMX_FLOOR_SHM_SLOTS)
				if (omx_floor_shm_wait(&c->cons, s->cons, s->spin_us, &s->cons))
					return -ETIMEDOUT;
			memcpy(s->ring + (size_t)slot * OMX_FLOOR_SHM_CHUNK, s->priv + off, len);
			c->slot_len[slot] = (uint32_t)len;
			omx_floor_flag_post(&c->prod, ++s->prod);
			off += len;
		} while (off < size);
	}
	while (s->cons != s->prod)
		if (omx_floor_shm_wait(&c->cons, s->cons, s->spin_us, &s->cons))
			return -ETIMEDOUT;
	return 0;
}

static int omx_floor_shm_consume(struct omx_floor_shm *s, size_t size, unsigned count)
{
	struct omx_floor_shm_ctl *c = s->ctl;
	size_t nslots = omx_floor_shm_slots(size) * count;
	size_t off = 0;

	for (size_t i = 0; i < nslots; i++) {
		uint32_t slot = s->cons % OMX_FLOOR_SHM_SLOTS;
		uint32_t len;

		while (s->prod == s->cons)
			if (omx_floor_shm_wait(&c->prod, s->prod, s->spin_us, &s->prod))
				return -ETIMEDOUT;
		len = c->slot_len[slot];
		if (off + len > size)
			off = 0;
		memcpy(s->priv + off, s->ring + (size_t)slot * OMX_FLOOR_SHM_CHUNK, len);
		off += len;
		omx_floor_flag_post(&c->cons, ++s->cons);
	}
	return 0;
}

static int omx_floor_shm_phase(void *ctx, size_t size, unsigned count)
{
	struct omx_floor_shm *s = ctx;

	if (s->mode == OMX_FLOOR_LAT)
		return omx_floor_shm_pingpong(s, s->parent, size, count);
	return s->parent ? omx_floor_shm_produce(s, size, count) : omx_floor_shm_consume(s, size, count);
}

static void omx_floor_shm_usage(void)
{
	fprintf(stderr, "usage: omx_floor_shm --mode lat|bw --plan SIZE:ITERS[,...] "
		"[--cpus A,B|-] [--spin-us N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' }, { "plan", required_argument, NULL, 'p' },
		{ "cpus", required_argument, NULL, 'c' }, { "spin-us", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct omx_floor_plan plan = { 0 };
	enum omx_floor_mode mode = OMX_FLOOR_LAT;
	struct omx_floor_shm s = { .spin_us = OMX_FLOOR_SPIN_US_DEFAULT };
	size_t area;
	int cpu_a = 0, cpu_b = 1, opt, status, err;
	char *shared;
	pid_t child;

	while ((opt = getopt_long(argc, argv, "m:p:c:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (omx_floor_mode_parse(optarg, &mode))
				goto usage;
			break;
		case 'p':
			omx_floor_plan_free(&plan);
			if (omx_floor_plan_parse(optarg, &plan))
				goto usage;
			break;
		case 'c':
			if (omx_floor_parse_cpus(optarg, &cpu_a, &cpu_b))
				goto usage;
			break;
		case 's':
			s.spin_us = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (!plan.nsteps || optind != argc)
		goto usage;

	area = mode == OMX_FLOOR_LAT ? 2 * plan.max_size
				     : (size_t)OMX_FLOOR_SHM_SLOTS * OMX_FLOOR_SHM_CHUNK;
	shared = omx_floor_map_shared(sizeof(struct omx_floor_shm_ctl) + area);
	if (!shared) {
		perror("omx_floor_shm: mmap");
		return 1;
	}
	s.ctl = (struct omx_floor_shm_ctl *)shared;
	memset(s.ctl, 0, sizeof(*s.ctl));
	s.fwd = s.ring = shared + sizeof(struct omx_floor_shm_ctl);
	s.mode = mode;
	s.back = s.fwd + plan.max_size;
	printf("# shm %s: two-copy through MAP_SHARED, spin %u us then futex, cpus %d,%d\n",
	       mode == OMX_FLOOR_LAT ? "ping-pong" : "ring 16 x 64 KiB", s.spin_us, cpu_a, cpu_b);
	fflush(stdout);

	child = fork();
	if (child < 0) {
		perror("omx_floor_shm: fork");
		return 1;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		omx_floor_pin(cpu_b);
		s.priv = omx_floor_map_private(plan.max_size);
		if (!s.priv)
			_exit(1);
		_exit(omx_floor_run(&plan, mode, 0, omx_floor_shm_phase, &s) ? 1 : 0);
	}
	omx_floor_pin(cpu_a);
	s.priv = omx_floor_map_private(plan.max_size);
	s.parent = 1;
	err = s.priv ? omx_floor_run(&plan, mode, 1, omx_floor_shm_phase, &s) : -ENOMEM;
	if (err)
		kill(child, SIGKILL);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		err = err ? err : -ECHILD;
	omx_floor_plan_free(&plan);
	return err ? 1 : 0;

usage:
	omx_floor_shm_usage();
	omx_floor_plan_free(&plan);
	return 2;
}
