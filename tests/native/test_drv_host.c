/*
 * test_drv_host.c - the host-wide state of the direct driver, across
 * processes (udp link on 127.0.0.1, a private OMX_STATE_DIR): peers added
 * at once by several processes, counters added at once, a hostname set by
 * one process and read by another, readers that do not wait for a writer,
 * a writer that dies holding the lock, and the fallback when no runtime
 * directory can be used.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define WRITERS 4
#define PEERS_EACH 150
#define COUNTS_EACH 20000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct omx_abi_driver *open_drv(void)
{
	struct omx_abi_driver *d;

	CHECK(omx_drv_direct_open(&d) == 0);
	return d;
}

static void wait_ok(pid_t pid)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Several processes add peers and count at once; nothing is lost or doubled. */
static void test_concurrent_writers(void)
{
	struct omx_abi_driver *d = open_drv();
	struct omx_abi_peer_info pi;
	uint32_t v[OMX_COUNTER_INDEX_MAX];
	uint32_t base;
	pid_t pids[WRITERS];

	CHECK(d->ops->get_counters(d, 0, 1, v, OMX_COUNTER_INDEX_MAX) == 0);
	for (base = 0; d->ops->peer_from_index(d, base, &pi) == 0; base++)
		;
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		CHECK(pids[w] >= 0);
		if (pids[w] == 0) {
			struct omx_abi_driver *c = open_drv();
			struct omx_drv *drv = omx_drv_of(c);

			for (int i = 0; i < PEERS_EACH; i++) {
				char name[32];

				snprintf(name, sizeof(name), "w%d-%d", w, i);
				if (c->ops->peer_add(c, 0x020000000000ull | ((uint64_t)w << 16) | (uint64_t)i,
						     i % 2 ? name : NULL) < 0)
					_exit(2);
				omx_drv_count(&drv->boards[0], OMX_COUNTER_SEND_RAW);
			}
			for (int i = 0; i < COUNTS_EACH; i++) {
				omx_drv_count(&drv->boards[0], OMX_COUNTER_RECV_RAW);
				omx_drv_count_shared(drv, OMX_COUNTER_SHARED_TINY);
			}
			c->ops->close(c);
			_exit(0);
		}
	}
	/* Read while they write: every published entry is whole. */
	for (int round = 0; round < 200; round++)
		for (uint32_t i = base; d->ops->peer_from_index(d, i, &pi) == 0; i++)
			CHECK((pi.board_addr >> 24) == 0x020000 && pi.index == i);
	for (int w = 0; w < WRITERS; w++)
		wait_ok(pids[w]);

	for (int w = 0; w < WRITERS; w++)
		for (int i = 0; i < PEERS_EACH; i++) {
			uint64_t addr = 0x020000000000ull | ((uint64_t)w << 16) | (uint64_t)i;
			char name[32];

			snprintf(name, sizeof(name), "w%d-%d", w, i);
			CHECK(d->ops->peer_from_addr(d, addr, &pi) == 0 && pi.board_addr == addr);
			CHECK(pi.index >= base && pi.index < base + WRITERS * PEERS_EACH);
			CHECK(!strcmp(pi.hostname, i % 2 ? name : ""));
		}
	CHECK(d->ops->peer_from_index(d, base + WRITERS * PEERS_EACH, &pi) == OMX_ABI_ENOENT);
	CHECK(d->ops->get_counters(d, 0, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
	CHECK(v[OMX_COUNTER_SEND_RAW] == WRITERS * PEERS_EACH);
	CHECK(v[OMX_COUNTER_RECV_RAW] == WRITERS * COUNTS_EACH);
	CHECK(d->ops->get_counters(d, OMX_ABI_BOARD_SHARED, 1, v, OMX_COUNTER_INDEX_MAX) == 0);
	CHECK(v[OMX_COUNTER_SHARED_TINY] == WRITERS * COUNTS_EACH);
	CHECK(d->ops->get_counters(d, OMX_ABI_BOARD_SHARED, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
	CHECK(v[OMX_COUNTER_SHARED_TINY] == 0);
	d->ops->close(d);
	printf("concurrent writers: %d peers and %d counts from %d processes ok\n",
	       WRITERS * PEERS_EACH, WRITERS * (COUNTS_EACH + PEERS_EACH), WRITERS);
}

/* A writer holds the lock: readers neither wait nor see a torn name; a
 * hostname set by another process is seen here. */
static void test_readers_do_not_wait(void)
{
	struct omx_abi_driver *d = open_drv();
	struct omx_abi_peer_table_state st;
	struct omx_abi_board_info bi;
	struct omx_abi_peer_info pi;
	uint32_t v[OMX_COUNTER_INDEX_MAX];
	int to_parent[2];
	double t0;
	char c;
	pid_t pid;

	CHECK(pipe(to_parent) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct omx_abi_driver *w = open_drv();

		if (w->ops->set_hostname(w, 0, "elsewhere:0") < 0 || omx_drv_host_writer_lock(omx_drv_of(w)) < 0)
			_exit(2);
		if (write(to_parent[1], "l", 1) != 1)
			_exit(3);
		sleep(2);
		omx_drv_host_writer_unlock(omx_drv_of(w));
		_exit(0);
	}
	CHECK(read(to_parent[0], &c, 1) == 1);
	t0 = now_s();
	for (int i = 0; i < 1000; i++) {
		CHECK(d->ops->peer_from_index(d, 0, &pi) == 0);
		CHECK(d->ops->get_counters(d, 0, 0, v, OMX_COUNTER_INDEX_MAX) == 0);
		CHECK(d->ops->peer_table_get_state(d, &st) == 0);
		CHECK(d->ops->get_board_info(d, 0, &bi) == 0);
	}
	CHECK(now_s() - t0 < 1.0);
	CHECK(!strcmp(bi.hostname, "elsewhere:0") && !strcmp(pi.hostname, "elsewhere:0"));
	wait_ok(pid);
	close(to_parent[0]);
	close(to_parent[1]);
	d->ops->close(d);
	printf("readers: 4000 lookups while a writer holds the lock, %.3f s ok\n", now_s() - t0);
}

/* A process dies holding the writers' lock: the next writer recovers. */
static void test_dead_writer(void)
{
	struct omx_abi_driver *d = open_drv();
	struct omx_abi_peer_info pi;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		struct omx_abi_driver *w = open_drv();

		if (omx_drv_host_writer_lock(omx_drv_of(w)) < 0)
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
	CHECK(d->ops->peer_add(d, 0x0affffffff01ull, "afterdeath") >= 0);
	CHECK(d->ops->peer_from_hostname(d, "afterdeath", &pi) == 0 && pi.board_addr == 0x0affffffff01ull);
	CHECK(d->ops->set_hostname(d, 0, "recovered:0") == 0);
	d->ops->close(d);
	printf("dead writer: lock recovered ok\n");
}

/* No usable runtime directory: a private state, and the driver still works. */
static void test_fallback(const char *good)
{
	struct omx_abi_driver *d;
	struct omx_abi_peer_info pi;

	setenv("OMX_STATE_DIR", "/proc/omx-no-such-dir", 1);
	d = open_drv();
	CHECK(d->ops->peer_add(d, 0x0a0000000001ull, "private") >= 0);
	CHECK(d->ops->peer_from_hostname(d, "private", &pi) == 0);
	d->ops->close(d);
	setenv("OMX_STATE_DIR", good, 1);
	d = open_drv();
	CHECK(d->ops->peer_from_hostname(d, "private", &pi) == OMX_ABI_ENOENT);
	d->ops->close(d);
	printf("fallback: private state without a runtime directory ok\n");
}

int main(void)
{
	char dir[] = "/tmp/omx_test_state_XXXXXX", spec[64], sub[64];
	struct stat st;

	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	CHECK(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/rt", dir);
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", 20000 + (unsigned)(random() % 40000));
	setenv("OMX_STATE_DIR", sub, 1);
	setenv("OMX_LINK", "udp", 1);
	setenv("OMX_UDP_ADDR", spec, 1);
	unsetenv("OMX_FAULT");
	unsetenv("OMX_PEERS_FILE");

	test_concurrent_writers();
	CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700);
	test_readers_do_not_wait();
	test_dead_writer();
	test_fallback(sub);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	printf("test_drv_host: all passed\n");
	return 0;
}
