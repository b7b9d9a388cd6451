// SPDX-License-Identifier: GPL-2.0-or-later
/* qemu-guest-agent style hook directory: which files run, in what order. */
#include "agent/snapshot/scripts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool vv_hook_name_skipped(const char *name)
{
	static const char *const suffixes[] = {
		"~", ".bak", ".orig", ".rpmnew", ".rpmorig", ".rpmsave", ".sample",
	};

	if (name[0] == '.')
		return true;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (ends_with(name, suffixes[i]))
			return true;
	/* .dpkg-old, .dpkg-dist, .dpkg-new, .dpkg-tmp ... */
	return strstr(name, ".dpkg-") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vv_hooks_list(const char *dir, char ***paths, size_t *np, struct vv_error *err)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int fd, r = 0;
	DIR *d;

	*paths = NULL;
	*np = 0;
	/* Whoever can write the directory or a parent chooses what root runs. */
	fd = vv_trusted_dir_open(dir, err);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "%s: %s", dir, strerror(-r));
	}
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (vv_hook_name_skipped(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		/* Like the stock hook: regular files with an execute bit. A link is
		 * listed so that running it is refused with a reason. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (!S_ISLNK(st.st_mode) && (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))))
			continue;
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n] = strdup(path);
		if (!v[n]) {
			r = -ENOMEM;
			goto out;
		}
		v[++n] = NULL;
	}
	/* Full paths share the directory prefix: this sorts by name. */
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
out:
	closedir(d);
	if (r) {
		vv_strv_free(v);
		return r;
	}
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	*paths = v;
	*np = n;
	return 0;
}
