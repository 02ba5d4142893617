/*
 * omx_floor_cma.c - single-copy floor on one host: process_vm_readv (CMA).
 *
 *   omx_floor_cma --mode lat|bw --plan SIZE:ITERS,... [--cpus A,B|-] [--spin-us N]
 *
 * The parent (pinned to A) forks a child (pinned to B); each owns a private
 * buffer at the same virtual address (mapped before fork, copied on the
 * first write after it).  lat: ping-pong where a message is "flag the peer,
 * the peer pulls size bytes from my buffer with one process_vm_readv and
 * flags back"; one-way = round trip / 2.  bw: the parent pulls size bytes
 * from the child's buffer iters times back to back (the child only waits);
 * that is the rate a rendezvous+pull path could reach with one copy.
 */
#include "omx_floor.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

struct omx_floor_cma_ctl {
	struct omx_floor_flag ping;     /* parent -> child: messages sent; ~0 at the end (bw) */
	struct omx_floor_flag pong;     /* child -> parent: messages pulled */
};

struct omx_floor_cma {
	struct omx_floor_cma_ctl *ctl;
	char *buf;                      /* same address in both processes */
	pid_t peer;
	unsigned spin_us;
	enum omx_floor_mode mode;
	uint32_t seq;
};

/* Copy size bytes from the peer's buffer into ours with one syscall when it can. */
static int omx_floor_cma_pull(struct omx_floor_cma *c, size_t size)
{
	size_t done = 0;

	while (done < size) {
		struct iovec local = { c->buf + done, size - done };
		struct iovec remote = { c->buf + done, size - done };
		ssize_t n = process_vm_readv(c->peer, &local, 1, &remote, 1, 0);

		if (n <= 0) {
			fprintf(stderr, "omx_floor_cma: process_vm_readv: %s\n",
				n < 0 ? strerror(errno) : "no progress");
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

static int omx_floor_cma_wait(struct omx_floor_flag *f, uint32_t old, unsigned spin_us,
			      uint32_t *out)
{
	int err = omx_floor_flag_wait(f, old, spin_us, out);

	if (err)
		fprintf(stderr, "omx_floor_cma: peer made no progress for %d s\n", OMX_FLOOR_STALL_S);
	return err;
}

static int omx_floor_cma_pingpong(struct omx_floor_cma *c, int parent, size_t size,
				  unsigned count)
{
	uint32_t v;

	for (unsigned i = 0; i < count; i++) {
		if (parent) {
			omx_floor_flag_post(&c->ctl->ping, ++c->seq);
			if (omx_floor_cma_wait(&c->ctl->pong, c->seq - 1, c->spin_us, &v))
				return -ETIMEDOUT;
			if (omx_floor_cma_pull(c, size))
				return -EIO;
		} else {
			if (omx_floor_cma_wait(&c->ctl->ping, c->seq, c->spin_us, &v))
				return -ETIMEDOUT;
			c->seq = v;
			if (omx_floor_cma_pull(c, size))
				return -EIO;
			omx_floor_flag_post(&c->ctl->pong, c->seq);
		}
	}
	return 0;
}

static int omx_floor_cma_stream(struct omx_floor_cma *c, size_t size, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		if (omx_floor_cma_pull(c, size))
			return -EIO;
	return 0;
}

static int omx_floor_cma_phase(void *ctx, size_t size, unsigned count)
{
	struct omx_floor_cma *c = ctx;

	return c->mode == OMX_FLOOR_LAT ? omx_floor_cma_pingpong(c, 1, size, count)
				       : omx_floor_cma_stream(c, size, count);
}

static int omx_floor_cma_parent(struct omx_floor_cma *c, const struct omx_floor_plan *plan)
{
	int err = omx_floor_run(plan, c->mode, 1, omx_floor_cma_phase, c);

	/* The child idles until told the stream is over. */
	if (c->mode == OMX_FLOOR_BW)
		omx_floor_flag_post(&c->ctl->ping, UINT32_MAX);
	return err;
}

static int omx_floor_cma_child(struct omx_floor_cma *c, const struct omx_floor_plan *plan,
			       enum omx_floor_mode mode)
{
	uint32_t v = 0;

	if (mode == OMX_FLOOR_BW) {
		/* Stay alive and idle while the parent pulls; a long stall is fine here. */
		while (v != UINT32_MAX) {
			int err = omx_floor_flag_wait(&c->ctl->ping, 0, c->spin_us, &v);

			if (err && kill(c->peer, 0) < 0)
				return -ESRCH;
		}
		return 0;
	}
	for (unsigned i = 0; i < plan->nsteps; i++) {
		const struct omx_floor_step *st = &plan->steps[i];

		if (omx_floor_cma_pingpong(c, 0, st->size, omx_floor_warmup(st->iters) + st->iters))
			return -EIO;
	}
	return 0;
}

static void omx_floor_cma_usage(void)
{
	fprintf(stderr, "usage: omx_floor_cma --mode lat|bw --plan SIZE:ITERS[,...] "
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
	struct omx_floor_cma c = { .spin_us = OMX_FLOOR_SPIN_US_DEFAULT };
	int cpu_a = 0, cpu_b = 1, opt, status, err;
	pid_t parent, child;

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
			c.spin_us = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (!plan.nsteps || optind != argc)
		goto usage;

	c.ctl = omx_floor_map_shared(sizeof(*c.ctl));
	c.buf = omx_floor_map_private(plan.max_size);
	if (!c.ctl || !c.buf) {
		perror("omx_floor_cma: mmap");
		return 1;
	}
	memset(c.ctl, 0, sizeof(*c.ctl));
	c.mode = mode;
	printf("# cma %s: process_vm_readv, spin %u us then futex, cpus %d,%d\n",
	       mode == OMX_FLOOR_LAT ? "ping-pong (flag + pull)" : "stream (parent pulls)",
	       c.spin_us, cpu_a, cpu_b);
	fflush(stdout);

	parent = getpid();
	/* Under Yama ptrace_scope 1 the child may only read us once we allow it. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	child = fork();
	if (child < 0) {
		perror("omx_floor_cma: fork");
		return 1;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		omx_floor_pin(cpu_b);
		memset(c.buf, 0xc3, plan.max_size);     /* own pages, touched on our CPU */
		c.peer = parent;
		_exit(omx_floor_cma_child(&c, &plan, mode) ? 1 : 0);
	}
	omx_floor_pin(cpu_a);
	memset(c.buf, 0x3c, plan.max_size);
	c.peer = child;
	err = omx_floor_cma_parent(&c, &plan);
	if (err)
		kill(child, SIGKILL);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		err = err ? err : -ECHILD;
	omx_floor_plan_free(&plan);
	return err ? 1 : 0;

usage:
	omx_floor_cma_usage();
	omx_floor_plan_free(&plan);
	return 2;
}
