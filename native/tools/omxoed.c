/*
 * omxoed.c - the peer discovery daemon (the protocol of Open-MX's omxoed).
 *
 * For every board of the host except loopback, one thread opens the board's
 * raw interface and broadcasts the board address in a 64-byte RAW frame
 * (type 1 at offset 16; nic_id_hi, nic_id_lo and a random serial, all
 * big-endian u32, at 32, 36 and 40): BROADCAST_COUNT times every
 * BROADCAST_INTERVAL, then every LONG_INTERVAL.  An address it has not seen
 * is added to the host's peer table without a hostname (the driver's host
 * queries fill it; this process serves them while it holds the raw
 * interface) and the table is marked configured (version 1, size n+1,
 * mapper 0); a new peer or a known peer whose serial changed (it restarted
 * and does not know us) starts another burst of broadcasts.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "omx_tools.h"
#include "omx_wire.h"

#define OMXOED_LOGFILE "/var/log/omxoed.log"
#define OMXOED_PEERS_MAX 8192
#define OMXOED_NICS_MAX 8
#define OMXOED_PKT_LEN 64
#define OMXOED_NIC_HI 32
#define OMXOED_NIC_LO 36
#define OMXOED_SERIAL 40

struct omxoed_config {
	int interval_ms;              /* -i: between the broadcasts of a burst */
	int long_interval_ms;         /* -I: between bursts */
	int count;                    /* -n: broadcasts per burst */
	int verbose;
};

struct omxoed_nic {
	struct omx_abi_driver *drv;
	struct omx_drv_raw *raw;
	uint32_t index;
	uint64_t addr;
	uint32_t serial;
	char ifname[OMX_ABI_IFNAME_MAX];
	uint64_t peers[OMXOED_PEERS_MAX];
	uint32_t peer_serial[OMXOED_PEERS_MAX];
	uint32_t nr_peers;
	int bc_count;
	int64_t bc_due_ms;            /* monotonic time of the next broadcast */
	uint8_t out[OMXOED_PKT_LEN];
};

static struct omxoed_config omxoed_cfg = { 1000, 180000, 8, 0 };
static FILE *omxoed_log_file;
static pthread_mutex_t omxoed_log_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t omxoed_own[OMXOED_NICS_MAX];
static uint32_t omxoed_nr_own;

static void omxoed_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void omxoed_log(const char *fmt, ...)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	pthread_mutex_lock(&omxoed_log_lock);
	fprintf(omxoed_log_file, "%s omxoed[%d]: ", stamp, (int)getpid());
	va_start(ap, fmt);
	vfprintf(omxoed_log_file, fmt, ap);
	va_end(ap);
	fputc('\n', omxoed_log_file);
	fflush(omxoed_log_file);
	pthread_mutex_unlock(&omxoed_log_lock);
}

static int64_t omxoed_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int omxoed_is_own(uint64_t addr)
{
	for (uint32_t i = 0; i < omxoed_nr_own; i++)
		if (omxoed_own[i] == addr)
			return 1;
	return 0;
}

static void omxoed_fill(struct omxoed_nic *nic)
{
	struct omx_wire_head head = {
		.dst_addr = 0xffffffffffffull,
		.src_addr = nic->addr,
		.dst_src_peer_index = OMX_WIRE_UNKNOWN_PEER_INDEX,
	};

	memset(nic->out, 0, sizeof(nic->out));
	omx_wire_head_encode(nic->out, &head);
	omx_wire_put8(nic->out, OMX_WIRE_HEAD_LEN, OMX_PKT_TYPE_RAW);
	omx_wire_put32(nic->out, OMXOED_NIC_HI, (uint32_t)(nic->addr >> 32));
	omx_wire_put32(nic->out, OMXOED_NIC_LO, (uint32_t)nic->addr);
	omx_wire_put32(nic->out, OMXOED_SERIAL, nic->serial);
}

static void omxoed_burst(struct omxoed_nic *nic)
{
	int64_t soon = omxoed_now_ms() + omxoed_cfg.interval_ms;

	nic->bc_count = omxoed_cfg.count;
	if (nic->bc_due_ms > soon)
		nic->bc_due_ms = soon;
}

