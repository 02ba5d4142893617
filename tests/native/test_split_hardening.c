/*
 * test_split_hardening.c - the split backend against frontends that lie,
 * one case per trust bug of the reference (digest §5.8): out-of-range
 * endpoint handles and indices, region ids, segment counts, grant counts and
 * sizes, forged grant refs, offsets beyond a grant, ring indices beyond the
 * ring, garbage (a fuzz loop), floods.
 *
 * The backend (argv[1], or $OMX_SPLIT_BACKEND) runs as a child on the udp
 * link; when the test runs as root, every frontend runs as uid 65534 (not
 * root, not an admin: it may not touch the peer table).  In every case a well-behaved pair of frontends (libopen-mx,
 * OMX_DRIVER=split:...) transfers every size class in a loop while a raw
 * frontend attacks; the case passes when each attack is refused (an error
 * response or a disconnect of that frontend only, never a success or
 * silence), the backend is still alive, and the pair's transfers completed
 * byte-exact.  Each bad request has a positive control beside it (the same
 * request with the field fixed succeeds), so a refusal is the field's doing.
 * The same program runs in the ASan/UBSan build, where the backend is
 * instrumented too.  Cases of test_split_hostile.c: ring lies, fuzz, floods.
 */
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_split_cases.h"

struct sx_backend sx_be;
struct sx_good *sx_cur_good;
uint8_t sx_buf[SX_BUF_SIZE] __attribute__((aligned(4096)));
static uint32_t sx_next_index;

static void sx_renew(struct sx_front *f)
{
	int with_ep = f->with_ep;

	sx_close(f);
	sx_setup(f, with_ep);
}

int sx_setup(struct sx_front *f, int with_ep)
{
	int r = sx_connect(f, sx_be.sock);

	CHECK(r == 0);
	if (r) {
		fprintf(stderr, "  connect: %d (%s)\n", r, f->refused);
		return r;
	}
	sx_grant(f, SX_SELF_REF, OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE,
		 OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)sx_buf, SX_BUF_SIZE);
	f->with_ep = with_ep;
	if (!with_ep)
		return 0;
	/* Rotate indices past the good pair's (the lowest free ones). */
	r = sx_open_endpoint(f, 0, SX_RAW_INDEX_FIRST + sx_next_index++ % SX_RAW_INDEXES);
	CHECK(r == 0);
	if (r)
		fprintf(stderr, "  open endpoint: %d\n", r);
	return r;
}

int sx_refuse(struct sx_front *f, const char *what, int ret)
{
	int ok = sx_refused(what, ret);

	CHECK(ok);
	if (ret == SX_GONE)
		sx_renew(f);
	return ok;
}

/* ---- cases -------------------------------------------------------------- */

static void case_endpoint_handle(void)
{
	static const uint32_t bad[] = { 1000, 0xffffffffu, 0x80000000u, 65535 };
	static const uint16_t funcs[] = {
		OMX_SPLIT_SEND_TINY, OMX_SPLIT_SEND_SMALL, OMX_SPLIT_PULL, OMX_SPLIT_CREATE_REGION,
		OMX_SPLIT_DESTROY_REGION, OMX_SPLIT_RELEASE_EXP_SLOTS, OMX_SPLIT_CLOSE_ENDPOINT,
	};
	struct sx_front f;
	char what[96];

	if (sx_setup(&f, 1))
		return;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (unsigned k = 0; k < sizeof(funcs) / sizeof(funcs[0]); k++) {
			snprintf(what, sizeof(what), "func %u on handle %#x", funcs[k], bad[i]);
			sx_refuse(&f, what, sx_simple(&f, funcs[k], bad[i], NULL, 0));
		}
	sx_accept("GET_INFO (control)", sx_simple(&f, OMX_SPLIT_GET_INFO, 0, NULL, 0));
	sx_close(&f);

	/* Another frontend's endpoints: a frontend with no endpoint of its own
	 * tries every small handle; the good pair's must survive (it checks). */
	if (sx_setup(&f, 0))
		return;
	int refused = 0, tried = 0;
	for (uint32_t h = 0; h < 512; h++) {
		int r = sx_simple(&f, OMX_SPLIT_CLOSE_ENDPOINT, h, NULL, 0);

		tried++;
		refused += r == SX_GONE || (r < 0 && r >= OMX_ABI_ENOSPC);
		if (r == 0)
			printf("  CLOSE_ENDPOINT of foreign handle %u -> ACCEPTED\n", h);
		if (r == SX_GONE) {
			sx_close(&f);
			if (sx_setup(&f, 0))
				return;
		}
	}
	printf("  CLOSE_ENDPOINT of handles 0..511 from a frontend with none -> %d/%d refused\n",
	       refused, tried);
	CHECK(refused == tried);
	sx_close(&f);
}

