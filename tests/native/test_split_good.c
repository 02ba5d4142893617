/*
 * test_split_good.c - the well-behaved pair of the split driver's hardening
 * tests (test_split_raw.h): two child processes linked with libopen-mx
 * (OMX_DRIVER=split:<socket>) loop over every size class, the receiver
 * checking each byte and the order, until the parent asks them to stop.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "open-mx.h"
#include "test_split_raw.h"

/* ---- the well-behaved pair ---------------------------------------------------- */

#define SX_KEY 0x5a17u
#define SX_END ((uint64_t)0xffffffffffffff00ull)
#define SX_BYE ((uint64_t)0xfffffffffffffe00ull)
#define SX_GOOD_MS 60000

static const uint32_t sx_sizes[] = {
	0, 1, 32, 33, 128, 129, 8192, 8193, 32768, 32769, 200003, (1u << 20) + 7,
};
#define SX_NSIZES (sizeof(sx_sizes) / sizeof(sx_sizes[0]))
#define SX_MAXSIZE ((1u << 20) + 7)

static uint8_t sx_pattern(uint64_t seed, uint32_t i)
{
	return (uint8_t)((i * 2654435761u + (uint32_t)seed * 40503u) >> 13);
}

static void sx_die(const char *who, const char *what, omx_return_t r)
{
	fprintf(stderr, "good %s: %s: %s\n", who, what, omx_strerror(r));
	_exit(2);
}

static omx_endpoint_t sx_good_open(const char *sock, const char *who)
{
	char spec[160];
	omx_endpoint_t ep;
	omx_return_t r;

	snprintf(spec, sizeof(spec), "split:%s", sock);
	setenv("OMX_DRIVER", spec, 1);
	r = omx_init();
	if (r != OMX_SUCCESS)
		sx_die(who, "omx_init", r);
	r = omx_open_endpoint(0, OMX_ANY_ENDPOINT, SX_KEY, NULL, 0, &ep);
	if (r != OMX_SUCCESS)
		sx_die(who, "omx_open_endpoint", r);
	return ep;
}

static void sx_wait_or_die(omx_endpoint_t ep, omx_request_t *q, omx_status_t *st, const char *who)
{
	uint32_t done = 0;
	omx_return_t r = omx_wait(ep, q, st, &done, SX_GOOD_MS);

	if (r != OMX_SUCCESS)
		sx_die(who, "omx_wait", r);
	if (!done)
		sx_die(who, "no completion in 60 s", OMX_TIMEOUT);
	if (st->code != OMX_SUCCESS)
		sx_die(who, "completion status", st->code);
}

static void sx_linger(omx_endpoint_t ep, long ms)
{
	for (long end = sx_now_ms() + ms; sx_now_ms() < end; sx_sleep_ms(1))
		omx_progress(ep);
}

static void sx_receiver(const char *sock, int addr_wr)
{
	uint8_t *buf = malloc(SX_MAXSIZE + 64);
	omx_endpoint_t ep = sx_good_open(sock, "receiver");
	omx_endpoint_addr_t me;
	uint64_t exp_round = 0, exp_i = 0, msg[2];
	uint32_t index;

	if (!buf)
		_exit(2);
	omx_get_endpoint_addr(ep, &me);
	omx_decompose_endpoint_addr(me, &msg[0], &index);
	msg[1] = index;
	if (write(addr_wr, msg, sizeof(msg)) != sizeof(msg))
		_exit(2);
	for (;;) {
		omx_request_t q;
		omx_status_t st;
		uint64_t match;
		uint32_t size;

		memset(buf, 0xee, SX_MAXSIZE + 64);
		if (omx_irecv(ep, buf, SX_MAXSIZE, 0, 0, NULL, &q) != OMX_SUCCESS)
			sx_die("receiver", "omx_irecv", OMX_BAD_ERROR);
		sx_wait_or_die(ep, &q, &st, "receiver");
		match = st.match_info;
		if (match == SX_END) {
			if (omx_isend(ep, NULL, 0, st.addr, SX_BYE, NULL, &q) != OMX_SUCCESS)
				sx_die("receiver", "omx_isend bye", OMX_BAD_ERROR);
			sx_wait_or_die(ep, &q, &st, "receiver");
			sx_linger(ep, 300);
			omx_close_endpoint(ep);
			_exit(0);
		}
		if (match >> 8 != exp_round || (match & 0xff) != exp_i) {
			fprintf(stderr, "good receiver: message %llx, expected round %llu size #%llu\n",
				(unsigned long long)match, (unsigned long long)exp_round, (unsigned long long)exp_i);
			_exit(3);
		}
		size = sx_sizes[exp_i];
		if (st.msg_length != size || st.xfer_length != size) {
			fprintf(stderr, "good receiver: %u bytes announced, %u received, %u sent\n",
				st.msg_length, st.xfer_length, size);
			_exit(3);
		}
		for (uint32_t i = 0; i < size + 64; i++)
			if (buf[i] != (i < size ? sx_pattern(match, i) : 0xee)) {
				fprintf(stderr, "good receiver: byte %u of %u differs (round %llu)\n", i, size,
					(unsigned long long)exp_round);
				_exit(3);
			}
		if (++exp_i == SX_NSIZES) {
			exp_i = 0;
			exp_round++;
		}
	}
}