static void omxoed_add_peer(struct omxoed_nic *nic, uint64_t addr, uint32_t serial)
{
	struct omx_abi_peer_table_state st = { 0 };
	char a[OMX_TOOLS_ADDR_STRLEN];
	int r;

	omx_tools_addr(a, addr);
	if (nic->nr_peers == OMXOED_PEERS_MAX) {
		omxoed_log("board %u (%s): more than %d peers, %s ignored", nic->index, nic->ifname,
			   OMXOED_PEERS_MAX, a);
		return;
	}
	nic->peers[nic->nr_peers] = addr;
	nic->peer_serial[nic->nr_peers] = serial;
	nic->nr_peers++;
	r = nic->drv->ops->peer_add(nic->drv, addr, NULL);
	if (r < 0) {
		omxoed_log("board %u (%s): cannot add peer %s (%s)", nic->index, nic->ifname, a,
			   omx_tools_strerror(r));
		return;
	}
	st.status = OMX_ABI_PEER_TABLE_CONFIGURED;
	st.version = 1;
	st.size = nic->nr_peers + 1;
	st.mapper_id = 0;
	nic->drv->ops->peer_table_set_state(nic->drv, &st);
	omxoed_log("board %u (%s): new peer %s (index %d, serial %u)", nic->index, nic->ifname, a, r,
		   serial);
}

static void omxoed_process(struct omxoed_nic *nic, const uint8_t *pkt, uint32_t len)
{
	char a[OMX_TOOLS_ADDR_STRLEN];
	uint64_t addr;
	uint32_t serial, i;

	if (len < OMXOED_SERIAL + 4)
		return;
	addr = ((uint64_t)omx_wire_get32(pkt, OMXOED_NIC_HI) << 32) | omx_wire_get32(pkt, OMXOED_NIC_LO);
	serial = omx_wire_get32(pkt, OMXOED_SERIAL);
	if (addr >> 48 || omxoed_is_own(addr))
		return;
	for (i = 0; i < nic->nr_peers && nic->peers[i] != addr; i++)
		;
	if (i == nic->nr_peers) {
		omxoed_add_peer(nic, addr, serial);
		omxoed_burst(nic);
	} else if (nic->peer_serial[i] != serial) {
		omx_tools_addr(a, addr);
		if (omxoed_cfg.verbose)
			omxoed_log("board %u (%s): peer %s restarted (serial %u)", nic->index, nic->ifname, a,
				   serial);
		nic->peer_serial[i] = serial;
		omxoed_burst(nic);
	}
}

static void *omxoed_nic_thread(void *arg)
{
	struct omxoed_nic *nic = arg;
	uint8_t pkt[1024];

	nic->bc_count = omxoed_cfg.count;
	nic->bc_due_ms = omxoed_now_ms();
	for (;;) {
		int64_t now = omxoed_now_ms(), wait;
		uint32_t len = sizeof(pkt);
		int r;

		if (nic->bc_count > 0 && now >= nic->bc_due_ms) {
			r = omx_drv_raw_send(nic->raw, nic->out, OMXOED_PKT_LEN);
			if (r < 0)
				omxoed_log("board %u (%s): cannot broadcast (%s)", nic->index, nic->ifname,
					   omx_tools_strerror(r));
			else if (omxoed_cfg.verbose)
				omxoed_log("board %u (%s): broadcast", nic->index, nic->ifname);
			if (--nic->bc_count > 0) {
				nic->bc_due_ms = now + omxoed_cfg.interval_ms;
			} else {
				nic->bc_count = 1;
				nic->bc_due_ms = now + omxoed_cfg.long_interval_ms;
			}
		}
		wait = nic->bc_due_ms - omxoed_now_ms();
		r = omx_drv_raw_recv(nic->raw, pkt, &len, wait > 0 ? (int)wait : 0);
		if (r < 0) {
			omxoed_log("board %u (%s): receive failed (%s)", nic->index, nic->ifname,
				   omx_tools_strerror(r));
			sleep(1);
		} else if (r > 0) {
			omxoed_process(nic, pkt, len);
		}
	}
	return NULL;
}

static void omxoed_usage(const char *argv0)
{
	fprintf(stderr, "%s [options]\n", argv0);
	fprintf(stderr, " -D\t\trun as a daemon (log to " OMXOED_LOGFILE " unless -l)\n");
	fprintf(stderr, " -l <file>\tlog to <file> [stderr]\n");
	fprintf(stderr, " -i <ms>\tinterval between the broadcasts of a burst [1000]\n");
	fprintf(stderr, " -I <ms>\tinterval between bursts [180000]\n");
	fprintf(stderr, " -n <count>\tbroadcasts per burst [8]\n");
	fprintf(stderr, " -v\t\tlog every broadcast and serial change\n");
}

