/*
 * omx_drv_shared_uq.c - the producer side of an endpoint's unexpected queue,
 * which every local sender and the owner's receive demux share: the lock
 * word, the timed wait for it, the takeover from a dead holder, publish and
 * the owner's release (omx_drv_shared.h describes the protocol).
 *
 * The lock word lives in the area, so anything that can write the area can
 * hold it, forge it or wipe it: a holder is only ever waited for up to a
 * deadline, a value no live thread could have written is taken over at
 * once, and nothing but the queue indices (masked on use) depends on it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv_shared.h"
#include "omx_spin.h"

/* ---- the unexpected queue, many producers ---------------------------------- */

#define OMX_DRV_TID_MAX (1u << 22)        /* the kernel's PID_MAX_LIMIT */
#define OMX_DRV_UQ_SICK 16
#define OMX_DRV_UQ_SICK_MS 1000

static uint32_t omx_drv_uq_wait_default = OMX_DRV_UQ_WAIT_US;
static __thread uint32_t omx_drv_my_tid;
static pthread_once_t omx_drv_tid_once = PTHREAD_ONCE_INIT;

/* Areas whose lock timed out lately are tried, not waited for: a process
 * that keeps its lock does not get to stall every producer in turn. */
static pthread_mutex_t omx_drv_uq_sick_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const void *shm;
	uint64_t until;
} omx_drv_uq_sick[OMX_DRV_UQ_SICK];
static uint32_t omx_drv_uq_sick_next;

void omx_drv_uq_set_default_wait(uint32_t wait_us)
{
	__atomic_store_n(&omx_drv_uq_wait_default, wait_us, __ATOMIC_RELAXED);
}

uint32_t omx_drv_uq_default_wait(void)
{
	return __atomic_load_n(&omx_drv_uq_wait_default, __ATOMIC_RELAXED);
}

static void omx_drv_tid_forget(void)
{
	omx_drv_my_tid = 0;
}

static void omx_drv_tid_atfork(void)
{
	pthread_atfork(NULL, NULL, omx_drv_tid_forget);
}

static uint32_t omx_drv_tid(void)
{
	if (!omx_drv_my_tid) {
		/* A forked child must not lock under its parent's id. */
		pthread_once(&omx_drv_tid_once, omx_drv_tid_atfork);
		omx_drv_my_tid = (uint32_t)syscall(SYS_gettid);
	}
	return omx_drv_my_tid;
}

static int omx_drv_uq_sick_check(const void *shm, int mark)
{
	uint64_t now = omx_drv_now_jiffies();
	int sick = 0;

	pthread_mutex_lock(&omx_drv_uq_sick_lock);
	for (uint32_t i = 0; i < OMX_DRV_UQ_SICK; i++)
		if (omx_drv_uq_sick[i].shm == shm && now < omx_drv_uq_sick[i].until)
			sick = 1;
	if (mark && !sick) {
		omx_drv_uq_sick[omx_drv_uq_sick_next].shm = shm;
		omx_drv_uq_sick[omx_drv_uq_sick_next].until = now + OMX_DRV_UQ_SICK_MS;
		omx_drv_uq_sick_next = (omx_drv_uq_sick_next + 1) % OMX_DRV_UQ_SICK;
	}
	pthread_mutex_unlock(&omx_drv_uq_sick_lock);
	return sick;
}

/* A holder that can never release: gone, or a value no live producer wrote
 * (ours: producers never nest; beyond any thread id). */
static int omx_drv_uq_holder_gone(uint32_t h, uint32_t me)
{
	if (h == me || h > OMX_DRV_TID_MAX)
		return 1;
	return kill((pid_t)h, 0) < 0 && errno == ESRCH;
}