static void sx_sender(const char *sock, int addr_rd, int ready_wr, int stop_rd)
{
	uint8_t *buf = malloc(SX_MAXSIZE);
	omx_endpoint_t ep = sx_good_open(sock, "sender");
	omx_endpoint_addr_t dest;
	struct pollfd p = { .fd = addr_rd, .events = POLLIN };
	uint64_t msg[2];
	omx_return_t r;

	if (!buf || poll(&p, 1, SX_GOOD_MS) != 1 || read(addr_rd, msg, sizeof(msg)) != sizeof(msg))
		_exit(2);
	r = omx_connect(ep, msg[0], (uint32_t)msg[1], SX_KEY, SX_GOOD_MS, &dest);
	if (r != OMX_SUCCESS)
		sx_die("sender", "omx_connect", r);
	for (uint64_t round = 0;; round++) {
		struct pollfd s = { .fd = stop_rd, .events = POLLIN };
		omx_request_t q;
		omx_status_t st;
		int stop;

		for (uint32_t k = 0; k < SX_NSIZES; k++) {
			uint64_t match = round << 8 | k;

			for (uint32_t i = 0; i < sx_sizes[k]; i++)
				buf[i] = sx_pattern(match, i);
			if (omx_isend(ep, buf, sx_sizes[k], dest, match, NULL, &q) != OMX_SUCCESS)
				sx_die("sender", "omx_isend", OMX_BAD_ERROR);
			sx_wait_or_die(ep, &q, &st, "sender");
		}
		/* Decide before telling the parent: the round after the one it
		 * saw always starts before the parent can ask us to stop. */
		stop = poll(&s, 1, 0) > 0;
		if (write(ready_wr, "r", 1) != 1)
			_exit(2);
		if (stop)
			break;
	}
	{
		omx_request_t q;
		omx_status_t st;

		if (omx_irecv(ep, NULL, 0, SX_BYE, ~(uint64_t)0, NULL, &q) != OMX_SUCCESS)
			sx_die("sender", "omx_irecv bye", OMX_BAD_ERROR);
		omx_request_t e;
		if (omx_isend(ep, NULL, 0, dest, SX_END, NULL, &e) != OMX_SUCCESS)
			sx_die("sender", "omx_isend end", OMX_BAD_ERROR);
		sx_wait_or_die(ep, &e, &st, "sender");
		sx_wait_or_die(ep, &q, &st, "sender");
	}
	sx_linger(ep, 100);
	omx_close_endpoint(ep);
	_exit(0);
}

int sx_good_start(struct sx_good *g, const char *sock)
{
	int addr[2], ready[2], stop[2];
	struct pollfd p;
	char c;

	memset(g, 0, sizeof(*g));
	if (pipe2(addr, O_CLOEXEC) || pipe2(ready, O_CLOEXEC) || pipe2(stop, O_CLOEXEC))
		return -1;
	fflush(NULL);
	g->receiver = fork();
	if (g->receiver == 0) {
		/* Only the parent may hold the stop pipe's write end: its close is
		 * the sender's signal. */
		close(addr[0]);
		close(ready[0]);
		close(ready[1]);
		close(stop[0]);
		close(stop[1]);
		sx_receiver(sock, addr[1]);
	}
	g->sender = fork();
	if (g->sender == 0) {
		close(addr[1]);
		close(stop[1]);
		close(ready[0]);
		sx_sender(sock, addr[0], ready[1], stop[0]);
	}
	close(addr[0]);
	close(addr[1]);
	close(ready[1]);
	close(stop[0]);
	g->ready_rd = ready[0];
	g->stop_wr = stop[1];
	p = (struct pollfd){ .fd = g->ready_rd, .events = POLLIN };
	if (poll(&p, 1, SX_GOOD_MS) != 1 || read(g->ready_rd, &c, 1) != 1) {
		fprintf(stderr, "the good pair did not finish its first round\n");
		sx_good_finish(g);
		return -1;
	}
	g->rounds = 1;
	return 0;
}

int sx_good_rounds(struct sx_good *g)
{
	char buf[64];
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = g->ready_rd, .events = POLLIN };

		if (poll(&p, 1, 0) != 1 || (n = read(g->ready_rd, buf, sizeof(buf))) <= 0)
			return g->rounds;
		g->rounds += (int)n;
	}
}

static int sx_reap(pid_t pid, long end, const char *who)
{
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 || sx_now_ms() > end) {
			fprintf(stderr, "good %s does not finish: killed\n", who);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		sx_sleep_ms(2);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "good %s: %s %d\n", who, WIFSIGNALED(st) ? "signal" : "exit",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		return -1;
	}
	return 0;
}

int sx_good_finish(struct sx_good *g)
{
	long end = sx_now_ms() + 2 * SX_GOOD_MS;
	int bad;

	close(g->stop_wr);
	bad = sx_reap(g->sender, end, "sender") | sx_reap(g->receiver, end, "receiver");
	sx_good_rounds(g);
	close(g->ready_rd);
	if (!bad && g->rounds < 2) {
		fprintf(stderr, "the good pair finished only %d round(s)\n", g->rounds);
		bad = -1;
	}
	return bad ? -1 : 0;
}
