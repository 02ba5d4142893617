/*
 * test_split_front.c - the split frontend against a fake backend (a thread
 * of this process that speaks the bus and ring protocol by hand): refusal,
 * a missing socket, the handshake, waited and posted commands, no kick while
 * the backend is awake, flow control with a full ring, concurrent threads,
 * endpoint open (area, grants, seals), wait_event and wakeup, a polling
 * loop that naps, regions and busy-aware grant ends, the Closing -> Closed
 * walk, backend death, and no fd left behind.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "omx_eventq.h"
#include "omx_split_front.h"
#include "omx_wire.h"
#include "omx_split_ring.h"
#include "test_split_front_fake.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

/* ---- the cases ------------------------------------------------------------------- */

static uint64_t seqs[FAKE_THREADS];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* Wait up to 5 s for *c >= want. */
static int wait_count(const uint32_t *c, uint32_t want)
{
	uint64_t end = now_ms() + 5000;

	while (fake_read(c) < want && now_ms() < end)
		usleep(1000);
	return fake_read(c) >= want;
}

static int post_tiny(struct omx_abi_driver *d, uint32_t h, uint32_t t, uint16_t len)
{
	struct omx_abi_send_tiny cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.length = len;
	cmd.hdr.match_info = (uint64_t)t << 32 | seqs[t];
	int err = d->ops->send_tiny(d, h, &cmd);
	if (!err)
		seqs[t]++;
	return err;
}

static void test_refusal_and_absence(void)
{
	struct omx_abi_driver *d = NULL;
	struct fake fk;

	fake_start(&fk, "refuse", "uid 4242 is outside --allow-uid");
	CHECK(omx_split_front_open(fk.path, &d) == OMX_ABI_EPERM);
	CHECK(strstr(omx_split_front_refusal(), "uid 4242") != NULL);
	fake_stop(&fk);
	CHECK(omx_split_front_open("/tmp/omx-split-front-nobody-listens.sock", &d) == OMX_ABI_ENODEV);
	setenv("OMX_DRIVER", "split:/tmp/omx-split-front-nobody-listens.sock", 1);
	CHECK(omx_abi_driver_open(&d) == OMX_ABI_ENODEV);
	setenv("OMX_DRIVER", "nonsense", 1);
	CHECK(omx_abi_driver_open(&d) == OMX_ABI_EINVAL);
	unsetenv("OMX_DRIVER");
}

static void test_queries(struct omx_abi_driver *d)
{
	struct omx_abi_driver_info di;
	struct omx_abi_board_info bi;
	struct omx_abi_peer_info pi;
	uint32_t vals[OMX_COUNTER_INDEX_MAX + 3];
	char longname[OMX_ABI_HOSTNAME_MAX + 10];

	CHECK(strcmp(d->ops->name, "split") == 0);
	CHECK(d->ops->get_info(d, &di) == 0 && di.board_count == 2 && di.hz == 1000);
	CHECK(d->ops->get_board_info(d, 1, &bi) == 0 && bi.addr == 0x101 && !strcmp(bi.hostname, "fake:1"));
	CHECK(d->ops->get_board_info(d, 99, &bi) == OMX_ABI_ENODEV);
	CHECK(d->ops->get_counters(d, 0, 0, vals, OMX_COUNTER_INDEX_MAX + 3) == 0);
	CHECK(vals[0] == 0 && vals[OMX_COUNTER_INDEX_MAX - 1] == OMX_COUNTER_INDEX_MAX - 1 &&
	      vals[OMX_COUNTER_INDEX_MAX] == 0);
	/* The clear rides on the last chunk only. */
	CHECK(d->ops->get_counters(d, 0, 1, vals, OMX_COUNTER_INDEX_MAX) == 0);
	CHECK(vals[0] == 0 && vals[OMX_COUNTER_INDEX_MAX - 1] == OMX_COUNTER_INDEX_MAX - 1 + 1000);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(d->ops->peer_from_hostname(d, longname, &pi) == OMX_ABI_EINVAL);
	CHECK(d->ops->peer_table_clear(d) == OMX_ABI_ENOSYS);
	CHECK(d->ops->progress(d, 0) == 0);
}

