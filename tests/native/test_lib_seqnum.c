/*
 * test_lib_seqnum.c - libopen-mx seqnum, ordering and ack arithmetic,
 * including the 2^14 wraparound and the session bits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_lib.h"

static int failures, checks;

#define CHECK(cond) do { \
	checks++; \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

static void test_seqnum_ops(void)
{
	CHECK(omx__seqnum(0x7fff) == 0x3fff);
	CHECK(omx__sesnum(0x7fff) == 0x4000);
	CHECK(omx__seqnum_increase(1) == 2);
	CHECK(omx__seqnum_increase(0x3fff) == 0x0000);          /* wraps inside the session */
	CHECK(omx__seqnum_increase(0x7fff) == 0x4000);
	CHECK(omx__seqnum_increase(0xffff) == 0xc000);
	CHECK(omx__seqnum_add(0x3ffe, 5) == 0x0003);
	CHECK(omx__seqnum_diff(0x0002, 0x3ffe) == 4);
	CHECK(omx__seqnum_diff(0x4002, 0x7ffe) == 4);
	CHECK(omx__seqnum_diff(5, 5) == 0);
	CHECK(omx__sesnum_bump(0x0005) == 0x4005);
	CHECK(omx__sesnum_bump(0xc005) == 0x0005);              /* two bits wrap too */
}

static void test_classify(void)
{
	/* Nothing partial: next_frag == next_match. */
	CHECK(omx__recv_classify(10, 10, 10) == OMX__RECV_MATCH);
	CHECK(omx__recv_classify(11, 10, 10) == OMX__RECV_EARLY);
	CHECK(omx__recv_classify(10 + 255, 10, 10) == OMX__RECV_EARLY);
	CHECK(omx__recv_classify(10 + 256, 10, 10) == OMX__RECV_OBSOLETE);
	CHECK(omx__recv_classify(9, 10, 10) == OMX__RECV_OBSOLETE_PREVIOUS);
	CHECK(omx__recv_classify(8, 10, 10) == OMX__RECV_OBSOLETE);
	/* Partial mediums 10..11, next to match 12. */
	CHECK(omx__recv_classify(10, 10, 12) == OMX__RECV_PARTIAL);
	CHECK(omx__recv_classify(11, 10, 12) == OMX__RECV_PARTIAL);
	CHECK(omx__recv_classify(12, 10, 12) == OMX__RECV_MATCH);
	CHECK(omx__recv_classify(12 + 255, 10, 12) == OMX__RECV_EARLY);
	CHECK(omx__recv_classify(12 + 256, 10, 12) == OMX__RECV_OBSOLETE);
	CHECK(omx__recv_classify(9, 10, 12) == OMX__RECV_OBSOLETE_PREVIOUS);
	/* Across the 14-bit wrap. */
	CHECK(omx__recv_classify(0x3fff, 0x3ffe, 0x0001) == OMX__RECV_PARTIAL);
	CHECK(omx__recv_classify(0x0000, 0x3ffe, 0x0001) == OMX__RECV_PARTIAL);
	CHECK(omx__recv_classify(0x0001, 0x3ffe, 0x0001) == OMX__RECV_MATCH);
	CHECK(omx__recv_classify(0x0002, 0x3ffe, 0x0001) == OMX__RECV_EARLY);
	CHECK(omx__recv_classify(0x3ffd, 0x3ffe, 0x0001) == OMX__RECV_OBSOLETE_PREVIOUS);
	CHECK(omx__recv_classify(0x0000, 0x3fff, 0x3fff) == OMX__RECV_EARLY);
	CHECK(omx__recv_classify(0x3ffe, 0x0000, 0x0000) == OMX__RECV_OBSOLETE);
	CHECK(omx__recv_classify(0x3fff, 0x0000, 0x0000) == OMX__RECV_OBSOLETE_PREVIOUS);
	/* Session bits: the same 14 bits in another session are dropped. */
	CHECK(omx__recv_classify(0x4001, 0x4001, 0x4001) == OMX__RECV_MATCH);
	CHECK(omx__recv_classify(0x0001, 0x4001, 0x4001) == OMX__RECV_BAD_SESNUM);
	CHECK(omx__recv_classify(0x8001, 0x4001, 0x4001) == OMX__RECV_BAD_SESNUM);
	CHECK(omx__recv_classify(0xc000, 0xfffe, 0xffff) == OMX__RECV_EARLY);
}

