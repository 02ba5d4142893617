/*
 * omx_floor.h - helpers shared by the floor programs (omx_floor_raw,
 * omx_floor_shm, omx_floor_cma, omx_floor_sock): the measurement plan, the
 * timing loop and the result line the Python harness parses, CPU pinning, a
 * spin-then-poll wait on a file descriptor, and a spin-then-block flag in
 * shared memory.
 *
 * Usage:
 *   struct omx_floor_plan plan;
 *   omx_floor_plan_parse("0:1000,8:1000,65536:200", &plan);   size:iters,...
 *   omx_floor_run(&plan, mode, reporting_side, phase, ctx);
 * where phase(ctx, size, count) moves count messages of size bytes (a
 * ping-pong round trip each in lat, a stream in bw).  Per step, run warms up
 * with omx_floor_warmup(iters) messages, times iters, and the reporting side
 * prints omx_floor_result(size, iters, microseconds per message), one-way
 * (half the round trip) in lat.
 *
 * A flag is one 32-bit sequence word plus a "sleeping" word on its own
 * cache line.  The waiter spins for spin_us, then announces that it sleeps
 * and blocks in FUTEX_WAIT; the poster wakes it only when announced.  The
 * flag lives in a MAP_SHARED mapping, so the futex calls are not PRIVATE.
 */
#ifndef OMX_FLOOR_H
#define OMX_FLOOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OMX_FLOOR_SPIN_US_DEFAULT 50      /* as OMX_WAITSPIN_US in libopen-mx */
#define OMX_FLOOR_STALL_S 20              /* no progress for this long: give up */

struct omx_floor_step {
	size_t size;
	unsigned iters;
};

struct omx_floor_plan {
	struct omx_floor_step *steps;
	unsigned nsteps;
	size_t max_size;
};

struct omx_floor_flag {
	uint32_t seq;
	uint32_t sleeping;
	char pad[56];
} __attribute__((aligned(64)));

enum omx_floor_mode { OMX_FLOOR_LAT, OMX_FLOOR_BW };

typedef int (*omx_floor_phase_fn)(void *ctx, size_t size, unsigned count);
/* One attempt at an operation: its result, or -EAGAIN to be retried. */
typedef ssize_t (*omx_floor_try_fn)(void *ctx);

int omx_floor_plan_parse(const char *text, struct omx_floor_plan *plan);
void omx_floor_plan_free(struct omx_floor_plan *plan);
int omx_floor_mode_parse(const char *text, enum omx_floor_mode *mode);
unsigned omx_floor_warmup(unsigned iters);
int omx_floor_run(const struct omx_floor_plan *plan, enum omx_floor_mode mode, int report,
		  omx_floor_phase_fn phase, void *ctx);
ssize_t omx_floor_wait_fd(int fd, short events, unsigned spin_us, const char *who,
			  omx_floor_try_fn try_fn, void *ctx);

double omx_floor_now_us(void);
void omx_floor_result(size_t size, unsigned iters, double us_per_msg);
int omx_floor_pin(int cpu);
int omx_floor_parse_cpus(const char *text, int *a, int *b);
void *omx_floor_map_shared(size_t len);
void *omx_floor_map_private(size_t len);

void omx_floor_flag_post(struct omx_floor_flag *f, uint32_t val);
int omx_floor_flag_wait(struct omx_floor_flag *f, uint32_t old, unsigned spin_us,
			uint32_t *out);

static inline void omx_floor_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif /* OMX_FLOOR_H */