static int sx_open_raw(struct sx_front *f, uint32_t board, uint32_t index, uint32_t ref, uint32_t evtchn)
{
	struct omx_split_request req;
	struct omx_split_response rsp;

	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_OPEN_ENDPOINT;
	req.u.open_endpoint.cmd.board_index = board;
	req.u.open_endpoint.cmd.endpoint_index = index;
	req.u.open_endpoint.area_ref = ref;
	req.u.open_endpoint.evtchn = evtchn;
	return sx_call(f, &req, &rsp);
}

/* Memory object `id` of `size` bytes (sealed as asked) and event channel `id`. */
static int sx_prep(struct sx_front *f, uint32_t id, uint64_t size, unsigned seals)
{
	int mfd = sx_memfd(size, seals), efd = eventfd_cloexec();
	int r = sx_bus_call(f, OMX_SPLIT_BUS_MEM_ADD, id, mfd);

	if (r == 0)
		r = sx_bus_call(f, OMX_SPLIT_BUS_EVTCHN_ADD, id, efd);
	close(mfd);
	close(efd);
	return r;
}

static void case_endpoint_index(void)
{
	static const uint32_t bad[][2] = {
		{ 0, 256 }, { 0, 1000 }, { 0, OMX_ABI_ENDPOINT_RAW }, { 0, 0x7fffffff },
		{ 7, 0 }, { 0xffffffu, 3 }, { OMX_ABI_BOARD_SHARED, 3 },
	};
	const uint32_t rw = OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE;
	uint64_t size = sx_area_size();
	struct sx_front f, g;
	char what[96];

	if (sx_setup(&f, 0))
		return;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(what, sizeof(what), "OPEN_ENDPOINT board %#x index %#x", bad[i][0], bad[i][1]);
		if (sx_prep(&f, 1 + i, size, SX_SEALS) != 0) {
			CHECK(!"memory object refused");
			continue;
		}
		sx_grant(&f, 10 + i, rw, 1 + i, 0, size);
		int r = sx_open_raw(&f, bad[i][0], bad[i][1], 10 + i, 1 + i);
		sx_refused(what, r);
		CHECK(r == SX_GONE || (r < 0 && r >= OMX_ABI_ENOSPC));
		if (r == SX_GONE) {
			sx_close(&f);
			if (sx_setup(&f, 0))
				return;
		}
	}
	/* The same index twice, from two frontends: the second is busy. */
	if (sx_prep(&f, 50, size, SX_SEALS) == 0) {
		sx_grant(&f, 50, rw, 50, 0, size);
		sx_accept("OPEN_ENDPOINT index 30 (control)", sx_open_raw(&f, 0, 30, 50, 50));
	}
	if (sx_setup(&g, 0) == 0) {
		if (sx_prep(&g, 1, size, SX_SEALS) == 0) {
			sx_grant(&g, 10, rw, 1, 0, size);
			int r = sx_open_raw(&g, 0, 30, 10, 1);
			sx_refused("OPEN_ENDPOINT index 30 from another frontend", r);
			CHECK(r == OMX_ABI_EBUSY || r == SX_GONE);
		}
		sx_close(&g);
	}
	sx_close(&f);
}

static int sx_region(struct sx_front *f, uint32_t id, uint32_t nr, uint32_t spans_ref,
		     const struct omx_split_grant_span *spans, unsigned nr_inline)
{
	struct omx_split_request req;
	struct omx_split_response rsp;

	memset(&req, 0, sizeof(req));
	req.func = OMX_SPLIT_CREATE_REGION;
	req.handle = f->ep.handle;
	req.u.create_region.id = id;
	req.u.create_region.nr_segments = nr;
	req.u.create_region.spans_ref = spans_ref;
	if (spans)
		memcpy(req.u.create_region.spans, spans, nr_inline * sizeof(*spans));
	return sx_call(f, &req, &rsp);
}

static int sx_unregion(struct sx_front *f, uint32_t id)
{
	return sx_simple(f, OMX_SPLIT_DESTROY_REGION, f->ep.handle, &id, sizeof(id));
}