static void test_ack_count(void)
{
	/* next_acked 5, next_send 9: 4 outstanding. */
	CHECK(omx__ack_new_count(5, 5, 9) == 0);
	CHECK(omx__ack_new_count(6, 5, 9) == 1);
	CHECK(omx__ack_new_count(9, 5, 9) == 4);
	CHECK(omx__ack_new_count(10, 5, 9) == 0);                /* beyond what was sent */
	CHECK(omx__ack_new_count(4, 5, 9) == 0);                 /* older */
	/* Wrap: outstanding 0x3ffd..0x0001. */
	CHECK(omx__ack_new_count(0x0000, 0x3ffd, 0x0002) == 3);
	CHECK(omx__ack_new_count(0x0002, 0x3ffd, 0x0002) == 5);
	CHECK(omx__ack_new_count(0x0003, 0x3ffd, 0x0002) == 0);
	/* Session bits must agree. */
	CHECK(omx__ack_new_count(0x4007, 0x4005, 0x4009) == 2);
	CHECK(omx__ack_new_count(0x0007, 0x4005, 0x4009) == 0);
	CHECK(omx__ack_new_count(0xc000, 0xfffe, 0xc001) == 2);
}

static void test_throttle_acknum(void)
{
	CHECK(!omx__seqnum_throttled(1 + 8190, 1));
	CHECK(omx__seqnum_throttled(1 + 8191, 1));
	CHECK(omx__seqnum_throttled(omx__seqnum_add(0x3000, 8191), 0x3000));
	CHECK(!omx__seqnum_throttled(omx__seqnum_add(0x7000, 8190), 0x7000));
	CHECK(omx__acknum_newer(2, 1));
	CHECK(!omx__acknum_newer(1, 1));
	CHECK(!omx__acknum_newer(0, 1));
	CHECK(omx__acknum_newer(3, 0xfffffffeu));                /* across the u32 wrap */
	CHECK(!omx__acknum_newer(0xfffffffeu, 3));
}

/* ---- ack handling on a minimal endpoint -------------------------------- */

static uint64_t fake_now;

static uint64_t fake_jiffies(struct omx_abi_driver *drv)
{
	(void)drv;
	return fake_now;
}

static struct omx_abi_ops fake_ops = { .size = sizeof(struct omx_abi_ops), .jiffies = fake_jiffies };
static struct omx_abi_driver fake_drv = { &fake_ops };

static void fake_endpoint(struct omx_endpoint *ep, struct omx__ctxid *ctxid)
{
	memset(ep, 0, sizeof(*ep));
	pthread_mutex_init(&ep->lock, NULL);
	pthread_mutex_lock(&ep->lock);       /* the internals expect it held */
	ep->magic = OMX__ENDPOINT_MAGIC;
	ep->drv = &fake_drv;
	ep->ops = &fake_ops;
	ep->ctxid_max = 1;
	ep->ctxids = ctxid;
	omx_list_init(&ctxid->recv_q);
	omx_list_init(&ctxid->unexp_q);
	omx_list_init(&ctxid->done_q);
	omx_list_init(&ep->done_any_q);
	omx_list_init(&ep->all_req_q);
	omx_list_init(&ep->need_resources_q);
	omx_list_init(&ep->resend_q);
	omx_list_init(&ep->connect_q);
	omx_list_init(&ep->ack_q);
	ep->ack_delay = 16;
}

