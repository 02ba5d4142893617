/*
 * omx_link_udp.c - whole frames carried as UDP datagram payloads.
 *
 * A board is IPv4 << 16 | base port; endpoint e binds base + e, so the kernel
 * demultiplexes per endpoint.  A frame goes to the board named by its
 * destination field, on the port of the endpoint it addresses:
 *   body byte 1      lib messages, CONNECT, TRUC, PULL, NOTIFY
 *   body byte 9      NACK_LIB (the original sender)
 *   magic ^ XOR      PULL_REPLY dst_magic, NACK_MCP src_magic (body offset 12)
 *   endpoint 0       HOST_QUERY, HOST_REPLY, RAW and unknown types: no byte
 *                    names an endpoint, so board-level traffic reaches the
 *                    board through its first endpoint's socket.
 * A frame whose endpoint cannot be named (a bad magic) or whose port would
 * pass 65535 cannot be routed: it is counted in stats.tx_errors, not sent.
 *
 * Received datagrams must come from the board and endpoint range their
 * source field claims, else they are dropped (stats.dropped_spoofed); every
 * board is taken to have this board's endpoint_max.
 *
 * A frame sent to a closed port comes back as an ICMP port unreachable on the
 * sender's error queue (IP_RECVERR); port_recv turns it into the NACK_LIB the
 * remote driver would have sent.  The socket then polls POLLERR, not POLLIN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>

#include "omx_abi.h"
#include "omx_list.h"
#include "omx_wire.h"
#include "omx_link.h"

#define OMX_LINK_UDP_BASE_PORT_DEFAULT 34527   /* 0x86DF, the EtherType */
#define OMX_LINK_UDP_MTU_DEFAULT 9000
#define OMX_LINK_UDP_MTU_MIN 1500
#define OMX_LINK_UDP_MTU_MAX 65507             /* largest IPv4 UDP payload */
#define OMX_LINK_UDP_BATCH 64
#define OMX_LINK_UDP_SOCKBUF (4 << 20)
#define OMX_LINK_UDP_BOUNCE_MAX 640            /* more than an ICMP error quotes */
#define OMX_LINK_UDP_BOUNCE_WHOLE 500          /* a quote holds at least this much (520 on lo) */
#define OMX_LINK_UDP_NACK_ROOM (OMX_WIRE_MIN_FRAME + OMX_WIRE_FCS_LEN)

struct omx_link_udp {
	struct omx_link base;
	uint32_t ipv4;                         /* host order */
	uint16_t base_port;
};

struct omx_link_udp_port {
	struct omx_link_port base;
	struct omx_link_port_stats stats;
	int fd;
	uint32_t endpoint_index;
	int errq_pending;                      /* an ICMP error may wait in the error queue;
	                                        * set by send, cleared by recv: atomic */
};

static int omx_link_udp_errno_to_abi(int err)
{
	switch (err) {
	case EADDRINUSE:
		return OMX_ABI_EBUSY;
	case EADDRNOTAVAIL:
		return OMX_ABI_ENODEV;
	case EACCES:
	case EPERM:
		return OMX_ABI_EPERM;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		return OMX_ABI_ENOMEM;
	default:
		return OMX_ABI_EIO;
	}
}

/* Errors that an earlier frame's ICMP left on the socket (IP_RECVERR). */
static int omx_link_udp_async_error(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == EHOSTDOWN || err == ENETDOWN;
}

