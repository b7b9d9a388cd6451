// SPDX-License-Identifier: GPL-2.0-or-later
/* Checking the state directory and reading its files (see state_dir.h). */
#include "agent/config/state_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/readfile.h"

/* mkdir -p, mode 0700 for every component it creates. */
static int make_dirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

/* No symbolic link anywhere on the way (openat2), or at least not the last one. */
static int open_dir_no_symlinks(const char *dir)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_NO_SYMLINKS,
	};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));

	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int vv_state_dir_open(const char *dir, bool create, struct vv_error *err)
{
	struct stat st;
	int fd, r;

	vv_error_clear(err);
	if (!dir || !*dir)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "no state directory given");
	if (create && (r = make_dirs(dir)) < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "cannot create state directory %s: %s", dir,
			       strerror(-r));
	fd = open_dir_no_symlinks(dir);
	/* O_DIRECTORY wins over O_NOFOLLOW: a final symlink reads as ENOTDIR. */
	if (fd == -ENOTDIR && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
		fd = -ELOOP;
	if (fd == -ENOENT)
		return fd;
	if (fd == -ELOOP)
		return vv_fail(err, fd, VV_CAUSE_CONFIG,
			       "state directory %s is or goes through a symbolic "
			       "link; use the real directory (--state-dir) or replace the link",
			       dir);
	if (fd == -ENOTDIR)
		return vv_fail(err, fd, VV_CAUSE_CONFIG,
			       "state directory %s is not a directory; move it "
			       "away so vaultvol can create it", dir);
	if (fd < 0)
		return vv_fail(err, fd, VV_CAUSE_SYSTEM,
			       "state directory %s: %s", dir, strerror(-fd));
	if (fstat(fd, &st) < 0) {
		r = vv_fail(err, -errno, VV_CAUSE_SYSTEM,
			    "state directory %s: %s", dir, strerror(errno));
		goto bad;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		r = vv_fail(err, -EPERM, VV_CAUSE_CONFIG,
			    "state directory %s is owned by uid %u, not root; "
			    "run: chown root: %s", dir, (unsigned)st.st_uid, dir);
		goto bad;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		r = vv_fail(err, -EPERM, VV_CAUSE_CONFIG,
			    "state directory %s is writable by group or "
			    "others (mode %04o); run: chmod 0700 %s", dir,
			    (unsigned)(st.st_mode & 07777), dir);
		goto bad;
	}
	return fd;
bad:
	close(fd);
	return r;
}

int vv_state_file_read(const char *dir, const char *name, size_t max, char **text,
		       size_t *len, struct vv_error *err)
{
	struct vv_error e = { 0 };
	int dfd, r;

	*text = NULL;
	*len = 0;
	dfd = vv_state_dir_open(dir, false, err);
	if (dfd < 0)
		return dfd;
	/* Relative to the checked descriptor: the directory cannot be swapped. */
	r = vv_file_read_in(dfd, dir, name, VV_RF_TRUSTED, max, text, len, &e);
	if (r < 0 && r != -ENOENT)
		vv_fail(err, r, e.cause, "state file %s", e.message);
	close(dfd);
	return r;
}