/* Take the lock within wait_us: 0, or -1 (counted by the caller). */
static int omx_drv_uq_lock(struct omx_drv_shm *shm, union omx_abi_event *slots, uint32_t entries,
			   uint32_t wait_us)
{
	uint32_t me = omx_drv_tid(), h = 0;
	uint64_t deadline = 0;

	/* Acquire: pairs with the release store of the previous holder's unlock. */
	if (__atomic_compare_exchange_n(&shm->lock, &h, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;
	if (omx_drv_uq_sick_check(shm, 0))
		wait_us = 0;
	for (uint32_t n = 0;; n++) {
		uint64_t now;

		h = __atomic_load_n(&shm->lock, __ATOMIC_RELAXED);
		if (h == 0) {
			if (__atomic_compare_exchange_n(&shm->lock, &h, me, 0, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				return 0;
			continue;
		}
		now = omx_clock_us();
		if (!deadline)
			deadline = now + wait_us;
		if (((n & 63) == 0 || now >= deadline) && omx_drv_uq_holder_gone(h, me) &&
		    __atomic_compare_exchange_n(&shm->lock, &h, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			break;
		if (now >= deadline) {
			omx_drv_uq_sick_check(shm, 1);
			return -1;
		}
		if (n < 1000) {
			sched_yield();
		} else {
			struct timespec nap = { 0, 20000 };
			nanosleep(&nap, NULL);
		}
	}
	/* Taken from a dead holder: it may have published its slot without
	 * advancing the index; a slot whose id is that of index `next` was
	 * published (a stale lap carries another id, see omx_eventq.h). */
	h = __atomic_load_n(&shm->unexp_next, __ATOMIC_RELAXED);
	if (__atomic_load_n(&slots[h & (entries - 1)].generic.id, __ATOMIC_ACQUIRE) == omx_eventq_id(h))
		__atomic_store_n(&shm->unexp_next, h + 1, __ATOMIC_RELEASE);
	return 0;
}

static void omx_drv_uq_unlock(struct omx_drv_shm *shm)
{
	/* Release: the next holder sees our slot and index. */
	__atomic_store_n(&shm->lock, 0, __ATOMIC_RELEASE);
}

union omx_abi_event *omx_drv_uq_begin_timed(struct omx_drv_shm *shm, union omx_abi_event *slots,
					    uint32_t entries, uint32_t wait_us)
{
	union omx_abi_event *ev;
	uint32_t next;

	if (omx_drv_uq_lock(shm, slots, entries, wait_us))
		return NULL;
	next = shm->unexp_next;
	/* Also refuses a corrupted pair (more outstanding than slots). */
	if (next - shm->unexp_released >= entries) {
		omx_drv_uq_unlock(shm);
		return NULL;
	}
	ev = &slots[next & (entries - 1)];
	memset(ev->generic.body, 0, sizeof(ev->generic.body));
	return ev;
}

union omx_abi_event *omx_drv_uq_begin(struct omx_drv_shm *shm, union omx_abi_event *slots, uint32_t entries)
{
	return omx_drv_uq_begin_timed(shm, slots, entries,
				      omx_drv_uq_default_wait());
}

uint32_t omx_drv_uq_index(const struct omx_drv_shm *shm)
{
	return shm->unexp_next;
}

void omx_drv_uq_publish(struct omx_drv_shm *shm, union omx_abi_event *ev, uint8_t type)
{
	uint32_t next = shm->unexp_next;

	ev->generic.type = type;
	/* Release: the consumer that acquire-loads the id sees the body (and
	 * the recvq slot written before). */
	__atomic_store_n(&ev->generic.id, omx_eventq_id(next), __ATOMIC_RELEASE);
	/* After the id: a producer dying here leaves a published slot that the
	 * next lock owner recognises (omx_drv_uq_lock). */
	__atomic_store_n(&shm->unexp_next, next + 1, __ATOMIC_RELEASE);
	omx_drv_uq_unlock(shm);
}

int omx_drv_uq_release(struct omx_drv_shm *shm, union omx_abi_event *slots, uint32_t entries, uint32_t count)
{
	int r = omx_drv_uq_lock(shm, slots, entries,
				omx_drv_uq_default_wait());

	if (r)
		return OMX_ABI_EIO;
	if (shm->unexp_next - shm->unexp_released < count)
		r = OMX_ABI_EINVAL;
	else
		shm->unexp_released += count;
	omx_drv_uq_unlock(shm);
	return r;
}
