// SPDX-License-Identifier: GPL-2.0-or-later
/* Opening and reading files safely (see readfile.h). */
#include "base/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

static bool owner_ok(const struct stat *st, const char *what, struct vv_error *err)
{
	if (st->st_uid == 0 || st->st_uid == geteuid())
		return true;
	vv_error_set(err, VV_CAUSE_CONFIG, 0,
		     "%s is owned by uid %u, not by root; run: chown root: %s", what,
		     (unsigned)st->st_uid, what);
	return false;
}

/*
 * Owned by root or us, and none of the bad mode bits: else false with err
 * saying "WHAT is HOW by group or others (mode M); FIX WHAT".
 */
static bool mode_ok(const struct stat *st, const char *what, mode_t bad, const char *how,
		    const char *fix, struct vv_error *err)
{
	if (!owner_ok(st, what, err))
		return false;
	if (st->st_mode & bad) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s is %s by group or others (mode %04o); %s %s",
			     what, how, (unsigned)(st->st_mode & 07777), fix, what);
		return false;
	}
	return true;
}

bool vv_stat_private(const struct stat *st, const char *what, struct vv_error *err)
{
	return mode_ok(st, what, S_IRWXG | S_IRWXO, "accessible",
		       "it must be 0600/0400 (0700 for a directory): run chmod go=", err);
}

bool vv_stat_trusted(const struct stat *st, const char *what, struct vv_error *err)
{
	return mode_ok(st, what, S_IWGRP | S_IWOTH, "writable", "run: chmod go-w", err);
}

/* path is opened, shown names it in messages (the full path when path is relative). */
static int open_checked(int dirfd, const char *path, const char *shown, unsigned flags,
			size_t max, struct stat *st, struct vv_error *err)
{
	int fd, r;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			vv_error_set(err, VV_CAUSE_NOT_FOUND, 0, "%s: no such file", shown);
		else if (r == -ELOOP)
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "%s is a symbolic link; refusing to follow it "
				     "(name the file itself)", shown);
		else
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", shown, strerror(-r));
		return r;
	}
	if (fstat(fd, st) < 0) {
		r = -errno;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", shown, strerror(-r));
		goto fail;
	}
	/* A FIFO or device could block or stream forever: regular files only. */
	if (!S_ISREG(st->st_mode)) {
		r = -EINVAL;
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "%s is not a regular file; replace it with one", shown);
		goto fail;
	}
	if ((flags & VV_RF_PRIVATE) && !vv_stat_private(st, shown, err)) {
		r = -EPERM;
		goto fail;
	}
	if ((flags & VV_RF_TRUSTED) && !vv_stat_trusted(st, shown, err)) {
		r = -EPERM;
		goto fail;
	}
	if ((unsigned long long)st->st_size > max) {
		r = -EFBIG;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s is larger than %zu bytes",
			     shown, max);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

int vv_file_open_checked(int dirfd, const char *path, unsigned flags, size_t max,
			 struct stat *st, struct vv_error *err)
{
	return open_checked(dirfd, path, path, flags, max, st, err);
}

int vv_fd_read_full(int fd, void *buf, size_t cap, size_t *got)
{
	*got = 0;
	while (*got < cap) {
		ssize_t n = read(fd, (char *)buf + *got, cap - *got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

static int read_whole(int dirfd, const char *path, const char *shown, unsigned flags,
		      size_t max, char **text, size_t *len, struct vv_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, r;

	*text = NULL;
	*len = 0;
	fd = open_checked(dirfd, path, shown, flags, max, &st, err);
	if (fd < 0)
		return fd;
	/* One spare byte tells us whether the file grew after fstat. */
	buf = malloc((size_t)st.st_size + 2);
	if (!buf) {
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: out of memory", shown);
		goto out;
	}
	r = vv_fd_read_full(fd, buf, (size_t)st.st_size + 1, &got);
	if (r < 0) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", shown, strerror(-r));
		goto out;
	}
	if (got != (size_t)st.st_size) {
		r = -EIO;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s changed while being read", shown);
		goto out;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int vv_file_read(int dirfd, const char *path, unsigned flags, size_t max,
		 char **text, size_t *len, struct vv_error *err)
{
	return read_whole(dirfd, path, path, flags, max, text, len, err);
}

int vv_file_read_in(int dirfd, const char *dirname, const char *name, unsigned flags,
		    size_t max, char **text, size_t *len, struct vv_error *err)
{
	char shown[4096];

	snprintf(shown, sizeof(shown), "%s/%s", dirname, name);
	return read_whole(dirfd, name, shown, flags, max, text, len, err);
}
