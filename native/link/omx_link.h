/*
 * omx_link.h - links carry complete frames between boards.
 *
 * A link is opened once per board (omx_link_open) and gives board facts
 * (address, MTU, name).  Each endpoint then opens a port on it: the port is
 * the kernel-side demultiplexer (udp: one socket per endpoint port; packet:
 * one AF_PACKET socket per endpoint with a BPF filter), so a port receives
 * only frames addressed to its endpoint.  Frames are whole Ethernet-format
 * frames (omx_wire.h head + body), never longer than the board MTU.
 *
 * Ports are non-blocking: recv returns 0 when nothing is waiting; callers
 * poll() the port fd to sleep.  One thread may send while another receives
 * on a port; two sends (or two receives) at once need the caller's lock.
 * A port may also synthesise frames on receive (udp turns an ICMP
 * port-unreachable for a sent frame into the NACK_LIB ENDPT_CLOSED that a
 * live remote driver would have sent).
 *
 * Decorators (fault) wrap another link's ops and keep its facts.
 *
 * Not guaranteed: delivery, order or integrity.  The library's seqnums,
 * acks and resends, and the optional CRC32C trailer, provide those.
 */
#ifndef OMX_LINK_H
#define OMX_LINK_H

#include <stddef.h>
#include <stdint.h>

struct omx_link;
struct omx_link_port;

struct omx_link_frame {
	void *data;
	uint32_t len;                 /* send: frame length; recv: in = capacity, out = length */
};

struct omx_link_ops {
	const char *name;
	int (*port_open)(struct omx_link *link, uint32_t endpoint_index, struct omx_link_port **out);
	void (*port_close)(struct omx_link_port *port);
	/* Transmit n frames; returns how many left (>= 0) or a negative OMX_ABI_E*. */
	int (*port_send)(struct omx_link_port *port, const struct omx_link_frame *frames, unsigned n);
	/* Receive up to n frames without blocking; returns the count (0 = none). */
	int (*port_recv)(struct omx_link_port *port, struct omx_link_frame *frames, unsigned n);
	/* A file descriptor that polls readable when port_recv has something.
	 * Call port_recv on any revents: udp reports bounced frames as POLLERR. */
	int (*port_fd)(struct omx_link_port *port);
	void (*close)(struct omx_link *link);
};

struct omx_link {
	const struct omx_link_ops *ops;
	uint64_t addr;                /* board address */
	uint32_t mtu;                 /* largest frame, head included */
	uint32_t status;              /* OMX_ABI_BOARD_STATUS_* */
	int needs_fcs;                /* frames carry a CRC32C trailer (driver adds and checks it) */
	uint32_t poll_interval_ms;    /* >0: the link holds frames (fault delay/reorder) and
	                               * needs a port_send/port_recv call this often to flush them */
	uint32_t endpoint_max;        /* endpoint indices on this board */
	char ifacename[16];
	char drivername[16];
};

/* What a port's link did on its own; the driver counts its DROP_* itself. */
struct omx_link_port_stats {
	uint64_t dropped_spoofed;     /* udp: source field does not match the datagram's sender */
	uint64_t dropped_truncated;   /* udp: datagram shorter than a head, above the MTU or the buffer */
	uint64_t tx_errors;           /* frames the socket refused or that had no route */
	uint64_t nacks_synthesised;   /* udp: ICMP port unreachable turned into NACK_LIB;
	                               * packet: NACKs the board responder sent for closed endpoints */
	uint64_t fault_dropped;       /* fault decorator, on transmit */
	uint64_t fault_duplicated;
	uint64_t fault_reordered;
	uint64_t fault_delayed;
	uint64_t fault_corrupted;
	uint64_t dropped_overrun;     /* packet: the kernel found the receive ring full */
	uint64_t dropped_foreign;     /* packet: not this endpoint's and not nackable (responder) */
};

struct omx_link_port {
	struct omx_link *link;
	struct omx_link_port_stats *stats;  /* NULL if the link keeps none; decorators share the inner one */
};

/* Open the board's link from the environment (OMX_LINK, OMX_UDP_ADDR,
 * OMX_FAULT, ...: see native/link/omx_link_env.c). */
int omx_link_open_from_env(uint32_t board_index, uint32_t endpoint_max, struct omx_link **out);

/* addr_spec "IPV4[:BASEPORT]"; endpoint e binds BASEPORT + e. */
int omx_link_udp_open(const char *addr_spec, uint32_t endpoint_max, uint32_t mtu, struct omx_link **out);
/* Raw Ethernet on interface ifname (needs CAP_NET_RAW, else OMX_ABI_EPERM).
 * mtu = min(interface MTU + 14, mtu_wanted); 0 takes the interface's.  An
 * interface below mtu_wanted sets OMX_ABI_BOARD_STATUS_BAD_MTU. */
int omx_link_packet_open(const char *ifname, uint32_t endpoint_max, uint32_t mtu_wanted,
			 struct omx_link **out);
/* Wrap inner with seeded faults; spec "drop=0.1,dup=0.05,reorder=0.05,corrupt=0.01,delay=0.01,seed=7". */
int omx_link_fault_wrap(struct omx_link *inner, const char *spec, struct omx_link **out);

#endif /* OMX_LINK_H */
