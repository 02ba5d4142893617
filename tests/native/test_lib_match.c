/*
 * test_lib_match.c - libopen-mx matching: match/mask rules, context ids,
 * FIFO order of posted receives, the unexpected queue, medium fragment
 * checks, duplicate fragments and truncation clipping.
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

static void test_match_rules(void)
{
	CHECK(omx__match(0x1234, 0x1234, ~0ULL));
	CHECK(!omx__match(0x1235, 0x1234, ~0ULL));
	CHECK(omx__match(0x1235, 0x1234, ~1ULL));
	CHECK(omx__match(0xdeadbeefULL, 0, 0));                   /* mask 0 matches anything */
	CHECK(omx__match(0xabcd000000000001ULL, 0xabcd000000000000ULL, 0xffff000000000000ULL));

	CHECK(omx__check_match_mask(0x10, 0xff, 0) == OMX_SUCCESS);
	CHECK(omx__check_match_mask(0x100, 0xff, 0) == OMX_BAD_MATCH_MASK);
	CHECK(omx__check_match_mask(0, 0, 0) == OMX_SUCCESS);
	/* ctxid bits 8..15: the mask must cover all of them. */
	CHECK(omx__check_match_mask(0x0100, 0xff00, 0xff00) == OMX_SUCCESS);
	CHECK(omx__check_match_mask(0x0100, 0x0f00, 0xff00) == OMX_BAD_MATCHING_FOR_CONTEXT_ID_MASK);
	CHECK(omx__check_match_mask(0x0100, 0x0100, 0xff00) == OMX_BAD_MATCHING_FOR_CONTEXT_ID_MASK);
	CHECK(omx__check_match_mask(0x1000, 0x0100, 0xff00) == OMX_BAD_MATCH_MASK);
}

static void test_ctxid(void)
{
	struct omx_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	CHECK(omx__ctxid_of(&ep, ~0ULL) == 0);
	ep.ctxid_bits = 10;
	ep.ctxid_shift = 10;
	ep.ctxid_max = 1u << 10;
	CHECK(omx__ctxid_of(&ep, 0x3ffULL << 10) == 0x3ff);
	CHECK(omx__ctxid_of(&ep, (5ULL << 10) | 0x3ff | (1ULL << 20)) == 5);
	ep.ctxid_bits = 16;
	ep.ctxid_shift = 48;
	ep.ctxid_max = 1u << 16;
	CHECK(omx__ctxid_of(&ep, 0xbeef000000000000ULL) == 0xbeef);
}

static struct omx__request *mk_recv(uint64_t info, uint64_t mask, struct omx_list *q)
{
	struct omx__request *req = calloc(1, sizeof(*req));

	omx_list_init(&req->queue_elt);
	req->recv.match_info = info;
	req->recv.match_mask = mask;
	req->status.match_info = info;
	omx_list_add_tail(&req->queue_elt, q);
	return req;
}

static void free_q(struct omx_list *q)
{
	struct omx_list *pos, *tmp;

	omx_list_for_each_safe(pos, tmp, q) {
		omx_list_del(pos);
		free(omx_list_entry(pos, struct omx__request, queue_elt));
	}
}

static void test_posted_fifo(void)
{
	struct omx_list q;
	struct omx__request *a, *b, *c, *d;

	omx_list_init(&q);
	a = mk_recv(0x10, 0xf0, &q);     /* any 0x1? */
	b = mk_recv(0x12, ~0ULL, &q);    /* exactly 0x12 */
	c = mk_recv(0, 0, &q);           /* anything */
	d = mk_recv(0x12, ~0ULL, &q);

	CHECK(omx__find_posted_recv(&q, 0x12) == a);        /* first posted wins */
	omx_list_del(&a->queue_elt);
	CHECK(omx__find_posted_recv(&q, 0x12) == b);
	omx_list_del(&b->queue_elt);
	CHECK(omx__find_posted_recv(&q, 0x12) == c);
	CHECK(omx__find_posted_recv(&q, 0x99) == c);
	omx_list_del(&c->queue_elt);
	CHECK(omx__find_posted_recv(&q, 0x12) == d);
	CHECK(omx__find_posted_recv(&q, 0x13) == NULL);
	free(a);
	free(b);
	free(c);
	free_q(&q);
}