static void case_region_id(void)
{
	struct omx_split_grant_span span = { .ref = SX_SELF_REF, .offset = 0, .length = 4096 };
	struct sx_front f;

	if (sx_setup(&f, 1))
		return;
	sx_refuse(&f, "CREATE_REGION id 256", sx_region(&f, 256, 1, 0, &span, 1));
	sx_refuse(&f, "CREATE_REGION id 0xffffffff", sx_region(&f, 0xffffffffu, 1, 0, &span, 1));
	sx_refuse(&f, "CREATE_REGION id 0x80000003", sx_region(&f, 0x80000003u, 1, 0, &span, 1));
	sx_refuse(&f, "DESTROY_REGION id 256", sx_unregion(&f, 256));
	sx_refuse(&f, "DESTROY_REGION id 0xffffffff", sx_unregion(&f, 0xffffffffu));
	sx_refuse(&f, "DESTROY_REGION of a region never created", sx_unregion(&f, 7));
	sx_accept("CREATE_REGION id 255 (control)", sx_region(&f, 255, 1, 0, &span, 1));
	CHECK(__atomic_load_n(&f.gnt[SX_SELF_REF].busy, __ATOMIC_ACQUIRE) > 0);
	sx_refuse(&f, "CREATE_REGION id 255 again", sx_region(&f, 255, 1, 0, &span, 1));
	sx_accept("DESTROY_REGION id 255 (control)", sx_unregion(&f, 255));
	CHECK(__atomic_load_n(&f.gnt[SX_SELF_REF].busy, __ATOMIC_ACQUIRE) == 0);
	sx_refuse(&f, "DESTROY_REGION id 255 again", sx_unregion(&f, 255));
	sx_close(&f);
}

static void case_segment_count(void)
{
	struct omx_split_grant_span spans[OMX_SPLIT_REGION_INLINE_SPANS];
	static struct omx_split_grant_span many[OMX_ABI_REGION_SEGMENTS_MAX + 8];
	const uint32_t rd = OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ;
	struct sx_front f;

	for (unsigned i = 0; i < OMX_SPLIT_REGION_INLINE_SPANS; i++)
		spans[i] = (struct omx_split_grant_span){ .ref = SX_SELF_REF, .offset = i * 4096u, .length = 4096 };
	for (unsigned i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = (struct omx_split_grant_span){ .ref = SX_SELF_REF, .offset = i * 64u, .length = 64 };
	if (sx_setup(&f, 1))
		return;
	sx_refuse(&f, "CREATE_REGION 9 segments, spans inline only", sx_region(&f, 1, 9, 0, spans, 8));
	sx_grant(&f, 3, rd, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)many, sizeof(many));
	sx_refuse(&f, "CREATE_REGION 257 segments", sx_region(&f, 1, 257, 3, NULL, 0));
	sx_grant(&f, 3, rd, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)many, sizeof(many));
	sx_refuse(&f, "CREATE_REGION 0xffffffff segments", sx_region(&f, 1, 0xffffffffu, 3, NULL, 0));
	sx_grant(&f, 3, rd, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)many, sizeof(many));
	sx_refuse(&f, "CREATE_REGION 0x80000001 segments", sx_region(&f, 1, 0x80000001u, 3, NULL, 0));
	sx_accept("CREATE_REGION 8 inline segments (control)", sx_region(&f, 1, 8, 0, spans, 8));
	sx_grant(&f, 3, rd, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)many, sizeof(many));
	sx_accept("CREATE_REGION 256 segments by spans_ref (control)", sx_region(&f, 2, 256, 3, NULL, 0));
	sx_accept("DESTROY_REGION 1 (control)", sx_unregion(&f, 1));
	sx_accept("DESTROY_REGION 2 (control)", sx_unregion(&f, 2));
	sx_close(&f);
}

