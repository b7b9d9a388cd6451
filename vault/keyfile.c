// SPDX-License-Identifier: GPL-2.0-or-later
/* Key material files: read into locked memory after checking who may see them. */
#include "vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>


int vv_key_file_read(int dirfd, const char *path, unsigned flags,
		     struct vv_secret **out, struct vv_error *err)
{
	struct vv_secret *s = NULL;
	struct stat st;
	int fd, r;

	*out = NULL;
	/* O_NOFOLLOW is always on now; VV_KF_NOFOLLOW is kept for callers. */
	fd = vv_file_open_checked(dirfd, path, flags & VV_RF_PRIVATE, VV_KEYFILE_MAX,
				  &st, err);
	if (fd < 0)
		return fd;
	/* One spare byte tells us whether the file grew after fstat. */
	s = vv_secret_new((size_t)st.st_size + 1);
	if (!s) {
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "cannot allocate locked memory for %s", path);
		goto out;
	}
	r = vv_fd_read_full(fd, s->data, s->cap, &s->len);
	if (r < 0) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", path, strerror(-r));
		goto out;
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
