// SPDX-License-Identifier: GPL-2.0-or-later
/* /etc/crypttab: which disks are systemd-cryptsetup's (crypttab.h). */
#include "agent/config/crypttab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/readfile.h"

#define CRYPTTAB_MAX (1024 * 1024)

static const char *field(const char **p, size_t *len)
{
	const char *s = *p, *start;

	while (*s == ' ' || *s == '\t')
		s++;
	start = s;
	while (*s && *s != ' ' && *s != '\t' && *s != '\n')
		s++;
	*len = (size_t)(s - start);
	*p = s;
	return *len ? start : NULL;
}

/* "noauto" among the comma-separated options (fourth field). */
static bool has_noauto(const char *opts, size_t len)
{
	const char *end = opts + len;

	while (opts < end) {
		const char *comma = memchr(opts, ',', (size_t)(end - opts));
		size_t n = comma ? (size_t)(comma - opts) : (size_t)(end - opts);

		if (n == 6 && !memcmp(opts, "noauto", 6))
			return true;
		opts += n + 1;
	}
	return false;
}

int vv_crypttab_parse(const char *text, struct vv_crypttab *tab)
{
	const char *line = text;

	memset(tab, 0, sizeof(*tab));
	while (line && *line) {
		const char *nl = strchr(line, '\n'), *p = line, *name, *src, *key, *opts;
		size_t nlen, slen, klen, olen;
		struct vv_crypttab_entry *grown;

		name = field(&p, &nlen);
		if (name && *name != '#' && (src = field(&p, &slen))) {
			key = field(&p, &klen);
			opts = key ? field(&p, &olen) : NULL;
			grown = realloc(tab->e, (tab->n + 1) * sizeof(*tab->e));
			if (!grown)
				goto nomem;
			tab->e = grown;
			tab->e[tab->n] = (struct vv_crypttab_entry){
				.name = strndup(name, nlen),
				.source = strndup(src, slen),
				.noauto = opts && has_noauto(opts, olen),
				.keyless = !key || (klen == 4 && !memcmp(key, "none", 4)) ||
					   (klen == 1 && *key == '-'),
			};
			tab->n++;
			if (!tab->e[tab->n - 1].name || !tab->e[tab->n - 1].source)
				goto nomem;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
nomem:
	vv_crypttab_free(tab);
	return -ENOMEM;
}

int vv_crypttab_load(const char *path, struct vv_crypttab *tab, struct vv_error *err)
{
	char *text = NULL;
	size_t len;
	int r;

	memset(tab, 0, sizeof(*tab));
	r = vv_file_read(AT_FDCWD, path, VV_RF_TRUSTED, CRYPTTAB_MAX, &text, &len, err);
	if (r == -ENOENT) {
		vv_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = vv_crypttab_parse(text, tab);
	free(text);
	if (r < 0)
		vv_fail(err, r, VV_CAUSE_SYSTEM, "reading %s: %s", path, strerror(-r));
	return r;
}

void vv_crypttab_free(struct vv_crypttab *tab)
{
	for (size_t i = 0; i < tab->n; i++) {
		free(tab->e[i].name);
		free(tab->e[i].source);
	}
	free(tab->e);
	memset(tab, 0, sizeof(*tab));
}

/* A TAG=value source as the /dev/disk link udev makes for it. */
static const char *const tag_dirs[][2] = {
	{ "UUID=", "/dev/disk/by-uuid/" },
	{ "PARTUUID=", "/dev/disk/by-partuuid/" },
	{ "LABEL=", "/dev/disk/by-label/" },
	{ "PARTLABEL=", "/dev/disk/by-partlabel/" },
};

static bool names_disk(const char *src, const char *uuid, const char *path, char *const *links,
		       size_t nlinks)
{
	char link[512];
	const char *want = src;

	if (!strncmp(src, "UUID=", 5) && uuid && *uuid && !strcasecmp(src + 5, uuid))
		return true;
	for (size_t i = 0; i < sizeof(tag_dirs) / sizeof(tag_dirs[0]); i++) {
		size_t n = strlen(tag_dirs[i][0]);

		if (!strncmp(src, tag_dirs[i][0], n)) {
			snprintf(link, sizeof(link), "%s%s", tag_dirs[i][1], src + n);
			want = link;
			break;
		}
	}
	if (path && !strcmp(want, path))
		return true;
	for (size_t i = 0; i < nlinks; i++)
		if (links[i] && !strcmp(want, links[i]))
			return true;
	return false;
}

const struct vv_crypttab_entry *vv_crypttab_find(const struct vv_crypttab *tab, const char *uuid,
						 const char *path, char *const *links,
						 size_t nlinks)
{
	for (size_t i = 0; tab && i < tab->n; i++)
		if (names_disk(tab->e[i].source, uuid, path, links, nlinks))
			return &tab->e[i];
	return NULL;
}