static void omx_link_udp_sockbuf(int fd, int force_opt, int opt)
{
	int size = OMX_LINK_UDP_SOCKBUF;

	/* FORCE passes rmem_max/wmem_max when privileged; else take what is allowed. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

static int omx_link_udp_port_open(struct omx_link *link, uint32_t endpoint_index,
				  struct omx_link_port **out)
{
	struct omx_link_udp *ul = omx_container_of(link, struct omx_link_udp, base);
	struct omx_link_udp_port *port;
	struct sockaddr_in sa;
	int one = 1;
	int err;

	if (endpoint_index >= link->endpoint_max)
		return OMX_ABI_EINVAL;
	port = calloc(1, sizeof(*port));
	if (!port)
		return OMX_ABI_ENOMEM;
	port->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (port->fd < 0) {
		err = omx_link_udp_errno_to_abi(errno);
		goto err_free;
	}
	omx_link_udp_sockbuf(port->fd, SO_SNDBUFFORCE, SO_SNDBUF);
	omx_link_udp_sockbuf(port->fd, SO_RCVBUFFORCE, SO_RCVBUF);
	if (setsockopt(port->fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one)) < 0) {
		err = OMX_ABI_EIO;
		goto err_close;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(ul->ipv4);
	sa.sin_port = htons((uint16_t)(ul->base_port + endpoint_index));
	if (bind(port->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = omx_link_udp_errno_to_abi(errno);
		goto err_close;
	}
	port->base.link = link;
	port->base.stats = &port->stats;
	port->endpoint_index = endpoint_index;
	*out = &port->base;
	return 0;

err_close:
	close(port->fd);
err_free:
	free(port);
	return err;
}

static void omx_link_udp_port_close(struct omx_link_port *p)
{
	struct omx_link_udp_port *port = omx_container_of(p, struct omx_link_udp_port, base);

	close(port->fd);
	free(port);
}

static int omx_link_udp_port_send(struct omx_link_port *p, const struct omx_link_frame *frames,
				  unsigned n)
{
	struct omx_link_udp_port *port = omx_container_of(p, struct omx_link_udp_port, base);
	struct mmsghdr msgs[OMX_LINK_UDP_BATCH];
	struct iovec iov[OMX_LINK_UDP_BATCH];
	struct sockaddr_in sa[OMX_LINK_UDP_BATCH];
	unsigned next = 0;
	int retried = 0;

	for (unsigned i = 0; i < n; i++) {
		if (frames[i].len > p->link->mtu)
			return OMX_ABI_EMSGSIZE;
		if (frames[i].len <= OMX_WIRE_HEAD_LEN)
			return OMX_ABI_EINVAL;
	}

	while (next < n) {
		unsigned cnt = 0;

		while (next + cnt < n && cnt < OMX_LINK_UDP_BATCH) {
			const struct omx_link_frame *f = &frames[next + cnt];
			int ep = omx_wire_dst_endpoint(f->data, f->len);
			uint64_t dst = omx_wire_get_mac(f->data);
			uint32_t dport;

			if (ep == OMX_WIRE_DST_BOARD)
				ep = 0;  /* board traffic: endpoint 0's port */
			dport = (uint32_t)(dst & 0xffff) + (uint32_t)ep;

			if (ep < 0 || dport > 0xffff)
				break;
			memset(&sa[cnt], 0, sizeof(sa[cnt]));
			sa[cnt].sin_family = AF_INET;
			sa[cnt].sin_addr.s_addr = htonl((uint32_t)(dst >> 16));
			sa[cnt].sin_port = htons((uint16_t)dport);
			iov[cnt].iov_base = f->data;
			iov[cnt].iov_len = f->len;
			memset(&msgs[cnt], 0, sizeof(msgs[cnt]));
			msgs[cnt].msg_hdr.msg_name = &sa[cnt];
			msgs[cnt].msg_hdr.msg_namelen = sizeof(sa[cnt]);
			msgs[cnt].msg_hdr.msg_iov = &iov[cnt];
			msgs[cnt].msg_hdr.msg_iovlen = 1;
			cnt++;
		}
		if (cnt == 0) {
			port->stats.tx_errors++;
			next++;
			continue;
		}

		int r = sendmmsg(port->fd, msgs, cnt, MSG_DONTWAIT);
		if (r > 0) {
			next += (unsigned)r;
			retried = 0;
			continue;
		}
		if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			break;
		if (errno == EINTR)
			continue;
		if (omx_link_udp_async_error(errno))
			__atomic_store_n(&port->errq_pending, 1, __ATOMIC_RELAXED);
		/* The error may belong to an earlier frame (sk_err, or one that
		 * sendmmsg stashed after a partial batch): retry once, then the
		 * frame itself is at fault and is skipped. */
		if (!retried) {
			retried = 1;
			continue;
		}
		port->stats.tx_errors++;
		next++;
		retried = 0;
	}
	return (int)(n - next);
}

/* Build the NACK_LIB a live remote driver would have sent for a bounced frame. */
static int omx_link_udp_nack(struct omx_link_udp_port *port, const uint8_t *bounced, size_t blen,
			     struct omx_link_frame *f)
{
	struct omx_link *link = port->base.link;
	const uint8_t *b = omx_wire_cbody(bounced);
	struct omx_wire_head head;
	struct omx_wire_nack_lib nack;
	uint8_t *frame = f->data;
	uint16_t seqnum;

	if (blen < OMX_WIRE_HEAD_LEN + OMX_WIRE_NOTIFY_LEN)
		return -1;
	/* A live driver checks the trailer first and nacks nothing damaged.  Only
	 * a whole frame can be checked: a large MEDIUM comes back cut. */
	if (link->needs_fcs && blen < OMX_LINK_UDP_BOUNCE_WHOLE &&
	    omx_wire_get32(bounced, (unsigned)blen - OMX_WIRE_FCS_LEN) !=
	    omx_wire_crc32c(bounced, blen - OMX_WIRE_FCS_LEN))
		return -1;
	switch (b[0]) {
	case OMX_PKT_TYPE_TINY:
	case OMX_PKT_TYPE_SMALL:
	case OMX_PKT_TYPE_MEDIUM:
	case OMX_PKT_TYPE_RNDV:
		seqnum = omx_wire_get16(b, 8);
		break;
	case OMX_PKT_TYPE_NOTIFY:
		seqnum = omx_wire_get16(b, 18);
		break;
	case OMX_PKT_TYPE_CONNECT:
		seqnum = 0;
		break;
	default:
		return -1;
	}