static int omxoed_positive(const char *s, int *out)
{
	uint32_t v;

	if (omx_tools_parse_index(s, &v) < 0 || v == 0 || v > 24u * 3600 * 1000) {
		fprintf(stderr, "'%s': expected a positive number\n", s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Open a raw interface on every board but loopback; returns how many. */
static int omxoed_open_nics(struct omx_abi_driver *drv, struct omxoed_nic **nics)
{
	struct omx_abi_board_info bi;
	struct omx_abi_driver_info di;
	int n = 0;

	drv->ops->get_info(drv, &di);
	for (uint32_t i = 0; i < di.board_count; i++)
		if (drv->ops->get_board_info(drv, i, &bi) == 0 && omxoed_nr_own < OMXOED_NICS_MAX)
			omxoed_own[omxoed_nr_own++] = bi.addr;
	for (uint32_t i = 0; i < di.board_count && n < OMXOED_NICS_MAX; i++) {
		struct omxoed_nic *nic;
		int r;

		if (drv->ops->get_board_info(drv, i, &bi) < 0 || bi.addr == 0)
			continue;
		nic = calloc(1, sizeof(*nic));
		if (!nic)
			return -1;
		r = omx_drv_raw_open(drv, i, &nic->raw);
		if (r < 0) {
			omxoed_log("board %u (%s): cannot open the raw interface (%s)", i, bi.ifacename,
				   r == OMX_ABI_EBUSY ? "another omxoed runs" : omx_tools_strerror(r));
			free(nic);
			continue;
		}
		nic->drv = drv;
		nic->index = i;
		nic->addr = bi.addr;
		snprintf(nic->ifname, sizeof(nic->ifname), "%s", bi.ifacename);
		if (getrandom(&nic->serial, sizeof(nic->serial), 0) != sizeof(nic->serial))
			nic->serial = (uint32_t)(time(NULL) ^ getpid());
		omxoed_fill(nic);
		nics[n++] = nic;
	}
	return n;
}

int main(int argc, char *argv[])
{
	struct omxoed_nic *nics[OMXOED_NICS_MAX];
	struct omx_abi_driver *drv;
	const char *log_path = NULL;
	int daemonize = 0, n, c, sig;
	pthread_t tid;
	sigset_t set;

	while ((c = getopt(argc, argv, "Dl:i:I:n:vh")) != -1)
		switch (c) {
		case 'D':
			daemonize = 1;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'i':
			if (omxoed_positive(optarg, &omxoed_cfg.interval_ms) < 0)
				return 1;
			break;
		case 'I':
			if (omxoed_positive(optarg, &omxoed_cfg.long_interval_ms) < 0)
				return 1;
			break;
		case 'n':
			if (omxoed_positive(optarg, &omxoed_cfg.count) < 0)
				return 1;
			break;
		case 'v':
			omxoed_cfg.verbose = 1;
			break;
		case 'h':
			omxoed_usage(argv[0]);
			return 0;
		default:
			omxoed_usage(argv[0]);
			return 1;
		}
	if (daemonize && !log_path)
		log_path = OMXOED_LOGFILE;
	omxoed_log_file = stderr;
	if (log_path) {
		omxoed_log_file = fopen(log_path, "ae");
		if (!omxoed_log_file) {
			fprintf(stderr, "%s: cannot open %s (%s); logging to stderr\n", argv[0], log_path,
				strerror(errno));
			omxoed_log_file = stderr;
		}
	}
	if (daemonize && daemon(0, 0) < 0) {
		fprintf(stderr, "%s: cannot become a daemon (%s)\n", argv[0], strerror(errno));
		return 1;
	}
	if (omx_tools_open(&drv) < 0)
		return 1;
	if (omx_tools_require_direct(drv, "omxoed (raw interface)") < 0) {
		drv->ops->close(drv);
		return 1;
	}
	/* Only the main thread takes the stop signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	n = omxoed_open_nics(drv, nics);
	if (n <= 0) {
		omxoed_log("No NICs found");
		drv->ops->close(drv);
		return 1;
	}
	omxoed_log("Now managing %d NICs...", n);
	for (int i = 0; i < n; i++)
		if (pthread_create(&tid, NULL, omxoed_nic_thread, nics[i]) != 0) {
			omxoed_log("cannot start the thread of board %u", nics[i]->index);
			return 1;
		}
	sigwait(&set, &sig);
	omxoed_log("exiting on signal %d", sig);
	/* The kernel frees the raw claims and sockets with the process. */
	return 0;
}
