/*
 * omx_drv_host.c - the host-wide state: peer table, table state, board
 * slots (hostname, counters, reverse peer indices) in one file mapped
 * MAP_SHARED by every process of the host.
 *
 * Where: $OMX_STATE_DIR, else /run/omx-transport-<uid> (or /tmp/... when
 * /run is not writable), mode 0700, file "host-<netns cookie>" (0600).  A
 * network namespace is a host: the endpoint claims (abstract Unix names)
 * are per namespace too.  A udp board is a host of its own (its address is
 * added to the name): udp runs isolate themselves by base port.
 *
 * Crash safety.  Writers take a process-shared robust mutex; the next
 * writer after a crash repairs (seqlock even, hash rebuilt).  A new peer is
 * filled beyond peer_nr, then peer_nr and the hash bucket are release-stored:
 * a reader that finds it sees it whole.  Changes in place (names, clear)
 * run under the seqlock; readers retry a bounded number of times and never
 * wait for a writer.  The header (magic, version, sizes, boot id, netns
 * cookie) is checked at every attach; a mismatched file is replaced.
 * Counters are plain atomic adds.  The mapped layout holds no pointer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "omx_drv_host.h"

#define OMX_DRV_HOST_OPEN_TRIES 8
#define OMX_DRV_HOST_LOCK_WAIT_MS 5000
#define OMX_DRV_HOST_UDP_IDLE_S 3600

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* ---- robust mutex ---------------------------------------------------------- */

void omx_drv_host_rehash(struct omx_drv_host_file *f)
{
	uint32_t nr = f->hdr.peer_nr;

	memset(f->hdr.buckets, 0, sizeof(f->hdr.buckets));
	for (uint32_t i = 0; i < nr; i++) {
		uint32_t h = omx_drv_host_hash(f->peers[i].addr);
		f->peers[i].hash_next = f->hdr.buckets[h];
		f->hdr.buckets[h] = i + 1;
	}
}

/* After a writer died holding the mutex: make the state consistent again. */
static void omx_drv_host_repair(struct omx_drv_host_file *f)
{
	if (f->hdr.seq & 1)
		f->hdr.seq++;
	if (f->hdr.peer_nr > f->hdr.peer_max)
		f->hdr.peer_nr = f->hdr.peer_max;
	if (f->hdr.board_nr > OMX_DRV_HOST_BOARDS)
		f->hdr.board_nr = OMX_DRV_HOST_BOARDS;
	/* A clear cut short leaves zeroed entries (address 0 is only ever lo,
	 * a local board): compact them out. */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < f->hdr.peer_nr; i++) {
		f->peers[i].hostname[OMX_ABI_HOSTNAME_MAX - 1] = '\0';
		if (f->peers[i].addr == 0 && !f->peers[i].local)
			continue;
		if (i != kept)
			f->peers[kept] = f->peers[i];
		kept++;
	}
	f->hdr.peer_nr = kept;
	omx_drv_host_rehash(f);
	omx_drv_warn("host", "a process died while changing the host state; repaired");
}

int omx_drv_host_lock(struct omx_drv_host *h)
{
	int r = pthread_mutex_lock(&h->f->hdr.lock.m);

	if (r == EOWNERDEAD) {
		omx_drv_host_repair(h->f);
		pthread_mutex_consistent(&h->f->hdr.lock.m);
		return 0;
	}
	if (r) {
		omx_drv_warn("host", "cannot lock the host state: %s", strerror(r));
		return OMX_ABI_EIO;
	}
	return 0;
}

void omx_drv_host_unlock(struct omx_drv_host *h)
{
	pthread_mutex_unlock(&h->f->hdr.lock.m);
}

int omx_drv_host_writer_lock(struct omx_drv *drv)
{
	return omx_drv_host_lock(drv->host);
}

void omx_drv_host_writer_unlock(struct omx_drv *drv)
{
	omx_drv_host_unlock(drv->host);
}

/* ---- the file ------------------------------------------------------------- */

