/*
 * omx_link_packet.h - private to the packet link: omx_link_packet.c (link,
 * ports, ring, send, receive) and omx_link_packet_resp.c (the port filter and
 * the board responder that nacks frames for closed endpoints).
 */
#ifndef OMX_LINK_PACKET_H
#define OMX_LINK_PACKET_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "omx_wire.h"
#include "omx_link.h"

#define OMX_LINK_PACKET_ACCEPT 0x40000u         /* filter verdict: keep the whole frame */
#define OMX_LINK_PACKET_REFRESH_MS 250          /* responder claim retry and open-set rescan */

struct omx_link_packet {
	struct omx_link base;
	int ifindex;
	int unix_fd;                  /* /proc/self/net/unix of the link's namespace, or -1 */
	pthread_mutex_t scan_lock;    /* unix_fd's file position: ports of one link may scan at once */
	char claim_prefix[48];        /* "@omx-transport/<addr>/" as /proc/net/unix shows it */
};

/* Receive state (ring head, responder fields) belongs to the one thread in
 * port_recv; send touches only fd and stats.tx_errors. */
struct omx_link_packet_port {
	struct omx_link_port base;
	struct omx_link_port_stats stats;
	int fd;
	uint32_t index;
	uint8_t *ring;
	size_t ring_len;
	uint32_t block_size, frame_size, frames_per_block, frame_nr, head;
	int claim_fd;                 /* AF_UNIX socket made in the link's namespace; bound = responder */
	int responder;
	uint64_t next_refresh_ns;
	uint8_t open_set[OMX_ENDPOINT_INDEX_MAX / 8];   /* claimed indices at the last scan */
};

static inline uint64_t omx_link_packet_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int omx_link_packet_errno_to_abi(int err);
/* Install the port's filter: its own traffic, plus the responder's share. */
int omx_link_packet_attach(struct omx_link_packet_port *port, int responder);
/* Try to become the board responder (port open, then every refresh). */
void omx_link_packet_claim_responder(struct omx_link_packet_port *port);
/* Called on each port_recv: claim retry or open-set rescan when due. */
void omx_link_packet_refresh(struct omx_link_packet_port *port);
/* Nack a frame for a closed endpoint; -1 when it is not to be answered.
 * *scanned: whether this receive pass already rescanned the claims. */
int omx_link_packet_respond(struct omx_link_packet_port *port, const uint8_t *f, uint32_t len,
			    int *scanned);

#endif /* OMX_LINK_PACKET_H */