static void fake_partner(struct omx__partner *p, struct omx_endpoint *ep, uint16_t start)
{
	memset(p, 0, sizeof(*p));
	p->magic = OMX__PARTNER_MAGIC;
	p->ep = ep;
	omx_list_init(&p->ack_elt);
	omx_list_init(&p->non_acked_q);
	omx_list_init(&p->need_seqnum_q);
	omx_list_init(&p->partial_q);
	omx_list_init(&p->early_q);
	omx__partner_init_seqnums(p, start, start);
	p->back_session_known = p->true_session_known = 1;
}

static struct omx__request *queue_send(struct omx_endpoint *ep, struct omx__partner *p)
{
	struct omx__request *req = omx__request_alloc(ep, OMX__REQ_SEND_TINY);

	req->partner = p;
	req->seqnum = p->next_send_seq;
	p->next_send_seq = omx__seqnum_increase(p->next_send_seq);
	req->state = OMX__REQ_NEED_ACK;
	omx_list_add_tail(&req->partner_elt, &p->non_acked_q);
	omx_list_add_tail(&req->queue_elt, &ep->resend_q);
	return req;
}

static unsigned list_len(const struct omx_list *l)
{
	const struct omx_list *pos;
	unsigned n = 0;

	omx_list_for_each(pos, l)
		n++;
	return n;
}

static void test_handle_ack(void)
{
	struct omx_endpoint ep;
	struct omx__ctxid ctxid;
	struct omx__partner p;
	struct omx__request *r[6];
	int i;

	fake_endpoint(&ep, &ctxid);
	fake_partner(&p, &ep, 0x7ffd);                /* session bits 01, about to wrap */
	for (i = 0; i < 6; i++)
		r[i] = queue_send(&ep, &p);
	CHECK(r[0]->seqnum == 0x7ffd && r[2]->seqnum == 0x7fff && r[3]->seqnum == 0x4000);
	CHECK(p.next_send_seq == 0x4003);

	omx__handle_ack(&ep, &p, 0x3fff);             /* wrong session bits: ignored */
	CHECK(list_len(&p.non_acked_q) == 6);
	CHECK(ep.counters[OMX__CNT_DROP_BAD_ACK] == 1);

	omx__handle_ack(&ep, &p, 0x4001);             /* acks 0x7ffd..0x4000 */
	CHECK(list_len(&p.non_acked_q) == 2);
	CHECK(p.next_acked_send_seq == 0x4001);
	CHECK(list_len(&ep.done_any_q) == 4);
	CHECK(list_len(&ep.resend_q) == 2);
	for (i = 0; i < 4; i++)
		CHECK((r[i]->state & OMX__REQ_DONE) && !(r[i]->state & OMX__REQ_NEED_ACK));

	omx__handle_ack(&ep, &p, 0x4001);             /* duplicate: nothing */
	omx__handle_ack(&ep, &p, 0x7ffe);             /* older: nothing */
	CHECK(list_len(&p.non_acked_q) == 2);
	omx__handle_ack(&ep, &p, 0x4004);             /* beyond next_send: nothing */
	CHECK(list_len(&p.non_acked_q) == 2);
	omx__handle_ack(&ep, &p, 0x4003);
	CHECK(omx_list_empty(&p.non_acked_q));
	CHECK(p.next_acked_send_seq == 0x4003);
	CHECK(list_len(&ep.done_any_q) == 6);

	while (!omx_list_empty(&ep.all_req_q))
		omx__request_free(&ep, omx_list_first_entry(&ep.all_req_q, struct omx__request, all_elt));
}