static uint64_t omx_drv_host_netns_cookie(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	struct stat st;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
			cookie = 0;
		close(fd);
	}
	/* Older kernels: the namespace inode (the boot id check catches reuse
	 * across boots, not within one). */
	if (!cookie && stat("/proc/self/ns/net", &st) == 0)
		cookie = (uint64_t)st.st_ino | (1ull << 63);
	return cookie;
}

static void omx_drv_host_boot_id(char out[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	memset(out, 0, 40);
	if (fd >= 0) {
		n = read(fd, out, 39);
		close(fd);
	}
	if (n <= 0)
		snprintf(out, 40, "unknown");
	out[strcspn(out, "\n")] = '\0';
}

/* The runtime directory, created 0700; refused if another user owns it. */
static int omx_drv_host_dir(const char *given, char *out, size_t size)
{
	struct stat st;

	if (given && *given)
		snprintf(out, size, "%s", given);
	else
		snprintf(out, size, "%s/omx-transport-%u", access("/run", W_OK) == 0 ? "/run" : "/tmp",
			 (unsigned)geteuid());
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		omx_drv_warn("host", "cannot create %s: %s", out, strerror(errno));
		return -1;
	}
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode)) {
		omx_drv_warn("host", "%s is not a directory", out);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		omx_drv_warn("host", "%s belongs to uid %u or is writable by others; not used",
			     out, (unsigned)st.st_uid);
		return -1;
	}
	return 0;
}

static void omx_drv_host_init_file(struct omx_drv_host_file *f, const struct omx_drv_host_hdr *want)
{
	pthread_mutexattr_t a;

	f->hdr.version = want->version;
	f->hdr.counters_max = want->counters_max;
	f->hdr.size = want->size;
	f->hdr.netns_cookie = want->netns_cookie;
	memcpy(f->hdr.boot_id, want->boot_id, sizeof(f->hdr.boot_id));
	f->hdr.peer_max = want->peer_max;
	f->hdr.creator_pid = (uint32_t)getpid();
	f->hdr.query_magic = OMX_HOST_QUERY_MAGIC;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&f->hdr.lock.m, &a);
	pthread_mutexattr_destroy(&a);
	/* Release: whoever sees the magic sees an initialised file. */
	__atomic_store_n(&f->hdr.magic, OMX_DRV_HOST_MAGIC, __ATOMIC_RELEASE);
}

static int omx_drv_host_hdr_ok(const struct omx_drv_host_hdr *h, const struct omx_drv_host_hdr *want)
{
	return h->magic == OMX_DRV_HOST_MAGIC && h->version == want->version &&
	       h->counters_max == want->counters_max && h->size == want->size &&
	       h->netns_cookie == want->netns_cookie && !memcmp(h->boot_id, want->boot_id, 40) &&
	       h->peer_max >= 1 && h->peer_max < OMX_PEER_INDEX_MAX;
}

/* ---- pruning ---------------------------------------------------------------- */