static uint32_t open_ep(struct fake *fk, struct omx_abi_driver *d, uint32_t index, int *err)
{
	struct omx_abi_open_endpoint cmd = { .board_index = 0, .endpoint_index = index };
	struct omx_abi_endpoint_info info;

	snprintf(cmd.command, sizeof(cmd.command), "test_split_front");
	*err = d->ops->open_endpoint(d, &cmd, &info);
	if (*err)
		return UINT32_MAX;
	CHECK(info.session_id == 0x5e55 && info.endpoint_index == index);
	CHECK(!memcmp(&info.layout, &fk->layout, sizeof(info.layout)));
	CHECK(d->ops->endpoint_area(d, info.handle) != NULL);
	return info.handle;
}

static void test_posted(struct fake *fk, struct omx_abi_driver *d, uint32_t h)
{
	struct omx_abi_send_medium_frag mf = { .sendq_offset = 8192, .msg_length = 100, .frag_length = 100 };
	struct omx_abi_send_small sm = { .length = 10 };
	struct omx_abi_pull pull = { .length = 10, .resend_timeout_ms = 1000, .puller_rdma_id = 3 };
	uint32_t base = fake_read(&fk->tinies), kicks;

	for (int i = 0; i < 100; i++)
		CHECK(post_tiny(d, h, 0, 8) == 0);
	CHECK(post_tiny(d, h, 0, OMX_TINY_MSG_LENGTH_MAX + 1) == OMX_ABI_EINVAL);
	CHECK(post_tiny(d, 77, 0, 8) == OMX_ABI_EINVAL);
	CHECK(d->ops->send_medium_frag(d, h, &mf) == 0);
	mf.sendq_offset = 100;
	CHECK(d->ops->send_medium_frag(d, h, &mf) == OMX_ABI_EINVAL);
	mf.sendq_offset = 8192;
	mf.frag_length = mf.msg_length = 5000;       /* above the board's 4096 */
	CHECK(d->ops->send_medium_frag(d, h, &mf) == OMX_ABI_EINVAL);
	CHECK(d->ops->send_small(d, h, &sm) == 0);   /* refused by the backend later: counted */
	CHECK(d->ops->pull(d, h, &pull) == OMX_ABI_ENOENT);   /* no region 3 here */
	CHECK(d->ops->release_exp_slots(d, h) == 0);
	CHECK(wait_count(&fk->tinies, base + 100));
	CHECK(fake_read(&fk->order_errors) == 0);

	/* Sleeping backend: each post after a pause kicks it. */
	kicks = fake_read(&fk->kicks);
	for (int i = 0; i < 20; i++) {
		usleep(10000);
		CHECK(post_tiny(d, h, 0, 0) == 0);
	}
	usleep(20000);
	CHECK(fake_read(&fk->kicks) - kicks >= 10);

	/* Awake backend: 1000 posts, at most the first one kicks. */
	fake_set(&fk->awake, 1);
	usleep(20000);
	kicks = fake_read(&fk->kicks);
	base = fake_read(&fk->tinies);
	for (int i = 0; i < 1000; i++)
		CHECK(post_tiny(d, h, 0, 8) == 0);
	CHECK(wait_count(&fk->tinies, base + 1000));
	fake_set(&fk->awake, 0);
	usleep(50000);
	CHECK(fake_read(&fk->kicks) - kicks <= 1);
}

struct flood {
	struct omx_abi_driver *d;
	uint32_t h, t, n, done, bad;
};