	head.dst_addr = link->addr;
	head.src_addr = omx_wire_get_mac(bounced);
	head.dst_src_peer_index = OMX_WIRE_UNKNOWN_PEER_INDEX;
	nack.src_endpoint = b[1];
	nack.nack_type = b[1] >= link->endpoint_max ? OMX_NACK_TYPE_BAD_ENDPT
						    : OMX_NACK_TYPE_ENDPT_CLOSED;
	/* The bounced frame's src_endpoint, read where no corruption reaches it. */
	nack.dst_endpoint = (uint8_t)port->endpoint_index;
	nack.dst_src_peer_index = omx_wire_get16(bounced, 14);
	nack.lib_seqnum = seqnum;

	memset(frame, 0, OMX_WIRE_MIN_FRAME);
	omx_wire_head_encode(frame, &head);
	omx_wire_nack_lib_encode(omx_wire_body(frame), &nack);
	f->len = OMX_WIRE_MIN_FRAME;
	if (link->needs_fcs) {
		omx_wire_put32(frame, OMX_WIRE_MIN_FRAME, omx_wire_crc32c(frame, OMX_WIRE_MIN_FRAME));
		f->len += OMX_WIRE_FCS_LEN;
	}
	port->stats.nacks_synthesised++;
	return 0;
}

/* Turn bounced frames (ICMP port unreachable) into NACK_LIB frames. */
static unsigned omx_link_udp_drain_errq(struct omx_link_udp_port *port,
					struct omx_link_frame *frames, unsigned n)
{
	unsigned got = 0;

	while (got < n && frames[got].len >= OMX_LINK_UDP_NACK_ROOM) {
		uint8_t bounced[OMX_LINK_UDP_BOUNCE_MAX];
		union {
			char buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in))];
			struct cmsghdr align;
		} ctl;
		struct sockaddr_in sa;
		struct iovec iov = { .iov_base = bounced, .iov_len = sizeof(bounced) };
		struct msghdr msg = {
			.msg_name = &sa, .msg_namelen = sizeof(sa),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		const struct sock_extended_err *ee = NULL;

		ssize_t r = recvmsg(port->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				__atomic_store_n(&port->errq_pending, 0, __ATOMIC_RELAXED);
			break;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR)
				ee = (const struct sock_extended_err *)CMSG_DATA(c);
		if (!ee || ee->ee_origin != SO_EE_ORIGIN_ICMP || ee->ee_type != ICMP_DEST_UNREACH ||
		    ee->ee_code != ICMP_PORT_UNREACH)
			continue;
		if (omx_link_udp_nack(port, bounced, (size_t)r, &frames[got]) == 0)
			got++;
	}
	return got;
}

/* Accept a datagram only from the board and endpoint range its source field names. */
static int omx_link_udp_check(struct omx_link_udp_port *port, const struct mmsghdr *m,
			      const struct sockaddr_in *sa, const uint8_t *frame)
{
	struct omx_link *link = port->base.link;
	uint64_t src;
	uint32_t sport;

	if ((m->msg_hdr.msg_flags & MSG_TRUNC) || m->msg_len > link->mtu ||
	    m->msg_len < OMX_WIRE_HEAD_LEN) {
		port->stats.dropped_truncated++;
		return -1;
	}
	src = omx_wire_get_mac(frame + 6);
	sport = ntohs(sa->sin_port);
	if (sa->sin_family != AF_INET || (uint32_t)(src >> 16) != ntohl(sa->sin_addr.s_addr) ||
	    sport < (src & 0xffff) || sport - (src & 0xffff) >= link->endpoint_max) {
		port->stats.dropped_spoofed++;
		return -1;
	}
	return 0;
}