/* The reference's gref counts: the span array's own grant. */
static void case_grant_count(void)
{
	static struct omx_split_grant_span many[64];
	const uint32_t rd = OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ;
	const uint64_t arr = (uint64_t)(uintptr_t)many;
	struct sx_front f;

	for (unsigned i = 0; i < 64; i++)
		many[i] = (struct omx_split_grant_span){ .ref = SX_SELF_REF, .offset = i * 64u, .length = 64 };
	if (sx_setup(&f, 1))
		return;
	sx_grant(&f, 3, rd, OMX_SPLIT_MEM_SELF, arr, 20 * sizeof(many[0]));
	sx_refuse(&f, "spans_ref grant holds 20 spans, 64 claimed", sx_region(&f, 1, 64, 3, NULL, 0));
	sx_refuse(&f, "spans_ref 0 with 20 segments", sx_region(&f, 1, 20, OMX_SPLIT_GRANT_NONE, NULL, 0));
	sx_refuse(&f, "spans_ref 4096 (past the table)", sx_region(&f, 1, 20, OMX_SPLIT_GRANT_ENTRIES, NULL, 0));
	sx_refuse(&f, "spans_ref 0xffffffff", sx_region(&f, 1, 20, 0xffffffffu, NULL, 0));
	sx_grant(&f, 4, OMX_SPLIT_GRANT_PERMIT, OMX_SPLIT_MEM_SELF, arr, sizeof(many));
	sx_refuse(&f, "spans_ref grant without READ", sx_region(&f, 1, 20, 4, NULL, 0));
	sx_grant(&f, 5, rd, OMX_SPLIT_MEM_SELF, 4096, sizeof(many));
	sx_refuse(&f, "spans_ref grant of unmapped memory", sx_region(&f, 1, 20, 5, NULL, 0));
	many[7].ref = 9;   /* a span whose own ref is not granted */
	sx_grant(&f, 3, rd, OMX_SPLIT_MEM_SELF, arr, sizeof(many));
	sx_refuse(&f, "a span through an ungranted ref", sx_region(&f, 1, 20, 3, NULL, 0));
	many[7].ref = SX_SELF_REF;
	sx_grant(&f, 3, rd, OMX_SPLIT_MEM_SELF, arr, sizeof(many));
	sx_accept("spans_ref grant of 20 spans (control)", sx_region(&f, 1, 20, 3, NULL, 0));
	sx_accept("DESTROY_REGION (control)", sx_unregion(&f, 1));
	sx_close(&f);
}

/* One OPEN_ENDPOINT on a fresh frontend: memory object 1 of mem_size bytes
 * and event channel 1 exist, grant 20 is as given. */
struct sx_area_try {
	const char *what;
	uint64_t mem_size;
	uint32_t flags, mem;
	uint64_t offset, length;
	uint32_t ref, evtchn;
	int ok;
};

static void sx_try_area(const struct sx_area_try *t)
{
	struct sx_front f;
	int r;

	if (sx_setup(&f, 0))
		return;
	r = sx_prep(&f, 1, t->mem_size, SX_SEALS);
	CHECK(r == 0);
	if (r == 0) {
		sx_grant(&f, 20, t->flags, t->mem, t->offset, t->length);
		r = sx_open_raw(&f, 0, 14, t->ref, t->evtchn);
		if (t->ok) {
			sx_accept(t->what, r);
			/* Mapped, hence busy: the frontend may not end the grant now. */
			CHECK(__atomic_load_n(&f.gnt[20].busy, __ATOMIC_ACQUIRE) > 0);
			sx_refused("a second endpoint on the same area grant", r = sx_open_raw(&f, 0, 15, 20, 1));
			CHECK(r == SX_GONE || (r < 0 && r >= OMX_ABI_ENOSPC));
		} else {
			CHECK(sx_refused(t->what, r));
		}
	}
	sx_close(&f);
}

#define RW (OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE)

