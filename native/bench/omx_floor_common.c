/*
 * omx_floor_common.c - plan parsing, the timing loop, result lines, pinning,
 * the spin-then-poll descriptor wait and the spin-then-block shared flag
 * used by the floor programs.
 */
#include "omx_floor.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define OMX_FLOOR_STEPS_MAX 256

int omx_floor_plan_parse(const char *text, struct omx_floor_plan *plan)
{
	struct omx_floor_step *steps;
	const char *s = text;
	unsigned n = 0;
	char *end;

	memset(plan, 0, sizeof(*plan));
	steps = calloc(OMX_FLOOR_STEPS_MAX, sizeof(*steps));
	if (!steps)
		return -ENOMEM;
	while (*s) {
		unsigned long long size;
		unsigned long iters;

		if (n == OMX_FLOOR_STEPS_MAX)
			goto err_free;
		errno = 0;
		size = strtoull(s, &end, 10);
		if (errno || end == s || *end != ':')
			goto err_free;
		s = end + 1;
		iters = strtoul(s, &end, 10);
		if (errno || end == s || iters == 0 || iters > UINT_MAX || (*end && *end != ','))
			goto err_free;
		steps[n].size = (size_t)size;
		steps[n].iters = (unsigned)iters;
		if (steps[n].size > plan->max_size)
			plan->max_size = steps[n].size;
		n++;
		s = *end ? end + 1 : end;
	}
	if (!n)
		goto err_free;
	plan->steps = steps;
	plan->nsteps = n;
	return 0;

err_free:
	free(steps);
	plan->max_size = 0;
	return -EINVAL;
}

void omx_floor_plan_free(struct omx_floor_plan *plan)
{
	free(plan->steps);
	memset(plan, 0, sizeof(*plan));
}

int omx_floor_mode_parse(const char *text, enum omx_floor_mode *mode)
{
	if (!strcmp(text, "lat") || !strcmp(text, "latency"))
		*mode = OMX_FLOOR_LAT;
	else if (!strcmp(text, "bw") || !strcmp(text, "bandwidth"))
		*mode = OMX_FLOOR_BW;
	else
		return -EINVAL;
	return 0;
}

unsigned omx_floor_warmup(unsigned iters)
{
	unsigned w = iters / 10;

	return w < 2 ? 2 : w;
}

double omx_floor_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Both sides walk the same plan in the same order, so nothing but the
 * messages themselves is exchanged between the steps. */
int omx_floor_run(const struct omx_floor_plan *plan, enum omx_floor_mode mode, int report,
		  omx_floor_phase_fn phase, void *ctx)
{
	for (unsigned i = 0; i < plan->nsteps; i++) {
		const struct omx_floor_step *st = &plan->steps[i];
		double t0;
		int err;

		err = phase(ctx, st->size, omx_floor_warmup(st->iters));
		if (err)
			return err;
		t0 = omx_floor_now_us();
		err = phase(ctx, st->size, st->iters);
		if (err)
			return err;
		if (report)
			omx_floor_result(st->size, st->iters, (omx_floor_now_us() - t0) / st->iters /
					 (mode == OMX_FLOOR_LAT ? 2.0 : 1.0));
	}
	return 0;
}

/* Spinning first keeps a waiting side off the 20-25 us cross-vCPU wake-up
 * of a VM; past spin_us it sleeps in poll() so two cores are not burnt. */
ssize_t omx_floor_wait_fd(int fd, short events, unsigned spin_us, const char *who,
			  omx_floor_try_fn try_fn, void *ctx)
{
	double start = omx_floor_now_us();
	int spinning = 1;

	for (;;) {
		ssize_t n = try_fn(ctx);

		if (n != -EAGAIN)
			return n;
		if (spinning) {
			omx_floor_relax();
			spinning = omx_floor_now_us() - start < spin_us;
			continue;
		}
		struct pollfd p = { .fd = fd, .events = events };

		poll(&p, 1, 100);
		if (omx_floor_now_us() - start > OMX_FLOOR_STALL_S * 1e6) {
			fprintf(stderr, "%s: no progress for %d s\n", who, OMX_FLOOR_STALL_S);
			return -ETIMEDOUT;
		}
	}
}

void omx_floor_result(size_t size, unsigned iters, double us_per_msg)
{
	double mbps = us_per_msg > 0 ? (double)size / us_per_msg : 0.0;

	printf("result size=%zu iters=%u us=%.4f mbps=%.3f\n", size, iters, us_per_msg, mbps);
	fflush(stdout);
}

int omx_floor_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return 0;
}

/* "A,B" (parent, child) or "-" for no pinning. */
int omx_floor_parse_cpus(const char *text, int *a, int *b)
{
	char *end;

	*a = *b = -1;
	if (!strcmp(text, "-"))
		return 0;
	*a = (int)strtol(text, &end, 10);
	if (end == text || *end != ',')
		return -EINVAL;
	text = end + 1;
	*b = (int)strtol(text, &end, 10);
	if (end == text || *end)
		return -EINVAL;
	return 0;
}

/* Pre-faulted, so first-touch page faults stay out of the timed loops. */
static void *omx_floor_map(size_t len, int flags)
{
	void *p;

	if (!len)
		len = 1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, len);
	return p;
}

void *omx_floor_map_shared(size_t len)
{
	return omx_floor_map(len, MAP_SHARED);
}

void *omx_floor_map_private(size_t len)
{
	return omx_floor_map(len, MAP_PRIVATE);
}

static long omx_floor_futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

void omx_floor_flag_post(struct omx_floor_flag *f, uint32_t val)
{
	/* The waiter must see the payload written before this store. */
	__atomic_store_n(&f->seq, val, __ATOMIC_RELEASE);
	/* Dekker with the waiter: our seq store is ordered before our read of
	 * sleeping, its sleeping store before its re-read of seq, so at least
	 * one side sees the other and no wake-up is lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&f->sleeping, __ATOMIC_RELAXED))
		omx_floor_futex(&f->seq, FUTEX_WAKE, 1, NULL);
}

int omx_floor_flag_wait(struct omx_floor_flag *f, uint32_t old, unsigned spin_us,
			uint32_t *out)
{
	double start = omx_floor_now_us();
	double spin_end = start + spin_us;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	unsigned n = 0;
	uint32_t v;

	/* Acquire: the poster's payload is visible once the new value is. */
	while ((v = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE)) == old) {
		omx_floor_relax();
		if (++n % 64 == 0 && omx_floor_now_us() > spin_end)
			break;
	}
	while (v == old) {
		__atomic_store_n(&f->sleeping, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		v = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE);
		if (v != old)
			break;
		omx_floor_futex(&f->seq, FUTEX_WAIT, old, &ts);
		v = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE);
		if (v == old && omx_floor_now_us() - start > OMX_FLOOR_STALL_S * 1e6) {
			__atomic_store_n(&f->sleeping, 0, __ATOMIC_RELAXED);
			return -ETIMEDOUT;
		}
	}
	__atomic_store_n(&f->sleeping, 0, __ATOMIC_RELAXED);
	*out = v;
	return 0;
}
