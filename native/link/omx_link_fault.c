/*
 * omx_link_fault.c - a decorator that drops, duplicates, reorders, delays and
 * corrupts transmitted frames (this kernel has no netem).
 *
 * Faults are drawn per frame on transmit from a per-port PRNG seeded with
 * seed ^ endpoint index, so one seed replays the same faults for the same
 * traffic.  Held frames (reorder, delay) go out from later port_send or
 * port_recv calls; link->poll_interval_ms tells the driver how often to call.
 * Corruption flips bytes after the Ethernet header (except those that steer
 * delivery, see omx_link_fault_steering), so it needs the CRC32C
 * trailer: the decorator turns needs_fcs on, for the inner link too, whose
 * synthesised frames must pass the same check.
 *
 * On success the decorator owns the inner link and closes it with itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omx_abi.h"
#include "omx_list.h"
#include "omx_wire.h"
#include "omx_link.h"

#define OMX_LINK_FAULT_HOLD_MAX 64
#define OMX_LINK_FAULT_DELAY_MS_DEFAULT 10
#define OMX_LINK_FAULT_DELAY_MS_MAX 60000
#define OMX_LINK_FAULT_KEYS "drop dup reorder corrupt delay delay_ms seed"

struct omx_link_fault {
	struct omx_link base;
	struct omx_link *inner;
	double drop, dup, reorder, corrupt, delay;
	uint32_t delay_ms;
	uint64_t seed;
};

struct omx_link_fault_held {
	uint8_t *data;                /* mtu bytes, kept for reuse once allocated */
	uint32_t len;
	uint8_t copies;               /* 2 when also duplicated */
	uint8_t after_next;           /* reorder: goes out right after the next frame */
	uint64_t due_ns;
};

struct omx_link_fault_port {
	struct omx_link_port base;
	struct omx_link_port *inner;
	pthread_mutex_t lock;         /* the held frames, rng and scratch: send and recv may race */
	struct omx_link_port_stats own_stats;  /* used only when the inner port keeps none */
	uint64_t rng;
	unsigned nheld;
	struct omx_link_fault_held held[OMX_LINK_FAULT_HOLD_MAX];
	uint8_t *scratch;             /* a corrupted copy of the frame being sent */
};