static void case_grant_sizes(void)
{
	uint64_t size = sx_area_size();
	const struct sx_area_try tries[] = {
		{ "area grant of half the area", size, RW, 1, 0, size / 2, 20, 1, 0 },
		{ "area grant [4096, 4096 + size) of the memfd", size, RW, 1, 4096, size, 20, 1, 0 },
		{ "area grant longer than its memfd", size / 2, RW, 1, 0, size, 20, 1, 0 },
		{ "area grant of a 4 KiB memfd", 4096, RW, 1, 0, size, 20, 1, 0 },
		{ "area grant offset 4096 length 2^64-1", size, RW, 1, 4096, UINT64_MAX, 20, 1, 0 },
		{ "area grant offset 2^64-4096 (wraps)", size, RW, 1, UINT64_MAX - 4095, 8192, 20, 1, 0 },
		{ "area grant of exactly the area (control)", size, RW, 1, 0, size, 20, 1, 1 },
	};
	struct omx_split_grant_span s = { .ref = 6, .offset = 0, .length = 4096 };
	struct sx_front f;

	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		sx_try_area(&tries[i]);

	/* segment grants */
	if (sx_setup(&f, 1))
		return;
	sx_grant(&f, 6, RW, OMX_SPLIT_MEM_SELF, UINT64_MAX - 100, 4096);
	sx_refuse(&f, "SELF grant at 2^64-101, 4096 bytes (wraps)", sx_region(&f, 1, 1, 0, &s, 1));
	sx_grant(&f, 6, RW, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)sx_buf, UINT64_MAX);
	s.length = UINT64_MAX;
	sx_refuse(&f, "SELF grant and span of 2^64-1 bytes", sx_region(&f, 1, 1, 0, &s, 1));
	sx_grant(&f, 6, RW, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)sx_buf, UINT64_MAX);
	s.length = 0x100000000ull;
	sx_refuse(&f, "span of 4 GiB (past any region length)", sx_region(&f, 1, 1, 0, &s, 1));
	sx_grant(&f, 6, RW, OMX_SPLIT_MEM_SELF, (uint64_t)(uintptr_t)sx_buf, 0);
	s.length = 1;
	sx_refuse(&f, "span of 1 byte of an empty grant", sx_region(&f, 1, 1, 0, &s, 1));
	sx_close(&f);
}

static void case_forged_refs(void)
{
	uint64_t size = sx_area_size();
	const uint64_t self = (uint64_t)(uintptr_t)sx_buf;
	const struct sx_area_try tries[] = {
		{ "area_ref 0", size, RW, 1, 0, size, 0, 1, 0 },
		{ "area_ref 4096 (past the table)", size, RW, 1, 0, size, OMX_SPLIT_GRANT_ENTRIES, 1, 0 },
		{ "area_ref 0xffffffff", size, RW, 1, 0, size, 0xffffffffu, 1, 0 },
		{ "area_ref never granted", size, RW, 1, 0, size, 77, 1, 0 },
		{ "area grant without PERMIT", size, RW & ~OMX_SPLIT_GRANT_PERMIT, 1, 0, size, 20, 1, 0 },
		{ "area grant read-only", size, OMX_SPLIT_GRANT_PERMIT | OMX_SPLIT_GRANT_READ, 1, 0, size, 20, 1, 0 },
		{ "area grant of a memory object never added", size, RW, 99, 0, size, 20, 1, 0 },
		{ "area grant of SELF memory", size, RW, OMX_SPLIT_MEM_SELF, self, SX_BUF_SIZE, 20, 1, 0 },
		{ "event channel never added", size, RW, 1, 0, size, 20, 42, 0 },
		{ "OPEN_ENDPOINT on a good grant (control)", size, RW, 1, 0, size, 20, 1, 1 },
	};
	static const uint32_t refs[] = { 0, OMX_SPLIT_GRANT_ENTRIES, 0xffffffffu, 333 };
	struct omx_split_grant_span s = { .ref = 0, .offset = 0, .length = 64 };
	struct sx_front f;

	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		sx_try_area(&tries[i]);

	if (sx_setup(&f, 1))
		return;
	for (unsigned i = 0; i < 4; i++) {
		char what[64];

		s.ref = refs[i];
		snprintf(what, sizeof(what), "segment through ref %#x", refs[i]);
		sx_refuse(&f, what, sx_region(&f, 1, 1, 0, &s, 1));
	}
	s.ref = 7;
	sx_grant(&f, 7, OMX_SPLIT_GRANT_PERMIT, OMX_SPLIT_MEM_SELF, self, 4096);
	sx_refuse(&f, "segment through a grant with no access", sx_region(&f, 1, 1, 0, &s, 1));
	sx_grant(&f, 7, OMX_SPLIT_GRANT_READ | OMX_SPLIT_GRANT_WRITE, OMX_SPLIT_MEM_SELF, self, 4096);
	sx_refuse(&f, "segment through a grant without PERMIT", sx_region(&f, 1, 1, 0, &s, 1));
	sx_grant(&f, 7, RW, 1, 0, 4096);
	sx_refuse(&f, "segment through a memory-object grant", sx_region(&f, 1, 1, 0, &s, 1));
	s.ref = SX_SELF_REF;
	sx_accept("segment through the SELF grant (control)", sx_region(&f, 1, 1, 0, &s, 1));
	sx_close(&f);
}

