/*
 * omx_perf.c - ping-pong benchmark between two Open-MX endpoints.
 *
 * The receiver (no -d) opens its endpoint and waits.  The sender (-d)
 * connects, issends the test parameters (a block of 11 u32 in network
 * order) and waits for a 0-byte ack; the receiver first connects back with
 * a recognisable match and context, then sends that ack.  For every length
 * both sides then exchange warmup + iter messages (or the sender streams
 * them with -U), and the sender prints latency and bandwidth.
 *
 * Waiting: by default a request is polled for a while (about a millisecond)
 * and then waited for in the driver, so two benchmark processes on a
 * two-core machine do not starve each other's progress; -w always sleeps in
 * the driver, -y polls and yields the processor between polls.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "open-mx.h"

#define OMX_PERF_KEY 0x12345678u
#define OMX_PERF_MATCH 0x1234567887654321ULL
#define OMX_PERF_BACK_MATCH 0xabcddcbaabcddcbaULL
#define OMX_PERF_BACK_CONTEXT ((void *)(uintptr_t)0xdeadbeefUL)
#define OMX_PERF_MAGIC 0x0e4f5e4fu
#define OMX_PERF_CONNECT_MS 10000
#define OMX_PERF_SPINS 2000

/* The parameter block: field order on the wire. */
enum omx_perf_param {
	OMX_PERF_P_MAGIC,
	OMX_PERF_P_ITER,
	OMX_PERF_P_WARMUP,
	OMX_PERF_P_START,
	OMX_PERF_P_END,
	OMX_PERF_P_MULT,
	OMX_PERF_P_INCR,
	OMX_PERF_P_PAUSE_MS,
	OMX_PERF_P_UNIDIR,
	OMX_PERF_P_SYNC,
	OMX_PERF_P_FLAGS,             /* reserved, 0 */
	OMX_PERF_P_NR,
};
_Static_assert(OMX_PERF_P_NR * sizeof(uint32_t) == 44, "the parameter block is 44 bytes");

struct omx_perf_opts {
	uint32_t board;
	uint32_t endpoint;
	uint32_t remote_endpoint;
	const char *dest;
	int slave, sleep, yield, verbose, aligned;
	uint32_t p[OMX_PERF_P_NR];
};

static void omx_perf_usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [options]\n"
		"Common options:\n"
		" -b <n>\tlocal board index [0]\n"
		" -e <n>\tlocal endpoint index [any]\n"
		" -s\tslave: the receiver keeps serving senders after the first run\n"
		" -w\tsleep in the driver while waiting\n"
		" -y\tpoll and yield the processor while waiting\n"
		" -v\tverbose\n"
		" -a\tpage-aligned buffers\n"
		"Sender options:\n"
		" -d <host>\tremote board address xx:xx:xx:xx:xx:xx or peer hostname (sender mode)\n"
		" -r <n>\tremote endpoint index [0]\n"
		" -S <n>\tfirst length [0]\n"
		" -E <n>\tend length, excluded [4194305]\n"
		" -M <n>\tlength multiplier [2]\n"
		" -I <n>\tlength increment, replaces the multiplier when set [0]\n"
		" -N <n>\titerations per length [1000]\n"
		" -W <n>\twarmup iterations per length [10]\n"
		" -P <n>\tpause between lengths in ms [100]\n"
		" -U\tunidirectional (stream, then one ack per length)\n"
		" -Y\tsynchronous sends (issend)\n",
		argv0);
}

