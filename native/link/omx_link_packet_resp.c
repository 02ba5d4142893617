/*
 * omx_link_packet_resp.c - the packet link's port filter and board responder.
 *
 * A port's classic BPF filter keeps its endpoint's unicast frames (see the
 * table in omx_link_packet.c); omx_wire_dst_endpoint states the same
 * rules in C for the receive path.
 *
 * The board responder answers frames for endpoint indices that are not open,
 * as a remote Open-MX driver would: NACK_LIB for TINY SMALL MEDIUM RNDV
 * NOTIFY CONNECT, NACK_MCP for PULL (type BAD_ENDPT at or above endpoint_max,
 * else ENDPT_CLOSED).  One port per board and network namespace holds the role:
 * the first to bind "\0omx-transport/<addr>/responder"; the name dies with its
 * process and the other ports retry every OMX_LINK_PACKET_REFRESH_MS from
 * port_recv.  Rather than an extra socket (and an epoll fd so the driver
 * would wake for it), the holder's own filter also keeps the nackable types
 * for indices without an endpoint claim (the abstract names
 * "\0omx-transport/<addr>/<index>" the driver binds, read from /proc/net/unix),
 * and its port_recv answers them without returning them.  The open set in
 * the filter is refreshed every OMX_LINK_PACKET_REFRESH_MS; before nacking,
 * the claims are scanned again after the frame was taken from the ring.  As
 * the driver claims an index before opening its port, a frame nacked that
 * way reached no endpoint (an index that just closed is nacked from the
 * next refresh on; until then its frames are dropped and the sender's resend
 * gets the nack).  With the CRC32C trailer on, a damaged frame is never
 * nacked; TRUC, nacks and pull replies never are.  Nothing is answered
 * while no port of the board runs port_recv: a host with no Open-MX process
 * nacks nothing, and the sender times out instead.
 *
 * A frame for another endpoint that reaches a port not holding the role
 * (left in its ring across a filter change) is counted in dropped_foreign.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "omx_abi.h"
#include "omx_list.h"
#include "omx_wire.h"
#include "omx_link.h"
#include "omx_link_packet.h"

#define OMX_LINK_PACKET_FILTER_MAX (40 + 2 * OMX_ENDPOINT_INDEX_MAX)
#define OMX_LINK_PACKET_SCAN_CHUNK 16384

/* ---- classification (mirrors the filter) -------------------------------- */


/* Body header length of a type the responder nacks; 0 for the others. */
static uint32_t omx_link_packet_nackable_len(uint8_t ptype)
{
	switch (ptype) {
	case OMX_PKT_TYPE_TINY:
	case OMX_PKT_TYPE_SMALL:
		return OMX_WIRE_MSG_LEN;
	case OMX_PKT_TYPE_MEDIUM:
	case OMX_PKT_TYPE_RNDV:
		return OMX_WIRE_MEDIUM_LEN;
	case OMX_PKT_TYPE_NOTIFY:
		return OMX_WIRE_NOTIFY_LEN;
	case OMX_PKT_TYPE_CONNECT:
		return OMX_WIRE_CONNECT_LEN;
	case OMX_PKT_TYPE_PULL:
		return OMX_WIRE_PULL_LEN;
	default:
		return 0;
	}
}

/* ---- BPF filter ----------------------------------------------------------- */

/* Fixed part; labels are absolute instruction numbers (cBPF jumps forward only). */
enum {
	OMX_LINK_PACKET_L_NACKLIB = 17,
	OMX_LINK_PACKET_L_MAGIC = 19,
	OMX_LINK_PACKET_L_BCAST = 21,
	OMX_LINK_PACKET_L_EP0 = 26,
	OMX_LINK_PACKET_L_ACCEPT = 27,
	OMX_LINK_PACKET_L_DROP = 28,
	OMX_LINK_PACKET_L_RESP = 29,
};

struct omx_link_packet_bpf {
	struct sock_filter f[OMX_LINK_PACKET_FILTER_MAX];
	unsigned n;
};

static void omx_link_packet_op(struct omx_link_packet_bpf *b, uint16_t code, uint32_t k)
{
	b->f[b->n++] = (struct sock_filter){ .code = code, .k = k };
}

