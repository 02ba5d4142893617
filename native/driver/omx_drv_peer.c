/*
 * omx_drv_peer.c - the peer table: an ordered array of board addresses
 * (local boards first) with a hash on the address, and its commands.
 *
 * Indices are handed out in order and never reused until a clear, because
 * libraries and remote drivers keep them (partners, reverse peer indices).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_drv.h"

static uint32_t omx_drv_peer_hash(uint64_t addr)
{
	return (uint32_t)((addr * 0x9E3779B97F4A7C15ull) >> 56) & (OMX_DRV_PEER_HASH_SIZE - 1);
}

int omx_drv_peers_init(struct omx_drv_peers *p, uint32_t max)
{
	p->entries = calloc(max, sizeof(*p->entries));
	if (!p->entries)
		return OMX_ABI_ENOMEM;
	if (pthread_rwlock_init(&p->lock, NULL)) {
		free(p->entries);
		return OMX_ABI_ENOMEM;
	}
	p->max = max;
	p->nr = 0;
	for (uint32_t i = 0; i < OMX_DRV_PEER_HASH_SIZE; i++)
		p->buckets[i] = OMX_DRV_PEER_NONE;
	memset(&p->state, 0, sizeof(p->state));
	return 0;
}

void omx_drv_peers_fini(struct omx_drv_peers *p)
{
	pthread_rwlock_destroy(&p->lock);
	free(p->entries);
	p->entries = NULL;
}

uint32_t omx_drv_peers_find_locked(const struct omx_drv_peers *p, uint64_t addr)
{
	for (uint32_t i = p->buckets[omx_drv_peer_hash(addr)]; i != OMX_DRV_PEER_NONE;
	     i = p->entries[i].hash_next)
		if (p->entries[i].addr == addr)
			return i;
	return OMX_DRV_PEER_NONE;
}

static void omx_drv_peers_hash_locked(struct omx_drv_peers *p, uint32_t i)
{
	uint32_t h = omx_drv_peer_hash(p->entries[i].addr);

	p->entries[i].hash_next = p->buckets[h];
	p->buckets[h] = i;
}

/* Returns the peer's index (>= 0): re-adding an address gives its index back. */
int omx_drv_peers_add(struct omx_drv *drv, uint64_t addr, const char *hostname, int local)
{
	struct omx_drv_peers *p = &drv->peers;
	struct omx_drv_peer *e;
	uint32_t i;

	if (addr >> 48)
		return OMX_ABI_EINVAL;
	if (hostname && strlen(hostname) >= OMX_ABI_HOSTNAME_MAX)
		return OMX_ABI_EINVAL;

	pthread_rwlock_wrlock(&p->lock);
	i = omx_drv_peers_find_locked(p, addr);
	if (i != OMX_DRV_PEER_NONE) {
		e = &p->entries[i];
		if (hostname && *hostname && !e->hostname[0])
			strcpy(e->hostname, hostname);
		if (local)
			e->local = 1;
		pthread_rwlock_unlock(&p->lock);
		return (int)i;
	}
	if (p->nr == p->max) {
		p->state.status |= OMX_ABI_PEER_TABLE_FULL;
		pthread_rwlock_unlock(&p->lock);
		return OMX_ABI_ENOSPC;
	}
	i = p->nr;
	e = &p->entries[i];
	memset(e, 0, sizeof(*e));
	e->addr = addr;
	e->local = local ? 1 : 0;
	if (hostname)
		strcpy(e->hostname, hostname);
	omx_drv_peers_hash_locked(p, i);
	p->nr++;
	pthread_rwlock_unlock(&p->lock);
	return (int)i;
}

/* ---- omx_init_peers file -------------------------------------------------- */