static uint64_t omx_link_fault_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: tiny, seedable with any value, good enough for fault draws. */
static uint64_t omx_link_fault_next(struct omx_link_fault_port *fp)
{
	uint64_t z = (fp->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int omx_link_fault_roll(struct omx_link_fault_port *fp, double p)
{
	if (p <= 0.0)
		return 0;
	return (double)(omx_link_fault_next(fp) >> 11) * 0x1.0p-53 < p;
}

/* Bytes that steer delivery and are never flipped: the body's type, endpoint
 * byte, NACK_LIB target and magic.  A NIC delivers a damaged frame by MAC and
 * the receiver's CRC check drops it; the udp link routes by these bytes, so a
 * flipped one would reach another port, or a closed one whose ICMP bounce
 * would become a false NACK_LIB that no CRC check can stop. */
static int omx_link_fault_steering(uint32_t pos)
{
	uint32_t off = pos - OMX_WIRE_HEAD_LEN;

	return pos >= OMX_WIRE_HEAD_LEN && (off <= 1 || off == 9 || (off >= 12 && off <= 15));
}

/* Flip 1-3 distinct bytes after the Ethernet header, each by a non-zero mask,
 * so the frame always changes and the trailer check always fails. */
static int omx_link_fault_corrupt(struct omx_link_fault_port *fp, uint8_t *frame, uint32_t len)
{
	uint32_t span = len - OMX_WIRE_ETH_HLEN, room = 0;
	uint32_t pos[3];
	unsigned k = 1 + (unsigned)(omx_link_fault_next(fp) % 3);

	for (uint32_t p = OMX_WIRE_ETH_HLEN; p < len && room < 3; p++)
		room += !omx_link_fault_steering(p);
	if (k > room)
		k = room;
	for (unsigned i = 0; i < k; i++) {
		unsigned j;

		do {
			pos[i] = OMX_WIRE_ETH_HLEN + (uint32_t)(omx_link_fault_next(fp) % span);
			for (j = 0; j < i && pos[j] != pos[i]; j++)
				;
		} while (j < i || omx_link_fault_steering(pos[i]));
		frame[pos[i]] ^= (uint8_t)(1 + omx_link_fault_next(fp) % 255);
	}
	return k > 0;
}

/* Send the held frames that are due (or, with release, that wait for a
 * frame just sent).  A frame stays held while the inner link says "later". */
static void omx_link_fault_flush(struct omx_link_fault_port *fp, uint64_t now, int release)
{
	struct omx_link_frame out[2 * OMX_LINK_FAULT_HOLD_MAX];
	unsigned owner[2 * OMX_LINK_FAULT_HOLD_MAX];
	unsigned cnt = 0, keep = 0;
	uint8_t gone[OMX_LINK_FAULT_HOLD_MAX] = { 0 };

	for (unsigned i = 0; i < fp->nheld; i++) {
		struct omx_link_fault_held *h = &fp->held[i];

		if (h->due_ns > now && !(release && h->after_next))
			continue;
		for (unsigned c = 0; c < h->copies; c++) {
			out[cnt].data = h->data;
			out[cnt].len = h->len;
			owner[cnt++] = i;
		}
	}
	if (cnt == 0)
		return;
	int left = fp->inner->link->ops->port_send(fp->inner, out, cnt);
	if (left < 0) {
		/* Refused for good: holding them longer would fail every later send. */
		fp->base.stats->tx_errors += cnt;
		left = 0;
	}
	for (unsigned i = 0; i < cnt - (unsigned)left; i++)
		gone[owner[i]] = 1;

	for (unsigned i = 0; i < fp->nheld; i++) {
		if (gone[i])
			continue;
		if (keep != i) {
			struct omx_link_fault_held tmp = fp->held[keep];

			/* Swap, so the freed slot keeps its buffer for reuse. */
			fp->held[keep] = fp->held[i];
			fp->held[i] = tmp;
			gone[i] = 1;
		}
		keep++;
	}
	fp->nheld = keep;
}

static struct omx_link_fault_held *omx_link_fault_hold_slot(struct omx_link_fault_port *fp)
{
	struct omx_link_fault_held *h;

	if (fp->nheld == OMX_LINK_FAULT_HOLD_MAX)
		return NULL;
	h = &fp->held[fp->nheld];
	if (!h->data) {
		h->data = malloc(fp->base.link->mtu);
		if (!h->data)
			return NULL;
	}
	return h;
}

static int omx_link_fault_send_locked(struct omx_link_fault_port *fp, struct omx_link_fault *fl,
				      const struct omx_link_frame *frames, unsigned n, uint64_t now)
{
	struct omx_link_port_stats *st = fp->base.stats;
	omx_link_fault_flush(fp, now, 0);
	for (unsigned i = 0; i < n; i++) {
		struct omx_link_frame out[2];
		const struct omx_link_frame *f = &frames[i];
		struct omx_link_fault_held *h = NULL;
		void *data = f->data;
		int corrupt, dup, hold_reorder = 0, hold_delay = 0;

		if (omx_link_fault_roll(fp, fl->drop)) {
			st->fault_dropped++;
			continue;
		}
		corrupt = omx_link_fault_roll(fp, fl->corrupt);
		dup = omx_link_fault_roll(fp, fl->dup);
		if (omx_link_fault_roll(fp, fl->reorder))
			hold_reorder = 1;
		else if (omx_link_fault_roll(fp, fl->delay))
			hold_delay = 1;
		if (hold_reorder || hold_delay)
			h = omx_link_fault_hold_slot(fp);

		if (h) {
			memcpy(h->data, f->data, f->len);
			data = h->data;
		} else if (corrupt) {
			memcpy(fp->scratch, f->data, f->len);
			data = fp->scratch;
		}
		if (corrupt)
			corrupt = omx_link_fault_corrupt(fp, data, f->len);
		if (h) {
			h->len = f->len;
			h->copies = dup ? 2 : 1;
			h->after_next = (uint8_t)hold_reorder;
			h->due_ns = now + (uint64_t)fl->delay_ms * 1000000u;
			fp->nheld++;
			st->fault_corrupted += (uint64_t)corrupt;
			if (hold_reorder)
				st->fault_reordered++;
			else
				st->fault_delayed++;
			if (dup)
				st->fault_duplicated++;
			continue;
		}

		out[0].data = data;
		out[0].len = f->len;
		out[1] = out[0];
		int left = fp->inner->link->ops->port_send(fp->inner, out, dup ? 2 : 1);
		if (left < 0)
			return left;
		if (left == (dup ? 2 : 1))
			return (int)(n - i);
		st->fault_corrupted += (uint64_t)corrupt;
		if (dup && left == 0)
			st->fault_duplicated++;
		omx_link_fault_flush(fp, now, 1);
	}
	return 0;
}

static int omx_link_fault_port_send(struct omx_link_port *p, const struct omx_link_frame *frames,
				    unsigned n)
{
	struct omx_link_fault_port *fp = omx_container_of(p, struct omx_link_fault_port, base);
	struct omx_link_fault *fl = omx_container_of(p->link, struct omx_link_fault, base);
	uint64_t now = omx_link_fault_now_ns();
	int err;

	for (unsigned i = 0; i < n; i++) {
		if (frames[i].len > p->link->mtu)
			return OMX_ABI_EMSGSIZE;
		if (frames[i].len <= OMX_WIRE_HEAD_LEN)
			return OMX_ABI_EINVAL;
	}
	pthread_mutex_lock(&fp->lock);
	err = omx_link_fault_send_locked(fp, fl, frames, n, now);
	pthread_mutex_unlock(&fp->lock);
	return err;
}

static int omx_link_fault_port_recv(struct omx_link_port *p, struct omx_link_frame *frames, unsigned n)
{
	struct omx_link_fault_port *fp = omx_container_of(p, struct omx_link_fault_port, base);

	pthread_mutex_lock(&fp->lock);
	if (fp->nheld)
		omx_link_fault_flush(fp, omx_link_fault_now_ns(), 0);
	pthread_mutex_unlock(&fp->lock);
	return fp->inner->link->ops->port_recv(fp->inner, frames, n);
}

static int omx_link_fault_port_fd(struct omx_link_port *p)
{
	struct omx_link_fault_port *fp = omx_container_of(p, struct omx_link_fault_port, base);

	return fp->inner->link->ops->port_fd(fp->inner);
}

static void omx_link_fault_port_free(struct omx_link_fault_port *fp)
{
	for (unsigned i = 0; i < OMX_LINK_FAULT_HOLD_MAX; i++)
		free(fp->held[i].data);
	free(fp->scratch);
	pthread_mutex_destroy(&fp->lock);
	free(fp);
}

/* Frames still held when the port closes are lost, like any in-flight frame. */
static void omx_link_fault_port_close(struct omx_link_port *p)
{
	struct omx_link_fault_port *fp = omx_container_of(p, struct omx_link_fault_port, base);

	fp->inner->link->ops->port_close(fp->inner);
	omx_link_fault_port_free(fp);
}

static int omx_link_fault_port_open(struct omx_link *link, uint32_t endpoint_index,
				    struct omx_link_port **out)
{
	struct omx_link_fault *fl = omx_container_of(link, struct omx_link_fault, base);
	struct omx_link_fault_port *fp;
	int err;

	fp = calloc(1, sizeof(*fp));
	if (!fp)
		return OMX_ABI_ENOMEM;
	pthread_mutex_init(&fp->lock, NULL);
	fp->scratch = malloc(link->mtu);
	if (!fp->scratch) {
		err = OMX_ABI_ENOMEM;
		goto err_free;
	}
	err = fl->inner->ops->port_open(fl->inner, endpoint_index, &fp->inner);
	if (err < 0)
		goto err_free;
	fp->base.link = link;
	fp->base.stats = fp->inner->stats ? fp->inner->stats : &fp->own_stats;
	fp->rng = fl->seed ^ endpoint_index;
	*out = &fp->base;
	return 0;

err_free:
	omx_link_fault_port_free(fp);
	return err;
}

static void omx_link_fault_close(struct omx_link *link)
{
	struct omx_link_fault *fl = omx_container_of(link, struct omx_link_fault, base);

	fl->inner->ops->close(fl->inner);
	free(fl);
}

static const struct omx_link_ops omx_link_fault_ops = {
	.name = "fault",
	.port_open = omx_link_fault_port_open,
	.port_close = omx_link_fault_port_close,
	.port_send = omx_link_fault_port_send,
	.port_recv = omx_link_fault_port_recv,
	.port_fd = omx_link_fault_port_fd,
	.close = omx_link_fault_close,
};

static int omx_link_fault_parse_prob(const char *val, double *out)
{
	char *end;
	double p;

	errno = 0;
	p = strtod(val, &end);
	if (*val == '\0' || *end != '\0' || errno || !(p >= 0.0 && p <= 1.0))
		return -1;
	*out = p;
	return 0;
}

static int omx_link_fault_parse_u64(const char *val, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(val, &end, 0);
	if (*val == '\0' || *val == '-' || *end != '\0' || errno || v > max)
		return -1;
	*out = v;
	return 0;
}

/* One "key=value" item; prints the one stderr line on failure. */
static int omx_link_fault_parse_item(struct omx_link_fault *fl, char *item, const char *spec)
{
	char *eq = strchr(item, '=');
	const char *key = item, *val;
	uint64_t v;
	int bad;

	if (!eq) {
		fprintf(stderr, "omx_link_fault: bad key '%s' in fault spec \"%s\" (want key=value, keys: "
			OMX_LINK_FAULT_KEYS ")\n", item, spec);
		return -1;
	}
	*eq = '\0';
	val = eq + 1;
	if (!strcmp(key, "drop"))
		bad = omx_link_fault_parse_prob(val, &fl->drop);
	else if (!strcmp(key, "dup"))
		bad = omx_link_fault_parse_prob(val, &fl->dup);
	else if (!strcmp(key, "reorder"))
		bad = omx_link_fault_parse_prob(val, &fl->reorder);
	else if (!strcmp(key, "corrupt"))
		bad = omx_link_fault_parse_prob(val, &fl->corrupt);
	else if (!strcmp(key, "delay"))
		bad = omx_link_fault_parse_prob(val, &fl->delay);
	else if (!strcmp(key, "delay_ms")) {
		bad = omx_link_fault_parse_u64(val, OMX_LINK_FAULT_DELAY_MS_MAX, &v);
		fl->delay_ms = (uint32_t)v;
	} else if (!strcmp(key, "seed"))
		bad = omx_link_fault_parse_u64(val, UINT64_MAX, &fl->seed);
	else {
		fprintf(stderr, "omx_link_fault: bad key '%s' in fault spec \"%s\" (keys: "
			OMX_LINK_FAULT_KEYS ")\n", key, spec);
		return -1;
	}
	if (bad) {
		fprintf(stderr, "omx_link_fault: bad value '%s' for key '%s' in fault spec \"%s\" (want %s)\n",
			val, key, spec,
			!strcmp(key, "seed") ? "an unsigned integer" :
			!strcmp(key, "delay_ms") ? "0..60000" : "a probability in [0,1]");
		return -1;
	}
	return 0;
}

int omx_link_fault_wrap(struct omx_link *inner, const char *spec, struct omx_link **out)
{
	struct omx_link_fault *fl;
	char *copy, *item, *save;

	if (!inner || !spec)
		return OMX_ABI_EINVAL;
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return OMX_ABI_ENOMEM;
	copy = strdup(spec);
	if (!copy) {
		free(fl);
		return OMX_ABI_ENOMEM;
	}
	fl->delay_ms = OMX_LINK_FAULT_DELAY_MS_DEFAULT;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (omx_link_fault_parse_item(fl, item, spec) < 0) {
			free(copy);
			free(fl);
			return OMX_ABI_EINVAL;
		}
	}
	free(copy);

	fl->inner = inner;
	fl->base = *inner;
	if (fl->corrupt > 0.0)
		fl->base.needs_fcs = 1;
	inner->needs_fcs = fl->base.needs_fcs;
	if (fl->reorder > 0.0 || fl->delay > 0.0) {
		uint32_t every = fl->delay_ms > 1 ? fl->delay_ms / 2 : 1;

		if (!fl->base.poll_interval_ms || every < fl->base.poll_interval_ms)
			fl->base.poll_interval_ms = every;
	}
	fl->base.ops = &omx_link_fault_ops;
	*out = &fl->base;
	return 0;
}