/* A (op) k ? goto t : goto fl; labels are absolute, 0 = the next instruction. */
static void omx_link_packet_jmp(struct omx_link_packet_bpf *b, uint16_t op, uint32_t k,
				unsigned t, unsigned fl)
{
	unsigned pc = b->n;

	b->f[b->n++] = (struct sock_filter){
		.code = BPF_JMP | op | BPF_K, .k = k,
		.jt = (uint8_t)(t ? t - pc - 1 : 0), .jf = (uint8_t)(fl ? fl - pc - 1 : 0),
	};
}

/* The port filter; with open_set, the responder's tail too. */
static void omx_link_packet_filter(const struct omx_link *link, uint32_t index,
				   const uint8_t *open_set, struct omx_link_packet_bpf *b)
{
	const uint16_t ldb = BPF_LD | BPF_B | BPF_ABS, ldh = BPF_LD | BPF_H | BPF_ABS;
	const uint16_t ldw = BPF_LD | BPF_W | BPF_ABS, ret = BPF_RET | BPF_K;

	b->n = 0;
	omx_link_packet_op(b, ldw, SKF_AD_OFF + SKF_AD_PKTTYPE);
	omx_link_packet_jmp(b, BPF_JEQ, PACKET_OUTGOING, OMX_LINK_PACKET_L_DROP, 0);
	omx_link_packet_op(b, ldh, 12);
	omx_link_packet_jmp(b, BPF_JEQ, OMX_WIRE_ETHERTYPE, 0, OMX_LINK_PACKET_L_DROP);
	omx_link_packet_op(b, ldw, 0);
	omx_link_packet_jmp(b, BPF_JEQ, (uint32_t)(link->addr >> 16), 0, OMX_LINK_PACKET_L_BCAST);
	omx_link_packet_op(b, ldh, 4);
	omx_link_packet_jmp(b, BPF_JEQ, (uint32_t)(link->addr & 0xffff), 0, OMX_LINK_PACKET_L_DROP);
	omx_link_packet_op(b, ldb, 16);
	omx_link_packet_jmp(b, BPF_JEQ, OMX_PKT_TYPE_NACK_LIB, OMX_LINK_PACKET_L_NACKLIB, 0);
	omx_link_packet_jmp(b, BPF_JEQ, OMX_PKT_TYPE_PULL_REPLY, OMX_LINK_PACKET_L_MAGIC, 0);
	omx_link_packet_jmp(b, BPF_JEQ, OMX_PKT_TYPE_NACK_MCP, OMX_LINK_PACKET_L_MAGIC, 0);
	omx_link_packet_jmp(b, BPF_JGE, OMX_PKT_TYPE_TRUC, 0, OMX_LINK_PACKET_L_EP0);
	omx_link_packet_jmp(b, BPF_JGT, OMX_PKT_TYPE_NOTIFY, OMX_LINK_PACKET_L_EP0, 0);
	/* TRUC..NOTIFY (PULL_REPLY and NACK_LIB went above): body byte 1. */
	omx_link_packet_op(b, ldb, 17);
	omx_link_packet_jmp(b, BPF_JEQ, index, OMX_LINK_PACKET_L_ACCEPT, 0);
	if (open_set)
		omx_link_packet_op(b, BPF_JMP | BPF_JA, OMX_LINK_PACKET_L_RESP - b->n - 1);
	else
		omx_link_packet_op(b, ret, 0);
	/* L_NACKLIB */
	omx_link_packet_op(b, ldb, 25);
	omx_link_packet_jmp(b, BPF_JEQ, index, OMX_LINK_PACKET_L_ACCEPT, OMX_LINK_PACKET_L_DROP);
	/* L_MAGIC */
	omx_link_packet_op(b, ldw, 28);
	omx_link_packet_jmp(b, BPF_JEQ, index ^ OMX_PULL_MAGIC_XOR, OMX_LINK_PACKET_L_ACCEPT,
			    OMX_LINK_PACKET_L_DROP);
	/* L_BCAST: A still holds the first 4 destination bytes. */
	omx_link_packet_jmp(b, BPF_JEQ, 0xffffffffu, 0, OMX_LINK_PACKET_L_DROP);
	omx_link_packet_op(b, ldh, 4);
	omx_link_packet_jmp(b, BPF_JEQ, 0xffff, 0, OMX_LINK_PACKET_L_DROP);
	omx_link_packet_op(b, ldb, 16);
	omx_link_packet_jmp(b, BPF_JEQ, OMX_PKT_TYPE_RAW, OMX_LINK_PACKET_L_EP0, OMX_LINK_PACKET_L_DROP);
	/* L_EP0, L_ACCEPT, L_DROP */
	omx_link_packet_op(b, ret, index == 0 ? OMX_LINK_PACKET_ACCEPT : 0);
	omx_link_packet_op(b, ret, OMX_LINK_PACKET_ACCEPT);
	omx_link_packet_op(b, ret, 0);
	assert(b->n == OMX_LINK_PACKET_L_RESP);
	if (!open_set)
		return;
	/* L_RESP: A = destination index of a TRUC..NOTIFY frame for another
	 * endpoint.  Keep the nackable types (not TRUC) for unclaimed indices. */
	omx_link_packet_op(b, BPF_MISC | BPF_TAX, 0);
	omx_link_packet_op(b, ldb, 16);
	omx_link_packet_jmp(b, BPF_JEQ, OMX_PKT_TYPE_TRUC, 0, b->n + 2);
	omx_link_packet_op(b, ret, 0);
	omx_link_packet_op(b, BPF_MISC | BPF_TXA, 0);
	for (uint32_t k = 0; k < OMX_ENDPOINT_INDEX_MAX; k++) {
		if (!(open_set[k / 8] & (1u << (k % 8))))
			continue;
		omx_link_packet_jmp(b, BPF_JEQ, k, 0, b->n + 2);
		omx_link_packet_op(b, ret, 0);
	}
	omx_link_packet_op(b, ret, OMX_LINK_PACKET_ACCEPT);
}

