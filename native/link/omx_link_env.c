/*
 * omx_link_env.c - open a board's link from the environment.
 *
 * Every link variable is read here, once per board open, and a bad value is
 * clamped (or replaced by its default) with one warning naming the variable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "omx_abi.h"
#include "omx_link.h"

#define OMX_LINK_ENV_MTU_DEFAULT 9000
#define OMX_LINK_ENV_MTU_MIN 1500
#define OMX_LINK_ENV_MTU_MAX_UDP 65507      /* one IPv4 datagram */
#define OMX_LINK_ENV_MTU_MAX_PACKET 65550   /* lo's MTU 65536 plus the Ethernet header */

/* The variables, their defaults and meaning (the README lists the same). */
static const struct omx_link_env_var {
	const char *name;
	const char *def;
	const char *help;
} omx_link_env_vars[] = {
	{ "OMX_LINK", "udp", "the link carrying frames; links: udp, packet" },
	{ "OMX_UDP_ADDR", "127.0.0.1:34527", "udp board address IPV4[:BASEPORT]; endpoint e binds BASEPORT+e" },
	{ "OMX_MTU", "9000", "largest frame, head included, 1500..65507 (udp) or ..65550 (packet)" },
	{ "OMX_FAULT", "", "fault spec drop=P,dup=P,reorder=P,corrupt=P,delay=P,delay_ms=N,seed=S" },
	{ "OMX_CHECKSUM", "1 with OMX_FAULT, else 0", "CRC32C trailer on every frame, 0 or 1" },
	{ "OMX_IFNAMES", "every Ethernet interface that is up, then lo",
	  "packet: interfaces NAME[,NAME...]; board i is the i-th" },
};

enum { OMX_LINK_ENV_LINK, OMX_LINK_ENV_UDP_ADDR, OMX_LINK_ENV_MTU, OMX_LINK_ENV_FAULT,
       OMX_LINK_ENV_CHECKSUM, OMX_LINK_ENV_IFNAMES };

static const char *omx_link_env_get(int var)
{
	const char *v = getenv(omx_link_env_vars[var].name);

	return v && *v ? v : NULL;
}

static uint32_t omx_link_env_mtu(uint32_t max)
{
	const char *v = omx_link_env_get(OMX_LINK_ENV_MTU);
	unsigned long mtu;
	char *end;

	if (!v)
		return OMX_LINK_ENV_MTU_DEFAULT;
	errno = 0;
	mtu = strtoul(v, &end, 10);
	if (*end != '\0' || errno || *v == '-') {
		fprintf(stderr, "omx_link: OMX_MTU='%s' is not a number, using %d\n", v,
			OMX_LINK_ENV_MTU_DEFAULT);
		return OMX_LINK_ENV_MTU_DEFAULT;
	}
	if (mtu < OMX_LINK_ENV_MTU_MIN || mtu > max) {
		unsigned long clamped = mtu < OMX_LINK_ENV_MTU_MIN ? OMX_LINK_ENV_MTU_MIN : max;

		fprintf(stderr, "omx_link: OMX_MTU=%lu out of [%d, %u], using %lu\n", mtu,
			OMX_LINK_ENV_MTU_MIN, max, clamped);
		return (uint32_t)clamped;
	}
	return (uint32_t)mtu;
}

/* Both ends of a link must agree: a receiver with the trailer on drops every
 * frame of a sender without it (bad CRC), and one with it off takes the
 * trailer as payload padding and checks nothing. */
static int omx_link_env_checksum(int with_fault)
{
	const char *v = omx_link_env_get(OMX_LINK_ENV_CHECKSUM);

	if (!v)
		return with_fault;
	if (!strcmp(v, "0") || !strcmp(v, "1"))
		return v[0] == '1';
	fprintf(stderr, "omx_link: OMX_CHECKSUM='%s' is not 0 or 1, using %d\n", v, with_fault);
	return with_fault;
}

/* Default board i: the i-th Ethernet interface that is up (not lo), in
 * interface index order, then lo (the board "localhost") after them. */