static void *flood_main(void *arg)
{
	struct flood *fl = arg;

	for (uint32_t i = 0; i < fl->n; i++) {
		if (post_tiny(fl->d, fl->h, fl->t, 4))
			fl->bad++;
		__atomic_store_n(&fl->done, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_flow_control(struct fake *fk, struct omx_abi_driver *d, uint32_t h)
{
	struct flood fl = { .d = d, .h = h, .t = 1, .n = 200 };
	uint32_t base = fake_read(&fk->tinies), done;
	pthread_t thr;

	usleep(20000);                        /* every earlier response is back */
	fake_set(&fk->stall, 1);
	usleep(20000);
	pthread_create(&thr, NULL, flood_main, &fl);
	usleep(200000);
	done = __atomic_load_n(&fl.done, __ATOMIC_ACQUIRE);
	/* A full ring holds the producer: never more requests than slots. */
	CHECK(done >= OMX_SPLIT_RING_SLOTS - 2 && done <= OMX_SPLIT_RING_SLOTS);
	CHECK(fake_read(&fk->lies) == 0);
	fake_set(&fk->stall, 0);
	pthread_join(thr, NULL);
	CHECK(fl.done == 200 && fl.bad == 0);
	CHECK(wait_count(&fk->tinies, base + 200));
	CHECK(fake_read(&fk->order_errors) == 0 && fake_read(&fk->lies) == 0);
}

struct worker {
	struct omx_abi_driver *d;
	uint32_t h, t, bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct omx_abi_board_info bi;
	char want[32];

	snprintf(want, sizeof(want), "fake:%u", w->t + 10);
	for (int i = 0; i < 2000; i++) {
		if (w->d->ops->get_board_info(w->d, w->t + 10, &bi) || bi.addr != 0x100 + w->t + 10 ||
		    strcmp(bi.hostname, want))
			w->bad++;
		if (i % 3 == 0 && post_tiny(w->d, w->h, w->t, 1))
			w->bad++;
	}
	return NULL;
}

static void test_threads(struct fake *fk, struct omx_abi_driver *d, uint32_t h)
{
	struct worker w[FAKE_THREADS];
	pthread_t thr[FAKE_THREADS];
	uint32_t base = fake_read(&fk->tinies);

	for (uint32_t t = 0; t < FAKE_THREADS; t++) {
		w[t] = (struct worker){ .d = d, .h = h, .t = t };
		pthread_create(&thr[t], NULL, worker_main, &w[t]);
	}
	for (uint32_t t = 0; t < FAKE_THREADS; t++) {
		pthread_join(thr[t], NULL);
		CHECK(w[t].bad == 0);
	}
	CHECK(wait_count(&fk->tinies, base + FAKE_THREADS * 667));
	CHECK(fake_read(&fk->order_errors) == 0);
}

struct waiter {
	struct omx_abi_driver *d;
	uint32_t h, next_exp;
	int err;
	struct omx_abi_wait wait;
	uint32_t finished;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->wait = (struct omx_abi_wait){ .next_exp_event_index = w->next_exp, .jiffies_expire = UINT64_MAX };
	w->err = w->d->ops->wait_event(w->d, w->h, &w->wait);
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_wait(struct fake *fk, struct omx_abi_driver *d, uint32_t h)
{
	struct waiter w = { .d = d, .h = h, .next_exp = 0 };
	struct omx_abi_wait wait;
	pthread_t thr;
	uint64_t t0;

	t0 = now_ms();
	wait = (struct omx_abi_wait){ .jiffies_expire = d->ops->jiffies(d) + 30 };
	CHECK(d->ops->wait_event(d, h, &wait) == 0 && wait.status == OMX_ABI_WAIT_TIMEOUT);
	CHECK(now_ms() - t0 >= 25);

	/* A blocked waiter wakes on the event channel the backend writes. */
	pthread_create(&thr, NULL, waiter_main, &w);
	usleep(50000);
	CHECK(!__atomic_load_n(&w.finished, __ATOMIC_ACQUIRE));
	fake_set(&fk->post_event, 1);
	pthread_join(thr, NULL);
	CHECK(w.err == 0 && w.wait.status == OMX_ABI_WAIT_EVENT);
	wait = (struct omx_abi_wait){ .jiffies_expire = UINT64_MAX };
	CHECK(d->ops->wait_event(d, h, &wait) == 0 && wait.status == OMX_ABI_WAIT_RACE);

	/* omx_wakeup from another thread. */
	w.next_exp = 1;
	w.finished = 0;
	pthread_create(&thr, NULL, waiter_main, &w);
	usleep(50000);
	CHECK(!__atomic_load_n(&w.finished, __ATOMIC_ACQUIRE));
	CHECK(d->ops->wakeup(d, h) == 0);
	pthread_join(thr, NULL);
	CHECK(w.err == 0 && w.wait.status == OMX_ABI_WAIT_WAKEUP);
}

/* A polling loop (progress in a tight loop) naps instead of burning its
 * processor, and still sees the next event at once. */
static void test_polling(struct fake *fk, struct omx_abi_driver *d, uint32_t h)
{
	const union omx_abi_event *exp;
	struct timespec c0, c1;
	uint64_t t0, cpu_us, seen_ms = 0;
	uint8_t *area = d->ops->endpoint_area(d, h);

	exp = (const void *)(area + fk->layout.exp_eventq_offset);
	t0 = now_ms();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	while (now_ms() - t0 < 200)
		CHECK(d->ops->progress(d, h) == 0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	cpu_us = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000 + (uint64_t)(c1.tv_nsec - c0.tv_nsec) / 1000;
	printf("polling: %llu us of processor in 200 ms\n", (unsigned long long)cpu_us);
	CHECK(cpu_us < 60000);                /* naps: well under a third of the 200 ms */
	fake_set(&fk->post_event, 1);
	t0 = now_ms();
	while (now_ms() - t0 < 2000 && !seen_ms) {
		d->ops->progress(d, h);
		if (omx_eventq_peek(exp, fk->layout.eventq_entries, 1))
			seen_ms = now_ms() - t0 + 1;
	}
	CHECK(seen_ms && seen_ms < 50);
}

static int region(struct omx_abi_driver *d, uint32_t h, uint32_t id, uint8_t (*bufs)[64], uint32_t nr)
{
	struct omx_abi_region_segment segs[12];
	struct omx_abi_create_region cmd = { .id = id, .nr_segments = nr, .segments_offset = (uintptr_t)segs };

	for (uint32_t i = 0; i < nr; i++) {
		bufs[i][0] = (uint8_t)(0xa0 + i);
		segs[i] = (struct omx_abi_region_segment){ (uintptr_t)bufs[i], 64 };
	}
	return d->ops->create_region(d, h, &cmd);
}

static void test_regions(struct fake *fk, struct omx_abi_driver *d, uint32_t h)
{
	static uint8_t bufs[12][64];
	struct omx_abi_pull pull = { .length = 10, .resend_timeout_ms = 1000, .puller_rdma_id = 5 };
	uint32_t ref, reused = 0;

	CHECK(region(d, h, 5, bufs, 1) == 0);
	ref = fk->region_refs[0];
	CHECK(fk->gnt[ref].flags == (OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE));
	CHECK(fk->gnt[ref].offset == (uintptr_t)bufs[0] && fk->gnt[ref].length == 64);
	CHECK(region(d, h, 5, bufs, 1) == OMX_ABI_EBUSY);
	CHECK(d->ops->pull(d, h, &pull) == 0);
	CHECK(d->ops->destroy_region(d, h, 5) == 0);
	CHECK(fk->gnt[ref].flags == 0 && fk->gnt[ref].busy == 0);
	CHECK(d->ops->destroy_region(d, h, 5) == OMX_ABI_ENOENT);
	/* More spans than fit inline: they travel in granted memory. */
	CHECK(region(d, h, 6, bufs, 10) == 0 && fk->nr_region_refs == 10);
	CHECK(d->ops->destroy_region(d, h, 6) == 0);
	CHECK(fake_read(&fk->bad_grants) == 0);

	/* A grant the backend still uses is not handed out again. */
	fake_set(&fk->keep_busy, 1);
	CHECK(region(d, h, 7, bufs, 1) == 0);
	ref = fk->region_refs[0];
	CHECK(d->ops->destroy_region(d, h, 7) == 0);
	fake_set(&fk->keep_busy, 0);
	CHECK(fk->gnt[ref].flags == 0 && fk->gnt[ref].busy == 1);
	for (int i = 0; i < 20; i++) {
		CHECK(region(d, h, 8, bufs, 1) == 0);
		CHECK(fk->region_refs[0] != ref);
		CHECK(d->ops->destroy_region(d, h, 8) == 0);
	}
	__atomic_store_n(&fk->gnt[ref].busy, 0, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 3; i++) {
		CHECK(region(d, h, 9, bufs, 1) == 0);
		reused |= fk->region_refs[0] == ref;
		CHECK(d->ops->destroy_region(d, h, 9) == 0);
	}
	CHECK(reused);
}

static void test_connected(void)
{
	struct omx_abi_driver *d = NULL;
	struct fake fk;
	uint32_t h;
	int err;

	int fds;

	fds = count_fds();
	fake_start(&fk, "main", NULL);
	CHECK(omx_split_front_open(fk.path, &d) == 0);
	if (!d) {
		fake_stop(&fk);
		return;
	}
	test_queries(d);
	CHECK(open_ep(&fk, d, 7, &err) == UINT32_MAX && err == OMX_ABI_EBUSY);
	CHECK(wait_count(&fk.mem_dels, 1) && wait_count(&fk.evt_dels, 1));
	h = open_ep(&fk, d, 3, &err);
	CHECK(err == 0);
	CHECK(fake_read(&fk.mem_adds) == 2 && fake_read(&fk.evt_adds) == 2);
	if (!err) {
		test_posted(&fk, d, h);
		test_flow_control(&fk, d, h);
		test_threads(&fk, d, h);
		test_wait(&fk, d, h);
		test_polling(&fk, d, h);
		test_regions(&fk, d, h);
		CHECK(d->ops->close_endpoint(d, h) == 0);
		CHECK(fake_read(&fk.closes) == 1 && fake_read(&fk.mem_dels) == 2 && fake_read(&fk.evt_dels) == 2);
		CHECK(d->ops->endpoint_area(d, h) == NULL);
		CHECK(post_tiny(d, h, 0, 1) == OMX_ABI_EINVAL);
		h = open_ep(&fk, d, 4, &err);
		CHECK(err == 0);
	}
	/* Close with an endpoint still open: its CLOSE comes before Closing. */
	d->ops->close(d);
	CHECK(fake_read(&fk.closing) == 1);
	CHECK(fake_read(&fk.closed_eps) == 2);
	fake_stop(&fk);
	/* Every fd of the frontend and of the fake is closed again. */
	CHECK(count_fds() == fds);
}

static void *blocked_query(void *arg)
{
	struct waiter *w = arg;
	struct omx_abi_board_info bi;

	w->err = w->d->ops->get_board_info(w->d, 0, &bi);
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_death(void)
{
	struct omx_abi_driver *d = NULL;
	struct waiter ww, wq;
	struct omx_abi_wait wait;
	struct omx_abi_endpoint_desc *desc;
	pthread_t t1, t2;
	struct fake fk;
	uint64_t t0;
	uint32_t h;
	int err;

	int fds;

	fds = count_fds();
	fake_start(&fk, "death", NULL);
	CHECK(omx_split_front_open(fk.path, &d) == 0);
	if (!d) {
		fake_stop(&fk);
		return;
	}
	h = open_ep(&fk, d, 2, &err);
	CHECK(err == 0);
	desc = d->ops->endpoint_area(d, h);
	ww = (struct waiter){ .d = d, .h = h };
	wq = (struct waiter){ .d = d, .h = h };
	pthread_create(&t1, NULL, waiter_main, &ww);
	fake_set(&fk.stall, 1);
	usleep(20000);
	pthread_create(&t2, NULL, blocked_query, &wq);
	usleep(50000);
	CHECK(!__atomic_load_n(&ww.finished, __ATOMIC_ACQUIRE) && !__atomic_load_n(&wq.finished, __ATOMIC_ACQUIRE));
	fake_set(&fk.die, 1);                 /* the backend's bus hangs up */
	t0 = now_ms();
	while ((!__atomic_load_n(&ww.finished, __ATOMIC_ACQUIRE) || !__atomic_load_n(&wq.finished, __ATOMIC_ACQUIRE)) &&
	       now_ms() - t0 < 3000)
		usleep(1000);
	CHECK(now_ms() - t0 < 1000);
	if (!__atomic_load_n(&ww.finished, __ATOMIC_ACQUIRE) || !__atomic_load_n(&wq.finished, __ATOMIC_ACQUIRE)) {
		fprintf(stderr, "waiters still blocked 3 s after the backend died\n");
		exit(1);
	}
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK(ww.err == 0 && ww.wait.status == OMX_ABI_WAIT_WAKEUP);
	CHECK(wq.err == OMX_ABI_EIO);
	CHECK(desc && (__atomic_load_n(&desc->status, __ATOMIC_ACQUIRE) & OMX_ABI_DESC_IFACE_REMOVED));
	CHECK(post_tiny(d, h, 0, 1) == OMX_ABI_EIO);
	CHECK(d->ops->get_info(d, &(struct omx_abi_driver_info){ 0 }) == OMX_ABI_EIO);
	/* Waits still honour their deadline instead of returning at once. */
	t0 = now_ms();
	wait = (struct omx_abi_wait){ .next_exp_event_index = 0, .jiffies_expire = d->ops->jiffies(d) + 20 };
	CHECK(d->ops->wait_event(d, h, &wait) == 0 && wait.status == OMX_ABI_WAIT_TIMEOUT);
	CHECK(now_ms() - t0 >= 15);
	CHECK(d->ops->close_endpoint(d, h) == 0);
	d->ops->close(d);
	fake_stop(&fk);
	CHECK(count_fds() == fds);
}

/* A backend that stays connected but answers nothing (hung, SIGSTOPped) is
 * declared lost after OMX_SPLIT_TIMEOUT_MS: a waited command fails with EIO
 * and the endpoint reports IFACE_REMOVED, instead of hanging forever. */
static void test_silent_backend(void)
{
	struct omx_abi_driver *d = NULL;
	struct omx_abi_endpoint_desc *desc;
	struct omx_abi_board_info bi;
	struct fake fk;
	uint64_t t0;
	uint32_t h;
	int err;

	setenv("OMX_SPLIT_TIMEOUT_MS", "200", 1);
	fake_start(&fk, "silent", NULL);
	CHECK(omx_split_front_open(fk.path, &d) == 0);
	unsetenv("OMX_SPLIT_TIMEOUT_MS");
	if (!d) {
		fake_stop(&fk);
		return;
	}
	h = open_ep(&fk, d, 3, &err);
	CHECK(err == 0);
	desc = d->ops->endpoint_area(d, h);
	fake_set(&fk.stall, 1);
	t0 = now_ms();
	CHECK(d->ops->get_board_info(d, 0, &bi) == OMX_ABI_EIO);
	/* 200 ms of silence, noticed at the poller's next look (1 s period). */
	CHECK(now_ms() - t0 >= 200 && now_ms() - t0 < 2500);
	CHECK(desc && (__atomic_load_n(&desc->status, __ATOMIC_ACQUIRE) & OMX_ABI_DESC_IFACE_REMOVED));
	fake_set(&fk.stall, 0);
	CHECK(d->ops->close_endpoint(d, h) == 0);
	d->ops->close(d);
	fake_stop(&fk);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	test_refusal_and_absence();
	printf("refusal and absence: done\n");
	test_connected();
	printf("connected: done\n");
	test_death();
	printf("death: done\n");
	test_silent_backend();
	printf("silent backend: done\n");
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all checks passed\n");
	return 0;
}
