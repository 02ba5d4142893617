/*
 * omx_drv_host_peers.c - the host-wide peer table (omx_drv_host.h): lookups
 * that never wait, additions published entry first, in-place changes under
 * the seqlock, and the table commands.
 */
#include <string.h>

#include "omx_drv_host.h"

/* ---- peers ----------------------------------------------------------------- */

uint32_t omx_drv_host_find(const struct omx_drv_host_file *f, uint64_t addr)
{
	uint32_t nr = __atomic_load_n(&f->hdr.peer_nr, __ATOMIC_ACQUIRE);
	/* Acquire: the entries linked from the bucket are filled. */
	uint32_t i = __atomic_load_n(&f->hdr.buckets[omx_drv_host_hash(addr)], __ATOMIC_ACQUIRE);
	uint32_t steps = 0;

	while (i && steps++ < nr + 1) {
		if (i - 1 >= f->hdr.peer_max)
			break;
		if (f->peers[i - 1].addr == addr)
			return i - 1;
		i = __atomic_load_n(&f->peers[i - 1].hash_next, __ATOMIC_ACQUIRE);
	}
	return OMX_DRV_PEER_NONE;
}

uint32_t omx_drv_peer_find(struct omx_drv *drv, uint64_t addr)
{
	const struct omx_drv_host_file *f = drv->host->f;
	int tries = 0;
	uint32_t s, i;

	do {
		s = omx_drv_host_read_begin(f);
		i = omx_drv_host_find(f, addr);
	} while (omx_drv_host_read_retry(f, s, &tries));
	if (i != OMX_DRV_PEER_NONE && i >= __atomic_load_n(&f->hdr.peer_nr, __ATOMIC_ACQUIRE))
		return OMX_DRV_PEER_NONE;
	return i;
}

uint32_t omx_drv_peer_count(struct omx_drv *drv)
{
	uint32_t nr = __atomic_load_n(&drv->host->f->hdr.peer_nr, __ATOMIC_ACQUIRE);

	return nr < drv->cfg.peer_max ? nr : drv->cfg.peer_max;
}

int omx_drv_peer_addr(struct omx_drv *drv, uint32_t index, uint64_t *addr, int *local)
{
	const struct omx_drv_host_file *f = drv->host->f;
	int tries = 0, l;
	uint64_t a;
	uint32_t s;

	if (index >= omx_drv_peer_count(drv))
		return OMX_ABI_ENOENT;
	do {
		s = omx_drv_host_read_begin(f);
		a = f->peers[index].addr;
		l = (int)f->peers[index].local;
	} while (omx_drv_host_read_retry(f, s, &tries));
	/* A clear may have shrunk the table meanwhile. */
	if (index >= omx_drv_peer_count(drv))
		return OMX_ABI_ENOENT;
	*addr = a;
	if (local)
		*local = l;
	return 0;
}

int omx_drv_peer_info(struct omx_drv *drv, uint32_t index, struct omx_abi_peer_info *out)
{
	const struct omx_drv_host_file *f = drv->host->f;
	int tries = 0;
	uint32_t s;

	if (index >= omx_drv_peer_count(drv))
		return OMX_ABI_ENOENT;
	memset(out, 0, sizeof(*out));
	do {
		s = omx_drv_host_read_begin(f);
		out->board_addr = f->peers[index].addr;
		out->local = f->peers[index].local;
		memcpy(out->hostname, f->peers[index].hostname, sizeof(out->hostname));
	} while (omx_drv_host_read_retry(f, s, &tries));
	out->hostname[OMX_ABI_HOSTNAME_MAX - 1] = '\0';
	out->index = index;
	return index < omx_drv_peer_count(drv) ? 0 : OMX_ABI_ENOENT;
}

int omx_drv_peers_add(struct omx_drv *drv, uint64_t addr, const char *hostname, int local)
{
	struct omx_drv_host *h = drv->host;
	struct omx_drv_host_file *f = h->f;
	struct omx_drv_host_peer *e;
	uint32_t i, b;
	int err;

	if (addr >> 48)
		return OMX_ABI_EINVAL;
	if (hostname && strlen(hostname) >= OMX_ABI_HOSTNAME_MAX)
		return OMX_ABI_EINVAL;
	err = omx_drv_host_lock(h);
	if (err)
		return err;
	i = omx_drv_host_find(f, addr);
	if (i != OMX_DRV_PEER_NONE) {
		e = &f->peers[i];
		if ((hostname && *hostname && !e->hostname[0]) || (local && !e->local)) {
			omx_drv_host_write_begin(f);
			if (hostname && *hostname && !e->hostname[0])
				strcpy(e->hostname, hostname);
			if (local)
				e->local = 1;
			omx_drv_host_write_end(f);
		}
		omx_drv_host_unlock(h);
		return (int)i;
	}
	i = f->hdr.peer_nr;
	if (i >= f->hdr.peer_max || i >= drv->cfg.peer_max) {
		f->hdr.table.status |= OMX_ABI_PEER_TABLE_FULL;
		omx_drv_host_unlock(h);
		return OMX_ABI_ENOSPC;
	}
	e = &f->peers[i];
	memset(e, 0, sizeof(*e));
	e->addr = addr;
	e->local = local ? 1 : 0;
	if (hostname)
		strcpy(e->hostname, hostname);
	b = omx_drv_host_hash(addr);
	e->hash_next = f->hdr.buckets[b];
	/* Release both: the entry is whole before it is counted or linked. */
	__atomic_store_n(&f->hdr.peer_nr, i + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&f->hdr.buckets[b], i + 1, __ATOMIC_RELEASE);
	omx_drv_host_unlock(h);
	return (int)i;
}