static int omx_drv_parse_hex2(const char *s)
{
	int v = 0;

	for (int k = 0; k < 2; k++) {
		int c = (unsigned char)s[k];
		if (c >= '0' && c <= '9')
			v = v * 16 + c - '0';
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* "xx:xx:xx:xx:xx:xx hostname" after comment stripping; 0 or -1. */
static int omx_drv_parse_peer_line(char *s, uint64_t *addr, char **hostname)
{
	uint64_t a = 0;
	char *end;

	for (int i = 0; i < 6; i++) {
		int v = omx_drv_parse_hex2(s);
		if (v < 0)
			return -1;
		a = (a << 8) | (uint64_t)v;
		s += 2;
		if (i < 5 && *s++ != ':')
			return -1;
	}
	if (!isspace((unsigned char)*s))
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return -1;
	end = s;
	while (*end && !isspace((unsigned char)*end))
		end++;
	if (*end) {
		*end++ = '\0';
		while (isspace((unsigned char)*end))
			end++;
		if (*end)
			return -1;
	}
	*addr = a;
	*hostname = s;
	return 0;
}

void omx_drv_peers_load_file(struct omx_drv *drv, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *s, *hostname;
	size_t cap = 0;
	unsigned lineno = 0;
	uint64_t addr;
	int err;

	if (!f) {
		omx_drv_warn("peers", "cannot open OMX_PEERS_FILE %s", path);
		return;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		s = strchr(line, '#');
		if (s)
			*s = '\0';
		s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			continue;
		if (omx_drv_parse_peer_line(s, &addr, &hostname) < 0) {
			omx_drv_warn("peers", "%s:%u: expected \"xx:xx:xx:xx:xx:xx hostname\"; line skipped",
				     path, lineno);
			continue;
		}
		err = omx_drv_peers_add(drv, addr, hostname, 0);
		if (err < 0)
			omx_drv_warn("peers", "%s:%u: cannot add peer (%d); line skipped", path, lineno, err);
	}
	free(line);
	fclose(f);
}

/* ---- commands ------------------------------------------------------------- */

int omx_drv_peer_add(struct omx_abi_driver *d, uint64_t board_addr, const char *hostname)
{
	return omx_drv_peers_add(omx_drv_of(d), board_addr, hostname, 0);
}

/* Keeps the local boards (compacted to the front, in order) and forgets every
 * reverse index: remote tables may hold different indices after a clear. */
int omx_drv_peer_table_clear(struct omx_abi_driver *d)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_peers *p = &drv->peers;
	uint32_t kept = 0;

	pthread_rwlock_wrlock(&p->lock);
	for (uint32_t i = 0; i < p->nr; i++)
		if (p->entries[i].local) {
			if (i != kept)
				p->entries[kept] = p->entries[i];
			kept++;
		}
	p->nr = kept;
	for (uint32_t i = 0; i < OMX_DRV_PEER_HASH_SIZE; i++)
		p->buckets[i] = OMX_DRV_PEER_NONE;
	for (uint32_t i = 0; i < kept; i++)
		omx_drv_peers_hash_locked(p, i);
	p->state.status &= ~(uint32_t)OMX_ABI_PEER_TABLE_FULL;
	for (uint32_t b = 0; b < drv->board_count; b++)
		for (uint32_t i = 0; i < p->max; i++)
			__atomic_store_n(&drv->boards[b].reverse_peer_index[i],
					 OMX_WIRE_UNKNOWN_PEER_INDEX, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&p->lock);
	return 0;
}

int omx_drv_peer_table_get_state(struct omx_abi_driver *d, struct omx_abi_peer_table_state *out)
{
	struct omx_drv_peers *p = &omx_drv_of(d)->peers;

	pthread_rwlock_rdlock(&p->lock);
	*out = p->state;
	pthread_rwlock_unlock(&p->lock);
	return 0;
}

/* As Open-MX: only the CONFIGURED bit is taken from the caller; FULL is ours. */
int omx_drv_peer_table_set_state(struct omx_abi_driver *d, const struct omx_abi_peer_table_state *in)
{
	struct omx_drv_peers *p = &omx_drv_of(d)->peers;

	pthread_rwlock_wrlock(&p->lock);
	p->state.status = (p->state.status & ~(uint32_t)OMX_ABI_PEER_TABLE_CONFIGURED) |
			  (in->status & OMX_ABI_PEER_TABLE_CONFIGURED);
	p->state.version = in->version;
	p->state.size = in->size;
	p->state.mapper_id = in->mapper_id;
	pthread_rwlock_unlock(&p->lock);
	return 0;
}

static void omx_drv_peer_info_locked(const struct omx_drv_peers *p, uint32_t i,
				     struct omx_abi_peer_info *out)
{
	memset(out, 0, sizeof(*out));
	out->board_addr = p->entries[i].addr;
	out->index = i;
	out->local = p->entries[i].local;
	memcpy(out->hostname, p->entries[i].hostname, sizeof(out->hostname));
}

int omx_drv_peer_from_index(struct omx_abi_driver *d, uint32_t index, struct omx_abi_peer_info *out)
{
	struct omx_drv_peers *p = &omx_drv_of(d)->peers;
	int err = OMX_ABI_ENOENT;

	pthread_rwlock_rdlock(&p->lock);
	if (index < p->nr) {
		omx_drv_peer_info_locked(p, index, out);
		err = 0;
	}
	pthread_rwlock_unlock(&p->lock);
	return err;
}

int omx_drv_peer_from_addr(struct omx_abi_driver *d, uint64_t board_addr, struct omx_abi_peer_info *out)
{
	struct omx_drv_peers *p = &omx_drv_of(d)->peers;
	uint32_t i;
	int err = OMX_ABI_ENOENT;

	pthread_rwlock_rdlock(&p->lock);
	i = omx_drv_peers_find_locked(p, board_addr);
	if (i != OMX_DRV_PEER_NONE) {
		omx_drv_peer_info_locked(p, i, out);
		err = 0;
	}
	pthread_rwlock_unlock(&p->lock);
	return err;
}

int omx_drv_peer_from_hostname(struct omx_abi_driver *d, const char *hostname,
			       struct omx_abi_peer_info *out)
{
	struct omx_drv_peers *p = &omx_drv_of(d)->peers;
	int err = OMX_ABI_ENOENT;

	if (!hostname || !*hostname)
		return OMX_ABI_EINVAL;
	pthread_rwlock_rdlock(&p->lock);
	for (uint32_t i = 0; i < p->nr; i++)
		if (!strncmp(p->entries[i].hostname, hostname, OMX_ABI_HOSTNAME_MAX)) {
			omx_drv_peer_info_locked(p, i, out);
			err = 0;
			break;
		}
	pthread_rwlock_unlock(&p->lock);
	return err;
}

int omx_drv_set_hostname(struct omx_abi_driver *d, uint32_t board_index, const char *hostname)
{
	struct omx_drv *drv = omx_drv_of(d);
	struct omx_drv_peers *p = &drv->peers;
	struct omx_drv_board *b;
	uint32_t i;

	if (board_index >= drv->board_count)
		return OMX_ABI_ENODEV;
	if (!hostname || !*hostname || strlen(hostname) >= OMX_ABI_HOSTNAME_MAX)
		return OMX_ABI_EINVAL;
	b = &drv->boards[board_index];
	pthread_rwlock_wrlock(&p->lock);
	strcpy(b->hostname, hostname);
	i = omx_drv_peers_find_locked(p, b->addr);
	if (i != OMX_DRV_PEER_NONE)
		strcpy(p->entries[i].hostname, hostname);
	pthread_rwlock_unlock(&p->lock);
	return 0;
}