static int omx_link_udp_port_recv(struct omx_link_port *p, struct omx_link_frame *frames, unsigned n)
{
	struct omx_link_udp_port *port = omx_container_of(p, struct omx_link_udp_port, base);
	struct mmsghdr msgs[OMX_LINK_UDP_BATCH];
	struct iovec iov[OMX_LINK_UDP_BATCH];
	struct sockaddr_in sa[OMX_LINK_UDP_BATCH];
	unsigned got = 0;
	int async_errors = 0;

	if (__atomic_load_n(&port->errq_pending, __ATOMIC_RELAXED))
		got += omx_link_udp_drain_errq(port, frames, n);

	while (got < n) {
		unsigned want = n - got < OMX_LINK_UDP_BATCH ? n - got : OMX_LINK_UDP_BATCH;

		for (unsigned i = 0; i < want; i++) {
			iov[i].iov_base = frames[got + i].data;
			iov[i].iov_len = frames[got + i].len;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_name = &sa[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(sa[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(port->fd, msgs, want, MSG_DONTWAIT, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* An empty queue reports a pending ICMP error once (sk_err). */
			if (omx_link_udp_async_error(errno) && async_errors++ < 4) {
				got += omx_link_udp_drain_errq(port, frames + got, n - got);
				continue;
			}
			break;
		}

		/* Keep the good datagrams packed at the front; drops are rare, so
		 * moving the bytes of the later ones down is cheap enough. */
		unsigned keep = got;
		for (unsigned i = 0; i < (unsigned)r; i++) {
			struct omx_link_frame *f = &frames[got + i];

			if (omx_link_udp_check(port, &msgs[i], &sa[i], f->data) < 0)
				continue;
			if (keep != got + i) {
				if (frames[keep].len < msgs[i].msg_len) {
					port->stats.dropped_truncated++;
					continue;
				}
				memmove(frames[keep].data, f->data, msgs[i].msg_len);
			}
			frames[keep].len = msgs[i].msg_len;
			keep++;
		}
		got = keep;
		if ((unsigned)r < want)
			break;
	}
	return (int)got;
}

static int omx_link_udp_port_fd(struct omx_link_port *p)
{
	return omx_container_of(p, struct omx_link_udp_port, base)->fd;
}

static void omx_link_udp_close(struct omx_link *link)
{
	free(omx_container_of(link, struct omx_link_udp, base));
}

static const struct omx_link_ops omx_link_udp_ops = {
	.name = "udp",
	.port_open = omx_link_udp_port_open,
	.port_close = omx_link_udp_port_close,
	.port_send = omx_link_udp_port_send,
	.port_recv = omx_link_udp_port_recv,
	.port_fd = omx_link_udp_port_fd,
	.close = omx_link_udp_close,
};

static int omx_link_udp_parse(const char *spec, uint32_t *ipv4, uint16_t *base_port)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strchr(spec, ':');
	size_t hlen = colon ? (size_t)(colon - spec) : strlen(spec);
	unsigned long port = OMX_LINK_UDP_BASE_PORT_DEFAULT;
	struct in_addr a;

	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &a) != 1)
		return -1;
	*ipv4 = ntohl(a.s_addr);
	/* A board address must name one host. */
	if (*ipv4 == INADDR_ANY || *ipv4 == INADDR_BROADCAST || IN_MULTICAST(*ipv4))
		return -1;
	if (colon) {
		char *end;

		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno || port == 0 ||
		    port > 65536 - OMX_ENDPOINT_INDEX_MAX)
			return -1;
	}
	*base_port = (uint16_t)port;
	return 0;
}

int omx_link_udp_open(const char *addr_spec, uint32_t endpoint_max, uint32_t mtu, struct omx_link **out)
{
	struct omx_link_udp *ul;
	uint32_t ipv4;
	uint16_t base_port;

	if (!addr_spec || omx_link_udp_parse(addr_spec, &ipv4, &base_port) < 0) {
		fprintf(stderr, "omx_link_udp: bad address '%s' (want IPV4[:BASEPORT], unicast, "
			"base port 1..%d)\n", addr_spec ? addr_spec : "(null)",
			65536 - OMX_ENDPOINT_INDEX_MAX);
		return OMX_ABI_EINVAL;
	}
	if (endpoint_max == 0 || endpoint_max > OMX_ENDPOINT_INDEX_MAX)
		return OMX_ABI_EINVAL;
	if (mtu == 0)
		mtu = OMX_LINK_UDP_MTU_DEFAULT;
	if (mtu < OMX_LINK_UDP_MTU_MIN || mtu > OMX_LINK_UDP_MTU_MAX) {
		fprintf(stderr, "omx_link_udp: MTU %u out of [%d, %d]\n", mtu, OMX_LINK_UDP_MTU_MIN,
			OMX_LINK_UDP_MTU_MAX);
		return OMX_ABI_EINVAL;
	}
	ul = calloc(1, sizeof(*ul));
	if (!ul)
		return OMX_ABI_ENOMEM;
	ul->ipv4 = ipv4;
	ul->base_port = base_port;
	ul->base.addr = ((uint64_t)ipv4 << 16) | base_port;
	ul->base.mtu = mtu;
	ul->base.endpoint_max = endpoint_max;
	snprintf(ul->base.ifacename, sizeof(ul->base.ifacename), "udp");
	snprintf(ul->base.drivername, sizeof(ul->base.drivername), "udp");
	ul->base.ops = &omx_link_udp_ops;
	*out = &ul->base;
	return 0;
}