static void test_unexpected_search(void)
{
	struct omx_list q;
	struct omx__request *m1, *m2, *m3;

	omx_list_init(&q);
	m1 = mk_recv(1, ~0ULL, &q);      /* status.match_info = incoming match */
	m2 = mk_recv(2, ~0ULL, &q);
	m3 = mk_recv(1, ~0ULL, &q);
	/* The reference unexpected test: probe(1,~0) finds it, (2,~0) the
	 * second, (0,~1) the first that matches in arrival order. */
	CHECK(omx__find_unexpected(&q, 1, ~0ULL) == m1);
	CHECK(omx__find_unexpected(&q, 2, ~0ULL) == m2);
	CHECK(omx__find_unexpected(&q, 0, ~1ULL) == m1);
	CHECK(omx__find_unexpected(&q, 3, ~0ULL) == NULL);
	omx_list_del(&m1->queue_elt);
	CHECK(omx__find_unexpected(&q, 0, ~1ULL) == m3);
	CHECK(omx__find_unexpected(&q, 0, ~3ULL) == m2);
	free(m1);
	free_q(&q);
}

static void test_medium_frags(void)
{
	uint32_t off = 0xdead, mask = 0;

	/* 20000 bytes in 8192-byte fragments: 8192, 8192, 3616. */
	CHECK(omx__medium_frag_check(20000, 8192, 0, 8192, &off) == 0 && off == 0);
	CHECK(omx__medium_frag_check(20000, 8192, 1, 8192, &off) == 0 && off == 8192);
	CHECK(omx__medium_frag_check(20000, 8192, 2, 3616, &off) == 0 && off == 16384);
	CHECK(omx__medium_frag_check(20000, 8192, 1, 8000, &off) < 0);   /* short middle frag */
	CHECK(omx__medium_frag_check(20000, 8192, 2, 3617, &off) < 0);   /* past the end */
	CHECK(omx__medium_frag_check(20000, 8192, 3, 0, &off) < 0);      /* no such frag */
	CHECK(omx__medium_frag_check(20000, 8192, 0, 8193, &off) < 0);   /* larger than a unit */
	CHECK(omx__medium_frag_check(8192 * 32, 8192, 31, 8192, &off) == 0 && off == 8192 * 31);
	CHECK(omx__medium_frag_check(8192 * 33, 8192, 32, 8192, &off) < 0);  /* 32 frags max */
	CHECK(omx__medium_frag_check(129, 8192, 0, 129, &off) == 0);
	CHECK(omx__medium_frag_check(129, 8192, 0, 128, &off) < 0);
	CHECK(omx__medium_frag_check(1500, 1452, 1, 48, &off) == 0 && off == 1452);  /* odd unit */
	CHECK(omx__medium_frag_check(100, 0, 0, 100, &off) < 0);

	CHECK(omx__recv_medium_frag_accept(&mask, 0));
	CHECK(omx__recv_medium_frag_accept(&mask, 31));
	CHECK(!omx__recv_medium_frag_accept(&mask, 0));                   /* duplicate */
	CHECK(!omx__recv_medium_frag_accept(&mask, 31));
	CHECK(!omx__recv_medium_frag_accept(&mask, 32));                  /* out of range */
	CHECK(mask == 0x80000001u);
}

static void test_clip(void)
{
	CHECK(omx__recv_clip(0, 100, 1000) == 100);
	CHECK(omx__recv_clip(0, 100, 50) == 50);
	CHECK(omx__recv_clip(8192, 8192, 10000) == 1808);
	CHECK(omx__recv_clip(8192, 8192, 8192) == 0);
	CHECK(omx__recv_clip(16384, 100, 8192) == 0);
	CHECK(omx__recv_clip(0, 0, 0) == 0);
	CHECK(omx__recv_clip(5, 10, 15) == 10);
}

int main(void)
{
	test_match_rules();
	test_ctxid();
	test_posted_fifo();
	test_unexpected_search();
	test_medium_frags();
	test_clip();
	printf("test_lib_match: %d checks, %d failed\n", checks, failures);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
