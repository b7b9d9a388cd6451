// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Ownership checks for script configs, scripts and hook directories: root
 * runs them, so nobody but root may have been able to change them or swap
 * them out. The path is walked from / one component at a time with
 * O_PATH|O_NOFOLLOW and every check is made on the descriptor (fstat), so
 * what was checked is what gets read or executed: a symbolic link anywhere
 * on the way is refused, not resolved.
 */
#include "agent/snapshot/scripts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int refuse(char *why, size_t whylen, int err, const char *fmt, const char *path)
{
	snprintf(why, whylen, fmt, path);
	return err;
}

/* A symbolic link: say so, and name the real path as the fix. */
static int refuse_link(char *why, size_t whylen, const char *shown, const char *full)
{
	char real[PATH_MAX];

	if (realpath(full, real))
		snprintf(why, whylen, "%s is a symbolic link; name the real path %s instead",
			 shown, real);
	else
		snprintf(why, whylen, "%s is a symbolic link; name the real path instead", shown);
	return -EPERM;
}

/*
 * A directory: root's, and not writable by group or others; a parent may be
 * world-writable if it is sticky (like /tmp: others cannot rename root's
 * entries), the directory holding hooks may not.
 */
static int dir_ok(const struct stat *st, const char *dir, bool sticky_ok, char *why,
		  size_t whylen)
{
	if (!S_ISDIR(st->st_mode))
		return refuse(why, whylen, -ENOTDIR, "%s is not a directory", dir);
	if (st->st_uid != 0)
		return refuse(why, whylen, -EPERM, "directory %s is not owned by root", dir);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && (st->st_mode & S_ISVTX)))
		return refuse(why, whylen, -EPERM,
			      "directory %s is writable by group or others", dir);
	return 0;
}

/*
 * Walk the absolute path to its last component: each directory on the way
 * checked by dir_ok on an O_PATH|O_NOFOLLOW descriptor. Returns that of
 * the last directory (the parent of *base), or -errno with why.
 */
static int walk_parent(const char *path, char *buf, size_t buflen, const char **base,
		       char *why, size_t whylen)
{
	struct stat st;
	char *p, *slash;
	int fd, nfd, r;

	if (path[0] != '/')
		return refuse(why, whylen, -EINVAL, "%s is not an absolute path", path);
	if (snprintf(buf, buflen, "%s", path) >= (int)buflen)
		return refuse(why, whylen, -ENAMETOOLONG, "%s: path too long", path);
	/* Trailing slashes name the same object. */
	for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return refuse(why, whylen, -errno, "%s: cannot open /", path);
	r = fstat(fd, &st) < 0 ? -errno : dir_ok(&st, "/", true, why, whylen);
	if (r)
		goto fail;
	p = buf + 1;
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		if (!*p || !strcmp(p, ".") || !strcmp(p, "..")) {
			*slash = '/';
			r = refuse(why, whylen, -EINVAL, "%s is not a normalised path", path);
			goto fail;
		}
		nfd = openat(fd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			r = -errno;
			snprintf(why, whylen, "%s: %s", buf, strerror(-r));
			*slash = '/';
			goto fail;
		}
		close(fd);
		fd = nfd;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			*slash = '/';
			goto fail;
		}
		if (S_ISLNK(st.st_mode)) {
			r = refuse_link(why, whylen, buf, buf);
			*slash = '/';
			goto fail;
		}
		r = dir_ok(&st, buf, true, why, whylen);
		*slash = '/';
		if (r)
			goto fail;
		p = slash + 1;
	}
	if (!*p || !strcmp(p, ".") || !strcmp(p, "..")) {
		r = refuse(why, whylen, -EINVAL, "%s is not a normalised path", path);
		goto fail;
	}
	*base = path + (p - buf);
	return fd;
fail:
	close(fd);
	return r;
}

int vv_trusted_parent_open(const char *path, const char **base, char *why, size_t whylen)
{
	char buf[PATH_MAX];

	return walk_parent(path, buf, sizeof(buf), base, why, whylen);
}

int vv_script_open(const char *path, bool executable, char *why, size_t whylen)
{
	char buf[PATH_MAX];
	const char *base;
	struct stat st;
	int dfd, fd, r;

	dfd = walk_parent(path, buf, sizeof(buf), &base, why, whylen);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	close(dfd);
	if (r)
		return refuse(why, whylen, r, r == -ENOENT ? "%s: no such file" : "%s: cannot open",
			      path);
	if (fstat(fd, &st) < 0) {
		r = refuse(why, whylen, -errno, "%s: cannot stat", path);
		goto fail;
	}
	if (S_ISLNK(st.st_mode)) {
		r = refuse_link(why, whylen, path, path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode))
		r = refuse(why, whylen, -EPERM, "%s is not a regular file", path);
	else if (st.st_uid != 0)
		r = refuse(why, whylen, -EPERM, "%s is not owned by root", path);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		r = refuse(why, whylen, -EPERM, "%s is writable by group or others", path);
	else if (executable && !(st.st_mode & S_IXUSR))
		r = refuse(why, whylen, -EPERM, "%s is not executable", path);
	if (r)
		goto fail;
	return fd;
fail:
	close(fd);
	return r;
}

int vv_trusted_dir_open(const char *dir, char *why, size_t whylen)
{
	char buf[PATH_MAX];
	const char *base;
	struct stat st;
	int dfd, fd, r;

	if (!strcmp(dir, "/"))
		return refuse(why, whylen, -EPERM, "%s cannot be a hook directory", dir);
	dfd = walk_parent(dir, buf, sizeof(buf), &base, why, whylen);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	if (r == -ENOTDIR && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		r = -ELOOP;
	close(dfd);
	if (r == -ELOOP)
		return refuse_link(why, whylen, dir, dir);
	if (r)
		return refuse(why, whylen, r, r == -ENOENT ? "%s: no such directory" :
			      "%s: cannot open directory", dir);
	if (fstat(fd, &st) < 0)
		r = refuse(why, whylen, -errno, "%s: cannot stat", dir);
	else
		r = dir_ok(&st, dir, false, why, whylen);
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}

int vv_path_trusted(const char *path, bool executable, char *why, size_t whylen)
{
	int fd = vv_script_open(path, executable, why, whylen);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}
