/*
 * omx_init_peers.c - fill the host-wide peer table from a file of
 * "xx:xx:xx:xx:xx:xx hostname" lines ('#' starts a comment), or with one
 * "addr hostname" pair given on the command line.  The table is replaced
 * (local boards stay first) unless -a appends; -d marks it configured.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_tools.h"

static int omx_init_peers_verbose;

static void omx_init_peers_usage(const char *argv0)
{
	fprintf(stderr, "%s [options] <filename>\n", argv0);
	fprintf(stderr, "%s [options] <xx:xx:xx:xx:xx:xx> <hostname>\n", argv0);
	fprintf(stderr, " -c\treplace existing peers with the new ones (default)\n");
	fprintf(stderr, " -a\tappend new peers to existing ones\n");
	fprintf(stderr, " -d\tmark the peer table as configured (done) afterwards\n");
	fprintf(stderr, " -v\tverbose messages\n");
}

static int omx_init_peers_add(struct omx_abi_driver *drv, uint64_t addr, const char *hostname)
{
	char a[OMX_TOOLS_ADDR_STRLEN];
	int r;

	omx_tools_addr(a, addr);
	r = drv->ops->peer_add(drv, addr, hostname);
	if (r < 0) {
		fprintf(stderr, "Failed to add new peer %s %s (%s)\n", a, hostname, omx_tools_strerror(r));
		return -1;
	}
	if (omx_init_peers_verbose)
		printf("Added peer #%d %s %s\n", r, a, hostname);
	return 0;
}

/* One line, comment already stripped: "addr hostname"; 1 = blank, 0 = ok, -1 = bad. */
static int omx_init_peers_line(char *s, uint64_t *addr, char **hostname)
{
	char *a, *h, *extra;

	a = strtok(s, " \t\r\n");
	if (!a)
		return 1;
	h = strtok(NULL, " \t\r\n");
	extra = strtok(NULL, " \t\r\n");
	if (!h || extra || omx_tools_parse_addr(a, addr) < 0)
		return -1;
	*hostname = h;
	return 0;
}

struct omx_init_peers_list {
	uint64_t *addrs;
	char **names;
	uint32_t nr, cap;
};

static int omx_init_peers_push(struct omx_init_peers_list *l, uint64_t addr, const char *name)
{
	if (strlen(name) >= OMX_ABI_HOSTNAME_MAX) {
		fprintf(stderr, "Hostname '%s' is too long (%d characters at most)\n", name,
			OMX_ABI_HOSTNAME_MAX - 1);
		return -1;
	}
	if (l->nr == l->cap) {
		uint32_t cap = l->cap ? 2 * l->cap : 64;
		uint64_t *a = realloc(l->addrs, cap * sizeof(*a));
		char **n = a ? realloc(l->names, cap * sizeof(*n)) : NULL;

		if (a)
			l->addrs = a;
		if (!n)
			return -1;
		l->names = n;
		l->cap = cap;
	}
	l->names[l->nr] = strdup(name);
	if (!l->names[l->nr])
		return -1;
	l->addrs[l->nr++] = addr;
	return 0;
}

/* The whole file is read and checked before the table is touched. */
static int omx_init_peers_read(const char *path, struct omx_init_peers_list *l)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *hostname, *hash, *copy;
	size_t cap = 0;
	uint64_t addr;
	int err = 0, r;

	if (!f) {
		fprintf(stderr, "Cannot open file '%s'\n", path);
		return -1;
	}
	while (!err && getline(&line, &cap, f) >= 0) {
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		copy = strdup(line);
		r = copy ? omx_init_peers_line(copy, &addr, &hostname) : -1;
		if (r < 0) {
			line[strcspn(line, "\r\n")] = '\0';
			fprintf(stderr, "Unrecognized peer line '%s'\n", line);
			err = -1;
		} else if (r == 0) {
			err = omx_init_peers_push(l, addr, hostname);
		}
		free(copy);
	}
	free(line);
	fclose(f);
	return err;
}

int main(int argc, char *argv[])
{
	struct omx_abi_peer_table_state st = { 0 };
	struct omx_init_peers_list list = { 0 };
	struct omx_abi_driver *drv;
	int clear = 1, done = 0, err = 0, c;
	uint64_t addr;

	while ((c = getopt(argc, argv, "cadvh")) != -1)
		switch (c) {
		case 'c':
			clear = 1;
			break;
		case 'a':
			clear = 0;
			break;
		case 'd':
			done = 1;
			break;
		case 'v':
			omx_init_peers_verbose = 1;
			break;
		case 'h':
			omx_init_peers_usage(argv[0]);
			return 0;
		default:
			omx_init_peers_usage(argv[0]);
			return 1;
		}
	if (optind >= argc) {
		fprintf(stderr, "Missing peers filename\n");
		omx_init_peers_usage(argv[0]);
		return 1;
	}
	if (argc - optind > 2) {
		omx_init_peers_usage(argv[0]);
		return 1;
	}
	if (argc - optind == 2) {
		if (omx_tools_parse_addr(argv[optind], &addr) < 0) {
			fprintf(stderr, "'%s' is not a board address (xx:xx:xx:xx:xx:xx)\n", argv[optind]);
			return 1;
		}
		err = omx_init_peers_push(&list, addr, argv[optind + 1]);
	} else {
		err = omx_init_peers_read(argv[optind], &list);
	}
	if (err)
		return 1;
	if (omx_tools_open(&drv) < 0)
		return 1;
	if (clear) {
		err = drv->ops->peer_table_clear(drv);
		if (err < 0) {
			fprintf(stderr, "Failed to clear peers (%s)\n", omx_tools_strerror(err));
			goto out;
		}
		if (omx_init_peers_verbose)
			printf("Cleared the peer table\n");
	}
	for (uint32_t i = 0; i < list.nr && !err; i++)
		err = omx_init_peers_add(drv, list.addrs[i], list.names[i]);
	if (!err && done) {
		st.status = OMX_ABI_PEER_TABLE_CONFIGURED;
		st.version = 1;
		st.size = list.nr + 1;
		err = drv->ops->peer_table_set_state(drv, &st);
		if (err < 0)
			fprintf(stderr, "Failed to set the peer table state (%s)\n", omx_tools_strerror(err));
	}
out:
	drv->ops->close(drv);
	for (uint32_t i = 0; i < list.nr; i++)
		free(list.names[i]);
	free(list.names);
	free(list.addrs);
	return err ? 1 : 0;
}