int omx_drv_peer_set_hostname(struct omx_drv *drv, uint32_t index, const char *hostname)
{
	struct omx_drv_host *h = drv->host;
	struct omx_drv_host_file *f = h->f;
	int err;

	if (!hostname || strlen(hostname) >= OMX_ABI_HOSTNAME_MAX)
		return OMX_ABI_EINVAL;
	err = omx_drv_host_lock(h);
	if (err)
		return err;
	if (index >= f->hdr.peer_nr) {
		omx_drv_host_unlock(h);
		return OMX_ABI_ENOENT;
	}
	if (strncmp(f->peers[index].hostname, hostname, OMX_ABI_HOSTNAME_MAX)) {
		omx_drv_host_write_begin(f);
		memset(f->peers[index].hostname, 0, OMX_ABI_HOSTNAME_MAX);
		strcpy(f->peers[index].hostname, hostname);
		omx_drv_host_write_end(f);
	}
	omx_drv_host_unlock(h);
	return 0;
}

uint32_t omx_drv_host_query_magic(struct omx_drv *drv)
{
	return __atomic_load_n(&drv->host->f->hdr.query_magic, __ATOMIC_ACQUIRE);
}

/* ---- table-wide commands ------------------------------------------------------ */

/* Keeps the local boards (compacted to the front, in order) and forgets every
 * reverse index: remote tables may hold different indices after a clear. */
int omx_drv_peer_table_clear(struct omx_abi_driver *d)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_host_file *f = drv->host->f;
	uint32_t kept = 0;
	int err;

	err = omx_drv_host_lock(drv->host);
	if (err)
		return err;
	omx_drv_host_write_begin(f);
	for (uint32_t i = 0; i < f->hdr.peer_nr; i++)
		if (f->peers[i].local) {
			if (i != kept)
				f->peers[kept] = f->peers[i];
			kept++;
		}
	for (uint32_t i = kept; i < f->hdr.peer_nr; i++)
		memset(&f->peers[i], 0, sizeof(f->peers[i]));
	f->hdr.peer_nr = kept;
	omx_drv_host_rehash(f);
	f->hdr.table.status &= ~(uint32_t)OMX_ABI_PEER_TABLE_FULL;
	for (uint32_t b = 0; b < f->hdr.board_nr; b++)
		for (uint32_t i = 0; i < OMX_PEER_INDEX_MAX; i++)
			__atomic_store_n(&f->reverse[b][i], OMX_WIRE_UNKNOWN_PEER_INDEX, __ATOMIC_RELAXED);
	omx_drv_host_write_end(f);
	omx_drv_host_unlock(drv->host);
	return 0;
}

/* New magic first: a reply to a query sent before the clear is stale. */
int omx_drv_peer_table_clear_names(struct omx_abi_driver *d)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_host_file *f = drv->host->f;
	int err;

	err = omx_drv_host_lock(drv->host);
	if (err)
		return err;
	__atomic_store_n(&f->hdr.query_magic, f->hdr.query_magic + 1, __ATOMIC_RELEASE);
	omx_drv_host_write_begin(f);
	for (uint32_t i = 0; i < f->hdr.peer_nr; i++)
		if (!f->peers[i].local)
			memset(f->peers[i].hostname, 0, OMX_ABI_HOSTNAME_MAX);
	omx_drv_host_write_end(f);
	omx_drv_host_unlock(drv->host);
	return 0;
}

int omx_drv_peer_table_get_state(struct omx_abi_driver *d, struct omx_abi_peer_table_state *out)
{
	const struct omx_drv_host_file *f = omx_drv_of(d)->host->f;
	int tries = 0;
	uint32_t s;

	do {
		s = omx_drv_host_read_begin(f);
		*out = f->hdr.table;
	} while (omx_drv_host_read_retry(f, s, &tries));
	return 0;
}

/* As Open-MX: only the CONFIGURED bit is taken from the caller; FULL is ours. */
int omx_drv_peer_table_set_state(struct omx_abi_driver *d, const struct omx_abi_peer_table_state *in)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_host_file *f = drv->host->f;
	int err;

	err = omx_drv_host_lock(drv->host);
	if (err)
		return err;
	omx_drv_host_write_begin(f);
	f->hdr.table.status = (f->hdr.table.status & ~(uint32_t)OMX_ABI_PEER_TABLE_CONFIGURED) |
			      (in->status & OMX_ABI_PEER_TABLE_CONFIGURED);
	f->hdr.table.version = in->version;
	f->hdr.table.size = in->size;
	f->hdr.table.mapper_id = in->mapper_id;
	omx_drv_host_write_end(f);
	omx_drv_host_unlock(drv->host);
	return 0;
}

int omx_drv_set_hostname(struct omx_abi_driver *d, uint32_t board_index, const char *hostname)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_host_file *f = drv->host->f;
	struct omx_drv_board *b;
	uint32_t i;
	int err;

	if (board_index >= drv->board_count)
		return OMX_ABI_ENODEV;
	if (!hostname || !*hostname || strlen(hostname) >= OMX_ABI_HOSTNAME_MAX)
		return OMX_ABI_EINVAL;
	b = &drv->boards[board_index];
	err = omx_drv_host_lock(drv->host);
	if (err)
		return err;
	omx_drv_host_write_begin(f);
	memset(f->boards[b->slot].hostname, 0, OMX_ABI_HOSTNAME_MAX);
	strcpy(f->boards[b->slot].hostname, hostname);
	i = omx_drv_host_find(f, b->addr);
	if (i != OMX_DRV_PEER_NONE && i < f->hdr.peer_nr) {
		memset(f->peers[i].hostname, 0, OMX_ABI_HOSTNAME_MAX);
		strcpy(f->peers[i].hostname, hostname);
	}
	omx_drv_host_write_end(f);
	omx_drv_host_unlock(drv->host);
	return 0;
}