static void case_offsets(void)
{
	struct omx_split_grant_span s = { .ref = SX_SELF_REF };
	struct sx_front f;

	if (sx_setup(&f, 1))
		return;
	s.offset = SX_BUF_SIZE + 4096, s.length = 64;
	sx_refuse(&f, "span offset past the grant", sx_region(&f, 1, 1, 0, &s, 1));
	s.offset = SX_BUF_SIZE - 64, s.length = 65;
	sx_refuse(&f, "span ending one byte past the grant", sx_region(&f, 1, 1, 0, &s, 1));
	s.offset = UINT64_MAX - 7, s.length = 16;
	sx_refuse(&f, "span offset + length wraps", sx_region(&f, 1, 1, 0, &s, 1));
	s.offset = 64, s.length = UINT64_MAX - 32;
	sx_refuse(&f, "span length wraps", sx_region(&f, 1, 1, 0, &s, 1));
	s.offset = SX_BUF_SIZE - 64, s.length = 64;
	sx_accept("span ending exactly at the grant's end (control)", sx_region(&f, 1, 1, 0, &s, 1));
	sx_close(&f);
	sx_posted_errors();
}

static const struct { const char *name; void (*fn)(void); } sx_cases[] = {
	{ "out-of-range endpoint handles", case_endpoint_handle },
	{ "out-of-range endpoint and board indices", case_endpoint_index },
	{ "region ids", case_region_id },
	{ "segment counts", case_segment_count },
	{ "grant counts (span arrays)", case_grant_count },
	{ "grant sizes", case_grant_sizes },
	{ "forged grant refs", case_forged_refs },
	{ "offsets beyond a grant", case_offsets },
	{ "ring indices beyond the ring", sx_ring_lies },
	{ "garbage entries (fuzz)", sx_fuzz },
	{ "flood", sx_flood },
};

int main(int argc, char **argv)
{
	const char *exe = argc > 1 ? argv[1] : getenv("OMX_SPLIT_BACKEND");
	const char *only = getenv("SX_ONLY");
	const char *args[16];
	int baseline, st;
	uid_t uid;

	if (!exe || access(exe, X_OK)) {
		printf("SKIP: no backend executable (argv[1] or OMX_SPLIT_BACKEND)\n");
		return 77;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	sx_backend_args(args, NULL);
	if (sx_backend_start(&sx_be, exe, args)) {
		fprintf(stderr, "cannot start %s\n", exe);
		return 1;
	}
	/* Frontends are unprivileged guests: neither root nor admin. */
	uid = sx_become_guest(&sx_be);
	/* The baseline is taken after one good pair came and went: what the
	 * engine opens once, on first use, is not a leak. */
	{
		struct sx_good g;

		if (sx_good_start(&g, sx_be.sock) || sx_good_finish(&g)) {
			fprintf(stderr, "a well-behaved pair cannot even run alone\n");
			sx_backend_stop(&sx_be);
			return 1;
		}
		usleep(500000);
	}
	baseline = sx_fd_count(sx_be.pid);
	printf("backend pid %d on udp 127.0.0.1:%d, %d fds; frontends run as uid %d\n", (int)sx_be.pid,
	       sx_be.port, baseline, (int)uid);
	for (unsigned i = 0; i < sizeof(sx_cases) / sizeof(sx_cases[0]); i++) {
		struct sx_good g;
		int before = sx_failures;

		if (only && !strstr(sx_cases[i].name, only))
			continue;
		printf("case %s\n", sx_cases[i].name);
		fflush(stdout);
		if (sx_good_start(&g, sx_be.sock)) {
			CHECK(!"the good pair starts");
			break;
		}
		sx_cur_good = &g;
		sx_cases[i].fn();
		CHECK(sx_good_finish(&g) == 0);
		CHECK(sx_backend_alive(&sx_be));
		printf("case %s: %s (good pair: %d rounds byte-exact)\n", sx_cases[i].name,
		       sx_failures == before ? "ok" : "FAILED", g.rounds);
		fflush(stdout);
		if (!sx_backend_alive(&sx_be))
			break;
	}
	/* Everything the frontends made the backend hold is gone. */
	CHECK(sx_settle(sx_be.pid, baseline));
	st = sx_backend_stop(&sx_be);
	CHECK(st != -1 && (st == 0 || (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)));
	printf("test_split_hardening: %d checks, %d failed\n", sx_checks, sx_failures);
	return sx_failures ? 1 : 0;
}