int omx_link_packet_attach(struct omx_link_packet_port *port, int responder)
{
	struct omx_link_packet_bpf bpf;
	struct sock_fprog prog;

	omx_link_packet_filter(port->base.link, port->index, responder ? port->open_set : NULL, &bpf);
	prog.len = (unsigned short)bpf.n;
	prog.filter = bpf.f;
	if (setsockopt(port->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return omx_link_packet_errno_to_abi(errno);
	return 0;
}

/* ---- board responder ------------------------------------------------------ */

static void omx_link_packet_scan_line(const struct omx_link_packet *pl, const char *line,
				      size_t len, uint8_t *set)
{
	size_t plen = strlen(pl->claim_prefix);
	const char *p = memmem(line, len, pl->claim_prefix, plen);
	const char *end = line + len;
	unsigned v = 0;

	if (!p)
		return;
	p += plen;
	if (p == end)
		return;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v >= OMX_ENDPOINT_INDEX_MAX)
			return;
	}
	if (p == end || *p == ' ' || *p == '\n')
		set[v / 8] |= (uint8_t)(1u << (v % 8));
}

/* The endpoint indices claimed on this board, from /proc/net/unix of the
 * link's namespace (abstract names show with '@'). */
static int omx_link_packet_scan(struct omx_link_packet *pl, uint8_t *set)
{
	char buf[OMX_LINK_PACKET_SCAN_CHUNK];
	size_t have = 0;
	int err = 0;

	memset(set, 0, OMX_ENDPOINT_INDEX_MAX / 8);
	pthread_mutex_lock(&pl->scan_lock);
	if (lseek(pl->unix_fd, 0, SEEK_SET) < 0) {
		err = -1;
		goto out;
	}
	for (;;) {
		ssize_t r = read(pl->unix_fd, buf + have, sizeof(buf) - have);
		char *line = buf, *nl;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -1;
			break;
		}
		have += (size_t)r;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			omx_link_packet_scan_line(pl, line, (size_t)(nl - line), set);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (r == 0 || have == sizeof(buf)) {
			/* The last line without '\n', or one longer than the buffer. */
			omx_link_packet_scan_line(pl, buf, have, set);
			have = 0;
			if (r == 0)
				break;
		}
	}
out:
	pthread_mutex_unlock(&pl->scan_lock);
	return err;
}

/* Rescan the claims; re-attach the responder filter if the set moved. */
static int omx_link_packet_rescan(struct omx_link_packet_port *port, int force)
{
	struct omx_link_packet *pl = omx_container_of(port->base.link, struct omx_link_packet, base);
	uint8_t set[OMX_ENDPOINT_INDEX_MAX / 8];

	if (omx_link_packet_scan(pl, set) < 0)
		return -1;
	set[port->index / 8] |= (uint8_t)(1u << (port->index % 8));
	if (!force && !memcmp(set, port->open_set, sizeof(set)))
		return 0;
	memcpy(port->open_set, set, sizeof(set));
	return omx_link_packet_attach(port, 1) < 0 ? -1 : 0;
}

