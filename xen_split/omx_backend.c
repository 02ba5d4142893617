/*
 * omx_backend - the split backend daemon (the dom0 role): owns the boards
 * named by the environment (OMX_LINK, OMX_IFNAMES, OMX_UDP_ADDR, ...), runs
 * the driver engine and serves split frontends (OMX_DRIVER=split:PATH) on
 * a Unix socket.  SIGINT or SIGTERM: every frontend is torn down, the
 * socket removed, exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "omx_split_back.h"

static volatile int omx_backend_stop;

static void omx_backend_signal(int sig)
{
	(void)sig;
	omx_backend_stop = 1;
}

static void omx_backend_usage(FILE *f)
{
	fprintf(f,
		"Usage: omx_backend --socket PATH [options]\n"
		"  --socket PATH        where frontends connect (OMX_DRIVER=split:PATH)\n"
		"  --allow-uid U,..     uids allowed to connect (default: this uid and root)\n"
		"  --boards LIST        board indices frontends may open, e.g. 0,1 (default all)\n"
		"  --endpoints LIST     endpoint indices frontends may open, e.g. 0-7 (default all)\n"
		"  --admin-uid U        uid allowed peer table writes, hostname, counter clear (default root)\n"
		"  --budget N           requests served per frontend per pass (default 16)\n"
		"  --error-limit N      malformed requests per second before a disconnect (default 1000)\n"
		"  --spin-us N          spin after work before blocking, microseconds (default 100)\n"
		"  --nice N             scheduling niceness when allowed (default -10: like a kernel\n"
		"                       backend, wake ahead of spinning frontends; 0 keeps it)\n"
		"  -v                   log frontends, endpoints, errors and per-frontend stats\n"
		"  -h, --help           this text\n");
}

static int omx_backend_uint(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX || *s == '-')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int omx_backend_uids(const char *s, struct omx_split_back_config *c)
{
	char buf[512], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", s);
	c->nr_allow_uids = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (c->nr_allow_uids == OMX_SPLIT_BACK_UIDS_MAX ||
		    omx_backend_uint(tok, &c->allow_uids[c->nr_allow_uids]))
			return -1;
		c->nr_allow_uids++;
	}
	return c->nr_allow_uids ? 0 : -1;
}

static int omx_backend_args(int argc, char **argv, struct omx_split_back_config *c, int *nice)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t bits[4];
		int bad = 0;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			omx_backend_usage(stdout);
			exit(0);
		} else if (!strcmp(a, "-v")) {
			c->verbose = 1;
			continue;
		} else if (!v) {
			bad = 1;
		} else if (!strcmp(a, "--socket")) {
			c->socket_path = v;
		} else if (!strcmp(a, "--allow-uid")) {
			bad = omx_backend_uids(v, c);
		} else if (!strcmp(a, "--boards")) {
			bad = omx_split_back_parse_ranges(v, bits, 32) != 0;
			c->boards_mask = (uint32_t)bits[0];
		} else if (!strcmp(a, "--endpoints")) {
			bad = omx_split_back_parse_ranges(v, c->endpoints, 256) != 0;
		} else if (!strcmp(a, "--admin-uid")) {
			bad = omx_backend_uint(v, &c->admin_uid);
		} else if (!strcmp(a, "--budget")) {
			bad = omx_backend_uint(v, &c->budget) || !c->budget;
		} else if (!strcmp(a, "--error-limit")) {
			bad = omx_backend_uint(v, &c->error_limit);
		} else if (!strcmp(a, "--spin-us")) {
			bad = omx_backend_uint(v, &c->spin_us);
		} else if (!strcmp(a, "--nice")) {
			char *end;
			long n = strtol(v, &end, 10);

			bad = *end || end == v || n < -20 || n > 19;
			*nice = (int)n;
		} else {
			fprintf(stderr, "omx_backend: unknown option %s\n", a);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "omx_backend: bad or missing value for %s\n", a);
			return -1;
		}
		i++;
	}
	if (!c->socket_path) {
		fprintf(stderr, "omx_backend: --socket PATH is required\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct omx_split_back_config c;
	struct omx_split_back_stats st;
	struct omx_split_back *b;
	struct sigaction sa;
	struct rlimit rl;
	int err, nice = -10;

	omx_split_back_config_init(&c);
	if (omx_backend_args(argc, argv, &c, &nice)) {
		omx_backend_usage(stderr);
		return 2;
	}
	/* Six fds per shadow endpoint and a few per frontend: take what we may. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* The backend is on every frontend's path (Xen runs it in dom0's
	 * kernel): woken, it should run before a spinning guest. */
	if (nice && setpriority(PRIO_PROCESS, 0, nice) < 0 && c.verbose)
		fprintf(stderr, "omx_backend: cannot set niceness %d: %s\n", nice, strerror(errno));
	/* No SA_RESTART: the blocking epoll returns EINTR and the loop sees stop. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = omx_backend_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = omx_split_back_create(&c, &b);
	if (err) {
		fprintf(stderr, "omx_backend: cannot start on %s (error %d)\n", c.socket_path, err);
		return 1;
	}
	fprintf(stderr, "omx_backend: pid %d serving %s\n", (int)getpid(), c.socket_path);
	err = omx_split_back_run(b, &omx_backend_stop);
	omx_split_back_get_stats(b, &st);
	omx_split_back_destroy(b);
	if (c.verbose)
		fprintf(stderr, "omx_backend: exit: accepted %llu refused %llu disconnected %llu requests %llu "
			"errors %llu\n", (unsigned long long)st.accepted, (unsigned long long)st.refused,
			(unsigned long long)st.disconnected, (unsigned long long)st.requests,
			(unsigned long long)st.errors);
	return err ? 1 : 0;
}