static void test_mark_received(void)
{
	struct omx_endpoint ep;
	struct omx__ctxid ctxid;
	struct omx__partner p;

	fake_endpoint(&ep, &ctxid);
	fake_partner(&p, &ep, 0x3ffe);
	omx__globals.cfg.notacked_max = 4;
	fake_now = 1000;

	p.next_frag_recv_seq = p.next_match_recv_seq = 0x3fff;
	omx__mark_received(&ep, &p, 0);
	CHECK(p.ack_state == OMX__ACK_DELAYED && p.ack_deadline == 1016);
	p.next_frag_recv_seq = p.next_match_recv_seq = 0x0001;   /* 3 unacked, across the wrap */
	omx__mark_received(&ep, &p, 0);
	CHECK(p.ack_state == OMX__ACK_DELAYED);
	p.next_frag_recv_seq = p.next_match_recv_seq = 0x0002;   /* 4 unacked */
	omx__mark_received(&ep, &p, 0);
	CHECK(p.ack_state == OMX__ACK_IMMEDIATE);
	CHECK(list_len(&ep.ack_q) == 1);

	omx__piggyacked(&ep, &p);
	CHECK(p.ack_state == OMX__ACK_NONE && omx_list_empty(&ep.ack_q));
	CHECK(p.last_acked_recv_seq == 0x0002);
	omx__mark_received(&ep, &p, 0);                          /* nothing new */
	CHECK(p.ack_state == OMX__ACK_NONE);
	omx__mark_received(&ep, &p, 1);                          /* previous seen again */
	CHECK(p.ack_state == OMX__ACK_IMMEDIATE);
	omx__ack_dequeue(&p);
}

/* Early packets sort by (seqnum distance, fragment) and reject duplicates. */
static struct omx__early_packet *early(uint16_t seq, uint8_t frag)
{
	struct omx__early_packet *pkt = calloc(1, sizeof(*pkt));

	pkt->ev.generic.type = frag == 0xff ? OMX_ABI_EVT_RECV_TINY : OMX_ABI_EVT_RECV_MEDIUM_FRAG;
	pkt->ev.recv_tiny.head.seqnum = seq;
	if (frag != 0xff)
		pkt->ev.recv_medium_frag.frag_seqnum = frag;
	return pkt;
}

static void test_early_order(void)
{
	struct omx_endpoint ep;
	struct omx__ctxid ctxid;
	struct omx__partner p;
	struct omx__early_packet *dup;
	uint16_t want[] = { 0x7fff, 0x7fff, 0x4000, 0x4001, 0x4003 };
	uint8_t want_frag[] = { 0, 2, 0, 0, 0 };
	struct omx_list *pos, *tmp;
	int i = 0;

	fake_endpoint(&ep, &ctxid);
	fake_partner(&p, &ep, 0x7ffe);
	CHECK(omx__early_insert(&p, early(0x4001, 0xff)) == 0);
	CHECK(omx__early_insert(&p, early(0x7fff, 2)) == 0);
	CHECK(omx__early_insert(&p, early(0x4003, 0xff)) == 0);
	CHECK(omx__early_insert(&p, early(0x4000, 0xff)) == 0);
	CHECK(omx__early_insert(&p, early(0x7fff, 0)) == 0);
	dup = early(0x7fff, 2);
	CHECK(omx__early_insert(&p, dup) == -1);
	free(dup);
	dup = early(0x4001, 0xff);
	CHECK(omx__early_insert(&p, dup) == -1);
	free(dup);
	CHECK(p.early_nr == 5);
	omx_list_for_each_safe(pos, tmp, &p.early_q) {
		struct omx__early_packet *pkt = omx_list_entry(pos, struct omx__early_packet, elt);

		CHECK(pkt->ev.recv_tiny.head.seqnum == want[i]);
		if (pkt->ev.generic.type == OMX_ABI_EVT_RECV_MEDIUM_FRAG)
			CHECK(pkt->ev.recv_medium_frag.frag_seqnum == want_frag[i]);
		i++;
		omx_list_del(pos);
		free(pkt);
	}
	CHECK(i == 5);
}

int main(void)
{
	test_seqnum_ops();
	test_classify();
	test_ack_count();
	test_throttle_acknum();
	test_handle_ack();
	test_mark_received();
	test_early_order();
	printf("test_lib_seqnum: %d checks, %d failed\n", checks, failures);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