void omx_link_packet_claim_responder(struct omx_link_packet_port *port)
{
	struct omx_link_packet *pl = omx_container_of(port->base.link, struct omx_link_packet, base);
	struct sockaddr_un sa;
	int n;

	if (port->claim_fd < 0 || pl->unix_fd < 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "omx-transport/%012" PRIx64 "/responder",
		     pl->base.addr);
	if (bind(port->claim_fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) < 0)
		return;
	port->responder = 1;
	if (omx_link_packet_rescan(port, 1) < 0) {
		/* Cannot know who is open: nack nothing, and keep the name so no
		 * other port of this board tries the same blind scan. */
		port->responder = 0;
		(void)omx_link_packet_attach(port, 0);
	}
}

void omx_link_packet_refresh(struct omx_link_packet_port *port)
{
	uint64_t now = omx_link_packet_now_ns(CLOCK_MONOTONIC_COARSE);

	if (now < port->next_refresh_ns)
		return;
	port->next_refresh_ns = now + OMX_LINK_PACKET_REFRESH_MS * 1000000ull;
	if (port->responder)
		(void)omx_link_packet_rescan(port, 0);
	else
		omx_link_packet_claim_responder(port);
}

/* Answer a frame for an endpoint that is not open, as its driver would. */
int omx_link_packet_respond(struct omx_link_packet_port *port, const uint8_t *f, uint32_t len,
			    int *scanned)
{
	struct omx_link *link = port->base.link;
	const uint8_t *b = omx_wire_cbody(f);
	uint32_t hlen = omx_link_packet_nackable_len(b[0]);
	uint8_t frame[OMX_WIRE_MIN_FRAME + OMX_WIRE_FCS_LEN];
	struct omx_wire_head head;
	uint32_t flen = OMX_WIRE_MIN_FRAME;
	uint8_t dst = b[1], type;

	if (!hlen || len < OMX_WIRE_HEAD_LEN + hlen + (link->needs_fcs ? OMX_WIRE_FCS_LEN : 0))
		return -1;
	/* A damaged frame is not nacked: the trailer is checked first, as a driver would. */
	if (link->needs_fcs &&
	    omx_wire_get32(f, len - OMX_WIRE_FCS_LEN) != omx_wire_crc32c(f, len - OMX_WIRE_FCS_LEN))
		return -1;
	/* Never answer a group address. */
	if (f[6] & 1)
		return -1;
	if (!*scanned) {
		*scanned = 1;
		if (omx_link_packet_rescan(port, 0) < 0)
			return -1;
	}
	if (port->open_set[dst / 8] & (1u << (dst % 8)))
		return -1;
	type = dst >= link->endpoint_max ? OMX_NACK_TYPE_BAD_ENDPT : OMX_NACK_TYPE_ENDPT_CLOSED;

	memset(frame, 0, sizeof(frame));
	head.dst_addr = omx_wire_get_mac(f + 6);
	head.src_addr = link->addr;
	head.dst_src_peer_index = OMX_WIRE_UNKNOWN_PEER_INDEX;
	omx_wire_head_encode(frame, &head);
	if (b[0] == OMX_PKT_TYPE_PULL) {
		struct omx_wire_nack_mcp nack = {
			.src_endpoint = dst,
			.nack_type = type,
			.src_pull_handle = omx_wire_get32(b, 24),
			.src_magic = omx_wire_get32(b, 28),
		};
		omx_wire_nack_mcp_encode(omx_wire_body(frame), &nack);
	} else {
		struct omx_wire_nack_lib nack = {
			.src_endpoint = dst,
			.nack_type = type,
			.dst_endpoint = b[2],
			.dst_src_peer_index = omx_wire_get16(f, 14),
		};
		if (b[0] == OMX_PKT_TYPE_NOTIFY)
			nack.lib_seqnum = omx_wire_get16(b, 18);
		else if (b[0] != OMX_PKT_TYPE_CONNECT)
			nack.lib_seqnum = omx_wire_get16(b, 8);
		omx_wire_nack_lib_encode(omx_wire_body(frame), &nack);
	}
	if (link->needs_fcs) {
		omx_wire_put32(frame, flen, omx_wire_crc32c(frame, flen));
		flen += OMX_WIRE_FCS_LEN;
	}
	if (send(port->fd, frame, flen, MSG_DONTWAIT) != (ssize_t)flen) {
		port->stats.tx_errors++;
		return 0;
	}
	port->stats.nacks_synthesised++;
	return 0;
}

