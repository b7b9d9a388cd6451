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

/* A symbolic link: say so, and name the real path as the fix. */
static int refuse_link(struct vv_error *err, const char *shown, const char *full)
{
	char real[PATH_MAX];

	if (realpath(full, real))
		return vv_fail(err, -EPERM, VV_CAUSE_CONFIG,
			       "%s is a symbolic link; name the real path %s instead", shown, real);
	return vv_fail(err, -EPERM, VV_CAUSE_CONFIG,
		       "%s is a symbolic link; name the real path instead", shown);
}

/*
 * A directory: root's, and not writable by group or others; a parent may be
 * world-writable if it is sticky (like /tmp: others cannot rename root's
 * entries), the directory holding hooks may not.
 */
static int dir_ok(const struct stat *st, const char *dir, bool sticky_ok, struct vv_error *err)
{
	if (!S_ISDIR(st->st_mode))
		return vv_fail(err, -ENOTDIR, VV_CAUSE_CONFIG, "%s is not a directory", dir);
	if (st->st_uid != 0)
		return vv_fail(err, -EPERM, VV_CAUSE_CONFIG, "directory %s is not owned by root", dir);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && (st->st_mode & S_ISVTX)))
		return vv_fail(err, -EPERM, VV_CAUSE_CONFIG,
			       "directory %s is writable by group or others", dir);
	return 0;
}

/*
 * Walk the absolute path to its last component: each directory on the way
 * checked by dir_ok on an O_PATH|O_NOFOLLOW descriptor. Returns that of
 * the last directory (the parent of *base), or -errno with err filled.
 */
static int walk_parent(const char *path, char *buf, size_t buflen, const char **base,
		       struct vv_error *err)
{
	struct stat st;
	char *p, *slash;
	int fd, nfd, r;

	if (path[0] != '/')
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s is not an absolute path", path);
	if (snprintf(buf, buflen, "%s", path) >= (int)buflen)
		return vv_fail(err, -ENAMETOOLONG, VV_CAUSE_CONFIG, "%s: path too long", path);
	/* Trailing slashes name the same object. */
	for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vv_fail(err, -errno, VV_CAUSE_SYSTEM, "%s: cannot open /", path);
	r = fstat(fd, &st) < 0 ? -errno : dir_ok(&st, "/", true, err);
	if (r)
		goto fail;
	p = buf + 1;
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		if (!*p || !strcmp(p, ".") || !strcmp(p, "..")) {
			*slash = '/';
			r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s is not a normalised path", path);
			goto fail;
		}
		nfd = openat(fd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			r = -errno;
			vv_fail(err, r, r == -ENOENT ? VV_CAUSE_NOT_FOUND : VV_CAUSE_SYSTEM,
				"%s: %s", buf, strerror(-r));
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
			r = refuse_link(err, buf, buf);
			*slash = '/';
			goto fail;
		}
		r = dir_ok(&st, buf, true, err);
		*slash = '/';
		if (r)
			goto fail;
		p = slash + 1;
	}
	if (!*p || !strcmp(p, ".") || !strcmp(p, "..")) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s is not a normalised path", path);
		goto fail;
	}
	*base = path + (p - buf);
	return fd;
fail:
	close(fd);
	return r;
}

int vv_trusted_parent_open(const char *path, const char **base, struct vv_error *err)
{
	char buf[PATH_MAX];

	return walk_parent(path, buf, sizeof(buf), base, err);
}

int vv_script_open(const char *path, bool executable, struct vv_error *err)
{
	char buf[PATH_MAX];
	const char *base;
	struct stat st;
	int dfd, fd, r;

	dfd = walk_parent(path, buf, sizeof(buf), &base, err);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	close(dfd);
	if (r)
		return vv_fail(err, r, r == -ENOENT ? VV_CAUSE_NOT_FOUND : VV_CAUSE_SYSTEM,
			       r == -ENOENT ? "%s: no such file" : "%s: cannot open", path);
	if (fstat(fd, &st) < 0) {
		r = vv_fail(err, -errno, VV_CAUSE_SYSTEM, "%s: cannot stat", path);
		goto fail;
	}
	if (S_ISLNK(st.st_mode)) {
		r = refuse_link(err, path, path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode))
		r = vv_fail(err, -EPERM, VV_CAUSE_CONFIG, "%s is not a regular file", path);
	else if (st.st_uid != 0)
		r = vv_fail(err, -EPERM, VV_CAUSE_CONFIG, "%s is not owned by root", path);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		r = vv_fail(err, -EPERM, VV_CAUSE_CONFIG, "%s is writable by group or others", path);
	else if (executable && !(st.st_mode & S_IXUSR))
		r = vv_fail(err, -EPERM, VV_CAUSE_CONFIG, "%s is not executable", path);
	if (r)
		goto fail;
	return fd;
fail:
	close(fd);
	return r;
}

int vv_trusted_dir_open(const char *dir, struct vv_error *err)
{
	char buf[PATH_MAX];
	const char *base;
	struct stat st;
	int dfd, fd, r;

	if (!strcmp(dir, "/"))
		return vv_fail(err, -EPERM, VV_CAUSE_CONFIG, "%s cannot be a hook directory", dir);
	dfd = walk_parent(dir, buf, sizeof(buf), &base, err);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	if (r == -ENOTDIR && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		r = -ELOOP;
	close(dfd);
	if (r == -ELOOP)
		return refuse_link(err, dir, dir);
	if (r)
		return vv_fail(err, r, r == -ENOENT ? VV_CAUSE_NOT_FOUND : VV_CAUSE_SYSTEM,
			       r == -ENOENT ? "%s: no such directory" :
			       "%s: cannot open directory", dir);
	if (fstat(fd, &st) < 0)
		r = vv_fail(err, -errno, VV_CAUSE_SYSTEM, "%s: cannot stat", dir);
	else
		r = dir_ok(&st, dir, false, err);
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}

int vv_path_trusted(const char *path, bool executable, struct vv_error *err)
{
	int fd = vv_script_open(path, executable, err);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}
