// SPDX-License-Identifier: GPL-2.0-or-later
/* Key material files: read into locked memory after checking who may see them. */
#include "vault/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vault/internal.h"

bool vv_stat_private(const struct stat *st, const char *what, struct vv_error *err)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "%s is owned by uid %u, not by root", what,
			     (unsigned)st->st_uid);
		return false;
	}
	if (st->st_mode & (S_IRWXG | S_IRWXO)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "%s is accessible by group or others (mode %04o); "
			     "it must be 0600/0400 (0700 for a directory)",
			     what, (unsigned)(st->st_mode & 07777));
		return false;
	}
	return true;
}

int vv_key_file_read(int dirfd, const char *path, unsigned flags,
		     struct vv_secret **out, struct vv_error *err)
{
	int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct vv_secret *s = NULL;
	struct stat st;
	int fd, r;

	*out = NULL;
	if (flags & VV_KF_NOFOLLOW)
		oflags |= O_NOFOLLOW;
	fd = openat(dirfd, path, oflags);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			vv_error_set(err, VV_CAUSE_NOT_FOUND, 0, "%s: no such file", path);
		else if (r == -ELOOP)
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "%s is a symbolic link; refusing to follow it", path);
		else
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", path, strerror(-r));
		goto out;
	}
	/* A FIFO or device could block or stream forever: regular files only. */
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s is not a regular file", path);
		goto out;
	}
	if ((flags & VV_KF_PRIVATE) && !vv_stat_private(&st, path, err)) {
		r = -EPERM;
		goto out;
	}
	if (st.st_size > VV_KEYFILE_MAX) {
		r = -EFBIG;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s is larger than %d bytes",
			     path, VV_KEYFILE_MAX);
		goto out;
	}
	/* One spare byte tells us whether the file grew after fstat. */
	s = vv_secret_new((size_t)st.st_size + 1);
	if (!s) {
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "cannot allocate locked memory for %s", path);
		goto out;
	}
	while (s->len < s->cap) {
		ssize_t n = read(fd, s->data + s->len, s->cap - s->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		s->len += (size_t)n;
	}
	if (s->len != (size_t)st.st_size) {
		r = -EIO;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s changed while being read", path);
		goto out;
	}
	*out = s;
	s = NULL;
	r = 0;
out:
	vv_secret_free(s);
	close(fd);
	return r;
}
