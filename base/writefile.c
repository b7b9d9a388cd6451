// SPDX-License-Identifier: GPL-2.0-or-later
/* Atomic file replacement (see writefile.h). */
#include "base/writefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory name lives in (dirfd itself when name has no '/'). */
static void sync_parent(int dirfd, const char *name)
{
	const char *slash = strrchr(name, '/');
	char *dir;
	int fd;

	if (!slash) {
		if (dirfd != AT_FDCWD) {
			fsync(dirfd);
			return;
		}
		dir = strdup(".");
	} else {
		dir = strndup(name, slash == name ? 1 : (size_t)(slash - name));
	}
	if (!dir)
		return;
	fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int vv_file_write_atomic(int dirfd, const char *name, const void *data, size_t len,
			 mode_t mode, unsigned flags, struct vv_error *err)
{
	const char *base = strrchr(name, '/');
	char *tmp = NULL;
	uint32_t rnd = 0;
	int fd = -1, r;

	/*
	 * A hidden name beside the target that nobody else uses: our pid and
	 * random bits, created exclusively, so a planted file or link there
	 * makes the write fail instead of redirecting it.
	 */
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)time(NULL) ^ (uint32_t)clock();
	base = base ? base + 1 : name;
	if (asprintf(&tmp, "%.*s.tmp-%d-%08x-%s", (int)(base - name), name,
		     (int)getpid(), rnd, base) < 0) {
		tmp = NULL;
		r = vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "cannot write %s: %s", name,
			    strerror(ENOMEM));
		goto out;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		r = vv_fail(err, -errno, VV_CAUSE_SYSTEM, "cannot create %s: %s", tmp,
			    strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* The umask could only have narrowed it; make it exactly mode. */
	r = fchmod(fd, mode) < 0 ? -errno : 0;
	if (!r)
		r = write_all(fd, data, len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	fd = -1;
	if (!r) {
		if (flags & VV_WF_NOREPLACE)
			r = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
		else
			r = renameat(dirfd, tmp, dirfd, name);
		r = r < 0 ? -errno : 0;
	}
	if (r == -EEXIST && (flags & VV_WF_NOREPLACE)) {
		vv_fail(err, r, VV_CAUSE_SYSTEM, "%s already exists", name);
		goto out;
	}
	if (r) {
		vv_fail(err, r, VV_CAUSE_SYSTEM, "cannot write %s: %s", name, strerror(-r));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (!(flags & VV_WF_NO_DIRSYNC))
		sync_parent(dirfd, name);
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlinkat(dirfd, tmp, 0);
		free(tmp);
	}
	return r;
}

int vv_file_unlink_durable(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	sync_parent(dirfd, name);
	return 0;
}