static int omx_link_env_default_ifname(uint32_t board_index, char *out)
{
	struct if_nameindex *names = if_nameindex();
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint32_t i = 0;
	int found = 0;

	for (struct if_nameindex *n = names; fd >= 0 && n && n->if_index && !found; n++) {
		struct ifreq ifr;

		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", n->if_name);
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP) ||
		    (ifr.ifr_flags & IFF_LOOPBACK))
			continue;
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 || ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
			continue;
		if (i++ == board_index) {
			snprintf(out, IFNAMSIZ, "%s", n->if_name);
			found = 1;
		}
	}
	if (fd >= 0)
		close(fd);
	if (names)
		if_freenameindex(names);
	if (!found && i == board_index) {
		snprintf(out, IFNAMSIZ, "lo");
		found = 1;
	}
	return found ? 0 : OMX_ABI_ENODEV;
}

/* Board i's interface: the i-th name of OMX_IFNAMES, or the i-th default. */
static int omx_link_env_ifname(uint32_t board_index, char *out)
{
	const char *v = omx_link_env_get(OMX_LINK_ENV_IFNAMES);
	uint32_t i = 0;

	if (!v)
		return omx_link_env_default_ifname(board_index, out);
	for (const char *p = v;; i++) {
		size_t len = strcspn(p, ",");

		if (i == board_index) {
			if (len == 0 || len >= IFNAMSIZ) {
				fprintf(stderr, "omx_link: OMX_IFNAMES='%s': entry %u is not an interface "
					"name\n", v, i);
				return OMX_ABI_EINVAL;
			}
			memcpy(out, p, len);
			out[len] = '\0';
			return 0;
		}
		if (p[len] == '\0')
			return OMX_ABI_ENODEV;
		p += len + 1;
	}
}

int omx_link_open_from_env(uint32_t board_index, uint32_t endpoint_max, struct omx_link **out)
{
	struct omx_link *link, *wrapped;
	const char *kind, *addr, *fault;
	char ifname[IFNAMSIZ];
	uint32_t mtu;
	int checksum, err;

	kind = omx_link_env_get(OMX_LINK_ENV_LINK);
	if (!kind)
		kind = omx_link_env_vars[OMX_LINK_ENV_LINK].def;
	addr = omx_link_env_get(OMX_LINK_ENV_UDP_ADDR);
	if (!addr)
		addr = omx_link_env_vars[OMX_LINK_ENV_UDP_ADDR].def;
	fault = omx_link_env_get(OMX_LINK_ENV_FAULT);

	if (!strcmp(kind, "udp")) {
		/* One board: OMX_UDP_ADDR names one address. */
		if (board_index > 0)
			return OMX_ABI_ENODEV;
		mtu = omx_link_env_mtu(OMX_LINK_ENV_MTU_MAX_UDP);
		checksum = omx_link_env_checksum(fault != NULL);
		err = omx_link_udp_open(addr, endpoint_max, mtu, &link);
	} else if (!strcmp(kind, "packet")) {
		err = omx_link_env_ifname(board_index, ifname);
		if (err < 0)
			return err;
		mtu = omx_link_env_mtu(OMX_LINK_ENV_MTU_MAX_PACKET);
		checksum = omx_link_env_checksum(fault != NULL);
		err = omx_link_packet_open(ifname, endpoint_max, mtu, &link);
	} else {
		fprintf(stderr, "omx_link: unknown OMX_LINK '%s' (links: udp, packet)\n", kind);
		return OMX_ABI_EINVAL;
	}
	if (err < 0)
		return err;
	/* Set before wrapping: the decorator copies it and may force it on. */
	link->needs_fcs = checksum;

	if (fault) {
		err = omx_link_fault_wrap(link, fault, &wrapped);
		if (err < 0)
			goto err_close;
		if (!checksum && wrapped->needs_fcs)
			fprintf(stderr, "omx_link: OMX_CHECKSUM=0 overridden: OMX_FAULT corrupts frames, "
				"so the CRC32C trailer is on\n");
		link = wrapped;
	}
	*out = link;
	return 0;

err_close:
	link->ops->close(link);
	return err;
}
