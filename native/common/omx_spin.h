/*
 * omx_spin.h - what every spin-then-block waiter needs: a fine clock, a
 * processor hint, and the rule that adapts its spin budget.  Shared by the
 * direct driver's waits and the split frontend's.
 */
#ifndef OMX_SPIN_H
#define OMX_SPIN_H

#include <stdint.h>
#include <time.h>

static inline uint64_t omx_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static inline uint64_t omx_clock_us(void)
{
	return omx_clock_ns() / 1000;
}

static inline void omx_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * The next spin budget (0..max us) after a wait that ended with an event.
 * Kept when the event came while spinning; back to max when it came soon
 * after blocking (spinning longer would have caught it); halved when the
 * block was long, so that processes that wait long (8 ranks on 2 cores) stop
 * burning the processor the others need.
 */
static inline uint32_t omx_waitspin_next(uint32_t budget, uint32_t max, int spun_out, uint64_t blocked_ns)
{
	if (!spun_out)
		return budget;
	return blocked_ns <= (uint64_t)max * 1000 ? max : budget / 2;
}

#endif /* OMX_SPIN_H */
