// SPDX-License-Identifier: GPL-2.0-or-later
/* Bounded reads and atomic writes for the extension handler's files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/handler/handler_internal.h"
#include "base/readfile.h"

void vv_herr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int vv_handler_read_file(const char *path, size_t max, char **text,
			 size_t *len, char *err, size_t errlen)
{
	struct vv_error e = { 0 };
	int r;

	/* waagent's files, read like every other file: no symlink, no FIFO. */
	r = vv_file_read(AT_FDCWD, path, 0, max, text, len, &e);
	if (r < 0)
		vv_herr(err, errlen, "%s", e.message);
	return r;
}

int vv_handler_write_atomic(const char *path, const char *data, size_t len)
{
	char *tmp = NULL, *dcopy = NULL;
	int fd = -1, dfd = -1, r;
	size_t off = 0;
	uint32_t rnd = 0;

	/* A name nobody else uses: our pid and random bits, created exclusively. */
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)time(NULL);
	if (asprintf(&tmp, "%s.tmp-%d-%08x", path, (int)getpid(), rnd) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* The umask could only have narrowed it; make it exactly 0600. */
	if (fchmod(fd, 0600) < 0) {
		r = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		r = -errno;
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* The rename itself must survive a crash, so sync the directory too. */
	dcopy = strdup(path);
	if (!dcopy) {
		r = -ENOMEM;
		goto out;
	}
	dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	free(dcopy);
	return r;
}

void vv_handler_timestamp(char out[32])
{
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