/* Whether some process of this namespace claims an endpoint of udp board addr. */
static int omx_drv_host_udp_claimed(const char *addr_hex)
{
	char needle[64], line[512];
	FILE *f = fopen("/proc/self/net/unix", "re");
	int found = 0;

	if (!f)
		return 1;
	snprintf(needle, sizeof(needle), "@omx-transport/%s/", addr_hex);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/*
 * Called when this process creates a state file: remove the files of
 * earlier boots, and those of udp boards of this namespace that no process
 * has used for OMX_DRV_HOST_UDP_IDLE_S (udp runs pick fresh base ports, and
 * each would otherwise leave a file behind).  Packet-link hosts keep theirs:
 * a static peer table must outlive the processes.
 */
static void omx_drv_host_prune(const char *dir, const struct omx_drv_host_hdr *want)
{
	char path[512], prefix[64];
	struct omx_drv_host_hdr cur;
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);
	time_t now = time(NULL);

	if (!d)
		return;
	snprintf(prefix, sizeof(prefix), "host-%016" PRIx64 "-udp-", want->netns_cookie);
	while ((e = readdir(d))) {
		int fd, stale = 0;

		if (strncmp(e->d_name, "host-", 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    pread(fd, &cur, sizeof(cur), 0) == (ssize_t)sizeof(cur) && cur.magic == OMX_DRV_HOST_MAGIC) {
			if (memcmp(cur.boot_id, want->boot_id, sizeof(cur.boot_id)))
				stale = 1;
			else if (!strncmp(e->d_name, prefix, strlen(prefix)) &&
				 now - st.st_mtime > OMX_DRV_HOST_UDP_IDLE_S &&
				 !omx_drv_host_udp_claimed(e->d_name + strlen(prefix)))
				stale = 1;
		}
		close(fd);
		if (stale)
			unlink(path);
	}
	closedir(d);
}

/* 1: attached; 0: retry (file replaced meanwhile); < 0: give up. */
static int omx_drv_host_try(struct omx_drv_host *h, const char *dir, const char *path,
			    const struct omx_drv_host_hdr *want)
{
	struct omx_drv_host_hdr cur;
	struct stat st, pst;
	void *map;
	int fd, err = -1;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		omx_drv_warn("host", "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* Held only to create or check the file: a bounded wait, in case a
	 * holder is stopped. */
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		struct timespec nap = { 0, 10 * 1000 * 1000 };

		if ((errno != EWOULDBLOCK && errno != EINTR) || i >= OMX_DRV_HOST_LOCK_WAIT_MS / 10) {
			omx_drv_warn("host", "cannot lock %s: %s", path,
				     errno == EWOULDBLOCK ? "held too long by another process" : strerror(errno));
			goto out;
		}
		nanosleep(&nap, NULL);
	}
	if (fstat(fd, &st) < 0)
		goto out;
	/* Another process replaced the file between our open and our lock. */
	if (stat(path, &pst) < 0 || pst.st_ino != st.st_ino || pst.st_dev != st.st_dev) {
		err = 0;
		goto out;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		omx_drv_warn("host", "%s has the wrong owner or mode; not used", path);
		goto out;
	}
	if (st.st_size != 0) {
		if (pread(fd, &cur, sizeof(cur), 0) != (ssize_t)sizeof(cur) || !omx_drv_host_hdr_ok(&cur, want) ||
		    (uint64_t)st.st_size != want->size) {
			/* From another build, boot or namespace: start afresh. */
			unlink(path);
			err = 0;
			goto out;
		}
	} else if (ftruncate(fd, (off_t)want->size) < 0) {
		omx_drv_warn("host", "cannot size %s: %s", path, strerror(errno));
		goto out;
	}
	map = mmap(NULL, want->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		omx_drv_warn("host", "cannot map %s: %s", path, strerror(errno));
		goto out;
	}
	h->f = map;
	if (st.st_size == 0) {
		omx_drv_host_init_file(h->f, want);
		omx_drv_host_prune(dir, want);
	}
	/* Explicitly: the mapping keeps the open file, and so the lock, alive. */
	flock(fd, LOCK_UN);
	close(fd);
	h->shared = 1;
	return 1;
out:
	flock(fd, LOCK_UN);
	close(fd);
	return err;
}

int omx_drv_host_open(struct omx_drv *drv, const char *state_dir)
{
	struct omx_drv_host_hdr want;
	struct omx_drv_host *h;
	char dir[200], path[300];
	int r = -1;

	h = calloc(1, sizeof(*h));
	if (!h)
		return OMX_ABI_ENOMEM;
	memset(&want, 0, sizeof(want));
	want.version = OMX_DRV_HOST_VERSION;
	want.counters_max = OMX_COUNTER_INDEX_MAX;
	want.size = sizeof(struct omx_drv_host_file);
	want.netns_cookie = omx_drv_host_netns_cookie();
	omx_drv_host_boot_id(want.boot_id);
	want.peer_max = drv->cfg.peer_max;

	if (omx_drv_host_dir(state_dir, dir, sizeof(dir)) == 0) {
		/* A udp board is its own host: name it (board 0 is attached first). */
		if (drv->board_count && !strcmp(drv->boards[0].link->drivername, "udp"))
			snprintf(path, sizeof(path), "%s/host-%016" PRIx64 "-udp-%012" PRIx64, dir,
				 want.netns_cookie, drv->boards[0].addr);
		else
			snprintf(path, sizeof(path), "%s/host-%016" PRIx64, dir, want.netns_cookie);
		for (int i = 0; i < OMX_DRV_HOST_OPEN_TRIES && (r = omx_drv_host_try(h, dir, path, &want)) == 0; i++)
			;
	}
	if (r != 1) {
		void *map = mmap(NULL, want.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (map == MAP_FAILED) {
			free(h);
			return OMX_ABI_ENOMEM;
		}
		omx_drv_warn("host", "host-wide state unavailable: peers and counters are private to "
			     "this process (set OMX_STATE_DIR to a writable directory)");
		h->f = map;
		omx_drv_host_init_file(h->f, &want);
	}
	if (h->f->hdr.peer_max != drv->cfg.peer_max) {
		if (getenv("OMX_PEER_MAX"))
			omx_drv_warn("host", "OMX_PEER_MAX=%u ignored: this host's table holds %u peers",
				     drv->cfg.peer_max, h->f->hdr.peer_max);
		drv->cfg.peer_max = h->f->hdr.peer_max;
	}
	drv->host = h;
	drv->shared_counters = h->f->hdr.shared_counters;
	return 0;
}

void omx_drv_host_close(struct omx_drv *drv)
{
	struct omx_drv_host *h = drv->host;

	if (!h)
		return;
	munmap(h->f, sizeof(*h->f));
	free(h);
	drv->host = NULL;
	drv->shared_counters = NULL;
}

/* ---- boards ---------------------------------------------------------------- */

int omx_drv_host_board_attach(struct omx_drv *drv, struct omx_drv_board *b, const char *default_hostname)
{
	struct omx_drv_host *h = drv->host;
	struct omx_drv_host_file *f = h->f;
	const char *ifname = b->link->ifacename;
	uint32_t i, nr;
	int err;

	err = omx_drv_host_lock(h);
	if (err)
		return err;
	nr = f->hdr.board_nr;
	for (i = 0; i < nr; i++)
		if (f->boards[i].addr == b->addr &&
		    !strncmp(f->boards[i].ifacename, ifname, OMX_ABI_IFNAME_MAX))
			break;
	if (i == nr) {
		if (nr == OMX_DRV_HOST_BOARDS) {
			omx_drv_host_unlock(h);
			omx_drv_warn("host", "this host already has %u board slots; %s not attached",
				     OMX_DRV_HOST_BOARDS, ifname);
			return OMX_ABI_ENOSPC;
		}
		f->boards[i].addr = b->addr;
		snprintf(f->boards[i].ifacename, OMX_ABI_IFNAME_MAX, "%s", ifname);
		snprintf(f->boards[i].hostname, OMX_ABI_HOSTNAME_MAX, "%s", default_hostname);
		memset(f->reverse[i], 0xff, sizeof(f->reverse[i]));
		/* Release: a reader of board_nr sees the slot filled. */
		__atomic_store_n(&f->boards[i].used, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&f->hdr.board_nr, nr + 1, __ATOMIC_RELEASE);
	}
	omx_drv_host_unlock(h);
	b->slot = i;
	b->counters = f->boards[i].counters;
	b->reverse_peer_index = f->reverse[i];
	return 0;
}

void omx_drv_host_board_hostname(struct omx_drv *drv, const struct omx_drv_board *b,
				 char out[OMX_ABI_HOSTNAME_MAX])
{
	const struct omx_drv_host_file *f = drv->host->f;
	int tries = 0;
	uint32_t s;

	do {
		s = omx_drv_host_read_begin(f);
		memcpy(out, f->boards[b->slot].hostname, OMX_ABI_HOSTNAME_MAX);
	} while (omx_drv_host_read_retry(f, s, &tries));
	out[OMX_ABI_HOSTNAME_MAX - 1] = '\0';
}

