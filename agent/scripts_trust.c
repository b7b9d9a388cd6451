// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Ownership checks for script configs and scripts: root runs them, so
 * nobody but root may have been able to change them or swap them out.
 */
#include "agent/scripts.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int refuse(char *why, size_t whylen, int err, const char *fmt, const char *path)
{
	snprintf(why, whylen, fmt, path);
	return err;
}

/* A directory on the way: root's, and not writable by others unless sticky. */
static int dir_ok(const char *dir, char *why, size_t whylen)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return refuse(why, whylen, -errno, "%s: cannot stat directory", dir);
	if (st.st_uid != 0)
		return refuse(why, whylen, -EPERM, "directory %s is not owned by root", dir);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return refuse(why, whylen, -EPERM,
			      "directory %s is writable by group or others", dir);
	return 0;
}

int vv_path_trusted(const char *path, bool executable, char *why, size_t whylen)
{
	char real[PATH_MAX];
	struct stat st;
	char *slash;
	int r;

	if (!realpath(path, real)) {
		int e = errno;

		snprintf(why, whylen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (stat(real, &st) < 0) {
		int e = errno;

		snprintf(why, whylen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode))
		return refuse(why, whylen, -EPERM, "%s is not a regular file", path);
	if (st.st_uid != 0)
		return refuse(why, whylen, -EPERM, "%s is not owned by root", path);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return refuse(why, whylen, -EPERM, "%s is writable by group or others", path);
	if (executable && !(st.st_mode & S_IXUSR))
		return refuse(why, whylen, -EPERM, "%s is not executable", path);
	/* Every directory of the real path, up to /. */
	while ((slash = strrchr(real, '/'))) {
		if (slash == real) {
			r = dir_ok("/", why, whylen);
			return r;
		}
		*slash = '\0';
		r = dir_ok(real, why, whylen);
		if (r)
			return r;
	}
	return 0;
}