static int omx_perf_uint(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || *s == '-' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int omx_perf_parse(int argc, char **argv, struct omx_perf_opts *o)
{
	static const char flags[] = "b:e:swyvad:r:S:E:M:I:N:W:P:UYh";
	int c;

	memset(o, 0, sizeof(*o));
	o->endpoint = OMX_ANY_ENDPOINT;
	o->p[OMX_PERF_P_MAGIC] = OMX_PERF_MAGIC;
	o->p[OMX_PERF_P_END] = 4 * 1024 * 1024 + 1;
	o->p[OMX_PERF_P_MULT] = 2;
	o->p[OMX_PERF_P_ITER] = 1000;
	o->p[OMX_PERF_P_WARMUP] = 10;
	o->p[OMX_PERF_P_PAUSE_MS] = 100;
	while ((c = getopt(argc, argv, flags)) != -1) {
		uint32_t *field = NULL;

		switch (c) {
		case 'b': field = &o->board; break;
		case 'e': field = &o->endpoint; break;
		case 'r': field = &o->remote_endpoint; break;
		case 'S': field = &o->p[OMX_PERF_P_START]; break;
		case 'E': field = &o->p[OMX_PERF_P_END]; break;
		case 'M': field = &o->p[OMX_PERF_P_MULT]; break;
		case 'I': field = &o->p[OMX_PERF_P_INCR]; break;
		case 'N': field = &o->p[OMX_PERF_P_ITER]; break;
		case 'W': field = &o->p[OMX_PERF_P_WARMUP]; break;
		case 'P': field = &o->p[OMX_PERF_P_PAUSE_MS]; break;
		case 's': o->slave = 1; break;
		case 'w': o->sleep = 1; break;
		case 'y': o->yield = 1; break;
		case 'v': o->verbose = 1; break;
		case 'a': o->aligned = 1; break;
		case 'd': o->dest = optarg; break;
		case 'U': o->p[OMX_PERF_P_UNIDIR] = 1; break;
		case 'Y': o->p[OMX_PERF_P_SYNC] = 1; break;
		default:
			return -1;
		}
		if (field && omx_perf_uint(optarg, field) < 0) {
			fprintf(stderr, "option -%c: '%s' is not a 32-bit unsigned number\n", c, optarg);
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	if (!o->p[OMX_PERF_P_INCR] && o->p[OMX_PERF_P_MULT] < 2) {
		fprintf(stderr, "the multiplier must be at least 2 without an increment\n");
		return -1;
	}
	if (!o->p[OMX_PERF_P_ITER]) {
		fprintf(stderr, "at least one iteration is needed\n");
		return -1;
	}
	return 0;
}

static uint64_t omx_perf_next(const uint32_t *p, uint64_t len)
{
	if (p[OMX_PERF_P_INCR])
		return len + p[OMX_PERF_P_INCR];
	return len ? len * p[OMX_PERF_P_MULT] : 1;
}

static double omx_perf_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void *omx_perf_buffer(size_t len, int aligned)
{
	void *buf = NULL;

	if (!len)
		len = 1;
	if (aligned) {
		if (posix_memalign(&buf, (size_t)sysconf(_SC_PAGESIZE), len))
			return NULL;
	} else {
		buf = malloc(len);
	}
	if (buf)
		memset(buf, 0x5a, len);
	return buf;
}

/* ---- requests ----------------------------------------------------------- */

static void omx_perf_die(const char *what, omx_return_t ret)
{
	fprintf(stderr, "%s failed: %s\n", what, omx_strerror(ret));
	exit(1);
}

static void omx_perf_wait(const struct omx_perf_opts *o, omx_endpoint_t ep, omx_request_t *req,
			  omx_status_t *st, const char *what)
{
	uint32_t result = 0, spins = 0;
	omx_return_t ret;

	while (!result) {
		if (o->sleep || (!o->yield && spins >= OMX_PERF_SPINS)) {
			ret = omx_wait(ep, req, st, &result, OMX_TIMEOUT_INFINITE);
		} else {
			ret = omx_test(ep, req, st, &result);
			spins++;
			if (!result && o->yield)
				sched_yield();
		}
		if (ret != OMX_SUCCESS)
			omx_perf_die(what, ret);
	}
	if (st->code != OMX_SUCCESS)
		omx_perf_die(what, st->code);
}

static void omx_perf_send(omx_endpoint_t ep, void *buf, uint64_t len, omx_endpoint_addr_t addr, int sync,
			  omx_request_t *req)
{
	omx_return_t ret;

	ret = (sync ? omx_issend : omx_isend)(ep, buf, (size_t)len, addr, OMX_PERF_MATCH, NULL, req);
	if (ret != OMX_SUCCESS)
		omx_perf_die(sync ? "omx_issend" : "omx_isend", ret);
}

static void omx_perf_recv(omx_endpoint_t ep, void *buf, uint64_t len, omx_request_t *req)
{
	omx_return_t ret = omx_irecv(ep, buf, (size_t)len, OMX_PERF_MATCH, ~0ULL, NULL, req);

	if (ret != OMX_SUCCESS)
		omx_perf_die("omx_irecv", ret);
}

/* One message out and (unless unidirectional) one back: pinger or ponger. */
static void omx_perf_round(const struct omx_perf_opts *o, omx_endpoint_t ep, void *sbuf, void *rbuf,
			   uint64_t len, omx_endpoint_addr_t addr, int pinger)
{
	int sync = (int)o->p[OMX_PERF_P_SYNC];
	omx_request_t sreq, rreq;
	omx_status_t st;

	if (pinger) {
		omx_perf_recv(ep, rbuf, len, &rreq);
		omx_perf_send(ep, sbuf, len, addr, sync, &sreq);
		omx_perf_wait(o, ep, &sreq, &st, "send");
		omx_perf_wait(o, ep, &rreq, &st, "receive");
	} else {
		omx_perf_recv(ep, rbuf, len, &rreq);
		omx_perf_wait(o, ep, &rreq, &st, "receive");
		omx_perf_send(ep, sbuf, len, addr, sync, &sreq);
		omx_perf_wait(o, ep, &sreq, &st, "send");
	}
}

/* Unidirectional: count messages one way, then a 0-byte ack back. */
static void omx_perf_stream(const struct omx_perf_opts *o, omx_endpoint_t ep, void *sbuf, void *rbuf,
			    uint64_t len, uint32_t count, omx_endpoint_addr_t addr, int sender)
{
	int sync = (int)o->p[OMX_PERF_P_SYNC];
	omx_request_t req;
	omx_status_t st;
	uint32_t i;

	for (i = 0; i < count; i++) {
		if (sender) {
			omx_perf_send(ep, sbuf, len, addr, sync, &req);
			omx_perf_wait(o, ep, &req, &st, "send");
		} else {
			omx_perf_recv(ep, rbuf, len, &req);
			omx_perf_wait(o, ep, &req, &st, "receive");
		}
	}
	if (sender) {
		omx_perf_recv(ep, NULL, 0, &req);
		omx_perf_wait(o, ep, &req, &st, "ack receive");
	} else {
		omx_perf_send(ep, NULL, 0, addr, 0, &req);
		omx_perf_wait(o, ep, &req, &st, "ack send");
	}
}

/* Run every length; the sender times and prints. */
static void omx_perf_run(const struct omx_perf_opts *o, omx_endpoint_t ep, omx_endpoint_addr_t addr,
			 int sender)
{
	const uint32_t *p = o->p;
	uint64_t end = p[OMX_PERF_P_END], len;
	void *sbuf = omx_perf_buffer(end, o->aligned), *rbuf = omx_perf_buffer(end, o->aligned);
	uint32_t i, unidir = p[OMX_PERF_P_UNIDIR];

	if (!sbuf || !rbuf) {
		fprintf(stderr, "cannot allocate two buffers of %llu bytes\n", (unsigned long long)end);
		exit(1);
	}
	for (len = p[OMX_PERF_P_START]; len < end; len = omx_perf_next(p, len)) {
		double t0, us;

		if (unidir) {
			if (p[OMX_PERF_P_WARMUP])
				omx_perf_stream(o, ep, sbuf, rbuf, len, p[OMX_PERF_P_WARMUP], addr, sender);
			t0 = omx_perf_now_us();
			omx_perf_stream(o, ep, sbuf, rbuf, len, p[OMX_PERF_P_ITER], addr, sender);
		} else {
			t0 = 0;
			for (i = 0; i < p[OMX_PERF_P_WARMUP] + p[OMX_PERF_P_ITER]; i++) {
				if (i == p[OMX_PERF_P_WARMUP])
					t0 = omx_perf_now_us();
				omx_perf_round(o, ep, sbuf, rbuf, len, addr, sender);
			}
		}
		us = omx_perf_now_us() - t0;
		if (sender) {
			double lat = us / (2 - unidir) / p[OMX_PERF_P_ITER];
			double mbs = (double)(2 - unidir) * p[OMX_PERF_P_ITER] * (double)len / us;

			printf("length % 9lld:\t%.3f us\t%.2f MB/s\t %.2f MiB/s\n", (long long)len, lat, mbs,
			       mbs * 1e6 / (1024.0 * 1024.0));
			fflush(stdout);
			if (p[OMX_PERF_P_PAUSE_MS])
				usleep(p[OMX_PERF_P_PAUSE_MS] * 1000u);
		} else if (o->verbose) {
			printf("length % 9lld: done\n", (long long)len);
		}
	}
	free(sbuf);
	free(rbuf);
}

/* ---- the two sides ------------------------------------------------------ */

static int omx_perf_sender(const struct omx_perf_opts *o, omx_endpoint_t ep)
{
	uint32_t block[OMX_PERF_P_NR];
	omx_endpoint_addr_t addr;
	omx_request_t req;
	omx_status_t st;
	omx_return_t ret;
	uint64_t nic;
	int i;

	if (omx_board_addr_sscanf(o->dest, &nic) != OMX_SUCCESS &&
	    (ret = omx_hostname_to_nic_id(o->dest, &nic)) != OMX_SUCCESS) {
		fprintf(stderr, "cannot find peer '%s': %s\n", o->dest, omx_strerror(ret));
		return 1;
	}
	printf("Starting sender to '%s'...\n", o->dest);
	fflush(stdout);
	ret = omx_connect(ep, nic, o->remote_endpoint, OMX_PERF_KEY, OMX_PERF_CONNECT_MS, &addr);
	if (ret != OMX_SUCCESS)
		omx_perf_die("omx_connect", ret);
	for (i = 0; i < OMX_PERF_P_NR; i++)
		block[i] = htonl(o->p[i]);
	if (o->verbose)
		printf("Sending parameters: lengths %u..%u, x%u +%u, %u iterations, %u warmup%s%s\n",
		       o->p[OMX_PERF_P_START], o->p[OMX_PERF_P_END], o->p[OMX_PERF_P_MULT],
		       o->p[OMX_PERF_P_INCR], o->p[OMX_PERF_P_ITER], o->p[OMX_PERF_P_WARMUP],
		       o->p[OMX_PERF_P_UNIDIR] ? ", unidirectional" : "", o->p[OMX_PERF_P_SYNC] ? ", sync" : "");
	/* Post the ack's receive first: it may come back before the send completes. */
	omx_perf_recv(ep, NULL, 0, &req);
	{
		omx_request_t sreq;

		omx_perf_send(ep, block, sizeof(block), addr, 1, &sreq);
		omx_perf_wait(o, ep, &sreq, &st, "parameter send");
	}
	omx_perf_wait(o, ep, &req, &st, "ack receive");
	omx_perf_run(o, ep, addr, 1);
	return 0;
}

static int omx_perf_receiver(const struct omx_perf_opts *base, omx_endpoint_t ep)
{
	do {
		struct omx_perf_opts o = *base;
		uint32_t block[OMX_PERF_P_NR];
		omx_endpoint_addr_t back;
		omx_request_t req;
		omx_status_t st;
		omx_return_t ret;
		uint32_t rid, i;
		uint64_t nic;
		void *ctx;

		printf("Starting receiver...\n");
		fflush(stdout);
		omx_perf_recv(ep, block, sizeof(block), &req);
		omx_perf_wait(&o, ep, &req, &st, "parameter receive");
		if (st.xfer_length != sizeof(block)) {
			fprintf(stderr, "bad parameter block of %u bytes\n", st.xfer_length);
			return 1;
		}
		for (i = 0; i < OMX_PERF_P_NR; i++)
			o.p[i] = ntohl(block[i]);
		if (o.p[OMX_PERF_P_MAGIC] != OMX_PERF_MAGIC || !o.p[OMX_PERF_P_ITER] ||
		    (!o.p[OMX_PERF_P_INCR] && o.p[OMX_PERF_P_MULT] < 2)) {
			fprintf(stderr, "bad parameters (magic 0x%08x)\n", o.p[OMX_PERF_P_MAGIC]);
			return 1;
		}
		ret = omx_decompose_endpoint_addr(st.addr, &nic, &rid);
		if (ret != OMX_SUCCESS)
			omx_perf_die("omx_decompose_endpoint_addr", ret);
		ret = omx_iconnect(ep, nic, rid, OMX_PERF_KEY, OMX_PERF_BACK_MATCH, OMX_PERF_BACK_CONTEXT, &req);
		if (ret != OMX_SUCCESS)
			omx_perf_die("omx_iconnect", ret);
		if (omx_context(&req, &ctx) != OMX_SUCCESS || ctx != OMX_PERF_BACK_CONTEXT) {
			fprintf(stderr, "omx_iconnect request lost its context\n");
			return 1;
		}
		omx_perf_wait(&o, ep, &req, &st, "connect back");
		if (st.match_info != OMX_PERF_BACK_MATCH || st.context != OMX_PERF_BACK_CONTEXT) {
			fprintf(stderr, "connect back completed with match 0x%llx context %p\n",
				(unsigned long long)st.match_info, st.context);
			return 1;
		}
		back = st.addr;
		if (o.verbose)
			printf("Got parameters from endpoint %u: lengths %u..%u, %u iterations\n", rid,
			       o.p[OMX_PERF_P_START], o.p[OMX_PERF_P_END], o.p[OMX_PERF_P_ITER]);
		omx_perf_send(ep, NULL, 0, back, 0, &req);
		omx_perf_wait(&o, ep, &req, &st, "ack send");
		omx_perf_run(&o, ep, back, 0);
	} while (base->slave);
	return 0;
}

int main(int argc, char **argv)
{
	char hostname[OMX_HOSTNAMELEN_MAX], ifname[OMX_HOSTNAMELEN_MAX];
	struct omx_perf_opts o;
	omx_endpoint_t ep;
	omx_return_t ret;
	int rc;

	if (omx_perf_parse(argc, argv, &o) < 0) {
		omx_perf_usage(argv[0]);
		return 1;
	}
	ret = omx_init();
	if (ret != OMX_SUCCESS)
		omx_perf_die("omx_init", ret);
	ret = omx_open_endpoint(o.board, o.endpoint, OMX_PERF_KEY, NULL, 0, &ep);
	if (ret != OMX_SUCCESS)
		omx_perf_die("omx_open_endpoint", ret);
	if (omx_get_info(ep, OMX_INFO_BOARD_HOSTNAME, NULL, 0, hostname, sizeof(hostname)) != OMX_SUCCESS)
		strcpy(hostname, "<unknown>");
	if (omx_get_info(ep, OMX_INFO_BOARD_IFACENAME, NULL, 0, ifname, sizeof(ifname)) != OMX_SUCCESS)
		strcpy(ifname, "<unknown>");
	if (o.endpoint == OMX_ANY_ENDPOINT)
		printf("Successfully open any endpoint for hostname '%s' iface '%s'\n", hostname, ifname);
	else
		printf("Successfully open endpoint %d for hostname '%s' iface '%s'\n", (int)o.endpoint,
		       hostname, ifname);
	fflush(stdout);

	rc = o.dest ? omx_perf_sender(&o, ep) : omx_perf_receiver(&o, ep);
	omx_close_endpoint(ep);
	omx_finalize();
	return rc;
}
